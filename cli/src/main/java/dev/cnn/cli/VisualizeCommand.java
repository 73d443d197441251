package dev.cnn.cli;

import dev.cnn.core.CnnException;
import dev.cnn.core.ModelBundle;
import dev.cnn.viz.Grid;
import dev.cnn.viz.NetPictures;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;

/** {@code cnn visualize}: pictures of what a network learned. */
@Command(name = "visualize", description = "Pictures of a trained network: filters, activations, saliency, top patches; training curves of runs (PNG).",
        mixinStandardHelpOptions = true,
        subcommands = {VisualizeCommand.Filters.class, VisualizeCommand.Activations.class,
                VisualizeCommand.Saliency.class, VisualizeCommand.TopPatchesCommand.class, VisualizeCommand.Curves.class})
final class VisualizeCommand implements Runnable {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    static void writePng(BufferedImage img, Path out) {
        try {
            dev.cnn.data.Importers.writePng(img, out.toAbsolutePath());
        } catch (IOException e) {
            throw CnnException.data("cannot write " + out + ": " + e.getMessage() + " (choose another --output)", e);
        }
    }

    @Command(name = "curves", description = "One metric of several runs per epoch, a line each, from their epoch "
            + "logs (<model>.history.csv).")
    static final class Curves extends BaseCommand {
        @picocli.CommandLine.Parameters(arity = "1..*", paramLabel = "HISTORY_CSV", description = "Epoch logs; a "
                + "line is named after its file (without .history.csv), or NAME=FILE.")
        java.util.List<String> files;
        @Option(names = "--metric", defaultValue = "train_loss",
                description = "A column of the epoch log: train_loss, val_loss, top1, top5, lr (default: ${DEFAULT-VALUE}).")
        String metric;
        @Option(names = "--title", defaultValue = "")
        String title;
        @Option(names = {"-o", "--output"}, defaultValue = "curves.png")
        Path output;

        @Override
        public Integer call() {
            java.util.Map<String, double[]> runs = new java.util.LinkedHashMap<>();
            for (String f : files) {
                int eq = f.indexOf('=');
                Path p = Path.of(eq > 0 ? f.substring(eq + 1) : f);
                String name = eq > 0 ? f.substring(0, eq) : p.getFileName().toString().replaceAll("\\.history\\.csv$", "");
                runs.put(name, column(p, metric));
            }
            writePng(dev.cnn.viz.Charts.curves(runs, metric, title), output);
            out().printf("wrote %s (%s of %d runs)%n", output, metric, runs.size());
            return ExitCodes.OK;
        }

        static double[] column(Path csv, String metric) {
            java.util.List<String> lines;
            try {
                lines = java.nio.file.Files.readAllLines(csv);
            } catch (IOException e) {
                throw CnnException.data(csv + ": cannot read (" + e.getMessage() + ")", e);
            }
            if (lines.isEmpty()) {
                throw CnnException.data(csv + ": empty; an epoch log (<model>.history.csv) was expected");
            }
            java.util.List<String> header = java.util.List.of(lines.get(0).split(","));
            int col = header.indexOf(metric);
            if (col < 0) {
                throw CnnException.usage("--metric " + metric + ": no such column in " + csv + " (" + header + ")");
            }
            double[] v = new double[lines.size() - 1];
            for (int i = 1; i < lines.size(); i++) {
                String[] c = lines.get(i).split(",");
                try {
                    v[i - 1] = c.length > col && !c[col].isEmpty() ? Double.parseDouble(c[col]) : Double.NaN;
                } catch (NumberFormatException e) {
                    throw CnnException.data(csv + ": line " + (i + 1) + " is not a number in column " + metric);
                }
            }
            return v;
        }
    }

    @Command(name = "filters", description = "Convolution kernels as a PNG grid (default: the first conv layer).")
    static final class Filters extends BaseCommand {
        @Option(names = {"-m", "--model"}, defaultValue = "model.zip")
        Path model;
        @Option(names = "--layer", description = "Convolution layer name (default: the first).")
        String layer;
        @Option(names = "--max-filters", defaultValue = "64")
        int maxFilters;
        @Option(names = "--max-channels", defaultValue = "16", description = "Input channels shown per filter beyond RGB.")
        int maxChannels;
        @Option(names = {"-o", "--output"}, defaultValue = "filters.png")
        Path output;

