package dev.cnn.zoo;

import dev.cnn.zoo.layers.ActivationHardSigmoid;
import dev.cnn.zoo.layers.ActivationHardSwish;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.activations.IActivation;

/**
 * MobileNetV2 (Sandler et al. 2018) and MobileNetV3 large and small (Howard et al. 2019) as torchvision builds
 * them: inverted residual blocks (1x1 expansion, depthwise 3x3 or 5x5, linear 1x1 projection), ReLU6 in V2,
 * Hardswish and squeeze-and-excitation gated by Hardsigmoid in V3; the block tables are torchvision's, as data.
 * Layer names follow torchvision's module paths ({@code features.3.conv.1.0}, {@code features.4.block.2.fc1}).
 */
final class MobileNet implements Architecture {
    /** One V3 block: kernel, expanded and output channels, squeeze-and-excitation, Hardswish (else ReLU), stride. */
    record Block(int kernel, int expanded, int out, boolean se, boolean hardswish, int stride) {
    }

    enum Variant {
        MOBILENET_V2(null, 0),
        MOBILENET_V3_LARGE(new Block[]{
                new Block(3, 16, 16, false, false, 1), new Block(3, 64, 24, false, false, 2),
                new Block(3, 72, 24, false, false, 1), new Block(5, 72, 40, true, false, 2),
                new Block(5, 120, 40, true, false, 1), new Block(5, 120, 40, true, false, 1),
                new Block(3, 240, 80, false, true, 2), new Block(3, 200, 80, false, true, 1),
                new Block(3, 184, 80, false, true, 1), new Block(3, 184, 80, false, true, 1),
                new Block(3, 480, 112, true, true, 1), new Block(3, 672, 112, true, true, 1),
                new Block(5, 672, 160, true, true, 2), new Block(5, 960, 160, true, true, 1),
                new Block(5, 960, 160, true, true, 1)}, 1280),
        MOBILENET_V3_SMALL(new Block[]{
                new Block(3, 16, 16, true, false, 2), new Block(3, 72, 24, false, false, 2),
                new Block(3, 88, 24, false, false, 1), new Block(5, 96, 40, true, true, 2),
                new Block(5, 240, 40, true, true, 1), new Block(5, 240, 40, true, true, 1),
                new Block(5, 120, 48, true, true, 1), new Block(5, 144, 48, true, true, 1),
                new Block(5, 288, 96, true, true, 2), new Block(5, 576, 96, true, true, 1),
                new Block(5, 576, 96, true, true, 1)}, 1024);

        final Block[] blocks;
        final int lastChannel;

        Variant(Block[] blocks, int lastChannel) {
            this.blocks = blocks;
            this.lastChannel = lastChannel;
        }
    }

    /** V2's inverted residual settings: expansion t, output channels c, repeats n, first stride s. */
    private static final int[][] V2 = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2}, {6, 96, 3, 1},
            {6, 160, 3, 2}, {6, 320, 1, 1}};

    private final Variant variant;

    MobileNet(Variant variant) {
        this.variant = variant;
    }

    @Override
    public String name() {
        return variant.name().toLowerCase();
    }

    @Override
    public String description() {
        return switch (variant) {
            case MOBILENET_V2 -> "MobileNetV2 (inverted residuals, depthwise convolutions, torchvision layout)";
            case MOBILENET_V3_LARGE -> "MobileNetV3-Large (squeeze-and-excitation, Hardswish, torchvision layout)";
            case MOBILENET_V3_SMALL -> "MobileNetV3-Small (squeeze-and-excitation, Hardswish, torchvision layout)";
        };
    }

    @Override
    public int minInputSize() {
        return 32;
    }

    @Override
    public String headLayer() {
        return variant == Variant.MOBILENET_V2 ? "classifier.1" : "classifier.3";
    }

    @Override
    public String featureLayer() {
        return variant == Variant.MOBILENET_V2 ? "avgpool" : "classifier.1";
    }

    @Override
    public ComputationGraphConfiguration configuration(ModelSpec spec) {
        checkInput(spec);
        return variant == Variant.MOBILENET_V2 ? v2(spec) : v3(spec);
    }

    private static final IActivation NONE = Activation.IDENTITY.getActivationFunction();

    /** torchvision's {@code Conv2dNormActivation}: convolution {@code p.0}, batch norm {@code p.1}, activation. */
    private static void cna(Net n, String p, int out, int k, int stride, int groups, double eps, IActivation act) {
        n.conv(p + "0", out, k, stride, (k - 1) / 2, groups, false, NONE).bn(p + "1", eps);
        if (act != null) {
            n.act(p + "2", act);
        }
    }

    private ComputationGraphConfiguration v2(ModelSpec spec) {
        IActivation relu6 = Activation.RELU6.getActivationFunction();
        Net n = new Net(spec);
        cna(n, "features.0.", 32, 3, 2, 1, 1e-5, relu6);
        int in = 32;
        int f = 1;
        for (int[] s : V2) {
            for (int i = 0; i < s[2]; i++, f++) {
                int stride = i == 0 ? s[3] : 1;
                int hidden = in * s[0];
                String p = "features." + f + ".conv.";
                String x = n.last();
                int j = 0;
                if (s[0] != 1) {
                    cna(n, p + j++ + ".", hidden, 1, 1, 1, 1e-5, relu6);
                }
                cna(n, p + j++ + ".", hidden, 3, stride, hidden, 1e-5, relu6);
                n.conv(p + j++, s[1], 1, 1, 0, 1, false, NONE).bn(p + j);
                if (stride == 1 && in == s[1]) {
                    n.sum("features." + f + ".add", x, n.last());
                }
                in = s[1];
            }
        }
        cna(n, "features." + f + ".", 1280, 1, 1, 1, 1e-5, relu6);
        return n.globalAvgPool("avgpool").output("classifier.1", 0.2).build();
    }

    private ComputationGraphConfiguration v3(ModelSpec spec) {
        IActivation hs = new ActivationHardSwish();
        IActivation relu = Activation.RELU.getActivationFunction();
        double eps = 1e-3;
        Net n = new Net(spec);
        cna(n, "features.0.", 16, 3, 2, 1, eps, hs);
        int in = 16;
        int f = 1;
        for (Block b : variant.blocks) {
            IActivation act = b.hardswish() ? hs : relu;
            String p = "features." + f + ".block.";
            String x = n.last();
            int j = 0;
            if (b.expanded() != in) {
                cna(n, p + j++ + ".", b.expanded(), 1, 1, 1, eps, act);
            }
            cna(n, p + j++ + ".", b.expanded(), b.kernel(), b.stride(), b.expanded(), eps, act);
            if (b.se()) {
                n.squeezeExcitation(p + j++ + ".", b.expanded(), Net.makeDivisible(b.expanded() / 4, 8), relu,
                        new ActivationHardSigmoid());
            }
            cna(n, p + j + ".", b.out(), 1, 1, 1, eps, null);
            if (b.stride() == 1 && in == b.out()) {
                n.sum("features." + f + ".add", x, n.last());
            }
            in = b.out();
            f++;
        }
        cna(n, "features." + f + ".", 6 * in, 1, 1, 1, eps, hs);
        n.globalAvgPool("avgpool").dense("classifier.0", variant.lastChannel, Activation.IDENTITY, 0);
        return n.act("classifier.1", hs).output("classifier.3", 0.2).build();
    }
}
