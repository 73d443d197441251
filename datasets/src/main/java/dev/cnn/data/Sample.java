package dev.cnn.data;

import java.awt.image.BufferedImage;
import java.nio.file.Path;

/** One labelled image: a file, or an in-memory image (synthetic data). */
public record Sample(Path path, BufferedImage image, int label) {
    public static Sample ofFile(Path path, int label) {
        return new Sample(path, null, label);
    }

    public static Sample ofImage(String name, BufferedImage image, int label) {
        return new Sample(Path.of(name), image, label);
    }

    /** Canonical RGB image of the sample (decoding the file if needed). */
    public BufferedImage decode(long maxPixels, int background) throws BadImageException {
        return image != null ? ImageDecoder.canonical(image, background)
                : ImageDecoder.read(path, maxPixels, background);
    }

    /**
     * The sample resized for {@code p}; a file is decoded holding its decoded size from {@code budget} until it is
     * resized.
     */
    public BufferedImage decodeResized(long maxPixels, Preprocess p, DecodeBudget budget) throws BadImageException {
        return image != null ? ImageDecoder.resize(ImageDecoder.canonical(image, p.background()), p)
                : ImageDecoder.readResized(path, maxPixels, p, budget);
    }
}
