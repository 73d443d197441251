package dev.cnn.accel;

import org.nd4j.linalg.activations.IActivation;

import static org.bytedeco.dnnl.global.dnnl.algorithm;

/**
 * An element-wise activation as oneDNN computes it: as a post-op ({@link #of}: convolutions of inference copies apply
 * it in the same pass; ReLU, ReLU6, SiLU, sigmoid, tanh, the zoo's Hardswish and exact GELU) or as a primitive of its
 * own in training ({@link #forTraining}, for {@link EltwiseLayer}). Others (the zoo's Hardsigmoid, which oneDNN 2.5
 * lacks) stay separate steps on DL4J's code.
 *
 * @param kind       oneDNN's algorithm
 * @param fromOutput the same function with its gradient computed from the output, or null where the gradient needs
 *                   the input
 */
record Eltwise(algorithm kind, float alpha, float beta, algorithm fromOutput) {
    static final Eltwise RELU = new Eltwise(algorithm.eltwise_relu, 0f, 0f);

    Eltwise(algorithm kind, float alpha, float beta) {
        this(kind, alpha, beta, null);
    }

    /** The post-op computing {@code a}, or null where there is none. */
    static Eltwise of(IActivation a) {
        if (a == null) {
            return null;
        }
        if (GraphPolicy.plainRelu(a)) {
            return RELU;
        }
        if (a instanceof org.nd4j.linalg.activations.impl.ActivationReLU6) {
            return new Eltwise(algorithm.eltwise_bounded_relu, 6f, 0f);
        }
        return common(a);
    }

    /**
     * The primitive computing {@code a} forward and backward in training, or null where there is none (a plain ReLU,
     * which {@link EltwiseLayer} leaves to ND4J) or where its gradient differs from PyTorch's (Hardswish): as {@link
     * #of}, but ReLU6 is {@code clip_v2} to [0, 6], whose gradient passes strictly between the bounds, as DL4J's does
     * ({@code bounded_relu}'s passes at 6 too), and which can be computed from the output.
     */
    static Eltwise forTraining(IActivation a) {
        if (a instanceof org.nd4j.linalg.activations.impl.ActivationReLU6) {
            return new Eltwise(algorithm.eltwise_clip_v2, 0f, 6f, algorithm.eltwise_clip_v2_use_dst_for_bwd);
        }
        if (a instanceof dev.cnn.zoo.layers.ActivationHardSwish) {
            return null; // at exactly -3 and 3 oneDNN's gradient is 0 and 1, the zoo's -0.5 and 1.5 (see the zoo's)
        }
        return common(a);
    }

    private static Eltwise common(IActivation a) {
        if (a instanceof org.nd4j.linalg.activations.impl.ActivationSwish) {
            return new Eltwise(algorithm.eltwise_swish, 1f, 0f);
        }
        if (a instanceof org.nd4j.linalg.activations.impl.ActivationSigmoid) {
            return new Eltwise(algorithm.eltwise_logistic, 0f, 0f);
        }
        if (a instanceof org.nd4j.linalg.activations.impl.ActivationTanH) {
            return new Eltwise(algorithm.eltwise_tanh, 0f, 0f);
        }
        if (a instanceof dev.cnn.zoo.layers.ActivationHardSwish) {
            return new Eltwise(algorithm.eltwise_hardswish, 0f, 0f);
        }
        if (a instanceof dev.cnn.zoo.layers.ActivationGelu) {
            return new Eltwise(algorithm.eltwise_gelu_erf, 0f, 0f);
        }
        return null;
    }
}
