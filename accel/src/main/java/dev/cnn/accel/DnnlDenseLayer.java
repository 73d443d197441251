package dev.cnn.accel;

import org.bytedeco.dnnl.inner_product_backward_data;
import org.bytedeco.dnnl.inner_product_backward_weights;
import org.bytedeco.dnnl.inner_product_forward;
import org.bytedeco.dnnl.memory;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.params.DefaultParamInitializer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_BIAS;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_WEIGHTS;
import static org.bytedeco.dnnl.global.dnnl.prop_kind;

/**
 * DL4J's dense layer with its matrix products on oneDNN's inner product (bias included), for float layers without
 * layer norm, weight noise or masks (those, and everything else, run DL4J's own code). DL4J's {@code DenseLayer}
 * has no helper to plug in, so {@link GraphPolicy#install} puts an instance of this subclass in the network in place of
 * each plain dense layer, sharing its configuration, parameters and gradient views: the configuration, the saved
 * model and every other reader of the network see a standard DL4J dense layer.
 *
 * <p>Besides the products themselves (DL4J: ND4J's matmul op plus a separate broadcast for the bias, and in
 * training a copy of the result into the layer's array), it keeps the forward pass's pre-activation for the backward
 * pass, which DL4J computes a second time. lenet@28, batch 64: the two dense layers took about 36% of a training
 * step on DL4J's code (bench/RESULTS.md).
 */
public final class DnnlDenseLayer extends org.deeplearning4j.nn.layers.feedforward.dense.DenseLayer {
    private static final AtomicLong CALLS = new AtomicLong();
    private final transient Map<Long, Plan> plans = new HashMap<>();
    private transient INDArray z; // pre-activation of the last training forward pass, detached
    private transient INDArray zInput; // the input it was computed from

