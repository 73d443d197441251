package dev.cnn.data;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * Opens the data named by a spec: an image folder ({@code root/<class>/...}, or {@code root/train|val|test/<class>/...}
 * as in torchvision/timm), a CSV manifest ({@code path,label}, paths relative to the CSV), or
 * {@code builtin:shapes[?n=3000&size=32&seed=1234]}. Classes are sorted by name, so a class has the same index in every
 * reader. Without a validation folder, a seeded, stratified fraction of the training data is held out.
 */
public final class DataSource {
    public static final String SHAPES = "builtin:shapes";

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(DataSource.class);

    /** The held-out fraction of {@link #AUTO_VAL_SPLIT} on data that is not small. */
    public static final double DEFAULT_VAL_SPLIT = 0.2;

    /**
     * Images a class (on average) below which {@link #AUTO_VAL_SPLIT} holds nothing out. A fifth of fewer than 100
     * is under 20 validation images a class, where one image moves a class's accuracy by 5 points or more: too few
     * to choose an epoch by (on 10 images a class the "best" epoch was often the second), while the fifth of the
     * training data they take costs more than they give back (bench/RESULTS.md, "Few-shot transfer": finetune and
     * gradual gained 13 points at 10 images a class and 0.5-0.8 at 50 from training on all images).
     */
    public static final int SMALL_DATA_PER_CLASS = 100;

    /**
     * {@link Options#valSplit} for the default split: {@value #DEFAULT_VAL_SPLIT} held out, or nothing when the data
     * to split has fewer than {@value #SMALL_DATA_PER_CLASS} images a class (then training uses every image and
     * keeps its last epoch, as Keras does without {@code validation_split}). A val/ folder is used either way.
     */
    public static final double AUTO_VAL_SPLIT = Double.NaN;

    /** Options; build() validates. {@code valSplit} may be {@link #AUTO_VAL_SPLIT}. */
    public record Options(double valSplit, long seed, boolean strict, long maxPixels) {
        public Options {
            if (valSplit < 0 || valSplit >= 1) {
                throw new IllegalArgumentException("--val-split must be in [0, 1), got " + valSplit);
            }
            if (maxPixels < 1) {
                throw new IllegalArgumentException("maxPixels must be >= 1");
            }
        }

        public static Options defaults() {
            return new Options(DEFAULT_VAL_SPLIT, 42, false, ImageDecoder.DEFAULT_MAX_PIXELS);
        }

        public Options withValSplit(double v) {
            return new Options(v, seed, strict, maxPixels);
        }

        public Options withSeed(long s) {
            return new Options(valSplit, s, strict, maxPixels);
        }

        public Options withStrict(boolean s) {
            return new Options(valSplit, seed, s, maxPixels);
        }
    }

    private final String spec;
    private final List<String> classes;
    private final ImageDataset train;
    private final ImageDataset validation;
    private final ImageDataset test;
    private final SkipReport skipped;
    private final double valSplit;

    private DataSource(String spec, List<String> classes, ImageDataset train, ImageDataset validation,
                       ImageDataset test, SkipReport skipped, double valSplit) {
        this.valSplit = valSplit;
        this.spec = spec;
        this.classes = List.copyOf(classes);
        this.train = train;
        this.validation = validation;
        this.test = test;
        this.skipped = skipped;
    }

    public String spec() {
        return spec;
    }

    public List<String> classes() {
        return classes;
    }

    public ImageDataset train() {
        return train;
    }

    /** Validation data (a folder, or the held-out split), or null when there is none. */
    public ImageDataset validation() {
        return validation;
    }

    /** Test data from a {@code test/} folder, or null. */
    public ImageDataset test() {
        return test;
    }

    public SkipReport skipped() {
        return skipped;
    }

    /**
     * The held-out fraction this source was opened with, {@link #AUTO_VAL_SPLIT} resolved (to 0 on small data):
     * what reopening it the same way takes. With a val/ folder, the fraction that would apply without one.
     */
    public double valSplit() {
        return valSplit;
    }

