package dev.cnn.accel;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.layers.FrozenLayer;
import org.deeplearning4j.nn.layers.convolution.ConvolutionHelper;
import org.deeplearning4j.nn.layers.convolution.ConvolutionLayer;
import org.deeplearning4j.nn.layers.convolution.subsampling.SubsamplingHelper;
import org.deeplearning4j.nn.layers.convolution.subsampling.SubsamplingLayer;
import org.deeplearning4j.nn.layers.normalization.BatchNormalization;

import java.util.List;
import java.util.Map;

/**
 * The graph policy: which layers of a DL4J network run on this package's oneDNN helpers ({@link #install}), which
 * DL4J layers are swapped for this package's subclasses, and which activations stay in oneDNN's blocked layout
 * ({@link #blockActivations}). Callers outside this package go through {@link Accel}.
 */
final class GraphPolicy {
    private GraphPolicy() {
    }

    /**
     * Puts {@link DnnlConvHelper} on every standard convolution layer of {@code g}, {@link DnnlPoolingHelper} on
     * every subsampling layer and {@link DnnlBatchNormHelper} on every batch-norm layer (frozen ones included),
     * keeping the helper each replaces for the calls it does not cover, and replaces each plain dense layer by a
     * {@link DnnlDenseLayer}. Where oneDNN is not available, installs {@link SmallMapConvHelper} instead. Idempotent.
     *
     * @return the number of layers that now run on this package's helpers
     */
    static int install(ComputationGraph g, AccelOptions options) {
        return install(g, options, false);
    }

    /**
     * {@link #install(ComputationGraph, AccelOptions)} for a network that only runs inference and whose weights never change
     * after this call (a folded copy, see {@code InferenceGraph}): convolution weights are reordered into oneDNN's
     * layout once, and ReLU activations run inside the convolutions.
     */
    static int installForInference(ComputationGraph g, AccelOptions options) {
        return install(g, options, true);
    }

    private static int install(ComputationGraph g, AccelOptions options, boolean inferenceOnly) {
        if (!usesDnnl(options)) {
            return SmallMapConvHelper.install(g);
        }
        int n = replaceLayers(g);
        for (Layer l : g.getLayers()) {
            Layer inner = l instanceof FrozenLayer f ? f.getInsideLayer() : l;
            try {
                if (inner.getClass() == ConvolutionLayer.class) {
                    Object h = Dl4jInternals.convolutionHelper(inner);
                    if (!(h instanceof DnnlConvHelper d) || d.inferenceOnly() != inferenceOnly) {
                        ConvolutionHelper previous = h instanceof DnnlConvHelper d ? d.fallback()
                                : h instanceof ConvolutionHelper c ? c : null;
                        Eltwise act = inner.conf().getLayer() instanceof org.deeplearning4j.nn.conf.layers.BaseLayer b
                                ? Eltwise.of(b.getActivationFn()) : null;
                        DnnlConvHelper fresh = new DnnlConvHelper(previous, inferenceOnly, act);
                        if (h instanceof DnnlConvHelper d) { // keep the layout its neighbours expect
                            fresh.blocked(d.srcBlocked(), d.dstBlocked());
                        }
                        Dl4jInternals.setConvolutionHelper(inner, fresh);
                    }
                    ((DnnlConvHelper) Dl4jInternals.convolutionHelper(inner)).owner(inner);
                    n++;
                } else if (inner instanceof dev.cnn.zoo.layers.GroupedConvolutionLayer gc) {
                    ConvolutionHelper h = gc.convolutionHelper();
                    if (!(h instanceof DnnlConvHelper d) || d.inferenceOnly() != inferenceOnly) {
                        Eltwise act = Eltwise.of(((org.deeplearning4j.nn.conf.layers.BaseLayer) inner.conf()
                                .getLayer()).getActivationFn());
                        DnnlConvHelper fresh = new DnnlConvHelper(null, inferenceOnly, act);
                        if (h instanceof DnnlConvHelper d) {
                            fresh.blocked(d.srcBlocked(), d.dstBlocked());
                        }
                        gc.setConvolutionHelper(fresh);
                    }
                    n++;
                } else if (inner instanceof SubsamplingLayer && (inner.getClass() == SubsamplingLayer.class
                        || inner.getClass() == DnnlSubsamplingLayer.class)) {
                    Object h = Dl4jInternals.poolingHelper(inner);
                    if (!(h instanceof DnnlPoolingHelper)) {
                        Dl4jInternals.setPoolingHelper(inner, new DnnlPoolingHelper(h instanceof SubsamplingHelper s ? s : null,
                                ((org.deeplearning4j.nn.conf.layers.SubsamplingLayer) inner.conf().getLayer())
                                        .isAvgPoolIncludePadInDivisor()));
                    }
                    n++;
                } else if (inner instanceof BatchNormalization) { // DL4J's, or an inference copy's ReluBatchNormLayer
                    if (!(Dl4jInternals.batchNormHelper(inner) instanceof DnnlBatchNormHelper)) {
                        Dl4jInternals.setBatchNormHelper(inner, new DnnlBatchNormHelper());
                    }
                    ((DnnlBatchNormHelper) Dl4jInternals.batchNormHelper(inner))
                            .fuseRelu(inner instanceof ReluBatchNormLayer);
                    n++;
                }
            } catch (ReflectiveOperationException e) {
                return n;
            }
        }
        return n;
    }

