package dev.cnn.accel;

import dev.cnn.zoo.GraphQueries;
import org.deeplearning4j.nn.api.Layer;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.deeplearning4j.nn.params.ConvolutionParamInitializer;
import org.nd4j.linalg.activations.impl.ActivationIdentity;
import org.nd4j.linalg.activations.impl.ActivationReLU;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An inference-only copy of a network with every {@code conv -> batch norm} pair folded into one convolution (the
 * usual {@code W' = W * gamma / std}, {@code b' = (b - mean) * gamma / std + beta}, with {@code std = sqrt(var + eps)})
 * and an element-wise activation layer that directly follows such a convolution (ReLU, ReLU6, SiLU, Hardswish, GELU,
 * sigmoid, tanh: the ones {@link Eltwise} maps to a oneDNN post-op) moved into it. The outputs equal the original network's in
 * inference mode to float rounding; the original is left untouched. ResNets lose two of every three layers' worth of
 * per-layer work (and the memory traffic of the batch-norm and activation passes).
 *
 * <p>Only plain (not frozen) {@link ConvolutionLayer}s with an identity activation whose sole consumer is a batch
 * norm (without input preprocessor) are folded; anything else is copied as it is. A network with nothing to fold is
 * returned itself.
 */
final class InferenceGraph {

    /** What {@link #fold} did. */
    public record Folded(ComputationGraph network, int batchNorms, int activations, int residuals) {
    }

    /**
     * Below this many images folding does not pay for itself: it costs about a graph initialisation (0.2-0.5 s for
     * resnet18) and saves 0.3-0.6 ms per image on this project's 2-core machine (resnet18@64: 70 -> 51 ms per batch
     * of 32).
     */
    public static final int WORTH_FOLDING = 500;

    private InferenceGraph() {
    }

    /** The network to run {@code images} images through: folded when that pays off, else {@code net} itself. */
    static ComputationGraph forImages(ComputationGraph net, long images, AccelOptions options) {
        if (images >= WORTH_FOLDING && options.fold()) {
            return fold(net, options).network();
        }
        GraphPolicy.install(net, options);
        return net;
    }

    /** Folds batch norms (and the activations after them) into the preceding convolutions; see the class comment. */
    static Folded fold(ComputationGraph net, AccelOptions options) {
        ComputationGraphConfiguration conf = net.getConfiguration().clone();
        Map<String, GraphVertex> vertices = conf.getVertices();
        Map<String, List<String>> inputs = conf.getVertexInputs();
        Map<String, String> foldedBn = new LinkedHashMap<>(); // conv -> batch norm folded into it
        int relus = 0;
        for (String bn : new ArrayList<>(vertices.keySet())) {
            if (!(layerOf(vertices.get(bn)) instanceof BatchNormalization) || hasPreProcessor(vertices.get(bn))) {
                continue;
            }
            List<String> in = inputs.get(bn);
            if (in == null || in.size() != 1 || !foldableConv(vertices.get(in.get(0)))
                    || GraphQueries.consumers(conf, in.get(0)).size() != 1
                    || conf.getNetworkOutputs().contains(in.get(0))
                    || conf.getNetworkOutputs().contains(bn)) {
                continue;
            }
            String conv = in.get(0);
            ((ConvolutionLayer) layerOf(vertices.get(conv))).setHasBias(true);
            remove(conf, bn, conv);
            foldedBn.put(conv, bn);
            List<String> next = GraphQueries.consumers(conf, conv);
            if (next.size() == 1 && layerOf(vertices.get(next.get(0))) instanceof ActivationLayer act
                    && Eltwise.of(act.getActivationFn()) != null && !hasPreProcessor(vertices.get(next.get(0)))
                    && !conf.getNetworkOutputs().contains(next.get(0))) {
                ((ConvolutionLayer) layerOf(vertices.get(conv))).setActivationFn(act.getActivationFn());
                remove(conf, next.get(0), conv);
                relus++;
            }
        }
        // a batch norm that no convolution feeds (DenseNet's, on a concatenation) takes the ReLU after it into its
        // own pass, on oneDNN only: its configuration becomes a ReluBatchNormalization (so a copy saved or rebuilt
        // from the configuration computes the same), and the ReLU layer goes
        int reluBatchNorms = 0;
        boolean dnnl = GraphPolicy.usesDnnl(options) && net.params().dataType() == DataType.FLOAT;
        for (String bn : dnnl ? new ArrayList<>(vertices.keySet()) : List.<String>of()) {
            if (!(layerOf(vertices.get(bn)) instanceof BatchNormalization) || hasPreProcessor(vertices.get(bn))
                    || foldedBn.containsValue(bn) || conf.getNetworkOutputs().contains(bn)) {
                continue;
            }
            List<String> next = GraphQueries.consumers(conf, bn);
            if (next.size() == 1 && layerOf(vertices.get(next.get(0))) instanceof ActivationLayer act
                    && GraphPolicy.plainRelu(act.getActivationFn()) && !hasPreProcessor(vertices.get(next.get(0)))
                    && !conf.getNetworkOutputs().contains(next.get(0))) {
                org.deeplearning4j.nn.conf.NeuralNetConfiguration lc = ((LayerVertex) vertices.get(bn)).getLayerConf();
                lc.setLayer(ReluBatchNormalization.of((BatchNormalization) lc.getLayer()));
                remove(conf, next.get(0), bn);
                reluBatchNorms++;
                relus++;
            }
        }
        if (foldedBn.isEmpty() && reluBatchNorms == 0) {
            GraphPolicy.install(net, options);
            return new Folded(net, 0, 0, 0);
        }
        long n = net.numParams();
        for (Map.Entry<String, String> e : foldedBn.entrySet()) {
            n += ((ConvolutionLayer) layerOf(vertices.get(e.getKey()))).getNOut()
                    - (net.getLayer(e.getKey()).conf().getLayer() instanceof ConvolutionLayer c && c.hasBias()
                    ? c.getNOut() : 0)
                    - net.getLayer(e.getValue()).numParams();
        }
        ComputationGraph out = rebuilt(conf, net, n);
        for (Layer l : out.getLayers()) {
            String name = l.conf().getLayer().getLayerName();
            String bn = foldedBn.get(name);
            if (bn == null) {
                copyParams(net.getLayer(name), l);
            } else {
                foldInto(l, net.getLayer(name), net.getLayer(bn));
            }
        }
        int residuals = 0;
        if (GraphPolicy.usesDnnl(options) && out.params().dataType() == DataType.FLOAT) {
            Fused fused = fuseResiduals(out);
            residuals = fused.residuals();
            out = fused.network();
        }
        GraphPolicy.installForInference(out, options); // weights final from here on: reordered once, activations fused
        if (GraphPolicy.usesDnnl(options) && out.params().dataType() == DataType.FLOAT) {
            // no reorders between the convolutions (every network: EfficientNet's inference lost a third of its time
            // to reorders when only ResNets with fused residuals were blocked here)
            GraphPolicy.blockActivations(out);
        }
        return new Folded(out, foldedBn.size(), relus, residuals);
    }