        @Override
        public Integer call() {
            Grid.Picture p = NetPictures.filters(ModelBundle.load(model, false), layer, maxFilters, maxChannels);
            writePng(p.image(), output);
            out().printf("wrote %s (%s, %d tiles, %dx%d px)%n", output, p.layer(), p.tiles(), p.image().getWidth(),
                    p.image().getHeight());
            return ExitCodes.OK;
        }
    }

    @Command(name = "activations", description = "Feature maps of a layer for one image, next to the input (PNG).")
    static final class Activations extends BaseCommand {
        @Option(names = {"-m", "--model"}, defaultValue = "model.zip")
        Path model;
        @Option(names = "--image", required = true)
        Path image;
        @Option(names = "--layer", description = "Layer name (default: the first conv layer).")
        String layer;
        @Option(names = "--max-maps", defaultValue = "64")
        int maxMaps;
        @Option(names = {"-o", "--output"}, defaultValue = "activations.png")
        Path output;

        @Override
        public Integer call() {
            Grid.Picture p = NetPictures.activations(ModelBundle.load(model, false), image, layer, maxMaps);
            writePng(p.image(), output);
            out().printf("wrote %s (%s, %d tiles incl. the input)%n", output, p.layer(), p.tiles());
            return ExitCodes.OK;
        }
    }

    @Command(name = "saliency", description = "Grad-CAM overlay: where the network looked for its top class (PNG).")
    static final class Saliency extends BaseCommand {
        @Option(names = {"-m", "--model"}, defaultValue = "model.zip")
        Path model;
        @Option(names = "--image", required = true)
        Path image;
        @Option(names = "--layer", description = "Convolutional layer to explain (default: the last one).")
        String layer;
        @Option(names = {"-o", "--output"}, defaultValue = "saliency.png")
        Path output;

        @Override
        public Integer call() {
            NetPictures.Saliency s = NetPictures.gradCam(ModelBundle.load(model, false), image, layer);
            writePng(s.image(), output);
            out().printf("wrote %s (top class %s %.4f, Grad-CAM at %s)%n", output, s.label(), s.probability(),
                    s.layer());
            return ExitCodes.OK;
        }
    }

    @Command(name = "top-patches", description = "What units respond to (Zeiler and Fergus 2013): for each of the "
            + "first channels of a layer, the dataset patches (receptive fields) that activate it most (PNG).")
    static final class TopPatchesCommand extends BaseCommand {
        @Option(names = {"-m", "--model"}, defaultValue = "model.zip")
        Path model;
        @Option(names = "--data", required = true, description = "Image folder (class subfolders), CSV manifest or "
                + "builtin:shapes; streamed in batches, so any size.")
        String data;
        @Option(names = "--layer", description = "Convolutional layer (default: the first one).")
        String layer;
        @Option(converter = Ranges.Positive.class, names = "--channels", defaultValue = "16",
                description = "Channels shown, the first N (default: ${DEFAULT-VALUE}).")
        int channels;
        @Option(converter = Ranges.Positive.class, names = "--patches", defaultValue = "9",
                description = "Patches per channel (default: ${DEFAULT-VALUE}).")
        int patches;
        @Option(converter = Ranges.Positive.class, names = "--batch-size", defaultValue = "32")
        int batch;
        @Option(names = {"-o", "--output"}, defaultValue = "top-patches.png")
        Path output;

        @Override
        public Integer call() {
            ModelBundle bundle = ModelBundle.load(model, false);
            dev.cnn.data.DataSource src = dev.cnn.data.DataSource.open(data,
                    dev.cnn.data.DataSource.Options.defaults().withValSplit(0));
            java.util.List<dev.cnn.data.Sample> all = new java.util.ArrayList<>(src.train().samples());
            for (dev.cnn.data.ImageDataset d : new dev.cnn.data.ImageDataset[]{src.validation(), src.test()}) {
                if (d != null) {
                    all.addAll(d.samples());
                }
            }
            dev.cnn.viz.TopPatches.Result r = dev.cnn.viz.TopPatches.compute(bundle,
                    new dev.cnn.data.ImageDataset(src.classes(), all), layer, channels, patches, batch, src.skipped());
            writePng(r.image(), output);
            out().printf("wrote %s (%s: %d channels, %d images, receptive field %.0f px)%n", output, r.layer(),
                    r.hits().size(), r.images(), r.field().size());
            return ExitCodes.OK;
        }
    }
}
