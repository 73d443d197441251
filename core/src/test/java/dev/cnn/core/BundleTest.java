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
                dev.cnn.data.Preprocess.builder().size(3, 8, 8).normalization(dev.cnn.data.Normalization.unit()).build(),
                Provenance.of("builtin:shapes", 0.2, "none", false, false, 10, 2,
                        TrainConfig.builder().seed(1).output(Path.of("m.zip")).build(), null), null));
    }

    @Test
    void roundTrip(@TempDir Path dir) throws Exception {
        ModelBundle b = bundle();
        Path f = dir.resolve("m.zip");
        // a checkpoint written while Trainer runs: the forward cache is a training-time setting, not saved
        b.network().getConfiguration().setCacheMode(org.deeplearning4j.nn.conf.CacheMode.DEVICE);
        b.network().getConfiguration().setIterationCount(17); // the training counters travel in the configuration
        b.network().getConfiguration().setEpochCount(3);
        b.save(f, false);
        ModelBundle back = ModelBundle.load(f, false);
        assertEquals(org.deeplearning4j.nn.conf.CacheMode.NONE, back.network().getConfiguration().getCacheMode());
        assertEquals(org.deeplearning4j.nn.conf.CacheMode.DEVICE, b.network().getConfiguration().getCacheMode());
        assertEquals(17, back.network().getConfiguration().getIterationCount());
        assertEquals(3, back.network().getConfiguration().getEpochCount());
        b.network().getConfiguration().setCacheMode(org.deeplearning4j.nn.conf.CacheMode.NONE);
        assertEquals(b.metadata(), back.metadata());
        assertEquals(b.network().params(), back.network().params());
        // overwrite in place keeps exactly one file
        b.network().fit(new org.nd4j.linalg.dataset.DataSet(org.nd4j.linalg.factory.Nd4j.rand(new int[]{2, 3, 8, 8}),
                org.nd4j.linalg.factory.Nd4j.create(new float[][]{{1, 0, 0}, {0, 1, 0}})));
        b.save(f, true);
        try (var s = Files.list(dir)) {
            assertEquals(1, s.count());
        }
        // weights and optimizer state are stored uncompressed, and plain DL4J still reads both
        try (java.util.zip.ZipFile z = new java.util.zip.ZipFile(f.toFile())) {
            assertEquals(java.util.zip.ZipEntry.STORED, z.getEntry("coefficients.bin").getMethod());
            assertEquals(java.util.zip.ZipEntry.STORED, z.getEntry("updaterState.bin").getMethod());
        }
        ComputationGraph dl4j = org.deeplearning4j.util.ModelSerializer.restoreComputationGraph(f.toFile(), true);
        assertEquals(b.network().params(), dl4j.params());
        assertEquals(b.network().getUpdater().getStateViewArray(), dl4j.getUpdater().getStateViewArray());
    }

    @Test
    void aSavedModelHasTheModeAnyFileTheUserWritesGets(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("m.zip");
        bundle().save(f, false);
        Path plain = Files.createFile(dir.resolve("plain.txt")); // mode from the umask, as cp or an editor would
        assertEquals(Files.getPosixFilePermissions(plain), Files.getPosixFilePermissions(f),
                "not 0600 as Files.createTempFile makes it");
    }

    @Test
    void typedMetadataRoundTripsWithTheKeysOfFormat1(@TempDir Path dir) throws Exception {
        TrainConfig cfg = TrainConfig.builder().epochs(3).lr(0.01).optimizer(TrainConfig.Optimizer.SGD).momentum(0.8)
                .schedule(LrSchedule.Kind.STEP).seed(9).output(dir.resolve("m.zip")).build();
        EpochStats e1 = new EpochStats(1, 0.9, 0.8, 0.5, 1.0, 0.01, 2.0, 100, true);
        EpochStats e2 = new EpochStats(2, 0.7, Double.NaN, Double.NaN, Double.NaN, 0.005, 2.0, 110, false);
        Provenance.Transfer t = new Provenance.Transfer("base.zip", "simplecnn", List.of("x", "y"), "gradual", "avgpool",
                List.of("head"), null, 1e-4, 1, List.of(new Provenance.Phase("frozen", "completed", 1, true, 0.5, 1024,
                1000, 8, 0.01)), 8, "flatten", 128, 0.5, 1e-5);
        Provenance p = Provenance.of("photos", 0.2, "flip", null, null, 40, 10, cfg, t)
                .withResult(new Provenance.Result(List.of(e1, e2), "completed", 1, e1));
        BundleMetadata m = bundle().metadata().withProvenance(p)
                .withTraining(new TrainingState(2, 3, List.of(e1, e2), 0.5, 1, cfg, "/runs/m.zip"));
        Map<String, Object> json = Json.readMap(Json.pretty(m.toMap()));
        assertEquals(m, BundleMetadata.fromMap(json));
        assertEquals(cfg.withoutPaths(), BundleMetadata.fromMap(json).training().config());
        // the keys older versions read: flat provenance, training state, preprocessing as a map
        @SuppressWarnings("unchecked")
        Map<String, Object> prov = (Map<String, Object>) json.get("provenance");
        assertEquals("gradual", prov.get("strategy"));
        assertEquals(0.01, ((Map<?, ?>) ((List<?>) prov.get("phases")).get(0)).get("headLr"));
        assertEquals(List.of("flatten", 128, 0.5), List.of(prov.get("headPool"), prov.get("headHidden"),
                prov.get("headDropout")));
        assertEquals(List.of(1e-5, 1e-4), List.of(prov.get("baseLrLow"), prov.get("baseLr")));
        // one rate for the whole base: no baseLrLow, as in bundles from before it was recorded
        Map<String, Object> uniform = p.withTransfer(new Provenance.Transfer("base.zip", "simplecnn", null,
                "finetune", "avgpool", List.of("head"), null, 1e-3, 0, List.of())).toMap();
        assertFalse(uniform.containsKey("baseLrLow"), uniform.toString());
        assertEquals(0.0, Provenance.fromMap(uniform).transfer().baseLrLow());
        assertEquals(2, ((List<?>) prov.get("history")).size());
        assertEquals("sgd", ((Map<?, ?>) prov.get("config")).get("optimizer"));
        assertEquals(3, ((Map<?, ?>) json.get("training")).get("batch"));
        assertEquals("stretch", ((Map<?, ?>) json.get("preprocess")).get("resize"));
    }

    @Test
    void bundlesOfANewerFormatAreRefusedWithAMessage(@TempDir Path dir) throws Exception {
        Map<String, Object> json = new java.util.LinkedHashMap<>(bundle().metadata().toMap());
        json.put("formatVersion", 99);
        Path f = dir.resolve("future.zip");
        try (java.util.zip.ZipOutputStream z = new java.util.zip.ZipOutputStream(Files.newOutputStream(f))) {
            z.putNextEntry(new java.util.zip.ZipEntry(ModelBundle.METADATA_ENTRY));
            z.write(Json.pretty(json).getBytes(java.nio.charset.StandardCharsets.UTF_8));
            z.closeEntry();
        }
        CnnException e = assertThrows(CnnException.class, () -> ModelBundle.readMetadata(f));
        assertEquals(CnnException.MODEL, e.exitCode());
        assertTrue(e.getMessage().contains("format 99") && e.getMessage().contains("upgrade cnn"), e.getMessage());
        json.put("formatVersion", 1);
        json.put("labels", "not a list");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> BundleMetadata.fromMap(json)).getMessage()
                .contains("labels"));
    }

    @Test
    @SuppressWarnings("unchecked")
    void metadataThatDoesNotMatchTheNetworkIsRefusedNamingTheField(@TempDir Path dir) throws Exception {
        ModelBundle b = bundle(); // 3 labels, 3x8x8
        Path good = dir.resolve("good.zip");
        b.save(good, false);
        Map<String, java.util.function.Consumer<Map<String, Object>>> edits = new java.util.LinkedHashMap<>();
        edits.put("labels", m -> m.put("labels", List.of("cat", "dog", "emu", "fox")));
        edits.put("labels ", m -> m.put("labels", List.of("cat", "dog")));
        edits.put("labels  ", m -> m.put("labels", List.of("cat", "cat", "emu")));
        edits.put("input", m -> {
            m.put("input", List.of(1, 8, 8));
            ((Map<String, Object>) m.get("preprocess")).put("channels", 1);
        });
        edits.put("preprocess", m -> ((Map<String, Object>) m.get("preprocess")).put("height", 9));
        edits.put("normalization", m -> ((Map<String, Object>) ((Map<String, Object>) m.get("preprocess"))
                .get("normalization")).put("kind", "sepia"));
        edits.put("format 99", m -> m.put("formatVersion", 99));
        for (var e : edits.entrySet()) {
            Map<String, Object> meta = Json.readMap(Json.pretty(b.metadata().toMap()));
            e.getValue().accept(meta);
            Path f = dir.resolve("edited" + edits.keySet().stream().toList().indexOf(e.getKey()) + ".zip");
            try (java.util.zip.ZipFile in = new java.util.zip.ZipFile(good.toFile());
                 java.util.zip.ZipOutputStream out = new java.util.zip.ZipOutputStream(Files.newOutputStream(f))) {
                for (var entries = in.entries(); entries.hasMoreElements(); ) {
                    java.util.zip.ZipEntry z = entries.nextElement();
                    out.putNextEntry(new java.util.zip.ZipEntry(z.getName()));
                    out.write(z.getName().equals(ModelBundle.METADATA_ENTRY)
                            ? Json.pretty(meta).getBytes(java.nio.charset.StandardCharsets.UTF_8)
                            : in.getInputStream(z).readAllBytes());
                    out.closeEntry();
                }
            }
            CnnException x = assertThrows(CnnException.class, () -> ModelBundle.load(f, false), e.getKey());
            assertEquals(CnnException.MODEL, x.exitCode(), e.getKey());
            assertTrue(x.getMessage().contains(f.toString()) && x.getMessage().contains(e.getKey().trim()),
                    e.getKey() + ": " + x.getMessage());
            assertFalse(x.getMessage().contains("\n"), "one line: " + x.getMessage());
        }
        assertEquals(b.metadata(), ModelBundle.load(good, false).metadata(), "the unedited file still loads");
    }

    @Test
    void temporaryFilesOfKilledRunsAreDeletedByTheNextSave(@TempDir Path dir) throws Exception {
        long dead = 4_194_000;
        while (ProcessHandle.of(dead).isPresent()) {
            dead++;
        }
        Path stale = Files.writeString(dir.resolve(".last.zip." + dead + ".8812.tmp"), "half a checkpoint");
        Path live = Files.writeString(dir.resolve(".last.zip." + ProcessHandle.current().pid() + ".77.tmp"), "x");
        Path unrelated = Files.writeString(dir.resolve(".notes.tmp"), "not ours");
        bundle().save(dir.resolve("last.zip"), false);
        assertFalse(Files.exists(stale), "left by a process that no longer runs");
        assertTrue(Files.exists(live), "a running process's file stays");
        assertTrue(Files.exists(unrelated));
        try (var s = Files.list(dir)) {
            assertEquals(3, s.count(), "last.zip, the live temp file and the unrelated one");
        }
    }

    @Test
    void fastLoadEqualsModelSerializer(@TempDir Path dir) throws Exception {
        ModelBundle b = bundle();
        b.network().getLayer("bn1").setParam("mean", org.nd4j.linalg.factory.Nd4j.rand(1, 32)); // non-trivial state
        Path f = dir.resolve("m.zip");
        b.save(f, false);
        ComputationGraph fast = FastLoad.graph(f);
        ComputationGraph slow = org.deeplearning4j.util.ModelSerializer.restoreComputationGraph(f.toFile(), false);
        assertEquals(slow.params(), fast.params());
        assertEquals(slow.getConfiguration().toJson(), fast.getConfiguration().toJson());
        org.nd4j.linalg.api.ndarray.INDArray x = org.nd4j.linalg.factory.Nd4j.rand(new int[]{2, 3, 8, 8});
        assertEquals(slow.outputSingle(false, x), fast.outputSingle(false, x));
        // a buffer of another type is not handled: null means "use ModelSerializer"
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        org.nd4j.linalg.factory.Nd4j.write(org.nd4j.linalg.factory.Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.DOUBLE,
                2, 3), new java.io.DataOutputStream(bytes));
        assertEquals(null, FastLoad.readFloatArray(new java.io.DataInputStream(
                new java.io.ByteArrayInputStream(bytes.toByteArray()))));
        bytes.reset();
        org.nd4j.linalg.api.ndarray.INDArray fa = org.nd4j.linalg.factory.Nd4j.rand(
                org.nd4j.linalg.api.buffer.DataType.FLOAT, 3, 4);
        org.nd4j.linalg.factory.Nd4j.write(fa, new java.io.DataOutputStream(bytes));
        assertEquals(fa, FastLoad.readFloatArray(new java.io.DataInputStream(
                new java.io.ByteArrayInputStream(bytes.toByteArray()))));
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
