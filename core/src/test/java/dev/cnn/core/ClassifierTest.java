package dev.cnn.core;

import dev.cnn.data.BadImageException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ClassifierTest {
    static BufferedImage image(int seed) {
        BufferedImage img = new BufferedImage(12, 10, BufferedImage.TYPE_INT_RGB);
        java.util.Random r = new java.util.Random(seed);
        for (int y = 0; y < 10; y++) {
            for (int x = 0; x < 12; x++) {
                img.setRGB(x, y, r.nextInt(0xFFFFFF));
            }
        }
        return img;
    }

    static byte[] png(BufferedImage img) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        assertTrue(ImageIO.write(img, "png", out));
        return out.toByteArray();
    }

    @Test
    void aFileItsBytesAStreamAndTheDecodedImageClassifyAlikeAndAsTheBatchPredictorDoes(@TempDir Path dir)
            throws Exception {
        ModelBundle bundle = BundleTest.bundle();
        Classifier c = new Classifier(bundle);
        byte[] bytes = png(image(1));
        Path f = dir.resolve("one.png");
        Files.write(f, bytes);

        Predictor.Prediction fromFile = c.classify(f, 2);
        assertEquals(f.toString(), fromFile.path());
        assertEquals(2, fromFile.top().size());
        assertEquals(List.of("cat", "dog", "emu"), c.labels());
        for (Predictor.Prediction p : List.of(c.classify(bytes, "upload", 2),
                c.classify(new ByteArrayInputStream(bytes), "stream", 2), c.classify(image(1), 2))) {
            assertArrayEquals(fromFile.probabilities(), p.probabilities(), 1e-6f, p.path());
            assertEquals(fromFile.top().get(0).label(), p.top().get(0).label());
        }
        List<Predictor.Prediction> batch = new ArrayList<>();
        new Predictor(bundle, file -> dev.cnn.data.ImageDecoder.load(file, bundle.metadata().preprocess()))
                .classify(List.of(f), 2, 8, batch::add);
        assertArrayEquals(batch.get(0).probabilities(), fromFile.probabilities(), 1e-5f);

        BadImageException e = assertThrows(BadImageException.class, () -> c.classify("not an image".getBytes(),
                "note.txt", 1));
        assertTrue(e.getMessage().startsWith("note.txt: not a supported image"), e.getMessage());
    }

    @Test
    void manyThreadsSharingOneClassifierGetTheAnswersEachWouldGetAlone() throws Exception {
        Classifier c = new Classifier(BundleTest.bundle());
        int n = 24;
        List<byte[]> images = new ArrayList<>();
        List<float[]> alone = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            images.add(png(image(100 + i)));
            alone.add(c.classify(images.get(i), "i" + i, 1).probabilities());
        }
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<float[]>> got = new ArrayList<>();
            for (int round = 0; round < 4; round++) {
                for (int i = 0; i < n; i++) {
                    int j = i;
                    got.add(pool.submit(() -> c.classify(images.get(j), "i" + j, 1).probabilities()));
                }
            }
            for (int i = 0; i < got.size(); i++) {
                assertArrayEquals(alone.get(i % n), got.get(i).get(), 1e-6f, "image " + i % n);
            }
        } finally {
            pool.shutdownNow();
        }
        // several callers' images in one forward pass: the same answers
        List<Predictor.Prediction> together = c.classifyTensors(List.of(
                dev.cnn.data.ImageDecoder.load(images.get(3), "a", c.preprocess()),
                dev.cnn.data.ImageDecoder.load(images.get(7), "b", c.preprocess())), List.of("a", "b"), 3);
        assertArrayEquals(alone.get(3), together.get(0).probabilities(), 1e-5f);
        assertArrayEquals(alone.get(7), together.get(1).probabilities(), 1e-5f);
        assertEquals(List.of("a", "b"), together.stream().map(Predictor.Prediction::path).toList());
        // the same images as [C, H, W] values, batched on the inference thread
        List<float[]> flat = new ArrayList<>();
        for (int i : new int[]{3, 7}) {
            flat.add(dev.cnn.data.ImageDecoder.load(images.get(i), "x", c.preprocess()).data().asFloat());
        }
        float[][] p = c.probabilities(flat);
        assertArrayEquals(alone.get(3), p[0], 1e-5f);
        assertArrayEquals(alone.get(7), p[1], 1e-5f);
        assertThrows(IllegalArgumentException.class, () -> c.probabilities(List.of(new float[5])));
    }
}
