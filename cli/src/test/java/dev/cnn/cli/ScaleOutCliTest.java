package dev.cnn.cli;

import dev.cnn.core.Json;
import dev.cnn.data.Importers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static dev.cnn.cli.CliTestSupport.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code --spark local[2]} and {@code --devices 2} through the CLI. */
class ScaleOutCliTest {
    /** Trains 2 epochs on a small shapes folder {@code dir/shapes} into {@code dir/m.zip}, {@code how} (--spark ...). */
    private static CliTestSupport.Run train(Path dir, String... how) throws Exception {
        Importers.writeShapes(dir.resolve("shapes"), 120, 16, 3, 0.25);
        List<String> args = new java.util.ArrayList<>(List.of("train", "--data", dir.resolve("shapes").toString(),
                "--image-size", "16", "--epochs", "2", "--batch-size", "16", "--output", dir.resolve("m.zip")
                        .toString(), "--format", "json"));
        args.addAll(List.of(how));
        CliTestSupport.Run t = run(args.toArray(new String[0]));
        assertEquals(0, t.code(), t.err());
        Map<String, Object> doc = Json.readMap(t.out());
        assertEquals("completed", doc.get("status"));
        assertEquals(2, ((Number) doc.get("workers")).intValue());
        assertEquals(2, ((List<?>) doc.get("history")).size());
        return t;
    }

    @Test
    void trainAndClassifyOnSparkLocalGiveABundleAndTheRecordsOfOneMachine(@TempDir Path dir) throws Exception {
        Path data = dir.resolve("shapes");
        Path model = dir.resolve("m.zip");
        CliTestSupport.Run t = train(dir, "--spark", "local[2]");
        assertTrue(t.err().contains("epoch 2/2"), t.err());
        assertTrue(Files.isRegularFile(model) && Files.isRegularFile(dir.resolve("m.history.csv")));
        // and continues from its checkpoint with one more epoch
        CliTestSupport.Run more = run("train", "--spark", "local[2]", "--resume",
                dir.resolve("m.zip.checkpoints/last.zip").toString(), "--epochs", "3", "--format", "json");
        assertEquals(0, more.code(), more.err());
        assertEquals(3, ((List<?>) Json.readMap(more.out()).get("history")).size());
        assertTrue(more.err().contains("epoch 3/3") && !more.err().contains("epoch 1/"), more.err());
        assertEquals(4, Files.readAllLines(dir.resolve("m.history.csv")).size());

        Path val = data.resolve("val");
        Files.writeString(val.resolve("broken.png"), "not a png");
        CliTestSupport.Run local = run("classify", "--model", model.toString(), "--format", "jsonl", val.toString());
        CliTestSupport.Run spark = run("classify", "--spark", "local[2]", "--model", model.toString(), "--format",
                "jsonl", val.toString());
        assertEquals(3, local.code(), local.err());
        assertEquals(3, spark.code(), "a bad image is exit 3 on Spark too: " + spark.err());
        List<String> a = local.out().lines().toList();
        List<String> b = spark.out().lines().toList();
        assertEquals(a.size(), b.size());
        assertEquals(a.stream().map(ScaleOutCliTest::withoutProbabilities).toList(),
                b.stream().map(ScaleOutCliTest::withoutProbabilities).toList());

        Path out = dir.resolve("records");
        CliTestSupport.Run saved = run("classify", "--spark", "local[2]", "--model", model.toString(), "--format",
                "jsonl", "--output-dir", out.toString(), val.toString());
        assertEquals(3, saved.code(), saved.err());
        long lines = 0;
        try (var parts = Files.list(out)) {
            for (Path p : parts.filter(p -> p.getFileName().toString().startsWith("part-")).toList()) {
                lines += Files.readAllLines(p).size();
            }
        }
        assertEquals(a.size(), lines);

        assertEquals(2, run("classify", "--spark", "local[2]", "--model", model.toString(), "-").code(),
                "stdin is not read with --spark");
        assertEquals(2, run("train", "--spark", "local[2]", "--data", "hdfs://nn:8020/train.csv", "--lr", "auto",
                "--output", dir.resolve("x.zip").toString()).code(), "the range test would read the manifest here");
        assertEquals(2, run("classify", "--model", model.toString(), "--output-dir", out.toString(),
                val.toString()).code(), "--output-dir goes with --spark");
    }

    @Test
    void trainOnTwoDevicesWritesABundleAndRefusesToCombineWithSpark(@TempDir Path dir) throws Exception {
        Path data = dir.resolve("shapes");
        Path model = dir.resolve("m.zip");
        CliTestSupport.Run t = train(dir, "--devices", "2");
        assertTrue(t.err().contains("on 2 devices (ParallelWrapper)"), t.err());
        CliTestSupport.Run more = run("train", "--devices", "2", "--resume",
                dir.resolve("m.zip.checkpoints/last.zip").toString(), "--epochs", "3", "--format", "json");
        assertEquals(0, more.code(), more.err());
        assertEquals(3, ((List<?>) Json.readMap(more.out()).get("history")).size());
        assertEquals(2, run("train", "--devices", "2", "--resume", dir.resolve("m.zip.checkpoints/last.zip")
                .toString(), "--lr", "0.1").code(), "the run's own settings stay");
        assertEquals(0, run("classify", "--model", model.toString(), data.resolve("val").toString()).code());
        assertEquals(2, run("train", "--devices", "2", "--spark", "local[2]", "--data", data.toString(),
                "--output", dir.resolve("x.zip").toString()).code());
    }

    /** Probabilities may differ in the last bits (other images share each batch); labels and order may not. */
    private static String withoutProbabilities(String record) {
        return record.replaceAll("\"probability\":[-0-9.eE]+", "P");
    }
}
