package dev.cnn.accel;

import org.bytedeco.dnnl.convolution_backward_data;
import org.bytedeco.dnnl.convolution_backward_weights;
import org.bytedeco.dnnl.convolution_forward;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.post_ops;
import org.bytedeco.dnnl.primitive_attr;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.convolution.ConvolutionHelper;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.Shape;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_BIAS;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_WEIGHTS;
import static org.bytedeco.dnnl.global.dnnl.algorithm;
import static org.bytedeco.dnnl.global.dnnl.prop_kind;

/**
 * DL4J convolution helper on oneDNN 2.5 through JavaCPP's {@code org.bytedeco:dnnl} (its own copy of the library,
 * not the one inside ND4J's native build). Unlike DL4J's {@code MKLDNNConvHelper}, which goes through libnd4j's
 * {@code conv2d} op, it computes in oneDNN's blocked memory layouts (nChw16c/nChw8c where the channels allow, else
 * oneDNN's pick) and keeps the primitives of each input shape: on this project's machines (AVX-512) 1x1 convolutions run at about 390
 * GFLOP/s instead of 32-46, and the backward pass of 3x3 convolutions on 2x2 maps in 4.6 ms instead of 230 ms
 * (bench/RESULTS.md). Arrays cross the boundary in DL4J's own layout (NCHW or NHWC, dense): inputs and gradients are
 * reordered into the chosen layouts and results back, each call.
 *
 * <p>Calls this helper does not cover (other data types, causal convolution mode) go to
 * the helper it replaced, or to DL4J's built-in path when there was none. {@link GraphPolicy#install} puts it on layers.
 */
public final class DnnlConvHelper extends DnnlLayerHelper implements ConvolutionHelper {
    private static final AtomicLong FORWARD = new AtomicLong();
    private static final AtomicLong BACKWARD = new AtomicLong();
    /**
     * Depthwise convolutions wider than 3 compute their weight gradient with {@link WideDepthwiseWeights}
     * ({@code -Dcnn.wideDepthwise=false}: oneDNN's own choice, for comparisons).
     */
    static final boolean WIDE_DEPTHWISE = !"false".equals(System.getProperty("cnn.wideDepthwise"));

    private final ConvolutionHelper fallback;
    private final boolean inferenceOnly;
    private final Eltwise fused; // inference-only: the activation applied inside the convolution, or null
    private boolean lastFused; // the last forward pass applied the activation
    private final Map<Geometry, Plan> plans = new HashMap<>();
    private boolean srcBlocked;
    private boolean dstBlocked;
    private boolean skipInputGradient;
    private org.deeplearning4j.nn.api.Layer owner; // the DL4J convolution layer this helper serves, if known
    private boolean keepOutput;

    /**
     * @param fallback      the helper for calls this one does not cover (may be null: DL4J's built-in path)
     * @param inferenceOnly the layer's weights never change (an inference copy such as a folded graph): weights are
     *                      reordered once and kept, and a ReLU activation is applied inside the convolution
     * @param relu          the layer's activation is ReLU
     */
    DnnlConvHelper(ConvolutionHelper fallback, boolean inferenceOnly, boolean relu) {
        this(fallback, inferenceOnly, relu ? Eltwise.RELU : null);
    }

    /**
     * @param activation the layer's activation as a oneDNN post-op, or null: applied inside the convolution in
     *                   inference-only helpers
     */
    DnnlConvHelper(ConvolutionHelper fallback, boolean inferenceOnly, Eltwise activation) {
        this.fallback = fallback;
        this.inferenceOnly = inferenceOnly;
        this.fused = inferenceOnly ? activation : null;
    }

    /**
     * The layer's input (resp. output) arrays, and in training their gradients, hold oneDNN's blocked layout under
     * their NCHW shape (see {@link GraphPolicy#blockActivations}). Set before the first call.
     */
    synchronized void blocked(boolean src, boolean dst) {
        if ((src || dst) && plans.keySet().stream().anyMatch(g -> g.nhwc)) {
            throw new IllegalStateException("blocked activations need an NCHW layer");
        }
        srcBlocked = src;
        dstBlocked = dst;
        plans.clear();
    }

