package dev.cnn.zoo;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.distribution.NormalDistribution;
import org.deeplearning4j.nn.weights.WeightInit;
import org.deeplearning4j.nn.weights.WeightInitDistribution;
import org.nd4j.linalg.activations.Activation;

/**
 * SqueezeNet (Iandola et al. 2016) as in torchvision: a strided stem convolution, then Fire modules and 3x3/2 max
 * pools from a table, then the classifier: dropout 0.5, a 1x1 convolution to the classes, ReLU and global average
 * pooling. A Fire module squeezes with a 1x1 convolution and expands with a 1x1 and a 3x3 convolution (padding 1) of
 * four times the squeeze width each, concatenated; every convolution has a bias and a ReLU. {@code squeezenet1_0}
 * has a 96-channel 7x7 stem (1,248,424 parameters at 3x224x224, 1000 classes); {@code squeezenet1_1} a 64-channel
 * 3x3 stem and its pools earlier (1,235,496 parameters, 2.4x fewer multiply-adds). Layer names follow torchvision's
 * modules ({@code features.3.squeeze}, {@code features.3.expand3x3}, {@code classifier.1}); each Fire module's
 * concatenation is named after the module ({@code features.3}), the ReLUs are the convolutions' activations, the
 * dropout is that of {@code classifier.1} (on its input).
 *
 * <p>The classifier is a convolution, not the network's output layer: torchvision's logits are the average over the
 * map of the ReLU'd convolution, which no dense layer after the pooling computes. The graph ends with a softmax
 * {@code LossLayer} (MCXENT, no parameters) named {@code softmax} reading the pooled logits, so the head that
 * {@link #headLayer()} names is {@code classifier.1}, the last layer with parameters, and the layers after it have
 * none: {@code GraphQueries.defaultCut} walks past them to {@code classifier.1} and cuts at its input, the last Fire
 * module {@code features.12} ({@link #featureLayer()}), where {@code cnn finetune} puts its usual head (pooling and a
 * dense softmax layer); a weights import with other classes re-initialises {@code classifier.1}.
 *
 * <p>torchvision's max pools round up ({@code ceil_mode=True}); DL4J's have no such mode. Every pool here reads a
 * ReLU's output, so values are &gt;= 0 and a zero row or column added below or to the right does not change any
 * maximum: where rounding up gives one more window than rounding down, a {@code ZeroPaddingLayer}
 * ({@code features.N.pad}) adds it before a truncating pool, sized from the map size the input gives. The result is
 * PyTorch's ceil mode exactly, including its rule that the last window starts inside the input.
 *
 * <p>Initialisation as torchvision's (seeded): Kaiming-uniform convolutions, the classifier from N(0, 0.01), zero
 * biases.
 */
final class SqueezeNet implements Architecture {
    /** A 3x3/2 max pool (ceil mode) in a Fire table. */
    private static final int M = -1;
    private static final int POOL = 3;
    private static final int POOL_STRIDE = 2;
    private static final int STEM_STRIDE = 2;

    /** torchvision's versions: stem width and kernel, then its {@code features} from index 2 (squeeze widths, M). */
    enum Version {
        SQUEEZENET1_0(96, 7, new int[]{M, 16, 16, 32, M, 32, 48, 48, 64, M, 64}),
        SQUEEZENET1_1(64, 3, new int[]{M, 16, 16, M, 32, 32, M, 48, 48, 64, 64});

        final int stem;
        final int stemKernel;
        final int[] features;

        Version(int stem, int stemKernel, int[] features) {
            this.stem = stem;
            this.stemKernel = stemKernel;
            this.features = features;
        }
    }

    private final Version version;

    SqueezeNet(Version version) {
        this.version = version;
    }

    @Override
    public String name() {
        return version.name().toLowerCase();
    }

    @Override
    public String description() {
        return "SqueezeNet " + name().substring(10).replace('_', '.') + " (Fire modules, " + version.stem + "-channel "
                + version.stemKernel + "x" + version.stemKernel + " stem, torchvision layout)";
    }

    /** The smallest input whose last feature map is at least 1x1 (torchvision's {@code min_size}: 21 and 17). */
    @Override
    public int minInputSize() {
        return Net.smallestInput(this::featureMapSize);
    }

    @Override
    public String headLayer() {
        return "classifier.1";
    }

    @Override
    public String featureLayer() {
        return "features.12";
    }

    /** Side of the last feature map ({@code features.12}) for an input side of {@code in}; 0 if too small. */
    int featureMapSize(int in) {
        int s = in < version.stemKernel ? 0 : (in - version.stemKernel) / STEM_STRIDE + 1;
        for (int v : version.features) {
            if (v == M) {
                s = ceilPoolSize(s);
            }
        }
        return s;
    }

    /**
     * Output side of PyTorch's {@code MaxPool2d(3, 2, ceil_mode=True)} on a side of {@code in}: {@code ceil((in - 3) /
     * 2) + 1}, one less where that last window would start outside the input; 0 where there is no window.
     */
    static int ceilPoolSize(int in) {
        return Net.ceilPoolSize(in, POOL, POOL_STRIDE);
    }

    @Override
    public ComputationGraphConfiguration configuration(ModelSpec spec) {
        checkInput(spec);
        int k = version.stemKernel;
        // features.1 (ReLU) is the stem's activation
        Net n = new Net(spec).conv("features.0", version.stem, k, STEM_STRIDE, 0, true, Activation.RELU,
                WeightInit.RELU_UNIFORM.getWeightInitFunction(), 0);
        int h = (spec.height() - k) / STEM_STRIDE + 1;
        int w = (spec.width() - k) / STEM_STRIDE + 1;
        int idx = 2;
        for (int v : version.features) {
            String name = "features." + idx++;
            if (v == M) {
                // ceil mode as zero padding: exact because the pooled values are ReLU outputs (see class doc)
                int[] hw = n.maxPoolCeil(name, POOL, POOL_STRIDE, h, w);
                h = hw[0];
                w = hw[1];
            } else {
                fire(n, name, v);
            }
        }
        return n.conv("classifier.1", spec.numClasses(), 1, 1, 0, true, Activation.RELU,
                        new WeightInitDistribution(new NormalDistribution(0, 0.01)), 0.5)
                .globalAvgPool("classifier.3")
                .softmaxLoss("softmax")
                .build();
    }

    /** A Fire module: squeeze to {@code squeeze} channels, expand to 4x that by 1x1 and by 3x3, concatenated. */
    private static void fire(Net n, String name, int squeeze) {
        var init = WeightInit.RELU_UNIFORM.getWeightInitFunction();
        n.conv(name + ".squeeze", squeeze, 1, 1, 0, true, Activation.RELU, init, 0)
                .conv(name + ".expand1x1", 4 * squeeze, 1, 1, 0, true, Activation.RELU, init, 0)
                .from(name + ".squeeze")
                .conv(name + ".expand3x3", 4 * squeeze, 3, 1, 1, true, Activation.RELU, init, 0)
                .concat(name, name + ".expand1x1", name + ".expand3x3");
    }
}
