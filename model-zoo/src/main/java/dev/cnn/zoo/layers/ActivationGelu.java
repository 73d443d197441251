package dev.cnn.zoo.layers;

import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.BaseActivationFunction;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Erf;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * The exact GELU, {@code x * Phi(x) = x / 2 * (1 + erf(x / sqrt 2))}: PyTorch's {@code nn.GELU()} default
 * (ConvNeXt). DL4J's {@code GELU} and {@code PreciseGELU} are approximations that differ from it by up to about
 * 1e-3, more than the parity tests allow.
 */
public class ActivationGelu extends BaseActivationFunction {
    private static final double SQRT2 = Math.sqrt(2.0);
    private static final double INV_SQRT_2PI = 1.0 / Math.sqrt(2.0 * Math.PI);

    /** {@code Phi(x)}, the standard normal CDF, a new array. */
    private static INDArray cdf(INDArray x) {
        INDArray e = x.div(SQRT2);
        Nd4j.exec(new Erf(e, e));
        return e.addi(1.0).muli(0.5);
    }

    @Override
    public INDArray getActivation(INDArray in, boolean training) {
        return in.muli(cdf(in));
    }

    @Override
    public Pair<INDArray, INDArray> backprop(INDArray in, INDArray epsilon) {
        assertShape(in, epsilon);
        // d/dx x Phi(x) = Phi(x) + x phi(x)
        INDArray pdf = Transforms.exp(in.mul(in).muli(-0.5), false).muli(INV_SQRT_2PI);
        INDArray d = cdf(in).addi(pdf.muli(in));
        in.assign(d.muli(epsilon));
        return new Pair<>(in, null);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ActivationGelu;
    }

    @Override
    public int hashCode() {
        return ActivationGelu.class.hashCode();
    }

    @Override
    public String toString() {
        return "gelu";
    }
}