    /**
     * Replaces each plain DL4J dense layer of {@code g} (not frozen ones) by a {@link DnnlDenseLayer}, each plain
     * subsampling layer by a {@link DnnlSubsamplingLayer} and each plain activation layer by an {@link
     * EltwiseLayer}, sharing its configuration, parameters, gradient views and state: DL4J's dense and
     * activation layers have no helper to plug in, and its subsampling layer uses its helper only backward.
     *
     * @return the number of dense layers now on oneDNN
     */
    static int replaceLayers(ComputationGraph g) {
        if (!Dl4jInternals.layersReplaceable()) {
            return 0;
        }
        int dense = 0;
        try {
            for (org.deeplearning4j.nn.graph.vertex.GraphVertex gv : g.getVertices()) {
                if (!(gv instanceof org.deeplearning4j.nn.graph.vertex.impl.LayerVertex)) {
                    continue;
                }
                Layer l = gv.getLayer();
                Layer d = replacement(l);
                if (d != null) {
                    Dl4jInternals.replaceLayer(g, gv, l, d);
                }
                if (gv.getLayer() instanceof DnnlDenseLayer) {
                    dense++;
                }
            }
        } catch (IllegalAccessException e) {
            throw new IllegalStateException("cannot replace DL4J's layers", e);
        }
        return dense;
    }

    /** This package's subclass for a plain DL4J layer {@code l} (not its state yet), or null. */
    private static Layer replacement(Layer l) throws IllegalAccessException {
        Class<?> c = l.getClass();
        if (c == org.deeplearning4j.nn.layers.feedforward.dense.DenseLayer.class) {
            return new DnnlDenseLayer(l.conf(), Dl4jInternals.dataType(l));
        } else if (c == org.deeplearning4j.nn.layers.ActivationLayer.class) {
            return new EltwiseLayer(l.conf(), Dl4jInternals.dataType(l));
        } else if (c == SubsamplingLayer.class) {
            return new DnnlSubsamplingLayer(l.conf(), Dl4jInternals.dataType(l));
        } else if (c == org.deeplearning4j.nn.layers.pooling.GlobalPoolingLayer.class) {
            return new BlockedGlobalPoolingLayer(l.conf(), Dl4jInternals.dataType(l));
        }
        return null; // other layers, frozen wrappers included, stay as they are
    }



