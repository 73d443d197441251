package dev.cnn.zoo;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The configuration-level queries on a zoo network with skip connections (no parameters allocated). */
class GraphQueriesTest {

    private static ComputationGraphConfiguration conf(String name) {
        return ModelRegistry.get(name).configuration(ModelSpec.builder().numClasses(5).input(3, 32, 32).build());
    }

    @Test
    void consumersAncestorsAndDescendantsAgreeWithTheInputLists() {
        ComputationGraphConfiguration c = conf("resnet18");
        Set<String> vertices = c.getVertices().keySet();
        boolean forked = false;
        for (String v : vertices) {
            List<String> consumers = GraphQueries.consumers(c, v);
            assertEquals(new HashSet<>(consumers).size(), consumers.size(), "each consumer once");
            for (String u : vertices) {
                assertEquals(c.getVertexInputs().get(u).contains(v), consumers.contains(u), v + " -> " + u);
            }
            forked |= consumers.size() > 1;
            Set<String> below = GraphQueries.descendants(c, v);
            for (String u : vertices) {
                assertEquals(below.contains(u), GraphQueries.ancestors(c, u).contains(v), v + " ..> " + u);
            }
        }
        assertTrue(forked, "a residual block's input feeds two vertices");
    }

    @Test
    void stableTopologicalOrderPutsEveryInputFirst() {
        ComputationGraphConfiguration c = conf("resnet18");
        List<String> order = GraphQueries.topologicalOrder(c);
        assertEquals(c.getVertices().keySet(), new HashSet<>(order));
        for (String v : order) {
            for (String in : c.getVertexInputs().get(v)) {
                assertTrue(!c.getVertices().containsKey(in) || order.indexOf(in) < order.indexOf(v), in + " -> " + v);
            }
        }
    }

    @Test
    void skipConnectionsAreEdgesAcrossACut() {
        ComputationGraphConfiguration resnet = conf("resnet18");
        assertTrue(resnet.getVertices().keySet().stream().anyMatch(v -> GraphQueries.edgeAcross(resnet, v) != null));
        assertNull(GraphQueries.edgeAcross(resnet, ModelRegistry.get("resnet18").featureLayer()));
        ComputationGraphConfiguration vgg = conf("vgg11");
        for (String v : vgg.getVertices().keySet()) {
            assertNull(GraphQueries.edgeAcross(vgg, v), v);
        }
        String input = resnet.getNetworkInputs().get(0);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> GraphQueries.requireVertex(resnet, input))
                .getMessage().contains("network input"));
        assertNotNull(assertThrows(IllegalArgumentException.class, () -> GraphQueries.requireVertex(resnet, "nope")));
    }
}
