package dev.cnn.engine;

import org.bytedeco.dnnl.eltwise_backward;
import org.bytedeco.dnnl.eltwise_forward;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.primitive;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
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
import static org.bytedeco.dnnl.global.dnnl.algorithm;
import static org.bytedeco.dnnl.global.dnnl.prop_kind;

/**
 * DL4J's activation layer with a plain ReLU on oneDNN's element-wise primitive. DL4J's copies its input before
 * applying the activation in place, forward in training and again backward (two passes over the tensor each way);
 * here each direction is one pass into a fresh array, reading the input DL4J keeps anyway. Element-wise, so the
 * arrays are handed over as flat vectors: any dense layout works, the blocked one of {@link Dnnl#blockActivations}
 * included. {@link Dnnl#install} puts an instance in place of each plain activation layer; other activations, data
 * types and non-dense arrays run DL4J's code.
 */
public final class DnnlActivationLayer extends org.deeplearning4j.nn.layers.ActivationLayer {
    private static final AtomicLong CALLS = new AtomicLong();
    private final transient Map<Long, Plan> plans = new HashMap<>();

    public DnnlActivationLayer(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    /** Forward and backward calls run on oneDNN since the JVM started (for tests). */
    public static long calls() {
        return CALLS.get();
    }

    private boolean covered(INDArray a) {
        return Dnnl.available() && Dnnl.plainRelu(layerConf().getActivationFn()) && a.dataType() == DataType.FLOAT
                && Dnnl.isDense(a);
    }

    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(false);
        if (!covered(input)) {
            return super.activate(training, workspaceMgr);
        }
        INDArray out = workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, DataType.FLOAT, input.shape(), 'c');
        Plan p = plan(input.length());
        Dnnl.Run run = Dnnl.run();
        run.exec(p.fwd, Map.of(DNNL_ARG_SRC, p.src.bind(run, input), DNNL_ARG_DST, p.dst.bind(run, out)));
        run.finish();
        CALLS.incrementAndGet();
        return out;
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(true);
        if (!covered(input) || !covered(epsilon) || epsilon.length() != input.length()) {
            return super.backpropGradient(epsilon, workspaceMgr);
        }
        INDArray delta = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, DataType.FLOAT, input.shape(),
                'c');
        Plan p = plan(input.length());
        p.buildBackward();
        Dnnl.Run run = Dnnl.run();
        run.exec(p.bwd, Map.of(DNNL_ARG_SRC, p.src.bind(run, input), DNNL_ARG_DIFF_DST, p.diffDst.bind(run, epsilon),
                DNNL_ARG_DIFF_SRC, p.diffSrc.bind(run, delta)));
        run.finish();
        CALLS.incrementAndGet();
        return new Pair<>(new DefaultGradient(), delta);
    }

    private Plan plan(long length) {
        return plans.computeIfAbsent(length, Plan::new);
    }

    /** Forward and backward ReLU over a flat vector of one length. */
    private static final class Plan {
        final memory.desc flat;
        final eltwise_forward.primitive_desc fwdPd;
        final primitive fwd;
        final Dnnl.Port src;
        final Dnnl.Port dst;
        primitive bwd;
        Dnnl.Port diffDst;
        Dnnl.Port diffSrc;

        Plan(long length) {
            flat = Dnnl.desc(new long[]{length}, memory.format_tag.a);
            fwdPd = new eltwise_forward.primitive_desc(new eltwise_forward.desc(prop_kind.forward_training,
                    algorithm.eltwise_relu, flat, 0f, 0f), Dnnl.engine());
            fwd = new eltwise_forward(fwdPd);
            src = Dnnl.Port.same(flat);
            dst = Dnnl.Port.same(flat);
        }

        void buildBackward() {
            if (bwd == null) {
                bwd = new eltwise_backward(new eltwise_backward.primitive_desc(new eltwise_backward.desc(
                        algorithm.eltwise_relu, flat, flat, 0f, 0f), Dnnl.engine(), fwdPd));
                diffDst = Dnnl.Port.same(flat);
                diffSrc = Dnnl.Port.same(flat);
            }
        }
    }
}
