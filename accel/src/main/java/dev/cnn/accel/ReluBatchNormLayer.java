package dev.cnn.accel;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * The running layer of a {@link ReluBatchNormalization}: a batch norm and the ReLU after it in an inference copy
 * ({@link InferenceGraph}). DenseNet's batch norms read the
 * concatenation of a block's features, not a convolution's output, so they cannot be folded into one, but their
 * ReLU can run inside the batch norm ({@link DnnlBatchNormHelper#fuseRelu}), which saves a pass over the features
 * (densenet121 inference spent 4% of its time in that ReLU). Where the helper did not run (another data type), the
 * ReLU is applied here. Inference only: no backward pass.
 */
final class ReluBatchNormLayer extends org.deeplearning4j.nn.layers.normalization.BatchNormalization {

    ReluBatchNormLayer(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
        INDArray out = super.activate(training, workspaceMgr);
        if (!(getHelper() instanceof DnnlBatchNormHelper h && h.lastFusedRelu())) {
            out = Transforms.relu(out, false);
        }
        return out;
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        throw new UnsupportedOperationException("an inference copy's batch norm with its ReLU: no backward pass");
    }
}
