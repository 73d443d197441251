package dev.cnn.zoo;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.nd4j.linalg.activations.Activation;

/**
 * LeNet-5 (LeCun et al. 1998) with ReLU and max pooling: conv 6@5x5 (padding 2), pool, conv 16@5x5, pool, fc 120,
 * fc 84, classifier. 61,706 parameters at 1x28x28 and 10 classes.
 */
final class LeNet implements Architecture {
    @Override
    public String name() {
        return "lenet";
    }

    @Override
    public String description() {
        return "LeNet-5 (ReLU, max pooling), for digit-sized images";
    }

    @Override
    public int minInputSize() {
        return 12;
    }

    @Override
    public String headLayer() {
        return "fc3";
    }

    @Override
    public String featureLayer() {
        return "fc2";
    }

    @Override
    public ComputationGraphConfiguration configuration(ModelSpec spec) {
        checkInput(spec);
        return new Net(spec)
                .conv("conv1", 6, 5, 1, 2, true, Activation.RELU)
                .maxPool("pool1", 2, 2, 0)
                .conv("conv2", 16, 5, 1, 0, true, Activation.RELU)
                .maxPool("pool2", 2, 2, 0)
                .dense("fc1", 120, Activation.RELU, 0)
                .dense("fc2", 84, Activation.RELU, 0)
                .output("fc3", 0)
                .build();
    }
}