    /**
     * Replaces every {@code conv -> add(shortcut) -> relu} (a ResNet block's end, after folding) with one
     * {@link ConvAddReluVertex}: the convolution adds its result to the shortcut and applies the ReLU in one oneDNN
     * call, instead of DL4J's add vertex and activation layer, which each copy their input first. The convolution
     * must have an identity activation and feed only the add, the add only the ReLU layer. The ReLU layer's name is
     * kept for the new vertex, so the rest of the graph reads it as before.
     */
    static Fused fuseResiduals(ComputationGraph net) {
        ComputationGraphConfiguration conf = net.getConfiguration().clone();
        Map<String, GraphVertex> vertices = conf.getVertices();
        Map<String, List<String>> inputs = conf.getVertexInputs();
        List<String> outputs = conf.getNetworkOutputs();
        List<String> removedConvs = new ArrayList<>();
        for (String add : new ArrayList<>(vertices.keySet())) {
            if (!(vertices.get(add) instanceof ElementWiseVertex ew) || ew.getOp() != ElementWiseVertex.Op.Add
                    || inputs.get(add).size() != 2 || outputs.contains(add)) {
                continue;
            }
            List<String> next = GraphQueries.consumers(conf, add);
            if (next.size() != 1 || !(layerOf(vertices.get(next.get(0))) instanceof ActivationLayer act)
                    || !GraphPolicy.plainRelu(act.getActivationFn()) || hasPreProcessor(vertices.get(next.get(0)))) {
                continue;
            }
            String relu = next.get(0);
            String conv = null;
            for (String c : inputs.get(add)) {
                if (foldableConv(vertices.get(c)) && !hasPreProcessor(vertices.get(c)) && !outputs.contains(c)
                        && GraphQueries.consumers(conf, c).size() == 1 && inputs.get(c).size() == 1
                        && net.getLayer(c).paramTable().containsKey(ConvolutionParamInitializer.BIAS_KEY)) {
                    conv = c;
                    break;
                }
            }
            List<String> addIn = inputs.get(add);
            if (conv == null || addIn.get(0).equals(addIn.get(1))) {
                continue;
            }
            String shortcut = addIn.get(0).equals(conv) ? addIn.get(1) : addIn.get(0);
            Layer l = net.getLayer(conv);
            INDArray w;
            INDArray b;
            try (org.nd4j.linalg.api.memory.MemoryWorkspace ws = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
                w = l.getParam(ConvolutionParamInitializer.WEIGHT_KEY).dup('c');
                b = l.getParam(ConvolutionParamInitializer.BIAS_KEY).dup('c');
            }
            String convInput = inputs.get(conv).get(0);
            vertices.put(relu, new ConvAddReluVertex((ConvolutionLayer) layerOf(vertices.get(conv)), w, b));
            inputs.put(relu, new ArrayList<>(List.of(convInput, shortcut)));
            for (String gone : List.of(conv, add)) {
                vertices.remove(gone);
                inputs.remove(gone);
            }
            removedConvs.add(conv);
        }
        if (removedConvs.isEmpty()) {
            return new Fused(net, 0);
        }
        long n = net.numParams();
        for (String c : removedConvs) {
            n -= net.getLayer(c).numParams();
        }
        ComputationGraph out = rebuilt(conf, net, n);
        for (Layer l : out.getLayers()) {
            copyParams(net.getLayer(l.conf().getLayer().getLayerName()), l);
        }
        return new Fused(out, removedConvs.size());
    }

