package dev.cnn.zoo.layers;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.nd4j.linalg.api.buffer.DataType;

/** The running side of a {@link ChannelLayer}: parameters and their gradient views are DL4J's base layer's. */
abstract class ChannelLayerImpl<C extends ChannelLayer> extends org.deeplearning4j.nn.layers.BaseLayer<C> {
    ChannelLayerImpl(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    @Override
    public Type type() {
        return Type.CONVOLUTIONAL;
    }

    @Override
    public boolean isPretrainLayer() {
        return false;
    }

    @Override
    public boolean hasBias() {
        return false;
    }
}
