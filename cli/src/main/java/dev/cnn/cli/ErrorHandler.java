package dev.cnn.cli;

import dev.cnn.core.CnnException;
import dev.cnn.zoo.UnknownModelException;
import picocli.CommandLine;

import java.io.FileNotFoundException;
import java.io.PrintWriter;
import java.nio.file.NoSuchFileException;

/**
 * Maps exceptions to the documented exit codes and prints one line ("cnn: error: ...") to stderr. Stack traces only
 * with {@code --verbose}.
 */
final class ErrorHandler implements CommandLine.IExecutionExceptionHandler, CommandLine.IParameterExceptionHandler {
    private final boolean verbose;

    ErrorHandler(boolean verbose) {
        this.verbose = verbose;
    }

    @Override
    public int handleExecutionException(Exception ex, CommandLine cl, CommandLine.ParseResult parseResult) {
        PrintWriter err = cl.getErr();
        int code = exitCode(ex);
        String msg = message(ex);
        if (code == ExitCodes.INTERNAL) {
            err.println("cnn: internal error: " + msg + (verbose ? "" : " (run with --verbose for details)"));
        } else {
            err.println("cnn: error: " + msg);
            if (code == ExitCodes.USAGE) { // as for errors found while parsing
                err.println("Try '" + cl.getCommandSpec().qualifiedName() + " --help' for more information.");
            }
        }
        if (verbose) {
            ex.printStackTrace(err);
        }
        err.flush();
        return code;
    }

    @Override
    public int handleParseException(CommandLine.ParameterException ex, String[] args) {
        CommandLine cl = ex.getCommandLine();
        PrintWriter err = cl.getErr();
        err.println("cnn: error: " + ex.getMessage());
        if (!CommandLine.UnmatchedArgumentException.printSuggestions(ex, err)) {
            err.println("Try '" + cl.getCommandSpec().qualifiedName() + " --help' for more information.");
        }
        err.flush();
        return ExitCodes.USAGE;
    }

    static int exitCode(Throwable ex) {
        for (Throwable t = ex; t != null; t = t.getCause()) {
            if (t instanceof CnnException c) {
                return c.exitCode();
            }
            if (t instanceof dev.cnn.data.DataException) {
                return ExitCodes.DATA;
            }
            if (t instanceof dev.cnn.transfer.WeightsDownloadException) {
                return ExitCodes.MODEL;
            }
            if (t instanceof UnknownModelException || t instanceof CommandLine.ParameterException) {
                return ExitCodes.USAGE;
            }
            if (t instanceof NoSuchFileException || t instanceof FileNotFoundException) {
                return ExitCodes.DATA;
            }
            if (t instanceof OutOfMemoryError) {
                return ExitCodes.INTERNAL;
            }
        }
        return ExitCodes.INTERNAL;
    }

    static String message(Throwable ex) {
        for (Throwable t = ex; t != null; t = t.getCause()) {
            if (t instanceof CnnException || t instanceof UnknownModelException
                    || t instanceof dev.cnn.data.DataException || t instanceof dev.cnn.transfer.WeightsDownloadException) {
                return t.getMessage();
            }
            if (t instanceof NoSuchFileException n) {
                return "no such file: " + n.getFile();
            }
        }
        if (ex instanceof OutOfMemoryError) {
            return "out of memory: lower --batch-size or --image-size, or raise CNN_HEAP / CNN_OFFHEAP";
        }
        String m = ex.getMessage();
        return ex.getClass().getSimpleName() + (m == null ? "" : ": " + m.lines().findFirst().orElse(""));
    }
}
