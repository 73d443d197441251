package dev.cnn.cli;

import dev.cnn.core.CnnException;

/** Exit codes of every {@code cnn} command. */
public final class ExitCodes {
    public static final int OK = 0;
    public static final int INTERNAL = CnnException.INTERNAL;
    public static final int USAGE = CnnException.USAGE;
    public static final int DATA = CnnException.DATA;
    public static final int MODEL = CnnException.MODEL;
    /** Interrupted (Ctrl-C) after writing a checkpoint. */
    public static final int INTERRUPTED = 130;
    /** Terminated (SIGTERM: Slurm, Kubernetes, systemd) after writing a checkpoint or what was done. */
    public static final int TERMINATED = 143;

    private ExitCodes() {
    }
}
