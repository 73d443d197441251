package dev.cnn.core;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a model file carries besides DL4J's configuration and weights: the architecture name, class labels in output
 * index order, input shape, the preprocessing that inference must repeat (channel order, resize, normalisation), and
 * free-form provenance/training state. Stored as {@value ModelBundle#METADATA_ENTRY} inside the zip.
 *
 * @param preprocess preprocessing settings as written by {@code dev.cnn.data.Preprocess#toMap()}
 * @param provenance data path, epochs, seed, metrics, version, time
 * @param training   resumable training state (present in checkpoints), else empty
 */
public record BundleMetadata(int formatVersion, String architecture, List<String> labels, int channels, int height,
                             int width, Map<String, Object> preprocess, Map<String, Object> provenance,
                             Map<String, Object> training) {
    public static final int FORMAT_VERSION = 1;

    public BundleMetadata {
        if (architecture == null || architecture.isBlank()) {
            throw new IllegalArgumentException("bundle metadata: architecture is missing");
        }
        if (labels == null || labels.isEmpty()) {
            throw new IllegalArgumentException("bundle metadata: labels are missing");
        }
        if (channels < 1 || height < 1 || width < 1) {
            throw new IllegalArgumentException("bundle metadata: invalid input shape");
        }
        labels = List.copyOf(labels);
        preprocess = preprocess == null ? Map.of() : Map.copyOf(preprocess);
        provenance = provenance == null ? Map.of() : new LinkedHashMap<>(provenance);
        training = training == null ? Map.of() : new LinkedHashMap<>(training);
    }

    public int numClasses() {
        return labels.size();
    }

    public BundleMetadata withTraining(Map<String, Object> state) {
        return new BundleMetadata(formatVersion, architecture, labels, channels, height, width, preprocess,
                provenance, state);
    }

    public BundleMetadata withProvenance(Map<String, Object> p) {
        return new BundleMetadata(formatVersion, architecture, labels, channels, height, width, preprocess, p,
                training);
    }

    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("formatVersion", formatVersion);
        m.put("architecture", architecture);
        m.put("labels", labels);
        m.put("input", List.of(channels, height, width));
        m.put("preprocess", preprocess);
        m.put("provenance", provenance);
        if (!training.isEmpty()) {
            m.put("training", training);
        }
        return m;
    }

    @SuppressWarnings("unchecked")
    public static BundleMetadata fromMap(Map<String, Object> m) {
        List<Number> in = (List<Number>) m.get("input");
        if (in == null || in.size() != 3) {
            throw new IllegalArgumentException("bundle metadata: input shape missing");
        }
        Object fv = m.getOrDefault("formatVersion", 1);
        return new BundleMetadata(((Number) fv).intValue(), (String) m.get("architecture"),
                new ArrayList<>((List<String>) m.get("labels")), in.get(0).intValue(), in.get(1).intValue(),
                in.get(2).intValue(), (Map<String, Object>) m.get("preprocess"),
                (Map<String, Object>) m.get("provenance"), (Map<String, Object>) m.get("training"));
    }
}