    /**
     * Keeps activations (and, in training, their gradients) in oneDNN's blocked layout ({@link Dnnl#blockedTag()})
     * under their NCHW shape wherever nothing but this package's helpers and layout-blind element-wise steps touch
     * them, so that no reorder runs between consecutive convolutions. Call after {@link #install} or
     * {@link #installForInference}, before the first forward pass.
     *
     * <p>Tensors are grouped through the steps that keep their input's layout (batch norm on {@link
     * DnnlBatchNormHelper}, max and average pooling on {@link DnnlSubsamplingLayer}, element-wise activation layers,
     * element-wise vertices such as a residual add, stochastic depth, the channel gate of squeeze-and-excitation,
     * concatenations of whole channel blocks); a group
     * is blocked when every producer and consumer in it is such a step, a convolution on {@link DnnlConvHelper},
     * a {@link ConvAddReluVertex} (NCHW, no preprocessor, no dropout) or a global average pooling (which reads
     * either layout, see {@link BlockedGlobalPoolingLayer}), every convolution's channels are a multiple
     * of the block and no tensor in it is a network input or output. Everything else (average pooling with
     * {@code Same} padding, concatenations of partial blocks, dense layers, the outputs) keeps reading NCHW.
     *
     * @return the number of tensors kept blocked
     */
    static int blockActivations(ComputationGraph g) {
        if (!Dnnl.available()) {
            return 0;
        }
        org.deeplearning4j.nn.conf.ComputationGraphConfiguration conf = g.getConfiguration();
        Map<String, List<String>> inputs = conf.getVertexInputs();
        java.util.Set<String> outputs = new java.util.HashSet<>(conf.getNetworkOutputs());
        Map<String, String> parent = new java.util.HashMap<>();
        java.util.function.UnaryOperator<String> find = new java.util.function.UnaryOperator<>() {
            public String apply(String x) {
                String p = parent.getOrDefault(x, x);
                if (p.equals(x)) {
                    return x;
                }
                String r = apply(p);
                parent.put(x, r);
                return r;
            }
        };
        Map<String, Kind> kinds = new java.util.HashMap<>();
        Map<String, Long> channels = new java.util.HashMap<>(); // channelsOf, once per vertex for the whole graph
        for (String v : conf.getVertices().keySet()) {
            kinds.put(v, kind(g, v, channels));
        }
        for (String v : conf.getVertices().keySet()) {
            if (kinds.get(v) == Kind.PRESERVING) {
                for (String in : inputs.get(v)) {
                    parent.put(find.apply(in), find.apply(v));
                }
            }
        }
        java.util.Set<String> notBlockable = new java.util.HashSet<>();
        for (String in : conf.getNetworkInputs()) {
            notBlockable.add(find.apply(in));
        }
        for (String v : conf.getVertices().keySet()) {
            Kind k = kinds.get(v);
            String cls = find.apply(v);
            if (k == Kind.OTHER || k == Kind.READER || outputs.contains(v) || channels(g, v) % Dnnl.BLOCK != 0) {
                notBlockable.add(cls);
            }
            if (k == Kind.OTHER) {
                for (String in : inputs.get(v)) {
                    notBlockable.add(find.apply(in));
                }
            }
        }
        int n = 0;
        for (String v : conf.getVertices().keySet()) {
            if (kinds.get(v) == Kind.OTHER) {
                continue;
            }
            boolean out = !notBlockable.contains(find.apply(v));
            n += out ? 1 : 0;
            List<String> in = inputs.get(v);
            boolean in0 = !notBlockable.contains(find.apply(in.get(0)));
            boolean in1 = in.size() > 1 && !notBlockable.contains(find.apply(in.get(1)));
            org.deeplearning4j.nn.graph.vertex.GraphVertex gv = g.getVertex(v);
            setLayout(gv, in0, in1, out);
            if ((in0 || out) && gv.hasLayer()) {
                noSilentFallback(gv.getLayer().conf().getLayer());
            }
        }
        return n;
    }

    /**
     * DL4J answers a helper exception by running its own code from then on, which would read blocked arrays as
     * NCHW: for layers on blocked arrays an exception must surface instead.
     */
    private static void noSilentFallback(org.deeplearning4j.nn.conf.layers.Layer conf) {
        allowFallback(conf, false);
    }

    /** Sets DL4J's helper-fallback flag of a convolution, batch-norm or subsampling layer configuration. */
    private static void allowFallback(org.deeplearning4j.nn.conf.layers.Layer conf, boolean allow) {
        if (conf instanceof org.deeplearning4j.nn.conf.layers.ConvolutionLayer c) {
            c.setCudnnAllowFallback(allow);
        } else if (conf instanceof org.deeplearning4j.nn.conf.layers.BatchNormalization b) {
            b.setCudnnAllowFallback(allow);
        } else if (conf instanceof org.deeplearning4j.nn.conf.layers.SubsamplingLayer p) {
            p.setCudnnAllowFallback(allow);
        }
    }

    static void setCacheMode(ComputationGraph g, org.deeplearning4j.nn.conf.CacheMode mode) {
        g.getConfiguration().setCacheMode(mode); // DL4J opens its cache workspace only when the configuration asks
        g.setCacheMode(mode); // and each layer caches only when its own mode asks
    }

