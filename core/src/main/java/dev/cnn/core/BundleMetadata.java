package dev.cnn.core;

import dev.cnn.data.Preprocess;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a model file carries besides DL4J's configuration and weights: the architecture name, class labels in output
 * index order, input shape, the preprocessing that inference must repeat (channel order, resize, normalisation),
 * provenance, and the training state of a checkpoint. Stored as {@value ModelBundle#METADATA_ENTRY} inside the zip;
 * {@link #toMap()} / {@link #fromMap} are its JSON mapping, and each part maps itself ({@link Preprocess},
 * {@link Provenance}, {@link TrainingState}).
 *
 * @param training resumable training state (checkpoints only), else null
 */
public record BundleMetadata(int formatVersion, String architecture, List<String> labels, int channels, int height,
                             int width, Preprocess preprocess, Provenance provenance, TrainingState training) {
    /** The bundle format this version writes and reads; a newer one is refused with a message to upgrade. */
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
        if (preprocess == null) {
            throw new IllegalArgumentException("bundle metadata: preprocess is missing");
        }
        labels = List.copyOf(labels);
    }

    /** Metadata of a new model (current format, no training state). */
    public static BundleMetadata of(String architecture, List<String> labels, Preprocess preprocess,
                                    Provenance provenance) {
        return new BundleMetadata(FORMAT_VERSION, architecture, labels, preprocess.channels(), preprocess.height(),
                preprocess.width(), preprocess, provenance, null);
    }

    public int numClasses() {
        return labels.size();
    }

    public BundleMetadata withTraining(TrainingState state) {
        return new BundleMetadata(formatVersion, architecture, labels, channels, height, width, preprocess,
                provenance, state);
    }

    public BundleMetadata withProvenance(Provenance p) {
        return new BundleMetadata(formatVersion, architecture, labels, channels, height, width, preprocess, p,
                training);
    }

    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("formatVersion", formatVersion);
        m.put("architecture", architecture);
        m.put("labels", labels);
        m.put("input", List.of(channels, height, width));
        m.put("preprocess", preprocess.toMap());
        m.put("provenance", provenance == null ? Map.of() : provenance.toMap());
        if (training != null) {
            m.put("training", training.toMap());
        }
        return m;
    }

    /**
     * Reads what {@link #toMap()} writes.
     *
     * @throws IllegalArgumentException naming the field that is missing or malformed, or a format newer than
     *                                  {@link #FORMAT_VERSION}
     */
    public static BundleMetadata fromMap(Map<String, Object> m) {
        MapReader r = new MapReader("metadata", m);
        int version = r.integer("formatVersion", 1);
        if (version > FORMAT_VERSION) {
            throw new IllegalArgumentException("bundle format " + version + " is newer than this cnn reads ("
                    + FORMAT_VERSION + "); upgrade cnn to open it");
        }
        List<Number> in = r.list("input", e -> (Number) e);
        if (in == null || in.size() != 3) {
            throw new IllegalArgumentException("bundle metadata: input shape missing");
        }
        Map<String, Object> pre = r.object("preprocess");
        if (pre == null) {
            throw new IllegalArgumentException("bundle metadata: preprocess is missing");
        }
        Map<String, Object> prov = r.object("provenance");
        Map<String, Object> training = r.object("training");
        return new BundleMetadata(version, r.string("architecture"), r.strings("labels"), in.get(0).intValue(),
                in.get(1).intValue(), in.get(2).intValue(), Preprocess.fromMap(pre),
                prov == null ? null : Provenance.fromMap(prov),
                training == null || training.isEmpty() ? null : TrainingState.fromMap(training));
    }
}
