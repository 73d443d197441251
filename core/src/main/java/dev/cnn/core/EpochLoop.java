package dev.cnn.core;

import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * The loop of trainers that fit a whole epoch at a time ({@code --spark}'s Spark training, {@code --devices}'
 * ParallelWrapper): after each epoch, validation, {@code last.zip} (resumable state) and {@code best.zip} in the
 * checkpoint folder, early stopping, a stop on a loss that is not finite; at the end the model with the best epoch's
 * weights, its provenance and its history, as {@link Trainer} writes them.
 */
public final class EpochLoop {
    /** What the trainer does each epoch. */
    public interface Epochs {
        /** Trains epoch {@code epoch} (0-based) and returns its training loss. */
        double fit(int epoch);

        /** The network's validation numbers now, or null without validation data. */
        Validation validate();
    }

    /** Validation loss, top-1 and top-5 accuracy. */
    public record Validation(double loss, double top1, double top5) {
    }

    /** How the run ended, its epochs, and the bundle written to the config's output. */
    public record Result(Trainer.Status status, List<EpochStats> history, ModelBundle bundle, Path historyCsv) {
    }

    private EpochLoop() {
    }

    /**
     * Runs {@code cfg.epochs()} epochs of {@code epochs} on {@code net} (the network the trainer updates in place);
     * {@code onEpoch} sees each epoch's numbers (null: nothing).
     */
    public static Result run(TrainConfig cfg, ComputationGraph net, BundleMetadata meta, int trainImages,
                             Epochs epochs, Consumer<EpochStats> onEpoch) {
        return run(cfg, net, meta, null, trainImages, epochs, onEpoch);
    }

    /**
     * As {@link #run(TrainConfig, ComputationGraph, BundleMetadata, int, Epochs, Consumer)}, continuing from
     * {@code from} (a checkpoint's state, whose network {@code net} is; null: from the start) with the epochs,
     * best accuracy and early-stopping count it holds.
     */
    public static Result run(TrainConfig cfg, ComputationGraph net, BundleMetadata meta, TrainingState from,
                             int trainImages, Epochs epochs, Consumer<EpochStats> onEpoch) {
        if (from != null && from.batch() > 0) {
            throw CnnException.usage("the checkpoint was written in the middle of epoch " + (from.epoch() + 1)
                    + " (after batch " + from.batch() + "); resume it without --spark or --devices");
        }
        meta = meta.withTraining(null);
        Path ckpt = cfg.checkpointDir();
        try {
            Files.createDirectories(ckpt);
        } catch (IOException e) {
            throw CnnException.data("cannot create checkpoint directory " + ckpt + ": " + e.getMessage());
        }
        List<EpochStats> history = new ArrayList<>(from == null ? List.of() : from.history());
        Double bestTop1 = from == null ? null : from.bestTop1();
        int sinceBest = from == null ? 0 : from.badEpochs();
        // the best epoch's weights go into the output, as cnn train's BestWeights callback does (ties: lower loss)
        INDArray bestParams = null;
        double bestLoss = Double.POSITIVE_INFINITY;
        Path bestFile = ckpt.resolve(Trainer.BEST);
        if (bestTop1 != null && Files.isRegularFile(bestFile)) {
            bestParams = ModelBundle.load(bestFile, false).network().params().dup();
            for (EpochStats e : history) {
                if (e.best() && !Double.isNaN(e.valLoss())) {
                    bestLoss = e.valLoss();
                }
            }
        }
        INDArray lastGood = null; // the weights after the last finished epoch, for a run that diverges
        Trainer.Status status = Trainer.Status.COMPLETED;
        for (int epoch = from == null ? 0 : from.epoch(); epoch < cfg.epochs(); epoch++) {
            long t0 = System.nanoTime();
            double loss = epochs.fit(epoch);
            double secs = (System.nanoTime() - t0) / 1e9;
            if (!Double.isFinite(loss)) {
                status = Trainer.Status.DIVERGED;
                break;
            }
            Validation v = epochs.validate();
            double top1 = v == null ? Double.NaN : v.top1();
            boolean best = v != null && Double.isFinite(top1) && (bestTop1 == null || top1 > bestTop1
                    || top1 == bestTop1 && v.loss() < bestLoss);
            if (best) {
                bestTop1 = top1;
                bestLoss = v.loss();
                bestParams = net.params().dup();
                sinceBest = 0;
            } else if (v != null) { // without validation data nothing improves or not: no early stopping
                sinceBest++;
            }
            EpochStats s = new EpochStats(epoch + 1, loss, v == null ? Double.NaN : v.loss(), top1,
                    v == null ? Double.NaN : v.top5(), learningRate(net, cfg, epoch), secs,
                    trainImages / Math.max(secs, 1e-9), best);
            history.add(s);
            net.getConfiguration().setEpochCount(epoch + 1);
            TrainingState state = new TrainingState(epoch + 1, 0, history, bestTop1, sinceBest, cfg,
                    cfg.output().toAbsolutePath().toString());
            save(new ModelBundle(net, meta.withTraining(state)), ckpt.resolve(Trainer.LAST), true, ckpt);
            if (best) {
                save(new ModelBundle(net, meta), bestFile, false, ckpt);
            }
            if (bestParams == null) {
                lastGood = net.params().dup();
            }
            if (onEpoch != null) {
                onEpoch.accept(s);
            }
            if (cfg.earlyStoppingPatience() > 0 && sinceBest >= cfg.earlyStoppingPatience()
                    && epoch + 1 < cfg.epochs()) {
                status = Trainer.Status.EARLY_STOPPED;
                break;
            }
        }
        if (bestParams != null) {
            net.setParams(bestParams);
        } else if (lastGood != null) {
            net.setParams(lastGood);
        }
        EpochStats chosen = history.stream().filter(EpochStats::best).reduce((a, x) -> x)
                .orElse(history.isEmpty() ? null : history.get(history.size() - 1));
        Provenance p = meta.provenance() != null ? meta.provenance()
                : Provenance.of(null, 0, null, null, null, 0, 0, cfg, null);
        meta = meta.withProvenance(p.withResult(new Provenance.Result(history,
                status.name().toLowerCase(java.util.Locale.ROOT), chosen == null ? null : chosen.epoch(), chosen)));
        ModelBundle out = new ModelBundle(net, meta);
        if (status != Trainer.Status.DIVERGED || !history.isEmpty()) {
            save(out, cfg.output(), false, ckpt);
        }
        return new Result(status, history, out, TrainJob.writeHistory(cfg.output(), history));
    }

