package dev.cnn.accel;

import dev.cnn.zoo.layers.ChannelBlocked;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastCopyOp;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;

/**
 * DL4J's global pooling layer that can also read the blocked layout of {@link GraphPolicy#blockActivations}: average
 * pooling over the positions of an NCHW map without a mask, in which case its input (and its input's gradient) may hold
 * {@code [N, C / b, H, W, b]}; its output, {@code [N, C]} or {@code [N, C, 1, 1]}, is the same in either layout. The
 * squeeze-and-excitation gates of EfficientNet, MobileNetV3 and RegNetY and every network's head pool so read their
 * input where it is, instead of forcing the convolutions around them to NCHW and reorders between. Everything else runs
 * DL4J's code. {@link GraphPolicy#install} puts an instance in place of each global pooling layer.
 */
public final class BlockedGlobalPoolingLayer extends org.deeplearning4j.nn.layers.pooling.GlobalPoolingLayer
        implements ChannelBlocked {
    private volatile int block; // 0: NCHW input

    public BlockedGlobalPoolingLayer(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    /** Whether this layer can read blocked input: average pooling over dimensions 2 and 3 of a rank-4 input. */
    static boolean covers(org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer c) {
        int[] dims = c.getPoolingDimensions();
        return c.getPoolingType() == PoolingType.AVG
                && (dims == null || Arrays.equals(dims, new int[]{2, 3}));
    }

    @Override
    public void channelBlock(int block) {
        this.block = block > 1 ? block : 0;
    }

    @Override
    public int channelBlock() {
        return block;
    }

    private int blockFor(INDArray in) {
        int b = block;
        if (b == 0) {
            return 0;
        }
        if (in.rank() != 4 || maskArray != null || !covers(layerConf()) || in.size(1) % b != 0) {
            throw new IllegalStateException("global pooling on blocked activations not covered: "
                    + Arrays.toString(in.shape()) + (maskArray != null ? " with a mask" : "") + " " + layerId());
        }
        return b;
    }

    private long[] outputShape(long n, long c) {
        return layerConf().isCollapseDimensions() ? new long[]{n, c} : new long[]{n, c, 1, 1};
    }

    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(false);
        int b = blockFor(input);
        if (b == 0) {
            return super.activate(training, workspaceMgr);
        }
        INDArray in = input.dataType() == dataType ? input : input.castTo(dataType);
        INDArray out = workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, dataType,
                outputShape(in.size(0), in.size(1)), 'c');
        // [N, C/b, HW, b] averaged over HW: [N, C/b, b], channel c at [c / b, c % b], as NCHW's [N, C]
        out.assign(ChannelBlocked.blockedView(in, b).mean(2).reshape('c', out.shape()));
        return out;
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(true);
        int b = blockFor(input);
        if (b == 0) {
            return super.backpropGradient(epsilon, workspaceMgr);
        }
        long n = input.size(0);
        long c = input.size(1);
        long positions = input.size(2) * input.size(3);
        INDArray dx = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, epsilon.dataType(), input.shape(),
                'c');
        INDArray view = ChannelBlocked.blockedView(dx, b);
        INDArray e = epsilon.reshape('c', n, c / b, b).div(positions);
        Nd4j.exec(new BroadcastCopyOp(view, e, view, 0, 1, 3)); // each position gets its channel's share
        return new Pair<>(new DefaultGradient(), dx);
    }
}
