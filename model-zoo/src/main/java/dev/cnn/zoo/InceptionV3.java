package dev.cnn.zoo;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.nd4j.linalg.activations.Activation;

/**
 * Inception v3 (Szegedy et al. 2016) as torchvision builds it, auxiliary classifier off: factorised 7x7 and 3x3
 * convolutions (1x7 then 7x1), five module types (A-E), batch norm with eps 1e-3 after every convolution. Names
 * follow torchvision's ({@code Mixed_6b.branch7x7dbl_3.conv}). torchvision's published weights come with
 * {@code transform_input}, which the weights entry expresses as its normalisation, as for GoogLeNet.
 */
final class InceptionV3 implements Architecture {
    private static final double EPS = 1e-3;

    @Override
    public String name() {
        return "inception_v3";
    }

    @Override
    public String description() {
        return "Inception v3 (factorised convolutions, torchvision layout, no auxiliary classifier)";
    }

    @Override
    public int minInputSize() {
        return 75;
    }

    @Override
    public String headLayer() {
        return "fc";
    }

    @Override
    public String featureLayer() {
        return "avgpool";
    }

    /** torchvision's {@code BasicConv2d}: convolution {@code p.conv} (no bias), batch norm {@code p.bn}, ReLU. */
    private static String basic(Net n, String p, int out, int kh, int kw, int stride, int ph, int pw) {
        return n.conv(p + ".conv", out, kh, kw, stride, ph, pw, false, Activation.IDENTITY).bn(p + ".bn", EPS)
                .relu(p + ".relu").last();
    }

    private static String basic(Net n, String p, int out, int k, int stride, int pad) {
        return basic(n, p, out, k, k, stride, pad, pad);
    }

    private static String inceptionA(Net n, String p, int poolFeatures) {
        String x = n.last();
        String b1 = basic(n, p + ".branch1x1", 64, 1, 1, 0);
        n.from(x);
        basic(n, p + ".branch5x5_1", 48, 1, 1, 0);
        String b5 = basic(n, p + ".branch5x5_2", 64, 5, 1, 2);
        n.from(x);
        basic(n, p + ".branch3x3dbl_1", 64, 1, 1, 0);
        basic(n, p + ".branch3x3dbl_2", 96, 3, 1, 1);
        String b3 = basic(n, p + ".branch3x3dbl_3", 96, 3, 1, 1);
        n.from(x).avgPool(p + ".avg_pool", 3, 1, 1);
        String bp = basic(n, p + ".branch_pool", poolFeatures, 1, 1, 0);
        return n.concat(p, b1, b5, b3, bp).last();
    }

    private static String inceptionB(Net n, String p) {
        String x = n.last();
        String b3 = basic(n, p + ".branch3x3", 384, 3, 2, 0);
        n.from(x);
        basic(n, p + ".branch3x3dbl_1", 64, 1, 1, 0);
        basic(n, p + ".branch3x3dbl_2", 96, 3, 1, 1);
        String bd = basic(n, p + ".branch3x3dbl_3", 96, 3, 2, 0);
        String bp = n.from(x).maxPool(p + ".max_pool", 3, 2, 0).last();
        return n.concat(p, b3, bd, bp).last();
    }

    private static String inceptionC(Net n, String p, int c7) {
        String x = n.last();
        String b1 = basic(n, p + ".branch1x1", 192, 1, 1, 0);
        n.from(x);
        basic(n, p + ".branch7x7_1", c7, 1, 1, 0);
        basic(n, p + ".branch7x7_2", c7, 1, 7, 1, 0, 3);
        String b7 = basic(n, p + ".branch7x7_3", 192, 7, 1, 1, 3, 0);
        n.from(x);
        basic(n, p + ".branch7x7dbl_1", c7, 1, 1, 0);
        basic(n, p + ".branch7x7dbl_2", c7, 7, 1, 1, 3, 0);
        basic(n, p + ".branch7x7dbl_3", c7, 1, 7, 1, 0, 3);
        basic(n, p + ".branch7x7dbl_4", c7, 7, 1, 1, 3, 0);
        String bd = basic(n, p + ".branch7x7dbl_5", 192, 1, 7, 1, 0, 3);
        n.from(x).avgPool(p + ".avg_pool", 3, 1, 1);
        String bp = basic(n, p + ".branch_pool", 192, 1, 1, 0);
        return n.concat(p, b1, b7, bd, bp).last();
    }

    private static String inceptionD(Net n, String p) {
        String x = n.last();
        basic(n, p + ".branch3x3_1", 192, 1, 1, 0);
        String b3 = basic(n, p + ".branch3x3_2", 320, 3, 2, 0);
        n.from(x);
        basic(n, p + ".branch7x7x3_1", 192, 1, 1, 0);
        basic(n, p + ".branch7x7x3_2", 192, 1, 7, 1, 0, 3);
        basic(n, p + ".branch7x7x3_3", 192, 7, 1, 1, 3, 0);
        String b7 = basic(n, p + ".branch7x7x3_4", 192, 3, 2, 0);
        String bp = n.from(x).maxPool(p + ".max_pool", 3, 2, 0).last();
        return n.concat(p, b3, b7, bp).last();
    }

    private static String inceptionE(Net n, String p) {
        String x = n.last();
        String b1 = basic(n, p + ".branch1x1", 320, 1, 1, 0);
        n.from(x);
        String s = basic(n, p + ".branch3x3_1", 384, 1, 1, 0);
        String a = basic(n, p + ".branch3x3_2a", 384, 1, 3, 1, 0, 1);
        n.from(s);
        String b = basic(n, p + ".branch3x3_2b", 384, 3, 1, 1, 1, 0);
        n.from(x);
        basic(n, p + ".branch3x3dbl_1", 448, 1, 1, 0);
        String d = basic(n, p + ".branch3x3dbl_2", 384, 3, 1, 1);
        String da = basic(n, p + ".branch3x3dbl_3a", 384, 1, 3, 1, 0, 1);
        n.from(d);
        String db = basic(n, p + ".branch3x3dbl_3b", 384, 3, 1, 1, 1, 0);
        n.from(x).avgPool(p + ".avg_pool", 3, 1, 1);
        String bp = basic(n, p + ".branch_pool", 192, 1, 1, 0);
        return n.concat(p, b1, a, b, da, db, bp).last();
    }

    @Override
    public ComputationGraphConfiguration configuration(ModelSpec spec) {
        checkInput(spec);
        Net n = new Net(spec);
        basic(n, "Conv2d_1a_3x3", 32, 3, 2, 0);
        basic(n, "Conv2d_2a_3x3", 32, 3, 1, 0);
        basic(n, "Conv2d_2b_3x3", 64, 3, 1, 1);
        n.maxPool("maxpool1", 3, 2, 0);
        basic(n, "Conv2d_3b_1x1", 80, 1, 1, 0);
        basic(n, "Conv2d_4a_3x3", 192, 3, 1, 0);
        n.maxPool("maxpool2", 3, 2, 0);
        inceptionA(n, "Mixed_5b", 32);
        inceptionA(n, "Mixed_5c", 64);
        inceptionA(n, "Mixed_5d", 64);
        inceptionB(n, "Mixed_6a");
        inceptionC(n, "Mixed_6b", 128);
        inceptionC(n, "Mixed_6c", 160);
        inceptionC(n, "Mixed_6d", 160);
        inceptionC(n, "Mixed_6e", 192);
        inceptionD(n, "Mixed_7a");
        inceptionE(n, "Mixed_7b");
        inceptionE(n, "Mixed_7c");
        return n.globalAvgPool("avgpool").output("fc", 0.5).build();
    }
}