    /** The DL4J convolution layer this helper is installed in (set by {@link GraphPolicy#install}). */
    synchronized void owner(org.deeplearning4j.nn.api.Layer layer) {
        owner = layer;
    }

    /**
     * Hands each forward pass's output to the layer's next backward pass by reference, which
     * DL4J's backward pass otherwise computes again or, with its forward cache on, reads from a copy made in the
     * forward pass (712 MB for resnet50@224 at batch 16). Only for an identity or plain ReLU activation, whose
     * derivative is the same whether read from the output or from what the activation made of it; the layer's own
     * cache mode must then be {@code NONE}. Set by {@link GraphPolicy#keepConvolutionOutputs}; needs {@link #owner}.
     *
     * @return whether it is on
     */
    synchronized boolean keepOutput(boolean on) {
        keepOutput = on && owner != null && !inferenceOnly;
        if (owner != null) {
            Dl4jInternals.clearKeptForwardOutput(owner);
        }
        return keepOutput;
    }

    /**
     * The layer reads a network input, whose gradient nobody reads in training: the backward pass leaves the
     * returned input gradient uninitialised instead of computing it (on resnet18@64 the stem's backward-data pass,
     * 3 -> 64 channels 7x7, cost about 3% of a training step). Set by {@link Dnnl#beginTraining}.
     */
    synchronized void skipInputGradient(boolean skip) {
        skipInputGradient = skip;
    }

    synchronized boolean skipsInputGradient() {
        return skipInputGradient;
    }

    synchronized boolean srcBlocked() {
        return srcBlocked;
    }

    synchronized boolean dstBlocked() {
        return dstBlocked;
    }

    /** Whether this helper treats its layer's weights as fixed (see the constructor). */
    public boolean inferenceOnly() {
        return inferenceOnly;
    }

    ConvolutionHelper fallback() {
        return fallback;
    }

    /** Forward and backward calls this helper ran on oneDNN since the JVM started (for tests and benchmarks). */
    public static long[] calls() {
        return new long[]{FORWARD.get(), BACKWARD.get()};
    }

