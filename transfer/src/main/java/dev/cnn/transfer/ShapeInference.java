package dev.cnn.transfer;

import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.graph.FrozenVertex;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.graph.MergeVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BaseOutputLayer;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.DropoutLayer;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.LocalResponseNormalization;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.conf.layers.Upsampling2D;
import org.deeplearning4j.nn.conf.layers.ZeroPaddingLayer;
import org.deeplearning4j.nn.conf.layers.convolutional.Cropping2D;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static dev.cnn.zoo.GraphQueries.unwrap;

/**
 * The kind and size of a vertex's output, for sizing the layers {@link Heads} puts after it: from the network input
 * types when they are known, else worked out from the layer configurations alone.
 */
final class ShapeInference {
    private ShapeInference() {
    }

    /**
     * Kind and size of a vertex's output: convolutional (channels, format; height and width when the network's input
     * type is known, else 0) or flat (size).
     */
    record Act(boolean cnn, long size, CNN2DFormat format, long height, long width) {
        Act(boolean cnn, long size, CNN2DFormat format) {
            this(cnn, size, format, 0, 0);
        }
    }

    /**
     * The output of {@code cut}: from the network input types when there are any, else worked out from the layer
     * configurations.
     *
     * @throws IllegalArgumentException if it cannot be worked out
     */
    static Act cutActivation(ComputationGraphConfiguration src, String cut, List<InputType> inputTypes) {
        if (!inputTypes.isEmpty()) {
            Map<String, InputType> types = src.clone()
                    .getLayerActivationTypes(true, false, inputTypes.toArray(new InputType[0]));
            InputType t = types.get(cut);
            if (t instanceof InputType.InputTypeConvolutional ct) {
                return new Act(true, ct.getChannels(), ct.getFormat(), ct.getHeight(), ct.getWidth());
            }
            if (t instanceof InputType.InputTypeFeedForward ft) {
                return new Act(false, ft.getSize(), CNN2DFormat.NCHW);
            }
            if (t instanceof InputType.InputTypeConvolutionalFlat cf) {
                return new Act(false, cf.getFlattenedSize(), CNN2DFormat.NCHW);
            }
            throw new IllegalArgumentException("unsupported output type of cut layer '" + cut + "': " + t);
        }
        return inferAct(src, cut, new HashMap<>());
    }

    private static Act inferAct(ComputationGraphConfiguration c, String name, Map<String, Act> memo) {
        Act cached = memo.get(name);
        if (cached != null) {
            return cached;
        }
        GraphVertex v = c.getVertices().get(name);
        if (v == null) {
            throw cannotInfer(name);
        }
        if (v instanceof FrozenVertex fv) {
            v = fv.getUnderlying();
        }
        List<String> inputs = c.getVertexInputs().getOrDefault(name, List.of());
        Act a;
        if (v instanceof LayerVertex lv) {
            org.deeplearning4j.nn.conf.layers.Layer l = unwrap(lv.getLayerConf().getLayer());
            boolean hasPre = lv.getPreProcessor() != null;
            if (l instanceof ConvolutionLayer cl) {
                a = new Act(true, cl.getNOut(), cl.getCnn2dDataFormat() == null ? CNN2DFormat.NCHW
                        : cl.getCnn2dDataFormat());
            } else if (!hasPre && inputs.size() == 1 && (l instanceof ActivationLayer || l instanceof DropoutLayer)) {
                a = inferAct(c, inputs.get(0), memo);
            } else if (l instanceof DenseLayer || l instanceof BaseOutputLayer) {
                a = new Act(false, ((FeedForwardLayer) l).getNOut(), CNN2DFormat.NCHW);
            } else if (l instanceof FeedForwardLayer ff && !hasPre && inputs.size() == 1) {
                // Shape-preserving layers with nOut = nIn (batch norm, PReLU, ...): kind of their input.
                Act in = inferAct(c, inputs.get(0), memo);
                a = new Act(in.cnn, ff.getNOut() > 0 ? ff.getNOut() : in.size, in.format);
            } else if (l instanceof GlobalPoolingLayer && inputs.size() == 1) {
                a = new Act(false, inferAct(c, inputs.get(0), memo).size, CNN2DFormat.NCHW);
            } else if (!hasPre && inputs.size() == 1 && (l instanceof SubsamplingLayer
                    || l instanceof ZeroPaddingLayer || l instanceof Upsampling2D || l instanceof Cropping2D
                    || l instanceof LocalResponseNormalization)) {
                Act in = inferAct(c, inputs.get(0), memo);
                a = new Act(true, in.size, in.format);
            } else {
                throw cannotInfer(name);
            }
        } else if (v instanceof MergeVertex && !inputs.isEmpty()) {
            Act first = inferAct(c, inputs.get(0), memo);
            long sum = 0;
            for (String in : inputs) {
                sum += inferAct(c, in, memo).size;
            }
            a = new Act(first.cnn, sum, first.format);
        } else if (v instanceof ElementWiseVertex && !inputs.isEmpty()) {
            a = inferAct(c, inputs.get(0), memo);
        } else {
            throw cannotInfer(name);
        }
        if (a.size <= 0) {
            throw cannotInfer(name);
        }
        memo.put(name, a);
        return a;
    }

    private static IllegalArgumentException cannotInfer(String name) {
        return new IllegalArgumentException("cannot work out the output size of '" + name
                + "' from the configuration; pass the network input type (HeadSpec.withInputTypes)");
    }
}