    /** Tells the convolution helpers of layers that read a network input whether to skip the input gradient. */
    static void skipInputGradients(ComputationGraph g, boolean skip) {
        org.deeplearning4j.nn.conf.ComputationGraphConfiguration conf = g.getConfiguration();
        java.util.Set<String> inputs = new java.util.HashSet<>(conf.getNetworkInputs());
        for (Map.Entry<String, List<String>> e : conf.getVertexInputs().entrySet()) {
            org.deeplearning4j.nn.graph.vertex.GraphVertex gv = g.getVertex(e.getKey());
            if (gv.hasLayer() && inputs.containsAll(e.getValue())
                    && helperOf(gv.getLayer()) instanceof DnnlConvHelper d) {
                d.skipInputGradient(skip);
            }
        }
    }

    /**
     * Turns on (or off) {@link DnnlConvHelper#keepOutput} for each trainable DL4J convolution layer of {@code g} with
     * an identity or plain ReLU activation, and sets such a layer's own cache mode to {@code NONE} (on) or {@code
     * mode} (off), so that DL4J copies no forward output for it. (Frozen layers run their forward pass as inference
     * and cache nothing.)
     *
     * @return the layers now handing their output to their backward pass by reference
     */
    static int keepConvolutionOutputs(ComputationGraph g, boolean on, org.deeplearning4j.nn.conf.CacheMode mode) {
        int n = 0;
        for (Layer l : g.getLayers()) {
            if (l.getClass() != ConvolutionLayer.class || !(helperOf(l) instanceof DnnlConvHelper d)) {
                continue;
            }
            org.nd4j.linalg.activations.IActivation afn =
                    ((org.deeplearning4j.nn.conf.layers.BaseLayer) l.conf().getLayer()).getActivationFn();
            boolean eligible = afn instanceof org.nd4j.linalg.activations.impl.ActivationIdentity || plainRelu(afn);
            if (d.keepOutput(on && eligible)) {
                l.setCacheMode(org.deeplearning4j.nn.conf.CacheMode.NONE);
                n++;
            } else {
                l.setCacheMode(mode);
            }
        }
        return n;
    }

    /**
     * Lets each {@link EltwiseLayer} of {@code g} whose activation's gradient follows from its output (ReLU, ReLU6)
     * and whose input nobody else reads apply it in place in training forward passes (see {@link
     * EltwiseLayer#inPlace}), or stops it ({@code on} false): the input must be the output of a batch norm or of a
     * residual add (neither reads its own output backward), read by this layer alone, no network output, and reach
     * it without a preprocessor. DL4J otherwise keeps both tensors for the whole training step: an activation output
     * per batch norm or residual add, about a fifth of resnet50's activations.
     *
     * @return the layers now applying it in place
     */
    static int activationsInPlace(ComputationGraph g, boolean on) {
        org.deeplearning4j.nn.conf.ComputationGraphConfiguration conf = g.getConfiguration();
        Map<String, List<String>> inputs = conf.getVertexInputs();
        Map<String, Integer> readers = new java.util.HashMap<>();
        for (List<String> in : inputs.values()) {
            for (String i : in) {
                readers.merge(i, 1, Integer::sum);
            }
        }
        java.util.Set<String> outputs = new java.util.HashSet<>(conf.getNetworkOutputs());
        int n = 0;
        for (org.deeplearning4j.nn.graph.vertex.GraphVertex gv : g.getVertices()) {
            if (!gv.hasLayer() || !(gv.getLayer() instanceof EltwiseLayer r)) {
                continue;
            }
            List<String> in = inputs.get(gv.getVertexName());
            boolean ok = on && r.canRunInPlace() && in != null && in.size() == 1
                    && readers.getOrDefault(in.get(0), 0) == 1 && !outputs.contains(in.get(0))
                    && !conf.getNetworkInputs().contains(in.get(0))
                    && conf.getVertices().get(gv.getVertexName())
                            instanceof org.deeplearning4j.nn.conf.graph.LayerVertex lv && lv.getPreProcessor() == null
                    && readsNotItsOutputBackward(conf.getVertices().get(in.get(0)));
            r.inPlace(ok);
            n += ok ? 1 : 0;
        }
        return n;
    }

