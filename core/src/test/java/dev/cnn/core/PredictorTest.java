package dev.cnn.core;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PredictorTest {
    @Test
    void aStopRequestClassifiesWhatWasReadAndNoMore() {
        ModelBundle b = BundleTest.bundle(); // 3 classes, 3x8x8
        Predictor p = new Predictor(b, f -> Nd4j.rand(new int[]{1, 3, 8, 8}));
        List<Path> files = new ArrayList<>();
        for (int i = 0; i < 7; i++) {
            files.add(Path.of("img" + i + ".png"));
        }
        List<Predictor.Prediction> got = new ArrayList<>();
        // a signal arrives while the second image is read: the first batch of two is finished, nothing after
        int[] reads = {0};
        int handled = p.classify(files, 2, 2, got::add, () -> ++reads[0] > 2);
        assertEquals(2, handled);
        assertEquals(List.of("img0.png", "img1.png"), got.stream().map(Predictor.Prediction::path).toList());
        assertEquals(2, got.get(0).top().size());

        // JSON in the documented key order, the same in every run (Map.of's order is salted per JVM)
        assertEquals(java.util.List.of("path", "predictions"), new ArrayList<>(got.get(0).toMap().keySet()));
        String json = Json.write(got.get(0).toMap());
        assertTrue(json.startsWith("{\"path\":\"img0.png\",\"predictions\":[{\"label\":"), json);
        assertTrue(json.matches(".*\\{\"label\":\"[a-z]+\",\"probability\":[0-9.E-]+\\}.*"), json);

        got.clear();
        assertEquals(7, p.classify(files, 3, 2, got::add, () -> false), "no stop: every file");
        assertEquals(7, got.size());
    }

    @Test
    void decodingOnSeveralWorkersKeepsInputOrderAndErrorsInPlace() {
        ModelBundle b = BundleTest.bundle(); // 3 classes, 3x8x8
        List<Path> files = new ArrayList<>();
        for (int i = 0; i < 23; i++) {
            files.add(Path.of("img" + i + ".png"));
        }
        Predictor.ImageLoader slowAndSometimesBad = f -> {
            int i = Integer.parseInt(f.toString().replaceAll("\\D", ""));
            Thread.sleep((i * 7) % 5); // later images often finish first
            if (i % 6 == 4) {
                throw new IllegalArgumentException(f + ": not an image");
            }
            return Nd4j.linspace(1, 3 * 8 * 8, 3 * 8 * 8).reshape(1, 3, 8, 8).muli((i % 5 - 2) / 64.0);
        };
        List<Predictor.Prediction> one = new ArrayList<>();
        new Predictor(b, slowAndSometimesBad).workers(1).classify(files, 3, 4, one::add);
        List<Predictor.Prediction> four = new ArrayList<>();
        new Predictor(b, slowAndSometimesBad).workers(4).classify(files, 3, 4, four::add);
        assertEquals(files.stream().map(Path::toString).toList(),
                four.stream().map(Predictor.Prediction::path).toList(), "input order");
        assertEquals(one.size(), four.size());
        for (int i = 0; i < one.size(); i++) {
            assertEquals(one.get(i).error(), four.get(i).error(), one.get(i).path());
            assertEquals(one.get(i).ok(), four.get(i).ok());
            if (one.get(i).ok()) {
                assertEquals(one.get(i).top().get(0).label(), four.get(i).top().get(0).label());
                assertEquals(one.get(i).top().get(0).probability(), four.get(i).top().get(0).probability(), 1e-6);
            }
        }
        assertEquals(4, four.stream().filter(p -> !p.ok()).count(), "img4, img10, img16, img22");
        assertTrue(four.get(4).error().contains("img4.png: not an image"), four.get(4).error());
    }

    @Test
    void batchesWrittenIntoOneReusedArrayGiveEachImageItsOwnProbabilities() {
        ModelBundle b = BundleTest.bundle(); // 3 classes, 3x8x8
        List<Path> files = new ArrayList<>();
        for (int i = 0; i < 11; i++) {
            files.add(Path.of("img" + i + ".png"));
        }
        Predictor.ImageLoader distinct = f -> {
            int i = Integer.parseInt(f.toString().replaceAll("\\D", ""));
            return Nd4j.linspace(1, 3 * 8 * 8, 3 * 8 * 8).reshape(1, 3, 8, 8).muli((i - 5) / 32.0);
        };
        List<Predictor.Prediction> single = new ArrayList<>();
        new Predictor(b, distinct).workers(1).classify(files, 3, 1, single::add);
        List<Predictor.Prediction> batched = new ArrayList<>();
        new Predictor(b, distinct).workers(1).classify(files, 3, 4, batched::add); // 4, 4, 3: the array reused once
        assertEquals(11, batched.size());
        for (int i = 0; i < 11; i++) {
            assertEquals(files.get(i).toString(), batched.get(i).path());
            float[] want = single.get(i).probabilities();
            float[] got = batched.get(i).probabilities();
            for (int c = 0; c < want.length; c++) {
                assertEquals(want[c], got[c], 1e-5, "image " + i + " class " + c);
            }
        }
        assertTrue(single.get(0).probabilities()[0] != single.get(10).probabilities()[0], "images differ");
    }
}
