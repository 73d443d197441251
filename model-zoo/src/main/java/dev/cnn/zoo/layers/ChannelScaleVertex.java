package dev.cnn.zoo.layers;

import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastMulOp;
import org.nd4j.linalg.api.ops.impl.transforms.pairwise.arithmetic.MulOp;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The multiply of squeeze-and-excitation (Hu et al. 2018; MobileNetV3, EfficientNet, RegNetY): each channel of the
 * first input, a feature map {@code [N, C, H, W]}, times its gate, the second input {@code [N, C, 1, 1]} (or
 * {@code [N, C]}), as PyTorch's {@code scale * input} broadcasts it. DL4J's element-wise vertex needs equal shapes.
 * NCHW, or the channel-blocked layout an engine keeps between its convolutions ({@link ChannelBlocked}; the gate,
 * {@code [N, C, 1, 1]}, is the same bytes in both). Gradients: the map's is the upstream gradient times the gate; the
 * gate's the sum over each channel's positions of the upstream gradient times the map.
 */
public class ChannelScaleVertex extends ParameterFreeVertex {
    public ChannelScaleVertex() {
        super(2);
    }

    @Override
    public ChannelScaleVertex clone() {
        return new ChannelScaleVertex();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ChannelScaleVertex;
    }

    @Override
    public int hashCode() {
        return ChannelScaleVertex.class.hashCode();
    }

    @Override
    public org.deeplearning4j.nn.graph.vertex.GraphVertex instantiate(ComputationGraph graph, String name, int idx,
                                                                        INDArray paramsView, boolean initializeParams,
                                                                        DataType networkDatatype) {
        return new Impl(graph, name, idx, networkDatatype);
    }

    @Override
    public String toString() {
        return "ChannelScaleVertex()";
    }

    static final class Impl extends Running implements ChannelBlocked {
        private volatile int block; // 0: NCHW

        Impl(ComputationGraph graph, String name, int idx, DataType dataType) {
            super(graph, name, idx, dataType);
        }

        @Override
        public void channelBlock(int block) {
            this.block = block > 1 ? block : 0;
        }

        @Override
        public int channelBlock() {
            return block;
        }

        private static INDArray gate(INDArray g) {
            return g.reshape(g.size(0), g.size(1));
        }

        /** {@code out = x * gate} per channel, in the layout with block {@code b} (0: NCHW). */
        private static void scale(INDArray x, INDArray g, INDArray out, int b) {
            if (b == 0) {
                Nd4j.exec(new BroadcastMulOp(x, gate(g), out, 0, 1));
            } else { // [N C/b, HW, b] times [N C/b, 1, b], broadcast (libnd4j's multiply: 2x its BroadcastMulOp here)
                long nc = x.size(0) * (x.size(1) / b);
                long hw = x.size(2) * x.size(3);
                Nd4j.exec(new MulOp(x.reshape('c', nc, hw, b), g.reshape('c', nc, 1, b), out.reshape('c', nc, hw, b)));
            }
        }

        @Override
        public INDArray doForward(boolean training, LayerWorkspaceMgr workspaceMgr) {
            INDArray x = inputs[0];
            INDArray out = workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, x.dataType(), x.shape(), 'c');
            scale(x, inputs[1].castTo(x.dataType()), out, block);
            return out;
        }

        @Override
        public Pair<Gradient, INDArray[]> doBackward(boolean tbptt, LayerWorkspaceMgr workspaceMgr) {
            INDArray x = inputs[0];
            INDArray g = inputs[1];
            int b = block; // one layout for both gradients
            INDArray dx = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, x.dataType(), x.shape(), 'c');
            INDArray dg = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, g.dataType(), g.shape(), 'c');
            // epsilon * x goes through dx's memory before dx's own values: a temporary of the map's size would spill
            // out of DL4J's gradient workspace (sized to one such map) into fresh memory on every step
            Nd4j.exec(new MulOp(epsilon, x, dx));
            dg.assign(b == 0 ? dx.sum(2, 3).reshape(g.shape())
                    : ChannelBlocked.blockedView(dx, b).sum(2).reshape('c', g.shape()));
            scale(epsilon, g, dx, b);
            return new Pair<>(new DefaultGradient(), new INDArray[]{dx, dg});
        }
    }
}
