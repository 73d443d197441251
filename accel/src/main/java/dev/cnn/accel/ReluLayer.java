package dev.cnn.accel;

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

import java.util.concurrent.atomic.AtomicLong;

/**
 * DL4J's activation layer for a plain ReLU without its copies: DL4J's copies its input before applying the
 * activation in place, in training forward and again backward (two passes over the tensor each way); here each
 * direction is one ND4J op into a fresh array, reading the input DL4J keeps anyway. The same ops as DL4J's, so the
 * same values, NaN included (oneDNN's ReLU maps NaN to 0, which would hide a diverging run). Element-wise, so any
 * dense layout works, the blocked one of {@link GraphPolicy#blockActivations} included. {@link GraphPolicy#install} puts an
 * instance in place of each plain activation layer; other activations and non-dense arrays run DL4J's code.
 */
public final class ReluLayer extends org.deeplearning4j.nn.layers.ActivationLayer {
    private static final AtomicLong CALLS = new AtomicLong();

    public ReluLayer(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    /** Forward and backward calls taken here since the JVM started (for tests). */
    public static long calls() {
        return CALLS.get();
    }

    private boolean inPlace;

    /**
     * Whether training forward passes apply the ReLU to the input array itself instead of a new one (set by {@link
     * GraphPolicy#reluInPlace} where nothing else reads the input). The backward pass then reads the ReLU's output
     * where it read its input: {@code relu(x) > 0} exactly where {@code x > 0}, so the gradient is the same.
     * Inference passes never do it: their caller may read the input's activation ({@code feedForward}).
     */
    void inPlace(boolean on) {
        inPlace = on;
    }

    private boolean covered(INDArray a) {
        return GraphPolicy.plainRelu(layerConf().getActivationFn()) && a.dataType().isFPType() && Dnnl.isDense(a);
    }

    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(false);
        if (!covered(input)) {
            return super.activate(training, workspaceMgr);
        }
        INDArray out = training && inPlace ? input
                : workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, input.dataType(), input.shape(), 'c');
        Nd4j.exec(new RectifiedLinear(input, out));
        CALLS.incrementAndGet();
        return out;
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(true);
        if (!covered(input) || !covered(epsilon) || epsilon.dataType() != input.dataType()
                || !java.util.Arrays.equals(epsilon.shape(), input.shape())) {
            return super.backpropGradient(epsilon, workspaceMgr);
        }
        INDArray delta = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, input.dataType(), input.shape(),
                'c');
        Nd4j.exec(new RectifiedLinearDerivative(input, epsilon, delta));
        CALLS.incrementAndGet();
        return new Pair<>(new DefaultGradient(), delta);
    }
}
