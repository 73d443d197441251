package dev.cnn.transfer;

import dev.cnn.core.EpochStats;
import dev.cnn.core.BundleMetadata;
import dev.cnn.core.CnnException;
import dev.cnn.core.EpochData;
import dev.cnn.core.LrFinder;
import dev.cnn.core.ImageData;
import dev.cnn.core.ModelBundle;
import dev.cnn.core.Optimizers;
import dev.cnn.core.OutputLock;
import dev.cnn.core.Provenance;
import dev.cnn.core.TrainConfig;
import dev.cnn.core.TrainJob;
import dev.cnn.core.Trainer;
import dev.cnn.data.Augmentation;
import dev.cnn.data.DataSource;
import dev.cnn.data.Normalization;
import dev.cnn.data.Preprocess;
import dev.cnn.transfer.weights.Pretrained;
import dev.cnn.transfer.weights.Weights;
import dev.cnn.zoo.GraphQueries;
import dev.cnn.zoo.LayerInfo;
import org.deeplearning4j.datasets.iterator.ExistingDataSetIterator;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.learning.config.IUpdater;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.function.Consumer;

/**
 * {@code cnn finetune} as a library call: a base network (a bundle, or DL4J's ImageNet weights), a new head for the
 * new classes, and one of three strategies:
 * <ul>
 *   <li>{@link Strategy#FEATURE_EXTRACTION}: everything up to the cut is frozen (inference mode), only the head
 *   trains. Without augmentation the frozen part's features are computed once ({@link FeatureCache}) and each epoch
 *   trains the head on them.</li>
 *   <li>{@link Strategy#FINETUNE}: the whole network (or from {@code unfreezeFrom} up) trains, the base at
 *   {@code baseLr}, the head at the config's learning rate.</li>
 *   <li>{@link Strategy#GRADUAL}: fastai's {@code fine_tune}: head only for {@code frozenEpochs}, then unfreeze
 *   (real trainable layers, same weights) and train {@code epochs} more at a fifth of the head rate and
 *   {@code baseLr}.</li>
 * </ul>
 * The output is a normal bundle (no frozen layers, the new labels) usable by classify, evaluate and as the next base.
 */
public final class FinetuneJob {
    /**
     * Gradual's unfrozen epochs train the head at its frozen-phase rate divided by this: 2e-3 at the default 1e-2.
     * fastai's {@code fine_tune} halves its rate after the frozen epoch; with this project's higher frozen-phase rate
     * (a head alone on few images needs it) a fifth measured better in the few-shot benchmark, 10 images a class, ten
     * seeds, paired with a half: simplecnn +0.5, mnist_cnn +0.2, resnet18 +0.4 points; neutral at 50 images a class
     * and on the transfer demo's task (bench/RESULTS.md, session 21).
     */
    static final double GRADUAL_OPEN_DIVISOR = 5;

    /** How much of the base trains. */
    public enum Strategy {
        FEATURE_EXTRACTION, FINETUNE, GRADUAL;

        /**
         * The head's default learning rate ({@code cnn finetune} without {@code --lr}): 1e-2 where the head first
         * trains alone on a frozen base (feature extraction; gradual's frozen epochs, whose unfrozen ones then take
         * a fifth of it), 2e-3 for {@code finetune}, where the head trains with the base from the first step, as
         * gradual's head does once unfrozen (fastai's {@code base_lr}). In the few-shot benchmark at 10 images a
         * class the lower rate gained on each of five simplecnn bases (+0.6 points on average, ten seeds each) and
         * was neutral on two resnet18 bases (+0.75, -0.2) (bench/RESULTS.md, session 24); on a task whose features
         * fit it cost at 10 images a class, where feature extraction is the better strategy.
         */
        public double defaultHeadLr() {
            return this == FINETUNE ? 2e-3 : 1e-2;
        }

        /**
         * {@link #defaultHeadLr()} for a base that trains at {@code baseLr} (its last layer's rate): a finetune whose
         * base stands still ({@code --base-lr 0}) trains its head alone, so at 1e-2.
         */
        public double defaultHeadLr(double baseLr) {
            return this == FINETUNE && baseLr == 0 ? FEATURE_EXTRACTION.defaultHeadLr() : defaultHeadLr();
        }

        public static Strategy parse(String s) {
            String n = s.trim().toUpperCase(Locale.ROOT).replace('-', '_');
            if (n.equals("FE") || n.equals("FEATURES")) {
                return FEATURE_EXTRACTION;
            }
            try {
                return valueOf(n);
            } catch (IllegalArgumentException e) {
                throw CnnException.usage("--strategy: unknown '" + s
                        + "'; use feature-extraction, finetune or gradual");
            }
        }

        public String cliName() {
            return name().toLowerCase(Locale.ROOT).replace('_', '-');
        }
    }

