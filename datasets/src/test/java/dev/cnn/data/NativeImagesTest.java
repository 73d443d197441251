package dev.cnn.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageOutputStream;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class NativeImagesTest {

    /** A photo-like image: smooth gradients, a few blocks of colour and noise. */
    static BufferedImage photo(int w, int h, long seed) {
        Random r = new Random(seed);
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int red = (int) (128 + 90 * Math.sin(x * 6.0 / w)) + r.nextInt(17) - 8;
                int green = (int) (128 + 90 * Math.cos(y * 5.0 / h)) + r.nextInt(17) - 8;
                int blue = x > w / 3 && x < w / 2 && y > h / 4 ? 230 : 40 + r.nextInt(9);
                img.setRGB(x, y, (clamp(red) << 16) | (clamp(green) << 8) | clamp(blue));
            }
        }
        return img;
    }

    private static int clamp(int v) {
        return Math.max(0, Math.min(255, v));
    }

    static byte[] jpeg(BufferedImage img, float quality, boolean progressive) throws IOException {
        ImageWriter w = ImageIO.getImageWritersByFormatName("jpeg").next();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ImageOutputStream out = ImageIO.createImageOutputStream(bytes)) {
            w.setOutput(out);
            ImageWriteParam p = w.getDefaultWriteParam();
            p.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
            p.setCompressionQuality(quality);
            if (progressive) {
                p.setProgressiveMode(ImageWriteParam.MODE_DEFAULT);
            }
            w.write(null, new IIOImage(img, null, null), p);
        } finally {
            w.dispose();
        }
        return bytes.toByteArray();
    }

    private static Preprocess pre(int size, Preprocess.ResizePolicy policy) {
        return Preprocess.builder().size(3, size, size).resize(policy).normalization(Normalization.unit()).build();
    }

    private static int[] pixels(BufferedImage img) {
        return img.getRGB(0, 0, img.getWidth(), img.getHeight(), null, 0, img.getWidth());
    }

    /** The ImageIO path's result, for comparison (the native path turned off for one call). */
    private static BufferedImage viaImageIo(Path f, Preprocess p) throws BadImageException {
        return ImageDecoder.decode(f, ImageDecoder.DEFAULT_MAX_PIXELS, DecodeBudget.shared(),
                img -> ImageDecoder.resize(ImageDecoder.canonical(img, p.background()), p));
    }

    @Test
    void theNativeDecoderLoadsHere() {
        assertTrue(NativeImages.available(), "OpenCV's natives are on the class path for linux-x86_64");
    }

    @Test
    void atFullScaleTheNativeDecoderGivesImageIosPixelsExactly(@TempDir Path dir) throws Exception {
        for (boolean progressive : new boolean[]{false, true}) {
            Path f = dir.resolve("photo" + progressive + ".jpg");
            Files.write(f, jpeg(photo(203, 151, 1), 0.9f, progressive));
            Preprocess same = pre(151, Preprocess.ResizePolicy.STRETCH); // 203x151 -> 151x151: no reduced decode
            assertEquals(1, NativeImages.scaleFor(203, 151, same));
            BufferedImage full;
            try (var m = NativeImages.decodeJpeg(Files.readAllBytes(f), 1)) {
                assertNotNull(m);
                full = NativeImages.toImage(m);
            }
            BufferedImage io = ImageDecoder.canonical(ImageIO.read(f.toFile()), 0xFFFFFF);
            assertArrayEquals(pixels(io), pixels(full), "progressive " + progressive);
            assertArrayEquals(pixels(viaImageIo(f, same)),
                    pixels(ImageDecoder.readResized(f, ImageDecoder.DEFAULT_MAX_PIXELS, same, DecodeBudget.shared())));
        }
    }

    @Test
    void aSmallTargetDecodesAtReducedScaleAsPilsDraftWould() {
        Preprocess p64 = pre(64, Preprocess.ResizePolicy.STRETCH);
        assertEquals(4, NativeImages.scaleFor(500, 375, p64), "500x375 -> 125x94 still covers 64x64");
        assertEquals(2, NativeImages.scaleFor(500, 375, pre(128, Preprocess.ResizePolicy.STRETCH)));
        assertEquals(1, NativeImages.scaleFor(500, 375, pre(224, Preprocess.ResizePolicy.STRETCH)));
        assertEquals(8, NativeImages.scaleFor(1024, 768, p64), "at most 1/8");
        assertEquals(8, NativeImages.scaleFor(4000, 3000, p64));
        // padding keeps the long side: 500 -> 64 allows 1/4 (125), center crop keeps the short side: 375 -> 64
        assertEquals(4, NativeImages.scaleFor(500, 375, pre(64, Preprocess.ResizePolicy.PAD)));
        assertEquals(4, NativeImages.scaleFor(500, 375, pre(64, Preprocess.ResizePolicy.CENTER_CROP)));
        assertEquals(2, NativeImages.scaleFor(300, 200, pre(64, Preprocess.ResizePolicy.CENTER_CROP)));
        // torchvision's evaluation transform resizes from the full image, as torchvision does
        Preprocess tv = Preprocess.builder().size(3, 64, 64).resizeShorter(73)
                .resize(Preprocess.ResizePolicy.CENTER_CROP).normalization(Normalization.unit()).build();
        assertEquals(1, NativeImages.scaleFor(1024, 768, tv));
    }

    @Test
    void aReducedDecodeKeepsColoursAndLayout(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("big.jpg");
        Files.write(f, jpeg(photo(512, 384, 2), 0.92f, false));
        for (Preprocess.ResizePolicy policy : Preprocess.ResizePolicy.values()) {
            Preprocess p = pre(64, policy);
            // 1/4 is 128x96; padding fits the long side, 512 -> 64, which 1/8 still covers
            assertEquals(policy == Preprocess.ResizePolicy.PAD ? 8 : 4, NativeImages.scaleFor(512, 384, p));
            BufferedImage fast = ImageDecoder.readResized(f, ImageDecoder.DEFAULT_MAX_PIXELS, p, DecodeBudget.shared());
            BufferedImage slow = viaImageIo(f, p);
            assertEquals(64, fast.getWidth());
            assertEquals(64, fast.getHeight());
            int[] a = pixels(fast);
            int[] b = pixels(slow);
            double sum = 0;
            for (int i = 0; i < a.length; i++) {
                for (int shift = 0; shift <= 16; shift += 8) {
                    sum += Math.abs(((a[i] >> shift) & 0xFF) - ((b[i] >> shift) & 0xFF));
                }
            }
            double mean = sum / (a.length * 3.0);
            // the same picture, channels in place (a swapped red/blue alone would differ by ~90 here)
            assertTrue(mean < 8, policy + ": mean channel difference " + mean);
        }
    }

    @Test
    void grayJpegsComeOutGrayAndInMemoryBytesDecodeAsTheirFile(@TempDir Path dir) throws Exception {
        BufferedImage gray = new BufferedImage(120, 90, BufferedImage.TYPE_BYTE_GRAY);
        gray.getGraphics().drawImage(photo(120, 90, 3), 0, 0, null);
        byte[] data = jpeg(gray, 0.9f, false);
        NativeImages.Header h = NativeImages.jpegHeader(data);
        assertEquals(1, h.components());
        assertTrue(h.supported());
        Path f = dir.resolve("gray.jpg");
        Files.write(f, data);
        Preprocess p = pre(32, Preprocess.ResizePolicy.STRETCH);
        BufferedImage img = ImageDecoder.readResized(f, ImageDecoder.DEFAULT_MAX_PIXELS, p, DecodeBudget.shared());
        for (int v : pixels(img)) {
            assertEquals((v >> 16) & 0xFF, v & 0xFF);
            assertEquals((v >> 8) & 0xFF, v & 0xFF);
        }
        assertArrayEquals(pixels(img), pixels(ImageDecoder.readResized(data, "upload.jpg",
                ImageDecoder.DEFAULT_MAX_PIXELS, p)));
    }

    @Test
    void headersOnlyTheNativeDecoderHandlesExactlyAreTakenAndTruncationIsCaughtFirst(@TempDir Path dir)
            throws Exception {
        byte[] good = jpeg(photo(200, 100, 4), 0.9f, false);
        NativeImages.Header h = NativeImages.jpegHeader(good);
        assertEquals(200, h.width());
        assertEquals(100, h.height());
        assertEquals(3, h.components());
        assertEquals(8, h.precision());
        assertTrue(h.supported());
        byte[] padded = Arrays.copyOf(good, good.length + 7); // zeros after the end marker
        assertTrue(NativeImages.jpegHeader(padded).supported());
        byte[] cut = Arrays.copyOf(good, good.length * 2 / 3);
        assertFalse(NativeImages.jpegHeader(cut).supported(), "no end marker: ImageIO decides");
        assertNull(NativeImages.jpegHeader("not a jpeg".getBytes()));
        assertNull(NativeImages.jpegHeader(new byte[]{(byte) 0xFF, (byte) 0xD8, 0, 0}));

        // libjpeg would decode the cut file silently (gray bottom); the pipeline still reports it as truncated
        Path f = dir.resolve("cut.jpg");
        Files.write(f, cut);
        BadImageException e = assertThrows(BadImageException.class, () -> ImageDecoder.readResized(f,
                ImageDecoder.DEFAULT_MAX_PIXELS, pre(32, Preprocess.ResizePolicy.STRETCH), DecodeBudget.shared()));
        assertEquals(BadImageException.Reason.TRUNCATED, e.reason());
        assertEquals(BadImageException.Reason.TRUNCATED, assertThrows(BadImageException.class,
                () -> ImageDecoder.readResized(cut, "cut.jpg", ImageDecoder.DEFAULT_MAX_PIXELS,
                        pre(32, Preprocess.ResizePolicy.STRETCH))).reason());
    }

    @Test
    void theDeclaredSizeIsRefusedFromTheHeaderAndTheBudgetHoldsTheReducedSize(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("photo.jpg");
        Files.write(f, jpeg(photo(400, 300, 5), 0.9f, false));
        BadImageException e = assertThrows(BadImageException.class, () -> ImageDecoder.readResized(f, 100_000,
                pre(32, Preprocess.ResizePolicy.STRETCH), DecodeBudget.shared()));
        assertEquals(BadImageException.Reason.TOO_LARGE, e.reason());
        DecodeBudget b = DecodeBudget.ofBytes(1L << 30);
        ImageDecoder.readResized(f, ImageDecoder.DEFAULT_MAX_PIXELS, pre(50, Preprocess.ResizePolicy.STRETCH), b);
        assertEquals((100L * 75 * (3 + 4) + 1023) / 1024, b.peakBytes() / 1024,
                "400x300 decoded at 1/4 for 50x50 (the budget counts whole KiB)");
        assertEquals(0, b.inUseBytes());
    }

    @Test
    void pngsDecodeNativelyWithImageIosPixelsAlphaCompositedTheSameWay(@TempDir Path dir) throws Exception {
        BufferedImage rgba = new BufferedImage(90, 70, BufferedImage.TYPE_INT_ARGB);
        BufferedImage photo = photo(90, 70, 6);
        for (int y = 0; y < 70; y++) {
            for (int x = 0; x < 90; x++) {
                int a = x < 30 ? 255 : x < 60 ? 128 : 0;
                rgba.setRGB(x, y, (a << 24) | (photo.getRGB(x, y) & 0xFFFFFF));
            }
        }
        BufferedImage gray = new BufferedImage(90, 70, BufferedImage.TYPE_BYTE_GRAY);
        gray.getGraphics().drawImage(photo, 0, 0, null);
        java.util.Map<String, BufferedImage> images = java.util.Map.of("rgb", photo, "rgba", rgba, "gray", gray);
        for (var e : images.entrySet()) {
            Path f = dir.resolve(e.getKey() + ".png");
            assertTrue(ImageIO.write(e.getValue(), "png", f.toFile()));
            NativeImages.Header h = NativeImages.pngHeader(Files.readAllBytes(f));
            assertTrue(h.supported(), e.getKey());
            for (Preprocess p : new Preprocess[]{pre(70, Preprocess.ResizePolicy.STRETCH),
                    Preprocess.builder().size(3, 90, 70).normalization(Normalization.unit()).background(0x336699)
                            .build()}) {
                // the second keeps the size: the decoded pixels themselves, composited on a coloured background
                assertArrayEquals(pixels(viaImageIo(f, p)), pixels(ImageDecoder.readResized(f,
                        ImageDecoder.DEFAULT_MAX_PIXELS, p, DecodeBudget.shared())), e.getKey());
            }
        }
        // what libpng would treat differently, or warn about on stderr, stays with ImageIO
        BufferedImage indexed = new BufferedImage(20, 20, BufferedImage.TYPE_BYTE_INDEXED,
                new java.awt.image.IndexColorModel(8, 2, new byte[]{0, -1}, new byte[]{0, -1}, new byte[]{0, -1}, 0));
        Path f = dir.resolve("indexed-transparent.png");
        assertTrue(ImageIO.write(indexed, "png", f.toFile()));
        assertFalse(NativeImages.pngHeader(Files.readAllBytes(f)).supported(), "tRNS");
        byte[] cut = Files.readAllBytes(dir.resolve("rgb.png"));
        assertFalse(NativeImages.pngHeader(Arrays.copyOf(cut, cut.length - 20)).supported(), "no IEND");
        byte[] flipped = cut.clone();
        flipped[flipped.length / 2] ^= 0x5A; // inside the image data: libpng would print an error on stderr
        assertFalse(NativeImages.pngHeader(flipped).supported(), "CRC mismatch: ImageIO reports it");
        Path bad = dir.resolve("flipped.png");
        Files.write(bad, flipped);
        assertThrows(BadImageException.class, () -> ImageDecoder.readResized(bad, ImageDecoder.DEFAULT_MAX_PIXELS,
                pre(32, Preprocess.ResizePolicy.STRETCH), DecodeBudget.shared()));
    }

    @Test
    void aCompleteJpegWithCorruptDataIsReadableForTrainingAndForDataStatsAlike(@TempDir Path dir) throws Exception {
        byte[] good = jpeg(photo(500, 375, 7), 0.9f, false);
        Path f = dir.resolve("b").resolve("corrupt.jpg");
        Files.createDirectories(f.getParent());
        Files.createDirectories(dir.resolve("a"));
        Files.write(dir.resolve("a").resolve("good.jpg"), good);
        Preprocess p = pre(64, Preprocess.ResizePolicy.STRETCH);
        // 40 mangled bytes somewhere in the scan: find a place where ImageIO refuses the file ("Corrupt JPEG data")
        // while libjpeg through OpenCV decodes it, as PIL would
        boolean found = false;
        for (int at = good.length / 4; at < good.length * 3 / 4 && !found; at += good.length / 40) {
            byte[] corrupt = good.clone();
            for (int i = at; i < at + 40; i++) {
                corrupt[i] = (byte) (corrupt[i] * 7 + 13);
            }
            Files.write(f, corrupt);
            try {
                viaImageIo(f, p);
            } catch (BadImageException refused) {
                found = true;
            }
        }
        assertTrue(found, "some corruption ImageIO refuses");
        assertEquals(64, ImageDecoder.readResized(f, ImageDecoder.DEFAULT_MAX_PIXELS, p, DecodeBudget.shared())
                .getWidth(), "training reads it");
        var stats = DatasetStats.compute(dir.toString(), false);
        assertEquals(0, ((Number) stats.get("unreadable")).intValue(), "data stats agrees: " + stats);
        assertEquals(2, ((Number) stats.get("images")).intValue(), stats.toString());
    }
}