    /**
     * The rate the epoch line and history show, at the network's current iteration and {@code epoch}: that of its
     * (first) output layer, the classifier, which in a finetune run is the new head's ({@code --lr}, not the base's);
     * where that layer has no parameters (a loss layer), of the last trainable layer with parameters in the graph's
     * layer order; the config's rate if no layer has one.
     */
    static double learningRate(ComputationGraph net, TrainConfig cfg, int epoch) {
        List<org.deeplearning4j.nn.api.Layer> candidates = new ArrayList<>();
        for (String out : net.getConfiguration().getNetworkOutputs()) {
            if (net.getVertex(out) != null && net.getVertex(out).hasLayer()) {
                candidates.add(net.getVertex(out).getLayer());
            }
        }
        org.deeplearning4j.nn.api.Layer[] layers = net.getLayers();
        for (int i = layers.length - 1; i >= 0; i--) {
            candidates.add(layers[i]);
        }
        for (org.deeplearning4j.nn.api.Layer l : candidates) {
            // a frozen layer reports its inner layer's configuration, rate included
            boolean frozen = l instanceof org.deeplearning4j.nn.layers.FrozenLayer
                    || l instanceof org.deeplearning4j.nn.layers.FrozenLayerWithBackprop;
            if (!frozen && l.numParams() > 0 && l.conf().getLayer() instanceof BaseLayer bl
                    && bl.getIUpdater() != null && bl.getIUpdater().hasLearningRate()) {
                return bl.getIUpdater().getLearningRate(net.getIterationCount(), epoch);
            }
        }
        return cfg.lr();
    }

    private static void save(ModelBundle b, Path file, boolean withUpdater, Path ckpt) {
        try {
            b.save(file, withUpdater);
        } catch (IOException e) {
            throw Trainer.writeError(file, e, ckpt);
        }
    }
}
