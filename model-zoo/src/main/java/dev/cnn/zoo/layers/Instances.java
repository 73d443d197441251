package dev.cnn.zoo.layers;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Collection;

/** What every configuration's {@code instantiate} does with its running layer, as DL4J's own layers do it. */
final class Instances {
    private Instances() {
    }

    /** Wires {@code layer}: listeners, index, parameter view and table (initialised or not), configuration. */
    static <L extends org.deeplearning4j.nn.api.Layer> L wire(L layer, NeuralNetConfiguration conf,
                                                              Collection<TrainingListener> listeners, int index,
                                                              INDArray view, boolean initializeParams) {
        layer.setListeners(listeners);
        layer.setIndex(index);
        layer.setParamsViewArray(view);
        layer.setParamTable(conf.getLayer().initializer().init(conf, view, initializeParams));
        layer.setConf(conf);
        return layer;
    }
}