    /**
     * Everything {@code cnn finetune} takes. {@code config.lr()} is the head's learning rate, {@code config.epochs()}
     * the number of (unfrozen, for gradual) epochs.
     *
     * @param base         a bundle path, or {@code zoo:NAME[:TAG]} (torchvision's weights; {@code :dl4j} for DL4J's
     *                     converted VGG16 and ResNet50)
     * @param weights      a pretrained file on disk for a {@code zoo:} base (no download), or null
     * @param cut          the last layer kept from the base (null: the layer before its classifier)
     * @param unfreezeFrom train from this layer up, keep the layers below frozen (null: strategy default)
     * @param featureCache compute frozen features once when nothing random happens before the cut
     * @param baseLr       the base's learning rate when it trains (its last layer's, with {@code baseLrLow})
     * @param head         the new head's shape (pooling, hidden layer, dropout)
     * @param baseLrLow    above 0: the base's first trainable layer trains at this rate, and the rates rise
     *                     geometrically to {@code baseLr} at the cut (fastai's {@code slice(lo, hi)},
     *                     {@link LearningRates#baseRates}); 0: the whole base at {@code baseLr}
     */
    public record Request(String data, String base, Path weights, Strategy strategy, String cut, String unfreezeFrom,
                          double baseLr, int frozenEpochs, boolean featureCache, String augment, double valSplit,
                          boolean strict, boolean cacheImages, int workers, TrainConfig config,
                          boolean smallDataBatch, HeadOptions head, double baseLrLow) {
        /**
         * {@code cnn finetune}'s defaults for everything but the data, the base ({@code model.zip} or
         * {@code zoo:NAME:TAG}), the strategy and {@code config} ({@code config.lr()} is the head's rate;
         * {@link Strategy#defaultHeadLr()} is {@code cnn finetune}'s default for the strategy): base rate
         * 1e-3, one frozen epoch for gradual, the default cut, cached features, no augmentation, the automatic
         * validation split, bad images skipped, one decoding thread, smaller head batches on small data.
         */
        public static Request of(String data, String base, Strategy strategy, TrainConfig config) {
            return new Request(data, base, null, strategy, null, null, 1e-3, 1, true, "none",
                    dev.cnn.data.DataSource.AUTO_VAL_SPLIT, false, false, 1, config, true);
        }

        /** The same request with a pretrained weights file on disk for a {@code zoo:} base (no download). */
        public Request withWeights(Path file) {
            return new Request(data, base, file, strategy, cut, unfreezeFrom, baseLr, frozenEpochs, featureCache,
                    augment, valSplit, strict, cacheImages, workers, config, smallDataBatch, head, baseLrLow);
        }

        /** The same request with another head shape. */
        public Request withHead(HeadOptions h) {
            return new Request(data, base, weights, strategy, cut, unfreezeFrom, baseLr, frozenEpochs, featureCache,
                    augment, valSplit, strict, cacheImages, workers, config, smallDataBatch, h, baseLrLow);
        }

        /**
         * The same request with the base's rates spread from {@code low} at its first trainable layer to
         * {@code high} at the cut ({@code cnn finetune --base-lr LO:HI}); {@code low} 0: all at {@code high}.
         */
        public Request withBaseLr(double low, double high) {
            return new Request(data, base, weights, strategy, cut, unfreezeFrom, high, frozenEpochs, featureCache,
                    augment, valSplit, strict, cacheImages, workers, config, smallDataBatch, head, low);
        }

        /** The base's rates as {@code cnn finetune --base-lr} takes them: {@code 0.001}, or {@code 0.0001:0.001}. */
        public String baseLrText() {
            return baseLrLow > 0 ? plain(baseLrLow) + ":" + plain(baseLr) : plain(baseLr);
        }

        private static String plain(double rate) {
            return java.math.BigDecimal.valueOf(rate).stripTrailingZeros().toPlainString();
        }

        /** With one rate for the whole base. */
        public Request(String data, String base, Path weights, Strategy strategy, String cut, String unfreezeFrom,
                       double baseLr, int frozenEpochs, boolean featureCache, String augment, double valSplit,
                       boolean strict, boolean cacheImages, int workers, TrainConfig config,
                       boolean smallDataBatch, HeadOptions head) {
            this(data, base, weights, strategy, cut, unfreezeFrom, baseLr, frozenEpochs, featureCache, augment,
                    valSplit, strict, cacheImages, workers, config, smallDataBatch, head, 0);
        }

        /** With the default head (pooled, no hidden layer, no dropout). */
        public Request(String data, String base, Path weights, Strategy strategy, String cut, String unfreezeFrom,
                       double baseLr, int frozenEpochs, boolean featureCache, String augment, double valSplit,
                       boolean strict, boolean cacheImages, int workers, TrainConfig config,
                       boolean smallDataBatch) {
            this(data, base, weights, strategy, cut, unfreezeFrom, baseLr, frozenEpochs, featureCache, augment,
                    valSplit, strict, cacheImages, workers, config, smallDataBatch, HeadOptions.DEFAULT);
        }

        /** With the batch size as given ({@code smallDataBatch} off: see {@link TrainJob#smallDataBatch}). */
        public Request(String data, String base, Path weights, Strategy strategy, String cut, String unfreezeFrom,
                       double baseLr, int frozenEpochs, boolean featureCache, String augment, double valSplit,
                       boolean strict, boolean cacheImages, int workers, TrainConfig config) {
            this(data, base, weights, strategy, cut, unfreezeFrom, baseLr, frozenEpochs, featureCache, augment,
                    valSplit, strict, cacheImages, workers, config, false);
        }

        public Request {
            if (head == null) {
                head = HeadOptions.DEFAULT;
            }
            if (strategy == null) {
                throw CnnException.usage("--strategy is required");
            }
            if (base == null || base.isBlank()) {
                throw CnnException.usage("--base is required: a model.zip from cnn train, or zoo:NAME:imagenet");
            }
            if (!(baseLr >= 0) || Double.isInfinite(baseLr)) {
                throw CnnException.usage("--base-lr must be >= 0, got " + baseLr);
            }
            if (!(baseLrLow >= 0) || baseLrLow > baseLr) {
                throw CnnException.usage("--base-lr LO:HI needs 0 < LO <= HI (the first layers train slowest), got "
                        + baseLrLow + ":" + baseLr);
            }
            if (strategy == Strategy.GRADUAL && frozenEpochs < 1) {
                throw CnnException.usage("--frozen-epochs must be >= 1 for the gradual strategy, got " + frozenEpochs);
            }
        }
    }

