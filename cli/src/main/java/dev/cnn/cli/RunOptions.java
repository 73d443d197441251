package dev.cnn.cli;

import dev.cnn.core.LrSchedule;
import dev.cnn.core.TrainConfig;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** Options shared by the commands that train ({@code train}, {@code finetune}): optimizer, schedule, data, output. */
public class RunOptions {
    @Option(names = "--optimizer", defaultValue = "adam", description = "adam, adamw or sgd (default: ${DEFAULT-VALUE}).")
    TrainConfig.Optimizer optimizer;
    @Option(names = "--momentum", defaultValue = "0.9", description = "SGD momentum (default: ${DEFAULT-VALUE}).")
    double momentum;
    @Option(names = "--no-nesterov", defaultValue = "true", negatable = true,
            description = "Plain momentum instead of Nesterov for sgd.")
    boolean nesterov;
    @Option(names = "--weight-decay", defaultValue = "0", description = "L2 (adam, sgd) or decoupled (adamw).")
    double weightDecay;
    @Option(names = "--schedule", defaultValue = "cosine", description = "constant, step or cosine (default: ${DEFAULT-VALUE}).")
    LrSchedule.Kind schedule;
    @Option(names = "--warmup", defaultValue = "0", description = "Warm-up epochs (fractions allowed).")
    double warmup;
    @Option(converter = Ranges.Positive.class, names = "--step-epochs", defaultValue = "10", description = "Step schedule: epochs per decay.")
    int stepEpochs;
    @Option(names = "--step-gamma", defaultValue = "0.1", description = "Step schedule: decay factor.")
    double stepGamma;
    @Option(names = "--label-smoothing", defaultValue = "0", description = "Default: ${DEFAULT-VALUE}.")
    double labelSmoothing;
    @Option(names = "--augment", defaultValue = "none",
            description = "Training augmentation, e.g. flip,crop:0.8,rotate:15,jitter:0.2 (default: ${DEFAULT-VALUE}).")
    String augment;
    /** NaN: {@link dev.cnn.data.DataSource#AUTO_VAL_SPLIT}. */
    @Option(names = "--val-split", defaultValue = "NaN", paramLabel = "FRACTION",
            description = "Held-out fraction when there is no val/ folder (default: 0.2; none when the data has "
                    + "under 100 images a class: training then uses all and keeps the last epoch).")
    double valSplit;
    @Option(names = "--seed", defaultValue = "42", description = "Default: ${DEFAULT-VALUE}.")
    long seed;
    @Option(names = "--early-stopping", defaultValue = "0", paramLabel = "PATIENCE",
            description = "Stop after PATIENCE epochs without validation improvement (0: off).")
    int patience;
    @Option(names = "--cache", description = "Keep decoded images in memory (always on for builtin data).")
    boolean cache;
    @Option(converter = Ranges.Workers.class, names = "--workers", defaultValue = "auto", description = "Image decoding threads, 1 to 256 or auto: one per core, at most 8 (default: ${DEFAULT-VALUE}).")
    int workers;
    @Option(names = "--strict", description = "Fail (exit 3) on the first unreadable image instead of skipping it.")
    boolean strict;
    @Option(names = "--no-report", defaultValue = "true", negatable = true,
            description = "Skip <model>.report.html (curves, confusion matrix, misclassified images).")
    boolean report;

    /** The run's training configuration (validated by {@link TrainConfig.Builder#build()}). */
    TrainConfig config(int epochs, int batchSize, double lr, Path output) {
        return TrainConfig.builder().epochs(epochs).batchSize(batchSize).lr(lr).optimizer(optimizer)
                .momentum(optimizer == TrainConfig.Optimizer.SGD ? momentum : 0).nesterov(nesterov)
                .weightDecay(weightDecay).schedule(schedule).warmupEpochs(warmup).stepEpochs(stepEpochs)
                .stepGamma(stepGamma).labelSmoothing(labelSmoothing).seed(seed).earlyStoppingPatience(patience)
                .output(output).build();
    }
}
