package dev.cnn.accel;

import org.nd4j.linalg.activations.IActivation;

import static org.bytedeco.dnnl.global.dnnl.algorithm;

/**
 * An element-wise activation as a oneDNN post-op (convolutions of inference copies apply it in the same pass):
 * ReLU, ReLU6, SiLU, sigmoid, tanh, the zoo's Hardswish and exact GELU. Others (the zoo's Hardsigmoid, which oneDNN
 * 2.5 lacks) stay separate steps.
 */
record Eltwise(algorithm algorithm, float alpha, float beta) {
    static final Eltwise RELU = new Eltwise(org.bytedeco.dnnl.global.dnnl.algorithm.eltwise_relu, 0f, 0f);

    /** The post-op computing {@code a}, or null where there is none. */
    static Eltwise of(IActivation a) {
        if (a == null) {
            return null;
        }
        if (GraphPolicy.plainRelu(a)) {
            return RELU;
        }
        if (a instanceof org.nd4j.linalg.activations.impl.ActivationReLU6) {
            return new Eltwise(org.bytedeco.dnnl.global.dnnl.algorithm.eltwise_bounded_relu, 6f, 0f);
        }
        if (a instanceof org.nd4j.linalg.activations.impl.ActivationSwish) {
            return new Eltwise(org.bytedeco.dnnl.global.dnnl.algorithm.eltwise_swish, 1f, 0f);
        }
        if (a instanceof org.nd4j.linalg.activations.impl.ActivationSigmoid) {
            return new Eltwise(org.bytedeco.dnnl.global.dnnl.algorithm.eltwise_logistic, 0f, 0f);
        }
        if (a instanceof org.nd4j.linalg.activations.impl.ActivationTanH) {
            return new Eltwise(org.bytedeco.dnnl.global.dnnl.algorithm.eltwise_tanh, 0f, 0f);
        }
        if (a instanceof dev.cnn.zoo.layers.ActivationHardSwish) {
            return new Eltwise(org.bytedeco.dnnl.global.dnnl.algorithm.eltwise_hardswish, 0f, 0f);
        }
        if (a instanceof dev.cnn.zoo.layers.ActivationGelu) {
            return new Eltwise(org.bytedeco.dnnl.global.dnnl.algorithm.eltwise_gelu_erf, 0f, 0f);
        }
        return null;
    }
}