    /** Whether the vertex is a batch norm or a residual add, whose backward pass never reads its output. */
    private static boolean readsNotItsOutputBackward(org.deeplearning4j.nn.conf.graph.GraphVertex v) {
        if (v instanceof org.deeplearning4j.nn.conf.graph.ElementWiseVertex e) {
            return e.getOp() == org.deeplearning4j.nn.conf.graph.ElementWiseVertex.Op.Add;
        }
        return v instanceof org.deeplearning4j.nn.conf.graph.LayerVertex lv
                && lv.getLayerConf().getLayer() instanceof org.deeplearning4j.nn.conf.layers.BatchNormalization;
    }

    /**
     * Undoes {@link #blockActivations}: every array is NCHW again (for a network handed back to its caller after
     * training, whose inner activations may be read, e.g. by {@code feedForward}).
     */
    static void unblock(ComputationGraph g) {
        for (org.deeplearning4j.nn.graph.vertex.GraphVertex gv : g.getVertices()) {
            setLayout(gv, false, false, false);
            if (gv.hasLayer()) {
                allowFallback(gv.getLayer().conf().getLayer(), true); // DL4J's default again (saved with the model)
            }
        }
    }

    /** Tells {@code gv}'s helper which of its first input, second input and output hold the blocked layout. */
    private static void setLayout(org.deeplearning4j.nn.graph.vertex.GraphVertex gv, boolean in0, boolean in1,
                                  boolean out) {
        Object helper = gv.hasLayer() ? helperOf(gv.getLayer()) : null;
        if (gv instanceof ConvAddReluVertex.Impl f) {
            f.blocked(in0, in1, out);
        } else if (gv instanceof dev.cnn.zoo.layers.ChannelBlocked c) { // the channel gate: same layout in and out
            c.channelBlock(out ? Dnnl.BLOCK : 0);
        } else if (gv.hasLayer() && gv.getLayer() instanceof BlockedGlobalPoolingLayer p) { // reads, writes [N, C]
            p.channelBlock(in0 ? Dnnl.BLOCK : 0);
        } else if (helper instanceof DnnlConvHelper d) {
            d.blocked(in0, out);
        } else if (helper instanceof DnnlBatchNormHelper b) {
            b.blocked(out);
        } else if (helper instanceof DnnlPoolingHelper p) {
            p.blocked(out);
        }
    }

    /**
     * CONVOLUTION: reads and writes either layout. PRESERVING: writes the layout it reads. READER: reads either
     * layout, writes NCHW. OTHER: NCHW in and out.
     */
    private enum Kind { CONVOLUTION, PRESERVING, READER, OTHER }

    /** A ReLU without clipping, threshold or leak: what oneDNN's {@code eltwise_relu} with alpha 0 computes. */
    static boolean plainRelu(org.nd4j.linalg.activations.IActivation a) {
        return a instanceof org.nd4j.linalg.activations.impl.ActivationReLU r
                && (r.getMax() == null || r.getMax() == 0) && (r.getThreshold() == null || r.getThreshold() == 0)
                && (r.getNegativeSlope() == null || r.getNegativeSlope() == 0);
    }

    /**
     * Activations that work element by element, so they are blind to the memory layout: ReLU, ReLU6 (MobileNetV2),
     * SiLU (EfficientNet), the zoo's Hardswish, Hardsigmoid and GELU, sigmoid, tanh, leaky ReLU, ELU.
     */
    private static boolean elementWise(org.nd4j.linalg.activations.IActivation a) {
        return a == null || a instanceof org.nd4j.linalg.activations.impl.ActivationIdentity
                || a instanceof org.nd4j.linalg.activations.impl.ActivationReLU
                || a instanceof org.nd4j.linalg.activations.impl.ActivationReLU6
                || a instanceof org.nd4j.linalg.activations.impl.ActivationSwish
                || a instanceof org.nd4j.linalg.activations.impl.ActivationSigmoid
                || a instanceof org.nd4j.linalg.activations.impl.ActivationTanH
                || a instanceof org.nd4j.linalg.activations.impl.ActivationLReLU
                || a instanceof org.nd4j.linalg.activations.impl.ActivationELU
                || a instanceof dev.cnn.zoo.layers.ActivationHardSwish
                || a instanceof dev.cnn.zoo.layers.ActivationHardSigmoid
                || a instanceof dev.cnn.zoo.layers.ActivationGelu;
    }

    private static Object helperOf(Layer l) {
        return Dl4jInternals.currentHelper(l);
    }

    /** Whether {@code options} and this machine let networks run on this package's oneDNN helpers. */
    static boolean usesDnnl(AccelOptions options) {
        return options.dnnl() && Dnnl.available() && Dl4jInternals.helpersReachable();
    }

