package dev.cnn.zoo;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.nd4j.linalg.activations.Activation;

/**
 * The CIFAR-10 networks of He et al. 2016 (section 4.2), the residual-learning experiment: a 3x3 convolution with 16
 * channels, three stages of {@code n} basic blocks at 16, 32 and 64 channels (stride 2 entering stages 2 and 3),
 * global average pooling and the classifier: {@code 6n + 2} weighted layers. {@code resnet20/32/44/56/110} add
 * parameter-free identity shortcuts (option A: where the shape changes, the input subsampled by 2 and its channels
 * doubled with zeros), about 0.27M / 0.46M / 0.66M / 0.85M / 1.7M parameters; {@code plain20/32/44/56} are the same
 * stacks without shortcuts, the networks that train worse as they get deeper. Sized for 32x32 inputs; any input of
 * at least 8 pixels works.
 */
final class CifarResNet implements Architecture {
    private final int depth;
    private final boolean residual;

    CifarResNet(int depth, boolean residual) {
        if ((depth - 2) % 6 != 0) {
            throw new IllegalArgumentException("depth must be 6n + 2, got " + depth);
        }
        this.depth = depth;
        this.residual = residual;
    }

    @Override
    public String name() {
        return (residual ? "resnet" : "plain") + depth;
    }

    @Override
    public String description() {
        return (residual ? "CIFAR ResNet-" : "plain CIFAR net, ") + depth + " layers" + (residual
                ? " (He et al. 2016, identity shortcuts)" : " (ResNet-" + depth + " without shortcuts)");
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
        int n = (depth - 2) / 6;
        Net net = new Net(spec).conv("conv1", 16, 3, 1, 1, false, Activation.IDENTITY).bn("bn1").relu("relu");
        int in = 16;
        for (int stage = 0; stage < 3; stage++) {
            int planes = 16 << stage;
            for (int b = 0; b < n; b++) {
                int stride = stage > 0 && b == 0 ? 2 : 1;
                String p = "layer" + (stage + 1) + "." + b + ".";
                String x = net.last();
                net.conv(p + "conv1", planes, 3, stride, 1, false, Activation.IDENTITY).bn(p + "bn1")
                        .relu(p + "relu1")
                        .conv(p + "conv2", planes, 3, 1, 1, false, Activation.IDENTITY).bn(p + "bn2");
                if (residual) {
                    String f = net.last();
                    String shortcut = x;
                    if (stride != 1 || in != planes) { // option A: subsample, pad channels with zeros
                        net.from(x).maxPool(p + "shortcut.sub", 1, stride, 0)
                                .scale(p + "shortcut.zeros", p + "shortcut.sub", 0)
                                .concat(p + "shortcut", p + "shortcut.sub", p + "shortcut.zeros");
                        shortcut = net.last();
                    }
                    net.sum(p + "add", f, shortcut);
                }
                net.relu(p + "out");
                in = planes;
            }
        }
        return net.globalAvgPool("avgpool").output("fc", 0).build();
    }
}
