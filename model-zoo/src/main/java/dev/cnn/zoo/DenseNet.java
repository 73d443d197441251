package dev.cnn.zoo;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.nd4j.linalg.activations.Activation;

/**
 * DenseNet (Huang et al. 2017) as torchvision builds it: a stem ({@code features.conv0} 7x7/2, {@code norm0},
 * {@code relu0}, {@code pool0} 3x3/2 max), four dense blocks of dense layers from a table, a transition between
 * blocks (batch norm, ReLU, 1x1 convolution halving the channels, 2x2/2 average pool), a final batch norm
 * {@code features.norm5} and ReLU, global average pooling and the dense {@code classifier}. A dense layer
 * ({@code features.denseblockB.denselayerL}) is batch norm, ReLU, 1x1 convolution to 4 x growth channels, batch
 * norm, ReLU, 3x3 convolution to growth channels ({@code norm1 relu1 conv1 norm2 relu2 conv2}); its output is
 * concatenated to everything before it in the block ({@code ....cat}), which the next layer reads. Convolutions have
 * no bias. Variants as data: growth 32, 64 stem channels, blocks (6, 12, 24, 16) for {@code densenet121} (7,978,856
 * parameters at 3x224x224, 1000 classes) and (6, 12, 32, 32) for {@code densenet169} (14,149,480).
 */
final class DenseNet implements Architecture {
    private static final int GROWTH = 32;
    private static final int STEM = 64;
    private static final int BN_SIZE = 4;

    enum Depth {
        DENSENET121(6, 12, 24, 16),
        DENSENET169(6, 12, 32, 32);

        final int[] blocks;

        Depth(int... blocks) {
            this.blocks = blocks;
        }
    }

    private final Depth depth;

    DenseNet(Depth depth) {
        this.depth = depth;
    }

    @Override
    public String name() {
        return depth.name().toLowerCase();
    }

    @Override
    public String description() {
        return "DenseNet-" + name().substring(8) + " (dense blocks " + java.util.Arrays.toString(depth.blocks)
                + ", growth 32, torchvision layout)";
    }

    /** Stem /4, three transitions /8 more: 32 px leave a 1x1 map. */
    @Override
    public int minInputSize() {
        return 32;
    }

    @Override
    public String headLayer() {
        return "classifier";
    }

    @Override
    public String featureLayer() {
        return "avgpool";
    }

    @Override
    public ComputationGraphConfiguration configuration(ModelSpec spec) {
        checkInput(spec);
        Net n = new Net(spec)
                .conv("features.conv0", STEM, 7, 2, 3, false, Activation.IDENTITY)
                .bn("features.norm0")
                .relu("features.relu0")
                .maxPool("features.pool0", 3, 2, 1);
        int channels = STEM;
        for (int b = 0; b < depth.blocks.length; b++) {
            String block = "features.denseblock" + (b + 1);
            for (int l = 1; l <= depth.blocks[b]; l++) {
                String in = n.last();
                String p = block + ".denselayer" + l;
                n.bn(p + ".norm1").relu(p + ".relu1").conv(p + ".conv1", BN_SIZE * GROWTH, 1, 1, 0, false,
                                Activation.IDENTITY)
                        .bn(p + ".norm2").relu(p + ".relu2").conv(p + ".conv2", GROWTH, 3, 1, 1, false,
                                Activation.IDENTITY)
                        .concat(p + ".cat", in, p + ".conv2");
                channels += GROWTH;
            }
            if (b < depth.blocks.length - 1) {
                String t = "features.transition" + (b + 1);
                channels /= 2;
                n.bn(t + ".norm").relu(t + ".relu").conv(t + ".conv", channels, 1, 1, 0, false, Activation.IDENTITY)
                        .avgPool2(t + ".pool");
            }
        }
        return n.bn("features.norm5").relu("features.relu5").globalAvgPool("avgpool").output("classifier", 0)
                .build();
    }
}
