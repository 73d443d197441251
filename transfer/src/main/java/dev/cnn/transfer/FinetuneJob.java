package dev.cnn.transfer;

import dev.cnn.core.BundleMetadata;
import dev.cnn.core.CnnException;
import dev.cnn.core.EpochData;
import dev.cnn.core.ImageData;
import dev.cnn.core.ModelBundle;
import dev.cnn.core.Optimizers;
import dev.cnn.core.TrainConfig;
import dev.cnn.core.TrainJob;
import dev.cnn.core.Trainer;
import dev.cnn.data.Augmentation;
import dev.cnn.data.DataSource;
import dev.cnn.data.Normalization;
import dev.cnn.data.Preprocess;
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
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
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
 *   (real trainable layers, same weights) and train {@code epochs} more at half the head rate and {@code baseLr}.</li>
 * </ul>
 * The output is a normal bundle (no frozen layers, the new labels) usable by classify, evaluate and as the next base.
 */
public final class FinetuneJob {
    /** How much of the base trains. */
    public enum Strategy {
        FEATURE_EXTRACTION, FINETUNE, GRADUAL;

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
     * @param base         a bundle path, or {@code zoo:NAME:imagenet}
     * @param weights      a pretrained file on disk for a {@code zoo:} base (no download), or null
     * @param cut          the last layer kept from the base (null: the layer before its classifier)
     * @param unfreezeFrom train from this layer up, keep the layers below frozen (null: strategy default)
     * @param featureCache compute frozen features once when nothing random happens before the cut
     */
    public record Request(String data, String base, Path weights, Strategy strategy, String cut, String unfreezeFrom,
                          double baseLr, int frozenEpochs, boolean featureCache, String augment, double valSplit,
                          boolean strict, boolean cacheImages, int workers, TrainConfig config) {
        public Request {
            if (strategy == null) {
                throw CnnException.usage("--strategy is required");
            }
            if (base == null || base.isBlank()) {
                throw CnnException.usage("--base is required: a model.zip from cnn train, or zoo:NAME:imagenet");
            }
            if (!(baseLr >= 0) || Double.isInfinite(baseLr)) {
                throw CnnException.usage("--base-lr must be >= 0, got " + baseLr);
            }
            if (strategy == Strategy.GRADUAL && frozenEpochs < 1) {
                throw CnnException.usage("--frozen-epochs must be >= 1 for the gradual strategy, got " + frozenEpochs);
            }
        }
    }

    /** A base network and the input it expects. */
    public record Base(ComputationGraph network, String architecture, Preprocess preprocess, String source,
                       List<String> labels) {
    }

    /** One training phase. */
    public record Phase(String name, Trainer.Result result, boolean featureCache, double cacheSeconds,
                        long cacheBytes, int trainableParams) {
    }

    /** What happened. */
    public record Outcome(Trainer.Status status, ModelBundle bundle, List<Phase> phases, List<Trainer.EpochStats> history,
                          DataSource source, Preprocess preprocess, String cut, String featureCacheNote,
                          Path historyCsv, String message) {
    }

    /** Progress callbacks beyond the trainer's. */
    public interface Listener extends Trainer.Listener {
        default void onPhase(String name, String description) {
        }
    }

    private FinetuneJob() {
    }

    // ------------------------------------------------------------------------------------------------ base

