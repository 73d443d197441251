package dev.cnn.core;

import dev.cnn.accel.Accel;
import dev.cnn.accel.TrainingSession;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.function.UnaryOperator;

/**
 * The training loop, as fastai's {@code Learner}: epochs of mini-batches and a validation pass after each epoch
 * (loss, top-1, top-5), and everything else in {@link Callback}s called at fixed points of the loop. The standard
 * ones ({@link TrainingCallbacks}) stop on a NaN/Inf loss, stop cleanly on request (Ctrl-C) with a resumable
 * checkpoint, keep the best validation epoch's weights, write {@code last.zip} (with optimizer and training state)
 * every epoch and {@code best.zip} on a new best, stop early, and record provenance; {@link #addCallback} adds more.
 * The final model written to {@link TrainConfig#output()} carries the weights of the best validation epoch (the last
 * epoch when there is no validation data).
 *
 * <p>Reproducibility: ND4J's random generator is reseeded from (seed, epoch, batch) before every batch, so dropout
 * masks, and therefore the weights, do not depend on whether the run was interrupted and resumed.
 */
public final class Trainer {
    public static final String LAST = "last.zip";
    public static final String BEST = "best.zip";

    /** How a run ended. */
    public enum Status { COMPLETED, EARLY_STOPPED, INTERRUPTED, DIVERGED }

    /** What {@link #fit} returns. */
    public record Result(Status status, ModelBundle bundle, List<EpochStats> history, Path lastCheckpoint,
                         String message) {
    }

    /**
     * A hook into the loop. Callbacks run in {@link #order()} (then in the order added); a callback can read the
     * loop's state and end the run with {@link Loop#stop}.
     */
    public interface Callback {
        /** Lower runs first; the standard callbacks use -20..20, user callbacks default to 0. */
        default int order() {
            return 0;
        }

        /** Before the first epoch (also when resuming: the loop's state is the checkpoint's). */
        default void onFitStart(Loop loop) {
        }

        default void onEpochStart(Loop loop) {
        }

        /** After each training step; {@link Loop#loss()} is its loss. Once a callback stops the run, later ones are
         *  not called for this batch. */
        default void onBatchEnd(Loop loop) {
        }

        /** After the validation pass, before the epoch's {@link EpochStats} is made ({@code validation} is null
         *  without validation data). */
        default void onValidated(Loop loop, Metrics validation) {
        }

        default void onEpochEnd(Loop loop, EpochStats stats) {
        }

        /** After the last epoch, however the run ended. */
        default void onFitEnd(Loop loop) {
        }
    }

    private final TrainConfig config;
    private boolean keepSchedules;
    private final List<Callback> callbacks = new ArrayList<>();
    private final TrainingCallbacks.Interrupt interrupt = new TrainingCallbacks.Interrupt();
    private UnaryOperator<ComputationGraph> export = g -> g;

    /** A trainer with the standard callbacks. */
    public Trainer(TrainConfig config) {
        this.config = Objects.requireNonNull(config);
        callbacks.addAll(List.of(new TrainingCallbacks.NanStop(), interrupt, new TrainingCallbacks.BestWeights(),
                new TrainingCallbacks.Checkpoints(), new TrainingCallbacks.EarlyStopping(),
                new TrainingCallbacks.RecordProvenance()));
    }

    /** A trainer with the standard callbacks and {@code callback} (progress display), when not null. */
    public Trainer(TrainConfig config, Callback callback) {
        this(config);
        if (callback != null) {
            addCallback(callback);
        }
    }

    public Trainer addCallback(Callback c) {
        callbacks.add(Objects.requireNonNull(c));
        return this;
    }

    /**
     * What is written to checkpoints and the output file, and returned, for the trained network: by default the
     * network itself. Feature-cached transfer learning trains a head-only graph and exports the full network.
     */
    public Trainer exportWith(UnaryOperator<ComputationGraph> f) {
        this.export = Objects.requireNonNull(f);
        return this;
    }

    /**
     * The network's learning-rate schedules are already the run's (transfer learning sets per-layer rates and the
     * iteration count itself): {@link #fit} from a checkpoint leaves them instead of putting the config's on every
     * layer.
     */
    public Trainer keepSchedules() {
        this.keepSchedules = true;
        return this;
    }

    /** Asks the loop to stop after the current batch and write a resumable checkpoint (thread-safe). */
    public void requestStop() {
        interrupt.request();
    }

    /**
     * Trains {@code net} (initialised, updaters set) from scratch, or continues from the {@link TrainingState} in
     * {@code meta} (a checkpoint's metadata).
     */
    public Result fit(ComputationGraph net, BundleMetadata meta, EpochData data) {
        if (meta.training() != null && !keepSchedules) { // a checkpoint stores a fixed rate: the run's schedule again
            Optimizers.restoreSchedule(net, config, data.batchesPerEpoch());
        }
        // convolutions on oneDNN with blocked layouts and a forward cache, see TrainingSession; undone on the
        // way out, since the caller may read inner activations (feedForward, Grad-CAM)
        try (TrainingSession t = Accel.beginTraining(net)) {
            return new Loop(this, net, meta, data).run();
        }
    }

