package dev.cnn.core;

import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;

/**
 * The batches of a training run. {@link #train(int)} must give the same batches in the same order for the same
 * epoch (seeded shuffling and augmentation), so a resumed run sees exactly what an uninterrupted one would.
 */
public interface EpochData {
    /** Training batches of epoch {@code epoch} (0-based). */
    DataSetIterator train(int epoch);

    /** Validation batches, or null when the run has no validation data. */
    DataSetIterator validation();

    /** Number of training batches per epoch. */
    int batchesPerEpoch();
}
