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
@Command(name = "visualize", description = "Pictures of a trained network: filters, activations, saliency (PNG).",
        mixinStandardHelpOptions = true,
        subcommands = {VisualizeCommand.Filters.class, VisualizeCommand.Activations.class,
                VisualizeCommand.Saliency.class})
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
}