    /**
     * The shape of the new head, as fastai's {@code vision_learner(lin_ftrs=, ps=)} and Keras' {@code pooling=} let
     * one choose it (see {@link HeadSpec}).
     *
     * @param pooling how a convolutional cut's output becomes a vector: averaged (the default), maxed or flattened
     * @param hidden  units of a dense ReLU layer before the classifier, 0 for none
     * @param dropout drop probability on the classifier's input, in [0, 1)
     */
    public record HeadOptions(HeadSpec.Pooling pooling, int hidden, double dropout) {
        public static final HeadOptions DEFAULT = new HeadOptions(HeadSpec.Pooling.AVG, 0, 0);

        public HeadOptions {
            if (pooling == null) {
                pooling = HeadSpec.Pooling.AVG;
            }
            if (hidden < 0) {
                throw CnnException.usage("--head-hidden must be >= 0, got " + hidden);
            }
            if (!(dropout >= 0 && dropout < 1)) {
                throw CnnException.usage("--head-dropout must be in [0, 1), got " + dropout);
            }
        }

        HeadSpec applyTo(HeadSpec spec) {
            return spec.withPooling(pooling).withHidden(hidden, dropout);
        }
    }

    /** A base network and the input it expects. */
    public record Base(ComputationGraph network, String architecture, Preprocess preprocess, String source,
                       List<String> labels) {
    }

    /** One training phase; {@code headLr} is the new head's peak learning rate in it. */
    public record Phase(String name, Trainer.Result result, boolean featureCache, double cacheSeconds,
                        long cacheBytes, int trainableParams, int batchSize, double headLr) {
        /** What the output's provenance keeps of it. */
        public Provenance.Phase record() {
            return new Provenance.Phase(name, result.status().name().toLowerCase(Locale.ROOT),
                    result.history().size(), featureCache, cacheSeconds, cacheBytes, trainableParams, batchSize,
                    headLr);
        }
    }

    /**
     * What happened. {@code phases} and {@code history}: what this call trained; {@code phaseRecords}: every phase of
     * the run as the output's provenance keeps it, those before a resumed checkpoint first.
     */
    public record Outcome(Trainer.Status status, ModelBundle bundle, List<Phase> phases, List<EpochStats> history,
                          DataSource source, Preprocess preprocess, String cut, String featureCacheNote,
                          Path historyCsv, String message, List<Provenance.Phase> phaseRecords) {
    }

    /** Progress callbacks: the trainer's, and one per phase. */
    public interface Listener extends Trainer.Callback {
        default void onPhase(String name, String description) {
        }
    }

    private FinetuneJob() {
    }

    // ------------------------------------------------------------------------------------------------ base

    /**
     * Loads a base: a bundle file, or {@code zoo:NAME[:TAG]}: published weights (torchvision's, imported into the
     * zoo network with their preprocessing) from {@code weights} or the download cache.
     */
    public static Base loadBase(String base, Path weights, PretrainedWeights downloader) {
        if (base.startsWith("zoo:")) {
            String name = base.substring(4);
            java.util.Optional<Weights> published = Pretrained.find(name);
            if (published.isPresent()) { // torchvision's weights in the zoo's own network
                Weights w = published.get();
                ModelBundle b = Pretrained.load(w, weights, downloader, null).bundle();
                return new Base(b.network(), w.model(), b.metadata().preprocess(), "zoo:" + w.id() + " ("
                        + (weights != null ? weights.getFileName() : w.fileName()) + ")", null);
            }
            PretrainedWeights.Entry e = PretrainedWeights.find(name).orElseThrow(() -> name.endsWith(":dl4j")
                    ? CnnException.usage("--base " + base + ": DL4J's converted weights exist for "
                    + String.join(", ", PretrainedWeights.registry().keySet().stream().map(k -> "zoo:" + k).toList()))
                    : Pretrained.unknown(name));
            Path file = weights;
            try {
                if (file == null) {
                    file = downloader.fetch(e);
                } else if (!Files.isRegularFile(file)) {
                    throw CnnException.model("--weights " + file + ": no such file; download "
                            + downloader.urlOf(e) + " and pass its path");
                } else if (!e.checksum().matches(file)) { // another model, a truncated or a tampered file
                    throw CnnException.model("--weights " + file + ": not the registry's " + e.name() + " file ("
                            + e.checksum().of(file) + ", expected " + e.checksum() + ")" + (isBundle(file)
                            ? "; it is a cnn model: pass it as --base " + file : "; download " + downloader.urlOf(e)));
                }
                ComputationGraph g = PretrainedWeights.load(file);
                PretrainedWeights.Preprocessing p = e.preprocessing();
                Preprocess pre = Preprocess.builder().size(p.channels(), p.height(), p.width())
                        .order(Preprocess.ChannelOrder.valueOf(p.channelOrder())).normalization(Normalization.vgg())
                        .build();
                return new Base(g, e.name().split(":")[0], pre, base + " (" + file.getFileName() + ")", null);
            } catch (WeightsDownloadException ex) {
                throw CnnException.model(ex.getMessage(), ex);
            } catch (IOException | RuntimeException ex) {
                if (ex instanceof CnnException ce) {
                    throw ce;
                }
                throw CnnException.model((weights != null ? "--weights " + weights : base) + ": cannot load the "
                        + "pretrained network (" + ex.getMessage() + "); pass a DL4J zoo zip with --weights", ex);
            }
        }
        if (weights != null) {
            throw CnnException.usage("--weights goes with --base zoo:NAME:imagenet; a bundle base carries its weights");
        }
        Path p = Path.of(base);
        ModelBundle b = ModelBundle.load(p, false);
        BundleMetadata m = b.metadata();
        return new Base(b.network(), m.architecture(), m.preprocess(), p.toString(), m.labels());
    }