    /** Opens {@code spec}; a missing path or an unusable layout is a {@link DataException}. */
    public static DataSource open(String spec, Options o) {
        SkipReport report = new SkipReport(o.strict());
        if (spec.startsWith("builtin:")) {
            return shapes(spec, o, report);
        }
        Path p = Path.of(spec);
        if (!Files.exists(p)) {
            throw new DataException(spec + ": no such file or directory; give an image folder, a CSV manifest or "
                    + SHAPES);
        }
        if (Files.isRegularFile(p)) {
            if (!p.getFileName().toString().toLowerCase().endsWith(".csv")) {
                throw new DataException(spec + ": not a folder or a .csv manifest; give a folder of class "
                        + "subfolders or a CSV with path,label lines");
            }
            List<Sample> all = new ArrayList<>();
            List<String> classes = readCsv(p, o, report, all);
            return split(spec, classes, all, o, report);
        }
        Path trainDir = firstDir(p, "train", "training");
        if (trainDir != null) {
            List<String> classes = classDirs(trainDir);
            ImageDataset train = new ImageDataset(classes, scanFolder(trainDir, classes, o, report, true));
            Path valDir = firstDir(p, "val", "valid", "validation");
            Path testDir = firstDir(p, "test", "testing");
            ImageDataset val = valDir == null ? null
                    : new ImageDataset(classes, scanFolder(valDir, classes, o, report, false));
            ImageDataset test = testDir == null ? null
                    : new ImageDataset(classes, scanFolder(testDir, classes, o, report, false));
            if (val == null) {
                DataSource s = split(spec, classes, train.samples(), o, report);
                return new DataSource(spec, classes, s.train, s.validation, test, report, s.valSplit);
            }
            check(spec, classes, train, report);
            return new DataSource(spec, classes, train, val, test, report, resolve(o.valSplit(), train.size(),
                    classes.size()));
        }
        List<String> classes = classDirs(p);
        List<Sample> all = scanFolder(p, classes, o, report, true);
        return split(spec, classes, all, o, report);
    }

    /** Opens one folder of class subfolders as a single dataset (no split), e.g. for evaluation. */
    public static ImageDataset openFolder(Path dir, Options o, SkipReport report) {
        if (!Files.isDirectory(dir)) {
            throw new DataException(dir + ": not a directory; give a folder of class subfolders");
        }
        List<String> classes = classDirs(dir);
        return new ImageDataset(classes, scanFolder(dir, classes, o, report, false));
    }

    private static DataSource shapes(String spec, Options o, SkipReport report) {
        String[] parts = spec.split("\\?", 2);
        if (!parts[0].equals(SHAPES)) {
            throw new DataException(spec + ": unknown built-in dataset; the built-in one is " + SHAPES);
        }
        Map<String, String> q = new HashMap<>();
        if (parts.length == 2) {
            for (String kv : parts[1].split("&")) {
                String[] a = kv.split("=", 2);
                q.put(a[0], a.length == 2 ? a[1] : "");
            }
        }
        int n;
        int size;
        long seed;
        try {
            n = Integer.parseInt(q.getOrDefault("n", "3000"));
            size = Integer.parseInt(q.getOrDefault("size", "32"));
            seed = Long.parseLong(q.getOrDefault("seed", "1234"));
        } catch (NumberFormatException e) {
            throw new DataException(spec + ": bad parameter (" + e.getMessage() + "); e.g. " + SHAPES
                    + "?n=3000&size=32&seed=1234");
        }
        if (n < Shapes.CLASSES.size() * 2 || size < 8 || size > 512) {
            throw new DataException(spec + ": n must be >= 8 and size in 8..512");
        }
        return split(spec, Shapes.CLASSES, Shapes.generate(n, size, seed), o, report);
    }

