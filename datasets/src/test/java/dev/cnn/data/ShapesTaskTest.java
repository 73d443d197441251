package dev.cnn.data;

import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertTrue;

class ShapesTaskTest {
    @Test
    void shapesAreVisibleAgainstTheBackground() {
        // the mean brightness of the brightest quarter of pixels exceeds the darkest quarter by a wide margin
        for (Sample s : Shapes.generate(40, 32, 11)) {
            int[] px = s.image().getRGB(0, 0, 32, 32, null, 0, 32);
            double[] l = Arrays.stream(px).mapToDouble(v -> 0.299 * ((v >> 16) & 255) + 0.587 * ((v >> 8) & 255)
                    + 0.114 * (v & 255)).sorted().toArray();
            double lo = Arrays.stream(l, 0, 256).average().orElse(0);
            double hi = Arrays.stream(l, l.length - 64, l.length).average().orElse(0);
            assertTrue(hi - lo > 25, "contrast " + (hi - lo));
        }
    }
}
