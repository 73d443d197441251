package dev.cnn.data;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.opencv.global.opencv_core;
import org.bytedeco.opencv.global.opencv_imgcodecs;
import org.bytedeco.opencv.global.opencv_imgproc;
import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.Rect;
import org.bytedeco.opencv.opencv_core.Size;

import java.awt.image.BufferedImage;
import java.awt.image.DataBufferInt;
import java.util.Locale;

/**
 * JPEG (and PNG) decoding through OpenCV's libjpeg-turbo (and libpng): SIMD decoding (3.6x ImageIO's rate on 500x375 photos), and decoding at
 * 1/2, 1/4 or 1/8 scale in the DCT domain when the target size allows (PIL's {@code draft}; 8x ImageIO at 1/4). At
 * full scale the pixels are those ImageIO's decoder gives (both are libjpeg's accurate integer IDCT with fancy
 * upsampling; tested).
 *
 * <p>Only files this decoder handles exactly as {@link ImageDecoder}'s ImageIO path would come here: 8-bit baseline
 * or progressive JPEGs with 1 (gray) or 3 (YCbCr/RGB) components that end with the end-of-image marker. Everything
 * else (CMYK, 12-bit, truncated files, anything unparsed) goes to ImageIO, which reports problems as exceptions:
 * libjpeg decodes a truncated file silently as gray, so truncation is checked here first. EXIF orientation is
 * ignored, as ImageIO and PIL ignore it. One difference remains: a complete file whose compressed data is corrupt is
 * decoded as libjpeg decodes it (as PIL does), and libjpeg prints one warning line to stderr.
 * PNGs: 8-bit gray, palette, RGB and RGBA (composited here as ImageIO's path composites) that end with IEND; 16-bit,
 * gray with alpha, tRNS transparency and embedded ICC profiles go to ImageIO.
 * {@code -Dcnn.decoder=imageio} (or {@code CNN_DECODER=imageio}) turns this path off.
 */
final class NativeImages {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(NativeImages.class);
    private static volatile Boolean available;

    private NativeImages() {
    }

    /** Size and layout from a JPEG's frame header. */
    record Header(int width, int height, int components, int precision, boolean complete, boolean png) {
        Header(int width, int height, int components, int precision, boolean complete) {
            this(width, height, components, precision, complete, false);
        }

        /** True when this decoder gives what ImageIO would. */
        boolean supported() {
            return complete && precision == 8 && (components == 1 || components == 3 || png && components == 4);
        }
    }

