package dev.cnn.transfer.weights;

import dev.cnn.core.CnnException;
import dev.cnn.zoo.Architecture;
import dev.cnn.zoo.GraphQueries;
import dev.cnn.zoo.ModelRegistry;
import dev.cnn.zoo.ModelSpec;
import dev.cnn.zoo.layers.ChannelLayerNorm;
import dev.cnn.zoo.layers.LayerScale;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Copies a PyTorch state dict into a zoo network. The zoo names every layer as torchvision names its module
 * ({@code layer2.0.downsample.0}, {@code features.3}, {@code classifier.6}), so a parameter's key is
 * {@code <layer>.<weight|bias|running_mean|running_var>}. Layouts: convolution weights are [out, in, kH, kW] in
 * both; a dense weight is [out, in] in PyTorch and [in, out] here (transposed); vectors are [n] there and [1, n]
 * here. timm's names differ from torchvision's for VGG's classifier ({@code pre_logits.fc1}, a 7x7 convolution
 * that is {@code classifier.0} reshaped; {@code pre_logits.fc2}; {@code head.fc}); they are accepted too. timm's
 * ResNets use torchvision's names.
 *
 * <p>Every expected key must be present with its shape and every file key must be used (batch norm's
 * {@code num_batches_tracked} and {@link #auxiliary} classifiers aside), or the import stops with exit 4 naming the
 * first differences and the zoo architecture whose names the file matches best. Layers in {@code skip} (a new head)
 * are neither read nor required.
 */
public final class TorchNames {
    private static final Map<String, String> TIMM_ALIASES = Map.of(
            "classifier.0", "pre_logits.fc1",
            "classifier.3", "pre_logits.fc2",
            "classifier.6", "head.fc");

    private TorchNames() {
    }

    /** What an import did. */
    public record Report(int tensors, long values, List<String> skippedLayers, String matchedNames) {
    }

    private enum Kind { AS_IS, DENSE, VECTOR, LOG_STD, FLAT }

    /** One destination parameter and the state-dict key it is read from. */
    private record Slot(String layer, String param, String key, Kind kind) {
    }

    /** The state-dict keys a configuration expects (layer by layer), with no parameters created. */
    public static Set<String> expectedKeys(ComputationGraphConfiguration c) {
        Set<String> keys = new LinkedHashSet<>();
        for (String name : GraphQueries.topologicalOrder(c)) {
            GraphVertex v = c.getVertices().get(name);
            if (!(v instanceof LayerVertex lv)) {
                continue;
            }
            var layer = GraphQueries.unwrap(lv.getLayerConf().getLayer());
            if (layer instanceof BatchNormalization) {
                keys.addAll(List.of(name + ".weight", name + ".bias", name + ".running_mean", name + ".running_var"));
            } else if (layer instanceof ChannelLayerNorm) {
                keys.addAll(List.of(name + ".weight", name + ".bias"));
            } else if (layer instanceof LayerScale) {
                keys.add(name);
            } else if (layer instanceof ConvolutionLayer conv) {
                keys.add(name + ".weight");
                if (conv.hasBias()) {
                    keys.add(name + ".bias");
                }
            } else if (layer instanceof FeedForwardLayer ff && ff.initializer().numParams(lv.getLayerConf()) > 0) {
                keys.add(name + ".weight");
                keys.add(name + ".bias");
            }
        }
        return keys;
    }

    /**
     * Copies {@code sd} into {@code g} (in place). Layers named in {@code skip} keep their parameters and their
     * keys in the file are ignored. Throws an exit-4 {@link CnnException} on any missing, unexpected or misshapen
     * tensor, before anything is copied.
     */
    /**
     * torchvision's published DenseNet files predate its module names: {@code denselayer1.norm.1.weight} for
     * {@code denselayer1.norm1.weight}. torchvision renames them on load with this pattern; so does this.
     */
    private static final java.util.regex.Pattern DENSENET_LEGACY = java.util.regex.Pattern.compile(
            "^(.*denselayer\\d+\\.(?:norm|relu|conv))\\.((?:[12])\\.(?:weight|bias|running_mean|running_var))$");

    static Map<String, TensorData> torchvisionNames(Map<String, TensorData> tensors) {
        if (tensors.keySet().stream().noneMatch(k -> DENSENET_LEGACY.matcher(k).matches())) {
            return tensors;
        }
        Map<String, TensorData> out = new java.util.LinkedHashMap<>();
        tensors.forEach((k, v) -> {
            java.util.regex.Matcher m = DENSENET_LEGACY.matcher(k);
            out.put(m.matches() ? m.group(1) + m.group(2) : k, v);
        });
        return out;
    }

    public static Report load(ComputationGraph g, StateDict sd, Set<String> skip, String architecture) {
        Map<String, TensorData> file = torchvisionNames(sd.tensors());
        List<Slot> slots = new ArrayList<>();
        boolean timm = false;
        for (String name : GraphQueries.topologicalOrder(g)) {
            if (skip.contains(name) || g.getConfiguration().getVertices().get(name) == null
                    || !(g.getConfiguration().getVertices().get(name) instanceof LayerVertex)) {
                continue;
            }
            Layer l = g.getLayer(name);
            if (l == null || l.numParams() == 0) {
                continue;
            }
            var conf = GraphQueries.unwrap(l.conf().getLayer());
            String base = name;
            if (!file.containsKey(name + ".weight") && TIMM_ALIASES.containsKey(name)
                    && file.containsKey(TIMM_ALIASES.get(name) + ".weight")) {
                base = TIMM_ALIASES.get(name);
                timm = true;
            }
            if (conf instanceof BatchNormalization bn) {
                slots.add(new Slot(name, BatchNormalizationParamInitializer.GAMMA, base + ".weight", Kind.VECTOR));
                slots.add(new Slot(name, BatchNormalizationParamInitializer.BETA, base + ".bias", Kind.VECTOR));
                slots.add(new Slot(name, BatchNormalizationParamInitializer.GLOBAL_MEAN, base + ".running_mean",
                        Kind.VECTOR));
                slots.add(bn.isUseLogStd()
                        ? new Slot(name, BatchNormalizationParamInitializer.GLOBAL_LOG_STD, base + ".running_var",
                        Kind.LOG_STD)
                        : new Slot(name, BatchNormalizationParamInitializer.GLOBAL_VAR, base + ".running_var",
                        Kind.VECTOR));
            } else if (conf instanceof ChannelLayerNorm) {
                slots.add(new Slot(name, ChannelLayerNorm.GAMMA, base + ".weight", Kind.VECTOR));
                slots.add(new Slot(name, ChannelLayerNorm.BETA, base + ".bias", Kind.VECTOR));
            } else if (conf instanceof LayerScale) {
                // a parameter of the block itself (ConvNeXt's features.1.0.layer_scale, [C, 1, 1])
                slots.add(new Slot(name, LayerScale.GAMMA, base, Kind.FLAT));
            } else if (conf instanceof ConvolutionLayer) {
                slots.add(new Slot(name, "W", base + ".weight", Kind.AS_IS));
                if (l.paramTable().containsKey("b")) {
                    slots.add(new Slot(name, "b", base + ".bias", Kind.VECTOR));
                }
            } else if (conf instanceof FeedForwardLayer && conf instanceof BaseLayer) {
                slots.add(new Slot(name, "W", base + ".weight", Kind.DENSE));
                if (l.paramTable().containsKey("b")) {
                    slots.add(new Slot(name, "b", base + ".bias", Kind.VECTOR));
                }
            } else {
                throw CnnException.model(architecture + ": layer " + name + " (" + conf.getClass().getSimpleName()
                        + ") has no PyTorch counterpart to import");
            }
        }
        // check everything first: a failed import changes nothing. Names first: they say more than shapes
        List<String> missing = new ArrayList<>();
        List<String> shapes = new ArrayList<>();
        Set<String> used = new LinkedHashSet<>();
        for (Slot s : slots) {
            TensorData t = file.get(s.key());
            used.add(s.key());
            long[] target = g.getLayer(s.layer()).getParam(s.param()).shape();
            if (t == null) {
                missing.add("missing " + s.key() + " " + Arrays.toString(torchShape(target, s.kind())));
            } else if (!t.dtype().isFloat()) {
                shapes.add(s.key() + " is " + t.dtype() + ", not a floating-point tensor");
            } else if (!fits(t.shape(), target, s.kind())) {
                shapes.add(s.key() + " is " + t.shapeString() + " in the file, " + Arrays.toString(torchShape(
                        target, s.kind())) + " in " + architecture);
            }
        }
        List<String> problems = new ArrayList<>(missing);
        for (String k : file.keySet()) {
            if (!used.contains(k) && !k.endsWith(".num_batches_tracked") && !auxiliary(k) && !skipped(k, skip)) {
                problems.add("unexpected " + k + " " + file.get(k).shapeString());
            }
        }
        problems.addAll(shapes);
        if (!problems.isEmpty()) {
            String likely = likelyArchitecture(file.keySet(), architecture);
            throw CnnException.model(sd.file() + ": does not fit " + architecture + " (" + problems.size()
                    + " difference" + (problems.size() == 1 ? "" : "s") + ": " + String.join("; ",
                    problems.subList(0, Math.min(4, problems.size()))) + (problems.size() > 4 ? "; ..." : "") + ")"
                    + (likely != null ? "; its names match " + likely + ": try --model " + likely : ""));
        }
        long values = 0;
        try {
            for (Slot s : slots) {
                INDArray dst = g.getLayer(s.layer()).getParam(s.param());
                INDArray src = file.get(s.key()).toFloats();
                values += src.length();
                switch (s.kind()) {
                    case AS_IS -> dst.assign(src.reshape(dst.shape()));
                    case VECTOR, FLAT -> dst.assign(src.reshape(dst.shape()));
                    case DENSE -> dst.assign(src.reshape(dst.size(1), dst.size(0)).transpose());
                    // DL4J keeps log10(std) with var = std^2 (eps added in the op, as in PyTorch)
                    case LOG_STD -> dst.assign(Transforms.log(src, 10.0, false).muli(0.5).reshape(dst.shape()));
                }
                src.close();
            }
        } catch (IOException e) {
            throw CnnException.model(sd.file() + ": cannot read tensor data (" + e.getMessage() + "); the file is "
                    + "truncated or corrupt", e);
        }
        return new Report(slots.size(), values, List.copyOf(skip), timm ? "timm" : "torchvision");
    }

    private static boolean skipped(String key, Set<String> skip) {
        for (String s : skip) {
            if (key.startsWith(s + ".") || TIMM_ALIASES.containsKey(s) && key.startsWith(TIMM_ALIASES.get(s) + ".")) {
                return true;
            }
        }
        return false;
    }

    private static long[] torchShape(long[] dl4j, Kind kind) {
        return switch (kind) {
            case AS_IS -> dl4j;
            case DENSE -> new long[]{dl4j[1], dl4j[0]};
            case VECTOR, LOG_STD, FLAT -> new long[]{Arrays.stream(dl4j).reduce(1, (a, b) -> a * b)};
        };
    }

    private static boolean fits(long[] file, long[] dl4j, Kind kind) {
        long n = Arrays.stream(file).reduce(1, (a, b) -> a * b);
        long m = Arrays.stream(dl4j).reduce(1, (a, b) -> a * b);
        return switch (kind) {
            // or a Linear on the channels-last view (ConvNeXt's MLP) as a 1x1 convolution: [out, in] for [out, in, 1, 1]
            case AS_IS -> Arrays.equals(file, dl4j) || (dl4j.length == 4 && dl4j[2] == 1 && dl4j[3] == 1
                    && Arrays.equals(file, new long[]{dl4j[0], dl4j[1]}));
            // [out, in], or timm's convolution-as-dense [out, c, h, w]
            case DENSE -> file.length >= 2 && file[0] == dl4j[1] && n == m;
            case VECTOR, LOG_STD -> file.length == 1 && n == m;
            case FLAT -> n == m && Arrays.stream(file).filter(d -> d != 1).count() <= 1;
        };
    }

    /**
     * A parameter of an auxiliary classifier (GoogLeNet's {@code aux1}, {@code aux2}; Inception v3's
     * {@code AuxLogits}): published files keep them, the zoo builds these networks without them (torchvision's
     * {@code aux_logits=False}, which drops them the same way), so they are not read.
     */
    static boolean auxiliary(String key) {
        return key.startsWith("aux1.") || key.startsWith("aux2.") || key.startsWith("AuxLogits.");
    }

    /** The zoo architecture whose expected names overlap the file's most (Jaccard), if not the one tried. */
    static String likelyArchitecture(Set<String> fileKeys, String tried) {
        Set<String> keys = new LinkedHashSet<>();
        for (String k : fileKeys) {
            if (!k.endsWith(".num_batches_tracked") && !auxiliary(k)) {
                keys.add(k);
            }
        }
        String best = null;
        double bestScore = 0;
        for (Architecture a : ModelRegistry.all()) {
            Set<String> exp;
            try {
                int size = Math.max(224, a.minInputSize());
                exp = expectedKeys(a.configuration(ModelSpec.builder().input(3, size, size).numClasses(10).build()));
            } catch (RuntimeException e) {
                continue; // an architecture that cannot take this input
            }
            long common = exp.stream().filter(keys::contains).count();
            double score = common / (double) (exp.size() + keys.size() - common);
            if (score > bestScore) {
                bestScore = score;
                best = a.name();
            }
        }
        return best != null && !best.equals(tried) && bestScore > 0.5 ? best : null;
    }
}
