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
 * when JavaCPP's and ND4J's system properties and the library path are those it was made with (another platform
 * extension picks other libraries) and every file in it still exists with the size and time it had; otherwise JavaCPP searches as usual.
 * A run that loads a library the index lacks rewrites it (temporary file and rename).
 */
public final class NativeIndex {
    /** System property naming the index file; without it nothing is read or written. */
    public static final String PROPERTY = "cnn.nativeIndex";
    static final String HEADER = "cnn native index 1";

    /** The library names this run's index supplied (null: none read). */
    private static volatile Set<String> supplied;
    /** {@link #fingerprint} of the system properties as {@link #prefill} found them (null: not called). */
    private static volatile String properties;

    private NativeIndex() {
    }

    /** Fills JavaCPP's map of found libraries from the index the launcher names, if it is there and still true. */
    public static void prefill() {
        String file = System.getProperty(PROPERTY);
        if (file == null || file.isEmpty() || supplied != null) {
            return;
        }
        try {
            properties = fingerprint(System.getProperties());
            Path path = Path.of(file);
            if (!Files.isRegularFile(path)) {
                supplied = Set.of();
                return;
            }
            Map<String, URL[]> entries = read(Files.readAllLines(path, StandardCharsets.UTF_8), properties);
            Map<String, URL[]> found = foundLibraries(); // (before any other thread loads natives)
            for (Map.Entry<String, URL[]> e : entries.entrySet()) {
                found.putIfAbsent(e.getKey(), e.getValue());
            }
            supplied = new HashSet<>(entries.keySet());
        } catch (IOException | RuntimeException | LinkageError e) {
            supplied = Set.of(); // an unreadable index costs only the search it would have saved
        }
    }

    /**
     * Writes the index for what this run loaded, if it names libraries the index did not (called as the command
     * ends). Never fails the run.
     */
    public static void save() {
        String file = System.getProperty(PROPERTY);
        String fp = properties;
        if (file == null || file.isEmpty() || fp == null) {
            return;
        }
        try {
            // (a thread still loading natives may change the map as it is copied: then no index this time)
            Map<String, URL[]> found = new HashMap<>(foundLibraries());
            Set<String> had = supplied == null ? Set.of() : supplied;
            List<String> lines = lines(found, org.bytedeco.javacpp.Loader.getLoadedLibraries(), had, fp);
            if (lines.size() <= 1 || had.containsAll(keys(lines))) {
                return;
            }
            Path path = Path.of(file);
            Path tmp = path.resolveSibling(path.getFileName() + "." + ProcessHandle.current().pid() + ".tmp");
            try {
                Files.write(tmp, lines, StandardCharsets.UTF_8);
                Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException | RuntimeException | LinkageError e) {
            // a cache that cannot be written: the next run searches as this one did
        }
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
            if (file != null && !bad(file) && Path.of(file).isAbsolute() && Files.isRegularFile(Path.of(file))) {
                BasicFileAttributes a = Files.readAttributes(Path.of(file), BasicFileAttributes.class);
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
     * A digest of the system properties that may steer JavaCPP's and ND4J's choice of libraries (those named
     * {@code org.bytedeco.*} and {@code org.nd4j.*}: the platform extension, the cache folder, a BLAS to load ...,
     * but for memory limits and logging; and {@code java.library.path}, with LD_LIBRARY_PATH in it, where JavaCPP
     * looks last). A library installed later into the system's own folders is seen once the index is made again
     * (a new JVM or new jars, or the index file deleted).
     */
    static String fingerprint(java.util.Properties p) {
        TreeMap<String, String> chosen = new TreeMap<>();
        for (String k : p.stringPropertyNames()) {
            if ((k.startsWith("org.bytedeco.") || k.startsWith("org.nd4j.") || k.equals("java.library.path"))
                    && !IGNORED.contains(k)) {
                chosen.put(k, p.getProperty(k));
            }
        }
        long h = 0xcbf29ce484222325L; // FNV-1a, 64 bits (no security provider to set up at start)
        for (char c : chosen.toString().toCharArray()) {
            h = (h ^ c) * 0x100000001b3L;
        }
        return Long.toHexString(h);
    }

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
