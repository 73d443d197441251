package dev.cnn.data;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.IIOException;
import java.awt.Transparency;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBuffer;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static dev.cnn.data.PipelineTest.png;
import static dev.cnn.data.PipelineTest.pre;
import static dev.cnn.data.PipelineTest.solid;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** #17 item 9: decoding memory is bounded across workers, and running out of it is never a bad image. */
class DecodeMemoryTest {
    /** A 64x64 8-bit RGB PNG decodes to 3 bytes a pixel, plus 4 for its 8-bit RGB copy. */
    static final long RGB8_BYTES = 64 * 64 * 7;

    @AfterEach
    void noHook() {
        ImageDecoder.readHook = null;
    }

    /** n 64x64 8-bit RGB PNGs in class folder "a". */
    static ImageDataset images(Path dir, int n) throws IOException {
        List<Sample> samples = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Path f = dir.resolve("a/img" + i + ".png");
            png(solid(64, 64, 0x102030 * (i + 1)), f);
            samples.add(Sample.ofFile(f, 0));
        }
        return new ImageDataset(List.of("a"), samples);
    }

    /** Counts the decodes (and their pixels) under way at once, each kept open for {@code millis}. */
    static final class InFlight implements ImageDecoder.ReadHook {
        final AtomicInteger now = new AtomicInteger();
        final AtomicInteger most = new AtomicInteger();
        final AtomicLong pixels = new AtomicLong();
        final AtomicLong mostPixels = new AtomicLong();
        final long millis;

        InFlight(long millis) {
            this.millis = millis;
        }

        @Override
        public void reading(Path file, int width, int height) {
            most.accumulateAndGet(now.incrementAndGet(), Math::max);
            mostPixels.accumulateAndGet(pixels.addAndGet((long) width * height), Math::max);
            try {
                Thread.sleep(millis);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                pixels.addAndGet(-(long) width * height);
                now.decrementAndGet();
            }
        }
    }

    static int drain(ImageBatchIterator it) {
        int n = 0;
        try {
            while (it.hasNext()) {
                n += it.next().numExamples();
            }
        } finally {
            it.shutdown();
        }
        return n;
    }

    @Test
    void fourWorkersDecodeOneImageAtATimeWhenTheBudgetHoldsOne(@TempDir Path dir) throws IOException {
        ImageDataset data = images(dir, 8);
        DecodeBudget one = DecodeBudget.ofBytes(RGB8_BYTES * 3 / 2);
        InFlight seen = new InFlight(40);
        ImageDecoder.readHook = seen;
        ImageBatchIterator it = ImageBatchIterator.builder(data, pre(3, 8)).batchSize(8).workers(4)
                .decodeBudget(one).build();
        assertEquals(8, drain(it), "every image decoded, none skipped");
        assertEquals(0, it.report().total());
        assertEquals(1, seen.most.get(), "the budget holds one image: one decode at a time");
        assertEquals(64 * 64, seen.mostPixels.get());
        assertEquals(RGB8_BYTES, one.peakBytes());
        assertEquals(0, one.inUseBytes(), "every decode gave its bytes back");

        // the same workers with room for four overlap: the limit above is the budget's doing
        InFlight free = new InFlight(40);
        ImageDecoder.readHook = free;
        DecodeBudget four = DecodeBudget.ofBytes(RGB8_BYTES * 4);
        assertEquals(8, drain(ImageBatchIterator.builder(data, pre(3, 8)).batchSize(8).workers(4)
                .decodeBudget(four).build()));
        assertTrue(free.most.get() > 1, "workers overlap when the budget allows: " + free.most.get());
        assertTrue(four.peakBytes() <= four.capacityBytes());
    }

    @Test
    void anImageLargerThanTheWholeBudgetStillDecodesAlone(@TempDir Path dir) throws Exception {
        ImageDataset data = images(dir, 4);
        DecodeBudget tiny = DecodeBudget.ofBytes(1024);
        BufferedImage one = ImageDecoder.readResized(data.samples().get(0).path(), ImageDecoder.DEFAULT_MAX_PIXELS,
                pre(3, 8), tiny);
        assertEquals(8, one.getWidth());
        assertEquals(1024, tiny.peakBytes(), "the request is capped at the whole budget");
        InFlight seen = new InFlight(20);
        ImageDecoder.readHook = seen;
        int n = assertTimeoutPreemptively(Duration.ofSeconds(60), () -> drain(ImageBatchIterator
                .builder(data, pre(3, 8)).batchSize(4).workers(4).decodeBudget(tiny).build()));
        assertEquals(4, n, "no worker waits forever");
        assertEquals(1, seen.most.get());
        assertEquals(0, tiny.inUseBytes());
    }

    @Test
    void theDecodedSizeIsEstimatedFromTheHeaderBitDepth(@TempDir Path dir) throws Exception {
        ComponentColorModel cm16 = new ComponentColorModel(ColorSpace.getInstance(ColorSpace.CS_sRGB), false, false,
                Transparency.OPAQUE, DataBuffer.TYPE_USHORT);
        png(new BufferedImage(cm16, cm16.createCompatibleWritableRaster(64, 64), false, null),
                dir.resolve("rgb16.png"));
        png(solid(64, 64, 0x123456), dir.resolve("rgb8.png"));
        png(new BufferedImage(64, 64, BufferedImage.TYPE_BYTE_GRAY), dir.resolve("gray8.png"));
        // 16-bit goes to ImageIO (6 bytes a pixel as read, 4 for the copy); 8-bit gray to OpenCV, which expands it to
        // 3 bytes a pixel
        long[] expected = {64 * 64 * (6 + 4), RGB8_BYTES, NativeImages.available() ? 64 * 64 * (3 + 4)
                : 64 * 64 * (1 + 4)};
        String[] names = {"rgb16.png", "rgb8.png", "gray8.png"};
        for (int i = 0; i < names.length; i++) {
            DecodeBudget b = DecodeBudget.ofBytes(1L << 30);
            ImageDecoder.readResized(dir.resolve(names[i]), ImageDecoder.DEFAULT_MAX_PIXELS, pre(3, 8), b);
            assertEquals(expected[i], b.peakBytes(), names[i]);
        }
        // 8192 x 8192 at 16 bits: 640 MB each, so half a 2 GB heap holds one at a time, not four
        assertEquals(640L << 20, 8192L * 8192 * (6 + 4));
        long heap = Runtime.getRuntime().maxMemory();
        assertEquals(Math.max(64L << 20, heap / 2) >> 10, DecodeBudget.shared().capacityBytes() >> 10);
    }

    @Test
    void runningOutOfMemoryWhileDecodingEndsTheRunNamingTheImageAndIsNeverASkip(@TempDir Path dir)
            throws IOException {
        ImageDataset data = images(dir, 8);
        Path victim = data.samples().get(5).path();
        ImageDecoder.readHook = (file, w, h) -> {
            if (file.equals(victim)) {
                throw new OutOfMemoryError("Java heap space");
            }
        };
        DecodeBudget budget = DecodeBudget.ofBytes(1L << 20);
        SkipReport report = new SkipReport(false);
        ImageBatchIterator it = ImageBatchIterator.builder(data, pre(3, 8)).batchSize(4).workers(4)
                .decodeBudget(budget).report(report).build();
        DecodeOutOfMemoryError e = assertThrows(DecodeOutOfMemoryError.class, () -> drain(it));
        assertEquals(victim, e.file());
        assertTrue(e.getMessage().contains(victim.toString()) && e.getMessage().contains("64 x 64")
                && e.getMessage().contains("lower --workers or raise CNN_HEAP"), e.getMessage());
        assertEquals(0, report.total(), "a valid image is not reported as unreadable: " + report.summary());
        assertEquals(0, budget.inUseBytes(), "the bytes of the failed decode are given back");

        // one worker (the prefetch thread itself) and a direct read: the same error
        SkipReport alone = new SkipReport(false);
        assertThrows(DecodeOutOfMemoryError.class, () -> drain(ImageBatchIterator.builder(data, pre(3, 8))
                .batchSize(8).decodeBudget(budget).report(alone).build()));
        assertEquals(0, alone.total());
        assertThrows(DecodeOutOfMemoryError.class, () -> ImageDecoder.read(victim));

        // native memory (libjpeg's "Insufficient memory") and an OutOfMemoryError as a cause: not bad images either
        ImageDecoder.readHook = (file, w, h) -> {
            throw new IIOException("Insufficient memory (case 4)");
        };
        assertThrows(DecodeOutOfMemoryError.class, () -> ImageDecoder.read(victim));
        ImageDecoder.readHook = (file, w, h) -> {
            throw new IIOException("Error reading PNG image data", new OutOfMemoryError("Java heap space"));
        };
        assertThrows(DecodeOutOfMemoryError.class, () -> ImageDecoder.read(victim));
        // while a real decoding failure still is one
        ImageDecoder.readHook = (file, w, h) -> {
            throw new IIOException("Error reading PNG image data", new java.util.zip.ZipException("invalid"));
        };
        assertEquals(BadImageException.Reason.DECODE_ERROR,
                assertThrows(BadImageException.class, () -> ImageDecoder.read(victim)).reason());
    }
}
