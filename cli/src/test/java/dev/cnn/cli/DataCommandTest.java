package dev.cnn.cli;

import dev.cnn.core.Json;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DataCommandTest {

    /** cat/ and dog/ with three 64x64 PNGs each, and a PNG and a JPEG cut in half in cat/. */
    static Path withTruncatedFiles(Path dir) throws Exception {
        Random r = new Random(1);
        BufferedImage noisy = new BufferedImage(64, 64, BufferedImage.TYPE_INT_RGB);
        for (String c : new String[]{"cat", "dog"}) {
            Files.createDirectories(dir.resolve(c));
            for (int i = 0; i < 3; i++) {
                for (int p = 0; p < 64 * 64; p++) {
                    noisy.setRGB(p % 64, p / 64, r.nextInt(0xFFFFFF));
                }
                assertTrue(ImageIO.write(noisy, "png", dir.resolve(c + "/" + i + ".png").toFile()));
            }
        }
        for (String f : new String[]{"png", "jpg"}) {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            ImageIO.write(noisy, f, b);
            byte[] whole = b.toByteArray();
            Files.write(dir.resolve("cat/cut." + f), Arrays.copyOf(whole, whole.length / 2));
        }
        return dir;
    }

    @Test
    void statsTotalsAgreeWithThePerClassCountsWhenFilesAreTruncated(@TempDir Path dir) throws Exception {
        withTruncatedFiles(dir);
        CliTestSupport.Run run = CliTestSupport.run("data", "stats", dir.toString());
        assertEquals(0, run.code(), run.err());
        Matcher total = Pattern.compile("\\[train] (\\d+) images \\(2 unreadable\\)").matcher(run.out());
        assertTrue(total.find(), run.out());
        Matcher perClass = Pattern.compile("(?m)^  (cat|dog) +(\\d+)(.*)$").matcher(run.out());
        int sum = 0;
        while (perClass.find()) {
            sum += Integer.parseInt(perClass.group(2));
            assertEquals(perClass.group(1).equals("cat") ? " (2 unreadable)" : "", perClass.group(3), run.out());
        }
        assertEquals(6, sum, run.out());
        assertEquals(sum, Integer.parseInt(total.group(1)), "the total is the sum of the classes:\n" + run.out());
        assertTrue(run.out().contains("images: 6 (2 unreadable)"), run.out());
        assertTrue(run.out().contains("unreadable/skipped: 2 {truncated=2} (2 unreadable when decoded"), run.out());

        CliTestSupport.Run json = CliTestSupport.run("data", "stats", dir.toString(), "--format", "json");
        assertEquals(0, json.code(), json.err());
        Map<String, Object> st = Json.readMap(json.out());
        @SuppressWarnings("unchecked")
        Map<String, Object> train = (Map<String, Object>) ((Map<String, Object>) st.get("splits")).get("train");
        assertEquals(Map.of("cat", 3, "dog", 3), num(train.get("perClass")));
        assertEquals(Map.of("cat", 2, "dog", 0), num(train.get("unreadablePerClass")));
        assertEquals(6, ((Number) train.get("images")).intValue());
        assertEquals(2, ((Number) train.get("unreadable")).intValue());
        assertEquals(6, ((Number) st.get("images")).intValue());
    }

    private static Map<String, Integer> num(Object m) {
        Map<String, Integer> out = new java.util.TreeMap<>();
        ((Map<?, ?>) m).forEach((k, v) -> out.put((String) k, ((Number) v).intValue()));
        return out;
    }
}