    /** The convolution's shape: everything a oneDNN primitive is specific to. */
    record Geometry(long n, long c, long h, long w, long oc, long oh, long ow, int kh, int kw, int sh, int sw,
                    int pt, int pl, int pb, int pr, int dh, int dw, boolean nhwc, long groups) {

        /**
         * {@code weights}: [out, in / groups, kH, kW]; more input channels than the weights hold make a grouped
         * convolution (PyTorch's {@code groups}, a depthwise one where each group is one channel).
         */
        static Geometry of(INDArray input, INDArray weights, int[] kernel, int[] strides, int[] pad,
                           ConvolutionMode mode, int[] dilation, CNN2DFormat format) {
            return of(input, weights.size(0), weights.size(1), kernel, strides, pad, mode, dilation, format);
        }

        /** A pooling's geometry: {@code channels} in and out, one group. */
        static Geometry of(INDArray input, long channels, int[] kernel, int[] strides, int[] pad,
                           ConvolutionMode mode, int[] dilation, CNN2DFormat format) {
            return of(input, channels, input.size(format == CNN2DFormat.NHWC ? 3 : 1), kernel, strides, pad, mode,
                    dilation, format);
        }

        private static Geometry of(INDArray input, long outChannels, long groupChannels, int[] kernel,
                                   int[] strides, int[] pad, ConvolutionMode mode, int[] dilation,
                                   CNN2DFormat format) {
            boolean nhwc = format == CNN2DFormat.NHWC;
            long n = input.size(0);
            long c = input.size(nhwc ? 3 : 1);
            long h = input.size(nhwc ? 1 : 2);
            long w = input.size(nhwc ? 2 : 3);
            long groups = groupChannels > 0 && c % groupChannels == 0 ? c / groupChannels : 0;
            if (groups < 1 || outChannels % groups != 0) {
                return null;
            }
            int ekh = (kernel[0] - 1) * dilation[0] + 1;
            int ekw = (kernel[1] - 1) * dilation[1] + 1;
            long oh;
            long ow;
            int pt;
            int pl;
            if (mode == ConvolutionMode.Same) {
                oh = (h + strides[0] - 1) / strides[0];
                ow = (w + strides[1] - 1) / strides[1];
                pt = (int) Math.max(0, ((oh - 1) * strides[0] + ekh - h) / 2);
                pl = (int) Math.max(0, ((ow - 1) * strides[1] + ekw - w) / 2);
            } else if (mode == ConvolutionMode.Truncate || mode == ConvolutionMode.Strict) {
                pt = pad[0];
                pl = pad[1];
                oh = (h + 2L * pt - ekh) / strides[0] + 1;
                ow = (w + 2L * pl - ekw) / strides[1] + 1;
            } else {
                return null;
            }
            // bottom/right padding; negative where the last rows or columns are never read (Truncate with a
            // stride that does not divide), which oneDNN expresses as 0 with its own floor in the output size
            int pb = (int) Math.max(0, (oh - 1) * strides[0] + ekh - h - pt);
            int pr = (int) Math.max(0, (ow - 1) * strides[1] + ekw - w - pl);
            if (oh < 1 || ow < 1 || (h + pt + pb - ekh) / strides[0] + 1 != oh
                    || (w + pl + pr - ekw) / strides[1] + 1 != ow) {
                return null;
            }
            return new Geometry(n, c, h, w, outChannels, oh, ow, kernel[0], kernel[1], strides[0], strides[1],
                    pt, pl, pb, pr, dilation[0], dilation[1], nhwc, groups);
        }

        /** oneDNN's weight dimensions: {oc, c, kh, kw}, or {groups, oc/g, c/g, kh, kw} for a grouped convolution. */
        long[] weightDims() {
            return groups == 1 ? new long[]{oc, c, kh, kw} : new long[]{groups, oc / groups, c / groups, kh, kw};
        }

        /** The weights' own layout, PyTorch's and DL4J's: oihw, or goihw (the same memory) when grouped. */
        memory.format_tag weightTag() {
            return groups == 1 ? memory.format_tag.oihw : memory.format_tag.goihw;
        }

        long[] srcDims() {
            return new long[]{n, c, h, w};
        }

        long[] dstDims() {
            return new long[]{n, oc, oh, ow};
        }

        long[] srcShape() {
            return nhwc ? new long[]{n, h, w, c} : srcDims();
        }

        long[] dstShape() {
            return nhwc ? new long[]{n, oh, ow, oc} : dstDims();
        }

        long[] strides() {
            return new long[]{sh, sw};
        }

        long[] dilates() {
            return new long[]{dh - 1, dw - 1};
        }

        long[] padL() {
            return new long[]{pt, pl};
        }

        long[] padR() {
            return new long[]{pb, pr};
        }
    }

    /** A forward primitive with its ports. */
    private static final class Forward {
        final convolution_forward.primitive_desc pd;
        final Dnnl.Prim prim;
        final Dnnl.Port src;
        final Dnnl.Port weights;
        final Dnnl.Port bias;
        final Dnnl.Port dst;
        long fixedWeightsAddress; // inference-only: weights.fixed holds the weights at this address, reordered

        /** {@code plain}: activations in the arrays' own layout (no reorders); else oneDNN's choice (blocked). */
        Forward(Plan p, boolean inference, Eltwise act, boolean plain) {
            this(p, inference, act, plain, false);
        }