    /** The state of one {@link #fit}, as callbacks see and steer it. */
    public static final class Loop {
        private final Trainer trainer;
        private final ComputationGraph net;
        private final EpochData data;
        private final List<Callback> callbacks;
        private final List<EpochStats> history = new ArrayList<>();
        private BundleMetadata meta;
        private int epoch;
        private int batch;
        private int skipBatches;
        private double loss = Double.NaN;
        private double lossSum;
        private long lossCount;
        private long images;
        private long epochStart;
        private Double bestTop1;
        private int badEpochs;
        private boolean best;
        private Status status = Status.COMPLETED;
        private String message;
        private boolean stopped;

        private Loop(Trainer trainer, ComputationGraph net, BundleMetadata meta, EpochData data) {
            this.trainer = trainer;
            this.net = net;
            this.data = data;
            this.callbacks = trainer.callbacks.stream().sorted(Comparator.comparingInt(Callback::order)).toList();
            TrainingState s = meta.training();
            if (s != null) {
                epoch = s.epoch();
                skipBatches = s.batch();
                history.addAll(s.history());
                bestTop1 = s.bestTop1();
                badEpochs = s.badEpochs();
            }
            this.meta = meta.withTraining(null);
        }

        private Result run() {
            callbacks.forEach(c -> c.onFitStart(this));
            int epochs = trainer.config.epochs();
            for (; epoch < epochs && !stopped; epoch++) {
                callbacks.forEach(c -> c.onEpochStart(this));
                trainEpoch();
                if (stopped) {
                    break;
                }
                double trainSecs = (System.nanoTime() - epochStart) / 1e9;
                Metrics val = evaluate(net, data.validation(), meta.labels());
                best = false;
                callbacks.forEach(c -> c.onValidated(this, val));
                EpochStats s = new EpochStats(epoch + 1, lossCount == 0 ? Double.NaN : lossSum / lossCount,
                        val == null ? Double.NaN : val.loss(), val == null ? Double.NaN : val.top1(),
                        val == null ? Double.NaN : val.top5(), learningRate(), (System.nanoTime() - epochStart) / 1e9,
                        images / Math.max(trainSecs, 1e-9), best);
                history.add(s);
                net.getConfiguration().setEpochCount(epoch + 1);
                callbacks.forEach(c -> c.onEpochEnd(this, s));
            }
            callbacks.forEach(c -> c.onFitEnd(this));
            ModelBundle out = new ModelBundle(trainer.export.apply(net), meta);
            // an interrupted run continues from last.zip; a diverged one keeps what it had, if anything
            if (status != Status.INTERRUPTED && (status != Status.DIVERGED || !history.isEmpty())) {
                save(out, trainer.config.output(), false);
            }
            return new Result(status, out, history, lastCheckpoint(), message);
        }

        private void trainEpoch() {
            TrainConfig config = trainer.config;
            epochStart = System.nanoTime();
            lossSum = 0;
            lossCount = 0;
            images = 0;
            batch = 0;
            DataSetIterator it = data.train(epoch);
            it.reset();
            while (it.hasNext()) {
                DataSet ds = it.next();
                DataSet made = ds; // what the iterator gave, to give back
                if (batch < skipBatches) {
                    batch++;
                    dev.cnn.data.ImageBatchIterator.recycle(it, made);
                    continue;
                }
                Nd4j.getRandom().setSeed(dev.cnn.zoo.ModelSpec.nd4jSeed(mix(config.seed(), epoch, batch)));
                if (config.labelSmoothing() > 0) {
                    ds = new DataSet(ds.getFeatures(), smooth(ds.getLabels(), config.labelSmoothing()));
                }
                loss = dataLoss(net, ds);
                batch++;
                if (Double.isFinite(loss)) {
                    lossSum += loss * ds.numExamples();
                    lossCount += ds.numExamples();
                    images += ds.numExamples();
                }
                for (Callback c : callbacks) {
                    c.onBatchEnd(this);
                    if (stopped) {
                        return;
                    }
                }
                dev.cnn.data.ImageBatchIterator.recycle(it, made); // its array takes a later batch (no fresh pages)
            }
            skipBatches = 0;
        }

        private double learningRate() {
            return EpochLoop.learningRate(net, trainer.config, epoch);
        }

        /** Ends the run after the current step with {@code status}; the first stop wins. */
        public void stop(Status status, String message) {
            if (!stopped) {
                stopped = true;
                this.status = status;
                this.message = message;
            }
        }

        public boolean stopped() {
            return stopped;
        }

        public Status status() {
            return status;
        }

