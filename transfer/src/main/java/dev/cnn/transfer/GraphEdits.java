package dev.cnn.transfer;

import dev.cnn.zoo.GraphQueries;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;

/**
 * What the graph edits of this package ({@link Freezing}, {@link LearningRates}, {@link Heads}, {@link FeatureCache},
 * {@link FinetuneJob}) share.
 */
final class GraphEdits {
    private GraphEdits() {
    }

    /** A new graph for an edited configuration with the same parameter layout as {@code g}: params copied as-is. */
    static ComputationGraph rebuildSameLayout(ComputationGraph g, ComputationGraphConfiguration c) {
        c.setTopologicalOrder(null);
        c.setTopologicalOrderStr(null);
        ComputationGraph out = new ComputationGraph(c);
        if (g.numParams() > 0) {
            out.init(g.params().dup(), false);
        } else {
            out.init();
        }
        return out;
    }

    /** {@link GraphQueries#defaultCut}, or {@code ?} where there is none: for suggestions in error messages. */
    static String safeDefaultCut(ComputationGraph g) {
        try {
            return GraphQueries.defaultCut(g);
        } catch (RuntimeException e) {
            return "?";
        }
    }
}
