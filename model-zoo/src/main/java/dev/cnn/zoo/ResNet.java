package dev.cnn.zoo;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.nd4j.linalg.activations.Activation;

/**
 * ResNet (He et al. 2015) as in torchvision: a block type and the number of blocks per stage. Basic blocks (two 3x3
 * convolutions) for 18/34, bottleneck blocks (1x1, 3x3, 1x1 with 4x expansion, stride on the 3x3 as in "ResNet v1.5")
 * for 50/101/152. Identity shortcuts, a 1x1 convolution + batch norm shortcut where shape changes, no convolution bias
 * before batch norm, global average pooling so any input of at least 32 px works. Layer names follow torchvision's
 * state-dict names ({@code layer2.0.downsample.0}, {@code fc}).
 */
final class ResNet implements Architecture {

    enum Depth {
        RESNET18(false, 2, 2, 2, 2),
        RESNET34(false, 3, 4, 6, 3),
        RESNET50(true, 3, 4, 6, 3),
        RESNET101(true, 3, 4, 23, 3),
        RESNET152(true, 3, 8, 36, 3);

        final boolean bottleneck;
        final int[] blocks;

        Depth(boolean bottleneck, int... blocks) {
            this.bottleneck = bottleneck;
            this.blocks = blocks;
        }
    }

    private final Depth depth;

    ResNet(Depth depth) {
        this.depth = depth;
    }

    @Override
    public String name() {
        return depth.name().toLowerCase();
    }

    @Override
    public String description() {
        return "ResNet-" + name().substring(6) + " (" + (depth.bottleneck ? "bottleneck" : "basic")
                + " blocks, torchvision layout)";
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
        Net n = new Net(spec)
                .conv("conv1", 64, 7, 2, 3, false, Activation.IDENTITY)
                .bn("bn1").relu("relu")
                .maxPool("maxpool", 3, 2, 1);
        int expansion = depth.bottleneck ? 4 : 1;
        int inPlanes = 64;
        for (int stage = 0; stage < 4; stage++) {
            int planes = 64 << stage;
            for (int b = 0; b < depth.blocks[stage]; b++) {
                int stride = (stage > 0 && b == 0) ? 2 : 1;
                String p = "layer" + (stage + 1) + "." + b + ".";
                String in = n.last();
                if (depth.bottleneck) {
                    n.conv(p + "conv1", planes, 1, 1, 0, false, Activation.IDENTITY).bn(p + "bn1").relu(p + "relu1")
                            .conv(p + "conv2", planes, 3, stride, 1, false, Activation.IDENTITY).bn(p + "bn2")
                            .relu(p + "relu2")
                            .conv(p + "conv3", planes * expansion, 1, 1, 0, false, Activation.IDENTITY)
                            .bn(p + "bn3");
                } else {
                    n.conv(p + "conv1", planes, 3, stride, 1, false, Activation.IDENTITY).bn(p + "bn1")
                            .relu(p + "relu1")
                            .conv(p + "conv2", planes, 3, 1, 1, false, Activation.IDENTITY).bn(p + "bn2");
                }
                String residual = n.last();
                String shortcut = in;
                if (stride != 1 || inPlanes != planes * expansion) {
                    n.from(in).conv(p + "downsample.0", planes * expansion, 1, stride, 0, false, Activation.IDENTITY)
                            .bn(p + "downsample.1");
                    shortcut = n.last();
                }
                n.sum(p + "add", residual, shortcut).relu(p + "out");
                inPlanes = planes * expansion;
            }
        }
        return n.globalAvgPool("avgpool").output("fc", 0).build();
    }
}
