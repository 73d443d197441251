package dev.cnn.data;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntConsumer;
import java.util.zip.GZIPInputStream;

/**
 * Converters from standard formats to image folders ({@code out/train/<class>/00001.png}, {@code out/test/...}):
 * MNIST-style IDX files (gzip or not), the CIFAR-10 binary batches, and the built-in shapes set.
 */
public final class Importers {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(Importers.class);
    public static final List<String> FASHION_MNIST = List.of("T-shirt_top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot");
    public static final List<String> DIGITS = List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9");
    public static final List<String> CIFAR10 = List.of("airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
            "horse", "ship", "truck");

    private Importers() {
    }

    /** Class names by preset: {@code digits}/{@code mnist} or {@code fashion-mnist}. */
    public static List<String> names(String preset) {
        return switch (preset.toLowerCase()) {
            case "digits", "mnist" -> DIGITS;
            case "fashion-mnist", "fashion", "fashion_mnist" -> FASHION_MNIST;
            case "cifar10", "cifar-10" -> CIFAR10;
            default -> throw new IllegalArgumentException("unknown class-name preset '" + preset
                    + "': use digits, mnist, fashion-mnist or cifar10");
        };
    }

    /**
     * Imports IDX files from {@code dir}: {@code train-images-idx3-ubyte[.gz]} + {@code train-labels-idx1-ubyte[.gz]}
     * into {@code out/train}, {@code t10k-*} into {@code out/test}.
     *
     * @param limitPerClass at most this many images per class and split (0 = all)
     * @return images written per split
     */
    public static Map<String, Integer> importIdx(Path dir, Path out, List<String> names, int limitPerClass,
                                                 IntConsumer progress) throws IOException {
        return importIdx(dir, out, names, limitPerClass, false, progress);
    }

    /**
     * As {@link #importIdx(Path, Path, List, int, IntConsumer)}. An image file that holds fewer images than its
     * header and label file say fails when {@code strict}. Otherwise, when one image is missing and the other split is
     * complete, the missing image is located (see {@link #locateMissing}) and the labels re-aligned; failing that, the
     * complete images are kept with the first labels, and a warning says the alignment is unverified.
     */
    public static Map<String, Integer> importIdx(Path dir, Path out, List<String> names, int limitPerClass,
                                                 boolean strict, IntConsumer progress) throws IOException {
        Map<String, IdxSplit> splits = new LinkedHashMap<>();
        for (String[] split : new String[][]{{"train", "train"}, {"t10k", "test"}}) {
            Path images = find(dir, split[0] + "-images-idx3-ubyte");
            Path labels = find(dir, split[0] + "-labels-idx1-ubyte");
            if (images == null && labels == null) {
                continue;
            }
            if (images == null || labels == null) {
                throw new DataException(dir + ": found only one of " + split[0] + "-images-idx3-ubyte and "
                        + split[0] + "-labels-idx1-ubyte; both are needed");
            }
            splits.put(split[1], readIdx(images, labels, names, strict));
        }
        if (splits.isEmpty()) {
            throw new DataException(dir + ": no IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz]"
                    + ", t10k-...) found");
        }
        for (Map.Entry<String, IdxSplit> e : splits.entrySet()) {
            IdxSplit sp = e.getValue();
            int missing = sp.labels.length - sp.images.length;
            if (missing == 0) {
                continue;
            }
            IdxSplit ref = splits.values().stream().filter(o -> o != sp && o.labels.length == o.images.length
                    && o.rows == sp.rows && o.cols == sp.cols).findFirst().orElse(null);
            Alignment a = missing == 1 && ref != null ? locateMissing(sp, ref, names.size()) : null;
            if (a != null && a.convincing()) {
                LOG.warn("{}: holds {} of {} images; located the missing one at index {} by comparing with the "
                                + "complete {} split (nearest class mean agrees with {}% of the re-aligned labels, "
                                + "{}% if the last image were the missing one); imported {} images with their labels "
                                + "re-aligned", sp.imagesFile, sp.images.length, sp.labels.length, a.index(),
                        ref == splits.get("test") ? "test" : "train", pct(a.agreement()), pct(a.agreementIfLast()),
                        sp.images.length);
                sp.dropLabel(a.index());
            } else {
                LOG.warn("{}: holds {} of {} images; could not tell which {} missing, so the {} complete images keep "
                                + "the first {} labels (alignment unverified: re-download the file, or use --strict "
                                + "to refuse it)", sp.imagesFile, sp.images.length, sp.labels.length,
                        missing == 1 ? "one is" : "ones are", sp.images.length, sp.images.length);
                sp.truncateLabels();
            }
        }
        Map<String, Integer> written = new LinkedHashMap<>();
        int[] done = {0};
        for (Map.Entry<String, IdxSplit> e : splits.entrySet()) {
            written.put(e.getKey(), writeIdx(e.getValue(), out.resolve(e.getKey()), names, limitPerClass, progress,
                    done));
        }
        return written;
    }

