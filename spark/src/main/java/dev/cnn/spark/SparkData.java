package dev.cnn.spark;

import dev.cnn.core.CnnException;
import dev.cnn.data.ImageDataset;
import dev.cnn.data.Sample;

import javax.imageio.ImageIO;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.TreeSet;

/** Training data as Spark sees it: the classes and the samples of each split, which the executors read. */
public record SparkData(String spec, List<String> classes, List<SparkSample> train, List<SparkSample> validation,
                        double valSplit) {

    /**
     * The samples of a data set opened as {@code cnn train} opens it (an image folder, a CSV manifest of local paths,
     * {@code builtin:shapes}): paths stay paths, which every executor must be able to read; in-memory images travel
     * encoded as PNG.
     */
    public static List<SparkSample> of(ImageDataset set) {
        if (set == null) {
            return List.of();
        }
        List<SparkSample> out = new ArrayList<>(set.size());
        for (Sample s : set.samples()) {
            out.add(s.image() != null ? new SparkSample(s.path().toString(), png(s.image()), s.label())
                    : SparkSample.of(s.path().toString(), s.label()));
        }
        return out;
    }

    /** True for a data spec that is a URI ({@code hdfs://.../train.csv}, {@code file:/...}): a manifest Hadoop reads. */
    public static boolean isManifestUri(String spec) {
        return SparkImages.isUri(spec);
    }

    /**
     * A CSV manifest ({@code path,label} lines, an optional header), or a list of paths one per line whose class is
     * the folder each image is in, on any Hadoop file system; the paths are URIs or paths the executors read. Nothing
     * is checked here, the executors skip and count what they cannot read. Classes are the sorted labels;
     * {@code valSplit} of each class (seeded) is held out for validation.
     */
    public static SparkData manifest(String uri, double valSplit, long seed) {
        List<String[]> rows = new ArrayList<>();
        try {
            org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(URI.create(uri));
            org.apache.hadoop.fs.FileSystem fs = p.getFileSystem(new org.apache.hadoop.conf.Configuration());
            try (BufferedReader r = new BufferedReader(new InputStreamReader(fs.open(p), StandardCharsets.UTF_8))) {
                int line = 0;
                for (String l; (l = r.readLine()) != null; ) {
                    line++;
                    if (l.isBlank() || (line == 1 && l.strip().equalsIgnoreCase("path,label"))) {
                        continue;
                    }
                    int comma = l.lastIndexOf(',');
                    if (comma < 0) { // a list of paths: the class is the folder each image is in
                        String path = l.strip();
                        String parent = parentName(path);
                        if (parent == null) {
                            throw CnnException.data(uri + ":" + line + ": '" + path + "' is in no folder to name its "
                                    + "class; give path,label lines");
                        }
                        rows.add(new String[]{path, parent});
                        continue;
                    }
                    if (comma == 0 || comma == l.length() - 1) {
                        throw CnnException.data(uri + ":" + line + ": expected path,label, got '" + l.strip() + "'");
                    }
                    rows.add(new String[]{l.substring(0, comma).strip(), l.substring(comma + 1).strip()});
                }
            }
        } catch (IOException | IllegalArgumentException e) {
            throw CnnException.data(uri + ": cannot read the manifest (" + dev.cnn.core.ModelBundle.oneLine(e)
                    + "); give a CSV of path,label lines that Hadoop's file systems can open", e);
        }
        List<String> classes = new ArrayList<>(new TreeSet<>(rows.stream().map(r -> r[1]).toList()));
        if (classes.size() < 2) {
            throw CnnException.data(uri + ": found " + classes.size() + " class; training a classifier needs at "
                    + "least two labels");
        }
        List<List<SparkSample>> byClass = new ArrayList<>();
        classes.forEach(c -> byClass.add(new ArrayList<>()));
        for (String[] r : rows) {
            int label = Collections.binarySearch(classes, r[1]);
            byClass.get(label).add(SparkSample.of(r[0], label));
        }
        double split = Double.isNaN(valSplit) ? dev.cnn.data.DataSource.DEFAULT_VAL_SPLIT : valSplit;
        List<SparkSample> train = new ArrayList<>();
        List<SparkSample> val = new ArrayList<>();
        Random rnd = new Random(seed);
        for (List<SparkSample> c : byClass) {
            Collections.shuffle(c, rnd);
            int v = (int) Math.round(c.size() * split);
            val.addAll(c.subList(0, v));
            train.addAll(c.subList(v, c.size()));
        }
        return new SparkData(uri, classes, train, val, split);
    }

    /** The name of the folder {@code path} (a path or URI) is in, or null at the top. */
    static String parentName(String path) {
        String p = path;
        if (SparkImages.isUri(path)) {
            try {
                p = URI.create(path).getPath();
            } catch (IllegalArgumentException e) {
                return null;
            }
            if (p == null) {
                return null;
            }
        }
        String[] parts = p.replaceAll("/+$", "").split("/+");
        return parts.length < 2 || parts[parts.length - 2].isEmpty() ? null : parts[parts.length - 2];
    }

    private static byte[] png(java.awt.image.BufferedImage img) {
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ImageIO.write(img, "png", out);
            return out.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
