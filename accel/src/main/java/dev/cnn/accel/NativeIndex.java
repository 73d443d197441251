package dev.cnn.accel;

import java.io.IOException;
import java.lang.reflect.Field;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Where JavaCPP found each native library in an earlier run, so that this run loads them without searching.
 *
 * <p>JavaCPP looks for every library (ND4J's, OpenBLAS's, oneDNN's, OpenCV's, about 20 with their preloads) under
 * several file names (versions, platform extensions) as class-path resources, and for a name that is not there it
 * asks every jar on the class path (about 260), several times over as it retries in parent folders. In a one-image
 * classify that is about a fifth of the CPU the JVM spends (bench/RESULTS.md). Given the file JavaCPP loaded for each
 * library name last time, it loads that file directly, and skips the names it found nothing for.
 *
 * <p>The launcher names the index file with the system property {@value #PROPERTY}, next to its class-data archive and
 * under the same key (this installation, its jars, the JVM), so other jars get another file. An index is used only
 * when its {@link #fingerprint} (JavaCPP's jar, the system properties that steer its choices, the library path and
 * its folders' times) is this run's and every file in it still exists with the size and time it had; otherwise
 * JavaCPP searches as usual. A run that ends well and loaded a library the index lacks rewrites it (temporary file and
 * rename). Deleting the file (or {@code -Dcnn.nativeIndex=}) makes JavaCPP search again.
 */
public final class NativeIndex {
    /** System property naming the index file; without it nothing is read or written. */
    public static final String PROPERTY = "cnn.nativeIndex";
    static final String HEADER = "cnn native index 1";

    /** The library names this run's index supplied (null: none read). */
    private static volatile Set<String> supplied;
    /** {@link #fingerprint} of this run, from {@link #prefill} (null: not called, or no index wanted). */
    private static volatile String properties;

    private NativeIndex() {
    }

    /**
     * Fills JavaCPP's map of found libraries from the index the launcher names, if it is there and still true. Call
     * it on the main thread before anything loads natives (JavaCPP's own library, which its class loads as it
     * initialises, is searched as usual).
     */
    public static void prefill() {
        String file = System.getProperty(PROPERTY);
        if (file == null || file.isEmpty() || supplied != null
                || System.getProperty("org.bytedeco.openblas.load") != null) {
            // (another BLAS, such as MKL, may open its siblings by name through the links JavaCPP makes in its cache
            // as it extracts: let JavaCPP search, and make them, every time)
            return;
        }
        for (String d : System.getProperty("java.library.path", "").split(java.io.File.pathSeparator, -1)) {
            if (d.isEmpty() || !Path.of(d).isAbsolute()) {
                // (the current folder is on the path: what JavaCPP finds there by name depends on where cnn runs)
                return;
            }
        }
        try {
            String fp = fingerprint(System.getProperties(), javacppJar());
            properties = fp; // (first: a run whose index cannot be read writes a new one)
            Path path = Path.of(file);
            supplied = Files.isRegularFile(path) ? prefill(path, foundLibraries(), fp) : Set.of();
        } catch (IOException | RuntimeException | LinkageError e) {
            supplied = Set.of(); // an unreadable index costs only the search it would have saved
        }
    }

    /** Puts the index's entries into {@code found} where it has none; returns the names the index supplied. */
    static Set<String> prefill(Path index, Map<String, URL[]> found, String fp) throws IOException {
        Map<String, URL[]> entries = read(Files.readAllLines(index, StandardCharsets.UTF_8), fp);
        for (Map.Entry<String, URL[]> e : entries.entrySet()) {
            found.putIfAbsent(e.getKey(), e.getValue());
        }
        return new HashSet<>(entries.keySet());
    }

    /**
     * Writes the index for what this run loaded, if it names libraries the index did not. Call it when a command has
     * ended well (a failed one may have left natives half-searched on other threads). Never fails the run.
     */
    public static void save() {
        String file = System.getProperty(PROPERTY);
        String fp = properties;
        if (file == null || file.isEmpty() || fp == null) {
            return;
        }
        try {
            save(Path.of(file), () -> new HashMap<>(foundLibraries()), org.bytedeco.javacpp.Loader::getLoadedLibraries,
                    supplied == null ? Set.of() : supplied, fp, NativeIndex::othersLoading);
        } catch (IOException | RuntimeException | LinkageError e) {
            // a cache that cannot be written, or a thread still loading natives changed the map as it was copied:
            // the next run searches as this one did
        }
    }

    /**
     * Writes {@code index} from copies of {@code found} and {@code loaded} (see {@link #lines}) unless it would name
     * no library beyond {@code had} (what the index this run read supplied: the usual end, which asks nothing more)
     * or {@code busy} says another thread is inside JavaCPP's loader (a name it has not found yet looks like one
     * found nowhere); the maps are copied again once it is not. Returns whether it wrote.
     */
    static boolean save(Path index, java.util.function.Supplier<Map<String, URL[]>> found,
                        java.util.function.Supplier<Map<String, String>> loaded, Set<String> had, String fp,
                        java.util.function.BooleanSupplier busy) throws IOException {
        List<String> lines = lines(found.get(), loaded.get(), had, fp);
        if (lines.size() <= 1 || had.containsAll(keys(lines)) || busy.getAsBoolean()) {
            return false;
        }
        lines = lines(found.get(), loaded.get(), had, fp);
        Path tmp = index.resolveSibling(index.getFileName() + "." + ProcessHandle.current().pid() + ".tmp");
        try {
            Files.write(tmp, lines, StandardCharsets.UTF_8);
            Files.move(tmp, index, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
        return true;
    }

    /** Whether a thread other than this one is inside JavaCPP's loader (asked only when there is something new). */
    private static boolean othersLoading() {
        Thread self = Thread.currentThread();
        for (Map.Entry<Thread, StackTraceElement[]> e : Thread.getAllStackTraces().entrySet()) {
            if (e.getKey() != self) {
                for (StackTraceElement f : e.getValue()) {
                    if (f.getClassName().equals("org.bytedeco.javacpp.Loader")) {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    /**
     * The index's lines for JavaCPP's found libraries ({@code found}: library name as JavaCPP's presets write it ->
     * the URLs it found) and loaded libraries ({@code loaded}: name -> the file loaded). A name gets the file loaded
     * for it when that is an absolute path to a file, an empty entry when nothing was found and nothing loaded, and
     * no line otherwise (a library the system loader found by name, a load that failed: searched as usual). Names
     * in {@code kept} (from the index this run read) keep their file when this run did not load them, so a command
     * that needs fewer libraries does not drop the others'. {@code fp}: the {@link #fingerprint} of the properties
     * the libraries were found with.
     */
    static List<String> lines(Map<String, URL[]> found, Map<String, String> loaded, Set<String> kept, String fp)
            throws IOException {
        List<String> out = new ArrayList<>();
        out.add(HEADER + "\t" + fp);
        for (Map.Entry<String, URL[]> e : new TreeMap<>(found).entrySet()) {
            String key = e.getKey();
            String file = loaded.get(loadedName(key));
            URL[] urls = e.getValue();
            if (file == null && kept.contains(key) && urls != null && urls.length == 1
                    && "file".equals(urls[0].getProtocol())) {
                try {
                    file = Path.of(urls[0].toURI()).toString();
                } catch (java.net.URISyntaxException | IllegalArgumentException ex) {
                    continue;
                }
            }
            if (bad(key)) {
                continue;
            }
            Path path = file == null || bad(file) ? null : Path.of(file);
            if (path != null && path.isAbsolute() && Files.isRegularFile(path)) {
                BasicFileAttributes a = Files.readAttributes(path, BasicFileAttributes.class);
                out.add(key + "\t" + file + "\t" + a.size() + "\t" + a.lastModifiedTime().toMillis());
            } else if (file == null && urls != null && urls.length == 0) {
                out.add(key + "\t\t\t");
            }
        }
        return out;
    }

    /**
     * The entries of an index: name -> the one file to load, or no URL for a name to skip. Empty when the header is
     * not this version's with these properties' fingerprint {@code fp}, a line is malformed, or any file is gone or
     * has another size or time than recorded.
     */
    static Map<String, URL[]> read(List<String> lines, String fp) throws IOException {
        if (lines.isEmpty() || !lines.get(0).equals(HEADER + "\t" + fp)) {
            return Map.of();
        }
        Map<String, URL[]> out = new LinkedHashMap<>();
        for (String line : lines.subList(1, lines.size())) {
            String[] f = line.split("\t", -1);
            if (f.length != 4 || f[0].isEmpty()) {
                return Map.of();
            }
            if (f[1].isEmpty()) {
                out.put(f[0], new URL[0]);
                continue;
            }
            Path p = Path.of(f[1]);
            BasicFileAttributes a;
            try {
                a = Files.readAttributes(p, BasicFileAttributes.class);
            } catch (IOException e) {
                return Map.of(); // gone: JavaCPP extracts it again
            }
            if (!a.isRegularFile() || !String.valueOf(a.size()).equals(f[2])
                    || !String.valueOf(a.lastModifiedTime().toMillis()).equals(f[3])) {
                return Map.of();
            }
            out.put(f[0], new URL[]{p.toUri().toURL()});
        }
        return out;
    }

    /**
     * A digest of what may change JavaCPP's and ND4J's choice of libraries: JavaCPP's jar ({@code jar}: its name,
     * with the version that decides what the map's entries mean), the system properties named
     * {@code org.bytedeco.*} and {@code org.nd4j.*} (the platform extension, the cache folder, a BLAS to load ...;
     * not memory limits or logging), those JavaCPP's default cache folder comes from, {@code java.library.path}
     * (LD_LIBRARY_PATH is in it; JavaCPP's last resort looks there), and the modification times of that path's
     * folders (a library installed there since, which JavaCPP would then find by name, makes another fingerprint).
     */
    static String fingerprint(java.util.Properties p, String jar) {
        TreeMap<String, String> chosen = new TreeMap<>();
        for (String k : p.stringPropertyNames()) {
            if ((k.startsWith("org.bytedeco.") || k.startsWith("org.nd4j.") || CHOOSING.contains(k))
                    && !IGNORED.contains(k)) {
                chosen.put(k, p.getProperty(k));
            }
        }
        chosen.put(" jar", jar);
        for (String d : p.getProperty("java.library.path", "").split(java.io.File.pathSeparator)) {
            if (!d.isEmpty()) {
                chosen.put(" dir " + d, String.valueOf(new java.io.File(d).lastModified()));
            }
        }
        long h = 0xcbf29ce484222325L; // FNV-1a, 64 bits (no security provider to set up at start)
        for (char c : chosen.toString().toCharArray()) {
            h = (h ^ c) * 0x100000001b3L;
        }
        return Long.toHexString(h);
    }

    /** Properties outside JavaCPP's and ND4J's names that choose libraries or JavaCPP's cache folder. */
    private static final Set<String> CHOOSING = Set.of("java.library.path", "user.home", "user.name",
            "java.io.tmpdir");

    /** Properties that choose no library (memory limits, logging): changing them keeps the index. */
    private static final Set<String> IGNORED = Set.of("org.bytedeco.javacpp.maxbytes",
            "org.bytedeco.javacpp.maxphysicalbytes", "org.bytedeco.javacpp.maxretries",
            "org.bytedeco.javacpp.nopointergc", "org.bytedeco.javacpp.logger", "org.bytedeco.javacpp.logger.debug");

    /** The name JavaCPP records a library under once loaded, for one it looks up as {@code key} (its rules). */
    static String loadedName(String key) {
        String n = key;
        if (n.startsWith(":")) {
            n = n.substring(1);
        } else if (n.contains(":")) {
            n = n.substring(0, n.indexOf(':'));
        }
        if (n.endsWith("!")) {
            n = n.substring(0, n.length() - 1);
        }
        String[] split = n.split("#");
        return split.length > 1 && !split[1].isEmpty() ? split[1] : split[0];
    }

    private static boolean bad(String s) {
        return s.indexOf('\t') >= 0 || s.indexOf('\n') >= 0 || s.indexOf('\r') >= 0;
    }

    private static Set<String> keys(List<String> lines) {
        Set<String> out = new HashSet<>();
        for (String l : lines.subList(1, lines.size())) {
            out.add(l.substring(0, l.indexOf('\t')));
        }
        return out;
    }

    /** The name of the jar JavaCPP's Loader came from (its version is in it). */
    private static String javacppJar() {
        java.security.CodeSource cs = org.bytedeco.javacpp.Loader.class.getProtectionDomain().getCodeSource();
        try {
            Path p = cs == null || cs.getLocation() == null ? null : Path.of(cs.getLocation().toURI()).getFileName();
            return p == null ? "?" : p.toString();
        } catch (java.net.URISyntaxException | IllegalArgumentException e) {
            return "?";
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, URL[]> foundLibraries() {
        try {
            Field f = org.bytedeco.javacpp.Loader.class.getDeclaredField("foundLibraries");
            f.setAccessible(true);
            return (Map<String, URL[]>) f.get(null);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("JavaCPP's Loader has no foundLibraries map", e);
        }
    }
}
