package dev.cnn.accel;

import org.bytedeco.dnnl.batch_normalization_backward;
import org.bytedeco.dnnl.batch_normalization_forward;
import org.bytedeco.dnnl.memory;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.normalization.BatchNormalizationHelper;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_SCALE;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_SHIFT;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_MEAN;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SCALE;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SHIFT;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_VARIANCE;
import static org.bytedeco.dnnl.global.dnnl.normalization_flags;
import static org.bytedeco.dnnl.global.dnnl.prop_kind;

/**
 * DL4J batch-norm helper on oneDNN 2.5 ({@code org.bytedeco:dnnl}), with the contract of DL4J's
 * {@code MKLDNNBatchNormHelper}: in training the batch mean and (biased) variance are computed here and kept for
 * {@link #getMeanCache}/{@link #getVarCache}, from which the layer updates its running statistics; at inference the
 * running statistics passed in are used. Works on the arrays' own layout (NCHW or NHWC), no reorders; primitives
 * are kept per input shape. Rank-2 input and other data types go to DL4J's built-in path.
 */
public final class DnnlBatchNormHelper extends DnnlLayerHelper implements BatchNormalizationHelper {
    private static final AtomicLong CALLS = new AtomicLong();
    private static final int SCALE_SHIFT = normalization_flags.use_scale.value | normalization_flags.use_shift.value;

    private final Map<Key, Plan> plans = new HashMap<>();
    private boolean blocked;
    private boolean fuseRelu;
    private boolean lastFusedRelu;
    private INDArray meanCache;
    private INDArray varCache;

    DnnlBatchNormHelper() {
    }

    /** Forward and backward calls run on oneDNN since the JVM started (for tests). */
    public static long calls() {
        return CALLS.get();
    }

    record Key(long n, long c, long h, long w, boolean nhwc, float eps, boolean blocked) {
    }

    private static final class Plan {
        final Key key;
        final memory.desc data;
        final memory.desc channel;
        final batch_normalization_forward.primitive_desc trainPd;
        final Dnnl.Prim train;
        final Dnnl.Prim infer;
        Dnnl.Prim inferRelu;
        Dnnl.Prim backward;
        final Dnnl.Port src;
        final Dnnl.Port dst;
        final Dnnl.Port scale;
        final Dnnl.Port shift;
        final Dnnl.Port mean;
        final Dnnl.Port var;
        final Dnnl.Port diffDst;
        final Dnnl.Port diffSrc;
        final Dnnl.Port diffScale;
        final Dnnl.Port diffShift;

        Plan(Key k) {
            key = k;
            data = Dnnl.desc(new long[]{k.n, k.c, k.h, k.w}, k.blocked ? Dnnl.blockedTag()
                    : k.nhwc ? memory.format_tag.nhwc : memory.format_tag.nchw);
            channel = Dnnl.desc(new long[]{k.c}, memory.format_tag.x);
            trainPd = new batch_normalization_forward.primitive_desc(new batch_normalization_forward.desc(
                    prop_kind.forward_training.value, data, k.eps, SCALE_SHIFT), Dnnl.attr(), Dnnl.engine());
            train = new Dnnl.Prim(new batch_normalization_forward(trainPd), trainPd);
            batch_normalization_forward.primitive_desc inferPd = new batch_normalization_forward.primitive_desc(
                    new batch_normalization_forward.desc(prop_kind.forward_inference.value, data, k.eps,
                            SCALE_SHIFT | normalization_flags.use_global_stats.value), Dnnl.attr(), Dnnl.engine());
            infer = new Dnnl.Prim(new batch_normalization_forward(inferPd), inferPd);
            src = Dnnl.Port.same(data);
            dst = Dnnl.Port.same(data);
            scale = Dnnl.Port.same(channel);
            shift = Dnnl.Port.same(channel);
            mean = Dnnl.Port.same(channel);
            var = Dnnl.Port.same(channel);
            diffDst = Dnnl.Port.same(data);
            diffSrc = Dnnl.Port.same(data);
            diffScale = Dnnl.Port.same(channel);
            diffShift = Dnnl.Port.same(channel);
        }

        /** Inference with the ReLU after the batch norm in the same pass. */
        Dnnl.Prim inferRelu() {
            if (inferRelu == null) {
                batch_normalization_forward.primitive_desc pd = new batch_normalization_forward.primitive_desc(
                        new batch_normalization_forward.desc(prop_kind.forward_inference.value, data, key.eps,
                                SCALE_SHIFT | normalization_flags.use_global_stats.value
                                        | normalization_flags.fuse_norm_relu.value), Dnnl.attr(), Dnnl.engine());
                inferRelu = new Dnnl.Prim(new batch_normalization_forward(pd), pd);
            }
            return inferRelu;
        }

        Dnnl.Prim backward() {
            if (backward == null) {
                batch_normalization_backward.primitive_desc pd = new batch_normalization_backward.primitive_desc(
                        new batch_normalization_backward.desc(prop_kind.backward.value, data, data, key.eps,
                                SCALE_SHIFT), Dnnl.attr(), Dnnl.engine(), trainPd);
                backward = new Dnnl.Prim(new batch_normalization_backward(pd), pd);
            }
            return backward;
        }
    }

    private Key key(INDArray x, CNN2DFormat format, double eps) {
        boolean nhwc = format == CNN2DFormat.NHWC;
        return new Key(x.size(0), x.size(nhwc ? 3 : 1), x.size(nhwc ? 1 : 2), x.size(nhwc ? 2 : 3), nhwc, (float) eps,
                blocked && !nhwc);
    }

