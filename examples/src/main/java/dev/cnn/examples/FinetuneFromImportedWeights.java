package dev.cnn.examples;

import dev.cnn.core.TrainConfig;
import dev.cnn.transfer.FinetuneJob;

import java.nio.file.Path;

/**
 * Transfer learning: a new head on a pretrained base, trained on your folder.
 * <pre>{@code
 * # torchvision's ResNet-18 weights, downloaded once by you (or fetched into the cache when online)
 * java ... dev.cnn.examples.FinetuneFromImportedWeights photos/ zoo:resnet18:imagenet resnet18-f37072fd.pth
 * # or a bundle you trained or imported (cnn import)
 * java ... dev.cnn.examples.FinetuneFromImportedWeights photos/ model.zip
 * }</pre>
 */
public final class FinetuneFromImportedWeights {
    private FinetuneFromImportedWeights() {
    }

    public static FinetuneJob.Outcome finetune(String data, String base, Path weights, Path output, int epochs) {
        FinetuneJob.Strategy strategy = FinetuneJob.Strategy.GRADUAL;
        TrainConfig config = TrainConfig.builder().epochs(epochs).batchSize(32).lr(strategy.defaultHeadLr())
                .output(output).build(); // the head's rate: cnn finetune's default for the strategy
        FinetuneJob.Request request = FinetuneJob.Request.of(data, base, strategy, config);
        if (weights != null) {
            request = request.withWeights(weights);
        }
        FinetuneJob.Outcome outcome = FinetuneJob.run(request, new FinetuneJob.Listener() {
            @Override
            public void onPhase(String name, String description) {
                System.out.println(name + ": " + description);
            }
        }, null);
        System.out.println(outcome.status() + ", cut at '" + outcome.cut() + "': " + output);
        return outcome;
    }

    public static void main(String[] args) {
        if (args.length < 2) {
            System.err.println("usage: FinetuneFromImportedWeights DATA BASE [WEIGHTS.pth]");
            System.exit(2);
        }
        finetune(args[0], args[1], args.length > 2 ? Path.of(args[2]) : null, Path.of("finetuned.zip"), 5);
    }
}
