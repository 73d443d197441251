package dev.cnn.cli;

import java.io.PrintWriter;

/**
 * Progress on stderr: a redrawn bar with rate and ETA on a terminal, plain lines (at most every 10 s, and at the end)
 * when stderr is not a terminal.
 */
final class Progress {
    private final PrintWriter err;
    private final boolean tty;
    private final String label;
    private final long total;
    private final String unit;
    private long start = System.nanoTime();
    private long lastPrint;
    private boolean open;

    Progress(PrintWriter err, String label, long total, String unit) {
        this(err, label, total, unit, isTerminal());
    }

    /** Whether progress may redraw one line (an interactive terminal, not CI). */
    static boolean isTerminal() {
        return System.console() != null && System.getenv("CI") == null;
    }

    Progress(PrintWriter err, String label, long total, String unit, boolean tty) {
        this.err = err;
        this.label = label;
        this.total = total;
        this.unit = unit;
        this.tty = tty;
    }

    /** Reports {@code done} of {@code total} units; {@code extra} is appended (e.g. the running loss). */
    void update(long done, double ratePerSec, String extra) {
        long now = System.nanoTime();
        boolean finished = done >= total;
        if (tty) {
            if (!finished && now - lastPrint < 100_000_000L) {
                return;
            }
        } else if (!finished && now - lastPrint < 10_000_000_000L) {
            return;
        }
        lastPrint = now;
        double elapsed = (now - start) / 1e9;
        double frac = total == 0 ? 1 : Math.min(1, done / (double) total);
        double eta = frac > 0 ? elapsed * (1 - frac) / frac : Double.NaN;
        String rate = String.format("%.1f %s/s", ratePerSec, unit);
        String tail = String.format("%d/%d  %s  %s  %s %s", done, total, rate, extra == null ? "" : extra,
                finished ? "time" : "ETA", clock(finished ? elapsed : eta));
        if (tty) {
            int width = 24;
            int filled = (int) Math.round(frac * width);
            err.print("\r" + label + " [" + "=".repeat(filled) + (filled < width ? ">" : "")
                    + " ".repeat(Math.max(0, width - filled - 1)) + "] " + tail + "\u001b[K");
            open = true;
            if (finished) {
                err.println();
                open = false;
            }
        } else {
            err.println(label + " " + String.format("%3.0f%%", frac * 100) + " " + tail);
        }
        err.flush();
    }

    /** Ends a bar line before other output. */
    void close() {
        if (open) {
            err.println();
            err.flush();
            open = false;
        }
    }

    static String clock(double secs) {
        if (!Double.isFinite(secs)) {
            return "--:--";
        }
        long s = Math.round(secs);
        return s >= 3600 ? String.format("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                : String.format("%02d:%02d", s / 60, s % 60);
    }

    /** A bar per download attempt on {@code err}, saying so when bytes stop coming; rate from the attempt's start. */
    static dev.cnn.transfer.PretrainedWeights.Progress download(PrintWriter err) {
        return new dev.cnn.transfer.PretrainedWeights.Progress() {
            private Progress bar;
            private long started;

            @Override
            public void update(long done, long total) {
                show(done, total, String.format("%.0f MB", done / 1e6));
                if (total > 0 && done >= total) {
                    bar = null;
                }
            }

            @Override
            public void stalled(long done, long total, long seconds) {
                show(done, total, String.format("%.0f MB, stalled %d s", done / 1e6, seconds));
            }

            private synchronized void show(long done, long total, String extra) {
                if (bar == null) {
                    bar = new Progress(err, "download", Math.max(total, 1), "MB");
                    started = System.nanoTime();
                }
                double secs = Math.max(1e-3, (System.nanoTime() - started) / 1e9);
                bar.update(total > 0 ? done : 0, done / 1e6 / secs, extra);
            }
        };
    }
}
