package dev.cnn.cli;

import picocli.CommandLine.Option;

/** Options every command takes. */
public class CommonOptions {
    @Option(names = {"-v", "--verbose"}, description = "More log output (-vv for debug) and stack traces on errors.")
    boolean[] verbose = new boolean[0];

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help and exit.")
    boolean help;
}
