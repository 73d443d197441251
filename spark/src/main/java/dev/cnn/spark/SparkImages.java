package dev.cnn.spark;

import dev.cnn.data.Augmentation;
import dev.cnn.data.BadImageException;
import dev.cnn.data.DecodeBudget;
import dev.cnn.data.ImageDecoder;
import dev.cnn.data.Preprocess;
import org.apache.spark.api.java.function.Function2;
import org.apache.spark.util.LongAccumulator;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Random;

/** What runs inside Spark's partitions: reading, decoding and batching images, the same way as on one machine. */
public final class SparkImages {
    private SparkImages() {
    }

    /** True for a location Hadoop's file systems open ({@code hdfs://...}, {@code s3a://...}, {@code file:/...}). */
    public static boolean isUri(String location) {
        int colon = location.indexOf(':');
        return colon > 1 && location.substring(0, colon).matches("[A-Za-z][A-Za-z0-9+.-]*")
                && !location.startsWith("builtin:");
    }

    /** The bytes at a Hadoop URI; a missing or unreadable one is a {@link BadImageException} naming it. */
    public static byte[] readUri(String uri) throws BadImageException {
        try {
            org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(URI.create(uri));
            org.apache.hadoop.fs.FileSystem fs = p.getFileSystem(new org.apache.hadoop.conf.Configuration());
            try (InputStream in = fs.open(p)) {
                return in.readAllBytes();
            }
        } catch (IOException | IllegalArgumentException e) {
            throw new BadImageException(Path.of(uri), BadImageException.Reason.UNREADABLE,
                    dev.cnn.core.ModelBundle.oneLine(e));
        }
    }

    /** {@code s} decoded and resized for {@code pre}, read as the single-machine commands read it. */
    public static BufferedImage decodeResized(SparkSample s, Preprocess pre) throws BadImageException {
        if (s.encoded() != null) {
            return ImageDecoder.readResized(s.encoded(), s.location(), ImageDecoder.DEFAULT_MAX_PIXELS, pre);
        }
        if (isUri(s.location())) {
            return ImageDecoder.readResized(readUri(s.location()), s.location(), ImageDecoder.DEFAULT_MAX_PIXELS,
                    pre);
        }
        return ImageDecoder.readResized(Path.of(s.location()), ImageDecoder.DEFAULT_MAX_PIXELS, pre,
                DecodeBudget.shared());
    }

    /** {@code s} as a [1, C, H, W] tensor. */
    public static INDArray load(SparkSample s, Preprocess pre) throws BadImageException {
        return ImageDecoder.tensor(decodeResized(s, pre), pre);
    }

    /**
     * A partition of samples to minibatches: shuffled (seeded by epoch and partition), decoded, augmented, one-hot
     * labels (label smoothing applied); unreadable images are skipped and counted, or fail the job when strict.
     */
    public static final class ToBatches implements Function2<Integer, Iterator<SparkSample>, Iterator<DataSet>> {
        private final Preprocess pre;
        private final String augment;
        private final int classes;
        private final int batchSize;
        private final long seed;
        private final int epoch;
        private final double labelSmoothing;
        private final boolean strict;
        private final LongAccumulator skipped;

        public ToBatches(Preprocess pre, Augmentation augment, int classes, int batchSize, long seed, int epoch,
                         double labelSmoothing, boolean strict, LongAccumulator skipped) {
            this.pre = pre;
            this.augment = augment.toSpec();
            this.classes = classes;
            this.batchSize = batchSize;
            this.seed = seed;
            this.epoch = epoch;
            this.labelSmoothing = labelSmoothing;
            this.strict = strict;
            this.skipped = skipped;
        }

        @Override
        public Iterator<DataSet> call(Integer partition, Iterator<SparkSample> it) {
            dev.cnn.accel.Engine.init();
            Augmentation aug = Augmentation.parse(augment);
            List<SparkSample> all = new ArrayList<>();
            it.forEachRemaining(all::add);
            if (epoch >= 0) {
                Collections.shuffle(all, new Random(mix(seed, epoch, partition)));
            }
            List<DataSet> out = new ArrayList<>();
            int per = pre.channels() * pre.height() * pre.width();
            float[] x = new float[batchSize * per];
            float[] y = new float[batchSize * classes];
            int n = 0;
            int index = 0;
            for (SparkSample s : all) {
                index++;
                BufferedImage img;
                try {
                    img = decodeResized(s, pre);
                } catch (BadImageException e) {
                    if (strict) {
                        throw new IllegalStateException(e.getMessage() + " (--strict; drop --strict to skip it)", e);
                    }
                    if (skipped != null) {
                        skipped.add(1);
                    }
                    continue;
                }
                if (!aug.isNone() && epoch >= 0) {
                    img = aug.apply(img, new Random(mix(seed ^ partition, epoch, index)));
                }
                ImageDecoder.toTensor(img, pre, x, n * per);
                double off = labelSmoothing / classes;
                for (int c = 0; c < classes; c++) {
                    y[n * classes + c] = (float) (c == s.label() ? 1 - labelSmoothing + off : off);
                }
                if (++n == batchSize) {
                    out.add(batch(x, y, n, per));
                    n = 0;
                }
            }
            if (n > 0) {
                out.add(batch(x, y, n, per));
            }
            return out.iterator();
        }

        private DataSet batch(float[] x, float[] y, int n, int per) {
            INDArray f = Nd4j.create(java.util.Arrays.copyOf(x, n * per),
                    new long[]{n, pre.channels(), pre.height(), pre.width()});
            INDArray l = Nd4j.create(java.util.Arrays.copyOf(y, n * classes), new long[]{n, classes});
            return new DataSet(f, l);
        }
    }

    static long mix(long seed, int epoch, int i) {
        return dev.cnn.data.ImageBatchIterator.mix(seed, epoch, i);
    }
}
