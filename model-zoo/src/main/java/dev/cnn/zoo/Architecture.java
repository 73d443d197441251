package dev.cnn.zoo;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;

/**
 * A named network family member (e.g. {@code resnet18}): a recipe from a {@link ModelSpec} to a
 * {@link ComputationGraphConfiguration} whose every layer is named. The graph has one input ({@code input}) and one
 * output layer; {@link #headLayer()} names the classifier, which is that output layer or (SqueezeNet's convolution)
 * reaches it through parameter-free layers only, and {@link #featureLayer()} names the vertex feeding the classifier.
 */
public interface Architecture {

    /** Registry name, lower case, e.g. {@code vgg16_bn}. */
    String name();

    /** One line for {@code cnn models}. */
    String description();

    /** Smallest height/width the network accepts. */
    int minInputSize();

    /**
     * Name of the classifier: the output layer, or the last layer with parameters where parameter-free layers follow
     * it (SqueezeNet: a 1x1 convolution, pooling, a softmax loss layer). Its parameters are the ones a new set of
     * classes replaces.
     */
    String headLayer();

    /** Name of the layer whose output feeds the classifier: the default cut for feature extraction. */
    String featureLayer();

    /** Builds the configuration for the given spec (without initialising parameters). */
    ComputationGraphConfiguration configuration(ModelSpec spec);

    /** Builds and initialises the network with seeded weights. */
    default ComputationGraph build(ModelSpec spec) {
        ComputationGraph g = new ComputationGraph(configuration(spec));
        g.init();
        return g;
    }

    /** Throws a clear {@link IllegalArgumentException} when the spec's input is too small for this network. */
    default void checkInput(ModelSpec spec) {
        if (spec.height() < minInputSize() || spec.width() < minInputSize()) {
            throw new IllegalArgumentException(String.format(
                    "%s needs an input of at least %dx%d pixels, got %dx%d (use --image-size %d or larger)",
                    name(), minInputSize(), minInputSize(), spec.height(), spec.width(), minInputSize()));
        }
    }
}
