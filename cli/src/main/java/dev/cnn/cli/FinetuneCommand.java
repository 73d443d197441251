package dev.cnn.cli;

import dev.cnn.core.LrFinder;

import dev.cnn.core.BundleMetadata;
import dev.cnn.core.EpochStats;
import dev.cnn.core.ModelBundle;
import dev.cnn.core.OutputLock;
import dev.cnn.core.Provenance;
import dev.cnn.core.LrSchedule;
import dev.cnn.core.TrainConfig;
import dev.cnn.core.Trainer;
import dev.cnn.transfer.FinetuneJob;
import dev.cnn.transfer.PretrainedWeights;
import dev.cnn.zoo.LayerInfo;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** {@code cnn finetune}: transfer a trained network (a bundle or ImageNet weights) to new classes. */
@Command(name = "finetune", description = "Reuse a trained network for new classes (feature extraction or finetuning).",
        footer = {"", "Strategies:",
                "  feature-extraction  freeze the base up to --cut, train a new head only (features cached once)",
                "  finetune            new head, then train end to end (--base-lr for the base, --lr for the head,",
                "                      0.002 by default)",
                "  gradual             fastai fine_tune: head only for --frozen-epochs, then unfreeze and train",
                "                      --epochs more (head at --lr/5, base at --base-lr)",
                "  feature-extraction is the fastest and best where the base's features fit; gradual where they fit less",
                "", "Examples:",
                "  cnn finetune --base model.zip --data photos/ --strategy feature-extraction --epochs 5",
                "  cnn finetune --base zoo:resnet18:imagenet --data photos/ --strategy gradual --epochs 3",
                "  cnn finetune --base zoo:resnet50 --weights resnet50-11ad3fa6.pth --data photos/   (offline)",
                "  cnn finetune --base zoo:vgg16:dl4j --weights vgg16_dl4j_inference.zip --data photos/",
                "  cnn finetune --base model.zip --list-layers",
                "", "zoo:NAME[:TAG] takes torchvision's published weights (cnn models lists them) into the zoo network;",
                "they are downloaded into $CNN_CACHE_DIR (default ~/.cnn/weights), from $CNN_WEIGHTS_URL when set."})
final class FinetuneCommand extends BaseCommand {
    @picocli.CommandLine.Mixin
    RunOptions run;
    @picocli.CommandLine.Mixin
    FormatOptions formatOptions;
    @Option(names = "--base", paramLabel = "MODEL",
            description = "A model.zip from cnn train/finetune, or zoo:NAME[:TAG] (published weights, e.g. zoo:resnet18:imagenet).")
    String base;
    @Option(names = "--weights", paramLabel = "FILE", description = "The zoo: base's weights on disk (.pth, .safetensors; offline).")
    Path weights;
    @Option(names = "--data", description = "Image folder of the new task (default: builtin:shapes).",
            defaultValue = "builtin:shapes")
    String data;
    @Option(names = "--strategy", defaultValue = "feature-extraction",
            description = "feature-extraction, finetune or gradual (default: ${DEFAULT-VALUE}).")
    String strategy;
    @Option(names = "--cut", paramLabel = "LAYER", description = "Last base layer kept (default: the layer before the classifier).")
    String cut;
    @Option(names = "--head-pool", paramLabel = "avg|max|flatten", defaultValue = "avg",
            description = "How the new head reads a convolutional --cut: the average or maximum of each channel, or "
                    + "every position (flatten) (default: ${DEFAULT-VALUE}; max and flatten need a convolutional cut).")
    String headPool;
    @Option(names = "--head-hidden", paramLabel = "UNITS", defaultValue = "0",
            description = "A dense ReLU layer of UNITS before the new classifier (default: none).")
    int headHidden;
    @Option(names = "--head-dropout", paramLabel = "P", defaultValue = "0",
            description = "Dropout probability on the new classifier's input (default: ${DEFAULT-VALUE}).")
    double headDropout;
    @Option(names = "--unfreeze-from", paramLabel = "LAYER", description = "Train from this layer up; keep the layers below frozen.")
    String unfreezeFrom;
    @Option(converter = Ranges.Positive.class, names = "--epochs", defaultValue = "5", description = "Epochs (for gradual: after the frozen ones) (default: ${DEFAULT-VALUE}).")
    int epochs;
    @Option(converter = Ranges.Positive.class, names = "--frozen-epochs", defaultValue = "1", description = "gradual: head-only epochs first (default: ${DEFAULT-VALUE}).")
    int frozenEpochs;
    @Option(names = {"--lr", "--head-lr"}, converter = Ranges.LearningRate.class,
            description = "Head learning rate, or auto: the lr range test's suggestion (default: 0.01; finetune: "
                    + "0.002, as gradual's head once the base trains, unless --base-lr is 0).")
    Double lr;
    @Option(names = "--lr-find", description = "Run the learning-rate range test (fastai's lr_find) on what the "
            + "first phase trains: loss curve <output>.lr-find.png and a suggested --lr; trains nothing.")
    boolean lrFind;
    @Option(names = "--base-lr", paramLabel = "LR|LO:HI", defaultValue = "0.001",
            converter = Ranges.BaseLearningRate.class, description = "Base learning rate when it trains, or LO:HI: "
            + "LO at its first layer, rising layer by layer to HI at the cut, like fastai's slice(lo, hi); below 10 "
            + "(default: ${DEFAULT-VALUE}).")
    Ranges.BaseRates baseLr;
    @Option(converter = Ranges.Positive.class, names = "--batch-size", defaultValue = "32", description = "Default: "
            + "${DEFAULT-VALUE}; on small data, phases that train no batch-norm layer (the head on a frozen base) "
            + "take smaller batches (at least 8 steps an epoch, batches of at least 8).")
    int batchSize;
    @Option(names = "--no-feature-cache", defaultValue = "true", negatable = true,
            description = "Compute frozen features once (default: on, unless --augment).")
    boolean featureCache;
    @Option(names = {"-o", "--output"}, defaultValue = "finetuned.zip", description = "Model file (default: ${DEFAULT-VALUE}).")
    Path output;
    @Option(names = "--list-layers", description = "Print the base's layers (names for --cut/--unfreeze-from) and exit.")
    boolean listLayers;
    @Option(names = "--resume", paramLabel = "CHECKPOINT", description = "Continue an interrupted run from its "
            + "checkpoint (<output>.checkpoints/last.zip, or .../frozen/last.zip in gradual's first phase) with its own "
            + "settings and output; --epochs, --output and --workers may change.")
    Path resume;