    private static boolean isBundle(Path file) {
        try (java.util.zip.ZipFile z = new java.util.zip.ZipFile(file.toFile())) {
            return z.getEntry(ModelBundle.METADATA_ENTRY) != null;
        } catch (IOException e) {
            return false;
        }
    }

    // ------------------------------------------------------------------------------------------------ run

    public static Outcome run(Request req, Listener listener, Consumer<Trainer> onTrainer) {
        return run(req, loadBase(req.base(), req.weights(), PretrainedWeights.fromEnvironment()), listener,
                onTrainer);
    }

    public static Outcome run(Request req, Base base, Listener listener, Consumer<Trainer> onTrainer) {
        try (OutputLock lock = OutputLock.acquire(req.config().output(), "cnn finetune")) {
            return runLocked(req, base, listener, onTrainer);
        }
    }

    /**
     * {@code cnn finetune --resume}: a checkpoint of an interrupted run and what may change ({@code epochs}: the
     * run's --epochs; {@code output}; null keeps the run's own).
     */
    public record Resume(Path checkpoint, Integer epochs, Path output, int workers) {
    }

    /** The model file a resumed run writes: {@code --output} if given, else the run's own. */
    public static Path resumeOutput(Resume r) {
        if (r.output() != null) {
            return r.output();
        }
        if (!inFrozenPhase(r.checkpoint())) {
            dev.cnn.core.TrainingState st = ModelBundle.readMetadata(r.checkpoint()).training();
            if (st != null && st.output() != null) {
                return Path.of(st.output());
            }
        }
        Path dir = gradualRoot(r.checkpoint()).toAbsolutePath().getParent(); // <output>.checkpoints
        String name = dir == null || dir.getFileName() == null ? "" : dir.getFileName().toString();
        if (!name.endsWith(".checkpoints") || name.length() == ".checkpoints".length()) {
            throw CnnException.usage("--resume " + r.checkpoint() + ": cannot tell which model file the run wrote; "
                    + "give --output");
        }
        return dir.resolveSibling(name.substring(0, name.length() - ".checkpoints".length()));
    }

    /**
     * The epochs of gradual's frozen phase, from that phase's output {@code phase1} (in the run's checkpoint folder),
     * when it matches the checkpoint's record of the phase; else none.
     */
    private static List<EpochStats> frozenHistory(Path phase1, List<Provenance.Phase> earlier) {
        if (earlier.size() != 1 || !java.nio.file.Files.isRegularFile(phase1)) {
            return List.of();
        }
        try {
            BundleMetadata m = ModelBundle.readMetadata(phase1);
            List<EpochStats> h = m.provenance() == null ? List.of() : m.provenance().history();
            return h.size() == earlier.get(0).epochs() ? h : List.of();
        } catch (RuntimeException e) {
            return List.of(); // an unreadable file: the history starts at the checkpoint, as before
        }
    }

    /** A checkpoint of gradual's first phase lies in {@code <output>.checkpoints/frozen/}; the run's folder is above. */
    private static boolean inFrozenPhase(Path checkpoint) {
        Path dir = checkpoint.toAbsolutePath().getParent();
        return dir != null && dir.getFileName() != null && dir.getFileName().toString().equals("frozen");
    }

    private static Path gradualRoot(Path checkpoint) {
        return inFrozenPhase(checkpoint) ? checkpoint.toAbsolutePath().getParent().resolveSibling(
                checkpoint.getFileName()) : checkpoint;
    }

