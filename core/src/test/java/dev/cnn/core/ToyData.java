package dev.cnn.core;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.dataset.api.iterator.TestDataSetIterator;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/** A tiny learnable image task in memory: class k has a bright k-th quadrant. Seeded per-epoch shuffling. */
final class ToyData implements EpochData {
    static final int SIZE = 12;
    final List<DataSet> train = new ArrayList<>();
    final List<DataSet> val = new ArrayList<>();
    final int batch;
    final long seed;

    ToyData(int nTrain, int nVal, int batch, long seed) {
        this.batch = batch;
        this.seed = seed;
        Random r = new Random(seed);
        for (int i = 0; i < nTrain + nVal; i++) {
            int k = i % 4;
            float[] noise = new float[SIZE * SIZE];
            for (int j = 0; j < noise.length; j++) {
                noise[j] = 0.3f * r.nextFloat();
            }
            INDArray x = Nd4j.create(noise, new long[]{1, 1, SIZE, SIZE});
            int h = SIZE / 2;
            x.get(org.nd4j.linalg.indexing.NDArrayIndex.all(), org.nd4j.linalg.indexing.NDArrayIndex.all(),
                    org.nd4j.linalg.indexing.NDArrayIndex.interval((k / 2) * h, (k / 2) * h + h),
                    org.nd4j.linalg.indexing.NDArrayIndex.interval((k % 2) * h, (k % 2) * h + h)).addi(0.7);
            INDArray y = Nd4j.zeros(1, 4);
            y.putScalar(0, k, 1.0);
            (i < nTrain ? train : val).add(new DataSet(x, y));
        }
    }

    @Override
    public DataSetIterator train(int epoch) {
        List<DataSet> order = new ArrayList<>(train);
        Collections.shuffle(order, new Random(seed * 31 + epoch));
        return new TestDataSetIterator(DataSet.merge(order), batch);
    }

    @Override
    public DataSetIterator validation() {
        return val.isEmpty() ? null : new TestDataSetIterator(DataSet.merge(val), batch);
    }

    @Override
    public int batchesPerEpoch() {
        return (train.size() + batch - 1) / batch;
    }


    static List<String> labels() {
        return List.of("a", "b", "c", "d");
    }
}