    private static String pct(double v) {
        return String.format(java.util.Locale.ROOT, "%.1f", 100 * v);
    }

    /** One IDX split in memory: the complete images and all labels, with the original index of each label. */
    static final class IdxSplit {
        final Path imagesFile;
        final byte[][] images;
        int[] labels;
        int[] index;
        final int rows;
        final int cols;

        IdxSplit(Path imagesFile, byte[][] images, int[] labels, int rows, int cols) {
            this.imagesFile = imagesFile;
            this.images = images;
            this.labels = labels;
            this.rows = rows;
            this.cols = cols;
            this.index = new int[labels.length];
            for (int i = 0; i < index.length; i++) {
                index[i] = i;
            }
        }

        void dropLabel(int at) {
            int[] l = new int[labels.length - 1];
            int[] x = new int[labels.length - 1];
            for (int i = 0, j = 0; i < labels.length; i++) {
                if (i != at) {
                    l[j] = labels[i];
                    x[j++] = index[i];
                }
            }
            labels = l;
            index = x;
        }

        void truncateLabels() {
            labels = java.util.Arrays.copyOf(labels, images.length);
            index = java.util.Arrays.copyOf(index, images.length);
        }
    }

    /**
     * Where one lost image was, found from the pixels: the mean image of each class in a complete split is a weak
     * classifier; image {@code i} of the short file matches label {@code i} before the gap and label {@code i+1}
     * after it, so the gap is the index that maximises agreement with the labels (one pass over prefix sums).
     *
     * @param index           label index whose image is missing
     * @param agreement       fraction of images whose nearest class mean equals their label with the gap there
     * @param agreementIfLast the same if the last image were the missing one (the naive reading)
     */
    record Alignment(int index, double agreement, double agreementIfLast, int classes) {
        /** Clearly better than chance and than the naive reading. */
        boolean convincing() {
            return agreement > 2.0 / classes && agreement > agreementIfLast + 0.1;
        }
    }

    static Alignment locateMissing(IdxSplit sp, IdxSplit ref, int classes) {
        int px = sp.rows * sp.cols;
        double[][] mean = new double[classes][px];
        int[] count = new int[classes];
        for (int i = 0; i < ref.images.length; i++) {
            int k = ref.labels[i];
            count[k]++;
            for (int j = 0; j < px; j++) {
                mean[k][j] += ref.images[i][j] & 0xFF;
            }
        }
        for (int k = 0; k < classes; k++) {
            for (int j = 0; j < px && count[k] > 0; j++) {
                mean[k][j] /= count[k];
            }
        }
        int n = sp.images.length;
        int[] pred = new int[n];
        java.util.stream.IntStream.range(0, n).parallel().forEach(i -> {
            double best = Double.MAX_VALUE;
            for (int k = 0; k < classes; k++) {
                if (count[k] == 0) {
                    continue;
                }
                double d = 0;
                for (int j = 0; j < px; j++) {
                    double v = (sp.images[i][j] & 0xFF) - mean[k][j];
                    d += v * v;
                }
                if (d < best) {
                    best = d;
                    pred[i] = k;
                }
            }
        });
        // score(p) = #{i < p : pred = label[i]} + #{i >= p : pred = label[i+1]}; p = n means the last one is lost
        int[] before = new int[n + 1];
        int[] after = new int[n + 1];
        for (int i = 0; i < n; i++) {
            before[i + 1] = before[i] + (pred[i] == sp.labels[i] ? 1 : 0);
        }
        for (int i = n - 1; i >= 0; i--) {
            after[i] = after[i + 1] + (pred[i] == sp.labels[i + 1] ? 1 : 0);
        }
        int bestP = n;
        for (int p = 0; p <= n; p++) {
            if (before[p] + after[p] > before[bestP] + after[bestP]) {
                bestP = p;
            }
        }
        return new Alignment(bestP, (before[bestP] + after[bestP]) / (double) n, before[n] / (double) n, classes);
    }

