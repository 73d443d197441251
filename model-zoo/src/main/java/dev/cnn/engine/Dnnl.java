package dev.cnn.engine;

import org.bytedeco.dnnl.IntMemoryMap;
import org.bytedeco.dnnl.engine;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.primitive;
import org.bytedeco.dnnl.reorder;
import org.bytedeco.dnnl.stream;
import org.bytedeco.javacpp.Pointer;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.layers.FrozenLayer;
import org.deeplearning4j.nn.layers.convolution.ConvolutionHelper;
import org.deeplearning4j.nn.layers.convolution.ConvolutionLayer;
import org.deeplearning4j.nn.layers.convolution.subsampling.SubsamplingHelper;
import org.deeplearning4j.nn.layers.convolution.subsampling.SubsamplingLayer;
import org.deeplearning4j.nn.layers.normalization.BatchNormalization;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * oneDNN 2.5 from JavaCPP's {@code org.bytedeco:dnnl}, for the layer helpers in this package: one CPU engine, a
 * stream per thread, and the glue between ND4J arrays and oneDNN memory. {@code -Dcnn.dnnl=false} turns the helpers
 * off (DL4J's own oneDNN helpers then run, with {@link SmallMapConvHelper}'s fix in training).
 */
public final class Dnnl {
    /** Channel block of the blocked activation layout used between convolutions: 16 with AVX-512, else 8. */
    static int BLOCK = 16;
    private static memory.format_tag blockedTag = memory.format_tag.nChw16c;
    /** System property: {@code false} keeps DL4J's own helpers. */
    public static final String PROPERTY = "cnn.dnnl";
    private static final Logger LOG = LoggerFactory.getLogger(Dnnl.class);
    static final Field CONV_HELPER = field(ConvolutionLayer.class, "helper");
    static final Method CONV_INIT = method(ConvolutionLayer.class, "initializeHelper");
    private static final Field BN_HELPER = field(BatchNormalization.class, "helper");
    private static final Field POOL_HELPER = field(SubsamplingLayer.class, "helper");
    private static final Method POOL_INIT = method(SubsamplingLayer.class, "initializeHelper");
    private static final Field PRE_OUTPUT = field(org.deeplearning4j.nn.layers.AbstractLayer.class, "preOutput");
    private static final Field GRAPH_LAYERS = field(ComputationGraph.class, "layers");
    private static final Field LAYER_TYPE = field(org.deeplearning4j.nn.layers.AbstractLayer.class, "dataType");
    private static final Field VERTEX_LAYER = field(org.deeplearning4j.nn.graph.vertex.impl.LayerVertex.class, "layer");
    private static volatile Boolean available;
    private static engine engine;
    private static final ThreadLocal<stream> STREAM = ThreadLocal.withInitial(() -> new stream(engine));

    private Dnnl() {
    }

    /** Whether the library loads here and is not switched off (the property is read on every call). */
    public static boolean available() {
        if ("false".equalsIgnoreCase(System.getProperty(PROPERTY, "true"))) {
            return false;
        }
        Boolean a = available;
        if (a == null) {
            synchronized (Dnnl.class) {
                if (available == null) {
                    available = load();
                }
                a = available;
            }
        }
        return a;
    }

    private static boolean load() {
        try {
            engine = new engine(org.bytedeco.dnnl.engine.kind.cpu, 0);
            int avx512 = org.bytedeco.dnnl.global.dnnl.cpu_isa.avx512_core.value;
            if ((org.bytedeco.dnnl.global.dnnl.dnnl_get_effective_cpu_isa() & avx512) != avx512) {
                BLOCK = 8; // AVX2 and older: oneDNN's kernels work on blocks of 8 channels
                blockedTag = memory.format_tag.nChw8c;
            }
            return true;
        } catch (Throwable t) { // no native build for this platform, or the library does not load
            LOG.warn("oneDNN (org.bytedeco:dnnl) not available, using DL4J's own helpers: {}", t.toString());
            return false;
        }
    }

    /**
     * Loads the library on a daemon thread (about 0.3-0.5 s of native loading), for commands that can overlap it
     * with other start-up work; {@link #available} then waits for it.
     */
    public static void preload() {
        Thread t = new Thread(Dnnl::available, "onednn-load");
        t.setDaemon(true);
        t.start();
    }

