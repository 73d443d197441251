package dev.cnn.core;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;

/**
 * A trained model in one file: a DL4J {@link ModelSerializer} zip plus a {@value #METADATA_ENTRY} entry. Written
 * atomically: to a temporary file beside the target, then renamed over it.
 *
 * <p>Plain DL4J loads it, with only DL4J's jars on the class path ({@code ModelSerializer.restoreComputationGraph(file,
 * loadUpdater)}; {@code PlainDl4jLoadTest} checks it in a separate JVM): the stored configuration names DL4J's and
 * ND4J's classes only. This project's learning-rate schedules are not stored there: each trainable layer's updater
 * gets a fixed rate, the schedule's value for the next step (see {@link PortableConfiguration}), and the run's
 * schedule is kept in the metadata (the training config) instead; {@code cnn train --resume} puts it back
 * ({@link Optimizers#restoreSchedule}). Plain DL4J that trains a bundle further therefore trains at that fixed rate.
 * The live network is not changed by saving.
 */
public record ModelBundle(ComputationGraph network, BundleMetadata metadata) {
    static {
        dev.cnn.accel.Engine.init(); // DL4J's helpers on and the native build chosen, before ND4J loads
    }

    public static final String METADATA_ENTRY = "cnn-metadata.json";

    /** Writes the bundle atomically; {@code withUpdater} keeps the optimizer state (checkpoints). */
    public void save(Path file, boolean withUpdater) throws IOException {
        Path abs = file.toAbsolutePath();
        Path dir = abs.getParent();
        if (dir != null) {
            Files.createDirectories(dir);
        }
        TempFiles.deleteStale(dir); // left by runs that were killed while writing
        Path tmp = TempFiles.create(abs, ".tmp");
        try {
            write(tmp, withUpdater);
            try (java.nio.channels.FileChannel c = java.nio.channels.FileChannel.open(tmp,
                    java.nio.file.StandardOpenOption.WRITE)) {
                c.force(true); // on disk before it replaces the previous file: a crash leaves one or the other
            }
            try {
                Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
            syncDirectory(dir);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** Makes a rename in {@code dir} durable (Linux; elsewhere a no-op where directories cannot be opened). */
    private static void syncDirectory(Path dir) {
        if (dir == null) {
            return;
        }
        try (java.nio.channels.FileChannel c = java.nio.channels.FileChannel.open(dir,
                java.nio.file.StandardOpenOption.READ)) {
            c.force(true);
        } catch (IOException | UnsupportedOperationException e) {
            // not supported for directories on this system: the rename stays, unsynced
        }
    }

    /**
     * The entries {@code ModelSerializer.writeModel} writes (so that it can still read the file), in the same
     * formats, but with the weights and optimizer state <em>stored</em> rather than deflated: float weights do not
     * compress (a resnet18 bundle: 41.5 MB deflated vs 44.7 MB raw) and inflating them cost ~0.5 s of every cold
     * start.
     */
    private void write(Path tmp, boolean withUpdater) throws IOException {
        try (java.util.zip.ZipOutputStream zip = new java.util.zip.ZipOutputStream(
                new java.io.BufferedOutputStream(Files.newOutputStream(tmp), 1 << 20))) {
            // the updater (made here if the network has none yet, as before) is read first: its blocks decide the
            // fixed rates that the stored configuration gets in place of this project's schedules
            org.deeplearning4j.nn.updater.graph.ComputationGraphUpdater updater =
                    withUpdater ? network.getUpdater() : null;
            org.nd4j.linalg.api.ndarray.INDArray state = updater == null ? null : updater.getStateViewArray();
            boolean withState = state != null && state.length() > 0;
            zip.putNextEntry(new ZipEntry("configuration.json"));
            zip.write(PortableConfiguration.json(network, withState ? updater : null).getBytes(StandardCharsets.UTF_8));
            zip.closeEntry();
            storeArray(zip, "coefficients.bin", network.params());
            if (withState) {
                storeArray(zip, "updaterState.bin", state);
            }
            zip.putNextEntry(new ZipEntry(METADATA_ENTRY));
            zip.write(Json.pretty(metadata.toMap()).getBytes(StandardCharsets.UTF_8));
            zip.closeEntry();
        }
    }

    /** An ND4J array in {@code Nd4j.write} format as a STORED entry (size and CRC first, so written twice). */
    private static void storeArray(java.util.zip.ZipOutputStream zip, String name,
                                   org.nd4j.linalg.api.ndarray.INDArray a) throws IOException {
        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
        long[] size = new long[1];
        java.io.OutputStream measure = new java.io.OutputStream() {
            @Override
            public void write(int b) {
                crc.update(b);
                size[0]++;
            }

            @Override
            public void write(byte[] b, int off, int len) {
                crc.update(b, off, len);
                size[0] += len;
            }
        };
        try (java.io.DataOutputStream out = new java.io.DataOutputStream(
                new java.io.BufferedOutputStream(measure, 1 << 16))) {
            org.nd4j.linalg.factory.Nd4j.write(a, out);
        }
        ZipEntry e = new ZipEntry(name);
        e.setMethod(ZipEntry.STORED);
        e.setSize(size[0]);
        e.setCompressedSize(size[0]);
        e.setCrc(crc.getValue());
        zip.putNextEntry(e);
        java.io.DataOutputStream out = new java.io.DataOutputStream(new java.io.BufferedOutputStream(
                new java.io.FilterOutputStream(zip) {
                    @Override
                    public void write(byte[] b, int off, int len) throws IOException {
                        out.write(b, off, len);
                    }

                    @Override
                    public void close() {
                        // the zip stays open
                    }
                }, 1 << 16));
        org.nd4j.linalg.factory.Nd4j.write(a, out);
        out.flush();
        zip.closeEntry();
    }

    /** Loads a bundle; every failure is a {@link CnnException} with exit code 4 naming the file. */
    public static ModelBundle load(Path file, boolean withUpdater) {
        BundleMetadata meta = readMetadata(file);
        try {
            ComputationGraph g = withUpdater ? null : FastLoad.graph(file);
            if (g == null) {
                g = ModelSerializer.restoreComputationGraph(file.toFile(), withUpdater);
            }
            check(file, meta, g);
            return new ModelBundle(g, meta);
        } catch (CnnException e) {
            throw e;
        } catch (Exception | LinkageError e) {
            throw CnnException.model(file + ": cannot read the network (" + oneLine(e)
                    + "); the file is damaged, re-export or retrain the model", e);
        }
    }

    /**
     * Refuses metadata that does not describe the network beside it (an edited or mismatched file would otherwise
     * classify with wrong labels or fail deep inside DL4J): labels one per output and distinct, the input's
     * channels those of the network's first layers, the preprocessing's shape the input's.
     */
    static void check(Path file, BundleMetadata m, ComputationGraph g) {
        java.util.Set<String> seen = new java.util.HashSet<>();
        for (String l : m.labels()) {
            if (!seen.add(l)) {
                throw bad(file, "labels", "'" + l + "' appears twice");
            }
        }
        org.deeplearning4j.nn.conf.ComputationGraphConfiguration c = g.getConfiguration();
        if (c.getNetworkOutputs().size() == 1
                && c.getVertices().get(c.getNetworkOutputs().get(0)) instanceof org.deeplearning4j.nn.conf.graph.LayerVertex lv
                && lv.getLayerConf().getLayer() instanceof org.deeplearning4j.nn.conf.layers.FeedForwardLayer out
                && out.getNOut() != m.labels().size()) {
            throw bad(file, "labels", m.labels().size() + " names for a network with " + out.getNOut() + " outputs");
        }
        for (var e : c.getVertexInputs().entrySet()) {
            if (c.getNetworkInputs().containsAll(e.getValue())
                    && c.getVertices().get(e.getKey()) instanceof org.deeplearning4j.nn.conf.graph.LayerVertex lv
                    && lv.getLayerConf().getLayer() instanceof org.deeplearning4j.nn.conf.layers.ConvolutionLayer conv
                    && conv.getNIn() != m.channels()) {
                throw bad(file, "input", m.channels() + " channels for a network whose first layer '" + e.getKey()
                        + "' reads " + conv.getNIn());
            }
        }
        dev.cnn.data.Preprocess p = m.preprocess();
        if (p.channels() != m.channels() || p.height() != m.height() || p.width() != m.width()) {
            throw bad(file, "preprocess", p.channels() + "x" + p.height() + "x" + p.width() + " differs from input "
                    + m.channels() + "x" + m.height() + "x" + m.width());
        }
    }

    private static CnnException bad(Path file, String field, String what) {
        return CnnException.model(file + ": metadata field '" + field + "' does not match the network: " + what
                + "; the file was edited or is damaged, re-export or retrain the model");
    }

    /** Reads only the metadata (fast: no weights are loaded). */
    public static BundleMetadata readMetadata(Path file) {
        if (!Files.isRegularFile(file)) {
            throw CnnException.model(file + ": model file not found; train one with 'cnn train --output " + file
                    + "'");
        }
        try (ZipFile zip = new ZipFile(file.toFile())) {
            ZipEntry e = zip.getEntry(METADATA_ENTRY);
            if (e == null) {
                String what = zip.getEntry("configuration.json") != null
                        ? "a DL4J model without cnn metadata (labels, preprocessing)"
                        : "not a cnn model bundle";
                throw CnnException.model(file + ": " + what + "; use a model written by 'cnn train' or 'cnn finetune'");
            }
            try (InputStream in = zip.getInputStream(e)) {
                Map<String, Object> json = Json.readMap(new String(in.readAllBytes(), StandardCharsets.UTF_8));
                try {
                    return BundleMetadata.fromMap(json);
                } catch (IllegalArgumentException | ClassCastException bad) { // readable JSON, wrong content
                    throw CnnException.model(file + ": " + oneLine(bad), bad);
                }
            }
        } catch (ZipException e) {
            throw CnnException.model(file + ": not a model bundle (not a valid zip file: " + e.getMessage()
                    + "); the file is truncated or corrupted", e);
        } catch (IOException | RuntimeException e) {
            if (e instanceof CnnException c) {
                throw c;
            }
            throw CnnException.model(file + ": cannot read model metadata (" + oneLine(e)
                    + "); the file is truncated or corrupted", e);
        }
    }

    public static String oneLine(Throwable e) {
        String m = e.getMessage();
        return m == null ? e.getClass().getSimpleName() : m.lines().findFirst().orElse("").trim();
    }
}