    /** Loads a base: a bundle file, or {@code zoo:NAME[:imagenet]} from {@code weights} or the download cache. */
    public static Base loadBase(String base, Path weights, PretrainedWeights downloader) {
        if (base.startsWith("zoo:")) {
            String name = base.substring(4);
            PretrainedWeights.Entry e = PretrainedWeights.find(name).orElseThrow(() -> CnnException.usage(
                    "--base " + base + ": no pretrained weights of that name; known: "
                            + String.join(", ", PretrainedWeights.registry().keySet().stream()
                            .map(k -> "zoo:" + k).toList())));
            Path file = weights;
            try {
                if (file == null) {
                    file = downloader.fetch(e);
                } else if (!Files.isRegularFile(file)) {
                    throw CnnException.model("--weights " + file + ": no such file; download "
                            + downloader.urlOf(e) + " and pass its path");
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
        return new Base(b.network(), m.architecture(), Preprocess.fromMap(m.preprocess()), p.toString(), m.labels());
    }

    // ------------------------------------------------------------------------------------------------ run

    public static Outcome run(Request req, Listener listener, Consumer<Trainer> onTrainer) {
        return run(req, loadBase(req.base(), req.weights(), PretrainedWeights.fromEnvironment()), listener,
                onTrainer);
    }

    public static Outcome run(Request req, Base base, Listener listener, Consumer<Trainer> onTrainer) {
        Listener l = listener == null ? new Listener() { } : listener;
        TrainConfig cfg = req.config();
        DataSource src = TrainJob.open(req.data(), req.valSplit(), cfg.seed(), req.strict());
        Preprocess pre = base.preprocess();
        Augmentation aug = TrainJob.parseAug(req.augment());
        ImageData images = new ImageData(src.train(), src.validation(), pre, aug, cfg.batchSize(), cfg.seed(),
                src.skipped(), req.cacheImages() || req.data().startsWith("builtin:"), req.workers());
        int perEpoch = images.batchesPerEpoch();

        ComputationGraph g0 = GraphSurgery.unfreeze(base.network());
        String cut = req.cut() != null ? req.cut() : defaultCut(g0);
        requireLayer(g0, cut, "--cut");
        if (req.unfreezeFrom() != null) {
            requireLayer(g0, req.unfreezeFrom(), "--unfreeze-from");
            if (!GraphSurgery.ancestors(g0, cut).contains(req.unfreezeFrom()) && !req.unfreezeFrom().equals(cut)) {
                throw CnnException.usage("--unfreeze-from " + req.unfreezeFrom() + " is not below the cut '" + cut
                        + "'; name a layer of the base, e.g. one of " + tail(GraphSurgery.ancestors(g0, cut), 3));
            }
        }
        Set<String> kept = GraphSurgery.ancestors(g0, cut);
        kept.add(cut);
        String headName = "head";
        for (int i = 2; kept.contains(headName) || kept.contains(headName + "_pool") || kept.contains(headName + "_fc"); i++) {
            headName = "head" + i;
        }
        HeadSpec hs = HeadSpec.of(src.classes().size()).withName(headName).withSeed(cfg.seed())
                .withInputTypes(InputType.convolutional(pre.height(), pre.width(), pre.channels()));
        ComputationGraph g;
        try {
            g = GraphSurgery.replaceHead(g0, cut, hs);
        } catch (IllegalArgumentException e) {
            throw CnnException.usage("--cut " + cut + ": " + e.getMessage());
        }
        Set<String> headLayers = GraphSurgery.descendants(g, cut);

        Map<String, Object> prov = new LinkedHashMap<>();
        prov.put("data", req.data());
        prov.put("base", base.source());
        prov.put("baseArchitecture", base.architecture());
        if (base.labels() != null) {
            prov.put("baseLabels", base.labels());
        }
        prov.put("strategy", req.strategy().cliName());
        prov.put("cut", cut);
        prov.put("head", new ArrayList<>(headLayers));
        prov.put("unfreezeFrom", req.unfreezeFrom());
        prov.put("baseLr", req.baseLr());
        prov.put("frozenEpochs", req.strategy() == Strategy.GRADUAL ? req.frozenEpochs() : 0);
        prov.put("valSplit", req.valSplit());
        prov.put("augment", aug.toSpec());
        prov.put("trainImages", src.train().size());
        prov.put("valImages", src.validation() == null ? 0 : src.validation().size());
        prov.put("config", cfg.toMap());
        prov.put("version", TrainJob.VERSION);
        prov.put("createdAt", Instant.now().toString());
        BundleMetadata meta = new BundleMetadata(BundleMetadata.FORMAT_VERSION, base.architecture(), src.classes(),
                pre.channels(), pre.height(), pre.width(), pre.toMap(), prov, Map.of());

        boolean randomBeforeCut = !aug.isNone();
        String cacheNote = null;
        if (req.featureCache() && randomBeforeCut && req.strategy() != Strategy.FINETUNE) {
            cacheNote = "feature cache off: --augment changes the images every epoch, so the frozen features must be "
                    + "recomputed (drop --augment for cached, much faster epochs)";
        } else if (!req.featureCache() && req.strategy() != Strategy.FINETUNE) {
            cacheNote = "feature cache off (--no-feature-cache)";
        }
        boolean useCache = req.featureCache() && !randomBeforeCut;

        List<Phase> phases = new ArrayList<>();
        List<Trainer.EpochStats> history = new ArrayList<>();
        Trainer.Result last;
        switch (req.strategy()) {
            case FEATURE_EXTRACTION -> {
                ComputationGraph frozen = withUpdaters(GraphSurgery.freezeUpTo(g, cut), cfg, perEpoch, cfg.lr(),
                        cfg.lr(), headLayers);
                l.onPhase("head", "training the new head only; base frozen up to '" + cut + "'");
                Phase p = phase("head", frozen, cfg, useCache, images, meta, l, onTrainer);
                phases.add(p);
                last = p.result();
            }
            case FINETUNE -> {
                ComputationGraph net = req.unfreezeFrom() == null ? g
                        : GraphSurgery.unfreezeFrom(GraphSurgery.freezeUpTo(g, cut), req.unfreezeFrom());
                net = withUpdaters(net, cfg, perEpoch, req.baseLr(), cfg.lr(), headLayers);
                l.onPhase("all", "training " + (req.unfreezeFrom() == null ? "every layer"
                        : "from '" + req.unfreezeFrom() + "' up") + " (base lr " + req.baseLr() + ", head lr "
                        + cfg.lr() + ")");
                Phase p = phase("all", net, cfg, false, images, meta, l, onTrainer);
                phases.add(p);
                last = p.result();
            }
            case GRADUAL -> {
                TrainConfig c1 = copy(cfg, req.frozenEpochs(), cfg.lr(), cfg.checkpointDir().resolve("frozen"));
                ComputationGraph frozen = withUpdaters(GraphSurgery.freezeUpTo(g, cut), c1, perEpoch, c1.lr(),
                        c1.lr(), headLayers);
                l.onPhase("frozen", "phase 1/2: " + req.frozenEpochs() + " epoch(s) training the head only");
                Phase p1 = phase("frozen", frozen, c1, useCache, images, meta, l, onTrainer);
                phases.add(p1);
                last = p1.result();
                if (last.status() == Trainer.Status.COMPLETED || last.status() == Trainer.Status.EARLY_STOPPED) {
                    ComputationGraph trained = last.bundle().network();
                    ComputationGraph open = req.unfreezeFrom() == null ? GraphSurgery.unfreeze(trained)
                            : GraphSurgery.unfreezeFrom(trained, req.unfreezeFrom());
                    TrainConfig c2 = copy(cfg, cfg.epochs(), cfg.lr() / 2, cfg.checkpointDir());
                    open = withUpdaters(open, c2, perEpoch, req.baseLr(), c2.lr(), headLayers);
                    l.onPhase("unfrozen", "phase 2/2: " + cfg.epochs() + " epoch(s) training "
                            + (req.unfreezeFrom() == null ? "every layer" : "from '" + req.unfreezeFrom() + "' up")
                            + " (base lr " + req.baseLr() + ", head lr " + c2.lr() + ")");
                    Phase p2 = phase("unfrozen", open, c2, false, images, meta, l, onTrainer);
                    phases.add(p2);
                    last = p2.result();
                }
            }
            default -> throw new IllegalStateException();
        }
        for (Phase p : phases) {
            int offset = history.size();
            for (Trainer.EpochStats s : p.result().history()) {
                history.add(new Trainer.EpochStats(offset + s.epoch(), s.trainLoss(), s.valLoss(), s.top1(), s.top5(),
                        s.lr(), s.seconds(), s.imagesPerSecond(), s.best()));
            }
        }
        // The output: no frozen layers, so it is a plain trainable bundle and a valid next base.
        ModelBundle finalBundle = last.bundle();
        if (last.status() != Trainer.Status.DIVERGED || !last.history().isEmpty()) {
            ComputationGraph plain = GraphSurgery.unfreeze(finalBundle.network());
            Map<String, Object> p = new LinkedHashMap<>(finalBundle.metadata().provenance());
            p.put("phases", phases.stream().map(FinetuneJob::phaseMap).toList());
            p.put("history", history.stream().map(Trainer.EpochStats::toMap).toList());
            p.put("epochs", history.size());
            finalBundle = new ModelBundle(plain, finalBundle.metadata().withProvenance(p));
            try {
                finalBundle.save(cfg.output(), false);
            } catch (IOException e) {
                throw CnnException.data("cannot write " + cfg.output() + ": " + e.getMessage(), e);
            }
        }
        Path csv = TrainJob.writeHistory(cfg.output(), history);
        return new Outcome(last.status(), finalBundle, phases, history, src, pre, cut, cacheNote, csv,
                last.message());
    }

    private static Map<String, Object> phaseMap(Phase p) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", p.name());
        m.put("status", p.result().status().name().toLowerCase(Locale.ROOT));
        m.put("epochs", p.result().history().size());
        m.put("featureCache", p.featureCache());
        m.put("cacheSeconds", p.cacheSeconds());
        m.put("cacheBytes", p.cacheBytes());
        m.put("trainableParams", p.trainableParams());
        return m;
    }

    /** Trains one phase, on cached features of the frozen part when {@code useCache}. */
    private static Phase phase(String name, ComputationGraph net, TrainConfig cfg, boolean useCache, ImageData images,
                               BundleMetadata meta, Listener l, Consumer<Trainer> onTrainer) {
        Trainer trainer = new Trainer(cfg, l);
        if (onTrainer != null) {
            onTrainer.accept(trainer);
        }
        int trainable = trainableParams(net);
        if (!useCache) {
            return new Phase(name, trainer.fit(net, meta, images), false, 0, 0, trainable);
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
        trainer.exportWith(h -> fc.mergeInto(net));
        return new Phase(name, trainer.fit(fc.head(), meta, fd), true, secs, bytes, trainable);
    }

    /** Number of parameters that training changes (not frozen; batch-norm statistics included). */
    public static int trainableParams(ComputationGraph g) {
        long n = 0;
        for (Map.Entry<String, GraphVertex> e : g.getConfiguration().getVertices().entrySet()) {
            if (!GraphSurgery.isFrozen(e.getValue())) {
                n += e.getValue().numParams(true);
            }
        }
        return (int) n;
    }

    /**
     * A copy with fresh updaters for a new phase: the run's optimizer with a schedule over this phase's iterations,
     * {@code headLr} for the head layers and {@code baseLr} for the rest; iteration/epoch counts restart at 0.
     */
    static ComputationGraph withUpdaters(ComputationGraph g, TrainConfig cfg, int itersPerEpoch, double baseLr,
                                         double headLr, Set<String> headLayers) {
        ComputationGraphConfiguration c = g.getConfiguration().clone();
        IUpdater head = Optimizers.updater(cfg, Optimizers.schedule(copy(cfg, cfg.epochs(), headLr, null),
                itersPerEpoch));
        IUpdater rest = Optimizers.updater(cfg, Optimizers.schedule(copy(cfg, cfg.epochs(), baseLr, null),
                itersPerEpoch));
        Optimizers.apply(c, name -> headLayers.contains(name) ? head.clone() : rest.clone(),
                Optimizers.regularization(cfg));
        c.setIterationCount(0);
        c.setEpochCount(0);
        return GraphSurgery.rebuildSameLayout(g, c);
    }

    /** {@code c} with another epoch count and learning rate (and checkpoint folder, when not null). */
    private static TrainConfig copy(TrainConfig c, int epochs, double lr, Path checkpointDir) {
        return c.toBuilder().epochs(epochs).lr(lr)
                .checkpointDir(checkpointDir != null ? checkpointDir : c.checkpointDir()).build();
    }

    private static String defaultCut(ComputationGraph g) {
        try {
            return GraphSurgery.defaultCut(g);
        } catch (IllegalArgumentException e) {
            throw CnnException.usage("cannot find the base's classifier (" + e.getMessage() + "); pass --cut LAYER");
        }
    }

    private static void requireLayer(ComputationGraph g, String name, String option) {
        if (!g.getConfiguration().getVertices().containsKey(name)) {
            List<String> names = GraphSurgery.layerNames(g);
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

        @Override
        public long trainImages() {
            return featureShape[0];
        }
    }

    /** Layer names of a base, in order, with frozen flags, for {@code --list-layers}. */
    public static List<LayerInfo> layers(Base base) {
        return GraphSurgery.layers(base.network());
    }
}
