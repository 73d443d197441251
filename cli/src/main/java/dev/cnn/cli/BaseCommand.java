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

    boolean verbose() {
        return common.verbose.length > 0;
    }

    /** Rejects a format the command does not support with a usage error. */
    void requireFormat(Format f, Format... allowed) {
        for (Format a : allowed) {
            if (a == f) {
                return;
            }
        }
        throw dev.cnn.core.CnnException.usage("--format " + f + " is not supported here; use one of "
                + java.util.Arrays.toString(allowed));
    }
}
