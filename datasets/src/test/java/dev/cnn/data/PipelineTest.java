package dev.cnn.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PipelineTest {

    static BufferedImage solid(int w, int h, int rgb) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                img.setRGB(x, y, rgb);
            }
        }
        return img;
    }

    static void png(BufferedImage img, Path f) throws IOException {
        Files.createDirectories(f.getParent());
        assertTrue(ImageIO.write(img, "png", f.toFile()));
    }

    static Preprocess pre(int c, int size) {
        return Preprocess.builder().size(c, size, size).normalization(Normalization.unit()).build();
    }

    /** root/{a,b,c}/ with n images each, colour by class. */
    static Path folder(Path root, int n) throws IOException {
        int[] colours = {0xFF0000, 0x00FF00, 0x0000FF};
        String[] names = {"b_second", "a_first", "c_third"};
        for (int k = 0; k < 3; k++) {
            for (int i = 0; i < n; i++) {
                png(solid(10, 8, colours[k]), root.resolve(names[k]).resolve("img" + i + ".png"));
            }
        }
        return root;
    }

    @Test
    void classesSortedAndSplitStratifiedAndSeeded(@TempDir Path dir) throws IOException {
        folder(dir, 10);
        Files.writeString(dir.resolve("a_first/notes.txt"), "ignored");
        Files.writeString(dir.resolve("a_first/.hidden.png"), "ignored");
        DataSource s = DataSource.open(dir.toString(), DataSource.Options.defaults().withValSplit(0.3).withSeed(1));
        assertEquals(List.of("a_first", "b_second", "c_third"), s.classes());
        assertArrayEquals(new int[]{7, 7, 7}, s.train().counts());
        assertArrayEquals(new int[]{3, 3, 3}, s.validation().counts());
        assertEquals(0, s.skipped().total(), "hidden and non-image files are ignored, not skipped");
        DataSource again = DataSource.open(dir.toString(), DataSource.Options.defaults().withValSplit(0.3).withSeed(1));
        assertEquals(paths(s.validation()), paths(again.validation()));
        DataSource other = DataSource.open(dir.toString(), DataSource.Options.defaults().withValSplit(0.3).withSeed(2));
        assertNotEquals(paths(s.validation()), paths(other.validation()));
        Set<Path> overlap = new HashSet<>(paths(s.train()));
        overlap.retainAll(paths(s.validation()));
        assertTrue(overlap.isEmpty());
    }

    @Test
    void theDefaultSplitHoldsOutAFifthButNothingFromSmallData(@TempDir Path dir) throws IOException {
        DataSource.Options auto = DataSource.Options.defaults().withValSplit(DataSource.AUTO_VAL_SPLIT);
        DataSource small = DataSource.open(folder(dir.resolve("small"), 99).toString(), auto);
        assertEquals(297, small.train().size(), "99 a class: every image trains");
        assertNull(small.validation());
        assertEquals(0.0, small.valSplit());
        DataSource enough = DataSource.open(folder(dir.resolve("enough"), 100).toString(), auto);
        assertArrayEquals(new int[]{20, 20, 20}, enough.validation().counts());
        assertEquals(0.2, enough.valSplit());
        DataSource asked = DataSource.open(dir.resolve("small").toString(),
                DataSource.Options.defaults().withValSplit(0.2));
        assertArrayEquals(new int[]{20, 20, 20}, asked.validation().counts(), "a split given is a split taken");
    }

    static List<Path> paths(ImageDataset d) {
        return d.samples().stream().map(Sample::path).toList();
    }

    @Test
    void trainValTestFoldersAreRecognised(@TempDir Path dir) throws IOException {
        folder(dir.resolve("train"), 4);
        folder(dir.resolve("val"), 2);
        folder(dir.resolve("test"), 1);
        DataSource s = DataSource.open(dir.toString(), DataSource.Options.defaults());
        assertEquals(12, s.train().size());
        assertEquals(6, s.validation().size());
        assertEquals(3, s.test().size());
    }

    @Test
    void symlinkedClassFoldersAndFilesAreFollowed(@TempDir Path dir) throws IOException {
        Path real = folder(dir.resolve("real"), 3);
        Path linked = dir.resolve("linked");
        Files.createDirectories(linked.resolve("c_third"));
        Files.createSymbolicLink(linked.resolve("a_first"), real.resolve("a_first"));
        Files.createSymbolicLink(linked.resolve("b_second"), real.resolve("b_second"));
        for (int i = 0; i < 3; i++) {
            Files.createSymbolicLink(linked.resolve("c_third/img" + i + ".png"), real.resolve("c_third/img" + i + ".png"));
        }
        DataSource s = DataSource.open(linked.toString(), DataSource.Options.defaults().withValSplit(0));
        assertArrayEquals(new int[]{3, 3, 3}, s.train().counts());
    }

    @Test
    void csvManifest(@TempDir Path dir) throws IOException {
        png(solid(4, 4, 0xFFFFFF), dir.resolve("x/one.png"));
        png(solid(4, 4, 0), dir.resolve("y/two.png"));
        Files.writeString(dir.resolve("m.csv"), "path,label\nx/one.png,zebra\n\"y/two.png\",ant\n");
        DataSource s = DataSource.open(dir.resolve("m.csv").toString(),
                DataSource.Options.defaults().withValSplit(0));
        assertEquals(List.of("ant", "zebra"), s.classes());
        assertEquals(1, s.train().samples().stream().filter(x -> x.label() == 1
                && x.path().endsWith("x/one.png")).count());
    }

    @Test
    void csvWithAByteOrderMarkAndDuplicatesKeepsItsHeaderAndEachImageOnce(@TempDir Path dir) throws IOException {
        png(solid(4, 4, 0xFFFFFF), dir.resolve("x/one.png"));
        png(solid(4, 4, 0), dir.resolve("y/two.png"));
        png(solid(4, 4, 0x808080), dir.resolve("y/three.png"));
        Files.writeString(dir.resolve("m.csv"), "\uFEFFpath,label\nx/one.png,zebra\ny/two.png,ant\n"
                + "y/three.png,ant\nx/one.png,zebra\n./y/two.png,zebra\n");
        DataSource s = DataSource.open(dir.resolve("m.csv").toString(), DataSource.Options.defaults().withValSplit(0));
        assertEquals(List.of("ant", "zebra"), s.classes(), "no class named 'label'");
        assertEquals(3, s.train().size(), "each image once");
        assertEquals(2, s.skipped().warnings().size(), s.skipped().warnings().toString());
        assertTrue(s.skipped().warnings().get(1).contains("as 'ant' and 'zebra'"), s.skipped().warnings().toString());
        DataException e = assertThrows(DataException.class, () -> DataSource.open(dir.resolve("m.csv").toString(),
                DataSource.Options.defaults().withValSplit(0).withStrict(true)));
        assertTrue(e.getMessage().contains("listed twice"), e.getMessage());
    }

    @Test
    void aSplitThatLeavesNoValidationSaysSo(@TempDir Path dir) throws IOException {
        png(solid(4, 4, 0xFFFFFF), dir.resolve("a/one.png"));
        png(solid(4, 4, 0), dir.resolve("b/two.png"));
        DataSource s = DataSource.open(dir.toString(), DataSource.Options.defaults().withValSplit(0.5));
        assertNull(s.validation());
        assertTrue(s.skipped().warnings().stream().anyMatch(w -> w.contains("leaves no validation images")),
                s.skipped().warnings().toString());
    }

    @Test
    void danglingLinksPipesAndWebpAreCountedNotIgnored(@TempDir Path dir) throws Exception {
        folder(dir, 3);
        Path cls = dir.resolve("a_first");
        Files.createSymbolicLink(cls.resolve("gone.png"), dir.resolve("nowhere.png"));
        assertEquals(0, new ProcessBuilder("mkfifo", cls.resolve("pipe.png").toString()).start().waitFor());
        Files.write(cls.resolve("photo.webp"), new byte[]{'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P'});
        for (int i = 0; i < 12; i++) {
            Files.writeString(cls.resolve("bad" + i + ".png"), "not an image");
        }
        DataSource s = DataSource.open(dir.toString(), DataSource.Options.defaults().withValSplit(0));
        Map<String, Integer> counts = s.skipped().counts();
        assertEquals(2, counts.get("unreadable"), counts.toString());
        assertEquals(13, counts.get("not_an_image"), counts.toString());
        assertEquals(15, s.skipped().total());
        assertTrue(s.skipped().examples().stream().anyMatch(m -> m.contains("photo.webp")
                && m.contains("WEBP is not supported; convert it to PNG or JPEG")), s.skipped().examples().toString());
        // beyond the first few, files are counted, not logged one by one; the JSON lists every one
        assertEquals(15, ((List<?>) s.skipped().toMap().get("files")).size());
        assertEquals(9, s.train().size(), "the good images are all there");
    }

    @Test
    void badFilesAreSkippedCountedOrFatalWhenStrict(@TempDir Path dir) throws Exception {
        folder(dir, 3);
        Path cls = dir.resolve("a_first");
        Files.write(cls.resolve("zero.png"), new byte[0]);
        Files.writeString(cls.resolve("text.png"), "this is not an image at all");
        ByteArrayOutputStream jpg = new ByteArrayOutputStream();
        BufferedImage noisy = solid(64, 64, 0x336699);
        java.util.Random r = new java.util.Random(1);
        for (int i = 0; i < 64 * 64; i++) {
            noisy.setRGB(i % 64, i / 64, r.nextInt(0xFFFFFF));
        }
        ImageIO.write(noisy, "jpg", jpg);
        byte[] j = jpg.toByteArray();
        Files.write(cls.resolve("truncated.jpg"), java.util.Arrays.copyOf(j, j.length * 2 / 3));
        Files.write(cls.resolve("bomb.png"), pngHeader(100_000, 100_000));
        png(solid(3, 3, 0x123456), cls.resolve("ünïcødé 名前.png"));

        DataSource s = DataSource.open(dir.toString(), DataSource.Options.defaults().withValSplit(0));
        // zero, text and bomb are caught at scan time (header); the truncated JPEG at decode time
        Map<String, Integer> counts = s.skipped().counts();
        assertEquals(1, counts.get("empty_file"));
        assertEquals(1, counts.get("not_an_image"));
        assertEquals(1, counts.get("too_large"));
        assertTrue(s.train().samples().stream().anyMatch(x -> x.path().toString().contains("名前")));
        ImageBatchIterator it = ImageBatchIterator.builder(s.train(), pre(3, 8)).batchSize(4)
                .report(s.skipped()).build();
        int seen = 0;
        while (it.hasNext()) {
            seen += it.next().numExamples();
        }
        int listed = s.train().size();
        assertEquals(listed - 1, seen, "truncated JPEG skipped at decode time");
        assertEquals(1, s.skipped().counts().get("truncated"));
        assertTrue(s.skipped().summary().startsWith("skipped 4 files"), s.skipped().summary());

        DataException e = assertThrows(DataException.class, () -> DataSource.open(dir.toString(),
                DataSource.Options.defaults().withStrict(true)));
        assertTrue(e.getMessage().contains(dir.toString()) && e.getMessage().contains("--strict"), e.getMessage());
    }

    /** A PNG whose IHDR declares w x h (no pixel data follows). */
    static byte[] pngHeader(int w, int h) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(new byte[]{(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
        ByteBuffer ihdr = ByteBuffer.allocate(13).putInt(w).putInt(h).put((byte) 8).put((byte) 2).put((byte) 0)
                .put((byte) 0).put((byte) 0);
        byte[] body = ihdr.array();
        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
        crc.update("IHDR".getBytes());
        crc.update(body);
        out.write(ByteBuffer.allocate(4).putInt(13).array());
        out.write("IHDR".getBytes());
        out.write(body);
        out.write(ByteBuffer.allocate(4).putInt((int) crc.getValue()).array());
        return out.toByteArray();
    }

    @Test
    void emptyClassAndSingleClass(@TempDir Path dir) throws IOException {
        png(solid(4, 4, 0), dir.resolve("only/a.png"));
        Files.createDirectories(dir.resolve("empty"));
        DataSource s = DataSource.open(dir.toString(), DataSource.Options.defaults().withValSplit(0));
        assertTrue(s.skipped().warnings().stream().anyMatch(w -> w.contains("empty")), s.skipped().warnings().toString());
        assertThrows(DataException.class, () -> DataSource.open(dir.toString(),
                DataSource.Options.defaults().withStrict(true)));
        assertThrows(DataException.class, () -> DataSource.open(dir.resolve("nope").toString(),
                DataSource.Options.defaults()));
    }

    @Test
    void colourModesEndUpAsExpectedChannels(@TempDir Path dir) throws IOException, BadImageException {
        // RGBA half-transparent red on white -> pink
        BufferedImage rgba = new BufferedImage(2, 2, BufferedImage.TYPE_INT_ARGB);
        for (int i = 0; i < 4; i++) {
            rgba.setRGB(i % 2, i / 2, 0x80FF0000);
        }
        png(rgba, dir.resolve("rgba.png"));
        int px = ImageDecoder.read(dir.resolve("rgba.png")).getRGB(0, 0) & 0xFFFFFF;
        assertEquals(255, (px >> 16) & 0xFF);
        assertEquals(127, (px >> 8) & 0xFF, 1);
        // 16-bit gray at 65535*0.5 -> ~128, not 0..65535
        BufferedImage g16 = new BufferedImage(2, 2, BufferedImage.TYPE_USHORT_GRAY);
        g16.getRaster().setSample(0, 0, 0, 32768);
        png(g16, dir.resolve("g16.png"));
        INDArray t = ImageDecoder.load(dir.resolve("g16.png"), pre(1, 2));
        assertEquals(128 / 255.0, t.getDouble(0, 0, 0, 0), 0.01);
        // 8-bit gray kept linear (no gamma shift), expanded to 3 equal channels
        BufferedImage g8 = new BufferedImage(2, 2, BufferedImage.TYPE_BYTE_GRAY);
        g8.getRaster().setSample(0, 0, 0, 100);
        png(g8, dir.resolve("g8.png"));
        INDArray t3 = ImageDecoder.load(dir.resolve("g8.png"), pre(3, 2));
        assertArrayEquals(new long[]{1, 3, 2, 2}, t3.shape());
        for (int c = 0; c < 3; c++) {
            assertEquals(100 / 255.0, t3.getDouble(0, c, 0, 0), 1e-6);
        }
        // RGB -> 1 channel luma
        png(solid(2, 2, 0xFF0000), dir.resolve("red.png"));
        assertEquals(0.299, ImageDecoder.load(dir.resolve("red.png"), pre(1, 2)).getDouble(0, 0, 0, 0), 0.01);
        // palette GIF, BMP, TIFF decode to the same colour
        for (String fmt : List.of("gif", "bmp", "tiff")) {
            Path f = dir.resolve("blue." + fmt);
            assertTrue(ImageIO.write(solid(3, 3, 0x0000FF), fmt, f.toFile()), fmt);
            INDArray b = ImageDecoder.load(f, pre(3, 3));
            assertEquals(1.0, b.getDouble(0, 2, 1, 1), 0.01, fmt);
            assertEquals(0.0, b.getDouble(0, 0, 1, 1), 0.01, fmt);
        }
        // BGR order swaps channels
        Preprocess bgr = Preprocess.builder().size(3, 2, 2).order(Preprocess.ChannelOrder.BGR)
                .normalization(Normalization.unit()).build();
        assertEquals(1.0, ImageDecoder.load(dir.resolve("red.png"), bgr).getDouble(0, 2, 0, 0), 1e-6);
    }

    @Test
    void imagesInMemoryDecodeAsTheirFilesDoAndBadBytesAreRefusedByName(@TempDir Path dir) throws Exception {
        BufferedImage img = new BufferedImage(40, 30, BufferedImage.TYPE_INT_ARGB);
        for (int i = 0; i < 40 * 30; i++) {
            img.setRGB(i % 40, i / 40, (i * 7919) | (i % 3 == 0 ? 0x80000000 : 0xFF000000));
        }
        png(img, dir.resolve("x.png"));
        byte[] bytes = Files.readAllBytes(dir.resolve("x.png"));
        Preprocess p = pre(3, 16);
        INDArray fromFile = ImageDecoder.load(dir.resolve("x.png"), p);
        assertEquals(fromFile, ImageDecoder.load(bytes, "upload.png", p));
        assertEquals(fromFile, ImageDecoder.load(ImageIO.read(dir.resolve("x.png").toFile()), p),
                "a decoded image (alpha composited on the same background)");

        BadImageException empty = assertThrows(BadImageException.class,
                () -> ImageDecoder.load(new byte[0], "body", p));
        assertEquals(BadImageException.Reason.EMPTY_FILE, empty.reason());
        assertTrue(empty.getMessage().startsWith("body: "), empty.getMessage());
        assertEquals(BadImageException.Reason.NOT_AN_IMAGE, assertThrows(BadImageException.class,
                () -> ImageDecoder.load("hello".getBytes(), "a.txt", p)).reason());
        assertEquals(BadImageException.Reason.TRUNCATED, assertThrows(BadImageException.class,
                () -> ImageDecoder.load(java.util.Arrays.copyOf(bytes, bytes.length / 2), "half.png", p)).reason());
        // a decompression bomb is refused from its header, before its pixels are decoded
        assertEquals(BadImageException.Reason.TOO_LARGE, assertThrows(BadImageException.class,
                () -> ImageDecoder.readResized(bytes, "big.png", 40 * 30 - 1, p)).reason());
    }

    @Test
    void resizePolicies() {
        BufferedImage wide = new BufferedImage(20, 10, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 10; y++) {
            for (int x = 0; x < 20; x++) {
                wide.setRGB(x, y, x < 5 || x >= 15 ? 0xFF0000 : 0x00FF00);
            }
        }
        Preprocess.Builder b = Preprocess.builder().size(3, 10, 10).normalization(Normalization.unit());
        BufferedImage crop = ImageDecoder.resize(wide, b.resize(Preprocess.ResizePolicy.CENTER_CROP).build());
        assertEquals(0x00FF00, crop.getRGB(0, 5) & 0xFFFFFF, "center crop keeps the middle");
        BufferedImage pad = ImageDecoder.resize(wide, b.resize(Preprocess.ResizePolicy.PAD).build());
        assertEquals(0xFFFFFF, pad.getRGB(5, 0) & 0xFFFFFF, "letterbox pads with the background");
        BufferedImage stretch = ImageDecoder.resize(wide, b.resize(Preprocess.ResizePolicy.STRETCH).build());
        assertEquals(0xFF0000, stretch.getRGB(0, 5) & 0xFFFFFF);
        assertEquals(10, stretch.getWidth());
    }

    @Test
    void normalisationAndRoundTrip() {
        assertEquals((0.5f - 0.485f) / 0.229f, Normalization.imagenet().apply(0, 127.5f), 1e-5);
        assertEquals(255 - 103.939f, Normalization.vgg().apply(0, 255), 1e-4);
        Preprocess p = Preprocess.builder().size(3, 32, 48).resize(Preprocess.ResizePolicy.PAD)
                .order(Preprocess.ChannelOrder.BGR).normalization(Normalization.imagenet()).build();
        assertEquals(p, Preprocess.fromMap(p.toMap()));
        assertThrows(IllegalStateException.class, () -> Preprocess.builder().size(3, 8, 8).build());
    }

    @Test
    void iteratorShapesLabelsEpochOrderAndAugmentation() {
        DataSource s = DataSource.open("builtin:shapes?n=40&size=16&seed=3",
                DataSource.Options.defaults().withValSplit(0));
        Preprocess p = pre(3, 16);
        Augmentation aug = Augmentation.parse("flip,crop:0.8,rotate:15,jitter:0.2");
        List<DataSet> e0 = batches(ImageBatchIterator.builder(s.train(), p).batchSize(16).shuffle(true).seed(9)
                .augmentation(aug).epoch(0).build());
        List<DataSet> e0b = batches(ImageBatchIterator.builder(s.train(), p).batchSize(16).shuffle(true).seed(9)
                .augmentation(aug).epoch(0).workers(2).cache(new ImageBatchIterator.Cache()).build());
        List<DataSet> e1 = batches(ImageBatchIterator.builder(s.train(), p).batchSize(16).shuffle(true).seed(9)
                .augmentation(aug).epoch(1).build());
        assertEquals(3, e0.size());
        assertArrayEquals(new long[]{16, 3, 16, 16}, e0.get(0).getFeatures().shape());
        assertArrayEquals(new long[]{8, 4}, e0.get(2).getLabels().shape());
        assertEquals(40, e0.stream().mapToDouble(d -> d.getLabels().sumNumber().doubleValue()).sum(), 1e-9);
        for (int i = 0; i < 3; i++) {
            assertEquals(e0.get(i).getFeatures(), e0b.get(i).getFeatures(), "same seed+epoch, same batches");
        }
        assertNotEquals(e0.get(0).getFeatures(), e1.get(0).getFeatures(), "another epoch, another order");
        // validation: no augmentation, no shuffle -> identical to the decoded images
        List<DataSet> plain = batches(ImageBatchIterator.builder(s.train(), p).batchSize(40).build());
        assertEquals(1, plain.size());
        assertThrows(IllegalArgumentException.class, () -> Augmentation.parse("flip,wobble:3"));
        assertEquals(aug, Augmentation.parse(aug.toSpec()));
    }

    @Test
    void aRecycledBatchArrayIsWrittenOverByALaterBatchWithTheSameContentAsAFreshOne() throws InterruptedException {
        DataSource s = DataSource.open("builtin:shapes?n=42&size=16&seed=3",
                DataSource.Options.defaults().withValSplit(0));
        Preprocess p = pre(3, 16);
        List<DataSet> fresh = batches(ImageBatchIterator.builder(s.train(), p).batchSize(4).shuffle(true).seed(9)
                .workers(2).build());
        ImageBatchIterator it = ImageBatchIterator.builder(s.train(), p).batchSize(4).shuffle(true).seed(9)
                .workers(2).prefetch(1).build();
        List<org.nd4j.linalg.api.ndarray.INDArray> arrays = new ArrayList<>();
        int i = 0;
        while (it.hasNext()) {
            DataSet d = it.next();
            assertEquals(fresh.get(i).getFeatures(), d.getFeatures(), "batch " + i);
            assertEquals(fresh.get(i).getLabels(), d.getLabels(), "batch " + i);
            arrays.add(d.getFeatures());
            it.recycle(d);
            it.recycle(d); // twice: ignored
            it.recycle(fresh.get(0)); // not this iterator's: ignored
            i++;
        }
        it.shutdown();
        assertEquals(11, arrays.size()); // ten of 4, one of 2
        // one batch in the queue and one being decoded: from the fourth on, each is written into a given-back array
        java.util.Set<org.nd4j.linalg.api.ndarray.INDArray> distinct =
                java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        distinct.addAll(arrays.subList(0, 10));
        assertTrue(distinct.size() <= 5, distinct.size() + " arrays for 10 full batches");
        assertFalse(distinct.contains(arrays.get(10)), "the short last batch has its own array");

        // a consumer that never gives batches back: the iterator keeps none of them alive
        ImageBatchIterator keeps = ImageBatchIterator.builder(s.train(), p).batchSize(4).workers(2).build();
        java.lang.ref.WeakReference<org.nd4j.linalg.api.ndarray.INDArray> first =
                new java.lang.ref.WeakReference<>(keeps.next().getFeatures());
        while (keeps.hasNext()) {
            keeps.next();
        }
        for (int k = 0; k < 10 && first.get() != null; k++) {
            System.gc();
            Thread.sleep(20);
        }
        assertNull(first.get(), "a batch never given back was kept alive");
        keeps.shutdown();
    }

    static List<DataSet> batches(ImageBatchIterator it) {
        List<DataSet> out = new ArrayList<>();
        while (it.hasNext()) {
            out.add(it.next());
        }
        it.shutdown();
        return out;
    }

    @Test
    void shapesAreDeterministicAndBalanced() {
        List<Sample> a = Shapes.generate(20, 24, 5);
        List<Sample> b = Shapes.generate(20, 24, 5);
        for (int i = 0; i < 20; i++) {
            assertArrayEquals(a.get(i).image().getRGB(0, 0, 24, 24, null, 0, 24),
                    b.get(i).image().getRGB(0, 0, 24, 24, null, 0, 24));
        }
        assertEquals(5, a.stream().filter(s -> s.label() == 2).count());
    }

    @Test
    void idxImporterGzAndPlain(@TempDir Path dir) throws IOException {
        byte[] images = idx(0x803, new int[]{3, 2, 2}, new byte[]{0, 1, 2, 3, 10, 11, 12, 13, (byte) 255, 0, 0, 0});
        byte[] labels = idx(0x801, new int[]{3}, new byte[]{1, 9, 1});
        Files.write(dir.resolve("train-images-idx3-ubyte"), images);
        Files.write(dir.resolve("train-labels-idx1-ubyte"), labels);
        gz(dir.resolve("t10k-images-idx3-ubyte.gz"), images);
        gz(dir.resolve("t10k-labels-idx1-ubyte.gz"), labels);
        Path out = dir.resolve("out");
        Map<String, Integer> n = Importers.importIdx(dir, out, Importers.FASHION_MNIST, 0, null);
        assertEquals(Map.of("train", 3, "test", 3), n);
        BufferedImage first = ImageIO.read(out.resolve("train/Trouser/00000.png").toFile());
        assertEquals(2, first.getWidth());
        assertEquals(3, first.getRaster().getSample(1, 1, 0));
        assertTrue(Files.exists(out.resolve("test/Ankle_boot/00001.png")));
        assertEquals(Map.of("train", 2, "test", 2), Importers.importIdx(dir, dir.resolve("lim"), Importers.DIGITS, 1, null));
        // a truncated image file without a complete split to check against keeps the complete images, or fails with
        // strict
        byte[] cut = java.util.Arrays.copyOf(images, images.length - 2);
        Files.write(dir.resolve("train-images-idx3-ubyte"), cut);
        Files.delete(dir.resolve("t10k-images-idx3-ubyte.gz"));
        Files.delete(dir.resolve("t10k-labels-idx1-ubyte.gz"));
        assertEquals(Map.of("train", 2), Importers.importIdx(dir, dir.resolve("cut"), Importers.DIGITS, 0, null));
        assertThrows(DataException.class, () -> Importers.importIdx(dir, dir.resolve("cut2"), Importers.DIGITS, 0,
                true, null));
        Files.write(dir.resolve("train-images-idx3-ubyte"), new byte[]{1, 2, 3, 4, 5, 6, 7, 8});
        assertThrows(DataException.class, () -> Importers.importIdx(dir, dir.resolve("bad"), Importers.DIGITS, 0, null));
    }

    /** 4x4 image of class k: pixel k bright, the rest dim noise. */
    private static byte[] patternImages(int[] labels, java.util.Random r, int skip) {
        java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
        for (int i = 0; i < labels.length; i++) {
            if (i == skip) {
                continue;
            }
            for (int j = 0; j < 16; j++) {
                b.write(j == labels[i] ? 200 + r.nextInt(50) : r.nextInt(60));
            }
        }
        return b.toByteArray();
    }

    @Test
    void idxImporterLocatesAnImageMissingMidFileAndRealignsTheLabels(@TempDir Path dir) throws IOException {
        java.util.Random r = new java.util.Random(3);
        int[] train = new int[300];
        int[] test = new int[100];
        for (int i = 0; i < train.length; i++) {
            train[i] = r.nextInt(10);
        }
        for (int i = 0; i < test.length; i++) {
            test[i] = i % 10;
        }
        int lost = 117;
        byte[] tl = new byte[train.length];
        for (int i = 0; i < train.length; i++) {
            tl[i] = (byte) train[i];
        }
        byte[] vl = new byte[test.length];
        for (int i = 0; i < test.length; i++) {
            vl[i] = (byte) test[i];
        }
        // header says 300 images, the file holds 299: image 117 is gone
        Files.write(dir.resolve("train-images-idx3-ubyte"), idx(0x803, new int[]{300, 4, 4}, patternImages(train, r, lost)));
        Files.write(dir.resolve("train-labels-idx1-ubyte"), idx(0x801, new int[]{300}, tl));
        Files.write(dir.resolve("t10k-images-idx3-ubyte"), idx(0x803, new int[]{100, 4, 4}, patternImages(test, r, -1)));
        Files.write(dir.resolve("t10k-labels-idx1-ubyte"), idx(0x801, new int[]{100}, vl));
        Path out = dir.resolve("out");
        assertEquals(Map.of("train", 299, "test", 100), Importers.importIdx(dir, out, Importers.DIGITS, 0, null));
        int checked = 0;
        for (int k = 0; k < 10; k++) {
            try (var files = Files.list(out.resolve("train").resolve(Importers.DIGITS.get(k)))) {
                for (Path f : files.toList()) {
                    BufferedImage img = ImageIO.read(f.toFile());
                    assertTrue(img.getRaster().getSample(k % 4, k / 4, 0) >= 200, f + " is not an image of class " + k);
                    int index = Integer.parseInt(f.getFileName().toString().replace(".png", ""));
                    assertEquals(train[index], k, f + " keeps its original index");
                    checked++;
                }
            }
        }
        assertEquals(299, checked);
        assertFalse(Files.exists(out.resolve("train").resolve(Importers.DIGITS.get(train[lost]))
                .resolve(String.format("%05d.png", lost))), "the lost image's label is dropped");
        assertThrows(DataException.class, () -> Importers.importIdx(dir, dir.resolve("strict"), Importers.DIGITS, 0,
                true, null));
    }

    @Test
    void cifarImporter(@TempDir Path dir) throws IOException {
        byte[] rec = new byte[3073 * 2];
        rec[0] = 3; // cat
        for (int i = 0; i < 1024; i++) {
            rec[1 + i] = (byte) 200; // red plane
        }
        rec[3073] = 9; // truck
        Files.write(dir.resolve("data_batch_1.bin"), rec);
        Map<String, Integer> n = Importers.importCifar10(dir, dir.resolve("out"), 0, null);
        assertEquals(2, n.get("train"));
        BufferedImage cat = ImageIO.read(dir.resolve("out/train/cat/00001.png").toFile());
        assertEquals(200, (cat.getRGB(5, 5) >> 16) & 0xFF);
        assertNull(n.get("test"));
        Files.write(dir.resolve("data_batch_2.bin"), new byte[100]);
        assertThrows(DataException.class, () -> Importers.importCifar10(dir, dir.resolve("o2"), 0, null));
    }

    @Test
    void statsCountsSizesAndModes(@TempDir Path dir) throws IOException {
        folder(dir, 2);
        BufferedImage g = new BufferedImage(5, 5, BufferedImage.TYPE_BYTE_GRAY);
        png(g, dir.resolve("a_first/gray.png"));
        Map<String, Object> st = DatasetStats.compute(dir.toString(), false);
        @SuppressWarnings("unchecked")
        Map<String, Object> train = (Map<String, Object>) ((Map<String, Object>) st.get("splits")).get("train");
        assertEquals(7, train.get("images"));
        assertEquals(Map.of("gray", 1, "rgb", 6), train.get("modes"));
        assertEquals(6, ((Map<?, ?>) train.get("sizes")).get("10x8"));
    }

    @Test
    @SuppressWarnings("unchecked")
    void statsTotalsAreTheSumOfTheirClassesWithTruncatedFilesPresent(@TempDir Path dir) throws IOException {
        folder(dir, 2);
        BufferedImage noisy = solid(64, 64, 0);
        java.util.Random r = new java.util.Random(3);
        for (int i = 0; i < 64 * 64; i++) {
            noisy.setRGB(i % 64, i / 64, r.nextInt(0xFFFFFF));
        }
        for (String f : new String[]{"png", "jpg"}) {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            ImageIO.write(noisy, f, b);
            byte[] whole = b.toByteArray();
            // a valid file cut in half: its header passes the scan, its pixels do not decode
            Files.write(dir.resolve((f.equals("png") ? "a_first" : "b_second") + "/cut." + f),
                    java.util.Arrays.copyOf(whole, whole.length / 2));
        }
        Map<String, Object> st = DatasetStats.compute(dir.toString(), false);
        Map<String, Object> train = (Map<String, Object>) ((Map<String, Object>) st.get("splits")).get("train");
        Map<String, Integer> perClass = (Map<String, Integer>) train.get("perClass");
        Map<String, Integer> unreadable = (Map<String, Integer>) train.get("unreadablePerClass");
        assertEquals(Map.of("a_first", 2, "b_second", 2, "c_third", 2), perClass, "readable images per class");
        assertEquals(Map.of("a_first", 1, "b_second", 1, "c_third", 0), unreadable);
        int sum = perClass.values().stream().mapToInt(Integer::intValue).sum();
        assertEquals(sum, train.get("images"), "the split's total is the sum of its classes");
        assertEquals(2, train.get("unreadable"));
        assertEquals(sum, ((Map<String, Integer>) train.get("sizes")).values().stream().mapToInt(Integer::intValue)
                .sum(), "every counted image has a size");
        assertEquals(Map.of("rgb", sum), train.get("modes"));
        assertEquals(sum, st.get("images"));
        assertEquals(2, st.get("unreadable"));
        Map<String, Object> skipped = (Map<String, Object>) st.get("skipped");
        assertEquals(2, skipped.get("skipped"));
        assertEquals(Map.of("truncated", 2), skipped.get("byReason"), "the JPEG cut in half too, as training finds");
    }

    static byte[] idx(int magic, int[] dims, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(4 + 4 * dims.length + data.length).putInt(magic);
        for (int d : dims) {
            b.putInt(d);
        }
        return b.put(data).array();
    }

    static void gz(Path f, byte[] data) throws IOException {
        try (OutputStream o = new GZIPOutputStream(Files.newOutputStream(f))) {
            o.write(data);
        }
    }
}
