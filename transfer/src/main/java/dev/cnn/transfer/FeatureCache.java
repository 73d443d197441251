package dev.cnn.transfer;

import dev.cnn.zoo.GraphQueries;
import dev.cnn.zoo.Subgraphs;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The output of a graph's frozen part, computed once, plus a head-only graph that trains on it: like DL4J's
 * {@code TransferLearningHelper.featurize}, but the caller's graph is never modified (the helper rebuilds its graph
 * in place).
 *
 * <p>The frozen part is every frozen layer/vertex (see {@link Freezing#freezeUpTo}) together with the network
 * input and parameter-free non-layer vertices (merge, element-wise) fed only by it. Its last vertex (the cut) must be
 * the only way into the trainable part; its activations, computed in inference mode, become the features.
 *
 * <p>Training {@link #head()} on {@link #dataSets()} gives the same weights as fitting the full frozen graph on the
 * same batches in the same order (frozen layers run in inference mode either way), as long as the head itself has no
 * randomness (dropout) that would draw differently. {@link #writeHeadInto} / {@link #mergeInto} put the trained head
 * back.
 *
 * <p>Features are kept in memory (see {@link #sizeBytes()}); labels and label masks are kept as given, feature
 * masks are dropped.
 */
public final class FeatureCache {
    private final ComputationGraph source;
    private final String featureVertex;
    private final boolean featureIsInput;
    private final ComputationGraph head;
    private final List<String> headLayers;
    private final List<DataSet> data;

    private FeatureCache(ComputationGraph source, String featureVertex, boolean featureIsInput,
                         ComputationGraph head, List<String> headLayers, List<DataSet> data) {
        this.source = source;
        dev.cnn.accel.Accel.install(source); // the frozen part's convolutions on oneDNN
        this.featureVertex = featureVertex;
        this.featureIsInput = featureIsInput;
        this.head = head;
        this.headLayers = headLayers;
        this.data = data;
    }

    /**
     * Runs every batch of {@code data} (reset first when it supports reset; its pre-processor applies) through the
     * frozen part of {@code frozenGraph} and builds the head graph, its weights copied from {@code frozenGraph}.
     *
     * @throws IllegalArgumentException if the graph has no frozen layers, or its frozen part has more than one way
     *                                  into the trainable part
     */
    public static FeatureCache build(ComputationGraph frozenGraph, DataSetIterator data) {
        FeatureCache fc = structure(frozenGraph);
        if (data.resetSupported()) {
            data.reset();
        }
        while (data.hasNext()) {
            fc.data.add(fc.featurize(data.next()));
        }
        return fc;
    }

    /** The head graph and feature vertex of {@code frozenGraph}, no data cached yet. */
    private static FeatureCache structure(ComputationGraph g) {
        ComputationGraphConfiguration src = g.getConfiguration();
        if (src.getNetworkInputs().size() != 1) {
            throw new IllegalArgumentException("feature caching needs a single-input graph, got inputs "
                    + src.getNetworkInputs());
        }
        List<String> order = GraphQueries.topologicalOrder(g);
        Set<String> frozenPart = new LinkedHashSet<>(src.getNetworkInputs());
        boolean anyFrozen = false;
        for (String n : order) {
            GraphVertex v = src.getVertices().get(n);
            if (v == null) {
                continue;
            }
            List<String> in = src.getVertexInputs().getOrDefault(n, List.of());
            if (GraphQueries.isFrozen(v)) {
                frozenPart.add(n);
                anyFrozen = true;
            } else if (!(v instanceof LayerVertex) && v.numParams(true) == 0 && !in.isEmpty()
                    && frozenPart.containsAll(in)) {
                frozenPart.add(n);
            }
        }
        if (!anyFrozen) {
            throw new IllegalArgumentException("graph has no frozen layers: freeze the base first "
                    + "(Freezing.freezeUpTo)");
        }
        // Boundary: frozen-part vertices that feed the trainable part.
        Set<String> boundary = new LinkedHashSet<>();
        for (Map.Entry<String, List<String>> e : src.getVertexInputs().entrySet()) {
            if (!frozenPart.contains(e.getKey())) {
                for (String in : e.getValue()) {
                    if (frozenPart.contains(in)) {
                        boundary.add(in);
                    }
                }
            }
        }
        for (String o : src.getNetworkOutputs()) {
            if (frozenPart.contains(o)) {
                throw new IllegalArgumentException("network output '" + o + "' is frozen; nothing to train");
            }
        }
        if (boundary.size() != 1) {
            throw new IllegalArgumentException("the frozen part must feed the trainable part through one vertex, "
                    + "found " + boundary + ": freeze up to a single cut layer");
        }
        String cut = boundary.iterator().next();

        ComputationGraph head = Subgraphs.without(g, frozenPart, cut);
        List<String> headLayers = new ArrayList<>(head.getConfiguration().getVertices().keySet());
        return new FeatureCache(g, cut, src.getNetworkInputs().contains(cut), head, headLayers, new ArrayList<>());
    }

    /** The frozen part's output for one batch (inference mode), with the batch's labels. */
    public DataSet featurize(DataSet batch) {
        INDArray f;
        if (featureIsInput) {
            f = batch.getFeatures();
        } else {
            f = source.output(List.of(featureVertex), false, new INDArray[]{batch.getFeatures()}, null)[0];
            if (f.isAttached()) {
                f = f.detach();
            }
        }
        return new DataSet(f, batch.getLabels(), null, batch.getLabelsMaskArray());
    }

    /** {@link #featurize(DataSet)} for every batch of an iterator (e.g. validation data); not cached. */
    public List<DataSet> featurize(DataSetIterator it) {
        if (it.resetSupported()) {
            it.reset();
        }
        List<DataSet> out = new ArrayList<>();
        while (it.hasNext()) {
            out.add(featurize(it.next()));
        }
        return out;
    }

    /** The trainable part as its own graph: input = the cut's activations, layers named as in the full graph. */
    public ComputationGraph head() {
        return head;
    }

    /** The vertex whose activations are the cached features (the head graph's input name). */
    public String featureVertex() {
        return featureVertex;
    }

    /** Names of the head graph's vertices (the full graph's trainable part). */
    public List<String> headLayers() {
        return Collections.unmodifiableList(headLayers);
    }

    /** The cached batches, in the order they were read. */
    public List<DataSet> dataSets() {
        return Collections.unmodifiableList(data);
    }

    /** Number of cached examples. */
    public long numExamples() {
        long n = 0;
        for (DataSet d : data) {
            n += d.numExamples();
        }
        return n;
    }

    /** Memory held by the cached features and labels, in bytes. */
    public long sizeBytes() {
        long b = 0;
        for (DataSet d : data) {
            b += bytes(d.getFeatures()) + bytes(d.getLabels()) + bytes(d.getLabelsMaskArray());
        }
        return b;
    }

    private static long bytes(INDArray a) {
        return a == null ? 0 : a.length() * a.dataType().width();
    }

    /**
     * Copies the head graph's weights into the same-named layers of {@code full} <b>in place</b> (normally the
     * frozen graph this cache was built from, or a copy of it).
     */
    public void writeHeadInto(ComputationGraph full) {
        Subgraphs.copyParams(head, full, headLayers);
    }

    /** A copy of {@code full} with the head graph's weights; {@code full} is not modified. */
    public ComputationGraph mergeInto(ComputationGraph full) {
        ComputationGraph copy = GraphEdits.rebuildSameLayout(full, full.getConfiguration().clone());
        writeHeadInto(copy);
        return copy;
    }
}