    /** The number of vertices of {@code g} whose helper reads or writes the blocked layout. */
    static int blockedVertices(ComputationGraph g) {
        int n = 0;
        for (org.deeplearning4j.nn.graph.vertex.GraphVertex gv : g.getVertices()) {
            Object h = gv.hasLayer() ? helperOf(gv.getLayer()) : null;
            boolean blocked = gv instanceof ConvAddReluVertex.Impl f ? f.anyBlocked()
                    : gv instanceof dev.cnn.zoo.layers.ChannelBlocked c ? c.channelBlock() > 0
                    : gv.hasLayer() && gv.getLayer() instanceof BlockedGlobalPoolingLayer p ? p.channelBlock() > 0
                    : h instanceof DnnlConvHelper d ? d.srcBlocked() || d.dstBlocked()
                    : h instanceof DnnlBatchNormHelper b ? b.blocked()
                    : h instanceof DnnlPoolingHelper p && p.blocked();
            n += blocked ? 1 : 0;
        }
        return n;
    }

    private static Kind kind(ComputationGraph g, String v, Map<String, Long> channels) {
        org.deeplearning4j.nn.graph.vertex.GraphVertex gv = g.getVertex(v);
        if (gv instanceof ConvAddReluVertex.Impl f) {
            return f.nchw() ? Kind.CONVOLUTION : Kind.OTHER;
        }
        if (gv instanceof org.deeplearning4j.nn.graph.vertex.impl.ElementWiseVertex
                || gv instanceof dev.cnn.zoo.layers.ChannelBlocked) {
            return Kind.PRESERVING;
        }
        if (gv instanceof org.deeplearning4j.nn.graph.vertex.impl.MergeVertex
                && g.getConfiguration().getVertices().get(v) instanceof org.deeplearning4j.nn.conf.graph.MergeVertex m
                && m.getMergeAxis() == 1 && g.getConfiguration().getVertexInputs().get(v).stream()
                .mapToLong(in -> channelsOf(g, in, channels))
                .allMatch(c -> c > 0 && c % Dnnl.BLOCK == 0)) {
            // a channel concatenation whose parts are whole blocks: each sample's part is one run of bytes in the
            // blocked layout as in NCHW, so DL4J's concatenation (and its split of the gradient) is blind to it
            return Kind.PRESERVING;
        }
        org.deeplearning4j.nn.conf.graph.GraphVertex cv = g.getConfiguration().getVertices().get(v);
        if (!gv.hasLayer() || !(cv instanceof org.deeplearning4j.nn.conf.graph.LayerVertex lv)
                || lv.getPreProcessor() != null) {
            return Kind.OTHER;
        }
        org.deeplearning4j.nn.conf.layers.Layer conf = lv.getLayerConf().getLayer();
        if (conf.getIDropout() != null) {
            return Kind.OTHER;
        }
        Object helper = helperOf(gv.getLayer());
        if (helper instanceof DnnlConvHelper && conf instanceof org.deeplearning4j.nn.conf.layers.ConvolutionLayer c
                && c.getCnn2dDataFormat() != org.deeplearning4j.nn.conf.CNN2DFormat.NHWC
                && elementWise(c.getActivationFn()) && blockableGroups(c)) {
            return Kind.CONVOLUTION;
        }
        if (helper instanceof DnnlBatchNormHelper && conf instanceof org.deeplearning4j.nn.conf.layers.BatchNormalization b
                && !b.isLockGammaBeta() && b.getCnn2DFormat() != org.deeplearning4j.nn.conf.CNN2DFormat.NHWC) {
            return Kind.PRESERVING;
        }
        if (helper instanceof DnnlPoolingHelper && conf instanceof org.deeplearning4j.nn.conf.layers.SubsamplingLayer p
                && (p.getPoolingType() == org.deeplearning4j.nn.conf.layers.PoolingType.MAX
                || (p.getPoolingType() == org.deeplearning4j.nn.conf.layers.PoolingType.AVG
                && p.getConvolutionMode() != org.deeplearning4j.nn.conf.ConvolutionMode.Same))
                && p.getCnn2dDataFormat() != org.deeplearning4j.nn.conf.CNN2DFormat.NHWC
                && (p.getDilation() == null || (p.getDilation()[0] == 1 && p.getDilation()[1] == 1))) {
            return Kind.PRESERVING; // max and average pooling on DnnlSubsamplingLayer: same layout in and out
        }
        if (conf instanceof dev.cnn.zoo.layers.StochasticDepth) {
            return Kind.PRESERVING; // drops whole samples: blind to the layout within one
        }
        if (gv.getLayer() instanceof BlockedGlobalPoolingLayer
                && conf instanceof org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer p
                && BlockedGlobalPoolingLayer.covers(p)) {
            return Kind.READER;
        }
        if (gv.getLayer() instanceof org.deeplearning4j.nn.layers.ActivationLayer
                && conf instanceof org.deeplearning4j.nn.conf.layers.ActivationLayer a
                && a.getActivationFn() != null && elementWise(a.getActivationFn())) {
            return Kind.PRESERVING;
        }
        return Kind.OTHER;
    }

