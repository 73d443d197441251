package dev.cnn.zoo;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Parts of a {@link ComputationGraph} as graphs of their own, and copying parameters between graphs. The input graph
 * is never changed: every part is a new, initialised graph with the input's weights (batch-norm statistics included).
 */
public final class Subgraphs {
    private Subgraphs() {
    }

    /**
     * The part of {@code g} after {@code cut} as a graph of its own, whose single input is the cut's output (weights
     * copied). Used to get gradients with respect to an inner activation (Grad-CAM) or to run a head on features.
     *
     * @throws IllegalArgumentException if a vertex after the cut also reads a vertex before it (a skip connection
     *                                  across the cut)
     */
    public static ComputationGraph subgraphAfter(ComputationGraph g, String cut) {
        ComputationGraphConfiguration src = g.getConfiguration();
        GraphQueries.requireVertex(src, cut);
        String[] crossing = GraphQueries.edgeAcross(src, cut);
        if (crossing != null) {
            throw new IllegalArgumentException("'" + crossing[0] + "' reads '" + crossing[1] + "', which comes before '"
                    + cut + "': the network cannot be split there");
        }
        Set<String> before = GraphQueries.ancestors(src, cut);
        before.addAll(src.getNetworkInputs());
        before.add(cut);
        return without(g, before, cut);
    }

    /**
     * A copy of {@code g} without the vertices (and network inputs) named in {@code removed}, whose single network
     * input is {@code input} (normally a removed vertex: the rest reads its activations); the remaining layers'
     * weights are copied. The caller makes sure nothing left reads a removed vertex other than {@code input}.
     */
    public static ComputationGraph without(ComputationGraph g, Collection<String> removed, String input) {
        ComputationGraphConfiguration c = g.getConfiguration().clone();
        c.getVertices().keySet().removeAll(removed);
        c.getVertexInputs().keySet().removeAll(removed);
        c.setNetworkInputs(new ArrayList<>(List.of(input)));
        c.setTopologicalOrder(null);
        c.setTopologicalOrderStr(null);
        c.validate();
        ComputationGraph out = new ComputationGraph(c);
        out.init();
        copyParams(g, out, c.getVertices().keySet());
        return out;
    }

    /**
     * Copies the parameters (weights, biases, batch-norm statistics) of the named layers from {@code from} into the
     * same-named layers of {@code to}, in place. Shapes must match.
     */
    public static void copyParams(ComputationGraph from, ComputationGraph to, Collection<String> layerNames) {
        for (String name : layerNames) {
            if (from.getVertex(name) == null || !from.getVertex(name).hasLayer()) {
                continue;
            }
            Layer src = from.getLayer(name);
            if (src.numParams() == 0) {
                continue;
            }
            Layer dst = to.getLayer(name);
            if (dst == null) {
                throw new IllegalArgumentException("target graph has no layer '" + name + "'");
            }
            for (Map.Entry<String, INDArray> p : src.paramTable().entrySet()) {
                INDArray d = dst.getParam(p.getKey());
                if (d == null || !java.util.Arrays.equals(d.shape(), p.getValue().shape())) {
                    throw new IllegalArgumentException("parameter " + name + "/" + p.getKey() + " has shape "
                            + java.util.Arrays.toString(p.getValue().shape()) + " but the target's is "
                            + (d == null ? "missing" : java.util.Arrays.toString(d.shape())));
                }
                d.assign(p.getValue());
            }
        }
    }
}
