package dev.cnn.accel;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.layers.FrozenLayer;
import org.deeplearning4j.nn.layers.convolution.ConvolutionHelper;
import org.deeplearning4j.nn.layers.convolution.ConvolutionLayer;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Environment;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Map;

/**
 * Works around a slow oneDNN kernel: the backward pass of a stride-1 KxK convolution with a tiny output map (4x4 or
 * smaller, e.g. ResNet's layer3/layer4 at 64 px inputs) runs at 3-30 GFLOP/s in the oneDNN build inside ND4J M2.1
 * (resnet18@64, batch 32: 230 ms per layer4 call against 10 ms forward), while libnd4j's own im2col+GEMM kernel does
 * the same call in 23-31 ms. This helper keeps oneDNN for everything else and runs those backward calls with
 * libnd4j's platform helpers switched off for the duration of the call (same op, same results, another kernel).
 * Installed for training when {@link Dnnl} is off or unavailable;
 * resnet18@64 training step 1277 -> 749 ms in one measurement (bench/RESULTS.md).
 *
 * <p>DL4J hands a helper of a bias-free layer a dummy bias-gradient array unless the helper <em>is</em> an
 * {@code MKLDNNConvHelper}, and {@code MKLDNNConvHelper} then reads the (null) bias: the call fails and DL4J silently
 * falls back to its slow built-in path. This wrapper passes {@code null} instead, as DL4J does for its own helper.
 */
public final class SmallMapConvHelper implements ConvolutionHelper {
    /** Output maps with at most this many positions take the non-oneDNN backward path. */
    public static final int MAX_AREA = 16;

    private static final java.util.concurrent.atomic.AtomicLong REROUTED = new java.util.concurrent.atomic.AtomicLong();

    private final ConvolutionHelper delegate;

    SmallMapConvHelper(ConvolutionHelper delegate) {
        this.delegate = delegate;
    }

    /**
     * Wraps the oneDNN helper of every standard convolution layer of {@code g} (frozen ones included). Idempotent;
     * a no-op when helpers are off or the field cannot be reached.
     *
     * @return the number of layers wrapped
     */
    static int install(ComputationGraph g) {
        if (!Dl4jInternals.helpersReachable()) {
            return 0;
        }
        int n = 0;
        for (Layer l : g.getLayers()) {
            Layer inner = l instanceof FrozenLayer f ? f.getInsideLayer() : l;
            if (inner.getClass() != ConvolutionLayer.class) {
                continue;
            }
            try {
                Object h = Dl4jInternals.convolutionHelper(inner);
                if (h instanceof ConvolutionHelper ch && !(h instanceof SmallMapConvHelper)) {
                    Dl4jInternals.setConvolutionHelper(inner, new SmallMapConvHelper(ch));
                    n++;
                }
            } catch (ReflectiveOperationException e) {
                return n;
            }
        }
        return n;
    }

    /** Backward calls that took the non-oneDNN path since the JVM started (for tests and benchmarks). */
    public static long reroutedCalls() {
        return REROUTED.get();
    }

    /** Whether a backward call of this shape takes the non-oneDNN path. */
    static boolean smallMap(INDArray delta, int[] kernel, int[] strides, CNN2DFormat format) {
        long h = format == CNN2DFormat.NHWC ? delta.size(1) : delta.size(2);
        long w = format == CNN2DFormat.NHWC ? delta.size(2) : delta.size(3);
        return strides[0] == 1 && strides[1] == 1 && kernel[0] * kernel[1] > 1 && h * w <= MAX_AREA;
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray input, INDArray weights, INDArray bias, INDArray delta,
                                                     int[] kernel, int[] strides, int[] pad, INDArray biasGradView,
                                                     INDArray weightGradView, IActivation afn,
                                                     org.deeplearning4j.nn.conf.layers.ConvolutionLayer.AlgoMode mode,
                                                     org.deeplearning4j.nn.conf.layers.ConvolutionLayer.BwdFilterAlgo bwdFilterAlgo,
                                                     org.deeplearning4j.nn.conf.layers.ConvolutionLayer.BwdDataAlgo bwdDataAlgo,
                                                     ConvolutionMode convolutionMode, int[] dilation,
                                                     CNN2DFormat format, LayerWorkspaceMgr workspaceMgr) {
        if (bias == null) {
            biasGradView = null; // see the class comment: what DL4J passes its own helper for bias-free layers
        }
        if (!smallMap(delta, kernel, strides, format)) {
            return delegate.backpropGradient(input, weights, bias, delta, kernel, strides, pad, biasGradView,
                    weightGradView, afn, mode, bwdFilterAlgo, bwdDataAlgo, convolutionMode, dilation, format,
                    workspaceMgr);
        }
        Environment env = Nd4j.getEnvironment();
        boolean before = env.helpersAllowed();
        env.allowHelpers(false);
        REROUTED.incrementAndGet();
        try {
            return delegate.backpropGradient(input, weights, bias, delta, kernel, strides, pad, biasGradView,
                    weightGradView, afn, mode, bwdFilterAlgo, bwdDataAlgo, convolutionMode, dilation, format,
                    workspaceMgr);
        } finally {
            env.allowHelpers(before);
        }
    }

    @Override
    public INDArray preOutput(INDArray input, INDArray weights, INDArray bias, int[] kernel, int[] strides, int[] pad,
                              org.deeplearning4j.nn.conf.layers.ConvolutionLayer.AlgoMode mode,
                              org.deeplearning4j.nn.conf.layers.ConvolutionLayer.FwdAlgo fwdAlgo,
                              ConvolutionMode convolutionMode, int[] dilation, CNN2DFormat format,
                              LayerWorkspaceMgr workspaceMgr) {
        return delegate.preOutput(input, weights, bias, kernel, strides, pad, mode, fwdAlgo, convolutionMode, dilation,
                format, workspaceMgr);
    }

    @Override
    public INDArray activate(INDArray z, IActivation afn, boolean training) {
        return delegate.activate(z, afn, training);
    }

    @Override
    public Map<String, Long> helperMemoryUse() {
        return delegate.helperMemoryUse();
    }

    @Override
    public boolean checkSupported() {
        return delegate.checkSupported();
    }
}
