package dev.cnn.zoo;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.distribution.NormalDistribution;
import org.deeplearning4j.nn.weights.IWeightInit;
import org.deeplearning4j.nn.weights.WeightInitDistribution;
import org.nd4j.linalg.activations.Activation;

/**
 * GoogLeNet (Szegedy et al. 2014, "Going deeper with convolutions") as torchvision builds it, auxiliary classifiers
 * off: a stem of three convolutions and two max pools, nine Inception modules from a table with max pools between
 * stages, global average pooling, dropout 0.2 and a dense classifier {@code fc}; 6,624,904 parameters at 3x224x224
 * with 1000 classes. Every convolution is torchvision's {@code BasicConv2d}: no bias, batch norm (eps 0.001), ReLU,
 * named {@code <module>.conv}, {@code <module>.bn}, {@code <module>.relu}. An Inception module concatenates four
 * branches: a 1x1 convolution ({@code branch1}); 1x1 then 3x3 ({@code branch2.0}, {@code branch2.1}); 1x1 then 3x3
 * again ({@code branch3}: torchvision's 3x3 where the paper has 5x5, kept so that its weights load); a 3x3/1 max pool
 * then a 1x1 ({@code branch4.0}, {@code branch4.1}). The concatenation is named after the module
 * ({@code inception4c}).
 *
 * <p>torchvision's max pools round up ({@code ceil_mode=True}): as in {@link SqueezeNet}, each reads ReLU outputs
 * (&gt;= 0), so a zero row or column below or to the right ({@code maxpoolN.pad}) and a truncating pool give exactly
 * PyTorch's windows.
 *
 * <p>Published weights ({@code googlenet-1378be20.pth}) were trained with torchvision's {@code transform_input}, which
 * maps ImageNet-normalised input to {@code (x - 0.5) / 0.5}; their weights entry normalises that way instead, and
 * their auxiliary classifiers ({@code aux1.*}, {@code aux2.*}) are left out on import.
 */
final class GoogLeNet implements Architecture {
    private static final double BN_EPS = 1e-3;

    /** torchvision's Inception arguments: in channels aside, 1x1, 3x3 reduce, 3x3, "5x5" reduce, "5x5", pool proj. */
    private record Module(String name, int c1, int c3r, int c3, int c5r, int c5, int pool) {
    }

    /** The modules in order; a null name is a max pool between stages (its name and kernel follow). */
    private static final Object[] LAYOUT = {
            new Module("inception3a", 64, 96, 128, 16, 32, 32),
            new Module("inception3b", 128, 128, 192, 32, 96, 64),
            "maxpool3", 3,
            new Module("inception4a", 192, 96, 208, 16, 48, 64),
            new Module("inception4b", 160, 112, 224, 24, 64, 64),
            new Module("inception4c", 128, 128, 256, 24, 64, 64),
            new Module("inception4d", 112, 144, 288, 32, 64, 64),
            new Module("inception4e", 256, 160, 320, 32, 128, 128),
            "maxpool4", 2,
            new Module("inception5a", 256, 160, 320, 32, 128, 128),
            new Module("inception5b", 384, 192, 384, 48, 128, 128),
    };

    @Override
    public String name() {
        return "googlenet";
    }

    @Override
    public String description() {
        return "GoogLeNet / Inception v1 (9 Inception modules, batch norm, torchvision layout, no auxiliary heads)";
    }

    /** The smallest input whose last feature map is at least 1x1. */
    @Override
    public int minInputSize() {
        return Net.smallestInput(GoogLeNet::featureMapSize);
    }

    @Override
    public String headLayer() {
        return "fc";
    }

    @Override
    public String featureLayer() {
        return "avgpool";
    }

    /** Side of {@code inception5b}'s map for an input side of {@code in}; 0 if too small. */
    static int featureMapSize(int in) {
        int s = (in + 2 * 3 - 7) / 2 + 1; // conv1
        s = Net.ceilPoolSize(s, 3, 2); // maxpool1; conv2 and conv3 keep the size
        s = Net.ceilPoolSize(s, 3, 2); // maxpool2
        s = Net.ceilPoolSize(s, 3, 2); // maxpool3
        return Net.ceilPoolSize(s, 2, 2); // maxpool4
    }

    @Override
    public ComputationGraphConfiguration configuration(ModelSpec spec) {
        checkInput(spec);
        Net n = new Net(spec);
        basicConv(n, "conv1", 64, 7, 2, 3);
        int h = (spec.height() + 6 - 7) / 2 + 1;
        int w = (spec.width() + 6 - 7) / 2 + 1;
        int[] hw = n.maxPoolCeil("maxpool1", 3, 2, h, w); // exact on ReLU outputs (see class doc)
        basicConv(n, "conv2", 64, 1, 1, 0);
        basicConv(n, "conv3", 192, 3, 1, 1);
        hw = n.maxPoolCeil("maxpool2", 3, 2, hw[0], hw[1]);
        for (int i = 0; i < LAYOUT.length; i++) {
            if (LAYOUT[i] instanceof Module m) {
                inception(n, m);
            } else {
                hw = n.maxPoolCeil((String) LAYOUT[i], (Integer) LAYOUT[++i], 2, hw[0], hw[1]);
            }
        }
        return n.globalAvgPool("avgpool").output("fc", 0.2).build();
    }

    /** torchvision's {@code BasicConv2d}: convolution without bias, batch norm (eps 0.001), ReLU. */
    private static void basicConv(Net n, String name, int out, int k, int stride, int pad) {
        IWeightInit init = new WeightInitDistribution(new NormalDistribution(0, 0.01)); // torchvision: trunc. N(0, 0.01)
        n.conv(name + ".conv", out, k, stride, pad, false, Activation.IDENTITY, init, 0)
                .bn(name + ".bn", BN_EPS)
                .relu(name + ".relu");
    }


    private static void inception(Net n, Module m) {
        String in = n.last();
        String p = m.name() + ".";
        basicConv(n.from(in), p + "branch1", m.c1(), 1, 1, 0);
        basicConv(n.from(in), p + "branch2.0", m.c3r(), 1, 1, 0);
        basicConv(n, p + "branch2.1", m.c3(), 3, 1, 1);
        basicConv(n.from(in), p + "branch3.0", m.c5r(), 1, 1, 0);
        basicConv(n, p + "branch3.1", m.c5(), 3, 1, 1);
        n.from(in).maxPool(p + "branch4.0", 3, 1, 1); // same size: ceil mode changes nothing at stride 1
        basicConv(n, p + "branch4.1", m.pool(), 1, 1, 0);
        n.concat(m.name(), p + "branch1.relu", p + "branch2.1.relu", p + "branch3.1.relu", p + "branch4.1.relu");
    }
}
