package dev.cnn.cli;

import dev.cnn.core.CnnException;
import dev.cnn.core.Json;
import dev.cnn.transfer.PretrainedWeights;
import dev.cnn.transfer.weights.Pretrained;
import dev.cnn.transfer.weights.TorchImport;
import dev.cnn.transfer.weights.Weights;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** {@code cnn import}: models from elsewhere as cnn bundles. */
@Command(name = "import", description = "Make cnn models from weights published elsewhere.", mixinStandardHelpOptions = true,
        subcommands = {ImportCommand.WeightsCmd.class})
final class ImportCommand implements Runnable {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    @Command(name = "weights", description = "A zoo network with PyTorch (.pth/.pt) or safetensors weights, as a "
            + "model.zip for classify, evaluate or finetune --base.",
            footer = {"", "Examples:",
                    "  cnn import weights --model resnet18 --output resnet18.zip            (downloads torchvision's)",
                    "  cnn import weights --model resnet50 --weights resnet50-11ad3fa6.pth --output r50.zip",
                    "  cnn import weights --model vgg16_bn --weights my.safetensors --labels classes.txt -o m.zip",
                    "", "Names are torchvision's (and timm's); the bundle keeps the weights' evaluation transform.",
                    "Downloads go to $CNN_CACHE_DIR (default ~/.cnn/weights); $CNN_WEIGHTS_URL names a mirror."})
    static final class WeightsCmd extends BaseCommand {
        @picocli.CommandLine.Mixin
        FormatOptions formatOptions;
        @Option(names = "--model", required = true, paramLabel = "NAME",
                description = "Zoo architecture (see cnn models), optionally NAME:TAG for one of its published weights.")
        String model;
        @Option(names = "--weights", paramLabel = "FILE",
                description = "Weights file (offline); default: download the published weights.")
        Path weights;
        @Option(names = "--labels", paramLabel = "imagenet|FILE",
                description = "Class names: imagenet, or a file with one per line (fewer than the file's classes: "
                        + "a new head). Default: the weights' own.")
        String labels;
        @Option(names = {"-o", "--output"}, required = true, description = "Model file to write.")
        Path output;

        @Override
        public Integer call() throws IOException {
            Format format = formatOptions.require(Format.table, Format.json);
            String name = model.toLowerCase(java.util.Locale.ROOT);
            String arch = name.split(":", 2)[0];
            dev.cnn.zoo.ModelRegistry.get(arch); // exit 2 with suggestions on a typo
            Weights entry = Pretrained.find(name).orElse(null);
            if (entry == null && (weights == null || name.contains(":"))) {
                throw Pretrained.unknown(name);
            }
            List<String> names = labels == null ? null : labels.equalsIgnoreCase("imagenet")
                    ? Weights.imagenetLabels() : readLabels(Path.of(labels));
            TorchImport.Result r;
            if (entry != null) {
                PretrainedWeights downloader = PretrainedWeights.fromEnvironment()
                        .withProgress(Progress.download(err()));
                r = Pretrained.load(entry, weights, downloader, names);
            } else {
                if (!Files.isRegularFile(weights)) {
                    throw CnnException.data("--weights " + weights + ": no such file");
                }
                r = TorchImport.run(new TorchImport.Request(arch, weights, null, names, weights.toString()));
            }
            r.bundle().save(output, false);
            var m = r.bundle().metadata();
            if (format == Format.json) {
                Map<String, Object> doc = new LinkedHashMap<>();
                doc.put("output", output.toString());
                doc.put("model", arch);
                doc.put("weights", entry != null ? entry.id() : null);
                doc.put("format", r.format().name().toLowerCase(java.util.Locale.ROOT));
                doc.put("tensors", r.report().tensors());
                doc.put("values", r.report().values());
                doc.put("names", r.report().matchedNames());
                doc.put("classes", m.numClasses());
                doc.put("newHead", r.newHead());
                doc.put("preprocess", m.preprocess().toMap());
                out().println(Json.pretty(doc));
            } else {
                out().printf("saved %s (%s, %d classes%s; %d tensors, %,d values from a %s file, %s names)%n",
                        output, arch, m.numClasses(), r.newHead() ? ", new head: finetune it" : "",
                        r.report().tensors(), r.report().values(), r.format().name().toLowerCase(
                                java.util.Locale.ROOT).replace('_', ' '), r.report().matchedNames());
                var p = m.preprocess();
                out().printf("input: %s, shorter side %d then centre %dx%d, %s normalisation%n",
                        p.order().name(), p.resizeShorter(), p.height(), p.width(),
                        java.util.Arrays.equals(p.normalization().mean(), dev.cnn.data.Normalization.imagenet().mean())
                                ? "ImageNet" : "own");
                out().printf("try: ./cnn classify --model %s IMAGE_OR_FOLDER%n", output);
            }
            return ExitCodes.OK;
        }

        private static List<String> readLabels(Path f) {
            try {
                List<String> l = Files.readAllLines(f).stream().map(String::strip).filter(s -> !s.isEmpty()).toList();
                if (l.size() < 2) {
                    throw CnnException.usage("--labels " + f + ": needs at least 2 class names, one per line");
                }
                if (l.stream().distinct().count() != l.size()) {
                    throw CnnException.usage("--labels " + f + ": class names repeat");
                }
                return l;
            } catch (IOException e) {
                throw CnnException.data("--labels " + f + ": cannot read (" + e.getMessage() + ")", e);
            }
        }
    }
}
