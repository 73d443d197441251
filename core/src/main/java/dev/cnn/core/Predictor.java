package dev.cnn.core;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Batched inference with a bundle: images are decoded with the bundle's own preprocessing and classified in batches;
 * an image that cannot be read yields an error record instead of stopping the run.
 */
public final class Predictor {
    static {
        dev.cnn.accel.Engine.init(); // DL4J's helpers on and the native build chosen, before ND4J loads
    }


    /** Decodes one image into a [1, C, H, W] tensor, or throws with a one-line message naming the file. */
    @FunctionalInterface
    public interface ImageLoader {
        INDArray load(Path file) throws Exception;
    }

    /** One label and its probability. */
    public record Scored(String label, double probability) implements java.io.Serializable {
        /** {@code label} then {@code probability}: the documented order, the same in every run. */
        public Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("label", label);
            m.put("probability", probability);
            return m;
        }
    }

    /** Result for one input: top-k predictions and the full distribution, or an error. */
    public record Prediction(String path, List<Scored> top, float[] probabilities, String error)
            implements java.io.Serializable {
        public boolean ok() {
            return error == null;
        }

        public Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("path", path);
            if (error != null) {
                m.put("error", error);
            } else {
                m.put("predictions", top.stream().map(Scored::toMap).toList());
            }
            return m;
        }
    }

    private final ComputationGraph bundleNet;
    private final List<String> labels;
    private final ImageLoader loader;
    private int workers = dev.cnn.data.ImageBatchIterator.defaultWorkers();

    public Predictor(ModelBundle bundle, ImageLoader loader) {
        this.bundleNet = bundle.network();
        this.labels = bundle.metadata().labels();
        this.loader = loader;
    }

    /**
     * Decodes up to {@code n} images at once, ahead of the forward passes (default {@link dev.cnn.data.ImageBatchIterator#defaultWorkers()}; 1
     * decodes on the calling thread between batches). Results still come in input order.
     */
    public Predictor workers(int n) {
        if (n < 1) {
            throw new IllegalArgumentException("workers must be >= 1, got " + n);
        }
        this.workers = n;
        return this;
    }

    /** Classifies {@code files} in batches, calling {@code sink} for each result in input order. */
    public void classify(List<Path> files, int topK, int batchSize, Consumer<Prediction> sink) {
        classify(files, topK, batchSize, sink, () -> false);
    }

    /**
     * As {@link #classify(List, int, int, Consumer)}, stopping once {@code stop} is true: the images read so far are
     * classified and handed to {@code sink}, the rest are not.
     *
     * @return the number of files handled (results and errors)
     */
    public int classify(List<Path> files, int topK, int batchSize, Consumer<Prediction> sink,
                        java.util.function.BooleanSupplier stop) {
        java.util.concurrent.BlockingQueue<Path> queue = new java.util.concurrent.LinkedBlockingQueue<>(files);
        queue.add(END);
        return classify(queue, files.size(), topK, batchSize, sink, stop);
    }

    /**
     * Put on a queue for {@link #classify(java.util.concurrent.BlockingQueue, long, int, int, Consumer,
     * java.util.function.BooleanSupplier)}: no more paths will come (compared by identity, so no real path is it).
     */
    public static final Path END = Path.of(".cnn-end-of-paths");

    /**
     * Classifies paths as they arrive on {@code queue} (paths read from a pipe, say) until {@link #END}: a batch is
     * classified when it is full or when no further path is ready, so every answer comes as soon as its image can be
     * read, and {@code sink} sees them in arrival order.
     *
     * @param expected how many images are expected (decides whether an inference copy pays off), or -1 if unknown
     *                 (then it is made: streams are usually long)
     * @return the number of paths handled (results and errors)
     */
    public int classify(java.util.concurrent.BlockingQueue<Path> queue, long expected, int topK, int batchSize,
                        Consumer<Prediction> sink, java.util.function.BooleanSupplier stop) {
        int k = Math.max(1, Math.min(topK, labels.size()));
        ComputationGraph net = dev.cnn.accel.Accel.forInference(bundleNet,
                expected < 0 ? dev.cnn.accel.Accel.WORTH_AN_INFERENCE_COPY : expected);
        int[] handled = {0};
        Consumer<Prediction> counted = p -> {
            handled[0]++;
            sink.accept(p);
        };
        List<Path> batchPaths = new ArrayList<>();
        List<INDArray> batchX = new ArrayList<>();
        List<Prediction> pending = new ArrayList<>();
        Stacked stacked = new Stacked();
        // images decode on the workers, up to a window ahead of the one being batched; results in arrival order
        java.util.concurrent.ExecutorService pool = workers > 1 && expected != 1
                ? java.util.concurrent.Executors.newFixedThreadPool(workers, r -> {
                    Thread t = new Thread(r, "cnn-decode");
                    t.setDaemon(true);
                    return t;
                }) : null;
        int window = pool == null ? 1 : Math.max(2 * workers, batchSize);
        java.util.ArrayDeque<Decoding> ahead = new java.util.ArrayDeque<>();
        boolean ended = false;
        try {
            while (!stop.getAsBoolean()) {
                while (!ended && ahead.size() < window) { // take what is ready (wait only when idle)
                    Path f = ahead.isEmpty() && pending.isEmpty()
                            ? queue.poll(100, java.util.concurrent.TimeUnit.MILLISECONDS) : queue.poll();
                    if (f == null) {
                        break;
                    }
                    if (f == END) {
                        ended = true;
                        break;
                    }
                    ahead.add(decode(f, pool));
                }
                if (ahead.isEmpty()) {
                    if (ended) {
                        break;
                    }
                    flush(net, stacked, batchPaths, batchX, pending, k, counted); // nothing more ready: answer what is read
                    continue;
                }
                Decoding d = ahead.poll();
                try {
                    INDArray x = d.image().get();
                    batchPaths.add(d.file());
                    batchX.add(x);
                    pending.add(null);
                } catch (java.util.concurrent.ExecutionException e) {
                    Throwable cause = e.getCause() == null ? e : e.getCause();
                    if (cause instanceof Error err) {
                        throw err;
                    }
                    pending.add(new Prediction(d.file().toString(), List.of(), null, ModelBundle.oneLine(cause)));
                }
                if (batchX.size() >= batchSize) {
                    flush(net, stacked, batchPaths, batchX, pending, k, counted);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            if (pool != null) {
                pool.shutdownNow();
            }
        }
        flush(net, stacked, batchPaths, batchX, pending, k, counted);
        return handled[0];
    }

    /** An image being decoded. */
    private record Decoding(Path file, java.util.concurrent.Future<INDArray> image) {
    }

    private Decoding decode(Path f, java.util.concurrent.ExecutorService pool) {
        java.util.concurrent.Callable<INDArray> task = () -> loader.load(f);
        if (pool != null) {
            return new Decoding(f, pool.submit(task));
        }
        java.util.concurrent.FutureTask<INDArray> now = new java.util.concurrent.FutureTask<>(task);
        now.run();
        return new Decoding(f, now);
    }

    /**
     * The batch array of one {@code classify} call, written over by each batch of its size: a new one per batch is
     * fresh memory for the kernel to zero on first touch (38 MB for 64 images at 224 px), as in
     * {@link dev.cnn.data.ImageBatchIterator#recycle}.
     */
    private static final class Stacked {
        private INDArray buf;

        INDArray of(List<INDArray> xs) {
            INDArray first = xs.get(0);
            long per = first.length();
            boolean plain = xs.stream().allMatch(x -> x.dataType() == org.nd4j.linalg.api.buffer.DataType.FLOAT
                    && x.length() == per && x.size(0) == 1 && x.offset() == 0 && x.ordering() == 'c'
                    && org.nd4j.linalg.api.shape.Shape.hasDefaultStridesForShape(x)
                    && java.util.Arrays.equals(x.shape(), first.shape()));
            if (!plain || xs.size() == 1) {
                return xs.size() == 1 ? first : Nd4j.concat(0, xs.toArray(new INDArray[0]));
            }
            long[] shape = first.shape().clone();
            shape[0] = xs.size();
            if (buf == null || !java.util.Arrays.equals(buf.shape(), shape)) {
                buf = Nd4j.createUninitialized(org.nd4j.linalg.api.buffer.DataType.FLOAT, shape, 'c');
            }
            java.nio.FloatBuffer out = buf.data().asNioFloat();
            for (int i = 0; i < xs.size(); i++) {
                out.put((int) (i * per), xs.get(i).data().asNioFloat(), 0, (int) per);
            }
            return buf;
        }
    }

    private void flush(ComputationGraph net, Stacked stacked, List<Path> paths, List<INDArray> xs,
                       List<Prediction> pending, int k, Consumer<Prediction> sink) {
        float[][] probs = xs.isEmpty() ? new float[0][]
                : net.outputSingle(false, stacked.of(xs)).toFloatMatrix();
        int j = 0;
        for (Prediction p : pending) {
            if (p != null) {
                sink.accept(p);
            } else {
                sink.accept(predictionOf(paths.get(j).toString(), probs[j], k));
                j++;
            }
        }
        paths.clear();
        xs.clear();
        pending.clear();
    }

    Prediction predictionOf(String path, float[] p, int k) {
        return prediction(labels, path, p, k);
    }

    /** The result for {@code path}: its {@code k} most probable labels (ties in label order) and {@code p}. */
    static Prediction prediction(List<String> labels, String path, float[] p, int k) {
        Integer[] idx = new Integer[p.length];
        for (int i = 0; i < p.length; i++) {
            idx[i] = i;
        }
        java.util.Arrays.sort(idx, (a, b) -> Float.compare(p[b], p[a]));
        List<Scored> top = new ArrayList<>();
        for (int i = 0; i < k; i++) {
            top.add(new Scored(labels.get(idx[i]), p[idx[i]]));
        }
        return new Prediction(path, top, p, null);
    }
}
