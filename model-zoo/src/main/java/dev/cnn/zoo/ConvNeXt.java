package dev.cnn.zoo;

import dev.cnn.zoo.layers.ActivationGelu;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.activations.IActivation;

/**
 * ConvNeXt Tiny and Small (Liu et al. 2022) as torchvision builds them: a 4x4/4 patchify stem, blocks of a 7x7
 * depthwise convolution, channel LayerNorm, an inverted 4x MLP with exact GELU (torchvision's {@code Linear} layers
 * on the channels-last view, here 1x1 convolutions with the same weights), layer scale (1e-6 at start) and
 * stochastic depth (linear to 0.1 / 0.4), and LayerNorm + 2x2/2 convolutions between stages. Names follow
 * torchvision's ({@code features.5.3.block.3}, {@code features.5.3.layer_scale}).
 */
final class ConvNeXt implements Architecture {
    enum Variant {
        CONVNEXT_TINY(new int[]{3, 3, 9, 3}, 0.1),
        CONVNEXT_SMALL(new int[]{3, 3, 27, 3}, 0.4);

        final int[] blocks;
        final double stochasticDepth;

        Variant(int[] blocks, double stochasticDepth) {
            this.blocks = blocks;
            this.stochasticDepth = stochasticDepth;
        }
    }

    private static final int[] DIMS = {96, 192, 384, 768};
    private static final double EPS = 1e-6;
    private static final IActivation NONE = Activation.IDENTITY.getActivationFunction();

    private final Variant variant;

    ConvNeXt(Variant variant) {
        this.variant = variant;
    }

    @Override
    public String name() {
        return variant.name().toLowerCase();
    }

    @Override
    public String description() {
        return "ConvNeXt-" + (variant == Variant.CONVNEXT_TINY ? "T" : "S")
                + " (depthwise 7x7, LayerNorm, GELU, layer scale, torchvision layout)";
    }

    @Override
    public int minInputSize() {
        return 32;
    }

    @Override
    public String headLayer() {
        return "classifier.2";
    }

    @Override
    public String featureLayer() {
        return "classifier.0";
    }

    @Override
    public ComputationGraphConfiguration configuration(ModelSpec spec) {
        checkInput(spec);
        Net n = new Net(spec);
        n.conv("features.0.0", DIMS[0], 4, 4, 0, 1, true, NONE).layerNorm("features.0.1", EPS);
        int total = 0;
        for (int b : variant.blocks) {
            total += b;
        }
        int blockId = 0;
        for (int stage = 0; stage < 4; stage++) {
            int dim = DIMS[stage];
            int f = 2 * stage + 1;
            for (int i = 0; i < variant.blocks[stage]; i++, blockId++) {
                String p = "features." + f + "." + i + ".";
                String x = n.last();
                n.conv(p + "block.0", dim, 7, 1, 3, dim, true, NONE).layerNorm(p + "block.2", EPS)
                        .conv(p + "block.3", 4 * dim, 1, 1, 0, 1, true, new ActivationGelu())
                        .conv(p + "block.5", dim, 1, 1, 0, 1, true, NONE).layerScale(p + "layer_scale", 1e-6)
                        .stochasticDepth(p + "stochastic_depth", variant.stochasticDepth * blockId / (total - 1.0));
                n.sum(p + "add", x, n.last());
            }
            if (stage < 3) {
                n.layerNorm("features." + (f + 1) + ".0", EPS)
                        .conv("features." + (f + 1) + ".1", DIMS[stage + 1], 2, 2, 0, 1, true, NONE);
            }
        }
        return n.globalAvgPoolKeepDims("avgpool").layerNorm("classifier.0", EPS).output("classifier.2", 0).build();
    }
}
