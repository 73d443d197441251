package dev.cnn.cli;

import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.concurrent.Callable;

/** Shared plumbing of subcommands: common options and the streams picocli was given. */
abstract class BaseCommand implements Callable<Integer> {
    @Mixin
    CommonOptions common;

    @Spec
    CommandSpec spec;

    PrintWriter out() {
        return spec.commandLine().getOut();
    }

    PrintWriter err() {
        return spec.commandLine().getErr();
    }

    /** The long names of the options given on the command line (not defaults). */
    java.util.Set<String> givenOptions() {
        java.util.Set<String> given = new java.util.TreeSet<>();
        for (picocli.CommandLine.Model.OptionSpec o : spec.commandLine().getParseResult().matchedOptions()) {
            given.add(o.longestName());
        }
        return given;
    }

    /** No --batch-size given: the library picks a smaller one for small data. */
    boolean autoBatch() {
        return !givenOptions().contains("--batch-size");
    }

    /**
     * --resume continues a run with its own settings: a usage error naming any given option outside {@code allowed}
     * ({@code mayChange} says which can).
     */
    void refuseOnResume(java.util.Set<String> allowed, String mayChange) {
        java.util.Set<String> refused = givenOptions();
        refused.removeAll(allowed);
        if (!refused.isEmpty()) {
            throw dev.cnn.core.CnnException.usage("--resume continues the run with its own settings: "
                    + String.join(", ", refused) + " cannot change (" + mayChange + " can)");
        }
    }
}
