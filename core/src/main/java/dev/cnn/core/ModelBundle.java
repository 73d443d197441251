package dev.cnn.core;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;

/**
 * A trained model in one file: a DL4J {@link ModelSerializer} zip (plain DL4J can still load it with
 * {@code ModelSerializer.restoreComputationGraph}) plus a {@value #METADATA_ENTRY} entry. Written atomically: to a
 * temporary file beside the target, then renamed over it.
 */
public record ModelBundle(ComputationGraph network, BundleMetadata metadata) {
    public static final String METADATA_ENTRY = "cnn-metadata.json";

    /** Writes the bundle atomically; {@code withUpdater} keeps the optimizer state (checkpoints). */
    public void save(Path file, boolean withUpdater) throws IOException {
        Path abs = file.toAbsolutePath();
        Path dir = abs.getParent();
        if (dir != null) {
            Files.createDirectories(dir);
        }
        Path tmp = Files.createTempFile(dir, "." + abs.getFileName() + ".", ".tmp");
        try {
            ModelSerializer.writeModel(network, tmp.toFile(), withUpdater);
            try (FileSystem zip = FileSystems.newFileSystem(URI.create("jar:" + tmp.toUri()), Map.of())) {
                Files.writeString(zip.getPath(METADATA_ENTRY), Json.pretty(metadata.toMap()), StandardCharsets.UTF_8);
            }
            try {
                Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** Loads a bundle; every failure is a {@link CnnException} with exit code 4 naming the file. */
    public static ModelBundle load(Path file, boolean withUpdater) {
        BundleMetadata meta = readMetadata(file);
        try {
            ComputationGraph g = withUpdater ? null : FastLoad.graph(file);
            if (g == null) {
                g = ModelSerializer.restoreComputationGraph(file.toFile(), withUpdater);
            }
            return new ModelBundle(g, meta);
        } catch (Exception | LinkageError e) {
            throw CnnException.model(file + ": cannot read the network (" + oneLine(e)
                    + "); the file is damaged, re-export or retrain the model", e);
        }
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
                return BundleMetadata.fromMap(Json.readMap(new String(in.readAllBytes(), StandardCharsets.UTF_8)));
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

    static String oneLine(Throwable e) {
        String m = e.getMessage();
        return m == null ? e.getClass().getSimpleName() : m.lines().findFirst().orElse("").trim();
    }
}
