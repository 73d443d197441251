package dev.cnn.core;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The training loop: epochs of mini-batches, validation after each epoch (loss, top-1, top-5), checkpoints
 * ({@code last.zip} with optimizer state every epoch, {@code best.zip} by validation top-1), early stopping, a clean
 * stop on request (Ctrl-C) after the current batch with a resumable checkpoint, and a stop on a NaN/Inf loss that keeps
 * the last good checkpoint. The final model written to {@link TrainConfig#output()} carries the weights of the best
 * validation epoch (the last epoch when there is no validation data).
 *
 * <p>Reproducibility: ND4J's random generator is reseeded from (seed, epoch, batch) before every batch, so dropout
 * masks, and therefore the weights, do not depend on whether the run was interrupted and resumed.
 */
public final class Trainer {
    public static final String LAST = "last.zip";
    public static final String BEST = "best.zip";

    /** How a run ended. */
    public enum Status { COMPLETED, EARLY_STOPPED, INTERRUPTED, DIVERGED }

    /** One epoch's numbers. */
    public record EpochStats(int epoch, double trainLoss, double valLoss, double top1, double top5, double lr,
                             double seconds, double imagesPerSecond, boolean best) {
        public Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("epoch", epoch);
            m.put("trainLoss", trainLoss);
            m.put("valLoss", nanToNull(valLoss));
            m.put("top1", nanToNull(top1));
            m.put("top5", nanToNull(top5));
            m.put("lr", lr);
            m.put("seconds", seconds);
            m.put("imagesPerSecond", imagesPerSecond);
            m.put("best", best);
            return m;
        }

        public static EpochStats fromMap(Map<String, Object> m) {
            return new EpochStats(((Number) m.get("epoch")).intValue(), num(m.get("trainLoss")),
                    num(m.get("valLoss")), num(m.get("top1")), num(m.get("top5")), num(m.get("lr")),
                    num(m.get("seconds")), num(m.get("imagesPerSecond")), Boolean.TRUE.equals(m.get("best")));
        }
    }

    /** What {@link #fit} returns. */
    public record Result(Status status, ModelBundle bundle, List<EpochStats> history, Path lastCheckpoint,
                         String message) {
    }

    /** Progress callbacks (all optional). */
    public interface Listener {
        default void onEpochStart(int epoch, int epochs, int batches) {
        }

        default void onBatch(int epoch, int batch, int batches, double loss, double imagesPerSecond) {
        }

        default void onEpochEnd(EpochStats stats) {
        }
    }

    private final TrainConfig config;
    private final Listener listener;
    private final AtomicBoolean stopRequested = new AtomicBoolean();
    private java.util.function.UnaryOperator<ComputationGraph> export = g -> g;

    public Trainer(TrainConfig config, Listener listener) {
        this.config = config;
        this.listener = listener == null ? new Listener() { } : listener;
    }

    /**
     * What is written to checkpoints and the output file, and returned, for the trained network: by default the
     * network itself. Feature-cached transfer learning trains a head-only graph and exports the full network.
     */
    public Trainer exportWith(java.util.function.UnaryOperator<ComputationGraph> f) {
        this.export = java.util.Objects.requireNonNull(f);
        return this;
    }

    /** Asks the loop to stop after the current batch and write a resumable checkpoint (thread-safe). */
    public void requestStop() {
        stopRequested.set(true);
    }

    /**
     * Trains {@code net} (initialised, updaters set) from scratch, or continues from the {@code training} state in
     * {@code meta} (a checkpoint's metadata).
     */
    public Result fit(ComputationGraph net, BundleMetadata meta, EpochData data) {
        // convolutions on oneDNN with blocked layouts and a forward cache, see Dnnl.beginTraining; undone on the
        // way out, since the caller may read inner activations (feedForward, Grad-CAM)
        try (dev.cnn.engine.Dnnl.Training t = dev.cnn.engine.Dnnl.beginTraining(net)) {
            return fitLoop(net, meta, data);
        }
    }

    private Result fitLoop(ComputationGraph net, BundleMetadata meta, EpochData data) {
        Map<String, Object> state = new LinkedHashMap<>(meta.training());
        int startEpoch = intOf(state.get("epoch"), 0);
        int skipBatches = intOf(state.get("batch"), 0);
        List<EpochStats> history = new ArrayList<>();
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> h = (List<Map<String, Object>>) state.getOrDefault("history", List.of());
        for (Map<String, Object> m : h) {
            history.add(EpochStats.fromMap(m));
        }
        double bestTop1 = numOr(state.get("bestTop1"), Double.NEGATIVE_INFINITY);
        int badEpochs = intOf(state.get("badEpochs"), 0);
        INDArray bestParams = null;
        Path ckptDir = config.checkpointDir();
        Path last = ckptDir.resolve(LAST);
        Path best = ckptDir.resolve(BEST);
        try {
            Files.createDirectories(ckptDir);
            if (startEpoch > 0 && Files.isRegularFile(best)) {
                bestParams = ModelBundle.load(best, false).network().params().dup();
            }
        } catch (IOException e) {
            throw CnnException.data("cannot create checkpoint directory " + ckptDir + ": " + e.getMessage());
        }

        int batches = data.batchesPerEpoch();
        Status status = Status.COMPLETED;
        String message = null;
        for (int epoch = startEpoch; epoch < config.epochs(); epoch++) {
            listener.onEpochStart(epoch, config.epochs(), batches);
            long t0 = System.nanoTime();
            double lossSum = 0;
            long lossCount = 0;
            long images = 0;
            int b = 0;
            DataSetIterator it = data.train(epoch);
            it.reset();
            while (it.hasNext()) {
                DataSet ds = it.next();
                if (b < skipBatches) {
                    b++;
                    continue;
                }
                Nd4j.getRandom().setSeed(mix(config.seed(), epoch, b));
                if (config.labelSmoothing() > 0) {
                    ds = new DataSet(ds.getFeatures(), smooth(ds.getLabels(), config.labelSmoothing()));
                }
                net.fit(ds);
                double loss = net.score();
                b++;
                if (!Double.isFinite(loss)) {
                    status = Status.DIVERGED;
                    message = String.format("training diverged at epoch %d, batch %d (loss %s): lower --lr (now %g)%s",
                            epoch + 1, b, loss, config.lr(),
                            Files.isRegularFile(last) ? "; last good checkpoint: " + last : "");
                    break;
                }
                lossSum += loss * ds.numExamples();
                lossCount += ds.numExamples();
                images += ds.numExamples();
                double secs = (System.nanoTime() - t0) / 1e9;
                listener.onBatch(epoch, b, batches, lossSum / lossCount, images / Math.max(secs, 1e-9));
                if (stopRequested.get() && (it.hasNext() || epoch + 1 < config.epochs())) {
                    state.put("epoch", epoch);
                    state.put("batch", b);
                    writeState(state, history, bestTop1, badEpochs);
                    saveQuietly(net, meta.withTraining(state), last, true);
                    return new Result(Status.INTERRUPTED, new ModelBundle(export.apply(net), meta.withTraining(Map.of())),
                            history, last, "interrupted at epoch " + (epoch + 1) + ", batch " + b
                            + "; resume with --resume " + last);
                }
            }
            skipBatches = 0;
            if (status == Status.DIVERGED) {
                break;
            }
            double trainSecs = (System.nanoTime() - t0) / 1e9;
            Metrics val = evaluate(net, data.validation(), meta.labels());
            double top1 = val == null ? Double.NaN : val.top1();
            boolean isBest = val != null && top1 > bestTop1;
            if (isBest) {
                bestTop1 = top1;
                badEpochs = 0;
                bestParams = net.params().dup();
            } else if (val != null) {
                badEpochs++;
            }
            double lr = net.getLayer(0).conf().getLayer() instanceof org.deeplearning4j.nn.conf.layers.BaseLayer bl
                    && bl.getIUpdater() != null && bl.getIUpdater().hasLearningRate()
                    ? bl.getIUpdater().getLearningRate(net.getIterationCount(), epoch) : config.lr();
            EpochStats s = new EpochStats(epoch + 1, lossCount == 0 ? Double.NaN : lossSum / lossCount,
                    val == null ? Double.NaN : val.loss(), top1, val == null ? Double.NaN : val.top5(), lr,
                    (System.nanoTime() - t0) / 1e9, images / Math.max(trainSecs, 1e-9), isBest);
            history.add(s);
            net.getConfiguration().setEpochCount(epoch + 1);
            state.put("epoch", epoch + 1);
            state.put("batch", 0);
            writeState(state, history, bestTop1, badEpochs);
            saveQuietly(net, meta.withTraining(state), last, true);
            if (isBest) {
                saveQuietly(net, meta.withTraining(Map.of()), best, false);
            }
            listener.onEpochEnd(s);
            if (config.earlyStoppingPatience() > 0 && badEpochs >= config.earlyStoppingPatience()
                    && epoch + 1 < config.epochs()) {
                status = Status.EARLY_STOPPED;
                message = "early stopping: no validation improvement for " + badEpochs + " epochs";
                break;
            }
        }
        if (bestParams != null) {
            net.setParams(bestParams);
        }
        Map<String, Object> prov = new LinkedHashMap<>(meta.provenance());
        prov.put("epochs", history.size());
        prov.put("history", history.stream().map(EpochStats::toMap).toList());
        prov.put("status", status.name().toLowerCase());
        EpochStats chosen = history.stream().filter(EpochStats::best).reduce((a, x) -> x)
                .orElse(history.isEmpty() ? null : history.get(history.size() - 1));
        if (chosen != null) {
            prov.put("selectedEpoch", chosen.epoch());
            prov.put("metrics", chosen.toMap());
        }
        ModelBundle out = new ModelBundle(export.apply(net), meta.withTraining(Map.of()).withProvenance(prov));
        if (status != Status.DIVERGED || !history.isEmpty()) {
            saveQuietly(out.network(), out.metadata(), config.output(), false, false);
        }
        return new Result(status, out, history, last, message);
    }

    private void writeState(Map<String, Object> state, List<EpochStats> history, double bestTop1, int badEpochs) {
        state.put("history", history.stream().map(EpochStats::toMap).toList());
        state.put("bestTop1", Double.isFinite(bestTop1) ? bestTop1 : null);
        state.put("badEpochs", badEpochs);
        state.put("config", config.toMap());
    }

    private void saveQuietly(ComputationGraph net, BundleMetadata meta, Path file, boolean updater) {
        saveQuietly(net, meta, file, updater, true);
    }

    private void saveQuietly(ComputationGraph net, BundleMetadata meta, Path file, boolean updater,
                             boolean doExport) {
        try {
            new ModelBundle(doExport ? export.apply(net) : net, meta).save(file, updater);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    /** Validation metrics over {@code it}, or null without validation data. */
    public static Metrics evaluate(ComputationGraph net, DataSetIterator it, List<String> labels) {
        if (it == null) {
            return null;
        }
        Metrics m = new Metrics(labels);
        it.reset();
        while (it.hasNext()) {
            DataSet ds = it.next();
            m.add(net.outputSingle(false, ds.getFeatures()), ds.getLabels());
        }
        return m.count() == 0 ? null : m;
    }

    static INDArray smooth(INDArray oneHot, double eps) {
        long k = oneHot.size(1);
        return oneHot.mul(1 - eps).addi(eps / k);
    }

    static long mix(long seed, int epoch, int batch) {
        long h = seed * 0x9E3779B97F4A7C15L + epoch * 0xBF58476D1CE4E5B9L + batch * 0x94D049BB133111EBL;
        return h ^ (h >>> 31);
    }

    private static int intOf(Object o, int dflt) {
        return o instanceof Number n ? n.intValue() : dflt;
    }

    private static double numOr(Object o, double dflt) {
        return o instanceof Number n ? n.doubleValue() : dflt;
    }

    private static double num(Object o) {
        return o instanceof Number n ? n.doubleValue() : Double.NaN;
    }

    private static Object nanToNull(double v) {
        return Double.isFinite(v) ? v : null;
    }
}
