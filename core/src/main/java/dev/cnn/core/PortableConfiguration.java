package dev.cnn.core;

import org.deeplearning4j.nn.conf.CacheMode;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayer;
import org.deeplearning4j.nn.conf.layers.wrapper.BaseWrapperLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.updater.UpdaterBlock;
import org.deeplearning4j.nn.updater.graph.ComputationGraphUpdater;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.shade.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * The {@code configuration.json} a bundle stores: the network's configuration as DL4J writes it, but naming only
 * DL4J's and ND4J's classes, so that {@code ModelSerializer.restoreComputationGraph} loads the bundle with nothing but
 * DL4J on the class path. Training puts this project's learning-rate schedule ({@link LrSchedule}) on the layers'
 * updaters; here each updater whose JSON names a class outside
 * {@code org.nd4j.}/{@code org.deeplearning4j.} gets, in the stored copy only, a fixed learning rate: the schedule's
 * value at the configuration's iteration and epoch counts, i.e. the rate of the next step. The live network keeps its
 * schedule; a resumed run puts the schedule back ({@link Optimizers#restoreSchedule}).
 *
 * <p>Two training-time settings are not stored either: the forward cache (cache mode {@code NONE}) and the
 * helper fallback that the engine turns off while it trains (stored as DL4J's default, on).
 *
 * <p>The copy is the live JSON parsed back ({@code fromJson}: a deep copy that keeps the iteration and epoch counts
 * and the topological order, which {@code clone()} drops), edited and written again; when nothing needs editing, the
 * live JSON is stored as it is. Everything else in the configuration is DL4J's own already: the zoo builds DL4J
 * layers and vertices only, transfer freezes with DL4J's {@code FrozenLayer}/{@code FrozenVertex}, and the engine's
 * replacement layers ({@code dev.cnn.accel}) are runtime layers sharing DL4J's configuration objects; its fused
 * {@code ConvAddReluVertex} exists only in inference copies, which are never saved.
 */
final class PortableConfiguration {
    private PortableConfiguration() {
    }

    /**
     * The JSON to store for {@code network}. {@code updater}: the updater whose state is stored beside it, or null;
     * fixed rates are then chosen so that DL4J groups the parameters into the same updater blocks on load, which
     * fixes the layout of that state (see {@link #keepBlocks}).
     */
    static String json(ComputationGraph network, ComputationGraphUpdater updater) {
        ComputationGraphConfiguration conf = network.getConfiguration();
        // the forward cache is a training-time setting (a checkpoint written while Trainer runs): not saved. Not
        // through clone(), which drops the iteration and epoch counters that the JSON carries
        CacheMode cache = conf.getCacheMode();
        String json;
        try {
            conf.setCacheMode(CacheMode.NONE);
            json = conf.toJson();
        } finally {
            conf.setCacheMode(cache);
        }
        int iteration = conf.getIterationCount();
        int epoch = conf.getEpochCount();
        // fixed rate per updater configuration, by equality: equal configurations (one block in DL4J) stay equal
        Map<IUpdater, IUpdater> fixed = new HashMap<>();
        for (BaseLayer b : baseLayers(conf).values()) {
            for (IUpdater u : new IUpdater[]{b.getIUpdater(), b.getBiasUpdater()}) {
                if (u != null && !fixed.containsKey(u) && u.hasLearningRate() && !foreignClasses(u).isEmpty()) {
                    IUpdater f = u.clone();
                    f.setLrAndSchedule(u.getLearningRate(iteration, epoch), null);
                    fixed.put(u, f);
                }
            }
        }
        boolean noFallback = layers(conf).values().stream().anyMatch(l -> !allowsFallback(l));
        if (fixed.isEmpty() && !noFallback) {
            return json;
        }
        if (updater != null) {
            keepBlocks(updater, fixed);
        }
        ComputationGraphConfiguration copy = ComputationGraphConfiguration.fromJson(json);
        Map<String, BaseLayer> copyLayers = baseLayers(copy);
        for (Map.Entry<String, BaseLayer> e : baseLayers(conf).entrySet()) {
            BaseLayer live = e.getValue();
            BaseLayer c = copyLayers.get(e.getKey());
            if (c == null) {
                throw new IllegalStateException("layer '" + e.getKey() + "' lost in the configuration's JSON");
            }
            if (live.getIUpdater() != null && fixed.containsKey(live.getIUpdater())) {
                c.setIUpdater(fixed.get(live.getIUpdater()).clone());
            }
            if (live.getBiasUpdater() != null && fixed.containsKey(live.getBiasUpdater())) {
                c.setBiasUpdater(fixed.get(live.getBiasUpdater()).clone());
            }
        }
        // the engine turns DL4J's helper fallback off on layers it keeps in oneDNN's blocked layout while training
        // (an exception must surface there, see dev.cnn.accel.GraphPolicy) and on again when the session closes;
        // checkpoints are written while it is open. Like the forward cache, a training-time setting, not saved.
        // DL4J's default is on; nothing else turns it off
        for (Layer l : layers(copy).values()) {
            if (l instanceof ConvolutionLayer c) {
                c.setCudnnAllowFallback(true);
            } else if (l instanceof SubsamplingLayer p) {
                p.setCudnnAllowFallback(true);
            } else if (l instanceof BatchNormalization b) {
                b.setCudnnAllowFallback(true);
            }
        }
        return copy.toJson();
    }

    private static boolean allowsFallback(Layer l) {
        return l instanceof ConvolutionLayer c ? c.isCudnnAllowFallback()
                : l instanceof SubsamplingLayer p ? p.isCudnnAllowFallback()
                : !(l instanceof BatchNormalization b) || b.isCudnnAllowFallback();
    }

    /**
     * DL4J's updater puts consecutive parameters with equal updater configurations into one block, and a block's
     * state is laid out per block (Adam: all its {@code m}, then all its {@code v}). Two neighbouring blocks whose
     * schedules differ but happen to have the same value now (a head and a base rate both decayed to 0 at the end of
     * a cosine schedule) would, with equal fixed rates, become one block on load and read the stored state in the
     * wrong order. Such fixed rates are moved apart by the smallest step a double allows (far below float
     * precision, so no step changes).
     */
    private static void keepBlocks(ComputationGraphUpdater updater, Map<IUpdater, IUpdater> fixed) {
        List<IUpdater> order = new ArrayList<>();
        List<Integer> blockOf = new ArrayList<>();
        int block = 0;
        for (UpdaterBlock b : updater.getUpdaterBlocks()) {
            for (UpdaterBlock.ParamState p : b.getLayersAndVariablesInBlock()) {
                order.add(p.getLayer().getConfig().getUpdaterByParam(p.getParamName()));
                blockOf.add(block);
            }
            block++;
        }
        for (int pass = 0; pass < 100; pass++) {
            boolean moved = false;
            for (int i = 1; i < order.size(); i++) {
                IUpdater a = order.get(i - 1);
                IUpdater b = order.get(i);
                if (blockOf.get(i - 1).equals(blockOf.get(i)) || a.equals(b)) {
                    continue; // one block, or split by DL4J for a reason that still holds
                }
                IUpdater fa = fixed.getOrDefault(a, a);
                IUpdater fb = fixed.getOrDefault(b, b);
                if (fa.equals(fb)) {
                    IUpdater f = fixed.containsKey(b) ? fb : fa;
                    f.setLrAndSchedule(Math.nextUp(f.getLearningRate(0, 0)), null);
                    moved = true;
                }
            }
            if (!moved) {
                return;
            }
        }
    }

    /** The layers with updaters, by vertex name, frozen ones by their inner layer (its JSON keeps its updater). */
    private static Map<String, BaseLayer> baseLayers(ComputationGraphConfiguration conf) {
        Map<String, BaseLayer> out = new HashMap<>();
        layers(conf).forEach((name, l) -> {
            if (l instanceof BaseLayer b) {
                out.put(name, b);
            }
        });
        return out;
    }

    /** The layers by vertex name, wrapped ones (frozen) by their inner layer. */
    private static Map<String, Layer> layers(ComputationGraphConfiguration conf) {
        Map<String, Layer> out = new HashMap<>();
        for (Map.Entry<String, GraphVertex> e : conf.getVertices().entrySet()) {
            if (e.getValue() instanceof LayerVertex lv && lv.getLayerConf() != null) {
                Layer l = lv.getLayerConf().getLayer();
                while (l instanceof FrozenLayer || l instanceof BaseWrapperLayer) {
                    l = l instanceof FrozenLayer f ? f.getLayer() : ((BaseWrapperLayer) l).getUnderlying();
                }
                if (l != null) {
                    out.put(e.getKey(), l);
                }
            }
        }
        return out;
    }

    private static Set<String> foreignClasses(IUpdater u) {
        Set<String> out = new TreeSet<>();
        if (!dl4j(u.getClass().getName())) {
            out.add(u.getClass().getName());
        }
        collect(NeuralNetConfiguration.mapper().valueToTree(u), out);
        return out;
    }

    /**
     * The classes a configuration's JSON names ({@code "@class"}, DL4J's type ids) that are not DL4J's or ND4J's:
     * empty for every bundle this project writes.
     */
    static Set<String> foreignClasses(String json) {
        Set<String> out = new TreeSet<>();
        try {
            collect(NeuralNetConfiguration.mapper().readTree(json), out);
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("not JSON: " + e.getMessage(), e);
        }
        return out;
    }

    private static void collect(JsonNode n, Set<String> out) {
        if (n == null) {
            return;
        }
        if (n.isObject()) {
            JsonNode c = n.get("@class");
            if (c != null && c.isTextual() && !dl4j(c.asText())) {
                out.add(c.asText());
            }
        }
        for (Iterator<JsonNode> it = n.elements(); it.hasNext(); ) {
            collect(it.next(), out);
        }
    }

    private static boolean dl4j(String className) {
        return className.startsWith("org.nd4j.") || className.startsWith("org.deeplearning4j.");
    }
}
