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

    /**
     * Variants as data: the block type, blocks per stage and, for bottlenecks, torchvision's {@code groups} and
     * {@code width_per_group} (the 3x3 convolution's width is {@code planes * widthPerGroup / 64 * groups}):
     * ResNeXt (Xie et al. 2017) groups that convolution, Wide ResNet (Zagoruyko and Komodakis 2016) doubles it.
     */
    enum Depth {
        RESNET18(false, 1, 64, 2, 2, 2, 2),
        RESNET34(false, 1, 64, 3, 4, 6, 3),
        RESNET50(true, 1, 64, 3, 4, 6, 3),
        RESNET101(true, 1, 64, 3, 4, 23, 3),
        RESNET152(true, 1, 64, 3, 8, 36, 3),
        RESNEXT50_32X4D(true, 32, 4, 3, 4, 6, 3),
        RESNEXT101_32X8D(true, 32, 8, 3, 4, 23, 3),
        WIDE_RESNET50_2(true, 1, 128, 3, 4, 6, 3);

        final boolean bottleneck;
        final int groups;
        final int widthPerGroup;
        final int[] blocks;

        Depth(boolean bottleneck, int groups, int widthPerGroup, int... blocks) {
            this.bottleneck = bottleneck;
            this.groups = groups;
            this.widthPerGroup = widthPerGroup;
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
        if (depth.groups > 1) {
            return "ResNeXt-" + name().substring(7).replace('_', ' ') + " (grouped bottlenecks, torchvision layout)";
        }
        if (depth.widthPerGroup != 64) {
            return "Wide ResNet-50-2 (bottlenecks twice as wide, torchvision layout)";
        }
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
            int width = planes * depth.widthPerGroup / 64 * depth.groups;
            for (int b = 0; b < depth.blocks[stage]; b++) {
                int stride = (stage > 0 && b == 0) ? 2 : 1;
                String p = "layer" + (stage + 1) + "." + b + ".";
                String in = n.last();
                if (depth.bottleneck) {
                    n.conv(p + "conv1", width, 1, 1, 0, false, Activation.IDENTITY).bn(p + "bn1").relu(p + "relu1")
                            .conv(p + "conv2", width, 3, stride, 1, depth.groups, false,
                                    Activation.IDENTITY.getActivationFunction())
                            .bn(p + "bn2").relu(p + "relu2")
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