    /**
     * Continues an interrupted finetune from its checkpoint ({@code last.zip}) with the run's own settings, data and
     * output: the phase it was in from the epoch and batch it reached (gradual's unfrozen phase after a frozen one
     * that was interrupted). Weights, epoch history, early-stopping state and the learning-rate schedules continue;
     * the optimizer's moments start again (a checkpoint of cached-feature training holds the whole network, not the
     * head's optimizer), so unlike {@code cnn train --resume} the result is close to, not bit for bit, the
     * uninterrupted run's.
     */
    public static Outcome resume(Resume r, Listener listener, Consumer<Trainer> onTrainer) {
        ModelBundle ckpt = ModelBundle.load(r.checkpoint(), false);
        BundleMetadata meta = ckpt.metadata();
        dev.cnn.core.TrainingState state = meta.training();
        Provenance prov = meta.provenance();
        if (state == null || state.config() == null || prov == null || prov.transfer() == null) {
            throw CnnException.model(r.checkpoint() + ": not a finetune checkpoint (no training or transfer state); "
                    + "resume from <output>.checkpoints/last.zip" + (state != null && prov != null
                    && prov.transfer() == null ? " (a cnn train checkpoint: use cnn train --resume)" : ""));
        }
        Provenance.Transfer t = prov.transfer();
        Strategy strategy = Strategy.parse(t.strategy());
        boolean frozenPhase = inFrozenPhase(r.checkpoint());
        Path output = resumeOutput(r);
        // the run's settings (a phase's checkpoint holds that phase's: gradual's first has its epochs and folder)
        TrainConfig.Builder b = (prov.config() != null ? prov.config() : state.config()).toBuilder().output(output)
                .checkpointDir(gradualRoot(r.checkpoint()).toAbsolutePath().getParent());
        if (r.epochs() != null) {
            b.epochs(r.epochs());
        }
        TrainConfig cfg = b.build();
        Request req = new Request(prov.data(), t.base(), null, strategy, t.cut(), t.unfreezeFrom(), t.baseLr(),
                Math.max(1, t.frozenEpochs()), true, prov.augment(), prov.valSplit(), Boolean.TRUE.equals(
                prov.strict()), Boolean.TRUE.equals(prov.cache()), r.workers(), cfg).withBaseLr(t.baseLrLow(),
                t.baseLr());
        Base base = new Base(ckpt.network(), t.baseArchitecture(), meta.preprocess(), t.base(), t.baseLabels());
        try (OutputLock lock = OutputLock.acquire(output, "cnn finetune")) {
            Listener l = listener == null ? new Listener() { } : listener;
            Phases run = new Phases(req, base, l, onTrainer, true, t.headBatchSize());
            if (!run.source.classes().equals(meta.labels())) {
                throw CnnException.data(prov.data() + ": classes " + run.source.classes() + " differ from the "
                        + "checkpoint's " + meta.labels() + "; resume needs the same data");
            }
            run.meta = meta; // with the training state: the trainer continues where the checkpoint stands
            run.earlier = t.phases(); // the phases that ended before the checkpoint (gradual's frozen one)
            run.earlierHistory = strategy == Strategy.GRADUAL && !frozenPhase
                    ? frozenHistory(frozenPhase(cfg, 1).output(), t.phases()) : List.of();
            run.startIteration = ckpt.network().getConfiguration().getIterationCount();
            String cut = run.cut;
            String from = req.unfreezeFrom() == null ? "every layer" : "from '" + req.unfreezeFrom() + "' up";
            switch (strategy) {
                case FEATURE_EXTRACTION -> run.train("head", "resuming: the new head, base frozen up to '" + cut
                        + "'", Freezing.freezeUpTo(run.network, cut), cfg, 0, cfg.lr(), run.featureCache);
                case FINETUNE -> run.train("all", "resuming: training " + from, req.unfreezeFrom() == null
                        ? run.network : run.opened(Freezing.freezeUpTo(run.network, cut)), cfg, req.baseLrLow(),
                        req.baseLr(), false);
                case GRADUAL -> {
                    Trainer.Status s = Trainer.Status.COMPLETED;
                    if (frozenPhase) {
                        TrainConfig frozen = frozenPhase(cfg, req.frozenEpochs());
                        s = run.train("frozen", "resuming phase 1/2: the head only",
                                Freezing.freezeUpTo(run.network, cut), frozen, 0, frozen.lr(), run.featureCache);
                    }
                    if (s == Trainer.Status.COMPLETED || s == Trainer.Status.EARLY_STOPPED) {
                        // resumed in the unfrozen phase: at the rate it ran at (checkpoints from before session 21:
                        // half the head's rate, not a fifth)
                        TrainConfig open = copy(cfg, cfg.epochs(), frozenPhase ? cfg.lr() / GRADUAL_OPEN_DIVISOR
                                : state.config().lr(), cfg.checkpointDir());
                        ComputationGraph net = frozenPhase ? run.lastPhase().result().bundle().network() : run.network;
                        run.train("unfrozen", (frozenPhase ? "" : "resuming ") + "phase 2/2: training " + from,
                                run.opened(net), open, req.baseLrLow(), req.baseLr(), false);
                    }
                }
                default -> throw new IllegalStateException();
            }
            return run.finish();
        }
    }

    private static Outcome runLocked(Request req, Base base, Listener listener, Consumer<Trainer> onTrainer) {
        Phases run = new Phases(req, base, listener == null ? new Listener() { } : listener, onTrainer);
        TrainConfig cfg = run.cfg;
        String cut = run.cut;
        String from = req.unfreezeFrom() == null ? "every layer" : "from '" + req.unfreezeFrom() + "' up";
        switch (req.strategy()) {
            case FEATURE_EXTRACTION -> run.train("head", "training the new head only; base frozen up to '" + cut + "'",
                    Freezing.freezeUpTo(run.network, cut), cfg, 0, cfg.lr(), run.featureCache);
            case FINETUNE -> run.train("all", "training " + from + " (base lr " + req.baseLrText() + ", head lr "
                    + cfg.lr() + ")", req.unfreezeFrom() == null ? run.network
                    : run.opened(Freezing.freezeUpTo(run.network, cut)), cfg, req.baseLrLow(), req.baseLr(),
                    false);
            case GRADUAL -> {
                TrainConfig frozen = frozenPhase(cfg, req.frozenEpochs());
                Trainer.Status s = run.train("frozen", "phase 1/2: " + req.frozenEpochs()
                                + " epoch(s) training the head only", Freezing.freezeUpTo(run.network, cut), frozen,
                        0, frozen.lr(), run.featureCache);
                if (s == Trainer.Status.COMPLETED || s == Trainer.Status.EARLY_STOPPED) {
                    TrainConfig open = copy(cfg, cfg.epochs(), cfg.lr() / GRADUAL_OPEN_DIVISOR, cfg.checkpointDir());
                    run.train("unfrozen", "phase 2/2: " + cfg.epochs() + " epoch(s) training " + from + " (base lr "
                                    + req.baseLrText() + ", head lr " + open.lr() + ")",
                            run.opened(run.lastPhase().result().bundle().network()), open, req.baseLrLow(),
                            req.baseLr(), false);
                }
            }
            default -> throw new IllegalStateException();
        }
        return run.finish();
    }