    private static final byte[] PNG_SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};

    /** True when {@code b} starts as a JPEG or a PNG does. */
    static boolean candidate(byte[] head) {
        if (head.length >= 2 && (head[0] & 0xFF) == 0xFF && (head[1] & 0xFF) == 0xD8) {
            return true;
        }
        return head.length >= 8 && java.util.Arrays.equals(head, 0, 8, PNG_SIGNATURE, 0, 8);
    }

    /** The header of a JPEG or PNG held in {@code b}, or null. */
    static Header anyHeader(byte[] b) {
        return b.length >= 8 && java.util.Arrays.equals(b, 0, 8, PNG_SIGNATURE, 0, 8) ? pngHeader(b) : jpegHeader(b);
    }

    /**
     * The header of a PNG: components 1 (gray or palette), 3 (RGB) or 4 (RGBA), precision the bit depth; -1 for
     * what is left to ImageIO: gray with alpha, transparency by tRNS, an embedded ICC profile (libpng prints warnings
     * about some to stderr), a chunk whose CRC does not match. Complete when the file ends with the IEND chunk.
     */
    static Header pngHeader(byte[] b) {
        int n = b.length;
        if (n < 8 + 25 || !java.util.Arrays.equals(b, 0, 8, PNG_SIGNATURE, 0, 8)
                || b[12] != 'I' || b[13] != 'H' || b[14] != 'D' || b[15] != 'R') {
            return null;
        }
        int w = readInt(b, 16);
        int h = readInt(b, 20);
        int depth = b[24] & 0xFF;
        int colour = b[25] & 0xFF;
        int components = switch (colour) {
            case 0, 3 -> 1;
            case 2 -> 3;
            case 6 -> 4;
            default -> -1; // 4: gray + alpha
        };
        boolean complete = n >= 12 && b[n - 8] == 'I' && b[n - 7] == 'E' && b[n - 6] == 'N' && b[n - 5] == 'D';
        // every chunk's CRC is checked here (0.1 ms for 400 KB), so that libpng never meets corrupt data: it would
        // print "libpng error: ..." to stderr before ImageIO reports the file
        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
        int i = 8;
        while (i + 12 <= n) {
            int len = readInt(b, i);
            if (len < 0 || (long) i + 12 + len > n) {
                components = -1;
                break;
            }
            String type = new String(b, i + 4, 4, java.nio.charset.StandardCharsets.ISO_8859_1);
            if (type.equals("tRNS") || type.equals("iCCP")) {
                components = -1;
            }
            crc.reset();
            crc.update(b, i + 4, 4 + len);
            if ((int) crc.getValue() != readInt(b, i + 8 + len)) {
                components = -1;
                break;
            }
            if (type.equals("IEND")) {
                break;
            }
            i += 12 + len;
        }
        return new Header(w, h, components, depth, complete, true);
    }

    private static int readInt(byte[] b, int i) {
        return ((b[i] & 0xFF) << 24) | ((b[i + 1] & 0xFF) << 16) | ((b[i + 2] & 0xFF) << 8) | (b[i + 3] & 0xFF);
    }

    /**
     * Decodes a PNG (one {@link #pngHeader} supports) into a BGR {@link Mat}, alpha composited on {@code background}
     * as {@link ImageDecoder#canonical} does it; null when libpng gives up.
     */
    static Mat decodePng(byte[] b, Header h, int background) {
        try (BytePointer data = new BytePointer(b);
             Mat raw = new Mat(1, b.length, opencv_core.CV_8UC1, data)) {
            Mat m = opencv_imgcodecs.imdecode(raw, h.components() == 4 ? opencv_imgcodecs.IMREAD_UNCHANGED
                    : opencv_imgcodecs.IMREAD_COLOR);
            int want = h.components() == 4 ? 4 : 3;
            if (m == null || m.empty() || m.channels() != want || m.depth() != opencv_core.CV_8U
                    || m.cols() != h.width() || m.rows() != h.height()) {
                if (m != null) {
                    m.close();
                }
                return null;
            }
            if (want == 3) {
                return m;
            }
            try (m) {
                int pixels = m.cols() * m.rows();
                byte[] bgra = new byte[pixels * 4];
                m.data().get(bgra);
                byte[] bgr = new byte[pixels * 3];
                int bgR = (background >> 16) & 0xFF;
                int bgG = (background >> 8) & 0xFF;
                int bgB = background & 0xFF;
                for (int i = 0, j = 0, k = 0; i < pixels; i++, j += 4, k += 3) {
                    int a = bgra[j + 3] & 0xFF;
                    if (a == 255) {
                        bgr[k] = bgra[j];
                        bgr[k + 1] = bgra[j + 1];
                        bgr[k + 2] = bgra[j + 2];
                    } else {
                        int argb = ImageDecoder.composite((a << 24) | ((bgra[j + 2] & 0xFF) << 16)
                                | ((bgra[j + 1] & 0xFF) << 8) | (bgra[j] & 0xFF), bgR, bgG, bgB);
                        bgr[k] = (byte) argb;
                        bgr[k + 1] = (byte) (argb >> 8);
                        bgr[k + 2] = (byte) (argb >> 16);
                    }
                }
                Mat out = new Mat(m.rows(), m.cols(), opencv_core.CV_8UC3);
                out.data().put(bgr);
                return out;
            }
        }
    }

    /**
     * True when OpenCV's natives load (once; the first call takes ~0.2 s, so callers may call it early, on another thread) and
     * the path is not turned off.
     */
    static boolean available() {
        Boolean a = available;
        if (a == null) {
            synchronized (NativeImages.class) {
                a = available;
                if (a == null) {
                    a = load();
                    available = a;
                }
            }
        }
        return a;
    }

    private static boolean load() {
        String setting = System.getProperty("cnn.decoder", System.getenv().getOrDefault("CNN_DECODER", ""));
        if (setting.toLowerCase(Locale.ROOT).equals("imageio")) {
            return false;
        }
        try {
            // JavaCPP's Pointer first: its initialisation initialises Loader, while initialising Loader first needs
            // Pointer, so a thread that started with Loader while another (model loading, oneDNN) started with Pointer
            // would wait on it forever (seen: classify hung in class initialisation)
            Class.forName("org.bytedeco.javacpp.Pointer");
            Loader.load(opencv_imgcodecs.class);
            Loader.load(opencv_imgproc.class);
            // images are decoded in parallel, one per worker: OpenCV's own threads would only compete with them
            opencv_core.setNumThreads(1);
            return true;
        } catch (Throwable t) { // UnsatisfiedLinkError, NoClassDefFoundError: another platform, natives left out
            LOG.warn("OpenCV's natives did not load ({}); decoding JPEGs with ImageIO (slower)", t.toString());
            return false;
        }
    }

    /** The frame header of a JPEG held in {@code b}, or null when {@code b} is not one this can parse. */
    static Header jpegHeader(byte[] b) {
        int n = b.length;
        if (n < 4 || (b[0] & 0xFF) != 0xFF || (b[1] & 0xFF) != 0xD8) {
            return null;
        }
        int end = n;
        while (end > 2 && b[end - 1] == 0) { // some writers pad after the end marker
            end--;
        }
        boolean complete = (b[end - 2] & 0xFF) == 0xFF && (b[end - 1] & 0xFF) == 0xD9;
        int i = 2;
        while (i + 4 <= n) {
            if ((b[i] & 0xFF) != 0xFF) {
                return null;
            }
            int marker = b[i + 1] & 0xFF;
            if (marker == 0xFF) { // fill byte
                i++;
                continue;
            }
            if (marker == 0xD8 || marker >= 0xD0 && marker <= 0xD7 || marker == 0x01) { // no length
                i += 2;
                continue;
            }
            int len = ((b[i + 2] & 0xFF) << 8) | (b[i + 3] & 0xFF);
            if (len < 2) {
                return null;
            }
            boolean sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
            if (sof) {
                if (i + 10 > n) {
                    return null;
                }
                int precision = b[i + 4] & 0xFF;
                int h = ((b[i + 5] & 0xFF) << 8) | (b[i + 6] & 0xFF);
                int w = ((b[i + 7] & 0xFF) << 8) | (b[i + 8] & 0xFF);
                int comps = b[i + 9] & 0xFF;
                // arithmetic coding (SOF9-15) and lossless (SOF3, SOF7, SOF11, SOF15): leave to ImageIO
                boolean huffmanDct = marker == 0xC0 || marker == 0xC1 || marker == 0xC2;
                return new Header(w, h, comps, huffmanDct ? precision : -1, complete);
            }
            if (marker == 0xDA || marker == 0xD9) { // scan before any frame header
                return null;
            }
            i += 2 + len;
        }
        return null;
    }

    /**
     * The scale denominator (1, 2, 4 or 8) to decode a {@code w}x{@code h} image at for {@code p}: the largest that
     * leaves the resize still shrinking (or keeping) the image, so the decoded image is at least as large as what the
     * resize samples from, as PIL's {@code draft} chooses. Always 1 for torchvision's evaluation transform, which
     * resizes from the full image.
     */
    static int scaleFor(int w, int h, Preprocess p) {
        if (p.resizeShorter() > 0 && p.resize() == Preprocess.ResizePolicy.CENTER_CROP) {
            return 1;
        }
        double sx = p.width() / (double) w;
        double sy = p.height() / (double) h;
        double s = p.resize() == Preprocess.ResizePolicy.PAD ? Math.min(sx, sy) : Math.max(sx, sy);
        int d = 1;
        while (d < 8 && 2 * d * s <= 1 + 1e-9) {
            d *= 2;
        }
        return d;
    }

    /**
     * Decodes {@code b} at 1/{@code d} scale into a BGR {@link Mat} (the caller closes it), or null when libjpeg gives
     * up (the caller then lets ImageIO report why).
     */
    static Mat decodeJpeg(byte[] b, int d) {
        int flag = switch (d) {
            case 1 -> opencv_imgcodecs.IMREAD_COLOR;
            case 2 -> opencv_imgcodecs.IMREAD_REDUCED_COLOR_2;
            case 4 -> opencv_imgcodecs.IMREAD_REDUCED_COLOR_4;
            case 8 -> opencv_imgcodecs.IMREAD_REDUCED_COLOR_8;
            default -> throw new IllegalArgumentException("scale 1/" + d);
        };
        try (BytePointer data = new BytePointer(b);
             Mat raw = new Mat(1, b.length, opencv_core.CV_8UC1, data)) {
            Mat m = opencv_imgcodecs.imdecode(raw, flag | opencv_imgcodecs.IMREAD_IGNORE_ORIENTATION);
            if (m == null || m.empty() || m.channels() != 3 || m.depth() != opencv_core.CV_8U) {
                if (m != null) {
                    m.close();
                }
                return null;
            }
            return m;
        }
    }

    /** A continuous 8-bit BGR {@link Mat} as {@code TYPE_INT_RGB}. */
    static BufferedImage toImage(Mat bgrMat) {
        int w = bgrMat.cols();
        int h = bgrMat.rows();
        Mat m = bgrMat.isContinuous() ? bgrMat : bgrMat.clone();
        try {
            byte[] bgr = new byte[w * h * 3];
            m.data().get(bgr);
            BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
            int[] px = ((DataBufferInt) out.getRaster().getDataBuffer()).getData();
            for (int i = 0, j = 0; i < px.length; i++, j += 3) {
                px[i] = ((bgr[j + 2] & 0xFF) << 16) | ((bgr[j + 1] & 0xFF) << 8) | (bgr[j] & 0xFF);
            }
            return out;
        } finally {
            if (m != bgrMat) {
                m.close();
            }
        }
    }

    /** A canonical ({@code TYPE_INT_RGB}) image as a BGR {@link Mat} (the caller closes it). */
    static Mat toMat(BufferedImage rgb) {
        int w = rgb.getWidth();
        int h = rgb.getHeight();
        int[] px = ImageDecoder.rgbPixels(rgb);
        byte[] bgr = new byte[w * h * 3];
        for (int i = 0, j = 0; i < px.length; i++, j += 3) {
            int v = px[i];
            bgr[j] = (byte) v;
            bgr[j + 1] = (byte) (v >> 8);
            bgr[j + 2] = (byte) (v >> 16);
        }
        Mat m = new Mat(h, w, opencv_core.CV_8UC3);
        m.data().put(bgr);
        return m;
    }

    /** {@link #resize(Mat, Preprocess)} of a canonical image. */
    static BufferedImage resize(BufferedImage rgb, Preprocess p) {
        try (Mat m = toMat(rgb)) {
            return resize(m, p);
        }
    }

    /**
     * Resizes a BGR image to {@code p}'s size with its policy (stretch, centre crop, or pad with the background),
     * with OpenCV: area averaging by a whole factor where it shrinks 2x or more both ways, then bilinear (closer to
     * PIL's antialiased resize than Java2D's bilinear alone; JPEGs are also shrunk in the DCT domain first). The result is {@code TYPE_INT_RGB}.
     */
    static BufferedImage resize(Mat src, Preprocess p) {
        int tw = p.width();
        int th = p.height();
        int w = src.cols();
        int h = src.rows();
        switch (p.resize()) {
            case STRETCH -> {
                return scaled(src, tw, th);
            }
            case CENTER_CROP -> {
                double s = Math.max(tw / (double) w, th / (double) h);
                int sw = Math.min(w, Math.max(1, (int) Math.round(tw / s)));
                int sh = Math.min(h, Math.max(1, (int) Math.round(th / s)));
                try (Rect r = new Rect((w - sw) / 2, (h - sh) / 2, sw, sh); Mat roi = src.apply(r)) {
                    return scaled(roi, tw, th);
                }
            }
            default -> { // PAD
                double s = Math.min(tw / (double) w, th / (double) h);
                int dw = Math.min(tw, Math.max(1, (int) Math.round(w * s)));
                int dh = Math.min(th, Math.max(1, (int) Math.round(h * s)));
                BufferedImage inner = scaled(src, dw, dh);
                BufferedImage out = new BufferedImage(tw, th, BufferedImage.TYPE_INT_RGB);
                int[] px = ((DataBufferInt) out.getRaster().getDataBuffer()).getData();
                java.util.Arrays.fill(px, p.background() & 0xFFFFFF);
                int[] in = ((DataBufferInt) inner.getRaster().getDataBuffer()).getData();
                int ox = (tw - dw) / 2;
                int oy = (th - dh) / 2;
                for (int y = 0; y < dh; y++) {
                    System.arraycopy(in, y * dw, px, (oy + y) * tw + ox, dw);
                }
                return out;
            }
        }
    }

    private static BufferedImage scaled(Mat src, int tw, int th) {
        if (src.cols() == tw && src.rows() == th) {
            return toImage(src);
        }
        // area averaging by a whole factor, the same in both directions, first (OpenCV's fast path: 0.05 ms for
        // 500x375 at 2x, where a fractional or uneven factor takes its general path at 0.7-1 ms), then bilinear for
        // the rest, which is then less than 2x in one direction at least
        int k = Math.max(1, Math.min(src.cols() / tw, src.rows() / th));
        try (Mat area = new Mat(); Mat out = new Mat(); Size none = new Size(); Size size = new Size(tw, th)) {
            Mat from = src;
            if (k > 1) {
                opencv_imgproc.resize(src, area, none, 1.0 / k, 1.0 / k, opencv_imgproc.INTER_AREA);
                from = area;
            }
            if (from.cols() == tw && from.rows() == th) {
                return toImage(from);
            }
            opencv_imgproc.resize(from, out, size, 0, 0, opencv_imgproc.INTER_LINEAR);
            return toImage(out);
        }
    }
}