    private static DataSource split(String spec, List<String> classes, List<Sample> all, Options o,
                                    SkipReport report) {
        check(spec, classes, new ImageDataset(classes, all), report);
        double fraction = resolve(o.valSplit(), all.size(), classes.size());
        if (fraction == 0) {
            if (Double.isNaN(o.valSplit())) {
                LOG.warn("{}: {} images in {} classes, fewer than {} a class: none held out for validation, so "
                        + "training uses all of them and keeps its last epoch (--val-split 0.2 holds a fifth out anyway)",
                        spec, all.size(), classes.size(), SMALL_DATA_PER_CLASS);
            }
            return new DataSource(spec, classes, new ImageDataset(classes, all), null, null, report, 0);
        }
        List<List<Sample>> byClass = new ArrayList<>();
        for (int i = 0; i < classes.size(); i++) {
            byClass.add(new ArrayList<>());
        }
        for (Sample s : all) {
            byClass.get(s.label()).add(s);
        }
        List<Sample> train = new ArrayList<>();
        List<Sample> val = new ArrayList<>();
        Random rnd = new Random(o.seed());
        for (List<Sample> c : byClass) {
            List<Sample> shuffled = new ArrayList<>(c);
            java.util.Collections.shuffle(shuffled, rnd);
            int nVal = (int) Math.round(shuffled.size() * fraction);
            if (nVal == 0 && shuffled.size() >= 2) {
                nVal = 1;
            }
            if (nVal >= shuffled.size()) {
                nVal = shuffled.size() - 1;
            }
            val.addAll(shuffled.subList(0, Math.max(0, nVal)));
            train.addAll(shuffled.subList(Math.max(0, nVal), shuffled.size()));
        }
        if (val.isEmpty()) {
            report.warn(spec + ": --val-split " + fraction + " leaves no validation images (" + all.size()
                    + " images in " + classes.size() + " classes; a class needs 2 to give one); training runs "
                    + "without validation: no validation metrics, best-epoch selection or early stopping", false);
        }
        return new DataSource(spec, classes, new ImageDataset(classes, train),
                val.isEmpty() ? null : new ImageDataset(classes, val), null, report, fraction);
    }

    /** {@code valSplit}, or for {@link #AUTO_VAL_SPLIT} the default for {@code images} in {@code classes}. */
    static double resolve(double valSplit, int images, int classes) {
        if (!Double.isNaN(valSplit)) {
            return valSplit;
        }
        return images < SMALL_DATA_PER_CLASS * (long) Math.max(1, classes) ? 0 : DEFAULT_VAL_SPLIT;
    }

    private static void check(String spec, List<String> classes, ImageDataset d, SkipReport report) {
        int[] counts = d.counts();
        if (d.size() == 0) {
            throw new DataException(spec + ": no usable images found; expected " + spec
                    + "/<class>/<image>.jpg|png|bmp|gif|tif");
        }
        if (classes.size() == 1) {
            report.warn(spec + ": only one class ('" + classes.get(0)
                    + "'); a classifier needs at least two class folders", true);
        }
        int min = Integer.MAX_VALUE;
        int max = 0;
        for (int c : counts) {
            min = Math.min(min, c);
            max = Math.max(max, c);
        }
        if (min > 0 && max / (double) min >= 10) {
            report.warn(String.format("%s: classes are imbalanced (largest %d images, smallest %d); consider "
                    + "collecting more data for the small classes", spec, max, min), false);
        }
    }

    private static Path firstDir(Path root, String... names) {
        for (String n : names) {
            Path p = root.resolve(n);
            if (Files.isDirectory(p)) {
                return p;
            }
        }
        return null;
    }

    /** Non-hidden subfolders, sorted by name. */
    static List<String> classDirs(Path root) {
        try (Stream<Path> s = Files.list(root)) {
            List<String> names = s.filter(Files::isDirectory).map(p -> p.getFileName().toString())
                    .filter(n -> !n.startsWith(".")).sorted().toList();
            if (names.isEmpty()) {
                throw new DataException(root + ": no class subfolders; expected " + root
                        + "/<class>/<image> (one folder per class)");
            }
            return names;
        } catch (IOException e) {
            throw new DataException(root + ": cannot list folder (" + e.getMessage() + ")", e);
        }
    }

