package dev.cnn.core;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Settings of one training run. Build with {@link #builder()}; {@link Builder#build()} validates every value and
 * fails with a message naming the option.
 */
public record TrainConfig(int epochs, int batchSize, double lr, Optimizer optimizer, double momentum,
                          boolean nesterov, double weightDecay, LrSchedule.Kind schedule, double warmupEpochs,
                          int stepEpochs, double stepGamma, double labelSmoothing, long seed,
                          int earlyStoppingPatience, Path output, Path checkpointDir) {

    public enum Optimizer { ADAM, ADAMW, SGD }

    public static Builder builder() {
        return new Builder();
    }

    /** A builder holding this configuration's values, to derive a variant (another phase, another rate). */
    public Builder toBuilder() {
        return builder().epochs(epochs).batchSize(batchSize).lr(lr).optimizer(optimizer).momentum(momentum)
                .nesterov(nesterov).weightDecay(weightDecay).schedule(schedule).warmupEpochs(warmupEpochs)
                .stepEpochs(stepEpochs).stepGamma(stepGamma).labelSmoothing(labelSmoothing).seed(seed)
                .earlyStoppingPatience(earlyStoppingPatience).output(output).checkpointDir(checkpointDir);
    }

    /** These settings without the output paths, as a bundle stores them. */
    public TrainConfig withoutPaths() {
        return new TrainConfig(epochs, batchSize, lr, optimizer, momentum, nesterov, weightDecay, schedule,
                warmupEpochs, stepEpochs, stepGamma, labelSmoothing, seed, earlyStoppingPatience, null, null);
    }

    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("epochs", epochs);
        m.put("batchSize", batchSize);
        m.put("lr", lr);
        m.put("optimizer", optimizer.name().toLowerCase(Locale.ROOT));
        m.put("momentum", momentum);
        m.put("nesterov", nesterov);
        m.put("weightDecay", weightDecay);
        m.put("schedule", schedule.name().toLowerCase(Locale.ROOT));
        m.put("warmupEpochs", warmupEpochs);
        m.put("stepEpochs", stepEpochs);
        m.put("stepGamma", stepGamma);
        m.put("labelSmoothing", labelSmoothing);
        m.put("seed", seed);
        m.put("earlyStoppingPatience", earlyStoppingPatience);
        return m;
    }

    /**
     * Reads what {@link #toMap()} writes (a bundle's {@code config}): the settings without the output paths, which
     * are null until {@link #toBuilder()} sets them. Missing keys keep the builder's defaults.
     */
    public static TrainConfig fromMap(Map<String, Object> map) {
        MapReader r = new MapReader("config", map);
        Builder d = builder();
        String opt = r.string("optimizer");
        String sched = r.string("schedule");
        Number seed = r.number("seed");
        return new TrainConfig(r.integer("epochs", d.epochs), r.integer("batchSize", d.batchSize),
                r.real("lr", d.lr), opt == null ? d.optimizer : Optimizer.valueOf(opt.toUpperCase(Locale.ROOT)),
                r.real("momentum", d.momentum), r.has("nesterov") ? r.bool("nesterov") : d.nesterov,
                r.real("weightDecay", d.weightDecay),
                sched == null ? d.schedule : LrSchedule.Kind.valueOf(sched.toUpperCase(Locale.ROOT)),
                r.real("warmupEpochs", d.warmupEpochs), r.integer("stepEpochs", d.stepEpochs),
                r.real("stepGamma", d.stepGamma), r.real("labelSmoothing", d.labelSmoothing),
                seed == null ? d.seed : seed.longValue(), r.integer("earlyStoppingPatience", d.patience), null, null);
    }

    public static final class Builder {
        private int epochs = 10;
        private int batchSize = 64;
        private double lr = 1e-3;
        private Optimizer optimizer = Optimizer.ADAM;
        private double momentum = 0.9;
        private boolean nesterov = true;
        private double weightDecay = 0;
        private LrSchedule.Kind schedule = LrSchedule.Kind.COSINE;
        private double warmupEpochs = 0;
        private int stepEpochs = 10;
        private double stepGamma = 0.1;
        private double labelSmoothing = 0;
        private long seed = 42;
        private int patience = 0;
        private Path output;
        private Path checkpointDir;

        public Builder epochs(int v) { epochs = v; return this; }
        public Builder batchSize(int v) { batchSize = v; return this; }
        public Builder lr(double v) { lr = v; return this; }
        public Builder optimizer(Optimizer v) { optimizer = v; return this; }
        public Builder momentum(double v) { momentum = v; return this; }
        public Builder nesterov(boolean v) { nesterov = v; return this; }
        public Builder weightDecay(double v) { weightDecay = v; return this; }
        public Builder schedule(LrSchedule.Kind v) { schedule = v; return this; }
        public Builder warmupEpochs(double v) { warmupEpochs = v; return this; }
        public Builder stepEpochs(int v) { stepEpochs = v; return this; }
        public Builder stepGamma(double v) { stepGamma = v; return this; }
        public Builder labelSmoothing(double v) { labelSmoothing = v; return this; }
        public Builder seed(long v) { seed = v; return this; }
        public Builder earlyStoppingPatience(int v) { patience = v; return this; }
        public Builder output(Path v) { output = v; return this; }
        /** Where last/best checkpoints go; default: {@code <output>.checkpoints/}. */
        public Builder checkpointDir(Path v) { checkpointDir = v; return this; }

        public TrainConfig build() {
            req(epochs >= 1, "--epochs must be >= 1, got " + epochs);
            req(batchSize >= 1, "--batch-size must be >= 1, got " + batchSize);
            req(lr > 0 && lr < 10, "--lr must be in (0, 10), got " + lr);
            req(optimizer != null, "--optimizer is required");
            req(momentum >= 0 && momentum < 1, "--momentum must be in [0, 1), got " + momentum);
            req(optimizer != Optimizer.SGD || momentum == 0 || nesterov,
                    "DL4J has Nesterov momentum only: use --nesterov or --momentum 0 with --optimizer sgd");
            req(weightDecay >= 0, "--weight-decay must be >= 0, got " + weightDecay);
            req(schedule != null, "--schedule is required");
            req(warmupEpochs >= 0 && warmupEpochs < epochs, "--warmup must be in [0, epochs), got " + warmupEpochs);
            req(stepEpochs >= 1, "--step-epochs must be >= 1");
            req(stepGamma > 0 && stepGamma <= 1, "--step-gamma must be in (0, 1]");
            req(labelSmoothing >= 0 && labelSmoothing < 1, "--label-smoothing must be in [0, 1)");
            req(patience >= 0, "--early-stopping must be >= 0");
            req(output != null, "--output is required");
            Path ckpt = checkpointDir != null ? checkpointDir
                    : output.toAbsolutePath().resolveSibling(output.getFileName() + ".checkpoints");
            return new TrainConfig(epochs, batchSize, lr, optimizer, momentum, nesterov, weightDecay, schedule,
                    warmupEpochs, stepEpochs, stepGamma, labelSmoothing, seed, patience, output, ckpt);
        }

        private static void req(boolean ok, String msg) {
            if (!ok) {
                throw CnnException.usage(msg);
            }
        }
    }
}
