package dev.cnn.transfer.weights;

import dev.cnn.core.Json;
import dev.cnn.core.ModelBundle;
import dev.cnn.core.Predictor;
import dev.cnn.data.ImageDecoder;
import dev.cnn.data.Preprocess;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * End to end on image files: 50 JPEGs and PNGs of varied sizes and aspect ratios through an imported bundle (saved
 * and loaded again, as {@code cnn classify} does) and through torchvision's transform + model. Top-1 identical on
 * all, top-5 sets equal on at least 98%; the preprocessed pixels within 1 level on 8 bits where the decoders
 * agree (PNG: exactly), within a few levels on JPEG (Java's and libjpeg-turbo's IDCTs round differently).
 */
class TorchImageParityTest {
    @TempDir
    Path tmp;

    @Test
    @SuppressWarnings("unchecked")
    void importedResnetClassifiesImageFilesAsTorchvisionDoes() throws Exception {
        PyTorch.fixtures("images", "--arch", "resnet18", "--count", "50", "--out", tmp.toString());
        Weights entry = Weights.find("resnet18", null).orElseThrow();
        TorchImport.Result r = TorchImport.run(new TorchImport.Request("resnet18", tmp.resolve("resnet18.zip.pth"),
                entry, null, entry.url()));
        Path model = tmp.resolve("model.zip");
        r.bundle().save(model, false);
        ModelBundle bundle = ModelBundle.load(model, false);
        Preprocess pre = bundle.metadata().preprocess();
        assertEquals(256, pre.resizeShorter());
        assertEquals("tench", bundle.metadata().labels().get(0));

        Map<String, Object> expected = Json.readMap(Files.readString(tmp.resolve("expected.json")));
        List<Path> files;
        try (Stream<Path> s = Files.list(tmp.resolve("img"))) {
            files = s.sorted().toList();
        }
        assertEquals(50, files.size());
        List<Predictor.Prediction> got = new ArrayList<>();
        new Predictor(bundle, f -> ImageDecoder.load(f, pre)).classify(files, 5, 16, got::add);

        int top1 = 0;
        int top5 = 0;
        double maxProb = 0;
        int maxPixelPng = 0;
        int maxPixelJpeg = 0;
        long differing = 0;
        long total = 0;
        List<String> labels = bundle.metadata().labels();
        for (int i = 0; i < files.size(); i++) {
            String name = files.get(i).getFileName().toString();
            Map<String, Object> e = (Map<String, Object>) expected.get(name);
            List<Integer> want = ((List<Number>) e.get("top5")).stream().map(Number::intValue).toList();
            Predictor.Prediction p = got.get(i);
            assertTrue(p.ok(), p.error());
            List<Integer> have = p.top().stream().map(s -> labels.indexOf(s.label())).toList();
            top1 += have.get(0).equals(want.get(0)) ? 1 : 0;
            top5 += new HashSet<>(have).equals(new HashSet<>(want)) ? 1 : 0;
            List<Number> probs = (List<Number>) e.get("probs");
            for (int c = 0; c < probs.size(); c++) {
                maxProb = Math.max(maxProb, Math.abs(probs.get(c).doubleValue() - p.probabilities()[c]));
            }
            BufferedImage img = ImageDecoder.resize(ImageDecoder.read(files.get(i), ImageDecoder.DEFAULT_MAX_PIXELS,
                    pre.background()), pre);
            List<Number> px = (List<Number>) e.get("pixels");
            int plane = 224 * 224;
            for (int y = 0; y < 224; y++) {
                for (int x = 0; x < 224; x++) {
                    int rgb = img.getRGB(x, y);
                    for (int c = 0; c < 3; c++) {
                        int v = (rgb >> (16 - 8 * c)) & 0xFF;
                        int d = Math.abs(v - px.get(c * plane + y * 224 + x).intValue());
                        differing += d > 0 ? 1 : 0;
                        total++;
                        if (name.endsWith(".png")) {
                            maxPixelPng = Math.max(maxPixelPng, d);
                        } else {
                            maxPixelJpeg = Math.max(maxPixelJpeg, d);
                        }
                    }
                }
            }
        }
        System.out.printf("image parity: top-1 %d/50, top-5 sets %d/50, max probability difference %.2e, "
                        + "max pixel difference PNG %d JPEG %d, %.3f%% of values differ%n", top1, top5, maxProb,
                maxPixelPng, maxPixelJpeg, 100.0 * differing / total);
        assertEquals(50, top1, "top-1 must agree on every image");
        assertTrue(top5 >= 49, "top-5 sets agree on " + top5 + "/50");
        assertEquals(0, maxPixelPng, "PNG: Pillow's resize reproduced exactly");
    }
}
