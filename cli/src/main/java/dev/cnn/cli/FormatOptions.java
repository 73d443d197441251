package dev.cnn.cli;

import picocli.CommandLine.Option;

/** {@code --format}, shared by every command that has machine output: that goes to stdout, logs to stderr. */
public class FormatOptions {
    @Option(names = "--format", defaultValue = "table", paramLabel = "FORMAT",
            description = "table (default) or machine output on stdout: json, and jsonl or csv where the command "
                    + "lists them.")
    Format format;

    /** The chosen format, or a usage error (exit 2) naming the ones this command supports. */
    Format require(Format... allowed) {
        for (Format a : allowed) {
            if (a == format) {
                return format;
            }
        }
        throw dev.cnn.core.CnnException.usage("--format " + format + " is not supported here; use one of "
                + java.util.Arrays.toString(allowed));
    }
}
