package dev.cnn.zoo;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.nd4j.linalg.activations.Activation;

/**
 * VGG (Simonyan and Zisserman 2014) from torchvision's configuration table: 3x3 convolutions with padding 1, 2x2 max
 * pooling ({@code M}), then 4096-4096-classes fully connected layers with dropout. {@code _bn} variants add batch
 * norm after every convolution. Layer names follow torchvision's module indices ({@code features.0},
 * {@code classifier.6}). The classifier reads the flattened feature map at the given input size; at 224 px that is
 * 512x7x7 as in torchvision.
 */
final class Vgg implements Architecture {
    private static final int M = -1;

    /** torchvision's cfgs A, B, D, E. */
    enum Config {
        VGG11(new int[]{64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M}),
        VGG13(new int[]{64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M}),
        VGG16(new int[]{64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M}),
        VGG19(new int[]{64, 64, M, 128, 128, M, 256, 256, 256, 256, M, 512, 512, 512, 512, M, 512, 512, 512, 512, M});

        final int[] layers;

        Config(int[] layers) {
            this.layers = layers;
        }
    }

    private final Config config;
    private final boolean batchNorm;

    Vgg(Config config, boolean batchNorm) {
        this.config = config;
        this.batchNorm = batchNorm;
    }

    @Override
    public String name() {
        return config.name().toLowerCase() + (batchNorm ? "_bn" : "");
    }

    @Override
    public String description() {
        int convs = 0;
        for (int v : config.layers) {
            convs += v == M ? 0 : 1;
        }
        return "VGG-" + (convs + 3) + (batchNorm ? " with batch norm" : "") + " (torchvision cfg)";
    }

    @Override
    public int minInputSize() {
        return 32;
    }

    @Override
    public String headLayer() {
        return "classifier.6";
    }

    @Override
    public String featureLayer() {
        return "classifier.3";
    }

    @Override
    public ComputationGraphConfiguration configuration(ModelSpec spec) {
        checkInput(spec);
        Net n = new Net(spec);
        int idx = 0;
        for (int v : config.layers) {
            if (v == M) {
                n.maxPool("features." + idx, 2, 2, 0);
                idx += 1;
            } else if (batchNorm) {
                n.conv("features." + idx, v, 3, 1, 1, true, Activation.IDENTITY)
                        .bn("features." + (idx + 1))
                        .relu("features." + (idx + 2));
                idx += 3;
            } else {
                n.conv("features." + idx, v, 3, 1, 1, true, Activation.RELU);
                idx += 2;
            }
        }
        return n.dense("classifier.0", 4096, Activation.RELU, 0)
                .dense("classifier.3", 4096, Activation.RELU, 0.5)
                .output("classifier.6", 0.5)
                .build();
    }
}
