package dev.cnn.zoo.layers;

import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.memory.LayerMemoryReport;

/**
 * A layer on an NCHW feature map that keeps its shape and has one parameter vector per channel: its channel count is
 * the input's ({@code nIn = nOut = C}).
 */
abstract class ChannelLayer extends FeedForwardLayer {
    ChannelLayer() {
    }

    @Override
    public InputType getOutputType(int layerIndex, InputType inputType) {
        if (!(inputType instanceof InputType.InputTypeConvolutional)) {
            throw new IllegalStateException(getClass().getSimpleName() + " " + getLayerName()
                    + " needs a convolutional (NCHW) input, got " + inputType);
        }
        return inputType;
    }

    @Override
    public void setNIn(InputType inputType, boolean override) {
        long c = ((InputType.InputTypeConvolutional) inputType).getChannels();
        if (nIn <= 0 || override) {
            nIn = c;
            nOut = c;
        }
    }

    @Override
    public InputPreProcessor getPreProcessorForInputType(InputType inputType) {
        return null;
    }

    @Override
    public boolean isPretrainParam(String paramName) {
        return false;
    }

    @Override
    public LayerMemoryReport getMemoryReport(InputType inputType) {
        return new LayerMemoryReport.Builder(layerName, getClass(), inputType, inputType)
                .standardMemory(initializer().numParams(this), 0).workingMemory(0, 0, 0, 0)
                .cacheMemory(0, 0).build();
    }
}
