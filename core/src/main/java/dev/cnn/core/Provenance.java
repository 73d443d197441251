package dev.cnn.core;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where a model came from: the data and settings of the run that made it and, once trained, how training went.
 * Stored as the bundle's {@code provenance} object; {@link #toMap()} / {@link #fromMap} are its one JSON mapping,
 * with the keys that bundle format 1 has always had (so older versions of cnn read it).
 *
 * @param data      the data argument of the run ({@code builtin:shapes}, a folder, a CSV)
 * @param cache     whether decoded images were cached ({@code cnn train}; null for finetune)
 * @param strict    whether unreadable images failed the run ({@code cnn train}; null for finetune)
 * @param config    the run's settings (without output paths), or null in bundles that lack them
 * @param transfer  for a finetuned model, what it was transferred from; else null
 * @param result    how training went (null before training ends)
 */
public record Provenance(String data, double valSplit, String augment, Boolean cache, Boolean strict,
                         int trainImages, int valImages, TrainConfig config, String version, String createdAt,
                         Transfer transfer, Result result) {
    public Provenance {
        config = config == null ? null : config.withoutPaths();
    }


    /**
     * What a finetuned model was transferred from and how. {@code headBatchSize}: the batch size of phases that train
     * no batch-norm layer when it differs from the config's (small data), else 0. {@code headPool},
     * {@code headHidden} and {@code headDropout}: the new head's shape ({@code cnn finetune --head-pool/--head-hidden/
     * --head-dropout}); {@code headPool} is null in bundles written before it was recorded. {@code baseLrLow}: above
     * 0, the rate of the base's first trainable layer, rising to {@code baseLr} at the cut ({@code --base-lr LO:HI});
     * 0, one rate for the whole base.
     */
    public record Transfer(String base, String baseArchitecture, List<String> baseLabels, String strategy,
                           String cut, List<String> head, String unfreezeFrom, double baseLr, int frozenEpochs,
                           List<Phase> phases, int headBatchSize, String headPool, int headHidden,
                           double headDropout, double baseLrLow) {
        public Transfer {
            baseLabels = baseLabels == null ? null : List.copyOf(baseLabels);
            head = head == null ? List.of() : List.copyOf(head);
            phases = phases == null ? List.of() : List.copyOf(phases);
        }

        /** With one rate for the whole base. */
        public Transfer(String base, String baseArchitecture, List<String> baseLabels, String strategy, String cut,
                        List<String> head, String unfreezeFrom, double baseLr, int frozenEpochs, List<Phase> phases,
                        int headBatchSize, String headPool, int headHidden, double headDropout) {
            this(base, baseArchitecture, baseLabels, strategy, cut, head, unfreezeFrom, baseLr, frozenEpochs, phases,
                    headBatchSize, headPool, headHidden, headDropout, 0);
        }

        public Transfer(String base, String baseArchitecture, List<String> baseLabels, String strategy, String cut,
                        List<String> head, String unfreezeFrom, double baseLr, int frozenEpochs, List<Phase> phases,
                        int headBatchSize) {
            this(base, baseArchitecture, baseLabels, strategy, cut, head, unfreezeFrom, baseLr, frozenEpochs, phases,
                    headBatchSize, null, 0, 0);
        }

        public Transfer(String base, String baseArchitecture, List<String> baseLabels, String strategy, String cut,
                        List<String> head, String unfreezeFrom, double baseLr, int frozenEpochs, List<Phase> phases) {
            this(base, baseArchitecture, baseLabels, strategy, cut, head, unfreezeFrom, baseLr, frozenEpochs, phases,
                    0);
        }

        public Transfer withPhases(List<Phase> p) {
            return new Transfer(base, baseArchitecture, baseLabels, strategy, cut, head, unfreezeFrom, baseLr,
                    frozenEpochs, p, headBatchSize, headPool, headHidden, headDropout, baseLrLow);
        }
    }

    /**
     * One training phase of a finetune run. {@code batchSize} and {@code headLr} (the new head's peak learning rate
     * in this phase) are 0 in bundles written before they were recorded. A resumed run lists the phases that ended
     * before its checkpoint too.
     */
    public record Phase(String name, String status, int epochs, boolean featureCache, double cacheSeconds,
                        long cacheBytes, long trainableParams, int batchSize, double headLr) {
        public Phase(String name, String status, int epochs, boolean featureCache, double cacheSeconds,
                     long cacheBytes, long trainableParams) {
            this(name, status, epochs, featureCache, cacheSeconds, cacheBytes, trainableParams, 0, 0);
        }

        public Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", name);
            m.put("status", status);
            m.put("epochs", epochs);
            m.put("featureCache", featureCache);
            m.put("cacheSeconds", cacheSeconds);
            m.put("cacheBytes", cacheBytes);
            m.put("trainableParams", trainableParams);
            if (batchSize > 0) {
                m.put("batchSize", batchSize);
            }
            if (headLr > 0) {
                m.put("headLr", headLr);
            }
            return m;
        }

        static Phase fromMap(Map<String, Object> map) {
            MapReader r = new MapReader("provenance.phases[]", map);
            Number bytes = r.number("cacheBytes");
            Number params = r.number("trainableParams");
            return new Phase(r.string("name"), r.string("status"), r.integer("epochs", 0),
                    Boolean.TRUE.equals(r.bool("featureCache")), r.real("cacheSeconds", 0),
                    bytes == null ? 0 : bytes.longValue(), params == null ? 0 : params.longValue(),
                    r.integer("batchSize", 0), r.real("headLr", 0));
        }
    }

    /** How training went: every epoch, how it ended, and the epoch whose weights the model carries. */
    public record Result(List<EpochStats> history, String status, Integer selectedEpoch, EpochStats metrics) {
        public Result {
            history = history == null ? List.of() : List.copyOf(history);
        }
    }

    /** The provenance of a run about to start (no result yet). */
    public static Provenance of(String data, double valSplit, String augment, Boolean cache, Boolean strict,
                                int trainImages, int valImages, TrainConfig config, Transfer transfer) {
        return new Provenance(data, valSplit, augment, cache, strict, trainImages, valImages, config,
                TrainJob.VERSION, java.time.Instant.now().toString(), transfer, null);
    }

    public Provenance withResult(Result r) {
        return new Provenance(data, valSplit, augment, cache, strict, trainImages, valImages, config, version,
                createdAt, transfer, r);
    }

    public Provenance withTransfer(Transfer t) {
        return new Provenance(data, valSplit, augment, cache, strict, trainImages, valImages, config, version,
                createdAt, t, result);
    }

    /** Every epoch of training (empty before training ends). */
    public List<EpochStats> history() {
        return result == null ? List.of() : result.history();
    }

    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("data", data);
        if (transfer != null) {
            m.put("base", transfer.base());
            m.put("baseArchitecture", transfer.baseArchitecture());
            if (transfer.baseLabels() != null) {
                m.put("baseLabels", transfer.baseLabels());
            }
            m.put("strategy", transfer.strategy());
            m.put("cut", transfer.cut());
            m.put("head", transfer.head());
            m.put("unfreezeFrom", transfer.unfreezeFrom());
            m.put("baseLr", transfer.baseLr());
            if (transfer.baseLrLow() > 0) {
                m.put("baseLrLow", transfer.baseLrLow());
            }
            m.put("frozenEpochs", transfer.frozenEpochs());
            if (transfer.headBatchSize() > 0) {
                m.put("headBatchSize", transfer.headBatchSize());
            }
            if (transfer.headPool() != null) {
                m.put("headPool", transfer.headPool());
                m.put("headHidden", transfer.headHidden());
                m.put("headDropout", transfer.headDropout());
            }
        }
        m.put("valSplit", valSplit);
        m.put("augment", augment);
        if (cache != null) {
            m.put("cache", cache);
        }
        if (strict != null) {
            m.put("strict", strict);
        }
        m.put("trainImages", trainImages);
        m.put("valImages", valImages);
        if (config != null) {
            m.put("config", config.toMap());
        }
        m.put("version", version);
        m.put("createdAt", createdAt);
        if (transfer != null && !transfer.phases().isEmpty()) {
            m.put("phases", transfer.phases().stream().map(Phase::toMap).toList());
        }
        if (result != null) {
            m.put("epochs", result.history().size());
            m.put("history", result.history().stream().map(EpochStats::toMap).toList());
            m.put("status", result.status());
            if (result.selectedEpoch() != null) {
                m.put("selectedEpoch", result.selectedEpoch());
            }
            if (result.metrics() != null) {
                m.put("metrics", result.metrics().toMap());
            }
        }
        return m;
    }

    /** Reads what {@link #toMap()} writes; missing keys (older bundles) become null, 0 or empty. */
    public static Provenance fromMap(Map<String, Object> map) {
        MapReader r = new MapReader("provenance", map);
        Transfer t = null;
        if (r.has("base") || r.has("strategy")) {
            t = new Transfer(r.string("base"), r.string("baseArchitecture"), r.strings("baseLabels"),
                    r.string("strategy"), r.string("cut"), r.strings("head"), r.string("unfreezeFrom"),
                    r.real("baseLr", 0), r.integer("frozenEpochs", 0), r.objects("phases", Phase::fromMap),
                    r.integer("headBatchSize", 0), r.string("headPool"), r.integer("headHidden", 0),
                    r.real("headDropout", 0), r.real("baseLrLow", 0));
        }
        Result res = null;
        if (r.has("history") || r.has("status")) {
            Map<String, Object> metrics = r.object("metrics");
            Number selected = r.number("selectedEpoch");
            res = new Result(r.objects("history", EpochStats::fromMap), r.string("status"),
                    selected == null ? null : selected.intValue(), metrics == null ? null : EpochStats.fromMap(metrics));
        }
        Map<String, Object> cfg = r.object("config");
        return new Provenance(r.string("data"), r.real("valSplit", 0), r.string("augment"), r.bool("cache"),
                r.bool("strict"), r.integer("trainImages", 0), r.integer("valImages", 0),
                cfg == null ? null : TrainConfig.fromMap(cfg), r.string("version"), r.string("createdAt"), t, res);
    }

    /** Settings worth showing a reader (reports): data, transfer, result and config, flat. */
    public Map<String, Object> summary() {
        Map<String, Object> all = toMap();
        Map<String, Object> s = new LinkedHashMap<>();
        for (String k : List.of("data", "base", "strategy", "cut", "trainImages", "valImages", "augment", "epochs",
                "selectedEpoch", "status", "version", "createdAt")) {
            if (all.get(k) != null) {
                s.put(k, all.get(k));
            }
        }
        if (config != null) {
            for (Map.Entry<String, Object> e : config.toMap().entrySet()) {
                s.put("config." + e.getKey(), e.getValue());
            }
        }
        return s;
    }
}
