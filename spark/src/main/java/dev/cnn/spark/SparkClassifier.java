package dev.cnn.spark;

import dev.cnn.core.Classifier;
import dev.cnn.core.CnnException;
import dev.cnn.core.Json;
import dev.cnn.core.ModelBundle;
import dev.cnn.core.Predictor;
import dev.cnn.data.ImageDecoder;
import dev.cnn.data.ImageInputs;
import dev.cnn.data.Preprocess;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.broadcast.Broadcast;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * {@code cnn classify --spark MASTER}: classifies images inside Spark's partitions. The bundle is broadcast once and
 * loaded once per executor; each partition decodes its images as {@code cnn classify} does and classifies them in
 * batches; an image that cannot be read gives an error record, the same record as on one machine.
 */
public final class SparkClassifier {
    static {
        dev.cnn.accel.Engine.init();
    }

    /** Images per partition at most, unless the caller says how many partitions: a failed task redoes no more. */
    static final int PER_PARTITION = 10_000;

    /**
     * The bundles loaded on this executor, by broadcast id, the most recently loaded last; beyond {@value #KEPT} the
     * oldest is closed (jobs of one process run one after another; a few at once still find theirs).
     */
    private static final int KEPT = 4;
    private static final Map<Long, Classifier> LOADED = new java.util.LinkedHashMap<>() {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Long, Classifier> eldest) {
            if (size() > KEPT) {
                eldest.getValue().close();
                return true;
            }
            return false;
        }
    };

    private SparkClassifier() {
    }

    /**
     * The images that {@code inputs} name, in {@code cnn classify}'s order: local files and folders as it lists them,
     * and URIs of Hadoop's file systems (a file, or a folder searched recursively for image names).
     */
    public static List<String> locations(List<String> inputs) {
        List<String> out = new ArrayList<>();
        for (String in : inputs) {
            if (!SparkImages.isUri(in)) {
                try {
                    ImageInputs.collect(List.of(in)).forEach(p -> out.add(p.toString()));
                } catch (IOException e) {
                    throw CnnException.data(in + ": cannot list (" + ModelBundle.oneLine(e) + ")", e);
                }
                continue;
            }
            try {
                org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(URI.create(in));
                org.apache.hadoop.fs.FileSystem fs = p.getFileSystem(new org.apache.hadoop.conf.Configuration());
                if (fs.exists(p) && fs.getFileStatus(p).isDirectory()) {
                    List<String> found = new ArrayList<>();
                    var it = fs.listFiles(p, true);
                    while (it.hasNext()) {
                        org.apache.hadoop.fs.Path f = it.next().getPath();
                        if (!f.getName().startsWith(".") && ImageDecoder.isImageName(f.getName())) {
                            found.add(f.toString());
                        }
                    }
                    found.sort(null);
                    out.addAll(found);
                } else {
                    out.add(in);
                }
            } catch (IOException | IllegalArgumentException e) {
                throw CnnException.data(in + ": cannot list (" + ModelBundle.oneLine(e) + ")", e);
            }
        }
        return out;
    }

    /**
     * The predictions for {@code locations} (see {@link #locations}), in their order, {@code topK} labels each;
     * computed when the RDD is consumed ({@code toLocalIterator}, {@code saveAsTextFile} of {@link #jsonl}, ...).
     *
     * @param partitions how many partitions to classify in (0: twice Spark's default parallelism, and at least one
     *                   per {@value #PER_PARTITION} images)
     */
    public static JavaRDD<Predictor.Prediction> classify(JavaSparkContext sc, Path model, List<String> locations,
                                                         int topK, int batchSize, int partitions) {
        byte[] bundle;
        try {
            bundle = Files.readAllBytes(model);
        } catch (IOException e) {
            throw CnnException.model(model + ": cannot read the model (" + ModelBundle.oneLine(e) + ")");
        }
        ModelBundle.readMetadata(model); // a file that is no bundle fails here, on the driver, with exit 4
        Broadcast<byte[]> b = sc.broadcast(bundle);
        int n = partitions > 0 ? partitions
                : Math.max(2 * sc.defaultParallelism(), (locations.size() + PER_PARTITION - 1) / PER_PARTITION);
        return sc.parallelize(locations, Math.max(1, Math.min(n, locations.size())))
                .mapPartitions(new Classify(b, topK, batchSize));
    }

    /** What a run classified: images handled and those that could not be read. */
    public record Counts(long handled, long failed) {
    }

    /**
     * {@code cnn classify --spark}: classifies what {@code inputs} name on {@code master}; with {@code outputDir}
     * (a local path or a URI) the records are written there as JSON-lines part files, else each is handed to
     * {@code sink} on this machine, in input order. Starts the Spark context (or joins the running one) and stops it
     * at the end: with a context of your own, call {@link #classify} instead.
     */
    public static Counts run(String master, Path model, List<String> inputs, int topK, int batchSize, int partitions,
                             String outputDir, java.util.function.Consumer<Predictor.Prediction> sink) {
        List<String> locations = locations(inputs);
        if (locations.isEmpty()) {
            return new Counts(0, 0);
        }
        try (JavaSparkContext sc = Spark.context(master, "cnn classify")) {
            JavaRDD<Predictor.Prediction> p = classify(sc, model, locations, topK, batchSize, partitions);
            if (outputDir != null) {
                p = p.persist(org.apache.spark.storage.StorageLevel.MEMORY_AND_DISK());
                jsonl(p).saveAsTextFile(outputDir);
                return new Counts(locations.size(), p.filter(r -> !r.ok()).count());
            }
            long failed = 0;
            for (java.util.Iterator<Predictor.Prediction> it = p.toLocalIterator(); it.hasNext(); ) {
                Predictor.Prediction r = it.next();
                failed += r.ok() ? 0 : 1;
                sink.accept(r);
            }
            return new Counts(locations.size(), failed);
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) { // SparkException (checked, thrown undeclared): an output folder that exists, say
            throw CnnException.data(ModelBundle.oneLine(e), e);
        }
    }

    /** One JSON object per line, as {@code cnn classify --format jsonl} prints them. */
    public static JavaRDD<String> jsonl(JavaRDD<Predictor.Prediction> predictions) {
        return predictions.map(p -> Json.write(p.toMap()));
    }

    private static final class Classify implements FlatMapFunction<Iterator<String>, Predictor.Prediction> {
        private final Broadcast<byte[]> bundle;
        private final int topK;
        private final int batchSize;

        Classify(Broadcast<byte[]> bundle, int topK, int batchSize) {
            this.bundle = bundle;
            this.topK = topK;
            this.batchSize = batchSize;
        }

        /** The partition's predictions, a batch at a time as they are consumed (a partition may be large). */
        @Override
        public Iterator<Predictor.Prediction> call(Iterator<String> locations) {
            Classifier c = loaded(bundle);
            Preprocess pre = c.preprocess();
            return new Iterator<>() {
                private final java.util.ArrayDeque<Predictor.Prediction> ready = new java.util.ArrayDeque<>();

                @Override
                public boolean hasNext() {
                    if (ready.isEmpty() && locations.hasNext()) {
                        nextBatch(c, pre, locations, ready);
                    }
                    return !ready.isEmpty();
                }

                @Override
                public Predictor.Prediction next() {
                    if (!hasNext()) {
                        throw new java.util.NoSuchElementException();
                    }
                    return ready.poll();
                }
            };
        }

        /** Reads up to a batch of images from {@code locations} and classifies them, in order, into {@code out}. */
        private void nextBatch(Classifier c, Preprocess pre, Iterator<String> locations,
                               java.util.Collection<Predictor.Prediction> out) {
            List<Predictor.Prediction> pending = new ArrayList<>();
            List<String> names = new ArrayList<>();
            List<INDArray> xs = new ArrayList<>();
            while (locations.hasNext() && xs.size() < batchSize) {
                String loc = locations.next();
                try {
                    xs.add(SparkImages.load(SparkSample.of(loc, -1), pre));
                    names.add(loc);
                    pending.add(null);
                } catch (Exception e) {
                    pending.add(new Predictor.Prediction(loc, List.of(), null, ModelBundle.oneLine(e)));
                }
            }
            float[][] p = xs.isEmpty() ? new float[0][] : c.probabilities(Nd4j.concat(0, xs.toArray(new INDArray[0])));
            int j = 0;
            for (Predictor.Prediction r : pending) {
                if (r != null) {
                    out.add(r);
                } else {
                    out.add(c.prediction(names.get(j), p[j], topK));
                    j++;
                }
            }
        }

        private static synchronized Classifier loaded(Broadcast<byte[]> bundle) {
            Classifier c = LOADED.get(bundle.id());
            if (c == null) {
                c = load(bundle.value());
                LOADED.put(bundle.id(), c);
            }
            return c;
        }

        private static Classifier load(byte[] bytes) {
            try {
                Path tmp = Files.createTempFile("cnn-spark-model", ".zip");
                try {
                    Files.write(tmp, bytes);
                    return Classifier.load(tmp);
                } finally {
                    Files.deleteIfExists(tmp);
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }
}
