package dev.cnn.accel;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.LayerValidation;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Collection;
import java.util.Map;

/**
 * A batch norm with a ReLU after it, as one layer: what an inference copy ({@link InferenceGraph}) makes of a batch
 * norm that no convolution feeds (DenseNet's, on a concatenation) and the ReLU layer after it, so that the ReLU runs
 * in the batch norm's own oneDNN pass. The configuration says so (a copy saved, or rebuilt from its configuration,
 * computes the same where this module is on the classpath, and fails to load where it is not); the running layer is
 * a {@link ReluBatchNormLayer}, inference only.
 */
public final class ReluBatchNormalization extends BatchNormalization {

    /** For JSON. */
    public ReluBatchNormalization() {
    }

    /** {@code bn}'s settings (epsilon, decay, locked gamma/beta, layout, name, ...) with the ReLU. */
    static ReluBatchNormalization of(BatchNormalization bn) {
        ReluBatchNormalization r = new ReluBatchNormalization();
        try {
            Dl4jInternals.copyFields(bn, r);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException("cannot copy batch norm " + bn.getLayerName(), e);
        }
        return r;
    }

    @Override
    public org.deeplearning4j.nn.api.Layer instantiate(NeuralNetConfiguration conf,
                                                       Collection<TrainingListener> listeners, int layerIndex,
                                                       INDArray view, boolean initializeParams, DataType dataType) {
        LayerValidation.assertNOutSet("ReluBatchNormalization", getLayerName(), layerIndex, getNOut());
        ReluBatchNormLayer layer = new ReluBatchNormLayer(conf, dataType);
        layer.setListeners(listeners);
        layer.setIndex(layerIndex);
        layer.setParamsViewArray(view);
        Map<String, INDArray> params = initializer().init(conf, view, initializeParams);
        layer.setParamTable(params);
        layer.setConf(conf);
        return layer;
    }

    @Override
    public boolean equals(Object o) { // not equal to a plain batch norm with the same settings
        return o != null && o.getClass() == getClass() && super.equals(o);
    }

    @Override
    public int hashCode() {
        return 31 * super.hashCode() + 1;
    }

    @Override
    public ReluBatchNormalization clone() {
        return (ReluBatchNormalization) super.clone();
    }
}
