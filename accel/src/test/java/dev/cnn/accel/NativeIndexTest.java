package dev.cnn.accel;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The index of where JavaCPP found each native library: what it records, and when it refuses to be used. */
class NativeIndexTest {
    private static final String FP = "5eed";

    @TempDir
    Path dir;

    private Path lib(String name) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, new byte[]{1, 2, 3, 4});
        Files.setLastModifiedTime(p, FileTime.fromMillis(1_644_201_530_000L));
        return p;
    }

    private static URL jar(String name) throws IOException {
        return new URL("jar:file:/x/openblas-linux-x86_64.jar!/org/bytedeco/openblas/linux-x86_64/" + name);
    }

    @Test
    void recordsTheFileLoadedForEachNameAndSkipsNamesFoundNowhere() throws IOException {
        Path blas = lib("libopenblas_nolapack.so.0");
        Path gfortran = lib("libgfortran.so.5");
        Map<String, URL[]> found = new LinkedHashMap<>();
        found.put("gfortran@.5", new URL[]{jar("libgfortran.so.5")});
        found.put("gfortran@.4", new URL[0]);
        found.put("openblas@.0#openblas_nolapack@.0", new URL[]{jar("libopenblas_nolapack.so.0"), jar("x")});
        found.put("iomp5", new URL[0]);
        found.put("omp", new URL[0]);
        Map<String, String> loaded = Map.of(
                "gfortran@.5", gfortran.toString(),
                "openblas_nolapack@.0", blas.toString(), // under the name after '#'
                "omp", "omp"); // the system's loader found it by name: no line, searched as usual next time

        List<String> lines = NativeIndex.lines(found, loaded, Set.of(), FP);

        assertEquals(List.of(NativeIndex.HEADER + "\t" + FP,
                "gfortran@.4\t\t\t",
                "gfortran@.5\t" + gfortran + "\t4\t1644201530000",
                "iomp5\t\t\t",
                "openblas@.0#openblas_nolapack@.0\t" + blas + "\t4\t1644201530000"), lines);
    }

    @Test
    void readsBackOneFileUrlPerNameAndNoUrlForSkippedNames() throws IOException {
        Path blas = lib("libopenblas.so.0");
        Map<String, URL[]> found = new LinkedHashMap<>();
        found.put("openblas@.0", new URL[]{jar("libopenblas.so.0")});
        found.put("iomp5", new URL[0]);
        List<String> lines = NativeIndex.lines(found, Map.of("openblas@.0", blas.toString()), Set.of(), FP);

        Map<String, URL[]> read = NativeIndex.read(lines, FP);

        assertEquals(Set.of("openblas@.0", "iomp5"), read.keySet());
        assertArrayEquals(new URL[]{blas.toUri().toURL()}, read.get("openblas@.0"));
        assertEquals(0, read.get("iomp5").length);
    }

    @Test
    void anIndexIsNotUsedOnceAFileInItIsGoneOrChanged() throws IOException {
        Path a = lib("liba.so");
        Path b = lib("libb.so");
        Map<String, URL[]> found = new LinkedHashMap<>();
        found.put("a", new URL[]{jar("liba.so")});
        found.put("b", new URL[]{jar("libb.so")});
        List<String> lines = NativeIndex.lines(found, Map.of("a", a.toString(), "b", b.toString()), Set.of(), FP);
        assertEquals(2, NativeIndex.read(lines, FP).size());

        Files.setLastModifiedTime(b, FileTime.fromMillis(1_700_000_000_000L)); // replaced by something else
        assertTrue(NativeIndex.read(lines, FP).isEmpty(), "a file with another time");
        Files.setLastModifiedTime(b, FileTime.fromMillis(1_644_201_530_000L));
        Files.write(b, new byte[]{1, 2, 3, 4, 5});
        Files.setLastModifiedTime(b, FileTime.fromMillis(1_644_201_530_000L));
        assertTrue(NativeIndex.read(lines, FP).isEmpty(), "a file with another size");
        Files.delete(b);
        assertTrue(NativeIndex.read(lines, FP).isEmpty(), "a file that is gone");
    }

    @Test
    void anotherVersionOtherPropertiesOrAMalformedLineMeanNoIndex() throws IOException {
        Path a = lib("liba.so");
        List<String> good = new ArrayList<>(NativeIndex.lines(Map.of("a", new URL[]{jar("liba.so")}),
                Map.of("a", a.toString()), Set.of(), FP));
        assertEquals(1, NativeIndex.read(good, FP).size());

        List<String> other = new ArrayList<>(good);
        other.set(0, "cnn native index 2\t" + FP);
        assertTrue(NativeIndex.read(other, FP).isEmpty());
        List<String> cut = new ArrayList<>(good);
        cut.add("b\t/x/libb.so");
        assertTrue(NativeIndex.read(cut, FP).isEmpty());
        assertTrue(NativeIndex.read(List.of(), FP).isEmpty());
        assertTrue(NativeIndex.read(good, "0").isEmpty(), "made with other properties");
    }

    @Test
    void theJarPropertiesAndLibraryPathThatChooseLibrariesChangeTheFingerprintAndMemoryLimitsDoNot()
            throws IOException {
        java.util.Properties p = new java.util.Properties();
        p.setProperty("org.bytedeco.javacpp.platform.extension", "-onednn-avx2");
        p.setProperty("user.dir", "/a");
        String fp = NativeIndex.fingerprint(p, "javacpp-1.5.7.jar");
        p.setProperty("user.dir", "/b");
        p.setProperty("org.bytedeco.javacpp.maxbytes", "8g");
        assertEquals(fp, NativeIndex.fingerprint(p, "javacpp-1.5.7.jar"));
        assertNotEquals(fp, NativeIndex.fingerprint(p, "javacpp-1.5.8.jar"), "another JavaCPP");
        p.setProperty("org.bytedeco.javacpp.platform.extension", "-avx2");
        assertNotEquals(fp, NativeIndex.fingerprint(p, "javacpp-1.5.7.jar"), "another ND4J build");
        p.setProperty("org.bytedeco.javacpp.platform.extension", "-onednn-avx2");
        p.setProperty("user.home", "/home/other");
        assertNotEquals(fp, NativeIndex.fingerprint(p, "javacpp-1.5.7.jar"), "another JavaCPP cache");
        p.remove("user.home");

        Path lib = Files.createDirectories(dir.resolve("lib"));
        p.setProperty("java.library.path", lib.toString());
        String withPath = NativeIndex.fingerprint(p, "javacpp-1.5.7.jar");
        assertNotEquals(fp, withPath, "another library path (LD_LIBRARY_PATH)");
        Files.setLastModifiedTime(lib, FileTime.fromMillis(1_700_000_000_000L)); // a library installed there
        assertNotEquals(withPath, NativeIndex.fingerprint(p, "javacpp-1.5.7.jar"));
    }

    @Test
    void aSavedIndexFillsOnlyTheNamesJavaCppHasNotFoundAndIsRewrittenOnlyForNewNames() throws IOException {
        Path blas = lib("libopenblas.so.0");
        Path index = dir.resolve("cnn-1-2.natives");
        Map<String, URL[]> found = new LinkedHashMap<>();
        found.put("openblas@.0", new URL[]{jar("libopenblas.so.0")});
        found.put("iomp5", new URL[0]);
        Map<String, String> loaded = Map.of("openblas@.0", blas.toString());
        assertTrue(NativeIndex.save(index, () -> found, () -> loaded, Set.of(), FP, () -> false));

        Map<String, URL[]> next = new LinkedHashMap<>();
        URL[] own = {jar("libjnijavacpp.so")};
        next.put("iomp5", own); // already searched by this run: kept
        assertEquals(Set.of("openblas@.0", "iomp5"), NativeIndex.prefill(index, next, FP));
        assertArrayEquals(new URL[]{blas.toUri().toURL()}, next.get("openblas@.0"));
        assertArrayEquals(own, next.get("iomp5"));
        assertEquals(Set.of(), NativeIndex.prefill(index, new LinkedHashMap<>(), "other"), "another fingerprint");

        FileTime written = Files.getLastModifiedTime(index);
        Files.setLastModifiedTime(index, FileTime.fromMillis(written.toMillis() - 60_000));
        FileTime before = Files.getLastModifiedTime(index);
        Set<String> had = Set.of("openblas@.0", "iomp5");
        assertFalse(NativeIndex.save(index, () -> found, () -> loaded, had, FP, () -> false), "nothing new");
        Path cv = lib("libopencv_core.so.405");
        Map<String, URL[]> more = new LinkedHashMap<>(found);
        more.put("opencv_core@.405", new URL[]{jar("libopencv_core.so.405")});
        Map<String, String> moreLoaded = Map.of("openblas@.0", blas.toString(), "opencv_core@.405", cv.toString());
        assertFalse(NativeIndex.save(index, () -> more, () -> moreLoaded, had, FP, () -> true),
                "another thread still loading");
        assertEquals(before, Files.getLastModifiedTime(index));
        assertTrue(NativeIndex.save(index, () -> more, () -> moreLoaded, had, FP, () -> false));
        assertEquals(3, NativeIndex.read(Files.readAllLines(index), FP).size());
        try (var files = Files.list(dir)) {
            assertTrue(files.noneMatch(f -> f.toString().endsWith(".tmp")), "no temporary file left");
        }
    }

    @Test
    void aRunThatNeedsFewerLibrariesKeepsTheIndexEntriesItDidNotLoad() throws IOException {
        Path cv = lib("libopencv_core.so.405");
        Map<String, URL[]> found = new LinkedHashMap<>();
        found.put("opencv_core@.405", new URL[]{cv.toUri().toURL()}); // put there from the index, never loaded

        assertEquals(2, NativeIndex.lines(found, Map.of(), Set.of("opencv_core@.405"), FP).size());
        assertEquals(1, NativeIndex.lines(found, Map.of(), Set.of(), FP).size(), "not from the index: not recorded");
    }

    @Test
    void theLoadedNameFollowsJavaCppsRules() {
        assertEquals("openblas_nolapack@.0", NativeIndex.loadedName("openblas@.0#openblas_nolapack@.0"));
        assertEquals("openblas@.0", NativeIndex.loadedName("openblas@.0#"));
        assertEquals("gomp@.1", NativeIndex.loadedName("gomp@.1!"));
        assertEquals("jnind4jcpu", NativeIndex.loadedName("jnind4jcpu"));
        assertEquals("mkl_rt", NativeIndex.loadedName("mkl_rt:/opt/intel/libmkl_rt.so"));
    }
}
