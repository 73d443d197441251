package dev.cnn.core;

import dev.cnn.data.Augmentation;
import dev.cnn.data.ImageBatchIterator;
import dev.cnn.data.ImageDataset;
import dev.cnn.data.Preprocess;
import dev.cnn.data.SkipReport;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;

/**
 * {@link EpochData} over image datasets: shuffled, augmented training batches per epoch (seeded by run seed and
 * epoch), plain validation batches, an optional shared decoded-image cache.
 */
public final class ImageData implements EpochData {
    private final ImageDataset train;
    private final ImageDataset val;
    private final Preprocess pre;
    private final Augmentation aug;
    private final int batchSize;
    private final long seed;
    private final SkipReport report;
    private final ImageBatchIterator.Cache trainCache;
    private final ImageBatchIterator.Cache valCache;
    private final int workers;
    private ImageBatchIterator current;

    public ImageData(ImageDataset train, ImageDataset val, Preprocess pre, Augmentation aug, int batchSize, long seed,
                     SkipReport report, boolean cache, int workers) {
        this.train = train;
        this.val = val;
        this.pre = pre;
        this.aug = aug;
        this.batchSize = batchSize;
        this.seed = seed;
        this.report = report;
        this.trainCache = cache ? new ImageBatchIterator.Cache() : null;
        this.valCache = cache ? new ImageBatchIterator.Cache() : null;
        this.workers = workers;
    }

    private ImageData(ImageData d, int batchSize) {
        this.train = d.train;
        this.val = d.val;
        this.pre = d.pre;
        this.aug = d.aug;
        this.batchSize = batchSize;
        this.seed = d.seed;
        this.report = d.report;
        this.trainCache = d.trainCache;
        this.valCache = d.valCache;
        this.workers = d.workers;
    }

    /** The same data in batches of {@code n}, sharing this one's decoded-image caches ({@code this} when equal). */
    public ImageData withBatchSize(int n) {
        return n == batchSize ? this : new ImageData(this, n);
    }

    public int batchSize() {
        return batchSize;
    }

    @Override
    public DataSetIterator train(int epoch) {
        if (current != null) {
            current.shutdown();
        }
        current = ImageBatchIterator.builder(train, pre).batchSize(batchSize).shuffle(true).seed(seed).epoch(epoch)
                .augmentation(aug).cache(trainCache).report(report).workers(workers).build();
        return current;
    }

    @Override
    public DataSetIterator validation() {
        if (val == null || val.size() == 0) {
            return null;
        }
        return ImageBatchIterator.builder(val, pre).batchSize(batchSize).cache(valCache).report(report)
                .workers(workers).build();
    }

    @Override
    public int batchesPerEpoch() {
        return (train.size() + batchSize - 1) / batchSize;
    }
}
