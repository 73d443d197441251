package dev.cnn.zoo.layers;

import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.convolution.ConvolutionHelper;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.activations.impl.ActivationIdentity;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * The running {@link GroupedConvolution}. With a helper installed (the engine's oneDNN helper, which reads the group
 * count from the weights' shape) forward and backward passes run there; otherwise, or where the helper declines,
 * on libnd4j's ops: {@code depthwise_conv2d} for a depthwise convolution, else {@code conv2d} once per group.
 */
public class GroupedConvolutionLayer extends org.deeplearning4j.nn.layers.convolution.ConvolutionLayer {
    private static final String W = "W";
    private static final String B = "b";
    /** Whether the last forward pass ran on the helper, which may have applied the activation inside. */
    private boolean helperRan;

    public GroupedConvolutionLayer(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
        helper = null; // DL4J's own helpers (cuDNN, MKL-DNN) know no groups; the engine may install one that does
    }

    private GroupedConvolution grouped() {
        return (GroupedConvolution) layerConf();
    }

    /** The helper the forward and backward passes try first (null: libnd4j's ops). */
    public ConvolutionHelper convolutionHelper() {
        return helper;
    }

    public void setConvolutionHelper(ConvolutionHelper h) {
        helper = h;
    }

    @Override
    protected void validateInputDepth(long inDepth) {
        // the weights hold nIn / groups input channels: checked against the configuration in preOutput
    }

    private boolean nhwc() {
        return layerConf().getCnn2dDataFormat() == CNN2DFormat.NHWC;
    }

    private int channelDim() {
        return nhwc() ? 3 : 1;
    }

    private int[] padding() {
        if (layerConf().getConvolutionMode() == ConvolutionMode.Same) {
            throw new UnsupportedOperationException("GroupedConvolution " + layerConf().getLayerName()
                    + ": ConvolutionMode.Same is not supported; give explicit padding");
        }
        return layerConf().getPadding();
    }

    private INDArray biasOrZeros() {
        if (hasBias()) {
            return getParam(B);
        }
        if (dummyBias == null || dummyBias.dataType() != dataType) {
            try (MemoryWorkspace ws = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
                dummyBias = Nd4j.zeros(dataType, layerConf().getNOut());
            }
        }
        return dummyBias;
    }

    @Override
    protected Pair<INDArray, INDArray> preOutput(boolean training, boolean forBackprop,
                                                 LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(false);
        if (input.rank() != 4 || input.size(channelDim()) != layerConf().getNIn()) {
            throw new IllegalArgumentException("GroupedConvolution " + layerConf().getLayerName() + ": expected "
                    + layerConf().getNIn() + " input channels in a rank-4 input, got shape "
                    + java.util.Arrays.toString(input.shape()));
        }
        INDArray weights = getParamWithNoise(W, training, workspaceMgr);
        INDArray bias = biasOrZeros();
        GroupedConvolution c = grouped();
        int[] pad = padding();
        helperRan = false;
        if (helper != null) {
            INDArray z = helper.preOutput(input, weights, bias, c.getKernelSize(), c.getStride(), pad,
                    c.getCudnnAlgoMode(), c.getCudnnFwdAlgo(), c.getConvolutionMode(), c.getDilation(),
                    c.getCnn2dDataFormat(), workspaceMgr);
            if (z != null) {
                helperRan = true;
                return new Pair<>(z, null);
            }
        }
        long[] outShape = outputShape(input, c, pad);
        INDArray z = workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, input.dataType(), outShape, 'c');
        forward(input, weights, z);
        if (hasBias()) {
            z.addi(bias.reshape(nhwc() ? new long[]{1, 1, 1, c.getNOut()} : new long[]{1, c.getNOut(), 1, 1}));
        }
        return new Pair<>(z, null);
    }

    private long[] outputShape(INDArray x, GroupedConvolution c, int[] pad) {
        int[] k = c.getKernelSize();
        int[] s = c.getStride();
        int[] d = c.getDilation();
        long h = x.size(nhwc() ? 1 : 2);
        long w = x.size(nhwc() ? 2 : 3);
        long oh = (h + 2L * pad[0] - (long) d[0] * (k[0] - 1) - 1) / s[0] + 1;
        long ow = (w + 2L * pad[1] - (long) d[1] * (k[1] - 1) - 1) / s[1] + 1;
        return nhwc() ? new long[]{x.size(0), oh, ow, c.getNOut()} : new long[]{x.size(0), c.getNOut(), oh, ow};
    }

    private int[] iArgs() {
        GroupedConvolution c = grouped();
        int[] k = c.getKernelSize();
        int[] s = c.getStride();
        int[] p = padding();
        int[] d = c.getDilation();
        // kH, kW, sH, sW, pH, pW, dH, dW, padding mode (0: explicit), data format (0 NCHW, 1 NHWC), weights
        // format (1: [out, in, kH, kW])
        return new int[]{k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1], 0, nhwc() ? 1 : 0, 1};
    }

    private INDArray channels(INDArray a, long from, long to) {
        INDArrayIndex[] idx = {NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all()};
        idx[channelDim()] = NDArrayIndex.interval(from, to);
        return a.get(idx);
    }

    private static INDArray rows(INDArray a, long from, long to) {
        return a.get(NDArrayIndex.interval(from, to), NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all());
    }

    /**
     * {@code z = conv(x, w)} without bias on libnd4j's ops. Slices are taken from dense copies: ND4J 1.0.0-M2.1's
     * {@code get(interval)} along the first dimension of a parameter view (an offset into the flat parameters)
     * returned empty arrays past the first slice.
     */
    private void forward(INDArray x, INDArray w, INDArray z) {
        GroupedConvolution c = grouped();
        x = x.dup('c');
        w = w.dup('c');
        int g = c.getGroups();
        if (g == 1) {
            exec("conv2d", new INDArray[]{x, w}, new INDArray[]{z});
        } else if (c.depthwise()) {
            exec("depthwise_conv2d", new INDArray[]{x, depthwiseWeights(w)}, new INDArray[]{z});
        } else {
            long cin = c.getNIn() / g;
            long cout = c.getNOut() / g;
            for (int i = 0; i < g; i++) {
                INDArray zg = Nd4j.createUninitialized(z.dataType(), shapeWithChannels(z.shape(), cout), 'c');
                exec("conv2d", new INDArray[]{channels(x, i * cin, (i + 1) * cin).dup('c'),
                        rows(w, i * cout, (i + 1) * cout).dup('c')}, new INDArray[]{zg});
                channels(z, i * cout, (i + 1) * cout).assign(zg);
            }
        }
    }

    /** PyTorch's depthwise weights [C, 1, kH, kW] as libnd4j's [multiplier 1, C, kH, kW] (the same memory). */
    private static INDArray depthwiseWeights(INDArray w) {
        return w.dup('c').reshape('c', 1, w.size(0), w.size(2), w.size(3));
    }

    private long[] shapeWithChannels(long[] shape, long channels) {
        long[] s = shape.clone();
        s[channelDim()] = channels;
        return s;
    }

    private void exec(String op, INDArray[] in, INDArray[] out) {
        Nd4j.exec(DynamicCustomOp.builder(op).addInputs(in).addOutputs(out).addIntegerArguments(iArgs()).build());
    }

    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
        applyDropOutIfNecessary(training, workspaceMgr);
        INDArray z = preOutput(training, false, workspaceMgr).getFirst();
        IActivation afn = layerConf().getActivationFn();
        if (helperRan) { // the helper may have applied the activation itself (an inference copy's fused ReLU)
            INDArray a = helper.activate(z, afn, training);
            if (a != null) {
                return a;
            }
        }
        return afn.getActivation(z, training);
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(true);
        GroupedConvolution c = grouped();
        IActivation afn = c.getActivationFn();
        INDArray delta;
        if (afn == null || afn instanceof ActivationIdentity) {
            delta = epsilon;
        } else {
            INDArray z = preOutput(true, true, workspaceMgr).getFirst();
            delta = afn.backprop(z, epsilon).getFirst();
        }
        INDArray weights = getParamWithNoise(W, true, workspaceMgr);
        INDArray weightGrad = gradientViews.get(W);
        INDArray biasGrad = hasBias() ? gradientViews.get(B) : null;
        int[] pad = padding();
        Pair<Gradient, INDArray> ret = null;
        if (helper != null) {
            ret = helper.backpropGradient(input, weights, hasBias() ? getParam(B) : null, delta, c.getKernelSize(),
                    c.getStride(), pad, biasGrad, weightGrad, afn, c.getCudnnAlgoMode(), c.getCudnnBwdFilterAlgo(),
                    c.getCudnnBwdDataAlgo(), c.getConvolutionMode(), c.getDilation(), c.getCnn2dDataFormat(),
                    workspaceMgr);
        }
        if (ret == null) {
            INDArray eps = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, input.dataType(),
                    input.shape(), 'c');
            backward(input, weights, delta.dup('c'), eps, weightGrad);
            Gradient grad = new DefaultGradient();
            if (biasGrad != null) {
                biasGrad.assign(delta.sum(nhwc() ? new int[]{0, 1, 2} : new int[]{0, 2, 3}));
                grad.gradientForVariable().put(B, biasGrad);
            }
            grad.gradientForVariable().put(W, weightGrad);
            ret = new Pair<>(grad, eps);
        }
        weightNoiseParams.clear();
        ret.setSecond(backpropDropOutIfPresent(ret.getSecond()));
        return ret;
    }

    /** Input gradient into {@code eps}, weight gradient into {@code wGrad}, on libnd4j's ops. */
    private void backward(INDArray x, INDArray w, INDArray delta, INDArray eps, INDArray wGrad) {
        GroupedConvolution c = grouped();
        x = x.dup('c');
        w = w.dup('c');
        int g = c.getGroups();
        if (g == 1) {
            INDArray gw = Nd4j.createUninitialized(w.dataType(), w.shape(), 'c');
            exec("conv2d_bp", new INDArray[]{x, w, delta}, new INDArray[]{eps, gw});
            wGrad.assign(gw);
        } else if (c.depthwise()) {
            INDArray dw = depthwiseWeights(w);
            INDArray gw = Nd4j.createUninitialized(w.dataType(), dw.shape(), 'c');
            exec("depthwise_conv2d_bp", new INDArray[]{x, dw, delta}, new INDArray[]{eps, gw});
            wGrad.assign(gw.reshape('c', w.shape()));
        } else {
            long cin = c.getNIn() / g;
            long cout = c.getNOut() / g;
            INDArray e = Nd4j.createUninitialized(x.dataType(), x.shape(), 'c');
            INDArray wg2 = Nd4j.createUninitialized(w.dataType(), w.shape(), 'c');
            for (int i = 0; i < g; i++) {
                INDArray xg = channels(x, i * cin, (i + 1) * cin).dup('c');
                INDArray wg = rows(w, i * cout, (i + 1) * cout).dup('c');
                INDArray eg = Nd4j.createUninitialized(x.dataType(), xg.shape(), 'c');
                INDArray gw = Nd4j.createUninitialized(w.dataType(), wg.shape(), 'c');
                exec("conv2d_bp", new INDArray[]{xg, wg, channels(delta, i * cout, (i + 1) * cout).dup('c')},
                        new INDArray[]{eg, gw});
                channels(e, i * cin, (i + 1) * cin).assign(eg);
                rows(wg2, i * cout, (i + 1) * cout).assign(gw);
            }
            eps.assign(e);
            wGrad.assign(wg2);
        }
    }
}