    /** Options that may be given with --resume (the rest are the run's own settings, recorded in the checkpoint). */
    private static final java.util.Set<String> RESUMABLE = java.util.Set.of("--resume", "--epochs", "--output",
            "--workers", "--format", "--no-report", "--report", "--verbose", "--help");

    private Integer resume(Format format) {
        refuseOnResume(RESUMABLE, "--epochs, --output and --workers");
        java.util.Set<String> explicit = givenOptions();
        FinetuneJob.Resume r = new FinetuneJob.Resume(resume, explicit.contains("--epochs") ? epochs : null,
                explicit.contains("--output") ? output : null, run.workers);
        BundleMetadata m = ModelBundle.readMetadata(resume);
        if (m.provenance() == null || m.provenance().transfer() == null) {
            throw dev.cnn.core.CnnException.model(resume + ": not a finetune checkpoint"
                    + (m.training() != null ? " (a cnn train checkpoint: use cnn train --resume)" : ""));
        }
        Provenance.Transfer t = m.provenance().transfer();
        FinetuneJob.Strategy s = FinetuneJob.Strategy.parse(t.strategy());
        FinetuneJob.Base b = new FinetuneJob.Base(null, t.baseArchitecture(), m.preprocess(), t.base(), null);
        output = FinetuneJob.resumeOutput(r);
        TrainingRun tr = new TrainingRun(out(), err(), "cnn finetune");
        err().printf("cnn finetune: resuming %s (%s from %s) into %s%n", resume, s.cliName(), t.base(), output);
        err().flush();
        return report(format, s, b, tr, tr.execute(onTrainer -> FinetuneJob.resume(r, tr, onTrainer)));
    }