        public String message() {
            return message;
        }

        public ComputationGraph network() {
            return net;
        }

        public TrainConfig config() {
            return trainer.config;
        }

        /** The model's metadata (no training state); {@link #setMetadata} changes what the output carries. */
        public BundleMetadata metadata() {
            return meta;
        }

        public void setMetadata(BundleMetadata m) {
            meta = Objects.requireNonNull(m).withTraining(null);
        }

        /** The current epoch, 0-based. */
        public int epoch() {
            return epoch;
        }

        public int epochs() {
            return trainer.config.epochs();
        }

        /** Batches of this epoch done so far (a resumed epoch counts the ones done before the interruption). */
        public int batch() {
            return batch;
        }

        public int batchesPerEpoch() {
            return data.batchesPerEpoch();
        }

        /** Loss of the last training step. */
        public double loss() {
            return loss;
        }

        /** Mean loss of this epoch's steps so far. */
        public double runningLoss() {
            return lossCount == 0 ? Double.NaN : lossSum / lossCount;
        }

        /** Training images per second in this epoch so far. */
        public double imagesPerSecond() {
            return images / Math.max((System.nanoTime() - epochStart) / 1e9, 1e-9);
        }

        /** Whether the loop has more batches to train after the current one. */
        public boolean moreToDo() {
            return batch < data.batchesPerEpoch() || epoch + 1 < epochs();
        }

        /** Every finished epoch, the ones before a resume included. */
        public List<EpochStats> history() {
            return List.copyOf(history);
        }

        /** Best validation top-1 so far (null before any). */
        public Double bestTop1() {
            return bestTop1;
        }

        /** Epochs with validation since the best one. */
        public int epochsSinceBest() {
            return badEpochs;
        }

        /** Records the epoch being finished as a new best ({@link #onValidated}); or counts one more without. */
        public void recordValidation(boolean newBest, Double top1) {
            best = newBest;
            if (newBest) {
                bestTop1 = top1;
                badEpochs = 0;
            } else {
                badEpochs++;
            }
        }

        /** The resumable state of the run at the given position (see {@link TrainingState}). */
        public TrainingState state(int atEpoch, int atBatch) {
            return new TrainingState(atEpoch, atBatch, history, bestTop1, badEpochs, trainer.config,
                    trainer.config.output().toAbsolutePath().toString());
        }

        public Path checkpointDir() {
            return trainer.config.checkpointDir();
        }

        public Path lastCheckpoint() {
            return checkpointDir().resolve(LAST);
        }

        /** Writes the exported network with {@code state} (null: none) to {@code file}, atomically. */
        public void saveCheckpoint(Path file, TrainingState state, boolean withUpdater) {
            save(new ModelBundle(trainer.export.apply(net), meta.withTraining(state)), file, withUpdater);
        }

        private void save(ModelBundle b, Path file, boolean withUpdater) {
            try {
                b.save(file, withUpdater);
            } catch (IOException e) {
                throw writeError(file, e, checkpointDir());
            }
        }
    }

    /**
     * A model or checkpoint that cannot be written is a data error (exit 3) naming the folder and what is still
     * intact there; a full disk says so.
     */
    static CnnException writeError(Path file, IOException e, Path checkpointDir) {
        Path dir = file.toAbsolutePath().getParent();
        String why = String.valueOf(e.getMessage()).contains("No space left") ? "no space left on " + dir
                : "cannot write " + file + " (" + ModelBundle.oneLine(e) + ")";
        List<String> intact = new ArrayList<>();
        for (String name : List.of(LAST, BEST)) {
            Path p = checkpointDir.resolve(name);
            if (java.nio.file.Files.isRegularFile(p) && !p.equals(file.toAbsolutePath())) {
                intact.add(p.toString());
            }
        }
        return CnnException.data(why + (intact.isEmpty() ? "; nothing was written before it"
                : "; intact: " + String.join(", ", intact) + (intact.get(0).endsWith(LAST)
                ? " (resume with --resume " + intact.get(0) + ")" : "")), e);
    }

    /**
     * One training step on {@code ds}, returning its data loss: DL4J's score less the weight penalty that it adds
     * ({@code 0.5 * decay * sum(w^2)} for L2), as PyTorch and fastai report a step's loss (their weight decay lives
     * in the optimiser). With the penalty, the training loss of a larger network reads higher for its weights alone
     * (resnet56 at weight decay 1e-4 after 40 epochs: 0.466, of which 0.455 penalty) and does not compare with the
     * validation loss beside it. The penalty is taken before the step, from the parameters the score is computed with.
     */
    public static double dataLoss(ComputationGraph net, DataSet ds) {
        double penalty = net.calcRegularizationScore(true);
        net.fit(ds);
        return net.score() - penalty;
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
            dev.cnn.data.ImageBatchIterator.recycle(it, ds);
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
}
