package dev.cnn.data;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.DataSetPreProcessor;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Random;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Batches of one epoch over an {@link ImageDataset}: features [N, C, H, W] (float32, preprocessed), labels one-hot
 * [N, K]. Order and augmentation are functions of (seed, epoch) only, so the same epoch gives the same batches on every
 * run. Decoding and augmentation run ahead of the consumer on background threads (a bounded prefetch queue). Files that
 * fail to decode are skipped and counted in the {@link SkipReport} (strict mode: the consumer gets a
 * {@link DataException}). With a {@link Cache}, decoded and resized images are kept in memory across epochs.
 */
public final class ImageBatchIterator implements DataSetIterator {

    /** Decoded, resized (pre-augmentation) images by sample index, shared across epochs. */
    public static final class Cache {
        private final Map<Integer, BufferedImage> images = new ConcurrentHashMap<>();

        public int size() {
            return images.size();
        }
    }

    private static final Object END = new Object();

    private final ImageDataset data;
    private final Preprocess pre;
    private final int batchSize;
    private final Augmentation aug;
    private final long seed;
    private final int epoch;
    private final Cache cache;
    private final SkipReport report;
    private final int prefetch;
    private final int workers;
    private final long maxPixels;
    private final DecodeBudget budget;
    private final int[] order;
    private DataSetPreProcessor preProcessor;

    private BlockingQueue<Object> queue;
    private Thread producer;
    private ExecutorService pool;
    private Object head;
    private volatile boolean cancelled;
    /**
     * The latest full batches handed out and not yet given back with {@link #recycle} (at most {@link #MAX_LENT}),
     * held weakly: a consumer that never recycles keeps nothing alive through them.
     */
    private final java.util.ArrayDeque<Lent> lent = new java.util.ArrayDeque<>();
    private static final int MAX_LENT = 16;

    /** A batch handed out and the array it was made in. */
    private record Lent(java.lang.ref.WeakReference<DataSet> batch, java.lang.ref.WeakReference<INDArray> array) {
    }
    /** Full-batch feature arrays given back, for later batches to be written into. */
    private final java.util.Deque<INDArray> spare = new java.util.concurrent.ConcurrentLinkedDeque<>();
    private static final int MAX_SPARE = 2;

    private ImageBatchIterator(Builder b) {
        this.data = b.data;
        this.pre = b.preprocess;
        this.batchSize = b.batchSize;
        this.aug = b.augmentation;
        this.seed = b.seed;
        this.epoch = b.epoch;
        this.cache = b.cache;
        this.report = b.report;
        this.prefetch = b.prefetch;
        this.workers = b.workers;
        this.maxPixels = b.maxPixels;
        this.budget = b.budget;
        List<Integer> idx = new ArrayList<>();
        for (int i = 0; i < data.size(); i++) {
            idx.add(i);
        }
        if (b.shuffle) {
            Collections.shuffle(idx, new Random(mix(seed, epoch, -1)));
        }
        this.order = idx.stream().mapToInt(Integer::intValue).toArray();
    }

    public static Builder builder(ImageDataset data, Preprocess preprocess) {
        return new Builder(data, preprocess);
    }

    /** Batches per epoch (before any decode-time skips). */
    public int batchesPerEpoch() {
        return (order.length + batchSize - 1) / batchSize;
    }

    public SkipReport report() {
        return report;
    }

    /** Decoding threads by default: one per core, at most 8. */
    public static int defaultWorkers() {
        return Math.max(1, Math.min(8, Runtime.getRuntime().availableProcessors()));
    }

    /** A well-mixed 64-bit value of (seed, epoch, i): the seed of an example's augmentation, an epoch's order. */
    public static long mix(long seed, int epoch, int i) {
        long h = seed * 0x9E3779B97F4A7C15L ^ (epoch + 1) * 0xBF58476D1CE4E5B9L ^ (i + 7L) * 0x94D049BB133111EBL;
        h ^= h >>> 31;
        return h * 0xD6E8FEB86659FD93L;
    }

    private synchronized void start() {
        if (queue != null) {
            return;
        }
        cancelled = false;
        queue = new ArrayBlockingQueue<>(Math.max(1, prefetch));
        pool = workers > 1 ? Executors.newFixedThreadPool(workers, r -> daemon(r, "cnn-decode")) : null;
        producer = daemon(this::produce, "cnn-prefetch");
        producer.start();
    }