    /**
     * {@code cnn finetune --lr-find} / {@code --lr auto}: the learning-rate range test ({@link LrFinder}) on what
     * the first phase trains: the new head on the frozen base (on cached features where the run would cache them)
     * for feature extraction and gradual, the whole network for finetune. Nothing is written.
     */
    public static LrFinder.Result lrFind(Request req, Base base, java.util.function.IntConsumer onStep) {
        Phases run = new Phases(req, base, new Listener() { }, null);
        boolean frozen = req.strategy() != Strategy.FINETUNE;
        ComputationGraph net = frozen ? Freezing.freezeUpTo(run.network, run.cut) : run.network;
        TrainConfig cfg = run.cfg.toBuilder().batchSize(run.batchFor(net)).build();
        ImageData images = run.images.withBatchSize(cfg.batchSize());
        ComputationGraph g = LearningRates.forPhase(net, cfg, images.batchesPerEpoch(), cfg.lr(), cfg.lr(),
                run.headLayers);
        if (frozen && run.featureCache) {
            FeatureCache fc = FeatureCache.build(g, images.train(0));
            return LrFinder.run(fc.head(), new FeatureData(fc.dataSets(), List.of(), cfg.batchSize(), cfg.seed()),
                    1e-7, 10, 100, onStep);
        }
        return LrFinder.run(g, images, 1e-7, 10, 100, onStep);
    }

    /** The phases of one finetune run: what they share (data, the new graph, its head, the metadata) and did. */
    private static final class Phases {
        final Request req;
        final Listener listener;
        final Consumer<Trainer> onTrainer;
        final DataSource source;
        final Preprocess preprocess;
        final ImageData images;
        final String cut;
        /** The base up to the cut with the new head, nothing frozen. */
        final ComputationGraph network;
        final Set<String> headLayers;
        final boolean featureCache;
        final String featureCacheNote;
        final List<Phase> phases = new ArrayList<>();
        /** Phases of this run that ended before the checkpoint it resumed from. */
        List<Provenance.Phase> earlier = List.of();
        /** Their epochs, when known. */
        List<EpochStats> earlierHistory = List.of();
        BundleMetadata meta;

        /** Iteration count to continue the schedules from (a resumed phase), else 0. */
        int startIteration;
        /** The run's settings; their batch size is that of phases that train batch-norm layers. */
        final TrainConfig cfg;
        /**
         * The batch size of phases that train no batch-norm layer: the head on a frozen base, or a base without
         * batch norm. Smaller on small data when the request asks ({@link TrainJob#smallDataBatch}), for more steps
         * an epoch. A phase that trains batch norm keeps {@code cfg}'s: batch statistics of 8 images replace a
         * pretrained base's running statistics with noise (resnet18, 10 images a class: finetune top-1 0.799 in
         * batches of 8, 0.822 in batches of 32).
         */
        final int headBatch;

        Phases(Request req, Base base, Listener listener, Consumer<Trainer> onTrainer) {
            this(req, base, listener, onTrainer, false, 0);
        }

        /**
         * {@code resumed}: the base is a checkpoint of this run, its head already in place, and
         * {@code resumedHeadBatch} the run's {@link #headBatch} (0: the config's).
         */
        Phases(Request req, Base base, Listener listener, Consumer<Trainer> onTrainer, boolean resumed,
               int resumedHeadBatch) {
            this.req = req;
            this.listener = listener;
            this.onTrainer = onTrainer;
            this.cfg = req.config();
            source = TrainJob.open(req.data(), req.valSplit(), cfg.seed(), req.strict());
            headBatch = resumedHeadBatch > 0 ? resumedHeadBatch : req.smallDataBatch()
                    ? TrainJob.smallDataBatch(cfg.batchSize(), source.train().size()) : cfg.batchSize();
            preprocess = base.preprocess();
            Augmentation aug = TrainJob.parseAug(req.augment());
            images = new ImageData(source.train(), source.validation(), preprocess, aug, cfg.batchSize(), cfg.seed(),
                    source.skipped(), req.cacheImages() || req.data().startsWith("builtin:"), req.workers());
            ComputationGraph g0 = Freezing.unfreeze(base.network());
            cut = req.cut() != null ? req.cut() : defaultCut(g0);
            checkLayers(g0, cut, req.unfreezeFrom());
            network = resumed ? g0 : withHead(g0, cut, source.classes().size(), cfg.seed(), preprocess, req.head());
            headLayers = GraphQueries.descendants(network, cut);
            // nothing random may happen before the cut for its features to be computed once
            featureCache = req.featureCache() && aug.isNone();
            featureCacheNote = req.strategy() == Strategy.FINETUNE ? null : !req.featureCache()
                    ? "feature cache off (--no-feature-cache)" : !aug.isNone()
                    ? "feature cache off: --augment changes the images every epoch, so the frozen features must be "
                    + "recomputed (drop --augment for cached, much faster epochs)" : null;
            Provenance.Transfer t = new Provenance.Transfer(base.source(), base.architecture(), base.labels(),
                    req.strategy().cliName(), cut, new ArrayList<>(headLayers), req.unfreezeFrom(), req.baseLr(),
                    req.strategy() == Strategy.GRADUAL ? req.frozenEpochs() : 0, List.of(),
                    headBatch == cfg.batchSize() ? 0 : headBatch, req.head().pooling().cliName(), req.head().hidden(),
                    req.head().dropout(), req.baseLrLow());
            meta = BundleMetadata.of(base.architecture(), source.classes(), preprocess, Provenance.of(req.data(),
                    source.valSplit(), aug.toSpec(), null, null, source.train().size(),
                    source.validation() == null ? 0 : source.validation().size(), cfg, t));
        }

