package dev.cnn.cli;

import dev.cnn.accel.Accel;
import dev.cnn.accel.AccelOptions;
import dev.cnn.accel.Engine;
import picocli.CommandLine;

import java.io.PrintWriter;

/** Entry point of the {@code cnn} command. */
public final class Main {
    private static volatile long startedAt = System.currentTimeMillis();

    private Main() {
    }

    /** Wall-clock time (ms) at which {@link #run} started, for {@code classify --timings}. */
    static long startedAtMillis() {
        return startedAt;
    }

    public static void main(String[] args) {
        PrintWriter out = new PrintWriter(System.out, true);
        PrintWriter err = new PrintWriter(System.err, true);
        int code = run(out, err, args);
        out.flush();
        err.flush();
        if (code == ExitCodes.OK) { // where JavaCPP found the natives, for the next run (if the launcher asks)
            dev.cnn.accel.NativeIndex.save();
        }
        System.exit(code);
    }

    /** Runs the CLI with the given streams and returns the exit code (used by tests, no System.exit). */
    public static int run(PrintWriter out, PrintWriter err, String... args) {
        startedAt = System.currentTimeMillis();
        int verbosity = verbosity(args);
        configureLogging(verbosity);
        Engine.init();
        if (!helpOrVersion(args)) { // (help and --version load no natives: JavaCPP's set-up would cost them 40 ms)
            dev.cnn.accel.NativeIndex.prefill(); // after Engine.init's platform extension, which JavaCPP reads once
        }
        Accel.setDefaults(AccelOptions.fromSystemProperties()); // -Dcnn.dnnl=false, -Dcnn.fastAdam=false
        if (CudaCheck.cudaBuild() && !helpOrVersion(args)) {
            String problem = CudaCheck.problem();
            if (problem != null) {
                err.println("cnn: error: " + problem);
                err.flush();
                return ExitCodes.INTERNAL;
            }
        }
        CommandLine cl = commandLine(out, err, verbosity, args);
        try {
            return cl.execute(args);
        } catch (OutOfMemoryError e) { // picocli passes Errors through its exception handler
            return outOfMemory(e, err, verbosity > 0);
        }
    }

    /** No arguments, or a help or version request: what runs without ND4J. */
    static boolean helpOrVersion(String[] args) {
        if (args.length == 0) {
            return true;
        }
        for (String a : args) {
            if (a.equals("--help") || a.equals("-h") || a.equals("--version") || a.equals("-V") || a.equals("help")) {
                return true;
            }
        }
        return false;
    }

    /** One line for an out-of-memory error (a {@code DecodeOutOfMemoryError} names the image), exit 1. */
    static int outOfMemory(OutOfMemoryError e, PrintWriter err, boolean verbose) {
        String m = e.getMessage() == null ? "" : e.getMessage().lines().findFirst().orElse("");
        err.println("cnn: error: " + (e instanceof dev.cnn.data.DecodeOutOfMemoryError ? m
                : "out of memory" + (m.isEmpty() ? "" : " (" + m + ")")
                + "; lower --batch-size or --workers, or raise CNN_HEAP (-Xmx)"));
        if (verbose) {
            e.printStackTrace(err);
        }
        err.flush();
        return ExitCodes.INTERNAL;
    }

    static CommandLine commandLine(PrintWriter out, PrintWriter err, int verbosity) {
        return commandLine(out, err, verbosity, new String[0]);
    }

    /**
     * The command line for {@code args}: with only the subcommand {@code args} name when they name one exactly (not
     * {@code help} or {@code generate-completion}, which read the others, nor after the root's own help or version
     * option), else with all of them.
     */
    static CommandLine commandLine(PrintWriter out, PrintWriter err, int verbosity, String[] args) {
        CommandLine cl = new CommandLine(new CnnCommand());
        String first = null;
        boolean rootHelp = false; // cnn --help classify: the root's usage, which lists every command
        for (String a : args) {
            if (!a.startsWith("-")) {
                first = a;
                break;
            }
            rootHelp |= a.equals("-h") || a.equals("--help") || a.equals("-V") || a.equals("--version");
        }
        Class<?> only = first == null || rootHelp ? null : CnnCommand.named(first);
        if (only == CommandLine.HelpCommand.class || only == picocli.AutoComplete.GenerateCompletion.class) {
            only = null;
        }
        CommandLine.IFactory factory = CommandLine.defaultFactory();
        for (Class<?> c : only != null ? java.util.List.<Class<?>>of(only) : CnnCommand.SUBCOMMANDS) {
            try {
                cl.addSubcommand(factory.create(c));
            } catch (Exception e) {
                throw new IllegalStateException("cannot create command " + c.getName(), e);
            }
        }
        cl.setOut(out);
        cl.setErr(err);
        cl.setExecutionExceptionHandler(new ErrorHandler(verbosity > 0));
        cl.setParameterExceptionHandler(new ErrorHandler(verbosity > 0));
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        cl.setUsageHelpAutoWidth(true);
        return cl;
    }

    /** -v / --verbose count, read before picocli so logging is set up before any logger exists. */
    static int verbosity(String[] args) {
        int v = 0;
        for (String a : args) {
            if (a.equals("--")) {
                break;
            }
            if (a.equals("--verbose")) {
                v++;
            } else if (a.matches("-v+")) {
                v += a.length() - 1;
            }
        }
        return v;
    }

    private static void configureLogging(int verbosity) {
        String level = verbosity >= 2 ? "debug" : verbosity == 1 ? "info" : "warn";
        if (System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null || verbosity > 0) {
            System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", level);
        }
        System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
        System.setProperty("org.slf4j.simpleLogger.showThreadName", "false");
        System.setProperty("org.slf4j.simpleLogger.showLogName", verbosity >= 2 ? "true" : "false");
        System.setProperty("org.slf4j.simpleLogger.showShortLogName", "true");
        System.setProperty("org.slf4j.simpleLogger.levelInBrackets", "false");
        if (verbosity == 0) { // a CUDA build on a machine without CUDA: one line from CudaCheck, not ND4J's traces
            System.setProperty("org.slf4j.simpleLogger.log.org.nd4j.linalg.factory.Nd4jBackend", "error");
        }
    }
}