    private static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    private void produce() {
        try {
            for (int start = 0; start < order.length && !cancelled; start += batchSize) {
                int end = Math.min(order.length, start + batchSize);
                DataSet ds = makeBatch(start, end);
                if (ds != null) {
                    queue.put(ds);
                }
            }
            queue.put(END);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Throwable t) {
            try {
                queue.put(t);
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private DataSet makeBatch(int start, int end) throws Exception {
        int n = end - start;
        int per = pre.channels() * pre.height() * pre.width();
        // each image is written straight into the batch's native memory (Nd4j.create from a float[] copies element by
        // element: 0.7 ms an image at 224x224)
        INDArray reused = n == batchSize ? spare.poll() : null;
        INDArray batch = reused != null ? reused : Nd4j.createUninitialized(org.nd4j.linalg.api.buffer.DataType.FLOAT,
                new long[]{n, pre.channels(), pre.height(), pre.width()}, 'c');
        boolean[] decoded = new boolean[n];
        List<Future<Boolean>> futures = new ArrayList<>();
        for (int j = 0; j < n; j++) {
            final int pos = start + j;
            final int offset = j * per;
            if (pool != null) {
                futures.add(pool.submit(() -> sampleInto(pos, batch.data().asNioFloat(), offset, per)));
            } else {
                decoded[j] = sampleInto(pos, batch.data().asNioFloat(), offset, per);
            }
        }
        for (int j = 0; j < futures.size(); j++) {
            decoded[j] = futures.get(j).get();
        }
        int ok = 0;
        float[] y = new float[n * data.numClasses()];
        List<String> paths = new ArrayList<>(n);
        java.nio.FloatBuffer all = batch.data().asNioFloat();
        for (int j = 0; j < n; j++) {
            if (!decoded[j]) {
                continue; // skipped: later images move up
            }
            if (ok != j) {
                all.put(ok * per, all, j * per, per);
            }
            Path p = data.samples().get(order[start + j]).path();
            paths.add(p == null ? "#" + order[start + j] : p.toString());
            y[ok * data.numClasses() + data.samples().get(order[start + j]).label()] = 1f;
            ok++;
        }
        if (ok == 0) {
            giveBack(batch);
            return null;
        }
        INDArray features = batch;
        if (ok < n) {
            features = Nd4j.createUninitialized(org.nd4j.linalg.api.buffer.DataType.FLOAT,
                    new long[]{ok, pre.channels(), pre.height(), pre.width()}, 'c');
            features.data().asNioFloat().put(0, all, 0, ok * per);
            y = java.util.Arrays.copyOf(y, ok * data.numClasses());
            giveBack(batch);
        }
        INDArray labels = Nd4j.create(y, new long[]{ok, data.numClasses()});
        DataSet ds = new DataSet(features, labels);
        ds.setExampleMetaData(paths); // where each example came from (reports, misclassified images)
        if (features == batch && n == batchSize) {
            synchronized (lent) {
                if (lent.size() >= MAX_LENT) {
                    lent.pollFirst();
                }
                lent.addLast(new Lent(new java.lang.ref.WeakReference<>(ds),
                        new java.lang.ref.WeakReference<>(batch)));
            }
        }
        return ds;
    }

    /**
     * Tells this iterator that the caller is done with {@code ds}, a batch it returned: its features array may be
     * written over by a later batch. Optional; without it each batch gets a new array. A new array of tens of MB is
     * fresh memory for the kernel to zero and map on first touch (with the launcher's 1 MB mmap threshold), 16% of
     * the CPU time of the 224-px JPEG pipeline (perf); a given-back one is already mapped. Batches this iterator did
     * not make (compared by identity: pass the object {@link #next()} returned), or has been given already, are
     * ignored, as are batches whose features were replaced. The caller must not read {@code ds}'s features afterwards.
     */
    public void recycle(DataSet ds) {
        if (ds == null) {
            return;
        }
        INDArray array = null;
        synchronized (lent) {
            for (java.util.Iterator<Lent> i = lent.iterator(); i.hasNext(); ) {
                Lent l = i.next();
                DataSet d = l.batch().get();
                if (d == null) {
                    i.remove();
                } else if (d == ds) {
                    i.remove();
                    array = l.array().get();
                    break;
                }
            }
        }
        if (array != null && ds.getFeatures() == array) {
            giveBack(array);
        }
    }

    /** {@link #recycle} when {@code it} is an {@code ImageBatchIterator}; otherwise nothing. */
    public static void recycle(DataSetIterator it, DataSet ds) {
        if (it instanceof ImageBatchIterator ib) {
            ib.recycle(ds);
        }
    }

    private void giveBack(INDArray batch) {
        if (batch.size(0) == batchSize && spare.size() < MAX_SPARE) {
            spare.push(batch);
        }
    }

    /** A decoding thread's image before it is copied into its batch. */
    private static final ThreadLocal<float[]> SCRATCH = new ThreadLocal<>();

    /** Decodes (or takes from the cache), augments and writes sample {@code pos} at {@code offset}; false if skipped. */
    private boolean sampleInto(int pos, java.nio.FloatBuffer out, int offset, int per) {
        int idx = order[pos];
        BufferedImage img = cache == null ? null : cache.images.get(idx);
        if (img == null) {
            Sample s = data.samples().get(idx);
            try {
                img = s.decodeResized(maxPixels, pre, budget);
            } catch (BadImageException e) {
                report.skip(e);
                return false;
            }
            if (cache != null) {
                cache.images.put(idx, img);
            }
        }
        if (!aug.isNone()) {
            img = aug.apply(img, new Random(mix(seed, epoch, idx)));
        }
        float[] scratch = SCRATCH.get();
        if (scratch == null || scratch.length < per) {
            scratch = new float[per];
            SCRATCH.set(scratch);
        }
        ImageDecoder.toTensor(img, pre, scratch, 0);
        out.put(offset, scratch, 0, per);
        return true;
    }

    private Object peek() {
        start();
        if (head == null) {
            try {
                head = queue.take();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for data", e);
            }
        }
        Throwable t = head instanceof ExecutionException e && e.getCause() != null ? e.getCause()
                : head instanceof Throwable h ? h : null;
        if (t != null) {
            head = END;
        }
        if (t instanceof DataException d) {
            throw d;
        }
        if (t instanceof DecodeOutOfMemoryError o) { // names the image: the heap ran out, the image is not bad
            throw o;
        }
        if (t instanceof OutOfMemoryError o) {
            OutOfMemoryError named = new OutOfMemoryError("out of memory preparing a batch of " + batchSize
                    + " images on " + workers + " worker" + (workers == 1 ? "" : "s")
                    + "; lower --workers or --batch-size, or raise CNN_HEAP (-Xmx)");
            named.initCause(o);
            throw named;
        }
        if (t instanceof Error e) {
            throw e;
        }
        if (t != null) {
            throw new DataException("image pipeline failed: " + t, t);
        }
        return head;
    }

    @Override
    public boolean hasNext() {
        return peek() != END;
    }

    @Override
    public DataSet next() {
        Object o = peek();
        if (o == END) {
            throw new NoSuchElementException();
        }
        head = null;
        DataSet ds = (DataSet) o;
        if (preProcessor != null) {
            preProcessor.preProcess(ds);
        }
        return ds;
    }

    @Override
    public DataSet next(int num) {
        return next();
    }

    @Override
    public int inputColumns() {
        return pre.channels() * pre.height() * pre.width();
    }

    @Override
    public int totalOutcomes() {
        return data.numClasses();
    }

    @Override
    public boolean resetSupported() {
        return true;
    }

    @Override
    public boolean asyncSupported() {
        return false;
    }

    /** Restarts the same epoch from its first batch. */
    @Override
    public synchronized void reset() {
        shutdown();
        head = null;
        queue = null;
    }

    /** Stops the background threads. */
    public synchronized void shutdown() {
        cancelled = true;
        if (producer != null) {
            producer.interrupt();
            try {
                producer.join(2000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            producer = null;
        }
        if (pool != null) {
            pool.shutdownNow();
            try {
                pool.awaitTermination(2, TimeUnit.SECONDS); // their images (and decode budget) given back
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            pool = null;
        }
    }

    @Override
    public int batch() {
        return batchSize;
    }

    @Override
    public void setPreProcessor(DataSetPreProcessor preProcessor) {
        this.preProcessor = preProcessor;
    }

    @Override
    public DataSetPreProcessor getPreProcessor() {
        return preProcessor;
    }

    @Override
    public List<String> getLabels() {
        return data.classes();
    }

    /** Builder; {@link #build()} validates. */
    public static final class Builder {
        private final ImageDataset data;
        private final Preprocess preprocess;
        private int batchSize = 32;
        private Augmentation augmentation = Augmentation.NONE;
        private boolean shuffle;
        private long seed = 42;
        private int epoch;
        private Cache cache;
        private SkipReport report;
        private int prefetch = 4;
        private int workers = 1;
        private long maxPixels = ImageDecoder.DEFAULT_MAX_PIXELS;
        private DecodeBudget budget = DecodeBudget.shared();

        private Builder(ImageDataset data, Preprocess preprocess) {
            this.data = data;
            this.preprocess = preprocess;
        }

        public Builder batchSize(int v) { batchSize = v; return this; }
        public Builder augmentation(Augmentation v) { augmentation = v; return this; }
        public Builder shuffle(boolean v) { shuffle = v; return this; }
        public Builder seed(long v) { seed = v; return this; }
        public Builder epoch(int v) { epoch = v; return this; }
        public Builder cache(Cache v) { cache = v; return this; }
        public Builder report(SkipReport v) { report = v; return this; }
        /** Batches decoded ahead of the consumer (default 4). */
        public Builder prefetch(int v) { prefetch = v; return this; }
        /** Decoding threads (default 1; the producer itself when 1). */
        public Builder workers(int v) { workers = v; return this; }
        public Builder maxPixels(long v) { maxPixels = v; return this; }
        /** Heap the decoding workers may hold at once (default: {@link DecodeBudget#shared()}, shared by all). */
        public Builder decodeBudget(DecodeBudget v) { budget = v; return this; }

        public ImageBatchIterator build() {
            if (data == null || preprocess == null || budget == null) {
                throw new IllegalStateException(
                        "ImageBatchIterator: dataset, preprocess and decode budget are required");
            }
            if (batchSize < 1 || prefetch < 1 || workers < 1 || epoch < 0) {
                throw new IllegalArgumentException("batch size, prefetch and workers must be >= 1, epoch >= 0");
            }
            if (report == null) {
                report = new SkipReport(false);
            }
            return new ImageBatchIterator(this);
        }
    }
}
