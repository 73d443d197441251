package dev.cnn.zoo;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.activations.IActivation;

import java.util.ArrayList;
import java.util.List;

/**
 * RegNetY (Radosavovic et al. 2020) as torchvision builds it: stage widths and depths generated from the design
 * space's parameters (depth, w0, wa, wm, group width; torchvision's {@code BlockParams.from_init_params}, with its
 * rounding), residual bottlenecks with a grouped 3x3 convolution and squeeze-and-excitation (ratio 0.25 of the
 * block's input width). Names follow torchvision's ({@code trunk_output.block2.block2-0.f.b.0}).
 */
final class RegNet implements Architecture {
    enum Variant {
        REGNET_Y_400MF(16, 48, 27.89, 2.09, 8),
        REGNET_Y_1_6GF(27, 48, 20.71, 2.65, 24);

        final int depth;
        final int w0;
        final double wa;
        final double wm;
        final int groupWidth;

        Variant(int depth, int w0, double wa, double wm, int groupWidth) {
            this.depth = depth;
            this.w0 = w0;
            this.wa = wa;
            this.wm = wm;
            this.groupWidth = groupWidth;
        }
    }

    private static final double SE_RATIO = 0.25;
    private static final IActivation NONE = Activation.IDENTITY.getActivationFunction();

    /** A stage: its width, depth and group width. */
    record Stage(int width, int depth, int groupWidth) {
    }

    private final Variant variant;

    RegNet(Variant variant) {
        this.variant = variant;
    }

    /** torchvision's {@code BlockParams.from_init_params} (bottleneck multiplier 1), in float32 as torch computes. */
    static List<Stage> stages(Variant v) {
        int[] widths = new int[v.depth];
        for (int i = 0; i < v.depth; i++) {
            float cont = (float) i * (float) v.wa + v.w0;
            double capacity = Math.rint((float) Math.log(cont / (float) v.w0) / (float) Math.log(v.wm));
            widths[i] = (int) (Math.rint((float) (v.w0 * Math.pow(v.wm, capacity)) / 8f) * 8);
        }
        List<Stage> out = new ArrayList<>();
        int start = 0;
        for (int i = 1; i <= v.depth; i++) {
            if (i == v.depth || widths[i] != widths[start]) {
                int w = widths[start];
                int g = Math.min(v.groupWidth, w);
                out.add(new Stage(Net.makeDivisible(w, g), i - start, g));
                start = i;
            }
        }
        return out;
    }

    @Override
    public String name() {
        return variant.name().toLowerCase();
    }

    @Override
    public String description() {
        return "RegNetY-" + name().substring("regnet_y_".length()).toUpperCase().replace('_', '.')
                + " (grouped bottlenecks, squeeze-and-excitation, torchvision layout)";
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
        IActivation relu = Activation.RELU.getActivationFunction();
        Net n = new Net(spec);
        n.conv("stem.0", 32, 3, 2, 1, 1, false, NONE).bn("stem.1").relu("stem.2");
        int in = 32;
        List<Stage> stages = stages(variant);
        for (int s = 0; s < stages.size(); s++) {
            Stage st = stages.get(s);
            for (int i = 0; i < st.depth(); i++) {
                int stride = i == 0 ? 2 : 1;
                String p = "trunk_output.block" + (s + 1) + ".block" + (s + 1) + "-" + i + ".";
                String x = n.last();
                int w = st.width();
                n.conv(p + "f.a.0", w, 1, 1, 0, 1, false, NONE).bn(p + "f.a.1").relu(p + "f.a.2")
                        .conv(p + "f.b.0", w, 3, stride, 1, w / st.groupWidth(), false, NONE).bn(p + "f.b.1")
                        .relu(p + "f.b.2")
                        .squeezeExcitation(p + "f.se.", w, (int) Math.round(SE_RATIO * in), relu,
                                Activation.SIGMOID.getActivationFunction())
                        .conv(p + "f.c.0", w, 1, 1, 0, 1, false, NONE).bn(p + "f.c.1");
                String f = n.last();
                String shortcut = x;
                if (in != w || stride != 1) {
                    n.from(x).conv(p + "proj.0", w, 1, stride, 0, 1, false, NONE).bn(p + "proj.1");
                    shortcut = n.last();
                }
                n.sum(p + "add", shortcut, f).relu(p + "activation");
                in = w;
            }
        }
        return n.globalAvgPool("avgpool").output("fc", 0).build();
    }
}
