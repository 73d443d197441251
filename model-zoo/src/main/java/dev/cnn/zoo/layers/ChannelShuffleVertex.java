package dev.cnn.zoo.layers;

import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * ShuffleNet's channel shuffle (torchvision's {@code channel_shuffle}): the channels of an NCHW map, seen as
 * {@code [groups, C / groups]}, transposed to {@code [C / groups, groups]}. The backward pass applies the inverse
 * permutation (the same shuffle with {@code C / groups} groups).
 */
public class ChannelShuffleVertex extends ParameterFreeVertex {
    private int groups = 2;

    /** For JSON. */
    public ChannelShuffleVertex() {
        super(1);
    }

    public ChannelShuffleVertex(int groups) {
        super(1);
        this.groups = groups;
    }

    public int getGroups() {
        return groups;
    }

    public void setGroups(int groups) {
        this.groups = groups;
    }

    @Override
    public ChannelShuffleVertex clone() {
        return new ChannelShuffleVertex(groups);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ChannelShuffleVertex v && v.groups == groups;
    }

    @Override
    public int hashCode() {
        return 31 * ChannelShuffleVertex.class.hashCode() + groups;
    }

    @Override
    public org.deeplearning4j.nn.graph.vertex.GraphVertex instantiate(ComputationGraph graph, String name, int idx,
                                                                        INDArray paramsView, boolean initializeParams,
                                                                        DataType networkDatatype) {
        return new Impl(graph, name, idx, networkDatatype, groups);
    }

    @Override
    public String toString() {
        return "ChannelShuffleVertex(groups=" + groups + ")";
    }

    /** {@code x}'s channels shuffled in {@code groups} groups, into a new array of {@code type}. */
    static INDArray shuffle(INDArray x, long groups, LayerWorkspaceMgr mgr, ArrayType type) {
        long n = x.size(0);
        long c = x.size(1);
        long h = x.size(2);
        long w = x.size(3);
        INDArray out = mgr.createUninitialized(type, x.dataType(), x.shape(), 'c');
        INDArray view = x.dup('c').reshape('c', n, groups, c / groups, h * w).permute(0, 2, 1, 3);
        out.reshape('c', n, c / groups, groups, h * w).assign(view);
        return out;
    }

    static final class Impl extends Running {
        private final int groups;

        Impl(ComputationGraph graph, String name, int idx, DataType dataType, int groups) {
            super(graph, name, idx, dataType);
            this.groups = groups;
        }

        @Override
        public INDArray doForward(boolean training, LayerWorkspaceMgr workspaceMgr) {
            return shuffle(inputs[0], groups, workspaceMgr, ArrayType.ACTIVATIONS);
        }

        @Override
        public Pair<Gradient, INDArray[]> doBackward(boolean tbptt, LayerWorkspaceMgr workspaceMgr) {
            long c = epsilon.size(1);
            return new Pair<>(new DefaultGradient(),
                    new INDArray[]{shuffle(epsilon, c / groups, workspaceMgr, ArrayType.ACTIVATION_GRAD)});
        }
    }
}
