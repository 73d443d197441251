package dev.cnn.cli;

import dev.cnn.core.EpochStats;
import dev.cnn.core.ModelBundle;
import dev.cnn.core.Trainer;
import dev.cnn.data.ImageDataset;
import dev.cnn.data.SkipReport;
import dev.cnn.transfer.FinetuneJob;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * What {@code cnn train} and {@code cnn finetune} share around a training job: a progress bar per epoch and a line
 * per epoch (and per phase) on stderr, Ctrl-C asking the trainer for a clean stop, the skipped-images summary, the
 * JSON summary on stdout, the HTML report, and the exit code of how the run ended.
 */
final class TrainingRun implements FinetuneJob.Listener {
    private final PrintWriter out;
    private final PrintWriter err;
    private final String command;
    private Progress bar;
    private Signals.Handle signals;

    TrainingRun(PrintWriter out, PrintWriter err, String command) {
        this.out = out;
        this.err = err;
        this.command = command;
    }

    /**
     * Runs {@code job} (which passes the trainer it creates to the consumer it is given) with Ctrl-C or SIGTERM
     * asking that trainer to stop after the current batch and write a checkpoint.
     */
    <T> T execute(Function<Consumer<Trainer>, T> job) {
        Trainer[] trainer = new Trainer[1];
        signals = Signals.onInterrupt(() -> {
            err.println();
            err.println("cnn: " + (signals.exitCode() == ExitCodes.TERMINATED ? "terminated" : "interrupt")
                    + ": finishing the current batch and writing a checkpoint (a second signal aborts)");
            err.flush();
            if (trainer[0] != null) {
                trainer[0].requestStop();
            }
        });
        try {
            return job.apply(t -> trainer[0] = t);
        } finally {
            signals.restore();
            if (bar != null) {
                bar.close();
            }
        }
    }

    @Override
    public void onEpochStart(Trainer.Loop loop) {
        bar = new Progress(err, String.format("epoch %d/%d", loop.epoch() + 1, loop.epochs()), loop.batchesPerEpoch(),
                "img");
    }

    @Override
    public void onBatchEnd(Trainer.Loop loop) {
        bar.update(loop.batch(), loop.imagesPerSecond(), String.format("loss %.4f", loop.runningLoss()));
    }

    @Override
    public void onEpochEnd(Trainer.Loop loop, EpochStats s) {
        bar.close();
        err.printf("epoch %d: train loss %.4f  val loss %s  top-1 %s  top-5 %s  lr %.3g  %.1fs  %.0f img/s%s%n",
                s.epoch(), s.trainLoss(), f(s.valLoss()), f(s.top1()), f(s.top5()), s.lr(), s.seconds(),
                s.imagesPerSecond(), s.best() ? "  *best" : "");
        err.flush();
    }

    @Override
    public void onPhase(String name, String description) {
        err.println("cnn: " + description);
        err.flush();
    }

    /** The one-line summary of skipped images, when there were any. */
    void skipped(SkipReport skipped) {
        String s = skipped.summary();
        if (!s.isEmpty()) {
            err.println("cnn: " + s);
        }
    }

    /** The JSON summary on stdout. */
    void json(Map<String, Object> doc) {
        out.println(dev.cnn.core.Json.pretty(doc));
    }

    /**
     * Reports how the run ended; an interrupted or diverged run ends the command with the returned exit code,
     * otherwise null (go on).
     *
     * @param afterInterrupt appended to the interrupt message (what the user can do next), or ""
     */
    Integer ended(Trainer.Status status, String message, String afterInterrupt) {
        switch (status) {
            case INTERRUPTED -> {
                err.println("cnn: " + message + afterInterrupt);
                return signals != null && signals.exitCode() != 0 ? signals.exitCode() : ExitCodes.INTERRUPTED;
            }
            case DIVERGED -> {
                err.println("cnn: error: " + message);
                return ExitCodes.MODEL;
            }
            case EARLY_STOPPED -> err.println("cnn: " + message);
            default -> {
            }
        }
        return null;
    }

    /** Writes the HTML report next to the model; a failure is a warning, not a failed run. */
    Path report(ModelBundle bundle, ImageDataset validation, List<EpochStats> history, Path output) {
        try {
            return dev.cnn.viz.Reports.afterTraining(command, bundle, validation, history, output).html();
        } catch (java.io.IOException | RuntimeException e) {
            err.println("cnn: warning: could not write the report (" + e.getMessage() + "); the model is saved");
            return null;
        }
    }

    private static String f(double v) {
        return Double.isFinite(v) ? String.format("%.4f", v) : "-";
    }
}