    /**
     * The layer's input, output and their gradients hold oneDNN's blocked layout under their NCHW shape (see
     * {@link GraphPolicy#blockActivations}).
     */
    synchronized void blocked(boolean blocked) {
        this.blocked = blocked;
    }

    synchronized boolean blocked() {
        return blocked;
    }

    /**
     * Inference passes apply a ReLU to the output in the same pass (oneDNN's {@code fuse_norm_relu}; NaN becomes 0,
     * as in the convolutions' ReLU post-ops of an inference copy). For {@link ReluBatchNormLayer}.
     */
    synchronized void fuseRelu(boolean on) {
        fuseRelu = on;
    }

    /** Whether the last forward pass applied the ReLU ({@link #fuseRelu}). */
    synchronized boolean lastFusedRelu() {
        return lastFusedRelu;
    }

    private static boolean supported(INDArray x, INDArray... others) {
        if (x.rank() != 4 || x.dataType() != DataType.FLOAT) {
            return false;
        }
        for (INDArray a : others) {
            if (a == null || a.dataType() != DataType.FLOAT || !Dnnl.isDense(a)) {
                return false;
            }
        }
        return true;
    }

    @Override
    public boolean checkSupported(double eps, boolean fixedGammaBeta) {
        return !fixedGammaBeta && Dnnl.available();
    }

    @Override
    public synchronized INDArray preOutput(INDArray x, boolean training, long[] shape, INDArray gamma, INDArray beta,
                                           INDArray mean, INDArray var, double decay, double eps, CNN2DFormat format,
                                           LayerWorkspaceMgr workspaceMgr) {
        lastFusedRelu = false;
        if (!supported(x, gamma, beta) || (!training && !supported(x, mean, var))) {
            return null;
        }
        Plan p = plans.computeIfAbsent(key(x, format, eps), Plan::new);
        INDArray in = Dnnl.dense(x);
        INDArray out = workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, DataType.FLOAT, x.shape(), 'c');
        Dnnl.Run run = Dnnl.run();
        if (training) {
            long c = p.key.c();
            if (meanCache == null || meanCache.length() != c) {
                try (MemoryWorkspace ws = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
                    meanCache = Nd4j.createUninitialized(DataType.FLOAT, c);
                    varCache = Nd4j.createUninitialized(DataType.FLOAT, c);
                }
            }
        }
        INDArray m = training ? meanCache : mean; // training writes the batch statistics, inference reads these
        INDArray v = training ? varCache : var;
        boolean relu = !training && fuseRelu;
        run.exec(training ? p.train : relu ? p.inferRelu() : p.infer, Map.of(DNNL_ARG_SRC, p.src.bind(run, in),
                DNNL_ARG_SCALE, p.scale.bind(run, gamma), DNNL_ARG_SHIFT, p.shift.bind(run, beta),
                DNNL_ARG_DST, p.dst.bind(run, out), DNNL_ARG_MEAN, p.mean.bind(run, m),
                DNNL_ARG_VARIANCE, p.var.bind(run, v)));
        run.finish();
        lastFusedRelu = relu;
        CALLS.incrementAndGet();
        return out;
    }

    @Override
    public synchronized Pair<Gradient, INDArray> backpropGradient(INDArray input, INDArray epsilon, long[] shape,
                                                                  INDArray gamma, INDArray beta, INDArray dGammaView,
                                                                  INDArray dBetaView, double eps, CNN2DFormat format,
                                                                  LayerWorkspaceMgr workspaceMgr) {
        if (!supported(input, gamma, beta, dGammaView, dBetaView) || epsilon.dataType() != DataType.FLOAT
                || meanCache == null || meanCache.length() != gamma.length()) {
            return null;
        }
        Plan p = plans.computeIfAbsent(key(input, format, eps), Plan::new);
        INDArray epsOut = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, DataType.FLOAT,
                input.shape(), 'c');
        Dnnl.Run run = Dnnl.run();
        run.exec(p.backward(), Map.of(DNNL_ARG_SRC, p.src.bind(run, Dnnl.dense(input)),
                DNNL_ARG_MEAN, p.mean.bind(run, meanCache), DNNL_ARG_VARIANCE, p.var.bind(run, varCache),
                DNNL_ARG_DIFF_DST, p.diffDst.bind(run, Dnnl.dense(epsilon)),
                DNNL_ARG_SCALE, p.scale.bind(run, gamma), DNNL_ARG_SHIFT, p.shift.bind(run, beta),
                DNNL_ARG_DIFF_SRC, p.diffSrc.bind(run, epsOut),
                DNNL_ARG_DIFF_SCALE, p.diffScale.bind(run, dGammaView),
                DNNL_ARG_DIFF_SHIFT, p.diffShift.bind(run, dBetaView)));
        run.finish();
        CALLS.incrementAndGet();
        Gradient g = new DefaultGradient();
        g.setGradientFor("gamma", dGammaView);
        g.setGradientFor("beta", dBetaView);
        return new Pair<>(g, epsOut);
    }

    @Override
    public INDArray getMeanCache(DataType dataType) {
        return meanCache == null ? null : meanCache.castTo(dataType);
    }

    @Override
    public INDArray getVarCache(DataType dataType) {
        return varCache == null ? null : varCache.castTo(dataType);
    }

}
