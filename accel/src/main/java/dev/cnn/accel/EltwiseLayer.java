package dev.cnn.accel;

import org.bytedeco.dnnl.eltwise_backward;
import org.bytedeco.dnnl.eltwise_forward;
import org.bytedeco.dnnl.memory;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.scalar.RectifiedLinear;
import org.nd4j.linalg.api.ops.impl.scalar.RectifiedLinearDerivative;
import org.nd4j.linalg.factory.Nd4j;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SRC;
import static org.bytedeco.dnnl.global.dnnl.prop_kind;

/**
 * DL4J's activation layer without its copies, for element-wise activations: DL4J's copies its input before applying
 * the activation in place, in training forward and again backward, and its ReLU6 and SiLU derivatives are libnd4j
 * loops of 3-5 ns an element (ReLU6's backward on MobileNetV2's largest map at batch 8, 9.6M values: 48 ms alone).
 * Here each direction is one pass into a fresh array, reading the input DL4J keeps anyway:
 * <ul>
 * <li>plain ReLU: ND4J's ops, DL4J's own, so the same values, NaN included (oneDNN's ReLU maps NaN to 0, which would
 * hide a diverging run);</li>
 * <li>ReLU6, SiLU, sigmoid, tanh and the zoo's GELU: oneDNN's element-wise primitives (one jit pass each
 * way) on the tensor as one run of values (ReLU6 is oneDNN's {@code clip_v2} to [0, 6], whose gradient passes
 * strictly inside, as DL4J's).</li>
 * </ul>
 * Element-wise, so any dense layout works, the blocked one of {@link GraphPolicy#blockActivations} included.
 * {@link GraphPolicy#install} puts an instance in place of each plain activation layer; other activations, dropout,
 * other data types and non-dense arrays run DL4J's code.
 */
public final class EltwiseLayer extends org.deeplearning4j.nn.layers.ActivationLayer {
    private static final AtomicLong CALLS = new AtomicLong();

    // oneDNN's primitives per (activation, tensor length, gradient from the output); not saved with the network
    private transient Map<PlanKey, Plan> plans;
    private boolean inPlace;

