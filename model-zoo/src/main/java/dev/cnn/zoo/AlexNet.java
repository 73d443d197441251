package dev.cnn.zoo;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.nd4j.linalg.activations.Activation;

/**
 * AlexNet. {@code alexnet} is torchvision's variant (64-192-384-256-256 channels, no LRN; 61,100,840 parameters at
 * 3x224x224, 1000 classes); {@code alexnet-lrn} is the original single-tower 2012 network (96-256-384-384-256 channels
 * with local response normalisation after the first two convolutions). Layer names follow torchvision's module
 * indices ({@code features.0}, {@code classifier.6}). The classifier reads the flattened feature map at the given
 * input size; at 224 px that is 256x6x6 as in torchvision (which adds an adaptive pool for other sizes).
 */
final class AlexNet implements Architecture {
    private final boolean lrn;

    private AlexNet(boolean lrn) {
        this.lrn = lrn;
    }

    static AlexNet torchvision() {
        return new AlexNet(false);
    }

    static AlexNet lrn() {
        return new AlexNet(true);
    }

    @Override
    public String name() {
        return lrn ? "alexnet-lrn" : "alexnet";
    }

    @Override
    public String description() {
        return lrn ? "AlexNet as in Krizhevsky et al. 2012 (96-256-384-384-256, local response normalisation)"
                : "AlexNet, torchvision variant (64-192-384-256-256, no LRN)";
    }

    @Override
    public int minInputSize() {
        return 63;
    }

    @Override
    public String headLayer() {
        return "classifier.6";
    }

    @Override
    public String featureLayer() {
        return "classifier.4";
    }

    @Override
    public ComputationGraphConfiguration configuration(ModelSpec spec) {
        checkInput(spec);
        int[] c = lrn ? new int[]{96, 256, 384, 384, 256} : new int[]{64, 192, 384, 256, 256};
        Net n = new Net(spec).conv("features.0", c[0], 11, 4, 2, true, Activation.RELU);
        if (lrn) {
            n.lrn("features.lrn1");
        }
        n.maxPool("features.2", 3, 2, 0).conv("features.3", c[1], 5, 1, 2, true, Activation.RELU);
        if (lrn) {
            n.lrn("features.lrn2");
        }
        return n.maxPool("features.5", 3, 2, 0)
                .conv("features.6", c[2], 3, 1, 1, true, Activation.RELU)
                .conv("features.8", c[3], 3, 1, 1, true, Activation.RELU)
                .conv("features.10", c[4], 3, 1, 1, true, Activation.RELU)
                .maxPool("features.12", 3, 2, 0)
                .dense("classifier.1", 4096, Activation.RELU, 0.5)
                .dense("classifier.4", 4096, Activation.RELU, 0.5)
                .output("classifier.6", 0)
                .build();
    }
}