        /** The batch size for training {@code net}: see {@link #headBatch}. */
        int batchFor(ComputationGraph net) {
            return GraphQueries.trainsBatchNorm(net) ? cfg.batchSize() : headBatch;
        }

        /** {@code frozen} trainable again from {@code --unfreeze-from} up (all of it without). */
        ComputationGraph opened(ComputationGraph frozen) {
            return req.unfreezeFrom() == null ? Freezing.unfreeze(frozen)
                    : Freezing.unfreezeFrom(frozen, req.unfreezeFrom());
        }

        /**
         * Trains {@code net} as one phase: the head at the phase's rate, the rest at {@code baseLr}, spread from
         * {@code baseLrLow} when it is above 0 ({@link LearningRates#baseRates}).
         */
        Trainer.Status train(String name, String description, ComputationGraph net, TrainConfig cfg,
                             double baseLrLow, double baseLr, boolean useCache) {
            listener.onPhase(name, description);
            int batch = batchFor(net);
            cfg = cfg.toBuilder().batchSize(batch).build();
            ImageData data = images.withBatchSize(batch);
            ComputationGraph g = LearningRates.forPhase(net, cfg, data.batchesPerEpoch(), baseLrLow, baseLr, cfg.lr(),
                    headLayers);
            g.getConfiguration().setIterationCount(startIteration);
            Phase p = phase(name, g, cfg, useCache, data, meta, listener, onTrainer, startIteration);
            startIteration = 0;
            phases.add(p);
            // a later phase starts afresh, and its checkpoints record the phases before it
            Provenance prov = meta.provenance();
            meta = meta.withTraining(null).withProvenance(prov.withTransfer(prov.transfer().withPhases(records())));
            return p.result().status();
        }

        /** Every phase of the run so far, those before a resumed checkpoint first. */
        List<Provenance.Phase> records() {
            List<Provenance.Phase> all = new ArrayList<>(earlier);
            phases.stream().map(Phase::record).forEach(all::add);
            return all;
        }

        Phase lastPhase() {
            return phases.get(phases.size() - 1);
        }

        /** Writes the output (no frozen layers: a plain trainable bundle and a valid next base) and the epoch log. */
        Outcome finish() {
            List<EpochStats> history = new ArrayList<>(earlierHistory);
            for (Phase p : phases) {
                int offset = history.size();
                p.result().history().forEach(s -> history.add(s.renumbered(offset + s.epoch())));
            }
            List<Provenance.Phase> records = records();
            Trainer.Result last = lastPhase().result();
            ModelBundle out = last.bundle();
            TrainConfig cfg = req.config();
            // an interrupted run continues from its checkpoint (--resume); a diverged one keeps what it had, if anything
            if (last.status() != Trainer.Status.INTERRUPTED
                    && (last.status() != Trainer.Status.DIVERGED || !last.history().isEmpty())) {
                Provenance p = out.metadata().provenance();
                Provenance.Result r = p.result();
                p = p.withTransfer(p.transfer().withPhases(records))
                        .withResult(new Provenance.Result(history, r == null ? null : r.status(),
                                r == null ? null : r.selectedEpoch(), r == null ? null : r.metrics()));
                out = new ModelBundle(Freezing.unfreeze(out.network()), out.metadata().withProvenance(p));
                try {
                    out.save(cfg.output(), false);
                } catch (IOException e) {
                    throw CnnException.data("cannot write " + cfg.output() + ": " + e.getMessage(), e);
                }
            }
            Path csv = TrainJob.writeHistory(cfg.output(), history);
            return new Outcome(last.status(), out, List.copyOf(phases), history, source, preprocess, cut,
                    featureCacheNote, csv, last.message(), records);
        }
    }

    /** {@code g} cut at {@code cut} with a new softmax head named {@code head} (or {@code head2}, ...). */
    private static ComputationGraph withHead(ComputationGraph g, String cut, int classes, long seed, Preprocess pre,
                                             HeadOptions options) {
        Set<String> kept = GraphQueries.ancestors(g, cut);
        kept.add(cut);
        String headName = "head";
        for (int i = 2; kept.contains(headName) || kept.contains(headName + "_pool") || kept.contains(headName + "_fc"); i++) {
            headName = "head" + i;
        }
        HeadSpec hs = options.applyTo(HeadSpec.of(classes)).withName(headName).withSeed(seed)
                .withInputTypes(InputType.convolutional(pre.height(), pre.width(), pre.channels()));
        try {
            return Heads.replaceHead(g, cut, hs);
        } catch (IllegalArgumentException e) {
            String pool = options.pooling() == HeadSpec.Pooling.AVG ? ""
                    : " with --head-pool " + options.pooling().cliName();
            throw CnnException.usage("--cut " + cut + pool + ": " + e.getMessage() + " (--list-layers names them)");
        }
    }

    private static void checkLayers(ComputationGraph g, String cut, String unfreezeFrom) {
        requireLayer(g, cut, "--cut");
        if (unfreezeFrom != null) {
            requireLayer(g, unfreezeFrom, "--unfreeze-from");
            if (!GraphQueries.ancestors(g, cut).contains(unfreezeFrom) && !unfreezeFrom.equals(cut)) {
                throw CnnException.usage("--unfreeze-from " + unfreezeFrom + " is not below the cut '" + cut
                        + "'; name a layer of the base, e.g. one of " + tail(GraphQueries.ancestors(g, cut), 3));
            }
        }
    }