    public EltwiseLayer(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    private record PlanKey(Eltwise op, long n, boolean fromOutput) {
    }

    /** The oneDNN algorithm for the configured activation, or null: ReLU on ND4J, or DL4J's code. */
    private Eltwise op() {
        org.nd4j.linalg.activations.IActivation a = layerConf().getActivationFn();
        return GraphPolicy.plainRelu(a) || !Dnnl.available() ? null : Eltwise.forTraining(a);
    }

    /** Forward and backward calls taken here since the JVM started (for tests). */
    public static long calls() {
        return CALLS.get();
    }

    /**
     * oneDNN's forward and backward primitives for tensors of one length, with the gradient computed from the input
     * or (an activation applied in place, {@link #inPlace}) from the output.
     */
    private static final class Plan {
        final Dnnl.Prim forward;
        final Dnnl.Prim backward;
        final Dnnl.Port src;
        final Dnnl.Port dst;
        final Dnnl.Port diffDst;
        final Dnnl.Port diffSrc;

        Plan(Eltwise e, long n, boolean fromOutput) {
            memory.desc d = Dnnl.desc(new long[]{n}, memory.format_tag.x);
            int alg = (fromOutput ? e.fromOutput() : e.kind()).value;
            eltwise_forward.primitive_desc fwd = new eltwise_forward.primitive_desc(new eltwise_forward.desc(
                    prop_kind.forward_training.value, alg, d, e.alpha(), e.beta()), Dnnl.attr(), Dnnl.engine());
            forward = new Dnnl.Prim(new eltwise_forward(fwd), fwd);
            eltwise_backward.primitive_desc bwd = new eltwise_backward.primitive_desc(new eltwise_backward.desc(
                    alg, d, d, e.alpha(), e.beta()), Dnnl.attr(), Dnnl.engine(), fwd);
            backward = new Dnnl.Prim(new eltwise_backward(bwd), bwd);
            src = Dnnl.Port.same(d);
            dst = Dnnl.Port.same(d);
            diffDst = Dnnl.Port.same(d);
            diffSrc = Dnnl.Port.same(d);
        }
    }

    /**
     * Whether training forward passes apply the activation to the input array itself instead of a new one (set by
     * {@link GraphPolicy#activationsInPlace} where nothing else reads the input). The backward pass then reads the
     * output where it read its input: for ReLU {@code relu(x) > 0} exactly where {@code x > 0}, for ReLU6
     * {@code 0 < relu6(x) < 6} exactly where {@code 0 < x < 6}, so the gradient is the same. Inference passes never
     * do it: their caller may read the input's activation ({@code feedForward}).
     */
    void inPlace(boolean on) {
        inPlace = on && canRunInPlace();
    }

    /** Whether the activation's gradient follows from its output (ReLU, ReLU6), so it may overwrite its input. */
    boolean canRunInPlace() {
        Eltwise op = op();
        return op == null ? GraphPolicy.plainRelu(layerConf().getActivationFn()) : op.fromOutput() != null;
    }

    private boolean covered(Eltwise op, INDArray a) {
        return (op != null || GraphPolicy.plainRelu(layerConf().getActivationFn())) && layerConf().getIDropout() == null
                && (op == null ? a.dataType().isFPType() : a.dataType() == DataType.FLOAT) && Dnnl.isDense(a);
    }

    /**
     * Runs {@code op}'s forward ({@code backward} false) or backward primitive: {@code x} is the input, or the output
     * when {@code fromOutput}; {@code y} the output, or the gradient to compute. One pass at a time per layer, as the
     * other helpers of this package.
     */
    private synchronized void exec(Eltwise op, boolean backward, boolean fromOutput, INDArray x, INDArray epsilon,
                                   INDArray y) {
        if (plans == null) {
            plans = new HashMap<>();
        }
        Plan p = plans.computeIfAbsent(new PlanKey(op, x.length(), fromOutput), k -> new Plan(op, k.n(), fromOutput));
        Dnnl.Run run = Dnnl.run();
        if (backward) {
            run.exec(p.backward, Map.of(fromOutput ? DNNL_ARG_DST : DNNL_ARG_SRC, (fromOutput ? p.dst : p.src)
                            .bind(run, x), DNNL_ARG_DIFF_DST, p.diffDst.bind(run, epsilon),
                    DNNL_ARG_DIFF_SRC, p.diffSrc.bind(run, y)));
        } else {
            run.exec(p.forward, Map.of(DNNL_ARG_SRC, p.src.bind(run, x), DNNL_ARG_DST, p.dst.bind(run, y)));
        }
        run.finish();
    }

    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(false);
        Eltwise op = op();
        if (!covered(op, input)) {
            return super.activate(training, workspaceMgr);
        }
        boolean overwrite = training && inPlace && (op == null || op.fromOutput() != null);
        INDArray out = overwrite ? input
                : workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, input.dataType(), input.shape(), 'c');
        if (op == null) {
            Nd4j.exec(new RectifiedLinear(input, out));
        } else {
            exec(op, false, overwrite, input, null, out);
        }
        CALLS.incrementAndGet();
        return out;
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(true);
        Eltwise op = op();
        if (!covered(op, input) || !covered(op, epsilon) || epsilon.dataType() != input.dataType()
                || !java.util.Arrays.equals(epsilon.shape(), input.shape())) {
            return super.backpropGradient(epsilon, workspaceMgr);
        }
        INDArray delta = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, input.dataType(), input.shape(),
                'c');
        if (op == null) {
            Nd4j.exec(new RectifiedLinearDerivative(input, epsilon, delta));
        } else {
            // after an in-place forward pass the input array holds the output (for ReLU6 either gives the same
            // gradient: 0 < relu6(x) < 6 exactly where 0 < x < 6)
            exec(op, true, inPlace && op.fromOutput() != null, input, epsilon, delta);
        }
        CALLS.incrementAndGet();
        return new Pair<>(new DefaultGradient(), delta);
    }
}
