package dev.cnn.core;

import dev.cnn.zoo.ModelRegistry;
import dev.cnn.zoo.ModelSpec;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BundleTest {
    static ModelBundle bundle() {
        ModelSpec spec = ModelSpec.builder().numClasses(3).input(3, 8, 8).build();
        ComputationGraph g = ModelRegistry.get("simplecnn").build(spec);
        return new ModelBundle(g, new BundleMetadata(1, "simplecnn", List.of("cat", "dog", "emu"), 3, 8, 8,
                Map.of("resize", "stretch"), Map.of("seed", 1), Map.of()));
    }

    @Test
    void roundTrip(@TempDir Path dir) throws Exception {
        ModelBundle b = bundle();
        Path f = dir.resolve("m.zip");
        b.save(f, false);
        ModelBundle back = ModelBundle.load(f, false);
        assertEquals(b.metadata(), back.metadata());
        assertEquals(b.network().params(), back.network().params());
        // overwrite in place keeps exactly one file
        b.save(f, true);
        try (var s = Files.list(dir)) {
            assertEquals(1, s.count());
        }
    }

    @Test
    void corruptFilesAreModelErrors(@TempDir Path dir) throws Exception {
        ModelBundle b = bundle();
        Path good = dir.resolve("good.zip");
        b.save(good, false);
        byte[] bytes = Files.readAllBytes(good);

        Path truncated = dir.resolve("truncated.zip");
        Files.write(truncated, Arrays.copyOf(bytes, bytes.length / 2));
        Path text = dir.resolve("text.zip");
        Files.writeString(text, "hello, I am not a model");
        Path empty = dir.resolve("empty.zip");
        Files.write(empty, new byte[0]);
        Path missing = dir.resolve("missing.zip");
        Path flipped = dir.resolve("flipped.zip");
        byte[] f = bytes.clone();
        for (int i = 200; i < f.length - 200; i += 97) {
            f[i] ^= 0x5A;
        }
        Files.write(flipped, f);

        for (Path p : List.of(truncated, text, empty, missing, flipped)) {
            CnnException e = assertThrows(CnnException.class, () -> ModelBundle.load(p, false), p.toString());
            assertEquals(CnnException.MODEL, e.exitCode(), p.toString());
            assertTrue(e.getMessage().contains(p.toString()), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
        }
    }
}