    private static List<Sample> scanFolder(Path root, List<String> classes, Options o, SkipReport report,
                                           boolean dropEmpty) {
        List<Sample> out = new ArrayList<>();
        for (int label = 0; label < classes.size(); label++) {
            Path dir = root.resolve(classes.get(label));
            if (!Files.isDirectory(dir)) {
                continue;
            }
            int found = 0;
            for (Path f : imageFiles(dir)) {
                try {
                    ImageDecoder.probe(f, o.maxPixels());
                    out.add(Sample.ofFile(f, label));
                    found++;
                } catch (BadImageException e) {
                    report.skip(e);
                }
            }
            if (found == 0 && dropEmpty) {
                report.warn(dir + ": class folder has no usable images", true);
            }
        }
        return out;
    }

    /**
     * Image files under {@code dir} (recursively, following symbolic links), hidden files and folders and other
     * extensions ignored.
     */
    static List<Path> imageFiles(Path dir) {
        try (Stream<Path> s = Files.walk(dir, java.nio.file.FileVisitOption.FOLLOW_LINKS)) {
            // not only regular files: a dangling link or a pipe named *.png is reported (and counted) as unreadable
            return s.filter(p -> !hidden(dir, p)).filter(p -> !Files.isDirectory(p))
                    .filter(p -> ImageDecoder.isImageName(p.getFileName().toString())).sorted().toList();
        } catch (IOException | UncheckedIOException e) {
            throw new DataException(dir + ": cannot list folder (" + e.getMessage() + ")", e);
        }
    }

    private static boolean hidden(Path root, Path p) {
        for (Path part : root.relativize(p)) {
            if (part.toString().startsWith(".")) {
                return true;
            }
        }
        return false;
    }

    private static List<String> readCsv(Path csv, Options o, SkipReport report, List<Sample> out) {
        List<String> lines;
        try {
            lines = Files.readAllLines(csv, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new DataException(csv + ": cannot read manifest (" + e.getMessage() + ")", e);
        }
        List<String[]> rows = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (i == 0 && line.startsWith("\uFEFF")) { // a UTF-8 byte-order mark (Excel, Notepad)
                line = line.substring(1).strip();
            }
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            String[] f = csvFields(line);
            if (i == 0 && f.length >= 2 && f[0].equalsIgnoreCase("path") && f[1].equalsIgnoreCase("label")) {
                continue;
            }
            if (f.length < 2 || f[0].isBlank() || f[1].isBlank()) {
                throw new DataException(csv + ":" + (i + 1) + ": expected 'path,label', got '" + line + "'");
            }
            rows.add(f);
        }
        List<String> classes = new ArrayList<>(new TreeSet<>(rows.stream().map(r -> r[1].strip()).toList()));
        Map<String, Integer> index = new LinkedHashMap<>();
        for (int i = 0; i < classes.size(); i++) {
            index.put(classes.get(i), i);
        }
        Path base = csv.toAbsolutePath().getParent();
        Map<Path, String> listed = new java.util.HashMap<>();
        for (String[] r : rows) {
            Path f = base.resolve(r[0].strip());
            String first = listed.putIfAbsent(f.normalize(), r[1].strip());
            if (first != null) { // once only: it would be counted twice, and could land in train and validation
                report.warn(csv + ": " + r[0].strip() + " is listed twice" + (first.equals(r[1].strip()) ? ""
                        : " (as '" + first + "' and '" + r[1].strip() + "')") + "; kept the first", true);
                continue;
            }
            try {
                if (!Files.exists(f)) {
                    throw new BadImageException(f, BadImageException.Reason.UNREADABLE, "listed in " + csv
                            + " but missing");
                }
                ImageDecoder.probe(f, o.maxPixels());
                out.add(Sample.ofFile(f, index.get(r[1].strip())));
            } catch (BadImageException e) {
                report.skip(e);
            }
        }
        return classes;
    }

    static String[] csvFields(String line) {
        List<String> f = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        boolean quoted = false;
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (quoted) {
                if (c == '"' && i + 1 < line.length() && line.charAt(i + 1) == '"') {
                    cur.append('"');
                    i++;
                } else if (c == '"') {
                    quoted = false;
                } else {
                    cur.append(c);
                }
            } else if (c == '"') {
                quoted = true;
            } else if (c == ',') {
                f.add(cur.toString());
                cur.setLength(0);
            } else {
                cur.append(c);
            }
        }
        f.add(cur.toString());
        return f.toArray(new String[0]);
    }
}
