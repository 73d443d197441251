package dev.cnn.core.bench;

import dev.cnn.core.LrSchedule;
import dev.cnn.core.Networks;
import dev.cnn.core.TrainConfig;
import dev.cnn.accel.Accel;
import dev.cnn.accel.AccelOptions;
import dev.cnn.accel.Engine;
import dev.cnn.zoo.Architecture;
import dev.cnn.zoo.ModelRegistry;
import dev.cnn.zoo.ModelSpec;
import dev.cnn.zoo.ModelSummary;
import org.bytedeco.javacpp.Pointer;
import org.deeplearning4j.nn.conf.CacheMode;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Training and inference speed of a zoo network on random data of a fixed shape: warm-up, then several timed runs of
 * at least {@code secondsPerRun} each; the median images/s is the result. Training is one Adam step per batch
 * ({@code fit}, loss and backward included), inference one {@code output(train=false)} call. Peak heap, JavaCPP
 * off-heap and process RSS are sampled every 10 ms while the case runs.
 */
public final class ModelBench {

    /** Training or inference. */
    public enum Mode { TRAIN, INFER }

    /** One thing to measure. */
    public record Case(String model, int channels, int height, int width, int batch, Mode mode, int classes) {
        public String input() {
            return channels + "x" + height + "x" + width;
        }
    }

    /** Engine settings, the levers compared by {@code cnn bench models --levers}. */
    public record Settings(boolean helpers, boolean workspaces, CacheMode cacheMode, boolean nhwc,
                           boolean dnnl, boolean fold, boolean fastAdam) {
        public static Settings defaults() {
            return new Settings(true, true, CacheMode.DEVICE, false, true, true, true);
        }

        /**
         * The defaults and one lever changed at a time: helpers off, workspaces off, DL4J's forward cache off (cache
         * mode NONE: convolutions computed again in the backward pass), NHWC, DL4J's own
         * oneDNN helpers instead of this project's (see {@link AccelOptions}), batch-norm folding for inference off,
         * ND4J's Adam op instead of the Java step. Folding only changes inference, the cache and the Adam
         * step only training.
         */
        public static List<Settings> levers() {
            return List.of(defaults(), new Settings(false, true, CacheMode.DEVICE, false, false, true, true),
                    new Settings(true, false, CacheMode.DEVICE, false, true, true, true),
                    new Settings(true, true, CacheMode.NONE, false, true, true, true),
                    new Settings(true, true, CacheMode.DEVICE, true, true, true, true),
                    new Settings(true, true, CacheMode.DEVICE, false, false, true, true),
                    new Settings(true, true, CacheMode.DEVICE, false, true, false, true),
                    new Settings(true, true, CacheMode.DEVICE, false, true, true, false));
        }

        /** Whether this setting is a lever for {@code mode} (folding only changes inference; cache, Adam training). */
        public static boolean applies(Settings s, Mode mode) {
            return mode == Mode.INFER ? s.cacheMode() == CacheMode.DEVICE && s.fastAdam() : s.fold();
        }

        /** The engine options of these settings (DL4J's helpers off takes this project's off too). */
        public AccelOptions accel() {
            return new AccelOptions(helpers, helpers && dnnl, fastAdam, fold);
        }

        public String label() {
            return (helpers ? (dnnl ? "onednn" : "dl4j-onednn") : "no-helpers") + (workspaces ? "" : ",no-workspaces")
                    + (cacheMode == CacheMode.DEVICE ? "" : ",cache-" + cacheMode.name().toLowerCase(Locale.ROOT))
                    + (nhwc ? ",nhwc" : "") + (fold ? "" : ",no-bn-fold") + (fastAdam ? "" : ",nd4j-adam");
        }
    }

    /** How long to measure. */
    public record Timing(int warmupIterations, double warmupSeconds, int runs, double secondsPerRun) {
    }