    @Override
    public Integer call() {
        Format format = formatOptions.require(Format.table, Format.json);
        if (resume != null) {
            return resume(format);
        }
        if (base == null) {
            throw dev.cnn.core.CnnException.usage("--base is required: a model.zip from cnn train, or "
                    + "zoo:NAME:imagenet (or --resume CHECKPOINT)");
        }
        FinetuneJob.Strategy s = FinetuneJob.Strategy.parse(strategy);
        FinetuneJob.HeadOptions head = head(); // before a base is loaded or downloaded
        PretrainedWeights downloader = PretrainedWeights.fromEnvironment().withProgress(Progress.download(err()));
        FinetuneJob.Base b = FinetuneJob.loadBase(base, weights, downloader);
        if (listLayers) {
            out().printf("%-28s %-22s %12s  %s%n", "layer", "type", "params", "inputs");
            for (LayerInfo l : FinetuneJob.layers(b)) {
                out().printf("%-28s %-22s %,12d  %s%n", l.name(), l.type(), l.numParams(), String.join(",", l.inputs()));
            }
            return ExitCodes.OK;
        }
        if (lr == null) {
            lr = s.defaultHeadLr(baseLr.high());
        }
        if (lrFind || Double.isNaN(lr)) {
            FinetuneJob.Request probe = new FinetuneJob.Request(data, base, weights, s, cut, unfreezeFrom,
                    baseLr.high(), frozenEpochs, featureCache, run.augment, run.valSplit, run.strict, run.cache, run.workers,
                    run.config(epochs, batchSize, 1e-3, output), autoBatch(), head, baseLr.low());
            LrFinder.Result r = LrFindRun.sweep(err(), step -> FinetuneJob.lrFind(probe, b, step));
            if (lrFind) {
                return LrFindRun.report(r, output, format, out(), "cnn finetune");
            }
            lr = r.suggestion();
            err().printf(java.util.Locale.ROOT, "cnn finetune: --lr auto: %.2g (lr range test, %d steps)%n", lr,
                    r.lrs().size());
        }
        TrainConfig cfg = run.config(epochs, batchSize, lr, output);
        FinetuneJob.Request req = new FinetuneJob.Request(data, base, weights, s, cut, unfreezeFrom, baseLr.high(),
                frozenEpochs, featureCache, run.augment, run.valSplit, run.strict, run.cache, run.workers, cfg,
                autoBatch(), head, baseLr.low());
        TrainingRun tr = new TrainingRun(out(), err(), "cnn finetune");
        err().printf("cnn finetune: %s from %s on %s (%s)%n", s.cliName(), b.source(), data,
                s == FinetuneJob.Strategy.GRADUAL ? frozenEpochs + " frozen + " + epochs + " epochs" : epochs + " epochs");
        err().flush();
        // the model, its checkpoints, epoch log and report come from one run
        try (OutputLock lock = OutputLock.acquire(output, "cnn finetune")) {
            return report(format, s, b, tr, tr.execute(onTrainer -> FinetuneJob.run(req, b, tr, onTrainer)));
        }
    }

    /** The new head's shape from --head-pool, --head-hidden and --head-dropout. */
    private FinetuneJob.HeadOptions head() {
        try {
            return new FinetuneJob.HeadOptions(dev.cnn.transfer.HeadSpec.Pooling.parse(headPool), headHidden,
                    headDropout);
        } catch (IllegalArgumentException e) {
            throw dev.cnn.core.CnnException.usage("--head-pool: " + e.getMessage());
        }
    }

    private Integer report(Format format, FinetuneJob.Strategy s, FinetuneJob.Base b, TrainingRun tr,
                           FinetuneJob.Outcome o) {
        if (o.featureCacheNote() != null) {
            err().println("cnn: " + o.featureCacheNote());
        }
        tr.skipped(o.source().skipped());
        if (format == Format.json) {
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("status", o.status().name().toLowerCase());
            doc.put("output", output.toString());
            doc.put("cut", o.cut());
            doc.put("phases", o.phaseRecords().stream().map(Provenance.Phase::toMap).toList());
            doc.put("history", o.history().stream().map(EpochStats::toMap).toList());
            tr.json(doc);
        }
        Integer exit = tr.ended(o.status(), o.message(), "");
        if (exit != null) {
            return exit;
        }
        Path reportFile = run.report ? tr.report(o.bundle(), o.source().validation(), o.history(), output) : null;
        if (format == Format.table) {
            EpochStats last = o.history().isEmpty() ? null : o.history().get(o.history().size() - 1);
            out().printf("saved %s (%s from %s, cut at %s, %d classes%s)%n", output, s.cliName(), b.architecture(),
                    o.cut(), o.bundle().metadata().numClasses(), last == null || !Double.isFinite(last.top1()) ? ""
                            : String.format(", val top-1 %.4f", o.history().stream()
                            .mapToDouble(EpochStats::top1).max().orElse(Double.NaN)));
            for (FinetuneJob.Phase p : o.phases()) {
                out().printf("phase %-9s %d epoch(s), %,d trainable params%s%n", p.name(), p.result().history().size(),
                        p.trainableParams(), p.featureCache() ? String.format(", feature cache built in %.1fs (%.1f MB)",
                                p.cacheSeconds(), p.cacheBytes() / 1e6) : "");
            }
            out().printf("epoch log: %s%n", o.historyCsv());
            if (reportFile != null) {
                out().printf("report: %s%n", reportFile);
            }
            out().printf("try: ./cnn classify --model %s IMAGE_OR_FOLDER%n", output);
        }
        return ExitCodes.OK;
    }
}
