package dev.cnn.zoo.layers;

import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.NoParamLayer;
import org.deeplearning4j.nn.conf.memory.LayerMemoryReport;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.AbstractLayer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastMulOp;
import org.nd4j.linalg.api.ops.random.impl.BernoulliDistribution;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Collection;

/**
 * Stochastic depth (Huang et al. 2016; torchvision's {@code StochasticDepth(p, "row")} in EfficientNet and
 * ConvNeXt): in training, each sample's residual branch is dropped with probability {@code rate} and kept ones are
 * scaled by {@code 1 / (1 - rate)}; in inference it is the identity. The backward pass uses the same per-sample mask.
 */
public class StochasticDepth extends NoParamLayer {
    private double rate;

    /** For JSON. */
    public StochasticDepth() {
    }

    public StochasticDepth(double rate) {
        if (rate < 0 || rate >= 1) {
            throw new IllegalArgumentException("stochastic depth rate must be in [0, 1): " + rate);
        }
        this.rate = rate;
    }

    public double getRate() {
        return rate;
    }

    public void setRate(double rate) {
        this.rate = rate;
    }

    @Override
    public org.deeplearning4j.nn.api.Layer instantiate(NeuralNetConfiguration conf,
                                                       Collection<TrainingListener> listeners, int layerIndex,
                                                       INDArray view, boolean initializeParams, DataType dataType) {
        return Instances.wire(new Impl(conf, dataType), conf, listeners, layerIndex, view, initializeParams);
    }

    @Override
    public InputType getOutputType(int layerIndex, InputType inputType) {
        return inputType;
    }

    @Override
    public InputPreProcessor getPreProcessorForInputType(InputType inputType) {
        return null;
    }

    @Override
    public LayerMemoryReport getMemoryReport(InputType inputType) {
        return new LayerMemoryReport.Builder(layerName, StochasticDepth.class, inputType, inputType)
                .standardMemory(0, 0).workingMemory(0, 0, 0, 0).cacheMemory(0, 0).build();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof StochasticDepth s && s.rate == rate && super.equals(o);
    }

    @Override
    public int hashCode() {
        return 31 * super.hashCode() + Double.hashCode(rate);
    }

    /** The running layer. */
    static final class Impl extends AbstractLayer<StochasticDepth> {
        private INDArray mask; // [N]: 0 or 1 / (1 - rate) per sample, from the last training forward pass

        Impl(NeuralNetConfiguration conf, DataType dataType) {
            super(conf, dataType);
        }

        @Override
        public INDArray activate(boolean training, LayerWorkspaceMgr mgr) {
            assertInputSet(false);
            double p = layerConf().getRate();
            if (!training || p == 0) {
                mask = null;
                return mgr.dup(ArrayType.ACTIVATIONS, input);
            }
            try (MemoryWorkspace ws = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
                mask = Nd4j.createUninitialized(input.dataType(), input.size(0));
                Nd4j.exec(new BernoulliDistribution(mask, 1 - p));
                mask.divi(1 - p);
            }
            INDArray out = mgr.createUninitialized(ArrayType.ACTIVATIONS, input.dataType(), input.shape(), 'c');
            Nd4j.exec(new BroadcastMulOp(input, mask, out, 0));
            return out;
        }

        @Override
        public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr mgr) {
            INDArray eps = mgr.createUninitialized(ArrayType.ACTIVATION_GRAD, epsilon.dataType(), epsilon.shape(),
                    'c');
            if (mask == null) {
                eps.assign(epsilon);
            } else {
                Nd4j.exec(new BroadcastMulOp(epsilon, mask, eps, 0));
            }
            return new Pair<>(new DefaultGradient(), eps);
        }

        /** The mask of the last training forward pass (null after an inference pass), for tests. */
        INDArray mask() {
            return mask;
        }

        @Override
        public double calcRegularizationScore(boolean backpropOnly) {
            return 0;
        }

        @Override
        public Type type() {
            return Type.FEED_FORWARD;
        }

        @Override
        public boolean isPretrainLayer() {
            return false;
        }

        @Override
        public void clearNoiseWeightParams() {
        }

        @Override
        public INDArray params() {
            return null;
        }
    }
}
