package dev.cnn.zoo;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.nd4j.linalg.activations.Activation;

/**
 * A small, fast network for small images (16-64 px): four stages of 3x3 conv + batch norm + ReLU (32, 64, 128, 256
 * channels) with 2x2 max pooling between them, global average pooling and a linear classifier. About 390k parameters.
 */
final class SimpleCnn implements Architecture {
    private static final int[] WIDTHS = {32, 64, 128, 256};

    @Override
    public String name() {
        return "simplecnn";
    }

    @Override
    public String description() {
        return "small fast CNN (4 conv-bn-relu stages, global average pooling) for small images";
    }

    @Override
    public int minInputSize() {
        return 8;
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
        for (int i = 0; i < WIDTHS.length; i++) {
            int s = i + 1;
            if (i > 0) {
                n.maxPool("pool" + i, 2, 2, 0);
            }
            n.conv("conv" + s, WIDTHS[i], 3, 1, 1, false, Activation.IDENTITY).bn("bn" + s).relu("relu" + s);
        }
        return n.globalAvgPool("avgpool").output("fc", 0).build();
    }
}