    /**
     * Whether oneDNN has blocked-layout kernels for this convolution's groups: one group, depthwise, or groups of
     * whole channel blocks. Others (ResNeXt's groups of 4 channels) read and write the plain layout.
     */
    private static boolean blockableGroups(org.deeplearning4j.nn.conf.layers.ConvolutionLayer c) {
        return !(c instanceof dev.cnn.zoo.layers.GroupedConvolution g)
                || DnnlConvHelper.wholeBlocks(g.getNIn(), g.getNOut(), g.getGroups());
    }

    /**
     * The channels of vertex {@code v}'s output, followed through the graph (layers with an output size, steps that
     * keep their input's channels, concatenations); -1 where not known (network inputs, anything else).
     */
    private static long channelsOf(ComputationGraph g, String v, Map<String, Long> memo) {
        Long known = memo.get(v);
        if (known != null) {
            return known;
        }
        memo.put(v, -1L); // no cycles in a graph; this only guards the recursion
        org.deeplearning4j.nn.conf.ComputationGraphConfiguration conf = g.getConfiguration();
        List<String> in = conf.getVertexInputs().get(v);
        org.deeplearning4j.nn.conf.graph.GraphVertex cv = conf.getVertices().get(v);
        long c = -1;
        if (cv == null || in == null || in.isEmpty()) {
            c = -1; // a network input
        } else if (cv instanceof org.deeplearning4j.nn.conf.graph.LayerVertex lv) {
            org.deeplearning4j.nn.conf.layers.Layer l = lv.getLayerConf().getLayer();
            if (l instanceof org.deeplearning4j.nn.conf.layers.DropoutLayer) { // a FeedForwardLayer with nOut 0
                c = channelsOf(g, in.get(0), memo);
            } else if (l instanceof org.deeplearning4j.nn.conf.layers.FeedForwardLayer f) {
                c = f.getNOut() > 0 ? f.getNOut() : -1;
            } else if (l instanceof org.deeplearning4j.nn.conf.layers.ActivationLayer
                    || l instanceof org.deeplearning4j.nn.conf.layers.SubsamplingLayer
                    || l instanceof org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer
                    || l instanceof dev.cnn.zoo.layers.StochasticDepth) {
                c = channelsOf(g, in.get(0), memo);
            }
        } else if (cv instanceof org.deeplearning4j.nn.conf.graph.MergeVertex m && m.getMergeAxis() == 1) {
            c = 0;
            for (String i : in) {
                long ci = channelsOf(g, i, memo);
                if (ci <= 0) {
                    c = -1;
                    break;
                }
                c += ci;
            }
        } else if (cv instanceof org.deeplearning4j.nn.conf.graph.ElementWiseVertex
                || cv instanceof dev.cnn.zoo.layers.ChannelScaleVertex) {
            c = channelsOf(g, in.get(0), memo);
        } else if (g.getVertex(v) instanceof ConvAddReluVertex.Impl f) {
            c = f.channels();
        }
        memo.put(v, c);
        return c;
    }

    /** Output channels of a convolution or batch-norm vertex; 0 (any) for element-wise steps. */
    private static long channels(ComputationGraph g, String v) {
        org.deeplearning4j.nn.graph.vertex.GraphVertex gv = g.getVertex(v);
        if (gv instanceof ConvAddReluVertex.Impl f) {
            return f.channels();
        }
        if (gv.hasLayer() && gv.getLayer().conf().getLayer() instanceof org.deeplearning4j.nn.conf.layers.FeedForwardLayer f) {
            return f.getNOut();
        }
        return 0;
    }
}
