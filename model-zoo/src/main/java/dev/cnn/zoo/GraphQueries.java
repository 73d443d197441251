package dev.cnn.zoo;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.FrozenVertex;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayerWithBackprop;
import org.deeplearning4j.nn.conf.layers.wrapper.BaseWrapperLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Read-only queries over a DL4J {@link ComputationGraph} or its {@link ComputationGraphConfiguration}: listing and
 * ordering vertices, what a vertex depends on and what depends on it, where a network can be cut, whether a vertex is
 * frozen. Nothing here changes a graph; the edits built on these queries live with their callers (transfer's
 * freezing, learning rates and heads, {@link Subgraphs}, accel's inference copies).
 */
public final class GraphQueries {
    private GraphQueries() {
    }

    // ------------------------------------------------------------------------------------------------ listing

    /** Every non-input vertex in topological order, with whether it is frozen. */
    public static List<LayerInfo> layers(ComputationGraph g) {
        ComputationGraphConfiguration c = g.getConfiguration();
        List<LayerInfo> out = new ArrayList<>();
        for (String name : topologicalOrder(g)) {
            GraphVertex v = c.getVertices().get(name);
            if (v == null) {
                continue; // network input
            }
            boolean isLayer = v instanceof LayerVertex;
            String type = isLayer ? unwrap(((LayerVertex) v).getLayerConf().getLayer()).getClass().getSimpleName()
                    : (v instanceof FrozenVertex fv ? fv.getUnderlying() : v).getClass().getSimpleName();
            out.add(new LayerInfo(name, type, isLayer, isFrozen(v), v.numParams(true),
                    List.copyOf(c.getVertexInputs().getOrDefault(name, List.of())),
                    c.getNetworkOutputs().contains(name)));
        }
        return out;
    }

    /** Names of all non-input vertices in topological order. */
    public static List<String> layerNames(ComputationGraph g) {
        return layers(g).stream().map(LayerInfo::name).toList();
    }

    /** Names of the frozen layers/vertices, in topological order. */
    public static List<String> frozenLayers(ComputationGraph g) {
        return layers(g).stream().filter(LayerInfo::frozen).map(LayerInfo::name).toList();
    }

    // ------------------------------------------------------------------------------------------------ order

    /** Network inputs and vertices, in the graph's topological order. */
    public static List<String> topologicalOrder(ComputationGraph g) {
        int[] order = g.topologicalSortOrder();
        org.deeplearning4j.nn.graph.vertex.GraphVertex[] vs = g.getVertices();
        List<String> names = new ArrayList<>(order.length);
        for (int i : order) {
            names.add(vs[i].getVertexName());
        }
        return names;
    }

    /**
     * Vertices (not network inputs) of a configuration in a stable topological order (insertion order among ready
     * vertices); needs no initialised graph.
     */
    public static List<String> topologicalOrder(ComputationGraphConfiguration conf) {
        Map<String, List<String>> inputsOf = conf.getVertexInputs();
        Map<String, Integer> pending = new LinkedHashMap<>();
        Map<String, List<String>> consumers = new HashMap<>();
        for (String v : conf.getVertices().keySet()) {
            List<String> ins = inputsOf.getOrDefault(v, List.of());
            int count = 0;
            for (String i : ins) {
                if (conf.getVertices().containsKey(i)) {
                    count++;
                    consumers.computeIfAbsent(i, k -> new ArrayList<>()).add(v);
                }
            }
            pending.put(v, count);
        }
        List<String> order = new ArrayList<>();
        Deque<String> ready = new ArrayDeque<>();
        pending.forEach((v, c) -> {
            if (c == 0) {
                ready.add(v);
            }
        });
        while (!ready.isEmpty()) {
            String v = ready.poll();
            order.add(v);
            for (String c : consumers.getOrDefault(v, List.of())) {
                if (pending.merge(c, -1, Integer::sum) == 0) {
                    ready.add(c);
                }
            }
        }
        return order;
    }

    // ------------------------------------------------------------------------------------------------ dependencies

    /**
     * The vertices that read {@code vertex} directly (each once, in the configuration's vertex-input order). Reads
     * the configuration as it is now, so it answers for a configuration being edited too.
     */
    public static List<String> consumers(ComputationGraphConfiguration c, String vertex) {
        List<String> out = new ArrayList<>();
        for (Map.Entry<String, List<String>> e : c.getVertexInputs().entrySet()) {
            if (e.getValue().contains(vertex)) {
                out.add(e.getKey());
            }
        }
        return out;
    }

    /** All vertices {@code name} depends on (not itself, not network inputs). */
    public static Set<String> ancestors(ComputationGraph g, String name) {
        ComputationGraphConfiguration c = g.getConfiguration();
        requireVertex(c, name);
        return ancestors(c, name);
    }

    /** All vertices that depend on {@code name} (not itself). */
    public static Set<String> descendants(ComputationGraph g, String name) {
        ComputationGraphConfiguration c = g.getConfiguration();
        requireVertex(c, name);
        return descendants(c, name);
    }

    /**
     * All vertices {@code name} depends on (not itself, not network inputs), nearest first; a new, modifiable set.
     * Does not check that {@code name} exists.
     */
    public static Set<String> ancestors(ComputationGraphConfiguration c, String name) {
        Set<String> seen = new LinkedHashSet<>();
        Deque<String> todo = new ArrayDeque<>(c.getVertexInputs().getOrDefault(name, List.of()));
        while (!todo.isEmpty()) {
            String v = todo.pop();
            if (c.getVertices().containsKey(v) && seen.add(v)) {
                todo.addAll(c.getVertexInputs().getOrDefault(v, List.of()));
            }
        }
        return seen;
    }

    /**
     * All vertices that depend on {@code name} (not itself), nearest first; a new, modifiable set. Does not check
     * that {@code name} exists.
     */
    public static Set<String> descendants(ComputationGraphConfiguration c, String name) {
        Set<String> seen = new LinkedHashSet<>();
        Deque<String> todo = new ArrayDeque<>(consumers(c, name));
        while (!todo.isEmpty()) {
            String v = todo.pop();
            if (seen.add(v)) {
                todo.addAll(consumers(c, v));
            }
        }
        return seen;
    }

    // ------------------------------------------------------------------------------------------------ cuts

    /**
     * The layer before the classifier: the input of the network's (single) output layer. Parameter-free vertices at
     * the end (a LossLayer or ActivationLayer after a dense layer) are walked past, so for DL4J zoo models whose
     * "head" is a softmax DenseLayer this is still the layer feeding that dense layer (e.g. {@code fc2} for VGG16).
     */
    public static String defaultCut(ComputationGraph g) {
        ComputationGraphConfiguration c = g.getConfiguration();
        if (c.getNetworkOutputs().size() != 1) {
            throw new IllegalArgumentException("defaultCut needs a graph with one output; this one has "
                    + c.getNetworkOutputs() + ": name the cut layer explicitly");
        }
        String v = c.getNetworkOutputs().get(0);
        while (c.getVertices().get(v).numParams(true) == 0) {
            List<String> in = c.getVertexInputs().getOrDefault(v, List.of());
            if (in.size() != 1 || !c.getVertices().containsKey(in.get(0))) {
                throw new IllegalArgumentException("cannot find the classifier of output '" + v
                        + "': name the cut layer explicitly");
            }
            v = in.get(0);
        }
        List<String> in = c.getVertexInputs().getOrDefault(v, List.of());
        if (in.size() != 1) {
            throw new IllegalArgumentException("classifier '" + v + "' has " + in.size()
                    + " inputs: name the cut layer explicitly");
        }
        return in.get(0);
    }

    /** True when everything after {@code cut} reads the part before it only through {@code cut} itself. */
    public static boolean splitsAt(ComputationGraph g, String cut) {
        requireVertex(g.getConfiguration(), cut);
        return edgeAcross(g.getConfiguration(), cut) == null;
    }

    /** A {reader, read} pair where a vertex after {@code cut} reads one before it, or null if there is none. */
    public static String[] edgeAcross(ComputationGraphConfiguration c, String cut) {
        Set<String> before = ancestors(c, cut);
        before.addAll(c.getNetworkInputs());
        for (Map.Entry<String, List<String>> e : c.getVertexInputs().entrySet()) {
            if (before.contains(e.getKey()) || e.getKey().equals(cut)) {
                continue;
            }
            for (String in : e.getValue()) {
                if (before.contains(in)) {
                    return new String[]{e.getKey(), in};
                }
            }
        }
        return null;
    }

    // ------------------------------------------------------------------------------------------------ vertices

    /** Whether training {@code g} changes a batch-norm layer (one that is not frozen). */
    public static boolean trainsBatchNorm(ComputationGraph g) {
        for (GraphVertex v : g.getConfiguration().getVertices().values()) {
            if (v instanceof LayerVertex lv && !isFrozen(v)
                    && lv.getLayerConf().getLayer() instanceof org.deeplearning4j.nn.conf.layers.BatchNormalization) {
                return true;
            }
        }
        return false;
    }

    /** Whether a vertex is frozen: a FrozenVertex, or a layer wrapped in FrozenLayer or FrozenLayerWithBackprop. */
    public static boolean isFrozen(GraphVertex v) {
        if (v instanceof FrozenVertex) {
            return true;
        }
        if (v instanceof LayerVertex lv) {
            Layer l = lv.getLayerConf().getLayer();
            return l instanceof FrozenLayer || l instanceof FrozenLayerWithBackprop;
        }
        return false;
    }

    /** The layer inside any FrozenLayer / FrozenLayerWithBackprop wrappers ({@code l} itself if there are none). */
    public static Layer unwrap(Layer l) {
        while (true) {
            if (l instanceof FrozenLayer f) {
                l = f.getLayer();
            } else if (l instanceof FrozenLayerWithBackprop f) {
                l = ((BaseWrapperLayer) f).getUnderlying();
            } else {
                return l;
            }
        }
    }

    /**
     * Checks that {@code name} is a vertex (layer or non-input vertex) of {@code c}.
     *
     * @throws IllegalArgumentException naming the layers there are, or saying that {@code name} is a network input
     */
    public static void requireVertex(ComputationGraphConfiguration c, String name) {
        if (name == null || !c.getVertices().containsKey(name)) {
            if (name != null && c.getNetworkInputs().contains(name)) {
                throw new IllegalArgumentException("'" + name + "' is a network input, not a layer");
            }
            throw new IllegalArgumentException("no layer named '" + name + "'; layers: " + c.getVertices().keySet());
        }
    }
}
