package dev.cnn.accel;

import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.pooling_backward;
import org.bytedeco.dnnl.pooling_forward;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.convolution.subsampling.SubsamplingHelper;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_WORKSPACE;
import static org.bytedeco.dnnl.global.dnnl.algorithm;
import static org.bytedeco.dnnl.global.dnnl.prop_kind;

/**
 * DL4J max- and average-pooling helper on oneDNN 2.5 ({@code org.bytedeco:dnnl}), on the arrays' own layout (NCHW or
 * NHWC) or the blocked one, with the primitives kept per input shape. DL4J M2.1's subsampling layer calls its helper
 * only for the backward pass; {@link DnnlSubsamplingLayer} calls {@link #forward} for the forward pass too, which in
 * training keeps the positions of the maxima for the backward pass (without it, the backward pass pools again to find
 * them). Average pooling divides by the window with or without its padding, as the layer's
 * {@code avgPoolIncludePadInDivisor} says (DenseNet's transitions, Inception's branches); with {@code Same} padding,
 * dilation and other data types it goes to the helper it replaced (DL4J's {@code MKLDNNSubsamplingHelper}), or to
 * DL4J's built-in path.
 */
public final class DnnlPoolingHelper extends DnnlLayerHelper implements SubsamplingHelper {
    private static final AtomicLong CALLS = new AtomicLong();

    private final SubsamplingHelper fallback;
    private final boolean avgIncludesPadding;
    private final Map<DnnlConvHelper.Geometry, Plan> plans = new HashMap<>();
    private boolean blocked;
    private INDArray trainedInput; // input of the last training forward pass, whose maxima the plan's workspace holds
    private Plan trainedPlan;

    DnnlPoolingHelper(SubsamplingHelper fallback, boolean avgIncludesPadding) {
        this.fallback = fallback;
        this.avgIncludesPadding = avgIncludesPadding;
    }

    /** Forward and backward calls run on oneDNN since the JVM started (for tests). */
    public static long calls() {
        return CALLS.get();
    }

    private static final class Plan {
        final DnnlConvHelper.Geometry g;
        final memory.desc src;
        final memory.desc dst;
        final pooling_forward.primitive_desc trainPd;
        final Dnnl.Prim train;
        final Dnnl.Prim infer;
        final Dnnl.Prim backward;
        final Dnnl.Port in;
        final Dnnl.Port out;
        final Dnnl.Port diffDst;
        final Dnnl.Port diffSrc;
        final memory scratchDst; // max pooling's output when the backward pass pools again; null for average pooling
        final memory workspace; // max pooling's positions of the maxima; null for average pooling
        final boolean max;

        Plan(DnnlConvHelper.Geometry g, boolean blocked, algorithm alg) {
            this.g = g;
            memory.format_tag tag = blocked ? Dnnl.blockedTag()
                    : g.nhwc() ? memory.format_tag.nhwc : memory.format_tag.nchw;
            src = Dnnl.desc(g.srcDims(), tag);
            dst = Dnnl.desc(g.dstDims(), tag);
            long[] kernel = {g.kh(), g.kw()};
            max = alg == algorithm.pooling_max;
            trainPd = new pooling_forward.primitive_desc(new pooling_forward.desc(prop_kind.forward_training,
                    alg, src, dst, g.strides(), kernel, g.padL(), g.padR()), Dnnl.attr(),
                    Dnnl.engine());
            train = new Dnnl.Prim(new pooling_forward(trainPd), trainPd);
            pooling_forward.primitive_desc inferPd = new pooling_forward.primitive_desc(new pooling_forward.desc(
                    prop_kind.forward_inference, alg, src, dst, g.strides(), kernel, g.padL(),
                    g.padR()), Dnnl.attr(), Dnnl.engine());
            infer = new Dnnl.Prim(new pooling_forward(inferPd), inferPd);
            pooling_backward.primitive_desc backwardPd = new pooling_backward.primitive_desc(
                    new pooling_backward.desc(alg, src, dst, g.strides(), kernel, g.padL(),
                            g.padR()), Dnnl.attr(), Dnnl.engine(), trainPd);
            backward = new Dnnl.Prim(new pooling_backward(backwardPd), backwardPd);
            in = Dnnl.Port.same(src);
            out = Dnnl.Port.same(dst);
            diffDst = Dnnl.Port.same(dst);
            diffSrc = Dnnl.Port.same(src);
            scratchDst = max ? new memory(dst, Dnnl.engine()) : null;
            workspace = max ? new memory(trainPd.workspace_desc(), Dnnl.engine()) : null;
        }
    }

    private Plan plan(INDArray input, int[] kernel, int[] strides, int[] pad, PoolingType type,
                      ConvolutionMode mode, int[] dilation, CNN2DFormat format) {
        if ((type != PoolingType.MAX && type != PoolingType.AVG) || input.rank() != 4
                || input.dataType() != DataType.FLOAT || (dilation != null && (dilation[0] != 1 || dilation[1] != 1))
                || (type == PoolingType.AVG && mode == ConvolutionMode.Same)) { // Same: DL4J's own divisor rule
            return null;
        }
        algorithm alg = type == PoolingType.MAX ? algorithm.pooling_max : avgIncludesPadding
                ? algorithm.pooling_avg_include_padding : algorithm.pooling_avg_exclude_padding;
        int[] ones = {1, 1};
        DnnlConvHelper.Geometry g = DnnlConvHelper.Geometry.of(input,
                input.size(format == CNN2DFormat.NHWC ? 3 : 1), kernel, strides, pad, mode, ones, format);
        return g == null ? null : plans.computeIfAbsent(g, k -> new Plan(k, blocked, alg));
    }