    /** What was measured. */
    public record Result(Case c, Settings settings, long params, long macs, double imagesPerSec, double minImagesPerSec,
                         double maxImagesPerSec, double msPerBatch, List<Double> runs, double peakHeapMb,
                         double peakOffHeapMb, double peakRssMb, int threads, boolean oneDnn) {
        public Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("model", c.model());
            m.put("input", c.input());
            m.put("batch", c.batch());
            m.put("mode", c.mode().name().toLowerCase(Locale.ROOT));
            m.put("classes", c.classes());
            m.put("settings", settings.label());
            m.put("params", params);
            m.put("macsPerImage", macs); // one forward pass; training does about 3x (forward, two backward products)
            m.put("gflopsAchieved", round(2.0 * macs * (c.mode() == Mode.TRAIN ? 3 : 1) * imagesPerSec / 1e9));
            m.put("imagesPerSec", round(imagesPerSec));
            m.put("minImagesPerSec", round(minImagesPerSec));
            m.put("maxImagesPerSec", round(maxImagesPerSec));
            m.put("msPerBatch", round(msPerBatch));
            m.put("runs", runs.stream().map(ModelBench::round).toList());
            m.put("peakHeapMb", round(peakHeapMb));
            m.put("peakOffHeapMb", round(peakOffHeapMb));
            m.put("peakRssMb", round(peakRssMb));
            m.put("threads", threads);
            m.put("oneDnn", oneDnn);
            return m;
        }
    }

    private ModelBench() {
    }

    /** Parses {@code MODEL@CxHxW} or {@code MODEL@S} (3 channels). */
    public static Case parseCase(String spec, int batch, Mode mode, int classes) {
        String[] p = spec.split("@");
        if (p.length != 2) {
            throw new IllegalArgumentException("bench case '" + spec + "': use MODEL@CxHxW, e.g. resnet18@3x64x64");
        }
        String[] d = p[1].toLowerCase(Locale.ROOT).split("x");
        try {
            if (d.length == 1) {
                int s = Integer.parseInt(d[0]);
                return new Case(p[0], 3, s, s, batch, mode, classes);
            }
            if (d.length == 3) {
                return new Case(p[0], Integer.parseInt(d[0]), Integer.parseInt(d[1]), Integer.parseInt(d[2]), batch,
                        mode, classes);
            }
        } catch (NumberFormatException e) {
            // fall through
        }
        throw new IllegalArgumentException("bench case '" + spec + "': input must be CxHxW or a size, e.g. 1x28x28");
    }

    public static Result run(Case c, Settings s, Timing t) {
        Architecture arch = ModelRegistry.get(c.model());
        ModelSpec spec = ModelSpec.builder().numClasses(c.classes()).input(c.channels(), c.height(), c.width())
                .seed(1).nhwc(s.nhwc()).build();
        AccelOptions accel = s.accel();
        ComputationGraph[] nets = Accel.build(accel, () -> {
            TrainConfig cfg = TrainConfig.builder().epochs(1).batchSize(c.batch()).lr(1e-3)
                    .schedule(LrSchedule.Kind.CONSTANT).output(Path.of("bench.zip")).build();
            ComputationGraph n = Networks.forTraining(arch, spec, cfg, 1);
            if (!s.workspaces()) {
                n.getConfiguration().setTrainingWorkspaceMode(WorkspaceMode.NONE);
                n.getConfiguration().setInferenceWorkspaceMode(WorkspaceMode.NONE);
            }
            if (c.mode() == Mode.TRAIN) {
                // as Trainer does; never closed: the network is dropped
                Accel.beginTraining(n, accel).keepForwardOutputs(s.cacheMode() != CacheMode.NONE); // the lever
                return new ComputationGraph[]{n, n};
            }
            // No training steps before inference here (the PyTorch script takes 3, because freshly initialised
            // PyTorch networks ran ~4x slower on this build): DL4J's inference speed measured the same either way
            // (resnet50: 16.7 vs 17.1 img/s), and training would leave its workspaces (5.6 GB for resnet50@224
            // batch 8) in the process's resident memory, which classify and evaluate never have.
            return new ComputationGraph[]{n, Accel.inferenceCopy(n, accel)};
        });
        ComputationGraph net = nets[0];
        ComputationGraph infer = nets[1];
        ModelSummary summary = ModelSummary.of(arch, spec);
        long params = summary.totalParams();
        long macs = summary.totalMacs();
        Nd4j.getRandom().setSeed(7);
        INDArray x = s.nhwc()
                ? Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, c.batch(), c.height(), c.width(), c.channels())
                : Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, c.batch(), c.channels(), c.height(), c.width());
        INDArray y = Nd4j.zeros(c.batch(), c.classes());
        for (int i = 0; i < c.batch(); i++) {
            y.putScalar(i, i % c.classes(), 1.0);
        }
        DataSet ds = new DataSet(x, y);
        Runnable step = c.mode() == Mode.TRAIN ? () -> net.fit(ds) : () -> infer.outputSingle(false, x).close();

        System.gc();
        Sampler sampler = new Sampler();
        sampler.start();
        List<Double> rates = new ArrayList<>();
        List<Double> msPerBatch = new ArrayList<>();
        try {
            long w0 = System.nanoTime();
            for (int i = 0; i < t.warmupIterations() || System.nanoTime() - w0 < t.warmupSeconds() * 1e9; i++) {
                step.run();
            }
            for (int r = 0; r < t.runs(); r++) {
                long t0 = System.nanoTime();
                int iters = 0;
                long elapsed;
                do {
                    step.run();
                    iters++;
                    elapsed = System.nanoTime() - t0;
                } while (elapsed < t.secondsPerRun() * 1e9 || iters < 2);
                double secs = elapsed / 1e9;
                rates.add(iters * (double) c.batch() / secs);
                msPerBatch.add(secs * 1000 / iters);
            }
        } finally {
            sampler.stop();
        }
        List<Double> sorted = new ArrayList<>(rates);
        sorted.sort(Double::compare);
        List<Double> ms = new ArrayList<>(msPerBatch);
        ms.sort(Double::compare);
        return new Result(c, s, params, macs, sorted.get(sorted.size() / 2), sorted.get(0), sorted.get(sorted.size() - 1),
                ms.get(ms.size() / 2), rates, sampler.heap.get() / 1e6, sampler.offHeap.get() / 1e6,
                sampler.rss.get() / 1e6, Engine.threads(), s.helpers() && Engine.oneDnnInUse());
    }

    static double round(double v) {
        return Math.round(v * 100) / 100.0;
    }

    /** Samples peak heap, JavaCPP-tracked off-heap and RSS every 10 ms. */
    private static final class Sampler implements Runnable {
        final AtomicLong heap = new AtomicLong();
        final AtomicLong offHeap = new AtomicLong();
        final AtomicLong rss = new AtomicLong();
        private volatile boolean running = true;
        private Thread thread;

        void start() {
            sample();
            thread = new Thread(this, "bench-memory-sampler");
            thread.setDaemon(true);
            thread.start();
        }

        void stop() {
            running = false;
            try {
                thread.join(1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            sample();
        }

        @Override
        public void run() {
            while (running) {
                sample();
                try {
                    Thread.sleep(10);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }

        private void sample() {
            Runtime r = Runtime.getRuntime();
            heap.accumulateAndGet(r.totalMemory() - r.freeMemory(), Math::max);
            offHeap.accumulateAndGet(Pointer.totalBytes(), Math::max);
            rss.accumulateAndGet(Pointer.physicalBytes(), Math::max);
        }
    }

    /** A fixed-width table of results; {@code peer} rates by key (model, input, mode) add a ratio column. */
    public static String table(List<Result> rows) {
        StringBuilder b = new StringBuilder(String.format("%-12s %-11s %5s %-5s %-26s %12s %10s %10s %9s %9s%n",
                "model", "input", "batch", "mode", "settings", "params", "img/s", "ms/batch", "heap MB", "RSS MB"));
        for (Result r : rows) {
            b.append(String.format(Locale.ROOT, "%-12s %-11s %5d %-5s %-26s %,12d %10.1f %10.1f %9.0f %9.0f%n",
                    r.c().model(), r.c().input(), r.c().batch(), r.c().mode().name().toLowerCase(Locale.ROOT),
                    r.settings().label(), r.params(), r.imagesPerSec(), r.msPerBatch(), r.peakHeapMb(),
                    r.peakRssMb()));
        }
        return b.toString();
    }
}
