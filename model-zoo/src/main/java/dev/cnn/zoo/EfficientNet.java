package dev.cnn.zoo;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.activations.IActivation;

/**
 * EfficientNet B0-B3 (Tan and Le 2019) as torchvision builds them: MBConv blocks (1x1 expansion, depthwise
 * convolution, squeeze-and-excitation, linear projection) with SiLU, stochastic depth on the residual branches
 * (0.2 at the last block, growing linearly), and each variant's width and depth multipliers applied to B0's table
 * with torchvision's rounding. Layer names follow torchvision's ({@code features.2.1.block.2.fc1}).
 */
final class EfficientNet implements Architecture {
    enum Variant {
        EFFICIENTNET_B0(1.0, 1.0, 0.2),
        EFFICIENTNET_B1(1.0, 1.1, 0.2),
        EFFICIENTNET_B2(1.1, 1.2, 0.3),
        EFFICIENTNET_B3(1.2, 1.4, 0.3);

        final double width;
        final double depth;
        final double dropout;

        Variant(double width, double depth, double dropout) {
            this.width = width;
            this.depth = depth;
            this.dropout = dropout;
        }
    }

    /** B0's stages: expansion, kernel, stride, input channels, output channels, layers. */
    private static final int[][] STAGES = {{1, 3, 1, 32, 16, 1}, {6, 3, 2, 16, 24, 2}, {6, 5, 2, 24, 40, 2},
            {6, 3, 2, 40, 80, 3}, {6, 5, 1, 80, 112, 3}, {6, 5, 2, 112, 192, 4}, {6, 3, 1, 192, 320, 1}};
    private static final double STOCHASTIC_DEPTH = 0.2;
    private static final IActivation NONE = Activation.IDENTITY.getActivationFunction();

    private final Variant variant;

    EfficientNet(Variant variant) {
        this.variant = variant;
    }

    @Override
    public String name() {
        return variant.name().toLowerCase();
    }

    @Override
    public String description() {
        return "EfficientNet-" + name().substring(13).toUpperCase()
                + " (MBConv, squeeze-and-excitation, SiLU, stochastic depth, torchvision layout)";
    }

    @Override
    public int minInputSize() {
        return 32;
    }

    @Override
    public String headLayer() {
        return "classifier.1";
    }

    @Override
    public String featureLayer() {
        return "avgpool";
    }

    private int channels(int c) {
        return Net.makeDivisible(c * variant.width, 8);
    }

    private int layers(int n) {
        return (int) Math.ceil(n * variant.depth);
    }

    private static void cna(Net n, String p, int out, int k, int stride, int groups, IActivation act) {
        n.conv(p + "0", out, k, stride, (k - 1) / 2, groups, false, NONE).bn(p + "1");
        if (act != null) {
            n.act(p + "2", act);
        }
    }

    @Override
    public ComputationGraphConfiguration configuration(ModelSpec spec) {
        checkInput(spec);
        IActivation silu = Activation.SWISH.getActivationFunction();
        Net n = new Net(spec);
        cna(n, "features.0.", channels(STAGES[0][3]), 3, 2, 1, silu);
        int total = 0;
        for (int[] s : STAGES) {
            total += layers(s[5]);
        }
        int blockId = 0;
        for (int stage = 0; stage < STAGES.length; stage++) {
            int[] s = STAGES[stage];
            int in = channels(s[3]);
            int out = channels(s[4]);
            for (int i = 0; i < layers(s[5]); i++, blockId++) {
                int stride = i == 0 ? s[2] : 1;
                int expanded = Net.makeDivisible(in * (double) s[0], 8);
                String p = "features." + (stage + 1) + "." + i + ".";
                String x = n.last();
                int j = 0;
                if (expanded != in) {
                    cna(n, p + "block." + j++ + ".", expanded, 1, 1, 1, silu);
                }
                cna(n, p + "block." + j++ + ".", expanded, s[1], stride, expanded, silu);
                n.squeezeExcitation(p + "block." + j++ + ".", expanded, Math.max(1, in / 4), silu,
                        Activation.SIGMOID.getActivationFunction());
                cna(n, p + "block." + j + ".", out, 1, 1, 1, null);
                if (stride == 1 && in == out) {
                    n.stochasticDepth(p + "stochastic_depth", STOCHASTIC_DEPTH * blockId / total);
                    n.sum(p + "add", x, n.last());
                }
                in = out;
            }
        }
        int last = channels(STAGES[STAGES.length - 1][4]);
        cna(n, "features." + (STAGES.length + 1) + ".", 4 * last, 1, 1, 1, silu);
        return n.globalAvgPool("avgpool").output("classifier.1", variant.dropout).build();
    }
}
