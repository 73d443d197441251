package dev.cnn.transfer.weights;

import dev.cnn.data.PilResize;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@link PilResize} against Pillow + torchvision's {@code Resize(S)} and {@code CenterCrop} on a random 37x23 image
 * (PNGs written by {@code torch_fixtures.py tiny}): shrinking (antialiased), enlarging and a crop larger than the
 * image (zero padding) give Pillow's bytes exactly.
 */
class PilResizeTest {
    static BufferedImage png(String name) throws IOException {
        return ImageIO.read(StateDictTest.DIR.resolve(name).toFile());
    }

    static int[] rgb(BufferedImage i) {
        return i.getRGB(0, 0, i.getWidth(), i.getHeight(), null, 0, i.getWidth());
    }

    void check(int shorter, int h, int w, String expected) throws IOException {
        check(shorter, h, w, expected, PilResize.Filter.BILINEAR);
    }

    void check(int shorter, int h, int w, String expected, PilResize.Filter filter) throws IOException {
        BufferedImage want = png(expected);
        BufferedImage got = PilResize.resizeAndCrop(png("resize.src.png"), shorter, h, w, filter);
        assertEquals(want.getWidth(), got.getWidth());
        assertEquals(want.getHeight(), got.getHeight());
        assertArrayEquals(rgb(want), rgb(got), expected);
    }

    @Test
    void shrinkingMatchesPillowsAntialiasedBilinearToTheBit() throws IOException {
        check(16, 12, 12, "resize.down.png");
    }

    @Test
    void enlargingAndAnOddCropMatchTorchvision() throws IOException {
        check(40, 31, 29, "resize.up.png");
    }

    @Test
    void bicubicShrinkingAndEnlargingMatchPillowToTheBit() throws IOException {
        check(16, 12, 12, "resize.bicubic.down.png", PilResize.Filter.BICUBIC);
        check(40, 31, 29, "resize.bicubic.up.png", PilResize.Filter.BICUBIC);
    }

    @Test
    void efficientNetsWeightsResizeBicubicAndTheBundleKeepsIt() {
        dev.cnn.data.Preprocess p = Weights.find("efficientnet_b0", null).orElseThrow().preprocess();
        assertEquals(PilResize.Filter.BICUBIC, p.interpolation());
        assertEquals(256, p.resizeShorter());
        assertEquals(PilResize.Filter.BICUBIC, dev.cnn.data.Preprocess.fromMap(p.toMap()).interpolation());
        assertEquals(PilResize.Filter.BILINEAR, Weights.find("resnet18", null).orElseThrow().preprocess()
                .interpolation());
    }

    @Test
    void aCropLargerThanTheImageIsPaddedWithBlackAsTorchvisionDoes() throws IOException {
        check(8, 10, 10, "resize.pad.png");
    }

    @Test
    void theLongSideIsTruncatedAsTorchvisionComputesIt() {
        assertArrayEquals(new int[]{341, 256}, PilResize.resizedSize(500, 375, 256));
        assertArrayEquals(new int[]{256, 341}, PilResize.resizedSize(375, 500, 256));
        assertArrayEquals(new int[]{232, 270}, PilResize.resizedSize(301, 351, 232));
    }
}
