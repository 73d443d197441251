package dev.cnn.zoo.layers;

import org.deeplearning4j.nn.api.ParamInitializer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Collection;
import java.util.Objects;

/**
 * PyTorch's {@code Conv2d(..., groups=g)}, which DL4J lacks: the input channels are split into {@code groups} groups
 * and each is convolved with its own {@code nOut / groups} filters. {@code groups = nIn = nOut} is a depthwise
 * convolution (MobileNet, EfficientNet, ShuffleNet, ConvNeXt), {@code 1 < groups < nIn} a grouped one (ResNeXt,
 * RegNet). Weights are {@code [nOut, nIn / groups, kH, kW]}, PyTorch's shape and memory order, so imported weights
 * copy as they are. Everything else is DL4J's convolution configuration (kernel, stride, padding, dilation, mode,
 * bias, activation, data format), and code that reads convolutions as such (receptive fields, freezing, names) reads
 * this one too; the multiply-adds are {@code 1 / groups} of a full convolution's.
 *
 * <p>It runs on the {@code ConvolutionHelper} that the engine installs (oneDNN's grouped and depthwise kernels,
 * module {@code accel}), else on libnd4j's {@code conv2d}/{@code depthwise_conv2d} ops per group: correct in any
 * data type (the gradient checks run there in double precision) but slower.
 */
public class GroupedConvolution extends ConvolutionLayer {
    private int groups = 1;

    /** For JSON. */
    public GroupedConvolution() {
    }

    public GroupedConvolution(ConvolutionLayer.Builder builder, int groups) {
        super(builder);
        if (groups < 1) {
            throw new IllegalArgumentException("groups must be at least 1: " + groups);
        }
        this.groups = groups;
    }

    public int getGroups() {
        return groups;
    }

    public void setGroups(int groups) {
        this.groups = groups;
    }

    /** Whether every group is one input channel with one filter (a depthwise convolution). */
    public boolean depthwise() {
        return groups > 1 && getNIn() == groups && getNOut() == groups;
    }

    @Override
    public org.deeplearning4j.nn.api.Layer instantiate(NeuralNetConfiguration conf,
                                                       Collection<TrainingListener> listeners, int layerIndex,
                                                       INDArray layerParamsView, boolean initializeParams,
                                                       DataType networkDataType) {
        if (getNIn() % groups != 0 || getNOut() % groups != 0) {
            throw new IllegalStateException("layer " + getLayerName() + ": " + getNIn() + " input and " + getNOut()
                    + " output channels do not split into " + groups + " groups");
        }
        return Instances.wire(new GroupedConvolutionLayer(conf, networkDataType), conf, listeners, layerIndex,
                layerParamsView, initializeParams);
    }

    @Override
    public ParamInitializer initializer() {
        return GroupedConvolutionParams.INSTANCE;
    }

    @Override
    public GroupedConvolution clone() {
        return (GroupedConvolution) super.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GroupedConvolution g && g.groups == groups && super.equals(o);
    }

    @Override
    public int hashCode() {
        return Objects.hash(super.hashCode(), groups);
    }

    @Override
    public String toString() {
        return "GroupedConvolution(groups=" + groups + ", " + super.toString() + ")";
    }
}
