package dev.cnn.cli;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * Ctrl-C (SIGINT) and SIGTERM (Slurm, Kubernetes, systemd stopping a job): the first signal calls the given action
 * (e.g. "stop after this batch"); a second one ends the process at once. The command then exits 130 after SIGINT
 * and 143 after SIGTERM, as a shell reports a process killed by either.
 */
final class Signals {
    interface Handle {
        void restore();

        /** 0 before a signal arrived, else the exit code it asks for: 130 (SIGINT) or 143 (SIGTERM). */
        int exitCode();
    }

    private Signals() {
    }

    @SuppressWarnings("restriction")
    static Handle onInterrupt(Runnable action) {
        AtomicInteger code = new AtomicInteger();
        try {
            sun.misc.Signal intSignal = new sun.misc.Signal("INT");
            sun.misc.Signal termSignal = new sun.misc.Signal("TERM");
            AtomicInteger count = new AtomicInteger();
            sun.misc.SignalHandler handler = s -> {
                int exit = s.getName().equals("TERM") ? ExitCodes.TERMINATED : ExitCodes.INTERRUPTED;
                if (count.incrementAndGet() > 1) {
                    Runtime.getRuntime().halt(exit);
                }
                code.set(exit);
                action.run();
            };
            sun.misc.SignalHandler oldInt = sun.misc.Signal.handle(intSignal, handler);
            sun.misc.SignalHandler oldTerm = sun.misc.Signal.handle(termSignal, handler);
            return new Handle() {
                @Override
                public void restore() {
                    sun.misc.Signal.handle(intSignal, oldInt);
                    sun.misc.Signal.handle(termSignal, oldTerm);
                }

                @Override
                public int exitCode() {
                    return code.get();
                }
            };
        } catch (Throwable t) {
            return new Handle() {
                @Override
                public void restore() {
                }

                @Override
                public int exitCode() {
                    return code.get();
                }
            };
        }
    }
}