    /**
     * Input and output (and their gradients) hold the blocked layout of {@link GraphPolicy#blockActivations} under their
     * NCHW shape; set before the first call. A call this helper does not cover then fails rather than let DL4J read
     * blocked data as NCHW.
     */
    synchronized boolean blocked() {
        return blocked;
    }

    synchronized void blocked(boolean b) {
        if (b != blocked) {
            blocked = b;
            plans.clear();
            trainedPlan = null;
            trainedInput = null;
        }
    }

    /**
     * The forward pass, for {@link DnnlSubsamplingLayer}; in training it keeps the positions of the maxima for
     * {@link #backpropGradient}. Null where not covered (the layer then runs DL4J's code).
     */
    synchronized INDArray forward(INDArray input, boolean training, int[] kernel, int[] strides, int[] pad,
                                  PoolingType poolingType, ConvolutionMode convolutionMode, int[] dilation,
                                  CNN2DFormat format, LayerWorkspaceMgr workspaceMgr) {
        Plan p = plan(input, kernel, strides, pad, poolingType, convolutionMode, dilation, format);
        if (p == null) {
            if (blocked) {
                throw new IllegalStateException("pooling on blocked activations not covered: "
                        + java.util.Arrays.toString(input.shape()) + " " + poolingType + " " + input.dataType());
            }
            return null;
        }
        INDArray out = workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, DataType.FLOAT, p.g.dstShape(), 'c');
        Dnnl.Run run = Dnnl.run();
        if (training && p.max) {
            run.exec(p.train, Map.of(DNNL_ARG_SRC, p.in.bind(run, Dnnl.dense(input)), DNNL_ARG_DST,
                    p.out.bind(run, out), DNNL_ARG_WORKSPACE, p.workspace));
            trainedInput = input;
            trainedPlan = p;
        } else { // average pooling's backward pass needs nothing from the forward one
            run.exec(p.infer, Map.of(DNNL_ARG_SRC, p.in.bind(run, Dnnl.dense(input)), DNNL_ARG_DST,
                    p.out.bind(run, out)));
        }
        run.finish();
        CALLS.incrementAndGet();
        return out;
    }

    @Override
    public synchronized INDArray activate(INDArray input, boolean training, int[] kernel, int[] strides, int[] pad,
                                          PoolingType poolingType, ConvolutionMode convolutionMode, int[] dilation,
                                          CNN2DFormat format, LayerWorkspaceMgr workspaceMgr) {
        INDArray out = forward(input, training, kernel, strides, pad, poolingType, convolutionMode, dilation, format,
                workspaceMgr);
        return out != null || fallback == null ? out : fallback.activate(input, training, kernel, strides, pad,
                poolingType, convolutionMode, dilation, format, workspaceMgr);
    }

    @Override
    public synchronized Pair<Gradient, INDArray> backpropGradient(INDArray input, INDArray epsilon, int[] kernel,
                                                                  int[] strides, int[] pad, PoolingType poolingType,
                                                                  ConvolutionMode convolutionMode, int[] dilation,
                                                                  CNN2DFormat format, LayerWorkspaceMgr workspaceMgr) {
        Plan p = plan(input, kernel, strides, pad, poolingType, convolutionMode, dilation, format);
        if (blocked && (p == null || epsilon.dataType() != DataType.FLOAT)) {
            throw new IllegalStateException("pooling backward on blocked activations not covered: "
                    + java.util.Arrays.toString(input.shape()) + " " + poolingType + " " + epsilon.dataType());
        }
        if (p == null || epsilon.dataType() != DataType.FLOAT) {
            return fallback == null ? null : fallback.backpropGradient(input, epsilon, kernel, strides, pad,
                    poolingType, convolutionMode, dilation, format, workspaceMgr);
        }
        INDArray epsOut = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, DataType.FLOAT,
                input.shape(), 'c');
        Dnnl.Run run = Dnnl.run();
        if (p.max && (trainedInput != input || trainedPlan != p)) { // no training forward pass of this input on oneDNN
            run.exec(p.train, Map.of(DNNL_ARG_SRC, p.in.bind(run, Dnnl.dense(input)), DNNL_ARG_DST, p.scratchDst,
                    DNNL_ARG_WORKSPACE, p.workspace));
        }
        trainedInput = null;
        trainedPlan = null;
        memory diffDst = p.diffDst.bind(run, Dnnl.dense(epsilon));
        memory diffSrc = p.diffSrc.bind(run, epsOut);
        run.exec(p.backward, p.max
                ? Map.of(DNNL_ARG_DIFF_DST, diffDst, DNNL_ARG_WORKSPACE, p.workspace, DNNL_ARG_DIFF_SRC, diffSrc)
                : Map.of(DNNL_ARG_DIFF_DST, diffDst, DNNL_ARG_DIFF_SRC, diffSrc));
        run.finish();
        CALLS.incrementAndGet();
        return new Pair<>(new DefaultGradient(), epsOut);
    }

}
