package dev.cnn.examples;

import dev.cnn.core.EpochStats;
import dev.cnn.core.TrainConfig;
import dev.cnn.core.TrainJob;
import dev.cnn.core.Trainer;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Trains a zoo network on a folder of images (one sub-folder per class), printing each epoch from a callback.
 * <pre>{@code java ... dev.cnn.examples.TrainOnAFolder photos/ model.zip}</pre>
 * The folder may also be {@code builtin:shapes} (generated images, no download).
 */
public final class TrainOnAFolder {
    private TrainOnAFolder() {
    }

    public static List<EpochStats> train(String data, Path output, int epochs, int imageSize) {
        TrainConfig config = TrainConfig.builder().epochs(epochs).lr(3e-3).output(output).build();
        TrainJob.Request request = TrainJob.Request.of(data, "simplecnn", config).withInput(imageSize, 3);
        List<EpochStats> seen = new ArrayList<>();
        Trainer.Callback progress = new Trainer.Callback() {
            @Override
            public void onEpochEnd(Trainer.Loop loop, EpochStats s) {
                seen.add(s);
                System.out.printf("epoch %d: train loss %.3f, validation top-1 %.3f%n", s.epoch(), s.trainLoss(),
                        s.top1());
            }
        };
        TrainJob.Outcome outcome = TrainJob.run(request, progress, null);
        System.out.println(outcome.result().status() + ": " + outcome.output());
        return seen;
    }

    public static void main(String[] args) {
        train(args.length > 0 ? args[0] : "builtin:shapes", Path.of(args.length > 1 ? args[1] : "model.zip"), 5, 32);
    }
}