        /** {@code sum}: the destination holds a residual on entry, which the convolution's result is added to. */
        Forward(Plan p, boolean inference, Eltwise act, boolean plain, boolean sum) {
            Geometry g = p.g;
            convolution_forward.desc d = new convolution_forward.desc(
                    inference ? prop_kind.forward_inference : prop_kind.forward_training,
                    algorithm.convolution_direct, plain ? p.srcUser : p.blockedSrc(),
                    Dnnl.any(g.weightDims()), p.biasUser, plain ? p.dstUser : p.blockedDst(),
                    g.strides(), g.dilates(), g.padL(), g.padR());
            primitive_attr attr = Dnnl.attr();
            if (act != null || sum) {
                post_ops ops = new post_ops();
                if (sum) {
                    ops.append_sum(1f, memory.data_type.f32);
                }
                if (act != null) {
                    ops.append_eltwise(1f, act.kind(), act.alpha(), act.beta());
                }
                attr.set_post_ops(ops);
            }
            pd = new convolution_forward.primitive_desc(d, attr, Dnnl.engine());
            prim = new Dnnl.Prim(new convolution_forward(pd), pd);
            src = Dnnl.Port.in(p.srcUser, pd.src_desc());
            weights = Dnnl.Port.in(p.weightsUser, pd.weights_desc());
            bias = Dnnl.Port.in(p.biasUser, pd.bias_desc());
            dst = sum ? Dnnl.Port.inOut(p.dstUser, pd.dst_desc()) : Dnnl.Port.out(p.dstUser, pd.dst_desc());
        }

        void run(INDArray input, INDArray w, INDArray b, INDArray out, boolean fixedWeights) {
            Dnnl.Run run = Dnnl.run();
            run.exec(prim, Map.of(
                    DNNL_ARG_SRC, src.bind(run, Dnnl.dense(input)),
                    DNNL_ARG_WEIGHTS, fixedWeights ? fixedWeights(run, w) : weights.bind(run, Dnnl.dense(w)),
                    DNNL_ARG_BIAS, bias.bind(run, Dnnl.dense(b)),
                    DNNL_ARG_DST, dst.bind(run, out)));
            run.finish();
        }

        /**
         * The weights in the primitive's layout, reordered on the first call only (inference-only helpers: nothing
         * writes to the weights of such a copy after the helper is installed).
         */
        private memory fixedWeights(Dnnl.Run run, INDArray w) {
            INDArray dense = Dnnl.dense(w);
            if (!weights.reorders()) {
                return weights.bind(run, dense);
            }
            long address = Dnnl.address(dense);
            boolean refill = fixedWeightsAddress != address;
            fixedWeightsAddress = address;
            return weights.fixed(run, dense, refill);
        }
    }

    /** Primitives and memory for one geometry; the backward part is built on the first backward call. */
    private static final class Plan {
        final Geometry g;
        final memory.desc srcUser;
        final memory.desc dstUser;
        final memory.desc weightsUser;
        final memory.desc biasUser;
        final Forward fwd;
        final boolean fixedLayout; // an input or output array holds oneDNN's blocked layout: no tuning
        final boolean inference;
        final Eltwise act;
        Forward chosen; // inference-only: the faster of blocked and plain, measured on the first calls
        Forward residual; // inference-only: relu(conv(x) + residual), see convolveAddRelu
        WeightedBackward backward;

        Plan(Geometry g, boolean inference, Eltwise act, boolean srcBlocked, boolean dstBlocked) {
            this.g = g;
            this.inference = inference;
            this.act = act;
            this.fixedLayout = srcBlocked || dstBlocked;
            memory.format_tag tag = g.nhwc ? memory.format_tag.nhwc : memory.format_tag.nchw;
            srcUser = Dnnl.desc(g.srcDims(), srcBlocked ? Dnnl.blockedTag() : tag);
            dstUser = Dnnl.desc(g.dstDims(), dstBlocked ? Dnnl.blockedTag() : tag);
            weightsUser = Dnnl.desc(g.weightDims(), g.weightTag());
            biasUser = Dnnl.desc(new long[]{g.oc}, memory.format_tag.x);
            fwd = new Forward(this, inference, act, false);
        }

        /**
         * Blocked source: nChw16c where the channels allow (as arrays marked blocked hold), else oneDNN's pick. Grouped
         * convolutions whose groups are not whole channel blocks (ResNeXt's 4 channels) get oneDNN's pick too: on
         * nChw16c oneDNN 2.5 has only its reference kernel for them.
         */
        memory.desc blockedSrc() {
            return !g.nhwc && g.c % Dnnl.BLOCK == 0 && wholeBlocks() ? Dnnl.desc(g.srcDims(), Dnnl.blockedTag())
                    : Dnnl.any(g.srcDims());
        }