    /** Trains one phase, on cached features of the frozen part when {@code useCache}. */
    private static Phase phase(String name, ComputationGraph net, TrainConfig cfg, boolean useCache, ImageData images,
                               BundleMetadata meta, Listener l, Consumer<Trainer> onTrainer, int startIteration) {
        Trainer trainer = new Trainer(cfg, l).keepSchedules(); // per-layer rates set by LearningRates.forPhase
        if (onTrainer != null) {
            onTrainer.accept(trainer);
        }
        int trainable = trainableParams(net);
        if (!useCache) {
            return new Phase(name, trainer.fit(net, meta, images), false, 0, 0, trainable, cfg.batchSize(),
                    cfg.lr());
        }
        long t0 = System.nanoTime();
        FeatureCache fc = FeatureCache.build(net, images.train(0));
        DataSetIterator vi = images.validation();
        List<DataSet> val = vi == null ? List.of() : fc.featurize(vi);
        double secs = (System.nanoTime() - t0) / 1e9;
        long bytes = fc.sizeBytes();
        for (DataSet d : val) {
            bytes += d.getFeatures().length() * d.getFeatures().dataType().width();
        }
        FeatureData fd = new FeatureData(fc.dataSets(), val, cfg.batchSize(), cfg.seed());
        fc.head().getConfiguration().setIterationCount(startIteration);
        trainer.exportWith(h -> fc.mergeInto(net));
        return new Phase(name, trainer.fit(fc.head(), meta, fd), true, secs, bytes, trainable, cfg.batchSize(),
                cfg.lr());
    }

    /** Number of parameters that training changes (not frozen; batch-norm statistics included). */
    public static int trainableParams(ComputationGraph g) {
        long n = 0;
        for (Map.Entry<String, GraphVertex> e : g.getConfiguration().getVertices().entrySet()) {
            if (!GraphQueries.isFrozen(e.getValue())) {
                n += e.getValue().numParams(true);
            }
        }
        return (int) n;
    }

    /**
     * Gradual's first phase: its own epochs, checkpoints in {@code <output>.checkpoints/frozen/} and its result
     * there too ({@code phase1.zip}): the run's output is written once, when the run ends.
     */
    private static TrainConfig frozenPhase(TrainConfig c, int epochs) {
        Path dir = c.checkpointDir().resolve("frozen");
        return c.toBuilder().epochs(epochs).checkpointDir(dir).output(dir.resolve("phase1.zip")).build();
    }

    /** {@code c} with another epoch count and learning rate (and checkpoint folder, when not null). */
    private static TrainConfig copy(TrainConfig c, int epochs, double lr, Path checkpointDir) {
        return c.toBuilder().epochs(epochs).lr(lr)
                .checkpointDir(checkpointDir != null ? checkpointDir : c.checkpointDir()).build();
    }

    private static String defaultCut(ComputationGraph g) {
        try {
            return GraphQueries.defaultCut(g);
        } catch (IllegalArgumentException e) {
            throw CnnException.usage("cannot find the base's classifier (" + e.getMessage() + "); pass --cut LAYER");
        }
    }

    private static void requireLayer(ComputationGraph g, String name, String option) {
        if (!g.getConfiguration().getVertices().containsKey(name)) {
            List<String> names = GraphQueries.layerNames(g);
            throw CnnException.usage(option + " " + name + ": no such layer in the base; layers near the end: "
                    + String.join(", ", names.subList(Math.max(0, names.size() - 6), names.size()))
                    + " (cnn summary or cnn finetune --list-layers shows all)");
        }
    }

    private static String tail(Set<String> names, int n) {
        List<String> l = new ArrayList<>(names);
        return String.join(", ", l.subList(Math.max(0, l.size() - n), l.size()));
    }

    /**
     * Cached features as epochs: all examples reshuffled into new batches every epoch (seeded by run seed and
     * epoch), like the image pipeline does with images.
     */
    static final class FeatureData implements EpochData {
        private final INDArray features;
        private final INDArray labels;
        private final long[] featureShape;
        private final List<DataSet> val;
        private final int batchSize;
        private final long seed;

        FeatureData(List<DataSet> train, List<DataSet> val, int batchSize, long seed) {
            DataSet all = DataSet.merge(train);
            this.featureShape = all.getFeatures().shape();
            this.features = all.getFeatures().reshape(featureShape[0], -1);
            this.labels = all.getLabels();
            this.val = val;
            this.batchSize = batchSize;
            this.seed = seed;
        }

        @Override
        public DataSetIterator train(int epoch) {
            int n = (int) featureShape[0];
            int[] idx = new int[n];
            for (int i = 0; i < n; i++) {
                idx[i] = i;
            }
            Random r = new Random(seed * 1_000_003L + epoch);
            for (int i = n - 1; i > 0; i--) {
                int j = r.nextInt(i + 1);
                int t = idx[i];
                idx[i] = idx[j];
                idx[j] = t;
            }
            List<DataSet> batches = new ArrayList<>();
            for (int s = 0; s < n; s += batchSize) {
                int[] b = Arrays.copyOfRange(idx, s, Math.min(n, s + batchSize));
                long[] shape = featureShape.clone();
                shape[0] = b.length;
                batches.add(new DataSet(features.getRows(b).reshape(shape), labels.getRows(b)));
            }
            return new ExistingDataSetIterator(batches);
        }

        @Override
        public DataSetIterator validation() {
            return val.isEmpty() ? null : new ExistingDataSetIterator(val);
        }

        @Override
        public int batchesPerEpoch() {
            return (int) ((featureShape[0] + batchSize - 1) / batchSize);
        }
    }

    /** Layer names of a base, in order, with frozen flags, for {@code --list-layers}. */
    public static List<LayerInfo> layers(Base base) {
        return GraphQueries.layers(base.network());
    }
}
