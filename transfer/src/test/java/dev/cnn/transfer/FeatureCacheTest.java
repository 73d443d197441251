package dev.cnn.transfer;

import org.deeplearning4j.datasets.iterator.ExistingDataSetIterator;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

import java.util.List;
import java.util.Map;

import static dev.cnn.transfer.TinyNets.assertSameParams;
import static dev.cnn.transfer.TinyNets.sameBits;
import static dev.cnn.transfer.TinyNets.snapshot;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FeatureCacheTest {

    @Test
    void trainingTheHeadOnCachedFeaturesEqualsTrainingTheFrozenGraph() {
        List<DataSet> data = TinyNets.data(4, 8, 11);
        ComputationGraph frozen = Freezing.freezeUpTo(TinyNets.convBnDropout(3), "drop");
        String json = frozen.getConfiguration().toJson();
        Map<String, float[]> initial = snapshot(frozen);

        FeatureCache cache = FeatureCache.build(frozen, new ExistingDataSetIterator(data));
        assertEquals("drop", cache.featureVertex());
        assertEquals(List.of("fc", "out"), cache.headLayers());
        assertEquals(32, cache.numExamples());
        assertEquals(4, cache.dataSets().size());
        assertEquals(4L * (8 * 4 * 7 * 7 + 8 * 3) * 4, cache.sizeBytes());
        INDArray expected = frozen.feedForward(data.get(0).getFeatures(), false).get("drop");
        assertArrayEquals(expected.dup().data().asFloat(),
                cache.dataSets().get(0).getFeatures().dup().data().asFloat());

        // Head on cached features, 2 epochs.
        ComputationGraph head = cache.head();
        head.fit(new ExistingDataSetIterator(cache.dataSets()), 2);
        // Reference: the whole frozen graph on the same batches in the same order.
        ComputationGraph reference = frozen.clone();
        reference.fit(new ExistingDataSetIterator(data), 2);

        // The caller's graph is untouched.
        assertEquals(json, frozen.getConfiguration().toJson());
        assertSameParams(initial, snapshot(frozen), null);

        ComputationGraph merged = cache.mergeInto(frozen);
        assertSameParams(initial, snapshot(frozen), null);
        Map<String, float[]> m = snapshot(merged);
        Map<String, float[]> ref = snapshot(reference);
        for (String l : List.of("conv1", "bn1")) {
            assertSameParams(initial, m, l);
            assertSameParams(initial, ref, l);
        }
        for (String p : List.of("fc/W", "fc/b", "out/W", "out/b")) {
            assertFalse(sameBits(initial.get(p), m.get(p)), p + " did not train");
            float[] a = ref.get(p);
            float[] b = m.get(p);
            for (int i = 0; i < a.length; i++) {
                assertEquals(a[i], b[i], 1e-5f, p + "[" + i + "]");
            }
        }
        // Same predictions too.
        INDArray x = data.get(1).getFeatures();
        assertTrue(reference.outputSingle(x).equalsWithEps(merged.outputSingle(x), 1e-5));

        // writeHeadInto does it in place.
        ComputationGraph target = frozen.clone();
        cache.writeHeadInto(target);
        assertArrayEquals(m.get("out/W"), snapshot(target).get("out/W"));
    }

    @Test
    void cachedEpochsVisitEveryExampleOncePerEpoch() {
        ComputationGraph frozen = Freezing.freezeUpTo(TinyNets.convBnDropout(3), "pool");
        FeatureCache cache = FeatureCache.build(frozen, new ExistingDataSetIterator(TinyNets.data(5, 2, 1)));
        assertEquals("pool", cache.featureVertex());
        // as FinetuneJob trains on them: all examples reshuffled into new batches every epoch
        FinetuneJob.FeatureData epochs = new FinetuneJob.FeatureData(cache.dataSets(), List.of(), 3, 42);
        assertEquals(4, epochs.batchesPerEpoch());
        java.util.Set<Float> all = new java.util.HashSet<>();
        for (DataSet d : cache.dataSets()) {
            for (int i = 0; i < d.numExamples(); i++) {
                all.add(d.getFeatures().slice(i).sumNumber().floatValue());
            }
        }
        for (int epoch = 0; epoch < 2; epoch++) {
            var it = epochs.train(epoch);
            java.util.Set<Float> seen = new java.util.HashSet<>();
            int n = 0;
            while (it.hasNext()) {
                DataSet d = it.next();
                for (int i = 0; i < d.numExamples(); i++) {
                    assertTrue(seen.add(d.getFeatures().slice(i).sumNumber().floatValue()), "each example once");
                }
                n += d.numExamples();
            }
            assertEquals(10, n);
            assertEquals(all, seen);
        }
        // Validation data goes through the same frozen part without being cached.
        List<DataSet> val = cache.featurize(new ExistingDataSetIterator(TinyNets.data(2, 3, 9)));
        assertEquals(2, val.size());
        assertArrayEquals(new long[]{3, 4, 7, 7}, val.get(0).getFeatures().shape());
        assertEquals(5, cache.dataSets().size());
    }

    @Test
    void refusesGraphsWithoutASingleFrozenCut() {
        ComputationGraph plain = TinyNets.convBnDropout(3);
        var it = new ExistingDataSetIterator(TinyNets.data(1, 2, 1));
        var e = assertThrows(IllegalArgumentException.class, () -> FeatureCache.build(plain, it));
        assertTrue(e.getMessage().contains("no frozen layers"));
        // Frozen branch 'a' and trainable branch 'b' both read the input: two ways in.
        ComputationGraph split = Freezing.freezeUpTo(TinyNets.branches(1), "a");
        assertThrows(IllegalArgumentException.class, () -> FeatureCache.build(split, it));
        // Frozen merge: one way in, features are the merged activations.
        ComputationGraph merged = Freezing.freezeUpTo(TinyNets.branches(1), "merge");
        FeatureCache fc = FeatureCache.build(merged, it);
        assertEquals("merge", fc.featureVertex());
        assertArrayEquals(new long[]{2, 5, 14, 14}, fc.dataSets().get(0).getFeatures().shape());
        assertEquals(List.of("gap", "out"), fc.headLayers());
    }
}