        memory.desc blockedDst() {
            return !g.nhwc && g.oc % Dnnl.BLOCK == 0 && wholeBlocks() ? Dnnl.desc(g.dstDims(), Dnnl.blockedTag())
                    : Dnnl.any(g.dstDims());
        }

        private boolean wholeBlocks() {
            return DnnlConvHelper.wholeBlocks(g.c, g.oc, g.groups);
        }

        /**
         * Inference-only: times the blocked primitive (with the reorders of input and output around it) against one
         * on the arrays' own layout, twice each after a first call, and keeps the faster. At 224 px the reorders of
         * large activations can cost more than the blocked layout saves (ResNet-50's 1x1 convolutions).
         */
        Forward tune(INDArray input, INDArray w, INDArray b, INDArray out) {
            if (fixedLayout) {
                return fwd;
            }
            Forward plain;
            try {
                plain = new Forward(this, inference, act, true);
            } catch (RuntimeException e) { // no implementation for this layout
                return fwd;
            }
            double[] best = {Double.MAX_VALUE, Double.MAX_VALUE};
            Forward[] candidates = {fwd, plain};
            for (int i = 0; i < 2; i++) {
                candidates[i].run(input, w, b, out, true);
            }
            for (int round = 0; round < 2; round++) {
                for (int i = 0; i < 2; i++) {
                    long t0 = System.nanoTime();
                    candidates[i].run(input, w, b, out, true);
                    best[i] = Math.min(best[i], System.nanoTime() - t0);
                }
            }
            return best[1] < best[0] ? plain : fwd;
        }

        /** {@code bias}: the layer has a bias, whose gradient the backward-weights primitive then computes too. */
        WeightedBackward backward(boolean bias) {
            if (backward != null && backward.hasBias() == bias) {
                return backward;
            }
            long[] wDims = g.weightDims();
            convolution_backward_data.primitive_desc bd = new convolution_backward_data.primitive_desc(
                    new convolution_backward_data.desc(algorithm.convolution_direct, Dnnl.any(g.srcDims()),
                            Dnnl.any(wDims), Dnnl.any(g.dstDims()), g.strides(), g.dilates(), g.padL(), g.padR()),
                    Dnnl.attr(), Dnnl.engine(), fwd.pd);
            Dnnl.Prim dataPrim = new Dnnl.Prim(new convolution_backward_data(bd), bd);
            memory.desc[] dataDescs = {bd.diff_dst_desc(), bd.weights_desc(), bd.diff_src_desc()};
            memory.desc[] user = {srcUser, weightsUser, biasUser, dstUser};
            WideDepthwiseWeights wide = WIDE_DEPTHWISE
                    ? WideDepthwiseWeights.of(g, new memory.desc[]{srcUser, weightsUser, bias ? biasUser : null,
                    dstUser})
                    : null;
            if (wide != null) {
                backward = new WeightedBackward(user, dataPrim, dataDescs, wide);
                return backward;
            }
            // bias-free layers (ResNet's convolutions): no bias gradient
            convolution_backward_weights.desc bw = bias
                    ? new convolution_backward_weights.desc(algorithm.convolution_direct, Dnnl.any(g.srcDims()),
                    Dnnl.any(wDims), biasUser, Dnnl.any(g.dstDims()), g.strides(), g.dilates(), g.padL(), g.padR())
                    : new convolution_backward_weights.desc(algorithm.convolution_direct, Dnnl.any(g.srcDims()),
                    Dnnl.any(wDims), Dnnl.any(g.dstDims()), g.strides(), g.dilates(), g.padL(), g.padR());
            convolution_backward_weights.primitive_desc bwPd =
                    new convolution_backward_weights.primitive_desc(bw, Dnnl.attr(), Dnnl.engine(), fwd.pd);
            backward = new WeightedBackward(user, dataPrim, dataDescs,
                    new Dnnl.Prim(new convolution_backward_weights(bwPd), bwPd),
                    new memory.desc[]{bwPd.src_desc(), bwPd.diff_dst_desc(), bwPd.diff_weights_desc(),
                            bias ? bwPd.diff_bias_desc() : null});
            return backward;
        }
    }

