package dev.cnn.cli;

/**
 * Ctrl-C handling: the first SIGINT calls the given action (e.g. "stop after this batch"); a second one ends the
 * process at once with 130.
 */
final class Signals {
    interface Handle {
        void restore();
    }

    private Signals() {
    }

    @SuppressWarnings("restriction")
    static Handle onInterrupt(Runnable action) {
        try {
            sun.misc.Signal sig = new sun.misc.Signal("INT");
            int[] count = {0};
            sun.misc.SignalHandler old = sun.misc.Signal.handle(sig, s -> {
                if (++count[0] > 1) {
                    Runtime.getRuntime().halt(ExitCodes.INTERRUPTED);
                }
                action.run();
            });
            return () -> sun.misc.Signal.handle(sig, old);
        } catch (Throwable t) {
            return () -> { };
        }
    }
}
