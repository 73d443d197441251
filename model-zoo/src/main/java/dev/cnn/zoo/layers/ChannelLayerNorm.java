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
import org.nd4j.linalg.ops.transforms.Transforms;

import java.util.Collection;
import java.util.List;

/**
 * Layer normalisation over the channels at each position of an NCHW map, with a learned scale and shift per channel:
 * torchvision's {@code LayerNorm2d} (ConvNeXt), i.e. {@code LayerNorm(C)} on the channels-last view. Parameters
 * {@code gamma} (PyTorch's {@code weight}, 1 at start) and {@code beta} ({@code bias}, 0). DL4J's {@code
 * LayerNormalization} works on feed-forward and recurrent inputs only.
 */
public class ChannelLayerNorm extends ChannelLayer {
    public static final String GAMMA = "gamma";
    public static final String BETA = "beta";
    private static final ParamInitializer PARAMS = new ChannelParams(List.of(GAMMA, BETA), List.of(l -> 1, l -> 0));
    private double eps = 1e-6;

    /** For JSON. */
    public ChannelLayerNorm() {
    }

    public ChannelLayerNorm(double eps) {
        this.eps = eps;
    }

    public double getEps() {
        return eps;
    }

    public void setEps(double eps) {
        this.eps = eps;
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
        return o instanceof ChannelLayerNorm n && n.eps == eps && super.equals(o);
    }

    @Override
    public int hashCode() {
        return 31 * super.hashCode() + Double.hashCode(eps);
    }

    /** The running layer. */
    static final class Impl extends ChannelLayerImpl<ChannelLayerNorm> {
        Impl(NeuralNetConfiguration conf, DataType dataType) {
            super(conf, dataType);
        }

        /** {@code x} [N, C, H, W] as rows of channels [N*H*W, C] (a copy). */
        static INDArray rows(INDArray x) {
            return x.permute(0, 2, 3, 1).dup('c').reshape('c', x.size(0) * x.size(2) * x.size(3), x.size(1));
        }

        /** Rows [N*H*W, C] back to [N, C, H, W] in {@code out}. */
        static void unrows(INDArray r, INDArray out) {
            out.permute(0, 2, 3, 1).assign(r.reshape('c', out.size(0), out.size(2), out.size(3), out.size(1)));
        }

        private INDArray[] normalised(INDArray x) {
            INDArray r = rows(x);
            INDArray mean = r.mean(1).reshape(r.size(0), 1);
            r.subiColumnVector(mean);
            INDArray var = r.mul(r).mean(1).reshape(r.size(0), 1);
            INDArray rstd = Transforms.pow(var.addi(layerConf().getEps()), -0.5, false);
            return new INDArray[]{r.muliColumnVector(rstd), rstd};
        }

        @Override
        public INDArray activate(boolean training, LayerWorkspaceMgr mgr) {
            assertInputSet(false);
            applyDropOutIfNecessary(training, mgr);
            INDArray xhat = normalised(input)[0];
            xhat.muliRowVector(getParam(GAMMA)).addiRowVector(getParam(BETA));
            INDArray out = mgr.createUninitialized(ArrayType.ACTIVATIONS, input.dataType(), input.shape(), 'c');
            unrows(xhat, out);
            return out;
        }

        @Override
        public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr mgr) {
            assertInputSet(true);
            INDArray[] n = normalised(input);
            INDArray xhat = n[0];
            INDArray rstd = n[1];
            INDArray dy = rows(epsilon);
            INDArray gGamma = gradientViews.get(GAMMA);
            INDArray gBeta = gradientViews.get(BETA);
            gGamma.assign(dy.mul(xhat).sum(0));
            gBeta.assign(dy.sum(0));
            long c = xhat.size(1);
            INDArray dxhat = dy.muliRowVector(getParam(GAMMA));
            INDArray sum = dxhat.sum(1).reshape(xhat.size(0), 1);
            INDArray dot = dxhat.mul(xhat).sum(1).reshape(xhat.size(0), 1);
            // dx = rstd / C * (C * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat))
            INDArray dx = dxhat.muli(c).subiColumnVector(sum).subi(xhat.muliColumnVector(dot))
                    .muliColumnVector(rstd.divi(c));
            INDArray eps = mgr.createUninitialized(ArrayType.ACTIVATION_GRAD, input.dataType(), input.shape(), 'c');
            unrows(dx, eps);
            Gradient g = new DefaultGradient();
            g.gradientForVariable().put(GAMMA, gGamma);
            g.gradientForVariable().put(BETA, gBeta);
            return new Pair<>(g, backpropDropOutIfPresent(eps));
        }
    }
}
