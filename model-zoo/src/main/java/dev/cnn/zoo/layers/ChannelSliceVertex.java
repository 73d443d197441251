package dev.cnn.zoo.layers;

import org.deeplearning4j.nn.conf.graph.SubsetVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;

/**
 * Channels {@code from..to} (inclusive) of an NCHW map: DL4J's {@code SubsetVertex}, whose forward and backward
 * passes handle feature maps, with the output type it gets wrong for them in 1.0.0-M2.1 (it reports 0 channels).
 * ShuffleNet's channel split ({@code x.chunk(2, dim=1)}).
 */
public class ChannelSliceVertex extends SubsetVertex {
    /** For JSON. */
    public ChannelSliceVertex() {
        super(0, 0);
    }

    public ChannelSliceVertex(int from, int to) {
        super(from, to);
    }

    @Override
    public ChannelSliceVertex clone() {
        return new ChannelSliceVertex(getFrom(), getTo());
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ChannelSliceVertex v && v.getFrom() == getFrom() && v.getTo() == getTo();
    }

    @Override
    public int hashCode() {
        return 31 * getFrom() + getTo();
    }

    @Override
    public InputType getOutputType(int layerIndex, InputType... vertexInputs) {
        if (vertexInputs[0] instanceof InputType.InputTypeConvolutional c) {
            if (getTo() >= c.getChannels()) {
                throw new IllegalArgumentException("channels " + getFrom() + ".." + getTo() + " of a map with "
                        + c.getChannels() + " channels");
            }
            return InputType.convolutional(c.getHeight(), c.getWidth(), getTo() - getFrom() + 1, c.getFormat());
        }
        return super.getOutputType(layerIndex, vertexInputs);
    }
}
