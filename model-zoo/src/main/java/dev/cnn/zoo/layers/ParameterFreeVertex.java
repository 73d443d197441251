package dev.cnn.zoo.layers;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.MaskState;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.memory.LayerMemoryReport;
import org.deeplearning4j.nn.conf.memory.MemoryReport;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.BaseGraphVertex;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A graph vertex without parameters whose output has its first input's type: what the zoo's channel gate and
 * channel shuffle share, configuration and running side.
 */
abstract class ParameterFreeVertex extends org.deeplearning4j.nn.conf.graph.GraphVertex {
    private final int inputs;

    ParameterFreeVertex(int inputs) {
        this.inputs = inputs;
    }

    @Override
    public long numParams(boolean backprop) {
        return 0;
    }

    @Override
    public int minVertexInputs() {
        return inputs;
    }

    @Override
    public int maxVertexInputs() {
        return inputs;
    }

    @Override
    public InputType getOutputType(int layerIndex, InputType... vertexInputs) {
        return vertexInputs[0];
    }

    @Override
    public MemoryReport getMemoryReport(InputType... inputTypes) {
        return new LayerMemoryReport.Builder(null, getClass(), inputTypes[0], inputTypes[0])
                .standardMemory(0, 0).workingMemory(0, 0, 0, 0).cacheMemory(0, 0).build();
    }

    /** The running vertex: no layer, no parameters, masks passed through. */
    abstract static class Running extends BaseGraphVertex {
        Running(ComputationGraph graph, String name, int idx, DataType dataType) {
            super(graph, name, idx, null, null, dataType);
        }

        @Override
        public boolean hasLayer() {
            return false;
        }

        @Override
        public Layer getLayer() {
            return null;
        }

        @Override
        public void setBackpropGradientsViewArray(INDArray backpropGradientsViewArray) {
            if (backpropGradientsViewArray != null && backpropGradientsViewArray.length() > 0) {
                throw new IllegalArgumentException(getClass().getEnclosingClass().getSimpleName()
                        + " has no parameters");
            }
        }

        @Override
        public Pair<INDArray, MaskState> feedForwardMaskArrays(INDArray[] maskArrays, MaskState currentMaskState,
                                                               int minibatchSize) {
            return new Pair<>(maskArrays == null ? null : maskArrays[0], currentMaskState);
        }

        @Override
        public String toString() {
            return getClass().getEnclosingClass().getSimpleName() + "(" + vertexName + ")";
        }
    }
}