    static IdxSplit readIdx(Path imagesFile, Path labelsFile, List<String> names, boolean strict) throws IOException {
        try (DataInputStream im = new DataInputStream(open(imagesFile));
             DataInputStream lb = new DataInputStream(open(labelsFile))) {
            int magicI = im.readInt();
            int magicL = lb.readInt();
            if (magicI != 0x00000803) {
                throw new DataException(imagesFile + ": not an IDX image file (magic " + Integer.toHexString(magicI)
                        + ", expected 803)");
            }
            if (magicL != 0x00000801) {
                throw new DataException(labelsFile + ": not an IDX label file (magic " + Integer.toHexString(magicL)
                        + ", expected 801)");
            }
            int n = im.readInt();
            int rows = im.readInt();
            int cols = im.readInt();
            int nl = lb.readInt();
            if (n != nl) {
                throw new DataException(imagesFile + ": " + n + " images but " + labelsFile + " has " + nl + " labels");
            }
            if (rows < 1 || cols < 1 || (long) rows * cols > 1 << 24 || n < 0) {
                throw new DataException(imagesFile + ": implausible IDX header (" + n + " images of " + rows + "x"
                        + cols + ")");
            }
            int[] labels = new int[n];
            try {
                for (int i = 0; i < n; i++) {
                    labels[i] = lb.readUnsignedByte();
                    if (labels[i] >= names.size()) {
                        throw new DataException(labelsFile + ": label " + labels[i] + " at index " + i
                                + " has no class name (" + names.size() + " names given)");
                    }
                }
            } catch (EOFException e) {
                throw new DataException(labelsFile + ": truncated (fewer than the " + n + " labels its header says);"
                        + " re-download it", e);
            }
            List<byte[]> imgs = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                byte[] px = new byte[rows * cols];
                try {
                    im.readFully(px);
                } catch (EOFException e) {
                    if (strict) {
                        throw new DataException(imagesFile + ": holds " + i + " of " + n + " images (truncated or "
                                + "an image missing); re-download the file, or import without --strict to keep the "
                                + i + " complete ones", e);
                    }
                    break;
                }
                imgs.add(px);
            }
            return new IdxSplit(imagesFile, imgs.toArray(new byte[0][]), labels, rows, cols);
        }
    }

    private static int writeIdx(IdxSplit sp, Path out, List<String> names, int limitPerClass, IntConsumer progress,
                                int[] done) throws IOException {
        int[] perClass = new int[256];
        int written = 0;
        for (int i = 0; i < sp.images.length; i++) {
            int label = sp.labels[i];
            if (limitPerClass > 0 && perClass[label] >= limitPerClass) {
                continue;
            }
            perClass[label]++;
            BufferedImage img = new BufferedImage(sp.cols, sp.rows, BufferedImage.TYPE_BYTE_GRAY);
            img.getRaster().setDataElements(0, 0, sp.cols, sp.rows, sp.images[i]);
            writePng(img, out.resolve(names.get(label)).resolve(String.format("%05d.png", sp.index[i])));
            written++;
            if (progress != null) {
                progress.accept(++done[0]);
            }
        }
        return written;
    }

    private static Path find(Path dir, String base) {
        for (String name : List.of(base + ".gz", base, base.replace("-idx", ".idx") + ".gz", base.replace("-idx", ".idx"))) {
            Path p = dir.resolve(name);
            if (Files.isRegularFile(p)) {
                return p;
            }
        }
        return null;
    }

    private static InputStream open(Path p) throws IOException {
        InputStream in = new BufferedInputStream(Files.newInputStream(p), 1 << 16);
        in.mark(2);
        int b1 = in.read();
        int b2 = in.read();
        in.reset();
        return b1 == 0x1f && b2 == 0x8b ? new BufferedInputStream(new GZIPInputStream(in, 1 << 16)) : in;
    }

    /**
     * Imports CIFAR-10 binary batches ({@code data_batch_1..5.bin} into train, {@code test_batch.bin} into test) from
     * {@code dir} (or its {@code cifar-10-batches-bin} subfolder).
     */
    public static Map<String, Integer> importCifar10(Path dir, Path out, int limitPerClass, IntConsumer progress)
            throws IOException {
        Path d = Files.isDirectory(dir.resolve("cifar-10-batches-bin")) ? dir.resolve("cifar-10-batches-bin") : dir;
        Map<String, Integer> written = new LinkedHashMap<>();
        List<Path> train = new ArrayList<>();
        for (int i = 1; i <= 5; i++) {
            Path p = d.resolve("data_batch_" + i + ".bin");
            if (Files.isRegularFile(p)) {
                train.add(p);
            }
        }
        int[] perClass = new int[10];
        int count = 0;
        int index = 0;
        for (Path p : train) {
            int[] r = writeCifar(p, out.resolve("train"), limitPerClass, perClass, index, progress, count);
            count = r[0];
            index = r[1];
        }
        if (!train.isEmpty()) {
            written.put("train", count);
        }
        Path test = d.resolve("test_batch.bin");
        if (Files.isRegularFile(test)) {
            written.put("test", writeCifar(test, out.resolve("test"), limitPerClass, new int[10], 0, progress, 0)[0]);
        }
        if (written.isEmpty()) {
            throw new DataException(dir + ": no CIFAR-10 binary batches (data_batch_1.bin ... test_batch.bin) found");
        }
        return written;
    }

    private static int[] writeCifar(Path file, Path out, int limit, int[] perClass, int index, IntConsumer progress,
                                    int count) throws IOException {
        long size = Files.size(file);
        if (size % 3073 != 0) {
            throw new DataException(file + ": size " + size + " is not a multiple of 3073 bytes; not a CIFAR-10 "
                    + "binary batch (or truncated)");
        }
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(file), 1 << 16))) {
            byte[] rec = new byte[3073];
            for (long r = 0; r < size / 3073; r++) {
                in.readFully(rec);
                int label = rec[0] & 0xFF;
                if (label > 9) {
                    throw new DataException(file + ": label " + label + " in record " + r + " is not 0..9");
                }
                index++;
                if (limit > 0 && perClass[label] >= limit) {
                    continue;
                }
                perClass[label]++;
                BufferedImage img = new BufferedImage(32, 32, BufferedImage.TYPE_INT_RGB);
                for (int p = 0; p < 1024; p++) {
                    int rr = rec[1 + p] & 0xFF;
                    int gg = rec[1 + 1024 + p] & 0xFF;
                    int bb = rec[1 + 2048 + p] & 0xFF;
                    img.setRGB(p % 32, p / 32, (rr << 16) | (gg << 8) | bb);
                }
                writePng(img, out.resolve(CIFAR10.get(label)).resolve(String.format("%05d.png", index)));
                count++;
                if (progress != null) {
                    progress.accept(count);
                }
            }
        }
        return new int[]{count, index};
    }

    /** Writes the built-in shapes set to {@code out/train|val/<class>/NNNNN.png}. */
    public static Map<String, Integer> writeShapes(Path out, int n, int size, long seed, double valSplit)
            throws IOException {
        DataSource src = DataSource.open(DataSource.SHAPES + "?n=" + n + "&size=" + size + "&seed=" + seed,
                DataSource.Options.defaults().withValSplit(valSplit).withSeed(seed));
        Map<String, Integer> written = new LinkedHashMap<>();
        written.put("train", writeAll(src.train(), out.resolve("train")));
        if (src.validation() != null) {
            written.put("val", writeAll(src.validation(), out.resolve("val")));
        }
        return written;
    }

    private static int writeAll(ImageDataset d, Path out) throws IOException {
        int i = 0;
        for (Sample s : d.samples()) {
            String name = s.path().getFileName().toString();
            writePng(s.image(), out.resolve(d.classes().get(s.label())).resolve(name + ".png"));
            i++;
        }
        return i;
    }

    /** Writes a PNG atomically (temp file + rename), creating the folder. */
    public static void writePng(BufferedImage img, Path file) throws IOException {
        Files.createDirectories(file.getParent());
        Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp");
        if (!ImageIO.write(img, "png", tmp.toFile())) {
            throw new IOException("no PNG writer");
        }
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