    /**
     * Whether oneDNN has blocked-layout kernels for a convolution of {@code c} to {@code oc} channels in
     * {@code groups} groups: one group, depthwise, or groups of whole channel blocks.
     */
    static boolean wholeBlocks(long c, long oc, long groups) {
        return groups == 1 || (groups == c && oc == c)
                || ((c / groups) % Dnnl.BLOCK == 0 && (oc / groups) % Dnnl.BLOCK == 0);
    }

    private Plan plan(Geometry g) {
        return plans.computeIfAbsent(g, k -> new Plan(k, inferenceOnly, fused, srcBlocked, dstBlocked));
    }

    /**
     * The plan for a forward pass into {@code out}. DL4J's convolution layer hands its output to {@link #activate}
     * only when {@code Shape.strideDescendingCAscendingF(out)}, and applies the activation itself otherwise (outputs
     * with a width, or height and width, of 1: squeeze-and-excitation's convolutions). There the activation is left
     * out of the convolution, or it would run twice (harmless for ReLU only).
     */
    private Plan plan(Geometry g, INDArray out) {
        return plans.computeIfAbsent(g, k -> new Plan(k, inferenceOnly,
                Shape.strideDescendingCAscendingF(out) ? fused : null, srcBlocked, dstBlocked));
    }

    private static boolean supported(INDArray... arrays) {
        for (INDArray a : arrays) {
            if (a != null && a.dataType() != DataType.FLOAT) {
                return false;
            }
        }
        return true;
    }

