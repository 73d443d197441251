package dev.cnn.core;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/** The standard {@link Trainer.Callback}s, one concern each; every {@link Trainer} has them. */
public final class TrainingCallbacks {
    private TrainingCallbacks() {
    }

    /** Ends the run (diverged) on a NaN or infinite loss, naming the last good checkpoint. Runs first. */
    public static final class NanStop implements Trainer.Callback {
        @Override
        public int order() {
            return -20;
        }

        @Override
        public void onBatchEnd(Trainer.Loop loop) {
            if (!Double.isFinite(loop.loss())) {
                Path last = loop.lastCheckpoint();
                loop.stop(Trainer.Status.DIVERGED, String.format(
                        "training diverged at epoch %d, batch %d (loss %s): lower --lr (now %g)%s", loop.epoch() + 1,
                        loop.batch(), loop.loss(), loop.config().lr(),
                        Files.isRegularFile(last) ? "; last good checkpoint: " + last : ""));
            }
        }
    }

    /**
     * A clean stop on request ({@link Trainer#requestStop()}, from Ctrl-C or SIGTERM): after the current batch,
     * writes {@code last.zip} at that position and ends the run (interrupted), unless that batch was the run's last.
     * Runs after the other callbacks of a batch.
     */
    public static final class Interrupt implements Trainer.Callback {
        private final AtomicBoolean requested = new AtomicBoolean();

        void request() {
            requested.set(true);
        }

        @Override
        public int order() {
            return 20;
        }

        @Override
        public void onBatchEnd(Trainer.Loop loop) {
            if (requested.get() && loop.moreToDo()) {
                loop.saveCheckpoint(loop.lastCheckpoint(), loop.state(loop.epoch(), loop.batch()), true);
                loop.stop(Trainer.Status.INTERRUPTED, "interrupted at epoch " + (loop.epoch() + 1) + ", batch "
                        + loop.batch() + "; resume with --resume " + loop.lastCheckpoint());
            }
        }
    }

    /**
     * Tracks the best validation top-1 (and the epochs since it) and puts the best epoch's weights back at the end
     * (the run's last weights when there is no validation data, or when it was interrupted: a resume continues
     * from them). Equal top-1 is decided by validation loss: on a small validation set many epochs tie, and the
     * first of them is usually the least trained.
     */
    public static final class BestWeights implements Trainer.Callback {
        private INDArray bestParams;
        private double bestLoss = Double.POSITIVE_INFINITY;

        @Override
        public int order() {
            return -10;
        }

        @Override
        public void onFitStart(Trainer.Loop loop) {
            Path best = loop.checkpointDir().resolve(Trainer.BEST);
            if (loop.bestTop1() != null && Files.isRegularFile(best)) {
                bestParams = ModelBundle.load(best, false).network().params().dup();
            }
            for (EpochStats e : loop.history()) {
                if (e.best() && !Double.isNaN(e.valLoss())) {
                    bestLoss = e.valLoss();
                }
            }
        }

        @Override
        public void onValidated(Trainer.Loop loop, Metrics validation) {
            if (validation == null) {
                return;
            }
            boolean better = loop.bestTop1() == null || validation.top1() > loop.bestTop1()
                    || validation.top1() == loop.bestTop1() && validation.loss() < bestLoss;
            loop.recordValidation(better, better ? validation.top1() : loop.bestTop1());
            if (better) {
                bestLoss = validation.loss();
                bestParams = loop.network().params().dup();
            }
        }

        @Override
        public void onFitEnd(Trainer.Loop loop) {
            if (bestParams != null && loop.status() != Trainer.Status.INTERRUPTED) {
                loop.network().setParams(bestParams);
            }
        }
    }

    /** Writes {@code last.zip} (optimizer and training state) after every epoch and {@code best.zip} on a new best. */
    public static final class Checkpoints implements Trainer.Callback {
        @Override
        public int order() {
            return -10;
        }

        @Override
        public void onFitStart(Trainer.Loop loop) {
            try {
                Files.createDirectories(loop.checkpointDir());
            } catch (IOException e) {
                throw CnnException.data("cannot create checkpoint directory " + loop.checkpointDir() + ": "
                        + e.getMessage());
            }
        }

        @Override
        public void onEpochEnd(Trainer.Loop loop, EpochStats stats) {
            loop.saveCheckpoint(loop.lastCheckpoint(), loop.state(loop.epoch() + 1, 0), true);
            if (stats.best()) {
                loop.saveCheckpoint(loop.checkpointDir().resolve(Trainer.BEST), null, false);
            }
        }
    }

    /** Ends the run after {@link TrainConfig#earlyStoppingPatience()} epochs without a new best (0: never). */
    public static final class EarlyStopping implements Trainer.Callback {
        @Override
        public int order() {
            return 10;
        }

        @Override
        public void onEpochEnd(Trainer.Loop loop, EpochStats stats) {
            int patience = loop.config().earlyStoppingPatience();
            if (patience > 0 && loop.epochsSinceBest() >= patience && loop.epoch() + 1 < loop.epochs()) {
                loop.stop(Trainer.Status.EARLY_STOPPED, "early stopping: no validation improvement for "
                        + loop.epochsSinceBest() + " epochs");
            }
        }
    }

    /** Puts how training went (every epoch, the end, the chosen epoch) into the output's provenance. */
    public static final class RecordProvenance implements Trainer.Callback {
        @Override
        public void onFitEnd(Trainer.Loop loop) {
            if (loop.status() == Trainer.Status.INTERRUPTED) {
                return;
            }
            List<EpochStats> h = loop.history();
            EpochStats chosen = h.stream().filter(EpochStats::best).reduce((a, x) -> x)
                    .orElse(h.isEmpty() ? null : h.get(h.size() - 1));
            Provenance p = loop.metadata().provenance();
            Provenance.Result r = new Provenance.Result(h, loop.status().name().toLowerCase(java.util.Locale.ROOT),
                    chosen == null ? null : chosen.epoch(), chosen);
            if (p == null) {
                p = Provenance.of(null, 0, null, null, null, 0, 0, loop.config(), null);
            }
            loop.setMetadata(loop.metadata().withProvenance(p.withResult(r)));
        }
    }
}