    /** What {@link #fuseResiduals} made: the network and how many residual blocks it fused. */
    record Fused(ComputationGraph network, int residuals) {
    }

    /** A network for the edited configuration {@code conf} of {@code net}, with {@code numParams} parameters. */
    private static ComputationGraph rebuilt(ComputationGraphConfiguration conf, ComputationGraph net, long numParams) {
        ComputationGraph out = new ComputationGraph(conf);
        out.init(Nd4j.create(net.params().dataType(), 1, numParams), false);
        return out;
    }

    /** Copies every parameter of {@code from} into the same-named parameter of {@code to}. */
    private static void copyParams(Layer from, Layer to) {
        for (Map.Entry<String, INDArray> p : to.paramTable().entrySet()) {
            p.getValue().assign(from.getParam(p.getKey()));
        }
    }

    private static void foldInto(Layer target, Layer conv, Layer bnLayer) {
        BatchNormalization bn = (BatchNormalization) bnLayer.conf().getLayer();
        INDArray mean = bnLayer.getParam(BatchNormalizationParamInitializer.GLOBAL_MEAN).reshape(-1);
        // as DL4J's forward pass: var is stored as is, or as log10(std) with var = std^2; std = sqrt(var + eps)
        INDArray var = bn.isUseLogStd()
                ? Transforms.exp(bnLayer.getParam(BatchNormalizationParamInitializer.GLOBAL_LOG_STD).reshape(-1)
                .mul(2 * Math.log(10.0)), false)
                : bnLayer.getParam(BatchNormalizationParamInitializer.GLOBAL_VAR).reshape(-1);
        INDArray std = Transforms.sqrt(var.add(bn.getEps()), false);
        long c = mean.length();
        INDArray gamma = bn.isLockGammaBeta() ? Nd4j.valueArrayOf(new long[]{c}, bn.getGamma(), mean.dataType())
                : bnLayer.getParam(BatchNormalizationParamInitializer.GAMMA).reshape(-1);
        INDArray beta = bn.isLockGammaBeta() ? Nd4j.valueArrayOf(new long[]{c}, bn.getBeta(), mean.dataType())
                : bnLayer.getParam(BatchNormalizationParamInitializer.BETA).reshape(-1);
        INDArray scale = gamma.div(std); // [C]
        INDArray w = conv.getParam(ConvolutionParamInitializer.WEIGHT_KEY); // [out, in, kH, kW]
        INDArray wf = w.reshape(c, -1).mulColumnVector(scale.reshape(c, 1)).reshape(w.shape());
        target.getParam(ConvolutionParamInitializer.WEIGHT_KEY).assign(wf);
        INDArray b = conv.paramTable().containsKey(ConvolutionParamInitializer.BIAS_KEY)
                ? conv.getParam(ConvolutionParamInitializer.BIAS_KEY).reshape(-1) : Nd4j.zeros(mean.dataType(), c);
        INDArray bf = b.sub(mean).muli(scale).addi(beta);
        INDArray tb = target.getParam(ConvolutionParamInitializer.BIAS_KEY);
        tb.assign(bf.reshape(tb.shape()));
    }

    private static org.deeplearning4j.nn.conf.layers.Layer layerOf(GraphVertex v) {
        return v instanceof LayerVertex lv ? lv.getLayerConf().getLayer() : null;
    }

    private static boolean hasPreProcessor(GraphVertex v) {
        return v instanceof LayerVertex lv && lv.getPreProcessor() != null;
    }

    private static boolean foldableConv(GraphVertex v) {
        return layerOf(v) instanceof ConvolutionLayer c && (c.getClass() == ConvolutionLayer.class
                || c.getClass() == dev.cnn.zoo.layers.GroupedConvolution.class)
                && (c.getActivationFn() == null || c.getActivationFn() instanceof ActivationIdentity);
    }

    /** Removes single-input vertex {@code name}, feeding its consumers from {@code replacement}. */
    private static void remove(ComputationGraphConfiguration conf, String name, String replacement) {
        conf.getVertices().remove(name);
        conf.getVertexInputs().remove(name);
        for (List<String> in : conf.getVertexInputs().values()) {
            in.replaceAll(s -> s.equals(name) ? replacement : s);
        }
    }
}
