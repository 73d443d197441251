package dev.cnn.zoo;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayerWithBackprop;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Keras/torchinfo-style layer table computed from a configuration alone (no parameters are allocated, so the
 * 1000-class networks at 224 px are summarised in milliseconds). Batch-norm running mean and variance are counted as
 * {@code state}, not parameters, as in PyTorch's {@code parameters()}.
 */
public record ModelSummary(String inputShape, List<Row> rows) {

    /**
     * One vertex of the graph.
     *
     * @param outputShape e.g. {@code 64x56x56} or {@code 1000}
     * @param params      learnable parameters (including frozen ones)
     * @param state       non-learnable buffers (batch-norm running statistics)
     * @param macs        multiply-accumulates of one forward pass of one image (convolutions and dense layers)
     * @param trainable   false for frozen layers
     */
    public record Row(String name, String type, List<String> inputs, String outputShape, long params, long state,
                      long macs, boolean trainable) {
    }

    public long totalParams() {
        return rows.stream().mapToLong(Row::params).sum();
    }

    public long trainableParams() {
        return rows.stream().filter(Row::trainable).mapToLong(Row::params).sum();
    }

    public long totalState() {
        return rows.stream().mapToLong(Row::state).sum();
    }

    public long totalMacs() {
        return rows.stream().mapToLong(Row::macs).sum();
    }

    /** Summary of {@code architecture} built for {@code spec}. */
    public static ModelSummary of(Architecture architecture, ModelSpec spec) {
        return of(architecture.configuration(spec),
                InputType.convolutional(spec.height(), spec.width(), spec.channels()));
    }

    /** Summary of a single-input configuration fed with {@code in}. */
    public static ModelSummary of(ComputationGraphConfiguration conf, InputType in) {
        Map<String, InputType> types = conf.getLayerActivationTypes(in);
        Map<String, List<String>> inputsOf = conf.getVertexInputs();
        List<Row> rows = new ArrayList<>();
        for (String name : GraphQueries.topologicalOrder(conf)) {
            GraphVertex v = conf.getVertices().get(name);
            List<String> inputs = inputsOf.getOrDefault(name, List.of());
            InputType out = types.get(name);
            long params = 0;
            long state = 0;
            long macs = 0;
            boolean trainable = true;
            String type = v.getClass().getSimpleName().replace("Vertex", "");
            if (v instanceof LayerVertex lv) {
                Layer layer = lv.getLayerConf().getLayer();
                if (layer instanceof FrozenLayer f) {
                    layer = f.getLayer();
                    trainable = false;
                } else if (layer instanceof FrozenLayerWithBackprop f) {
                    layer = f.getUnderlying();
                    trainable = false;
                }
                type = layer.getClass().getSimpleName();
                long n = layer.initializer().numParams(layer);
                if (layer instanceof BatchNormalization bn) {
                    state = 2 * bn.getNOut();
                    n -= state;
                }
                params = n;
                macs = macs(layer, out);
                if (n == 0) {
                    trainable = true;
                }
            }
            rows.add(new Row(name, type, inputs, shape(out), params, state, macs, trainable));
        }
        return new ModelSummary(shape(in), rows);
    }

    private static long macs(Layer layer, InputType out) {
        if (layer instanceof ConvolutionLayer c && out instanceof InputType.InputTypeConvolutional o) {
            long[] k = toLong(c.getKernelSize());
            long groups = c instanceof dev.cnn.zoo.layers.GroupedConvolution g ? g.getGroups() : 1;
            return o.getHeight() * o.getWidth() * o.getChannels() * k[0] * k[1] * (c.getNIn() / groups);
        }
        // dense layers; not parameter-free feed-forward layers (a LossLayer or DropoutLayer has nIn and nOut too)
        if (layer instanceof FeedForwardLayer f && !(layer instanceof BatchNormalization)
                && !(layer instanceof ConvolutionLayer) && layer.initializer().numParams(layer) > 0) {
            return f.getNIn() * f.getNOut();
        }
        return 0;
    }

    private static long[] toLong(int[] a) {
        return new long[]{a[0], a[1]};
    }

    /** Shape of one example's activations, e.g. {@code 64x56x56}. */
    static String shape(InputType t) {
        if (t == null) {
            return "?";
        }
        long[] s = t.getShape(false);
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length; i++) {
            b.append(i == 0 ? "" : "x").append(s[i]);
        }
        return b.toString();
    }

    /** Fixed-width table like Keras' {@code model.summary()}. */
    public String toTable() {
        int w = Math.max(24, rows.stream().mapToInt(r -> r.name().length()).max().orElse(0) + 2);
        String fmt = "%-" + w + "s %-26s %-16s %14s %10s%n";
        StringBuilder b = new StringBuilder();
        b.append(String.format(fmt, "Layer", "Type", "Output shape", "Params", "Trainable"));
        b.append("-".repeat(w + 70)).append('\n');
        b.append(String.format(fmt, "input", "Input", inputShape, "0", ""));
        for (Row r : rows) {
            b.append(String.format(fmt, r.name(), r.type(), r.outputShape(), String.format("%,d", r.params()),
                    r.params() == 0 ? "" : (r.trainable() ? "yes" : "no")));
        }
        b.append("-".repeat(w + 70)).append('\n');
        b.append(String.format("Total params:         %,d%n", totalParams()));
        b.append(String.format("Trainable params:     %,d%n", trainableParams()));
        b.append(String.format("Non-trainable params: %,d%n", totalParams() - trainableParams()));
        b.append(String.format("Buffers (BN running mean/var): %,d%n", totalState()));
        b.append(String.format("Multiply-adds per image: %,d (%.2f G)%n", totalMacs(), totalMacs() / 1e9));
        return b.toString();
    }
}
