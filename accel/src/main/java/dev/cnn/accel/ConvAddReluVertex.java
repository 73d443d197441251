package dev.cnn.accel;

import org.bytedeco.dnnl.memory;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.MaskState;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.memory.MemoryReport;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.BaseGraphVertex;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Inference-only graph vertex for the end of a residual block: {@code relu(conv(x) + shortcut)} as one oneDNN
 * convolution with a sum and a ReLU post-op, replacing a convolution, DL4J's {@code ElementWiseVertex(Add)} and an
 * {@code ActivationLayer(ReLU)} (each of which copies its input first). Inputs: {@code x}, then the shortcut. The
 * convolution's weights live in this vertex, not in the network's parameters: only for inference copies that are
 * never trained or saved (see {@code InferenceGraph}); backpropagation throws.
 */
public final class ConvAddReluVertex extends org.deeplearning4j.nn.conf.graph.GraphVertex {
    private final ConvolutionLayer conv;
    private final INDArray weights;
    private final INDArray bias;

    /**
     * @param conv    the convolution's configuration (identity activation)
     * @param weights its weights, [out, in, kH, kW], detached from any workspace
     * @param bias    its bias, [1, out]
     */
    public ConvAddReluVertex(ConvolutionLayer conv, INDArray weights, INDArray bias) {
        this.conv = conv;
        this.weights = weights;
        this.bias = bias;
    }

    @Override
    public ConvAddReluVertex clone() {
        return new ConvAddReluVertex((ConvolutionLayer) conv.clone(), weights, bias);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ConvAddReluVertex v && v.conv.equals(conv) && v.weights == weights && v.bias == bias;
    }

    @Override
    public int hashCode() {
        return conv.hashCode();
    }

    @Override
    public long numParams(boolean backprop) {
        return 0;
    }

    @Override
    public int minVertexInputs() {
        return 2;
    }

    @Override
    public int maxVertexInputs() {
        return 2;
    }

    @Override
    public GraphVertex instantiate(ComputationGraph graph, String name, int idx, INDArray paramsView,
                                   boolean initializeParams, DataType networkDatatype) {
        return new Impl(graph, name, idx, networkDatatype, this);
    }

    @Override
    public InputType getOutputType(int layerIndex, InputType... vertexInputs) {
        return vertexInputs[1];
    }

    @Override
    public MemoryReport getMemoryReport(InputType... inputTypes) {
        throw new UnsupportedOperationException("ConvAddReluVertex: no memory report (inference-only copies)");
    }

    /** The vertex itself. */
    static final class Impl extends BaseGraphVertex {
        private final ConvAddReluVertex conf;
        private final DnnlConvHelper helper = new DnnlConvHelper(null, true, true);
        private boolean shortcutBlocked;
        private boolean outBlocked;
        private Dnnl.Reorder shortcutToOut; // when the shortcut and the output differ in layout
        private long[] reorderShape;

        Impl(ComputationGraph graph, String name, int idx, DataType dataType, ConvAddReluVertex conf) {
            super(graph, name, idx, null, null, dataType);
            this.conf = conf;
        }

        /** See {@link GraphPolicy#blockActivations}: which of x, the shortcut and the output hold the blocked layout. */
        void blocked(boolean x, boolean shortcut, boolean out) {
            helper.blocked(x, out);
            shortcutBlocked = shortcut;
            outBlocked = out;
            shortcutToOut = null;
        }

        boolean anyBlocked() {
            return helper.srcBlocked() || shortcutBlocked || outBlocked;
        }

        long channels() {
            return conf.conv.getNOut();
        }

        boolean nchw() {
            return conf.conv.getCnn2dDataFormat() != org.deeplearning4j.nn.conf.CNN2DFormat.NHWC;
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
        public INDArray doForward(boolean training, LayerWorkspaceMgr workspaceMgr) {
            if (!canDoForward()) {
                throw new IllegalStateException("ConvAddReluVertex " + vertexName + ": inputs not set");
            }
            ConvolutionLayer c = conf.conv;
            INDArray shortcut = inputs[1];
            INDArray out;
            if (shortcutBlocked == outBlocked) {
                out = workspaceMgr.dup(ArrayType.ACTIVATIONS, shortcut, 'c');
            } else {
                out = workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, shortcut.dataType(), shortcut.shape(),
                        'c');
                if (shortcutToOut == null || !java.util.Arrays.equals(reorderShape, shortcut.shape())) {
                    reorderShape = shortcut.shape();
                    memory.desc plain = Dnnl.desc(reorderShape, memory.format_tag.nchw);
                    memory.desc blocked = Dnnl.desc(reorderShape, Dnnl.blockedTag());
                    shortcutToOut = shortcutBlocked ? new Dnnl.Reorder(blocked, plain)
                            : new Dnnl.Reorder(plain, blocked);
                }
                shortcutToOut.run(Dnnl.dense(shortcut), out);
            }
            helper.convolveAddRelu(inputs[0], conf.weights, conf.bias, c.getKernelSize(), c.getStride(),
                    c.getPadding(), c.getConvolutionMode(), c.getDilation(), c.getCnn2dDataFormat(), out);
            return out;
        }

        @Override
        public Pair<Gradient, INDArray[]> doBackward(boolean tbptt, LayerWorkspaceMgr workspaceMgr) {
            throw new UnsupportedOperationException("ConvAddReluVertex " + vertexName + " is inference-only");
        }

        @Override
        public void setBackpropGradientsViewArray(INDArray backpropGradientsViewArray) {
            if (backpropGradientsViewArray != null && backpropGradientsViewArray.length() > 0) {
                throw new UnsupportedOperationException("ConvAddReluVertex has no parameters");
            }
        }

        @Override
        public Pair<INDArray, MaskState> feedForwardMaskArrays(INDArray[] maskArrays, MaskState currentMaskState,
                                                               int minibatchSize) {
            return new Pair<>(maskArrays == null ? null : maskArrays[0], currentMaskState);
        }

        @Override
        public String toString() {
            return "ConvAddReluVertex(" + vertexName + ")";
        }
    }
}
