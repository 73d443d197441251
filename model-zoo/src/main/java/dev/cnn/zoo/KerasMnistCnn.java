package dev.cnn.zoo;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.nd4j.linalg.activations.Activation;

/**
 * The convnet of Keras' {@code mnist_cnn.py} example: two 3x3 convolutions (32, 64, ReLU, no padding), 2x2 max
 * pooling, dropout 0.25, a 128-unit dense layer, dropout 0.5 and the classifier. 1,199,882 parameters at 1x28x28 and
 * 10 classes, as Keras' {@code model.summary()} reports; the few-shot transfer protocol's base network.
 */
final class KerasMnistCnn implements Architecture {
    @Override
    public String name() {
        return "mnist_cnn";
    }

    @Override
    public String description() {
        return "Keras' MNIST example convnet (2 conv, max pool, dense 128), for digit-sized images";
    }

    @Override
    public int minInputSize() {
        return 6;
    }

    @Override
    public String headLayer() {
        return "fc2";
    }

    @Override
    public String featureLayer() {
        return "fc1";
    }

    @Override
    public ComputationGraphConfiguration configuration(ModelSpec spec) {
        checkInput(spec);
        return new Net(spec)
                .conv("conv1", 32, 3, 1, 0, true, Activation.RELU)
                .conv("conv2", 64, 3, 1, 0, true, Activation.RELU)
                .maxPool("pool", 2, 2, 0)
                .dense("fc1", 128, Activation.RELU, 0.25)
                .output("fc2", 0.5)
                .build();
    }
}
