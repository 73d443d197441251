package dev.cnn.accel;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.deeplearning4j.nn.layers.AbstractLayer;
import org.deeplearning4j.nn.layers.convolution.ConvolutionLayer;
import org.deeplearning4j.nn.layers.convolution.subsampling.SubsamplingLayer;
import org.deeplearning4j.nn.layers.normalization.BatchNormalization;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;

/**
 * Every reflective read and write of DL4J 1.0.0-M2.1's private state that this module makes, in one place and named
 * for what it is: the helper slot of convolution, batch-norm and subsampling layers, the forward output a layer keeps
 * for its backward pass, a layer's data type, and a graph's layer slots (to swap a layer for a subclass). DL4J offers
 * no public way to plug in a helper or replace a layer of a built graph.
 *
 * <p>Every handle is looked up once; where DL4J's layout differs (another version), {@link #helpersReachable()} or
 * {@link #layersReplaceable()} is false and callers keep DL4J's own behaviour instead of failing.
 */
final class Dl4jInternals {
    private static final Field CONV_HELPER = field(ConvolutionLayer.class, "helper");
    private static final Method CONV_INIT = method(ConvolutionLayer.class, "initializeHelper");
    private static final Field BN_HELPER = field(BatchNormalization.class, "helper");
    private static final Field POOL_HELPER = field(SubsamplingLayer.class, "helper");
    private static final Method POOL_INIT = method(SubsamplingLayer.class, "initializeHelper");
    private static final Field PRE_OUTPUT = field(AbstractLayer.class, "preOutput");
    private static final Field GRAPH_LAYERS = field(ComputationGraph.class, "layers");
    private static final Field LAYER_TYPE = field(AbstractLayer.class, "dataType");
    private static final Field VERTEX_LAYER = field(org.deeplearning4j.nn.graph.vertex.impl.LayerVertex.class, "layer");

    private Dl4jInternals() {
    }

    /** Whether the helper slots of convolution, batch-norm and subsampling layers can be read and set. */
    static boolean helpersReachable() {
        return CONV_HELPER != null && BN_HELPER != null && POOL_HELPER != null;
    }

    /** Whether a layer of a built graph can be swapped for another instance ({@link #replaceLayer}). */
    static boolean layersReplaceable() {
        return GRAPH_LAYERS != null && VERTEX_LAYER != null && LAYER_TYPE != null;
    }

    /** Whether the forward output kept for the backward pass can be cleared ({@link #clearKeptForwardOutput}). */
    static boolean keptForwardOutputClearable() {
        return PRE_OUTPUT != null;
    }

    /** A convolution layer's helper, created first if DL4J has not yet (it does so on the first pass). */
    static Object convolutionHelper(Layer convolution) throws ReflectiveOperationException {
        return helper(convolution, CONV_HELPER, CONV_INIT);
    }

    static void setConvolutionHelper(Layer convolution, Object helper) throws IllegalAccessException {
        CONV_HELPER.set(convolution, helper);
    }

    /** A subsampling layer's helper, created first if DL4J has not yet. */
    static Object poolingHelper(Layer subsampling) throws ReflectiveOperationException {
        return helper(subsampling, POOL_HELPER, POOL_INIT);
    }

    static void setPoolingHelper(Layer subsampling, Object helper) throws IllegalAccessException {
        POOL_HELPER.set(subsampling, helper);
    }

    static Object batchNormHelper(Layer batchNorm) throws IllegalAccessException {
        return BN_HELPER.get(batchNorm);
    }

    static void setBatchNormHelper(Layer batchNorm, Object helper) throws IllegalAccessException {
        BN_HELPER.set(batchNorm, helper);
    }

    /** The helper a plain convolution, batch-norm or this module's subsampling layer has now (none is created). */
    static Object currentHelper(Layer l) {
        try {
            if (l.getClass() == ConvolutionLayer.class && CONV_HELPER != null) {
                return CONV_HELPER.get(l);
            }
            if (l instanceof dev.cnn.zoo.layers.GroupedConvolutionLayer g) {
                return g.convolutionHelper();
            }
            if (l instanceof BatchNormalization && BN_HELPER != null) {
                return BN_HELPER.get(l);
            }
            if (l.getClass() == DnnlSubsamplingLayer.class && POOL_HELPER != null) {
                return POOL_HELPER.get(l);
            }
        } catch (IllegalAccessException e) {
            return null;
        }
        return null;
    }

    /** Hands {@code output} to a layer's next backward pass as its kept forward output (DL4J's {@code preOutput}). */
    static void keepForwardOutput(Layer l, INDArray output) {
        try {
            PRE_OUTPUT.set(l, output);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Drops the forward output a layer kept for its backward pass (DL4J's backward pass reads it unchecked). */
    static void clearKeptForwardOutput(Layer l) {
        if (PRE_OUTPUT != null && l instanceof AbstractLayer) {
            try {
                PRE_OUTPUT.set(l, null);
            } catch (IllegalAccessException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    /** The data type a layer computes in (not public in DL4J). */
    static DataType dataType(Layer l) throws IllegalAccessException {
        return (DataType) LAYER_TYPE.get(l);
    }

    /**
     * Puts {@code replacement} in {@code vertex}'s place of {@code g}, after copying every instance field of
     * {@code old} (a superclass instance of {@code replacement}) into it: configuration, parameters, gradient views
     * and state are shared, so the graph's flattened parameter and gradient arrays stay valid.
     */
    static void replaceLayer(ComputationGraph g, GraphVertex vertex, Layer old, Layer replacement)
            throws IllegalAccessException {
        copyFields(old, replacement);
        VERTEX_LAYER.set(vertex, replacement);
        Layer[] layers = (Layer[]) GRAPH_LAYERS.get(g);
        for (int i = 0; i < layers.length; i++) {
            if (layers[i] == old) {
                layers[i] = replacement;
            }
        }
    }

    static void copyFields(Object from, Object to) throws IllegalAccessException {
        for (Class<?> c = from.getClass(); c != null && c != Object.class; c = c.getSuperclass()) {
            for (Field f : c.getDeclaredFields()) {
                if (!Modifier.isStatic(f.getModifiers())) {
                    f.setAccessible(true);
                    f.set(to, f.get(from));
                }
            }
        }
    }

    private static Object helper(Layer layer, Field field, Method init) throws ReflectiveOperationException {
        Object h = field.get(layer);
        if (h == null && init != null) {
            init.invoke(layer);
            h = field.get(layer);
        }
        return h;
    }

    private static Field field(Class<?> c, String name) {
        try {
            Field f = c.getDeclaredField(name);
            f.setAccessible(true);
            return f;
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }

    private static Method method(Class<?> c, String name) {
        try {
            Method m = c.getDeclaredMethod(name);
            m.setAccessible(true);
            return m;
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }
}
