package dev.cnn.transfer;

import dev.cnn.zoo.Architecture;
import dev.cnn.zoo.GraphQueries;
import dev.cnn.zoo.ModelRegistry;
import dev.cnn.zoo.ModelSpec;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Cut by name on every registered architecture: at the default cut (the feature layer) and (one architecture per family) at
 * a layer in the middle of the network, replace the head, freeze, train one step: the output has the new class count, every kept layer is
 * bit-for-bit unchanged, the head changed, and unfreezing gives the same outputs with trainable layers.
 */
class CutEveryArchitectureTest {
    /** VGG copies of 140M parameters: free each test's before the next (the suite stays under 4 GB). */
    @org.junit.jupiter.api.AfterEach
    void releaseNativeMemory() {
        System.gc();
    }

    static final Set<String> MID_CUT = Set.of("lenet", "simplecnn", "alexnet", "vgg11_bn", "resnet18", "resnet50",
            "squeezenet1_1");

    static Stream<Arguments> cuts() {
        List<Arguments> out = new ArrayList<>();
        for (Architecture a : ModelRegistry.all()) {
            var conf = a.configuration(spec(a));
            List<String> withParams = new ArrayList<>();
            for (String n : conf.getVertices().keySet()) { // insertion order: the zoo adds layers input to output
                var v = conf.getVertices().get(n);
                if (v instanceof org.deeplearning4j.nn.conf.graph.LayerVertex && v.numParams(true) > 0
                        && !n.equals(a.headLayer())) {
                    withParams.add(n);
                }
            }
            out.add(Arguments.of(a.name(), a.featureLayer()));
            if (MID_CUT.contains(a.name())) { // one per family: deep nets are slow to rebuild on 2 cores
                out.add(Arguments.of(a.name(), withParams.get(withParams.size() / 2)));
            }
        }
        return out.stream();
    }

    static ModelSpec spec(Architecture a) {
        int size = Math.max(a.minInputSize(), 16);
        return ModelSpec.builder().numClasses(5).input(3, size, size).seed(3).build();
    }

    @ParameterizedTest(name = "{0} at {1}")
    @MethodSource("cuts")
    void cutFreezeTrainUnfreeze(String name, String cut) {
        Architecture a = ModelRegistry.get(name);
        ModelSpec spec = spec(a);
        ComputationGraph g = a.build(spec);
        if (cut.equals(a.featureLayer())) {
            assertEquals(cut, GraphQueries.defaultCut(g), "the default cut is the layer before the classifier");
        }
        ComputationGraph t = Freezing.freezeUpTo(Heads.replaceHead(g, cut, HeadSpec.of(3)
                .withInputTypes(InputType.convolutional(spec.height(), spec.width(), 3))), cut);
        INDArray x = Nd4j.rand(new int[]{2, 3, spec.height(), spec.width()});
        INDArray y = Nd4j.zeros(2, 3);
        y.putScalar(0, 1, 1);
        y.putScalar(1, 2, 1);
        assertArrayEquals(new long[]{2, 3}, t.outputSingle(false, x).shape());
        INDArray head = t.getLayer("head").params().dup();
        t.fit(new DataSet(x, y));
        Set<String> kept = GraphQueries.ancestors(g, cut);
        kept.add(cut);
        int checked = 0;
        for (String n : kept) {
            if (g.getVertex(n) != null && g.getVertex(n).hasLayer() && g.getLayer(n).numParams() > 0) {
                assertEquals(g.getLayer(n).params(), t.getLayer(n).params(), name + ": frozen " + n + " changed");
                checked++;
            }
        }
        assertTrue(checked > 0);
        assertFalse(head.equals(t.getLayer("head").params()), "head trained");
        ComputationGraph open = Freezing.unfreeze(t);
        assertTrue(GraphQueries.frozenLayers(open).isEmpty());
        assertEquals(t.outputSingle(false, x), open.outputSingle(false, x), "unfreeze keeps the weights");
    }
}
