package dev.cnn.accel;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * DL4J's subsampling layer with its forward pass on {@link DnnlPoolingHelper} too: DL4J M2.1 asks a subsampling
 * helper for the backward pass only, running libnd4j's pooling op forward. On oneDNN the training forward pass also
 * records where the maxima are, so the backward pass does not pool again, and pooling can read and write the blocked
 * layout of {@link GraphPolicy#blockActivations} (resnet's stem pooling then no longer forces its neighbours to NCHW).
 * {@link GraphPolicy#install} puts an instance in place of each plain subsampling layer, sharing its configuration and
 * state; calls the helper does not cover (average pooling, dilation, other types) run DL4J's code.
 */
public final class DnnlSubsamplingLayer extends org.deeplearning4j.nn.layers.convolution.subsampling.SubsamplingLayer {

    public DnnlSubsamplingLayer(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(false);
        if (helper instanceof DnnlPoolingHelper h && dataType == DataType.FLOAT) { // DL4J casts to the layer's type
            org.deeplearning4j.nn.conf.layers.SubsamplingLayer c = layerConf();
            INDArray out = h.forward(input, training, c.getKernelSize(), c.getStride(), c.getPadding(),
                    c.getPoolingType(), convolutionMode, c.getDilation(), c.getCnn2dDataFormat(), workspaceMgr);
            if (out != null) {
                return out;
            }
        }
        return super.activate(training, workspaceMgr);
    }
}
