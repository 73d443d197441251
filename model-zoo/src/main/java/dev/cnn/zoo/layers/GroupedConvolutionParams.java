package dev.cnn.zoo.layers;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.params.ConvolutionParamInitializer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Parameters of a {@link GroupedConvolution}: weights {@code W [nOut, nIn / groups, kH, kW]} and, with a bias,
 * {@code b [nOut]}, laid out in the flat view as DL4J lays out a convolution's (bias first). Fan-in and fan-out
 * for the weight initialisation count one group's channels, as PyTorch's do.
 */
final class GroupedConvolutionParams extends ConvolutionParamInitializer {
    static final GroupedConvolutionParams INSTANCE = new GroupedConvolutionParams();

    @Override
    public long numParams(NeuralNetConfiguration conf) {
        return numParams(conf.getLayer());
    }

    @Override
    public long numParams(Layer l) {
        GroupedConvolution c = (GroupedConvolution) l;
        int[] k = c.getKernelSize();
        return c.getNOut() * (c.getNIn() / c.getGroups()) * k[0] * k[1] + (c.hasBias() ? c.getNOut() : 0);
    }

    static long[] weightShape(GroupedConvolution c) {
        int[] k = c.getKernelSize();
        return new long[]{c.getNOut(), c.getNIn() / c.getGroups(), k[0], k[1]};
    }

    @Override
    public Map<String, INDArray> init(NeuralNetConfiguration conf, INDArray paramsView, boolean initializeParams) {
        GroupedConvolution c = (GroupedConvolution) conf.getLayer();
        INDArray flat = paramsView.reshape(paramsView.length());
        long nOut = c.getNOut();
        long biasLength = c.hasBias() ? nOut : 0;
        long[] shape = weightShape(c);
        INDArray weights = flat.get(NDArrayIndex.interval(biasLength, flat.length())).reshape('c', shape);
        Map<String, INDArray> params = new LinkedHashMap<>();
        if (c.hasBias()) {
            INDArray bias = flat.get(NDArrayIndex.interval(0, nOut));
            if (initializeParams) {
                bias.assign(c.getBiasInit());
            }
            params.put(BIAS_KEY, bias);
        }
        if (initializeParams) {
            int[] k = c.getKernelSize();
            double fanIn = (double) shape[1] * k[0] * k[1];
            double fanOut = (double) (nOut / c.getGroups()) * k[0] * k[1];
            c.getWeightInitFn().init(fanIn, fanOut, shape, 'c', weights);
        }
        params.put(WEIGHT_KEY, weights);
        conf.addVariable(WEIGHT_KEY);
        if (c.hasBias()) {
            conf.addVariable(BIAS_KEY);
        }
        return params;
    }

    @Override
    public Map<String, INDArray> getGradientsFromFlattened(NeuralNetConfiguration conf, INDArray gradientView) {
        GroupedConvolution c = (GroupedConvolution) conf.getLayer();
        INDArray flat = gradientView.reshape(gradientView.length());
        long biasLength = c.hasBias() ? c.getNOut() : 0;
        Map<String, INDArray> out = new LinkedHashMap<>();
        if (c.hasBias()) {
            out.put(BIAS_KEY, flat.get(NDArrayIndex.interval(0, biasLength)));
        }
        out.put(WEIGHT_KEY, flat.get(NDArrayIndex.interval(biasLength, flat.length())).reshape('c', weightShape(c)));
        return out;
    }
}