    /** The blocked activation layout (nChw16c or nChw8c, see {@link #BLOCK}). */
    static memory.format_tag blockedTag() {
        return blockedTag;
    }

    static engine engine() {
        return engine;
    }

    /**
     * Puts {@link DnnlConvHelper} on every standard convolution layer of {@code g}, {@link DnnlPoolingHelper} on
     * every subsampling layer and {@link DnnlBatchNormHelper} on every batch-norm layer (frozen ones included),
     * keeping the helper each replaces for the calls it does not cover, and replaces each plain dense layer by a
     * {@link DnnlDenseLayer}. Where oneDNN is not available, installs {@link SmallMapConvHelper} instead. Idempotent.
     *
     * @return the number of layers that now run on this package's helpers
     */
    public static int install(ComputationGraph g) {
        return install(g, false);
    }

    /**
     * {@link #install(ComputationGraph)} for a network that only runs inference and whose weights never change
     * after this call (a folded copy, see {@code InferenceGraph}): convolution weights are reordered into oneDNN's
     * layout once, and ReLU activations run inside the convolutions.
     */
    public static int installForInference(ComputationGraph g) {
        return install(g, true);
    }

    private static int install(ComputationGraph g, boolean inferenceOnly) {
        if (!available() || CONV_HELPER == null || BN_HELPER == null || POOL_HELPER == null) {
            return SmallMapConvHelper.install(g);
        }
        int n = replaceLayers(g);
        for (Layer l : g.getLayers()) {
            Layer inner = l instanceof FrozenLayer f ? f.getInsideLayer() : l;
            try {
                if (inner.getClass() == ConvolutionLayer.class) {
                    Object h = helper(inner, CONV_HELPER, CONV_INIT);
                    if (!(h instanceof DnnlConvHelper d) || d.inferenceOnly() != inferenceOnly) {
                        ConvolutionHelper previous = h instanceof DnnlConvHelper d ? d.fallback()
                                : h instanceof ConvolutionHelper c ? c : null;
                        boolean relu = inner.conf().getLayer() instanceof org.deeplearning4j.nn.conf.layers.BaseLayer b
                                && plainRelu(b.getActivationFn());
                        DnnlConvHelper fresh = new DnnlConvHelper(previous, inferenceOnly, relu);
                        if (h instanceof DnnlConvHelper d) { // keep the layout its neighbours expect
                            fresh.blocked(d.srcBlocked(), d.dstBlocked());
                        }
                        CONV_HELPER.set(inner, fresh);
                    }
                    n++;
                } else if (inner instanceof SubsamplingLayer && (inner.getClass() == SubsamplingLayer.class
                        || inner.getClass() == DnnlSubsamplingLayer.class)) {
                    Object h = helper(inner, POOL_HELPER, POOL_INIT);
                    if (!(h instanceof DnnlPoolingHelper)) {
                        POOL_HELPER.set(inner, new DnnlPoolingHelper(h instanceof SubsamplingHelper s ? s : null));
                    }
                    n++;
                } else if (inner.getClass() == BatchNormalization.class) {
                    if (!(BN_HELPER.get(inner) instanceof DnnlBatchNormHelper)) {
                        BN_HELPER.set(inner, new DnnlBatchNormHelper());
                    }
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
     * subsampling layer by a {@link DnnlSubsamplingLayer} and each plain activation layer by a {@link
     * ReluLayer}, sharing its configuration, parameters, gradient views and state: DL4J's dense and
     * activation layers have no helper to plug in, and its subsampling layer uses its helper only backward.
     *
     * @return the number of dense layers now on oneDNN
     */
    static int replaceLayers(ComputationGraph g) {
        if (GRAPH_LAYERS == null || VERTEX_LAYER == null || LAYER_TYPE == null) {
            return 0;
        }
        int dense = 0;
        try {
            Layer[] layers = (Layer[]) GRAPH_LAYERS.get(g);
            for (org.deeplearning4j.nn.graph.vertex.GraphVertex gv : g.getVertices()) {
                if (!(gv instanceof org.deeplearning4j.nn.graph.vertex.impl.LayerVertex)) {
                    continue;
                }
                Layer l = gv.getLayer();
                Layer d = replacement(l);
                if (d != null) {
                    copyFields(l, d);
                    VERTEX_LAYER.set(gv, d);
                    for (int i = 0; i < layers.length; i++) {
                        if (layers[i] == l) {
                            layers[i] = d;
                        }
                    }
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
            return new DnnlDenseLayer(l.conf(), dataType(l));
        } else if (c == org.deeplearning4j.nn.layers.ActivationLayer.class) {
            return new ReluLayer(l.conf(), dataType(l));
        } else if (c == SubsamplingLayer.class) {
            return new DnnlSubsamplingLayer(l.conf(), dataType(l));
        }
        return null; // other layers, frozen wrappers included, stay as they are
    }

    private static org.nd4j.linalg.api.buffer.DataType dataType(Layer l) throws IllegalAccessException {
        return (org.nd4j.linalg.api.buffer.DataType) LAYER_TYPE.get(l);
    }

    /** Copies every instance field of {@code from}, a superclass instance of {@code to}, into {@code to}. */
    private static void copyFields(Object from, Object to) throws IllegalAccessException {
        for (Class<?> c = from.getClass(); c != null && c != Object.class; c = c.getSuperclass()) {
            for (Field f : c.getDeclaredFields()) {
                if (!java.lang.reflect.Modifier.isStatic(f.getModifiers())) {
                    f.setAccessible(true);
                    f.set(to, f.get(from));
                }
            }
        }
    }

    /** {@code layer}'s helper in {@code field}, created first if DL4J has not yet (it does so on the first pass). */
    static Object helper(Layer layer, Field field, Method init) throws ReflectiveOperationException {
        Object h = field.get(layer);
        if (h == null && init != null) {
            init.invoke(layer);
            h = field.get(layer);
        }
        return h;
    }

    /**
     * Keeps activations (and, in training, their gradients) in oneDNN's blocked layout ({@link #blockedTag()})
     * under their NCHW shape wherever nothing but this package's helpers and layout-blind element-wise steps touch
     * them, so that no reorder runs between consecutive convolutions. Call after {@link #install} or
     * {@link #installForInference}, before the first forward pass.
     *
     * <p>Tensors are grouped through the steps that keep their input's layout (batch norm on {@link
     * DnnlBatchNormHelper}, max pooling on {@link DnnlSubsamplingLayer}, element-wise activation layers, element-wise
     * vertices such as a residual add); a group
     * is blocked when every producer and consumer in it is such a step, a convolution on {@link DnnlConvHelper} or
     * a {@link ConvAddReluVertex} (NCHW, no preprocessor, no dropout), every convolution's channels are a multiple
     * of the block and no tensor in it is a network input or output. Everything else (average and global pooling,
     * dense layers, the outputs) keeps reading NCHW.
     *
     * @return the number of tensors kept blocked
     */
    public static int blockActivations(ComputationGraph g) {
        if (!available()) {
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
        for (String v : conf.getVertices().keySet()) {
            kinds.put(v, kind(g, v));
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
            if (k == Kind.OTHER || outputs.contains(v) || channels(g, v) % BLOCK != 0) {
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
        if (conf instanceof org.deeplearning4j.nn.conf.layers.ConvolutionLayer c) {
            c.setCudnnAllowFallback(false);
        } else if (conf instanceof org.deeplearning4j.nn.conf.layers.BatchNormalization b) {
            b.setCudnnAllowFallback(false);
        } else if (conf instanceof org.deeplearning4j.nn.conf.layers.SubsamplingLayer p) {
            p.setCudnnAllowFallback(false);
        }
    }

    /**
     * Sets {@code g} up for fast training and returns what undoes it: {@link #install}, {@link #blockActivations},
     * no input gradient for convolutions that read a network input (nobody reads it), and DL4J's forward cache
     * ({@code CacheMode.DEVICE} on the configuration and the layers, unless the network already has a cache mode),
     * so that each convolution's output is kept from the forward pass for its backward pass instead of computed a
     * second time there, as DL4J does with the cache off; and {@link FastAdam} for the Adam step (with or without
     * oneDNN). Close the returned handle when training stops: the network is then NCHW everywhere, computes every
     * gradient, caches nothing and steps with DL4J's own updaters.
     */
    public static Training beginTraining(ComputationGraph g) {
        install(g);
        int blocked = blockActivations(g);
        skipInputGradients(g, true);
        org.deeplearning4j.nn.conf.CacheMode mode = g.getConfiguration().getCacheMode();
        // only where the kept outputs can be cleared again on close (DL4J's backward pass reads them unchecked)
        boolean cache = PRE_OUTPUT != null && (mode == null || mode == org.deeplearning4j.nn.conf.CacheMode.NONE);
        if (cache) {
            setCacheMode(g, org.deeplearning4j.nn.conf.CacheMode.DEVICE);
        }
        return new Training(g, blocked, cache, FastAdam.install(g));
    }

    /** A network set up by {@link #beginTraining}; {@link #close} undoes it. */
    public record Training(ComputationGraph network, int blockedTensors, boolean cachesForward,
                           Runnable restoreUpdaters) implements AutoCloseable {
        @Override
        public void close() {
            restoreUpdaters.run();
            unblock(network);
            skipInputGradients(network, false);
            if (cachesForward) {
                setCacheMode(network, org.deeplearning4j.nn.conf.CacheMode.NONE);
                for (Layer l : network.getLayers()) { // a cached output would be read by a later backward pass
                    Layer inner = l instanceof FrozenLayer f ? f.getInsideLayer() : l;
                    try {
                        if (PRE_OUTPUT != null && inner instanceof org.deeplearning4j.nn.layers.AbstractLayer) {
                            PRE_OUTPUT.set(inner, null);
                        }
                    } catch (IllegalAccessException e) {
                        throw new IllegalStateException(e);
                    }
                }
            }
        }
    }

    private static void setCacheMode(ComputationGraph g, org.deeplearning4j.nn.conf.CacheMode mode) {
        g.getConfiguration().setCacheMode(mode); // DL4J opens its cache workspace only when the configuration asks
        g.setCacheMode(mode); // and each layer caches only when its own mode asks
    }

    /** Tells the convolution helpers of layers that read a network input whether to skip the input gradient. */
    private static void skipInputGradients(ComputationGraph g, boolean skip) {
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
     * Undoes {@link #blockActivations}: every array is NCHW again (for a network handed back to its caller after
     * training, whose inner activations may be read, e.g. by {@code feedForward}).
     */
    public static void unblock(ComputationGraph g) {
        for (org.deeplearning4j.nn.graph.vertex.GraphVertex gv : g.getVertices()) {
            setLayout(gv, false, false, false);
        }
    }

    /** Tells {@code gv}'s helper which of its first input, second input and output hold the blocked layout. */
    private static void setLayout(org.deeplearning4j.nn.graph.vertex.GraphVertex gv, boolean in0, boolean in1,
                                  boolean out) {
        Object helper = gv.hasLayer() ? helperOf(gv.getLayer()) : null;
        if (gv instanceof ConvAddReluVertex.Impl f) {
            f.blocked(in0, in1, out);
        } else if (helper instanceof DnnlConvHelper d) {
            d.blocked(in0, out);
        } else if (helper instanceof DnnlBatchNormHelper b) {
            b.blocked(out);
        } else if (helper instanceof DnnlPoolingHelper p) {
            p.blocked(out);
        }
    }

    private enum Kind { CONVOLUTION, PRESERVING, OTHER }

    /** A ReLU without clipping, threshold or leak: what oneDNN's {@code eltwise_relu} with alpha 0 computes. */
    public static boolean plainRelu(org.nd4j.linalg.activations.IActivation a) {
        return a instanceof org.nd4j.linalg.activations.impl.ActivationReLU r
                && (r.getMax() == null || r.getMax() == 0) && (r.getThreshold() == null || r.getThreshold() == 0)
                && (r.getNegativeSlope() == null || r.getNegativeSlope() == 0);
    }

    /** Activations that work element by element, so they are blind to the memory layout. */
    private static boolean elementWise(org.nd4j.linalg.activations.IActivation a) {
        return a == null || a instanceof org.nd4j.linalg.activations.impl.ActivationIdentity
                || a instanceof org.nd4j.linalg.activations.impl.ActivationReLU;
    }

    private static Object helperOf(Layer l) {
        try {
            if (l.getClass() == ConvolutionLayer.class && CONV_HELPER != null) {
                return CONV_HELPER.get(l);
            }
            if (l.getClass() == BatchNormalization.class && BN_HELPER != null) {
                return BN_HELPER.get(l);
            }
            if (l.getClass() == DnnlSubsamplingLayer.class && POOL_HELPER != null) {
                return POOL_HELPER.get(l);
            }
        } catch (IllegalAccessException e) {
            return null;
        }
        return null;
    }

    private static Kind kind(ComputationGraph g, String v) {
        org.deeplearning4j.nn.graph.vertex.GraphVertex gv = g.getVertex(v);
        if (gv instanceof ConvAddReluVertex.Impl f) {
            return f.nchw() ? Kind.CONVOLUTION : Kind.OTHER;
        }
        if (gv instanceof org.deeplearning4j.nn.graph.vertex.impl.ElementWiseVertex) {
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
                && elementWise(c.getActivationFn())) {
            return Kind.CONVOLUTION;
        }
        if (helper instanceof DnnlBatchNormHelper && conf instanceof org.deeplearning4j.nn.conf.layers.BatchNormalization b
                && !b.isLockGammaBeta() && b.getCnn2DFormat() != org.deeplearning4j.nn.conf.CNN2DFormat.NHWC) {
            return Kind.PRESERVING;
        }
        if (helper instanceof DnnlPoolingHelper && conf instanceof org.deeplearning4j.nn.conf.layers.SubsamplingLayer p
                && p.getPoolingType() == org.deeplearning4j.nn.conf.layers.PoolingType.MAX
                && p.getCnn2dDataFormat() != org.deeplearning4j.nn.conf.CNN2DFormat.NHWC
                && (p.getDilation() == null || (p.getDilation()[0] == 1 && p.getDilation()[1] == 1))) {
            return Kind.PRESERVING; // max pooling on DnnlSubsamplingLayer: same layout in and out
        }
        if (gv.getLayer() instanceof org.deeplearning4j.nn.layers.ActivationLayer
                && conf instanceof org.deeplearning4j.nn.conf.layers.ActivationLayer a
                && a.getActivationFn() != null && elementWise(a.getActivationFn())) {
            return Kind.PRESERVING;
        }
        return Kind.OTHER;
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

    /** A reorder between two layouts of the same tensor, both held by ND4J arrays. */
    static final class Reorder {
        private final memory from;
        private final memory to;
        private final reorder prim;

        Reorder(memory.desc fromDesc, memory.desc toDesc) {
            from = new memory(fromDesc, engine, new Address(0));
            to = new memory(toDesc, engine, new Address(0));
            prim = new reorder(from, to);
        }

        void run(INDArray src, INDArray dst) {
            stream s = STREAM.get();
            from.set_data_handle(new Address(address(src)), s);
            to.set_data_handle(new Address(address(dst)), s);
            prim.execute(s, from, to);
            s._wait();
        }
    }

    /** Whether {@code a} is dense in C order (its buffer can be handed to oneDNN as it is). */
    static boolean isDense(INDArray a) {
        long[] shape = a.shape();
        long[] stride = a.stride();
        long expected = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            if (shape[i] != 1 && stride[i] != expected) {
                return false;
            }
            expected *= shape[i];
        }
        return true;
    }

    /** Copies dense {@code src} into dense {@code dst} of the same length, byte for byte. */
    static void copy(INDArray src, INDArray dst) {
        if (src.length() != dst.length() || src.dataType() != dst.dataType() || !isDense(src) || !isDense(dst)) {
            throw new IllegalArgumentException("copy needs two dense arrays of one length and type");
        }
        Pointer.memcpy(new Address(address(dst)), new Address(address(src)), src.length() * src.data().getElementSize());
    }

    /** {@code a} itself when dense, else a dense copy. */
    static INDArray dense(INDArray a) {
        return isDense(a) ? a : a.dup('c');
    }

    /** Native address of the first element of {@code a}. */
    static long address(INDArray a) {
        Pointer p = a.data().addressPointer();
        return p.address() + p.position() * a.data().getElementSize();
    }

    static memory.desc desc(long[] dims, memory.format_tag tag) {
        return new memory.desc(dims, memory.data_type.f32, tag);
    }

    static memory.desc any(long[] dims) {
        return desc(dims, memory.format_tag.any);
    }

    /** A raw address as a JavaCPP pointer, for {@code memory.set_data_handle}. */
    private static final class Address extends Pointer {
        Address(long address) {
            this.address = address;
        }
    }

    /**
     * One argument of a primitive: memory in the layout the primitive wants, fed from (and/or written back to) an
     * ND4J array in the user's layout, with reorders between them when the two differ.
     */
    static final class Port {
        final boolean input;
        final boolean output;
        final memory user;
        final memory inner; // == user when the layouts agree
        private final reorder toInner;
        private final reorder toUser;

        private Port(memory.desc userDesc, memory.desc innerDesc, boolean input, boolean output) {
            this.input = input;
            this.output = output;
            this.user = new memory(userDesc, engine, new Address(0));
            if (userDesc.equals(innerDesc)) {
                inner = user;
                toInner = null;
                toUser = null;
            } else {
                inner = new memory(innerDesc, engine);
                toInner = input ? new reorder(user, inner) : null;
                toUser = output ? new reorder(inner, user) : null;
            }
        }

        /** Read by the primitive. */
        static Port in(memory.desc userDesc, memory.desc innerDesc) {
            return new Port(userDesc, innerDesc, true, false);
        }

        /** Written by the primitive. */
        static Port out(memory.desc userDesc, memory.desc innerDesc) {
            return new Port(userDesc, innerDesc, false, true);
        }

        /** An argument in the array's own layout (no reorder either way). */
        static Port same(memory.desc desc) {
            return new Port(desc, desc, false, false);
        }

        /** Read and written (a destination that a sum post-op adds to). */
        static Port inOut(memory.desc userDesc, memory.desc innerDesc) {
            return new Port(userDesc, innerDesc, true, true);
        }

        boolean reorders() {
            return inner != user;
        }

        /** Points this port at {@code array} (dense, in the user layout) for the coming {@link Run#exec}. */
        memory bind(Run run, INDArray array) {
            run.kept.add(array); // a dense copy made for this call must outlive the primitive
            user.set_data_handle(new Address(address(array)), run.stream);
            if (inner != user) {
                if (input) {
                    run.before.add(this);
                }
                if (output) {
                    run.after.add(this);
                }
            }
            return inner;
        }

        /** Reorders {@code array} (dense, in the user layout) into the port's memory now, outside any {@link Run}. */
        void fill(Run run, INDArray array) {
            user.set_data_handle(new Address(address(array)), run.stream);
            toInner(run.stream);
        }

        void toInner(stream s) {
            toInner.execute(s, user, inner);
        }

        void toUser(stream s) {
            toUser.execute(s, inner, user);
        }
    }

    /** The current thread's stream and the reorders around the next primitive. */
    static final class Run {
        final stream stream;
        final List<Port> before = new ArrayList<>(4);
        final List<Port> after = new ArrayList<>(4);
        final List<INDArray> kept = new ArrayList<>(8);

        Run(stream s) {
            this.stream = s;
        }

        void exec(primitive p, Map<Integer, memory> args) {
            for (Port port : before) {
                port.toInner(stream);
            }
            IntMemoryMap m = new IntMemoryMap();
            for (Map.Entry<Integer, memory> e : args.entrySet()) {
                m.put(e.getKey(), e.getValue());
            }
            p.execute(stream, m);
            m.close();
            for (Port port : after) {
                port.toUser(stream);
            }
            before.clear();
            after.clear();
        }

        void finish() {
            stream._wait();
            kept.clear();
        }
    }

    static Run run() {
        return new Run(STREAM.get());
    }

    private static Field field(Class<?> c, String name) {
        try {
            Field f = c.getDeclaredField(name);
            f.setAccessible(true);
            return f;
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }

    private static Method method(Class<?> c, String name) {
        try {
            Method m = c.getDeclaredMethod(name);
            m.setAccessible(true);
            return m;
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }
}
