package dev.cnn.zoo;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** He et al. 2016's CIFAR networks: the paper's sizes, parameter-free shortcuts, and plain twins without them. */
class CifarResNetTest {
    static final ModelSpec CIFAR = ModelSpec.builder().numClasses(10).input(3, 32, 32).seed(1).build();

    static long trainable(String name) {
        ModelSummary s = ModelSummary.of(ModelRegistry.get(name), CIFAR);
        return s.totalParams();
    }

    @Test
    void sizesAreThePapers() {
        // Table 6: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M. Exactly, counted by hand: 3x3 convolutions (the first of
        // stages 2 and 3 widening), batch-norm scale and shift per channel, the 64x10 classifier and its bias
        Map<String, Long> exact = Map.of("resnet20", 269_722L, "resnet32", 464_154L, "resnet44", 658_586L,
                "resnet56", 853_018L, "resnet110", 1_727_962L);
        exact.forEach((name, n) -> assertEquals(n, trainable(name), name));
        for (int d : new int[]{20, 32, 44, 56}) {
            assertEquals(trainable("resnet" + d), trainable("plain" + d), "shortcuts add no parameters at depth " + d);
        }
    }

    @Test
    void aShortcutThatChangesShapeSubsamplesAndPadsWithZeros() {
        ComputationGraph g = ModelRegistry.get("resnet20").build(CIFAR);
        INDArray x = Nd4j.rand(new int[]{1, 3, 32, 32});
        Map<String, INDArray> acts = g.feedForward(x, false);
        INDArray in = acts.get("layer1.2.out");              // [1, 16, 32, 32]
        INDArray sc = acts.get("layer2.0.shortcut");          // [1, 32, 16, 16]
        assertEquals(32, sc.size(1));
        assertEquals(16, sc.size(2));
        for (int c = 0; c < 16; c++) {
            for (int y = 0; y < 16; y++) {
                for (int xx = 0; xx < 16; xx++) {
                    assertEquals(in.getDouble(0, c, 2 * y, 2 * xx), sc.getDouble(0, c, y, xx), 0.0);
                    assertEquals(0.0, sc.getDouble(0, c + 16, y, xx), 0.0);
                }
            }
        }
        assertTrue(g.getConfiguration().getVertices().containsKey("layer1.0.add"));
        assertFalse(ModelRegistry.get("plain20").configuration(CIFAR).getVertices().containsKey("layer1.0.add"),
                "plain nets have no shortcuts");
    }
}
