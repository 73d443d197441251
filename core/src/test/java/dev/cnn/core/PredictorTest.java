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
}
