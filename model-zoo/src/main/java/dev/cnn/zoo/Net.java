package dev.cnn.zoo;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.LocalResponseNormalization;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.conf.layers.ZeroPaddingLayer;
import org.deeplearning4j.nn.weights.IWeightInit;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * Small fluent helper over DL4J's graph builder: each call adds one named layer fed by the previous one (or by the
 * vertices given with {@link #from(String...)}). Convolutions use explicit padding with truncation, i.e. PyTorch's
 * output-size rule {@code floor((in + 2p - k) / s) + 1}.
 */
final class Net {
    static final String INPUT = "input";

    private final ComputationGraphConfiguration.GraphBuilder g;
    private final ModelSpec spec;
    private String[] from = {INPUT};

    Net(ModelSpec spec) {
        this.spec = spec;
        this.g = new NeuralNetConfiguration.Builder()
                .seed(ModelSpec.nd4jSeed(spec.seed()))
                .updater(new Adam(1e-3))
                .weightInit(WeightInit.RELU)
                .convolutionMode(ConvolutionMode.Truncate)
                .graphBuilder()
                .addInputs(INPUT)
                .setInputTypes(InputType.convolutional(spec.height(), spec.width(), spec.channels(), format()));
    }

    /** Makes the next layer read from these vertices. */
    Net from(String... names) {
        this.from = names;
        return this;
    }

    /** The vertex the next layer reads from (single input). */
    String last() {
        return from[0];
    }

    private org.deeplearning4j.nn.conf.CNN2DFormat format() {
        return spec.nhwc() ? org.deeplearning4j.nn.conf.CNN2DFormat.NHWC : org.deeplearning4j.nn.conf.CNN2DFormat.NCHW;
    }

    private Net add(String name, org.deeplearning4j.nn.conf.layers.Layer layer) {
        g.addLayer(name, layer, from);
        from = new String[]{name};
        return this;
    }

    Net conv(String name, int out, int k, int stride, int pad, boolean bias, Activation act) {
        return add(name, convBuilder(out, k, stride, pad, bias, act).build());
    }

    private ConvolutionLayer.Builder convBuilder(int out, int k, int stride, int pad, boolean bias, Activation act) {
        return new ConvolutionLayer.Builder(k, k).stride(stride, stride).padding(pad, pad).nOut(out).hasBias(bias)
                .activation(act).dataFormat(format());
    }

    /**
     * Convolution with its own weight initialisation and {@code dropout}, the probability of dropping its input (0 =
     * none).
     */
    Net conv(String name, int out, int k, int stride, int pad, boolean bias, Activation act, IWeightInit init,
             double dropout) {
        ConvolutionLayer.Builder b = convBuilder(out, k, stride, pad, bias, act).weightInit(init);
        if (dropout > 0) {
            b.dropOut(1.0 - dropout); // DL4J takes the retain probability
        }
        return add(name, b.build());
    }

    /**
     * PyTorch's {@code Conv2d(..., groups)}: a {@link dev.cnn.zoo.layers.GroupedConvolution} where {@code groups > 1},
     * else DL4J's own convolution.
     */
    Net conv(String name, int out, int k, int stride, int pad, int groups, boolean bias,
             org.nd4j.linalg.activations.IActivation act) {
        ConvolutionLayer.Builder b = new ConvolutionLayer.Builder(k, k).stride(stride, stride).padding(pad, pad)
                .nOut(out).hasBias(bias).activation(act).dataFormat(format());
        return add(name, groups == 1 ? b.build() : new dev.cnn.zoo.layers.GroupedConvolution(b, groups));
    }

    /** A convolution with a {@code kh x kw} kernel and {@code ph, pw} padding (Inception's 1x7 and 7x1). */
    Net conv(String name, int out, int kh, int kw, int stride, int ph, int pw, boolean bias, Activation act) {
        return add(name, new ConvolutionLayer.Builder(kh, kw).stride(stride, stride).padding(ph, pw).nOut(out)
                .hasBias(bias).activation(act).dataFormat(format()).build());
    }

    /**
     * PyTorch's {@code avg_pool2d(x, k, stride, pad)} with its default {@code count_include_pad=True}: padded zeros
     * count in each window's divisor.
     */
    Net avgPool(String name, int k, int stride, int pad) {
        return add(name, new SubsamplingLayer.Builder(PoolingType.AVG).kernelSize(k, k).stride(stride, stride)
                .padding(pad, pad).avgPoolIncludePadInDivisor(true).dataFormat(format()).build());
    }

    /** Channels {@code [from, to]} (inclusive) of the current vertex (torchvision's {@code chunk} along channels). */
    Net channels(String name, int from, int to) {
        g.addVertex(name, new dev.cnn.zoo.layers.ChannelSliceVertex(from, to), this.from);
        this.from = new String[]{name};
        return this;
    }

    /** ShuffleNet's channel shuffle of the current vertex into {@code groups} groups. */
    Net channelShuffle(String name, int groups) {
        g.addVertex(name, new dev.cnn.zoo.layers.ChannelShuffleVertex(groups), this.from);
        this.from = new String[]{name};
        return this;
    }

    /** An activation layer with any activation function (ReLU6, Hardswish, SiLU, GELU, ...). */
    Net act(String name, org.nd4j.linalg.activations.IActivation act) {
        return add(name, new ActivationLayer.Builder().activation(act).build());
    }

    /**
     * torchvision's {@code SqueezeExcitation} on the current vertex, its layers named {@code prefix + "fc1"} and
     * {@code prefix + "fc2"} (1x1 convolutions with bias): global average pool, fc1 ({@code squeeze} channels) and
     * {@code inner}, fc2 ({@code channels}) and {@code gate}, then each input channel times its gate
     * ({@code prefix + "scale"}).
     */
    Net squeezeExcitation(String prefix, int channels, int squeeze, org.nd4j.linalg.activations.IActivation inner,
                          org.nd4j.linalg.activations.IActivation gate) {
        String in = last();
        add(prefix + "avgpool", new GlobalPoolingLayer.Builder(PoolingType.AVG).collapseDimensions(false)
                .poolingDimensions(spec.nhwc() ? new int[]{1, 2} : new int[]{2, 3}).build());
        conv(prefix + "fc1", squeeze, 1, 1, 0, 1, true, inner);
        conv(prefix + "fc2", channels, 1, 1, 0, 1, true, gate);
        g.addVertex(prefix + "scale", new dev.cnn.zoo.layers.ChannelScaleVertex(), in, last());
        from = new String[]{prefix + "scale"};
        return this;
    }

    /** torchvision's {@code StochasticDepth(rate, "row")}; nothing where {@code rate} is 0. */
    Net stochasticDepth(String name, double rate) {
        return rate > 0 ? add(name, new dev.cnn.zoo.layers.StochasticDepth(rate)) : this;
    }

    /** LayerNorm over the channels at each position (torchvision's {@code LayerNorm2d}). */
    Net layerNorm(String name, double eps) {
        return add(name, new dev.cnn.zoo.layers.ChannelLayerNorm(eps));
    }

    /** Per-channel learned factors starting at {@code init} (ConvNeXt's {@code layer_scale}). */
    Net layerScale(String name, double init) {
        return add(name, new dev.cnn.zoo.layers.LayerScale(init));
    }

    /** Global average pooling that keeps the map's rank ({@code [N, C, 1, 1]}). */
    Net globalAvgPoolKeepDims(String name) {
        return add(name, new GlobalPoolingLayer.Builder(PoolingType.AVG).collapseDimensions(false)
                .poolingDimensions(spec.nhwc() ? new int[]{1, 2} : new int[]{2, 3}).build());
    }

    Net bn(String name) {
        return bn(name, 1e-5);
    }

    Net bn(String name, double eps) {
        return add(name, new BatchNormalization.Builder().eps(eps).decay(0.9).dataFormat(format()).build());
    }

    Net relu(String name) {
        return add(name, new ActivationLayer.Builder().activation(Activation.RELU).build());
    }

    Net maxPool(String name, int k, int stride, int pad) {
        return add(name, new SubsamplingLayer.Builder(PoolingType.MAX).kernelSize(k, k).stride(stride, stride)
                .padding(pad, pad).dataFormat(format()).build());
    }

    /** A 2x2/2 average pool. */
    Net avgPool2(String name) {
        return add(name, new SubsamplingLayer.Builder(PoolingType.AVG).kernelSize(2, 2).stride(2, 2)
                .dataFormat(format()).build());
    }

    /**
     * Output side of PyTorch's {@code MaxPool2d(k, s, ceil_mode=True)} (no padding) on a side of {@code in}:
     * {@code ceil((in - k) / s) + 1}, one less where that last window would start outside the input; 0 where there
     * is no window.
     */
    static int ceilPoolSize(int in, int k, int s) {
        if (in < 1) {
            return 0;
        }
        int out = Math.floorDiv(in - k + s - 1, s) + 1;
        if ((out - 1) * s >= in) {
            out--;
        }
        return Math.max(out, 0);
    }

    /** torchvision's {@code _make_divisible}: {@code v} rounded to a multiple of {@code divisor}, never 10% below. */
    static int makeDivisible(double v, int divisor) {
        int n = Math.max(divisor, (int) (v + divisor / 2.0) / divisor * divisor);
        return n < 0.9 * v ? n + divisor : n;
    }

    /** The smallest input side for which {@code lastMapSize} (input side to the last feature map's) is at least 1. */
    static int smallestInput(java.util.function.IntUnaryOperator lastMapSize) {
        int s = 1;
        while (lastMapSize.applyAsInt(s) < 1) {
            s++;
        }
        return s;
    }

    /**
     * PyTorch's {@code MaxPool2d(k, s, ceil_mode=True)} on an {@code h}x{@code w} map of values &gt;= 0 (ReLU
     * outputs): where rounding up gives one more window than DL4J's truncating pool, zeros below and to the right
     * ({@code name.pad}) add it, which changes no maximum. Returns the pooled size {@code {h, w}}.
     */
    int[] maxPoolCeil(String name, int k, int s, int h, int w) {
        int oh = ceilPoolSize(h, k, s);
        int ow = ceilPoolSize(w, k, s);
        int bottom = (oh - 1) * s + k - h;
        int right = (ow - 1) * s + k - w;
        if (bottom > 0 || right > 0) {
            add(name + ".pad", new ZeroPaddingLayer.Builder(0, Math.max(bottom, 0), 0, Math.max(right, 0))
                    .dataFormat(format()).build());
        }
        maxPool(name, k, s, 0);
        return new int[]{oh, ow};
    }

    Net lrn(String name) {
        return add(name, new LocalResponseNormalization.Builder().k(2).n(5).alpha(1e-4).beta(0.75)
                .dataFormat(format()).build());
    }

    Net globalAvgPool(String name) {
        return add(name, new GlobalPoolingLayer.Builder(PoolingType.AVG)
                .poolingDimensions(spec.nhwc() ? new int[]{1, 2} : new int[]{2, 3}).build());
    }

    /** Fully connected layer; {@code dropout} is the probability of dropping its input (0 = none). */
    Net dense(String name, int out, Activation act, double dropout) {
        DenseLayer.Builder b = new DenseLayer.Builder().nOut(out).activation(act).weightInit(WeightInit.XAVIER);
        if (dropout > 0) {
            b.dropOut(1.0 - dropout); // DL4J takes the retain probability
        }
        return add(name, b.build());
    }

    /** Softmax classifier with cross-entropy loss over {@link ModelSpec#numClasses()}. */
    Net output(String name, double dropout) {
        OutputLayer.Builder b = new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT)
                .nOut(spec.numClasses()).activation(Activation.SOFTMAX).weightInit(WeightInit.XAVIER);
        if (dropout > 0) {
            b.dropOut(1.0 - dropout);
        }
        return add(name, b.build());
    }

    /**
     * Softmax with cross-entropy loss over the incoming {@link ModelSpec#numClasses()} values, without parameters: the
     * output of a network whose classifier comes before it (a convolution and pooling).
     */
    Net softmaxLoss(String name) {
        LossLayer l = new LossLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX).build();
        l.setNIn(spec.numClasses()); // its builder refuses sizes; without them its output type has size 0
        l.setNOut(spec.numClasses());
        return add(name, l);
    }

    /** Element-wise sum of two vertices. */
    Net sum(String name, String a, String b) {
        g.addVertex(name, new ElementWiseVertex(ElementWiseVertex.Op.Add), a, b);
        from = new String[]{name};
        return this;
    }

    /** {@code factor} times a vertex (0: zeros of its shape, for parameter-free channel padding). */
    Net scale(String name, String a, double factor) {
        g.addVertex(name, new org.deeplearning4j.nn.conf.graph.ScaleVertex(factor), a);
        from = new String[]{name};
        return this;
    }

    /** Concatenation along channels. */
    Net concat(String name, String... inputs) {
        g.addVertex(name, new org.deeplearning4j.nn.conf.graph.MergeVertex(), inputs);
        from = new String[]{name};
        return this;
    }

    ComputationGraphConfiguration build() {
        g.setOutputs(from);
        return g.build();
    }
}
