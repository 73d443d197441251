package dev.cnn.zoo.layers;

import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.BaseActivationFunction;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * PyTorch's {@code Hardswish} (MobileNetV3): {@code x * relu6(x + 3) / 6}. Its derivative is 0 below -3, 1 above 3
 * and {@code x / 3 + 1/2} from -3 to 3, both included, as PyTorch 1.13's per-element backward computes it (its
 * vectorised path gives 1 at exactly 3, as oneDNN does, which also gives 0 at exactly -3).
 */
public class ActivationHardSwish extends BaseActivationFunction {
    @Override
    public INDArray getActivation(INDArray in, boolean training) {
        INDArray gate = ActivationHardSigmoid.gate(in);
        return in.muli(gate);
    }

    @Override
    public Pair<INDArray, INDArray> backprop(INDArray in, INDArray epsilon) {
        assertShape(in, epsilon);
        INDArray inside = in.gte(-3.0).castTo(in.dataType()).muli(in.lte(3.0).castTo(in.dataType()));
        INDArray above = in.gt(3.0).castTo(in.dataType());
        INDArray d = in.div(3.0).addi(0.5).muli(inside).addi(above);
        in.assign(d.muli(epsilon));
        return new Pair<>(in, null);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ActivationHardSwish;
    }

    @Override
    public int hashCode() {
        return ActivationHardSwish.class.hashCode();
    }

    @Override
    public String toString() {
        return "hardswish";
    }

}