    public DnnlDenseLayer(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    /** Forward and backward calls run on oneDNN since the JVM started (for tests). */
    public static long calls() {
        return CALLS.get();
    }

    /** Shapes oneDNN takes as they are: float, 2d, weights and their gradient in DL4J's 'f' order. */
    private boolean covered(INDArray in, INDArray w) {
        return Dnnl.available() && !hasLayerNorm() && layerConf().getWeightNoise() == null && maskArray == null
                && in.rank() == 2 && in.dataType() == DataType.FLOAT && w.dataType() == DataType.FLOAT
                && in.columns() == w.rows() && fOrder(w);
    }

    private static boolean fOrder(INDArray w) {
        return w.rank() == 2 && (w.size(1) == 1 || w.stride(1) == w.size(0)) && (w.size(0) == 1 || w.stride(0) == 1);
    }

    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(false);
        INDArray w = getParam(DefaultParamInitializer.WEIGHT_KEY);
        if (!covered(input, w)) {
            z = null;
            return super.activate(training, workspaceMgr);
        }
        applyDropOutIfNecessary(training, workspaceMgr);
        long n = input.size(0);
        INDArray out = workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, DataType.FLOAT, new long[]{n, w.size(1)},
                'c');
        plan(n, w).forward(Dnnl.dense(input), w, hasBias() ? getParam(DefaultParamInitializer.BIAS_KEY) : null, out);
        if (training) { // kept for the backward pass, which DL4J would compute a second time
            if (z == null || z.size(0) != n || z.size(1) != out.size(1)) {
                try (org.nd4j.linalg.api.memory.MemoryWorkspace ws =
                             Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
                    z = Nd4j.createUninitialized(DataType.FLOAT, n, out.size(1));
                }
            }
            Dnnl.copy(out, z);
            zInput = input;
        } else {
            zInput = null;
        }
        return layerConf().getActivationFn().getActivation(out, training);
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(true);
        INDArray w = getParam(DefaultParamInitializer.WEIGHT_KEY);
        INDArray gw = gradientViews.get(DefaultParamInitializer.WEIGHT_KEY);
        INDArray gb = hasBias() ? gradientViews.get(DefaultParamInitializer.BIAS_KEY) : null;
        if (zInput != input || z == null || !covered(input, w) || !fOrder(gw)
                || (gb != null && !Dnnl.isDense(gb)) || epsilon.dataType() != DataType.FLOAT) {
            zInput = null;
            return super.backpropGradient(epsilon, workspaceMgr);
        }
        zInput = null; // used once
        INDArray delta = Dnnl.dense(layerConf().getActivationFn().backprop(z, epsilon).getFirst());
        long n = input.size(0);
        INDArray epsNext = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, DataType.FLOAT,
                new long[]{n, w.size(0)}, 'c');
        plan(n, w).backward(Dnnl.dense(input), w, delta, gw, gb, epsNext);
        Gradient ret = new DefaultGradient();
        if (gb != null) {
            ret.gradientForVariable().put(DefaultParamInitializer.BIAS_KEY, gb);
        }
        ret.gradientForVariable().put(DefaultParamInitializer.WEIGHT_KEY, gw);
        weightNoiseParams.clear();
        return new Pair<>(ret, backpropDropOutIfPresent(epsNext));
    }

    private Plan plan(long n, INDArray w) {
        return plans.computeIfAbsent(n, k -> new Plan(k, w.size(0), w.size(1), hasBias()));
    }

    /** oneDNN's inner product for one batch size, on plain row-major arrays (no reorders). */
    private static final class Plan {
        final inner_product_forward.primitive_desc fwdPd;
        final Dnnl.Prim fwd;
        final memory.desc srcDesc;
        final memory.desc weightsDesc;
        final memory.desc biasDesc;
        final memory.desc dstDesc;
        final Dnnl.Port src;
        final Dnnl.Port weights;
        final Dnnl.Port bias;
        final Dnnl.Port dst;
        final boolean hasBias;
        WeightedBackward backward;

        Plan(long n, long in, long out, boolean hasBias) {
            this.hasBias = hasBias;
            srcDesc = Dnnl.desc(new long[]{n, in}, memory.format_tag.ab);
            // DL4J's weights are [in, out] in 'f' order: the same memory as oneDNN's [out, in] row-major
            weightsDesc = Dnnl.desc(new long[]{out, in}, memory.format_tag.ab);
            biasDesc = Dnnl.desc(new long[]{out}, memory.format_tag.a);
            dstDesc = Dnnl.desc(new long[]{n, out}, memory.format_tag.ab);
            inner_product_forward.desc d = hasBias
                    ? new inner_product_forward.desc(prop_kind.forward_training, srcDesc, weightsDesc, biasDesc, dstDesc)
                    : new inner_product_forward.desc(prop_kind.forward_training, srcDesc, weightsDesc, dstDesc);
            fwdPd = new inner_product_forward.primitive_desc(d, Dnnl.attr(), Dnnl.engine());
            fwd = new Dnnl.Prim(new inner_product_forward(fwdPd), fwdPd);
            src = Dnnl.Port.in(srcDesc, fwdPd.src_desc());
            weights = Dnnl.Port.in(weightsDesc, fwdPd.weights_desc());
            bias = Dnnl.Port.in(biasDesc, hasBias ? fwdPd.bias_desc() : biasDesc);
            dst = Dnnl.Port.out(dstDesc, fwdPd.dst_desc());
        }

        void forward(INDArray in, INDArray w, INDArray b, INDArray out) {
            Dnnl.Run run = Dnnl.run();
            Map<Integer, memory> args = new HashMap<>();
            args.put(DNNL_ARG_SRC, src.bind(run, in));
            args.put(DNNL_ARG_WEIGHTS, weights.bind(run, w));
            if (hasBias) {
                args.put(DNNL_ARG_BIAS, bias.bind(run, Dnnl.dense(b)));
            }
            args.put(DNNL_ARG_DST, dst.bind(run, out));
            run.exec(fwd, args);
            run.finish();
            CALLS.incrementAndGet();
        }

        void backward(INDArray in, INDArray w, INDArray delta, INDArray gw, INDArray gb, INDArray epsNext) {
            if (backward == null) {
                inner_product_backward_data.primitive_desc bd = new inner_product_backward_data.primitive_desc(
                        new inner_product_backward_data.desc(srcDesc, weightsDesc, dstDesc), Dnnl.attr(),
                        Dnnl.engine(), fwdPd);
                inner_product_backward_weights.desc bwd = hasBias
                        ? new inner_product_backward_weights.desc(srcDesc, weightsDesc, biasDesc, dstDesc)
                        : new inner_product_backward_weights.desc(srcDesc, weightsDesc, dstDesc);
                inner_product_backward_weights.primitive_desc bw =
                        new inner_product_backward_weights.primitive_desc(bwd, Dnnl.attr(), Dnnl.engine(), fwdPd);
                backward = new WeightedBackward(new memory.desc[]{srcDesc, weightsDesc, biasDesc, dstDesc},
                        new Dnnl.Prim(new inner_product_backward_data(bd), bd),
                        new memory.desc[]{bd.diff_dst_desc(), bd.weights_desc(), bd.diff_src_desc()},
                        new Dnnl.Prim(new inner_product_backward_weights(bw), bw),
                        new memory.desc[]{bw.src_desc(), bw.diff_dst_desc(), bw.diff_weights_desc(),
                                hasBias ? bw.diff_bias_desc() : null});
            }
            backward.run(in, w, delta, gw, gb, epsNext);
            CALLS.incrementAndGet();
        }
    }
}
