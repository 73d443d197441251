package dev.cnn.examples;

import dev.cnn.core.Classifier;
import dev.cnn.core.Predictor.Prediction;
import dev.cnn.data.BadImageException;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Classifies one image three ways: a file, a decoded {@link BufferedImage} and an {@link InputStream}.
 * <pre>{@code java ... dev.cnn.examples.ClassifyImages model.zip photo.jpg}</pre>
 */
public final class ClassifyImages {
    private ClassifyImages() {
    }

    public static List<Prediction> classify(Path model, Path image) throws IOException, BadImageException {
        // load once, share between threads (decoding runs on each caller's thread)
        try (Classifier classifier = Classifier.load(model)) {
            Prediction fromFile = classifier.classify(image, 3);

            BufferedImage decoded = ImageIO.read(image.toFile()); // e.g. from a camera or a UI
            Prediction fromImage = classifier.classify(decoded, 3);

            Prediction fromStream;
            try (InputStream in = Files.newInputStream(image)) { // e.g. an upload or a blob store
                fromStream = classifier.classify(in, image.getFileName().toString(), 3);
            }
            return List.of(fromFile, fromImage, fromStream);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: ClassifyImages MODEL.zip IMAGE");
            System.exit(2);
        }
        for (Prediction p : classify(Path.of(args[0]), Path.of(args[1]))) {
            System.out.printf("%s: %s %.3f%n", p.path(), p.top().get(0).label(), p.top().get(0).probability());
        }
    }
}