    @Override
    public synchronized INDArray preOutput(INDArray input, INDArray weights, INDArray bias, int[] kernel,
                                           int[] strides, int[] pad,
                                           org.deeplearning4j.nn.conf.layers.ConvolutionLayer.AlgoMode mode,
                                           org.deeplearning4j.nn.conf.layers.ConvolutionLayer.FwdAlgo fwdAlgo,
                                           ConvolutionMode convolutionMode, int[] dilation, CNN2DFormat format,
                                           LayerWorkspaceMgr workspaceMgr) {
        lastFused = false;
        if (keepOutput) { // a forward pass (the backward pass asks only when nothing is kept): the last one's is stale
            Dl4jInternals.clearKeptForwardOutput(owner);
        }
        Geometry g = supported(input, weights, bias)
                ? Geometry.of(input, weights, kernel, strides, pad, convolutionMode, dilation, format)
                : null;
        if (g == null) {
            return fallback == null ? null : fallback.preOutput(input, weights, bias, kernel, strides, pad, mode,
                    fwdAlgo, convolutionMode, dilation, format, workspaceMgr);
        }
        INDArray out = workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, DataType.FLOAT, g.dstShape(), 'c');
        Plan p = plan(g, out);
        lastFused = p.act != null;
        if (inferenceOnly) {
            if (p.chosen == null) {
                p.chosen = p.tune(input, weights, bias, out);
            }
            p.chosen.run(input, weights, bias, out, true);
        } else {
            p.fwd.run(input, weights, bias, out, false);
            if (keepOutput) {
                Dl4jInternals.keepForwardOutput(owner, out);
            }
        }
        FORWARD.incrementAndGet();
        return out;
    }

    /**
     * Inference-only: {@code out = relu(conv(input) + out)}, {@code out} holding the residual on entry (a ResNet
     * block's convolution, shortcut addition and ReLU as one oneDNN call, see {@link ConvAddReluVertex}). Always
     * blocked: with a sum post-op oneDNN's plain-layout (GEMM) convolution ran 2-8x slower here (64->256 1x1 at
     * 56x56, batch 8: 46 ms against 4.5 blocked).
     */
    public synchronized void convolveAddRelu(INDArray input, INDArray weights, INDArray bias, int[] kernel,
                                             int[] strides, int[] pad, ConvolutionMode convolutionMode,
                                             int[] dilation, CNN2DFormat format, INDArray out) {
        Geometry g = supported(input, weights, bias, out) && Dnnl.isDense(out)
                ? Geometry.of(input, weights, kernel, strides, pad, convolutionMode, dilation, format)
                : null;
        if (g == null || !inferenceOnly) {
            throw new IllegalStateException("convolution not supported by the fused residual path: "
                    + Arrays.toString(input.shape()) + " " + input.dataType() + " " + convolutionMode);
        }
        if (!Arrays.equals(out.shape(), g.dstShape())) { // an add that broadcast its shortcut
            throw new IllegalStateException("fused residual: shortcut " + Arrays.toString(out.shape())
                    + " differs from the convolution's output " + Arrays.toString(g.dstShape()));
        }
        Plan p = plan(g);
        if (p.residual == null) {
            p.residual = new Forward(p, true, Eltwise.RELU, false, true);
        }
        p.residual.run(input, weights, bias, out, true);
        FORWARD.incrementAndGet();
    }

    @Override
    public synchronized Pair<Gradient, INDArray> backpropGradient(
            INDArray input, INDArray weights, INDArray bias, INDArray delta, int[] kernel, int[] strides, int[] pad,
            INDArray biasGradView, INDArray weightGradView, IActivation afn,
            org.deeplearning4j.nn.conf.layers.ConvolutionLayer.AlgoMode mode,
            org.deeplearning4j.nn.conf.layers.ConvolutionLayer.BwdFilterAlgo bwdFilterAlgo,
            org.deeplearning4j.nn.conf.layers.ConvolutionLayer.BwdDataAlgo bwdDataAlgo,
            ConvolutionMode convolutionMode, int[] dilation, CNN2DFormat format, LayerWorkspaceMgr workspaceMgr) {
        if (bias == null) {
            biasGradView = null; // DL4J hands non-MKLDNN helpers of bias-free layers a dummy (see SmallMapConvHelper)
        }
        Geometry g = supported(input, weights, delta, weightGradView, biasGradView)
                ? Geometry.of(input, weights, kernel, strides, pad, convolutionMode, dilation, format)
                : null;
        if (g == null || !Dnnl.isDense(weightGradView) || (biasGradView != null && !Dnnl.isDense(biasGradView))) {
            return fallback == null ? null : fallback.backpropGradient(input, weights, bias, delta, kernel, strides,
                    pad, biasGradView, weightGradView, afn, mode, bwdFilterAlgo, bwdDataAlgo, convolutionMode,
                    dilation, format, workspaceMgr);
        }
        Plan p = plan(g);
        INDArray epsOut = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, DataType.FLOAT,
                g.srcShape(), 'c');
        p.backward(biasGradView != null).run(Dnnl.dense(input), Dnnl.dense(weights), Dnnl.dense(delta),
                weightGradView, biasGradView, skipInputGradient ? null : epsOut);
        BACKWARD.incrementAndGet();
        Gradient grad = new DefaultGradient();
        if (biasGradView != null) {
            grad.gradientForVariable().put("b", biasGradView);
        }
        grad.gradientForVariable().put("W", weightGradView);
        return new Pair<>(grad, epsOut);
    }

    @Override
    public synchronized INDArray activate(INDArray z, IActivation afn, boolean training) {
        // preOutput cannot tell an inference pass: keep nothing from one. (DL4J skips this call for outputs whose
        // strides it does not take for C order, such as 1x1 maps; what such an inference pass kept is cleared by the
        // next forward pass, and DL4J runs a backward pass only after a training one.)
        if (keepOutput && !training) {
            Dl4jInternals.clearKeptForwardOutput(owner);
        }
        // with the activation fused, preOutput already returned the activations
        return lastFused ? z : afn.getActivation(z, training);
    }

    /**
     * The oneDNN implementations of this helper's forward primitives and, once built, backward ones (for tests: a
     * {@code ref:} name is oneDNN's slow reference kernel).
     */
    public synchronized java.util.Set<String> implementations() {
        java.util.Set<String> out = new java.util.TreeSet<>();
        for (Plan p : plans.values()) {
            out.add(p.fwd.prim.implementation);
            if (p.backward != null) {
                out.addAll(p.backward.implementations());
            }
        }
        return out;
    }

    @Override
    public synchronized String toString() {
        return "DnnlConvHelper" + Arrays.toString(plans.keySet().toArray());
    }

}
