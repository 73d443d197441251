package dev.cnn.engine;

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

import java.lang.reflect.Field;
import java.util.Map;

/**
 * An experiment kept as a benchmark lever ({@code cnn bench models --levers}), not used by training: in isolated op
 * timings the oneDNN backward pass of a stride-1 KxK convolution with a tiny output map (4x4 or smaller, e.g.
 * ResNet's last stage at 64 px inputs) ran at 3-20 GFLOP/s against 30-50 in libnd4j's own im2col+GEMM kernel. This
 * helper keeps oneDNN for everything except those backward calls, which it runs with libnd4j's platform helpers
 * switched off for the duration of the call (same op and results, another kernel). Inside a whole resnet18@64
 * training step it measured slower (see bench/RESULTS.md), so it stays off.
 */
public final class SmallMapConvHelper implements ConvolutionHelper {
    /** Output maps with at most this many positions take the non-oneDNN backward path. */
    public static final int MAX_AREA = 16;
    private static final Field HELPER = helperField();
    private static final java.lang.reflect.Method INIT = initMethod();

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
    public static int install(ComputationGraph g) {
        if (HELPER == null || "false".equalsIgnoreCase(System.getProperty("cnn.smallmap.fix", "true"))) {
            return 0;
        }
        int n = 0;
        for (Layer l : g.getLayers()) {
            Layer inner = l instanceof FrozenLayer f ? f.getInsideLayer() : l;
            if (inner.getClass() != ConvolutionLayer.class) {
                continue;
            }
            try {
                Object h = HELPER.get(inner);
                if (h == null && INIT != null) { // helpers are created lazily, on the first forward pass
                    INIT.invoke(inner);
                    h = HELPER.get(inner);
                }
                if (h instanceof ConvolutionHelper ch && !(h instanceof SmallMapConvHelper)) {
                    HELPER.set(inner, new SmallMapConvHelper(ch));
                    n++;
                }
            } catch (ReflectiveOperationException e) {
                return n;
            }
        }
        return n;
    }

    private static java.lang.reflect.Method initMethod() {
        try {
            java.lang.reflect.Method m = ConvolutionLayer.class.getDeclaredMethod("initializeHelper");
            m.setAccessible(true);
            return m;
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }

    private static Field helperField() {
        try {
            Field f = ConvolutionLayer.class.getDeclaredField("helper");
            f.setAccessible(true);
            return f;
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
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
        if (!smallMap(delta, kernel, strides, format)) {
            return delegate.backpropGradient(input, weights, bias, delta, kernel, strides, pad, biasGradView,
                    weightGradView, afn, mode, bwdFilterAlgo, bwdDataAlgo, convolutionMode, dilation, format,
                    workspaceMgr);
        }
        Environment env = Nd4j.getEnvironment();
        boolean before = env.helpersAllowed();
        env.allowHelpers(false);
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
