package dev.cnn.core;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where a training run stands, carried by a checkpoint ({@code last.zip}) so that {@code --resume} continues exactly:
 * the next epoch and batch, the epochs so far, the early-stopping and best-weights bookkeeping, and the settings.
 * Stored as the bundle's {@code training} object (absent in final models); {@link #toMap()} / {@link #fromMap} are
 * its one JSON mapping.
 *
 * @param epoch     the epoch to continue (0-based)
 * @param batch     batches of that epoch already trained
 * @param bestTop1  best validation top-1 so far, or null
 * @param badEpochs epochs since the best one (early stopping)
 * @param output    the model file the run writes (absolute), where a resumed run writes too; null in checkpoints of
 *                  older versions
 */
public record TrainingState(int epoch, int batch, List<EpochStats> history, Double bestTop1, int badEpochs,
                            TrainConfig config, String output) {
    public TrainingState {
        config = config == null ? null : config.withoutPaths();
        history = history == null ? List.of() : List.copyOf(history);
    }

    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("epoch", epoch);
        m.put("batch", batch);
        m.put("history", history.stream().map(EpochStats::toMap).toList());
        m.put("bestTop1", bestTop1);
        m.put("badEpochs", badEpochs);
        if (config != null) {
            m.put("config", config.toMap());
        }
        if (output != null) {
            m.put("output", output);
        }
        return m;
    }

    public static TrainingState fromMap(Map<String, Object> map) {
        MapReader r = new MapReader("training", map);
        Number best = r.number("bestTop1");
        Map<String, Object> cfg = r.object("config");
        List<EpochStats> h = r.objects("history", EpochStats::fromMap);
        return new TrainingState(r.integer("epoch", 0), r.integer("batch", 0), h,
                best == null ? null : best.doubleValue(), r.integer("badEpochs", 0),
                cfg == null ? null : TrainConfig.fromMap(cfg), r.string("output"));
    }
}
