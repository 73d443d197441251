package dev.cnn.cli;

import dev.cnn.core.BundleMetadata;
import dev.cnn.core.ModelBundle;
import dev.cnn.core.Provenance;
import dev.cnn.core.TrainConfig;
import dev.cnn.data.Normalization;
import dev.cnn.data.Preprocess;
import dev.cnn.zoo.ModelRegistry;
import dev.cnn.zoo.ModelSpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The distribution tarball ({@code ./mvnw package}), unpacked where no Maven and no checkout are, run through a
 * symlink on PATH, as the Dockerfile's entry command runs it.
 */
class DistributionIT {
    record Result(int code, String out) {
    }

    static Result sh(Path cwd, String path, String... cmd) throws Exception {
        return sh(cwd, path, Map.of(), cmd);
    }

    static Result sh(Path cwd, String path, Map<String, String> env, String... cmd) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(cwd.toFile()).redirectErrorStream(true);
        pb.environment().remove("LD_LIBRARY_PATH"); // (the tarball needs none; one with an empty entry: no index)
        pb.environment().putAll(env);
        pb.environment().put("PATH", path);
        pb.environment().put("CNN_CACHE", cwd.resolveSibling("cache").toString());
        pb.environment().put("CNN_HEAP", "512m");
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return new Result(p.waitFor(), out);
    }

    @Test
    void theUnpackedTarballRunsThroughASymlinkWithoutMavenOrACheckout(@TempDir Path dir) throws Exception {
        Path tarball = Path.of(System.getProperty("cnn.dist", "target/missing.tar.gz"));
        assertTrue(Files.isRegularFile(tarball), "./mvnw package writes " + tarball);
        Path opt = Files.createDirectories(dir.resolve("opt"));
        assertEquals(0, sh(opt, "/usr/bin:/bin", "tar", "xzf", tarball.toAbsolutePath().toString()).code());
        Path home = opt.resolve(tarball.getFileName().toString().replace("-linux-x86_64.tar.gz", ""));
        assertTrue(Files.isExecutable(home.resolve("bin/cnn")), home.toString());
        assertTrue(Files.readString(home.resolve("THIRD-PARTY.txt")).contains("javalin"), "licences listed");
        assertTrue(Files.isRegularFile(home.resolve("README.md")));
        try (Stream<Path> libs = Files.list(home.resolve("lib"))) {
            List<String> names = libs.map(p -> p.getFileName().toString()).toList();
            assertTrue(names.stream().anyMatch(n -> n.startsWith("cnn-cli-")), names.toString());
            assertTrue(names.stream().noneMatch(n -> n.contains("windows") || n.contains("macosx")
                    || n.contains("android") || n.contains("ppc64") || n.contains("arm")), "natives: " + names);
        }
        Path bin = Files.createDirectories(dir.resolve("bin"));
        Files.createSymbolicLink(bin.resolve("cnn"), home.resolve("bin/cnn"));
        Path work = Files.createDirectories(dir.resolve("work"));
        String path = bin + ":/usr/bin:/bin"; // java on /usr/bin; no mvn, no checkout

        Result version = sh(work, path, "/usr/bin/env", "cnn", "--version");
        assertEquals(0, version.code(), version.out());
        assertTrue(version.out().startsWith("cnn "), version.out());
        // through a symlinked folder, by a relative path, with a CDPATH that would find that folder's parent
        Files.createSymbolicLink(dir.resolve("cnnbin"), home.resolve("bin"));
        Result linked = sh(dir, "/usr/bin:/bin", Map.of("CDPATH", dir.toString()), "cnnbin/cnn", "--version");
        assertEquals(0, linked.code(), linked.out());
        assertEquals(version.out(), linked.out());

        Path model = work.resolve("m.zip");
        ModelSpec spec = ModelSpec.builder().numClasses(2).input(1, 8, 8).build();
        new ModelBundle(ModelRegistry.get("simplecnn").build(spec), new BundleMetadata(1, "simplecnn",
                List.of("a", "b"), 1, 8, 8, Preprocess.builder().size(1, 8, 8).normalization(Normalization.unit())
                .build(), Provenance.of("x", 0, "none", false, false, 1, 0,
                TrainConfig.builder().output(model).build(), null), null)).save(model, false);
        ImageIO.write(new BufferedImage(12, 12, BufferedImage.TYPE_INT_RGB), "png", work.resolve("x.png").toFile());
        Result classify = sh(work, path, "/usr/bin/env", "cnn", "classify", "--model", "m.zip", "x.png", "--format", "jsonl");
        assertEquals(0, classify.code(), classify.out());
        assertTrue(classify.out().contains("\"predictions\""), "natives load from lib/: " + classify.out());

        // the first classify left a class-data sharing archive and, under the same key, where JavaCPP found each
        // native library; the next one starts from both, with the same answer
        Path cache = work.resolveSibling("cache");
        String key;
        try (Stream<Path> files = Files.list(cache)) {
            List<String> names = files.map(p -> p.getFileName().toString()).sorted().toList();
            assertEquals(2, names.size(), names.toString());
            assertTrue(names.get(0).matches("cnn-\\d+-\\d+\\.jsa"), names.toString());
            key = names.get(0).substring(0, names.get(0).length() - ".jsa".length());
            assertEquals(key + ".natives", names.get(1));
        }
        Path index = cache.resolve(key + ".natives");
        List<String> lines = Files.readAllLines(index);
        Object written = Files.readAttributes(index, java.nio.file.attribute.BasicFileAttributes.class).fileKey();
        assertNotNull(written, "a file system with file keys (device and inode)");
        assertTrue(lines.get(0).startsWith("cnn native index 1\t"), lines.get(0));
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("jnind4jcpu\t/") && l.contains("libjnind4jcpu.so")),
                lines.toString());
        Result again = sh(work, path, "/usr/bin/env", "cnn", "classify", "--model", "m.zip", "x.png", "--format",
                "jsonl");
        assertEquals(0, again.code(), again.out());
        assertEquals(classify.out(), again.out(), "nothing printed about the archive, the same predictions");
        assertEquals(written, Files.readAttributes(index, java.nio.file.attribute.BasicFileAttributes.class).fileKey(),
                "an index that served is not written again");
        // an index that no longer matches its files is not used, and the run writes a true one
        Files.write(index, lines.stream()
                .map(l -> l.startsWith("jnind4jcpu\t") ? l.replaceAll("\t\\d+\t", "\t1\t") : l).toList());
        Result stale = sh(work, path, "/usr/bin/env", "cnn", "classify", "--model", "m.zip", "x.png", "--format",
                "jsonl");
        assertEquals(0, stale.code(), stale.out());
        assertEquals(classify.out(), stale.out());
        assertEquals(lines, Files.readAllLines(index));
        // a command that fails writes none, also once every native has loaded (an image that is not one: exit 3)
        Files.delete(index);
        Files.write(work.resolve("bad.png"), new byte[]{1, 2, 3});
        Result failed = sh(work, path, "/usr/bin/env", "cnn", "classify", "--model", "m.zip", "x.png", "bad.png");
        assertEquals(ExitCodes.DATA, failed.code(), failed.out());
        assertTrue(Files.notExists(index), "no index from a failed run");
        Files.delete(work.resolve("bad.png"));
        assertEquals(0, sh(work, path, "/usr/bin/env", "cnn", "--version").code());
        assertTrue(Files.notExists(index), "--version loads no natives and leaves no index");

        // a classify of a few files runs with the client compiler only; a folder with the full JIT
        Result few = sh(work, path, "/usr/bin/env", "cnn", "classify", "--model", "m.zip", "x.png", "--timings");
        assertEquals(0, few.code(), few.out());
        assertTrue(few.out().contains("JIT: client compiler only"), few.out());
        // the JIT set through CNN_JAVA_OPTS wins, and the launcher's own JIT options do not stop the JVM from starting
        Result own = sh(work, path, Map.of("CNN_JAVA_OPTS", "-XX:TieredStopAtLevel=4"), "/usr/bin/env", "cnn",
                "classify", "--model", "m.zip", "x.png", "--timings");
        assertEquals(0, own.code(), own.out());
        assertTrue(own.out().contains("timings:") && !own.out().contains("JIT:"), own.out());
        Files.createDirectories(work.resolve("imgs"));
        Files.copy(work.resolve("x.png"), work.resolve("imgs/y.png"));
        Result folder = sh(work, path, "/usr/bin/env", "cnn", "classify", "--model", "m.zip", "imgs", "--timings");
        assertEquals(0, folder.code(), folder.out());
        assertTrue(folder.out().contains("timings:") && !folder.out().contains("JIT:"), folder.out());
    }
}
