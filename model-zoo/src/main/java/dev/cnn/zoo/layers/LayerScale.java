package dev.cnn.zoo.layers;

import org.deeplearning4j.nn.api.ParamInitializer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastMulOp;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Collection;
import java.util.List;

/**
 * Layer scale (Touvron et al. 2021; ConvNeXt's {@code layer_scale}): each channel of an NCHW map times a learned
 * factor, {@code gamma} ({@code [C]}, {@link #getInit()} at start: 1e-6 in ConvNeXt).
 */
public class LayerScale extends ChannelLayer {
    public static final String GAMMA = "gamma";
    private static final ParamInitializer PARAMS = new ChannelParams(List.of(GAMMA),
            List.of(l -> ((LayerScale) l).getInit()));
    private double init = 1e-6;

    /** For JSON. */
    public LayerScale() {
    }

    public LayerScale(double init) {
        this.init = init;
    }

    public double getInit() {
        return init;
    }

    public void setInit(double init) {
        this.init = init;
    }

    @Override
    public ParamInitializer initializer() {
        return PARAMS;
    }

    @Override
    public org.deeplearning4j.nn.api.Layer instantiate(NeuralNetConfiguration conf,
                                                       Collection<TrainingListener> listeners, int layerIndex,
                                                       INDArray view, boolean initializeParams, DataType dataType) {
        return Instances.wire(new Impl(conf, dataType), conf, listeners, layerIndex, view, initializeParams);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LayerScale s && s.init == init && super.equals(o);
    }

    @Override
    public int hashCode() {
        return 31 * super.hashCode() + Double.hashCode(init);
    }

    /** The running layer. */
    static final class Impl extends ChannelLayerImpl<LayerScale> {
        Impl(NeuralNetConfiguration conf, DataType dataType) {
            super(conf, dataType);
        }

        @Override
        public INDArray activate(boolean training, LayerWorkspaceMgr mgr) {
            assertInputSet(false);
            applyDropOutIfNecessary(training, mgr);
            INDArray out = mgr.createUninitialized(ArrayType.ACTIVATIONS, input.dataType(), input.shape(), 'c');
            Nd4j.exec(new BroadcastMulOp(input, getParam(GAMMA), out, 1));
            return out;
        }

        @Override
        public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr mgr) {
            assertInputSet(true);
            INDArray gGamma = gradientViews.get(GAMMA);
            gGamma.assign(epsilon.mul(input).sum(0, 2, 3));
            INDArray eps = mgr.createUninitialized(ArrayType.ACTIVATION_GRAD, input.dataType(), input.shape(), 'c');
            Nd4j.exec(new BroadcastMulOp(epsilon, getParam(GAMMA), eps, 1));
            Gradient g = new DefaultGradient();
            g.gradientForVariable().put(GAMMA, gGamma);
            return new Pair<>(g, backpropDropOutIfPresent(eps));
        }
    }
}
