package dev.cnn.zoo.layers;

import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.BaseActivationFunction;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * PyTorch's {@code Hardsigmoid}, {@code relu6(x + 3) / 6} (the gate of MobileNetV3's squeeze-and-excitation). DL4J's
 * own hard sigmoid is a different function ({@code 0.2 x + 0.5}, clipped).
 */
public class ActivationHardSigmoid extends BaseActivationFunction {
    /** {@code relu6(x + 3) / 6}, a new array. */
    static INDArray gate(INDArray x) {
        INDArray g = x.add(3.0).divi(6.0);
        return Transforms.min(Transforms.max(g, 0.0, false), 1.0, false);
    }

    @Override
    public INDArray getActivation(INDArray in, boolean training) {
        return in.assign(gate(in));
    }

    @Override
    public Pair<INDArray, INDArray> backprop(INDArray in, INDArray epsilon) {
        assertShape(in, epsilon);
        INDArray inside = in.gt(-3.0).castTo(in.dataType()).muli(in.lt(3.0).castTo(in.dataType()));
        in.assign(inside.divi(6.0).muli(epsilon));
        return new Pair<>(in, null);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ActivationHardSigmoid;
    }

    @Override
    public int hashCode() {
        return ActivationHardSigmoid.class.hashCode();
    }

    @Override
    public String toString() {
        return "hardsigmoid";
    }
}
