package dev.cnn.zoo;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.activations.IActivation;

/**
 * ShuffleNetV2 1.0x (Ma et al. 2018) as torchvision builds it: units that split the channels in two, transform one
 * half (1x1, depthwise 3x3, 1x1), concatenate and shuffle; downsampling units transform both halves. Names follow
 * torchvision's ({@code stage3.0.branch1.2}, {@code conv5.0}).
 */
final class ShuffleNet implements Architecture {
    private static final int[] REPEATS = {4, 8, 4};
    private static final int[] CHANNELS = {24, 116, 232, 464, 1024};
    private static final IActivation NONE = Activation.IDENTITY.getActivationFunction();

    @Override
    public String name() {
        return "shufflenet_v2_x1_0";
    }

    @Override
    public String description() {
        return "ShuffleNetV2 1.0x (channel split and shuffle, depthwise convolutions, torchvision layout)";
    }

    @Override
    public int minInputSize() {
        return 32;
    }

    @Override
    public String headLayer() {
        return "fc";
    }

    @Override
    public String featureLayer() {
        return "avgpool";
    }

    @Override
    public ComputationGraphConfiguration configuration(ModelSpec spec) {
        checkInput(spec);
        Net n = new Net(spec);
        n.conv("conv1.0", CHANNELS[0], 3, 2, 1, 1, false, NONE).bn("conv1.1").relu("conv1.2")
                .maxPool("maxpool", 3, 2, 1);
        int in = CHANNELS[0];
        for (int s = 0; s < REPEATS.length; s++) {
            int out = CHANNELS[s + 1];
            int half = out / 2;
            for (int i = 0; i < REPEATS[s]; i++) {
                String p = "stage" + (s + 2) + "." + i + ".";
                String x = n.last();
                String left;
                String right;
                if (i == 0) { // stride 2: both branches see the whole input
                    n.conv(p + "branch1.0", in, 3, 2, 1, in, false, NONE).bn(p + "branch1.1")
                            .conv(p + "branch1.2", half, 1, 1, 0, 1, false, NONE).bn(p + "branch1.3")
                            .relu(p + "branch1.4");
                    left = n.last();
                    n.from(x);
                } else {
                    left = n.channels(p + "split1", 0, half - 1).last();
                    n.from(x).channels(p + "split2", half, 2 * half - 1);
                }
                int stride = i == 0 ? 2 : 1;
                n.conv(p + "branch2.0", half, 1, 1, 0, 1, false, NONE).bn(p + "branch2.1").relu(p + "branch2.2")
                        .conv(p + "branch2.3", half, 3, stride, 1, half, false, NONE).bn(p + "branch2.4")
                        .conv(p + "branch2.5", half, 1, 1, 0, 1, false, NONE).bn(p + "branch2.6")
                        .relu(p + "branch2.7");
                right = n.last();
                n.concat(p + "cat", left, right).channelShuffle(p + "shuffle", 2);
                in = out;
            }
        }
        n.conv("conv5.0", CHANNELS[4], 1, 1, 0, 1, false, NONE).bn("conv5.1").relu("conv5.2");
        return n.globalAvgPool("avgpool").output("fc", 0).build();
    }
}
