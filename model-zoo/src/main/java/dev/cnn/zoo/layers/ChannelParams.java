package dev.cnn.zoo.layers;

import org.deeplearning4j.nn.api.ParamInitializer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * Parameters that are one value per channel ({@code [C]} each, C the layer's {@code nOut}), each filled with a
 * constant from the configuration: a layer norm's scale and shift, a layer scale's factors. None is a weight for
 * regularisation.
 */
final class ChannelParams implements ParamInitializer {
    private final List<String> keys;
    private final List<ToDoubleFunction<Layer>> initial;

    ChannelParams(List<String> keys, List<ToDoubleFunction<Layer>> initial) {
        this.keys = keys;
        this.initial = initial;
    }

    private static long channels(Layer l) {
        return ((FeedForwardLayer) l).getNOut();
    }

    @Override
    public long numParams(NeuralNetConfiguration conf) {
        return numParams(conf.getLayer());
    }

    @Override
    public long numParams(Layer layer) {
        return keys.size() * channels(layer);
    }

    @Override
    public List<String> paramKeys(Layer layer) {
        return keys;
    }

    @Override
    public List<String> weightKeys(Layer layer) {
        return Collections.emptyList();
    }

    @Override
    public List<String> biasKeys(Layer layer) {
        return Collections.emptyList();
    }

    @Override
    public boolean isWeightParam(Layer layer, String key) {
        return false;
    }

    @Override
    public boolean isBiasParam(Layer layer, String key) {
        return false;
    }

    private Map<String, INDArray> split(Layer layer, INDArray view) {
        INDArray flat = view.reshape(view.length());
        long c = channels(layer);
        Map<String, INDArray> out = new LinkedHashMap<>();
        for (int i = 0; i < keys.size(); i++) {
            out.put(keys.get(i), flat.get(NDArrayIndex.interval(i * c, (i + 1) * c)));
        }
        return out;
    }

    @Override
    public Map<String, INDArray> init(NeuralNetConfiguration conf, INDArray paramsView, boolean initializeParams) {
        Map<String, INDArray> params = split(conf.getLayer(), paramsView);
        for (int i = 0; i < keys.size(); i++) {
            if (initializeParams) {
                params.get(keys.get(i)).assign(initial.get(i).applyAsDouble(conf.getLayer()));
            }
            conf.addVariable(keys.get(i));
        }
        return params;
    }

    @Override
    public Map<String, INDArray> getGradientsFromFlattened(NeuralNetConfiguration conf, INDArray gradientView) {
        return split(conf.getLayer(), gradientView);
    }
}
