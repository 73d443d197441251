package dev.cnn.zoo;

import java.util.List;

/**
 * One vertex of a graph, as {@link GraphQueries#layers} lists them (topological order).
 *
 * @param name      vertex name
 * @param type      layer class (simple name, unwrapped from any frozen wrapper), or the vertex class for
 *                  non-layer vertices
 * @param isLayer   whether the vertex holds a layer (false for merge/element-wise/... vertices)
 * @param frozen    whether the layer (or vertex) is frozen: wrapped in FrozenLayer, FrozenLayerWithBackprop or
 *                  FrozenVertex
 * @param numParams number of parameters, including batch-norm running statistics
 * @param inputs    the vertices (or network inputs) feeding it
 * @param output    whether it is a network output
 */
public record LayerInfo(String name, String type, boolean isLayer, boolean frozen, long numParams,
                        List<String> inputs, boolean output) {
}
