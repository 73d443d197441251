package dev.cnn.data;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import javax.imageio.IIOException;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.event.IIOReadWarningListener;
import javax.imageio.stream.ImageInputStream;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.DataBufferInt;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.awt.image.SampleModel;
import java.io.EOFException;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.function.Function;

/**
 * Pure-Java image decoding (javax.imageio: JPEG, PNG, BMP, GIF first frame, TIFF), so corrupt files raise exceptions
 * and never print from native code. Every image is brought to one canonical form, 8-bit sRGB without alpha
 * ({@code TYPE_INT_RGB}): gray, palette, 16-bit and CMYK images are converted, transparent pixels composited on the
 * background. The declared size is read from the header before decoding, so decompression bombs are refused early.
 */
public final class ImageDecoder {
    /** Default limit on declared pixels (64 megapixels). */
    public static final long DEFAULT_MAX_PIXELS = 64L * 1024 * 1024;
    public static final Set<String> EXTENSIONS = Set.of("jpg", "jpeg", "png", "bmp", "gif", "tif", "tiff");
    /**
     * Image formats that are recognised by name but not decoded (no maintained pure-Java decoder is at hand): such
     * files are reported as unsupported, naming the format, instead of being ignored.
     */
    public static final Set<String> UNSUPPORTED = Set.of("webp", "heic", "heif", "avif");

    static {
        ImageIO.setUseCache(false);
    }

    private ImageDecoder() {
    }

    /** True for the file extensions the pipeline reads (case-insensitive). */
    public static boolean isImageName(String name) {
        String ext = extension(name);
        return EXTENSIONS.contains(ext) || UNSUPPORTED.contains(ext);
    }

    /** The lower-case extension of a file name, "" without one (a leading dot starts a hidden name, not one). */
    private static String extension(String name) {
        int dot = name.lastIndexOf('.');
        return dot > 0 ? name.substring(dot + 1).toLowerCase(Locale.ROOT) : "";
    }

    /** Cheap header check: width and height without decoding pixels. */
    public static int[] probe(Path file, long maxPixels) throws BadImageException {
        try (ImageInputStream in = open(file)) {
            ImageReader r = reader(file, in);
            try {
                int w = r.getWidth(0);
                int h = r.getHeight(0);
                checkSize(file, w, h, maxPixels);
                return new int[]{w, h};
            } finally {
                r.dispose();
            }
        } catch (IOException | RuntimeException e) {
            throw classify(file, e);
        }
    }

    /**
     * Decodes {@code file} into the canonical 8-bit RGB form (alpha composited on {@code background}), holding its
     * decoded size from the {@link DecodeBudget#shared() shared budget} while it decodes.
     */
    public static BufferedImage read(Path file, long maxPixels, int background) throws BadImageException {
        return decode(file, maxPixels, DecodeBudget.shared(), img -> canonical(img, background));
    }

    /** {@link #read} with the default limit and a white background. */
    public static BufferedImage read(Path file) throws BadImageException {
        return read(file, DEFAULT_MAX_PIXELS, 0xFFFFFF);
    }

    /**
     * Decodes {@code file} and resizes it for {@code p}, holding the decoded size from {@code budget} until the
     * full-size image is no longer needed: what a decoding worker calls.
     */
    public static BufferedImage readResized(Path file, long maxPixels, Preprocess p, DecodeBudget budget)
            throws BadImageException {
        byte[] bytes = NativeImages.available() ? nativeBytes(file) : null;
        if (bytes != null) {
            BufferedImage fast = nativeDecode(file, bytes, maxPixels, p, budget);
            if (fast != null) {
                return fast;
            }
            return decode(file, () -> memory(bytes), maxPixels, budget,
                    img -> resize(canonical(img, p.background()), p));
        }
        return decode(file, maxPixels, budget, img -> resize(canonical(img, p.background()), p));
    }

    /** JPEG and PNG files up to this size are read into memory for {@link NativeImages}; larger ones stream through ImageIO. */
    private static final long NATIVE_MAX_FILE_BYTES = 64L << 20;

    /** The bytes of {@code file} when it is a JPEG or PNG (by its first bytes) {@link NativeImages} may take. */
    private static byte[] nativeBytes(Path file) throws BadImageException {
        try {
            check(file);
            if (Files.size(file) > NATIVE_MAX_FILE_BYTES) {
                return null;
            }
            try (java.io.InputStream in = Files.newInputStream(file)) {
                byte[] head = in.readNBytes(8);
                if (!NativeImages.candidate(head)) {
                    return null;
                }
                byte[] rest = in.readAllBytes();
                byte[] all = new byte[rest.length + head.length];
                System.arraycopy(head, 0, all, 0, head.length);
                System.arraycopy(rest, 0, all, head.length, rest.length);
                return all;
            }
        } catch (IOException | RuntimeException e) {
            throw classify(file, e);
        }
    }

    /**
     * Size and mode ({"WxH", "rgb"}) of a file the native decoder reads (decoding it at the smallest scale to prove
     * it), or null when training would not read it natively.
     */
    static String[] nativeDescription(Path file, long maxPixels) {
        try {
            byte[] data = NativeImages.available() ? nativeBytes(file) : null;
            NativeImages.Header hd = data == null ? null : NativeImages.anyHeader(data);
            if (hd == null || !hd.supported()) {
                return null;
            }
            Preprocess tiny = Preprocess.builder().size(3, 1, 1).normalization(Normalization.unit()).build();
            if (nativeDecode(file, data, maxPixels, tiny, DecodeBudget.shared()) == null) {
                return null;
            }
            String mode = hd.components() == 1 ? "gray" : hd.components() == 4 ? "rgba" : "rgb";
            return new String[]{hd.width() + "x" + hd.height(), mode};
        } catch (BadImageException e) {
            return null;
        }
    }

    private static ImageInputStream memory(byte[] data) {
        return new javax.imageio.stream.MemoryCacheImageInputStream(new java.io.ByteArrayInputStream(data));
    }

    /**
     * Decodes a JPEG or PNG held in {@code data} with {@link NativeImages} (a JPEG at reduced scale where {@code p}
     * allows) and resizes it for {@code p}, holding the decoded size from {@code budget}; null when the file is one
     * ImageIO must read (or report on).
     */
    private static BufferedImage nativeDecode(Path file, byte[] data, long maxPixels, Preprocess p, DecodeBudget budget)
            throws BadImageException {
        NativeImages.Header hd = NativeImages.anyHeader(data);
        if (hd == null || !hd.supported()) {
            return null;
        }
        int w = hd.width();
        int h = hd.height();
        checkSize(file, w, h, maxPixels);
        int d = hd.png() ? 1 : NativeImages.scaleFor(w, h, p);
        long bytes = (long) ((w + d - 1) / d) * ((h + d - 1) / d) * (hd.components() == 4 ? 4 + 3 + 4 : 3 + 4);
        try (DecodeBudget.Lease lease = budget.acquire(bytes)) {
            ReadHook hook = readHook;
            if (hook != null) {
                hook.reading(file, w, h);
            }
            try (org.bytedeco.opencv.opencv_core.Mat m = hd.png() ? NativeImages.decodePng(data, hd, p.background())
                    : NativeImages.decodeJpeg(data, d)) {
                if (m == null) {
                    return null;
                }
                return pilResize(p) ? resize(NativeImages.toImage(m), p) : NativeImages.resize(m, p);
            }
        } catch (OutOfMemoryError e) {
            throw new DecodeOutOfMemoryError(file, w, h, bytes, e);
        } catch (IOException | RuntimeException e) {
            if (outOfMemory(e)) {
                throw new DecodeOutOfMemoryError(file, w, h, bytes, e);
            }
            throw classify(file, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CancellationException("interrupted while waiting for memory to decode " + file);
        }
    }

    /** Test seam: called with the budget held, just before the pixels are read. */
    @FunctionalInterface
    interface ReadHook {
        void reading(Path file, int width, int height) throws IOException;
    }

    static volatile ReadHook readHook;

    /**
     * Decodes {@code file} (header and size checked first, truncation detected) and hands the image as read (before
     * {@link #canonical}; CMYK already converted) to {@code finish}, with the image's estimated decoded size held from
     * {@code budget} until {@code finish} returns. Running out of memory is a {@link DecodeOutOfMemoryError}, never a
     * {@link BadImageException}.
     */
    static <T> T decode(Path file, long maxPixels, DecodeBudget budget, Function<BufferedImage, T> finish)
            throws BadImageException {
        return decode(file, () -> open(file), maxPixels, budget, finish);
    }

    /** Where {@link #decode} reads from: a file, or bytes in memory. */
    @FunctionalInterface
    private interface Source {
        ImageInputStream open() throws IOException, BadImageException;
    }

    /**
     * Decodes an image held in memory (an upload, say) and resizes it for {@code p}; {@code name} stands for it in
     * error messages. The same checks as for a file: empty, not an image, declared size over {@code maxPixels}
     * (refused from the header, before any pixel is decoded), truncated.
     */
    public static BufferedImage readResized(byte[] data, String name, long maxPixels, Preprocess p)
            throws BadImageException {
        Path label = label(name);
        if (data.length > 8 && NativeImages.available()) {
            BufferedImage fast = nativeDecode(label, data, maxPixels, p, DecodeBudget.shared());
            if (fast != null) {
                return fast;
            }
        }
        return decode(label, () -> {
            if (data.length == 0) {
                throw new BadImageException(label, BadImageException.Reason.EMPTY_FILE, null);
            }
            return memory(data);
        }, maxPixels, DecodeBudget.shared(), img -> resize(canonical(img, p.background()), p));
    }

    /** Decodes and preprocesses an image held in memory into a [1, C, H, W] tensor (see {@link #readResized}). */
    public static INDArray load(byte[] data, String name, Preprocess p) throws BadImageException {
        return tensor(readResized(data, name, DEFAULT_MAX_PIXELS, p), p);
    }

    /** Preprocesses a decoded image (any type: alpha composited on {@code p}'s background) into [1, C, H, W]. */
    public static INDArray load(BufferedImage img, Preprocess p) {
        return tensor(resize(canonical(img, p.background()), p), p);
    }

    /** {@code name} as a path for messages ("image" when it is not one). */
    private static Path label(String name) {
        try {
            return Path.of(name == null || name.isBlank() ? "image" : name);
        } catch (java.nio.file.InvalidPathException e) {
            return Path.of("image");
        }
    }

    private static <T> T decode(Path file, Source source, long maxPixels, DecodeBudget budget,
                                Function<BufferedImage, T> finish) throws BadImageException {
        try (ImageInputStream in = source.open()) {
            ImageReader r = reader(file, in);
            boolean[] truncated = {false};
            r.addIIOReadWarningListener(new IIOReadWarningListener() {
                @Override
                public void warningOccurred(ImageReader source, String warning) {
                    String w = warning.toLowerCase(Locale.ROOT);
                    if (w.contains("premature") || w.contains("truncat") || w.contains("corrupt")) {
                        truncated[0] = true;
                    }
                }
            });
            try {
                int w = r.getWidth(0);
                int h = r.getHeight(0);
                checkSize(file, w, h, maxPixels);
                long bytes = decodedBytes(r, w, h);
                try (DecodeBudget.Lease lease = budget.acquire(bytes)) {
                    ReadHook hook = readHook;
                    if (hook != null) {
                        hook.reading(file, w, h);
                    }
                    BufferedImage img;
                    try {
                        img = r.read(0);
                    } catch (IIOException e) {
                        // CMYK/YCCK JPEGs: ImageIO cannot build a BufferedImage, but can read the raster
                        String m = String.valueOf(e.getMessage()).toLowerCase(Locale.ROOT);
                        if (!m.contains("unsupported image type")) {
                            throw e;
                        }
                        img = fromCmyk(r.readRaster(0, null));
                    }
                    if (truncated[0]) {
                        throw new BadImageException(file, BadImageException.Reason.TRUNCATED, "premature end of data");
                    }
                    return finish.apply(img);
                } catch (OutOfMemoryError e) {
                    throw new DecodeOutOfMemoryError(file, w, h, bytes, e);
                } catch (IOException | RuntimeException e) {
                    if (outOfMemory(e)) {
                        throw new DecodeOutOfMemoryError(file, w, h, bytes, e);
                    }
                    throw e;
                }
            } finally {
                r.dispose();
            }
        } catch (IOException | RuntimeException e) {
            throw classify(file, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CancellationException("interrupted while waiting for memory to decode " + file);
        }
    }

    /**
     * Heap the decoded image takes: the raster as the reader returns it (bytes per pixel from the header's raw type;
     * 4 when unknown) plus the 8-bit RGB copy {@link #canonical} makes of anything else.
     */
    static long decodedBytes(ImageReader r, int w, int h) {
        long raw = 4;
        boolean rgb = false;
        try {
            ImageTypeSpecifier t = r.getRawImageType(0);
            if (t != null) {
                SampleModel sm = t.getSampleModel(1, 1);
                int bits = DataBuffer.getDataTypeSize(sm.getTransferType()) * sm.getNumDataElements();
                raw = Math.max(1, (bits + 7) / 8);
                rgb = t.getBufferedImageType() == BufferedImage.TYPE_INT_RGB;
            }
        } catch (IOException | RuntimeException e) {
            // the estimate only: a real problem shows when the pixels are read
        }
        return (long) w * h * (raw + (rgb ? 0 : 4));
    }

    /**
     * An exception that is the heap or native memory running out, not a bad file: an {@link OutOfMemoryError} as the
     * cause, or libjpeg's "Insufficient memory".
     */
    static boolean outOfMemory(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof OutOfMemoryError) {
                return true;
            }
            String m = String.valueOf(t.getMessage()).toLowerCase(Locale.ROOT);
            if (m.contains("insufficient memory") || m.contains("out of memory")) {
                return true;
            }
        }
        return false;
    }

    /**
     * Initialises ImageIO (plugin scan, PNG/JPEG readers: ~0.1 s the first time) by decoding a built-in 1x1 PNG, so
     * that a caller can do it on another thread while the model loads.
     */
    public static void warmUp() {
        NativeImages.available(); // loads OpenCV's natives
        try {
            ImageIO.read(new java.io.ByteArrayInputStream(java.util.Base64.getDecoder().decode(
                    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")));
        } catch (IOException | RuntimeException e) {
            // only a warm-up: the real decode reports real problems
        }
    }

    /** Decodes and preprocesses one file into a [1, C, H, W] tensor. */
    public static INDArray load(Path file, Preprocess p) throws BadImageException {
        return tensor(readResized(file, DEFAULT_MAX_PIXELS, p, DecodeBudget.shared()), p);
    }

    /** An image already {@link #resize resized} for {@code p} as a [1, C, H, W] tensor. */
    public static INDArray tensor(BufferedImage resized, Preprocess p) {
        float[] data = new float[p.channels() * p.height() * p.width()];
        toTensor(resized, p, data, 0);
        return Nd4j.create(data, new long[]{1, p.channels(), p.height(), p.width()});
    }

    private static ImageInputStream open(Path file) throws IOException, BadImageException {
        check(file);
        ImageInputStream in = ImageIO.createImageInputStream(file.toFile());
        if (in == null) {
            throw new BadImageException(file, BadImageException.Reason.UNREADABLE, null);
        }
        return in;
    }

    /** The checks before any byte is read: a supported format by name, a readable, non-empty regular file. */
    private static void check(Path file) throws IOException, BadImageException {
        String ext = extension(file.getFileName() == null ? "" : file.getFileName().toString());
        if (UNSUPPORTED.contains(ext)) {
            throw new BadImageException(file, BadImageException.Reason.NOT_AN_IMAGE, ext.toUpperCase(Locale.ROOT)
                    + " is not supported; convert it to PNG or JPEG");
        }
        if (!Files.isRegularFile(file) && Files.exists(file)) {
            throw new BadImageException(file, BadImageException.Reason.UNREADABLE, "not a regular file");
        }
        if (!Files.exists(file)) {
            throw new BadImageException(file, BadImageException.Reason.UNREADABLE, "no such file");
        }
        if (!Files.isReadable(file)) {
            throw new BadImageException(file, BadImageException.Reason.UNREADABLE, null);
        }
        if (Files.size(file) == 0) {
            throw new BadImageException(file, BadImageException.Reason.EMPTY_FILE, null);
        }
    }

    private static ImageReader reader(Path file, ImageInputStream in) throws BadImageException {
        Iterator<ImageReader> it = ImageIO.getImageReaders(in);
        if (!it.hasNext()) {
            throw new BadImageException(file, BadImageException.Reason.NOT_AN_IMAGE, null);
        }
        ImageReader r = it.next();
        r.setInput(in, true, true);
        return r;
    }

    private static void checkSize(Path file, int w, int h, long maxPixels) throws BadImageException {
        if (w <= 0 || h <= 0) {
            throw new BadImageException(file, BadImageException.Reason.DECODE_ERROR, "size " + w + "x" + h);
        }
        if ((long) w * h > maxPixels) {
            throw new BadImageException(file, BadImageException.Reason.TOO_LARGE,
                    w + "x" + h + " > " + maxPixels + " pixels");
        }
    }

    private static BadImageException classify(Path file, Exception e) {
        if (e instanceof BadImageException b) {
            return b;
        }
        if (outOfMemory(e)) {
            throw new DecodeOutOfMemoryError(file, e);
        }
        if (e instanceof AccessDeniedException) {
            return new BadImageException(file, BadImageException.Reason.UNREADABLE, null);
        }
        Throwable t = e;
        while (t != null) {
            if (t instanceof EOFException) {
                return new BadImageException(file, BadImageException.Reason.TRUNCATED, "unexpected end of file");
            }
            t = t.getCause();
        }
        String m = String.valueOf(e.getMessage());
        if (m.toLowerCase(Locale.ROOT).contains("eof") || m.contains("end of")) {
            return new BadImageException(file, BadImageException.Reason.TRUNCATED, m);
        }
        return new BadImageException(file, BadImageException.Reason.DECODE_ERROR,
                e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + m.lines().findFirst().orElse("")));
    }

    /** Any decoded image to 8-bit RGB, alpha composited on {@code background}; bit depth scaled to 0..255. */
    static BufferedImage canonical(BufferedImage img, int background) {
        if (img.getType() == BufferedImage.TYPE_INT_RGB) {
            return img;
        }
        int w = img.getWidth();
        int h = img.getHeight();
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        ColorModel cm = img.getColorModel();
        Raster raster = img.getRaster();
        int bands = raster.getNumBands();
        int bgR = (background >> 16) & 0xFF;
        int bgG = (background >> 8) & 0xFF;
        int bgB = background & 0xFF;
        int[] row = new int[w];
        boolean direct = cm instanceof IndexColorModel || cm.getColorSpace().getType() != ColorSpace.TYPE_GRAY
                && cm.getColorSpace().isCS_sRGB() && allBytes(cm);
        if (direct) {
            for (int y = 0; y < h; y++) {
                img.getRGB(0, y, w, 1, row, 0, w);
                for (int x = 0; x < w; x++) {
                    row[x] = composite(row[x], bgR, bgG, bgB);
                }
                out.setRGB(0, y, w, 1, row, 0, w);
            }
            return out;
        }
        int colorBands = cm.getNumColorComponents();
        boolean alpha = cm.hasAlpha();
        float[] max = new float[bands];
        for (int b = 0; b < bands; b++) {
            max[b] = (1 << cm.getComponentSize(Math.min(b, cm.getNumComponents() - 1))) - 1;
        }
        boolean gray = cm.getColorSpace().getType() == ColorSpace.TYPE_GRAY;
        if (!gray && !cm.getColorSpace().isCS_sRGB()) {
            // other colour spaces (linear RGB, ICC profiles): let Java2D convert
            for (int y = 0; y < h; y++) {
                img.getRGB(0, y, w, 1, row, 0, w);
                for (int x = 0; x < w; x++) {
                    row[x] = composite(row[x], bgR, bgG, bgB);
                }
                out.setRGB(0, y, w, 1, row, 0, w);
            }
            return out;
        }
        float[] px = new float[bands];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                raster.getPixel(x, y, px);
                float r;
                float g;
                float b;
                if (gray) {
                    r = g = b = px[0] / max[0] * 255f;
                } else {
                    r = px[0] / max[0] * 255f;
                    g = px[1] / max[1] * 255f;
                    b = px[2] / max[2] * 255f;
                }
                if (alpha && bands > colorBands) {
                    float a = px[colorBands] / max[colorBands];
                    r = r * a + bgR * (1 - a);
                    g = g * a + bgG * (1 - a);
                    b = b * a + bgB * (1 - a);
                }
                row[x] = (clamp(r) << 16) | (clamp(g) << 8) | clamp(b);
            }
            out.setRGB(0, y, w, 1, row, 0, w);
        }
        return out;
    }

    private static boolean allBytes(ColorModel cm) {
        for (int s : cm.getComponentSize()) {
            if (s > 8) {
                return false;
            }
        }
        return true;
    }

    /** An ARGB pixel composited on the background (r, g, b), as RGB. */
    static int composite(int argb, int bgR, int bgG, int bgB) {
        int a = (argb >>> 24) & 0xFF;
        if (a == 255) {
            return argb & 0xFFFFFF;
        }
        float f = a / 255f;
        int r = clamp(((argb >> 16) & 0xFF) * f + bgR * (1 - f));
        int g = clamp(((argb >> 8) & 0xFF) * f + bgG * (1 - f));
        int b = clamp((argb & 0xFF) * f + bgB * (1 - f));
        return (r << 16) | (g << 8) | b;
    }

    static int clamp(float v) {
        return Math.max(0, Math.min(255, Math.round(v)));
    }

    /** Adobe CMYK JPEGs store inverted CMYK; convert naively to RGB. */
    static BufferedImage fromCmyk(Raster raster) {
        int w = raster.getWidth();
        int h = raster.getHeight();
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        int bands = raster.getNumBands();
        int[] px = new int[bands];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                raster.getPixel(x + raster.getMinX(), y + raster.getMinY(), px);
                if (bands < 4) {
                    out.setRGB(x, y, (px[0] << 16) | (px[Math.min(1, bands - 1)] << 8) | px[Math.min(2, bands - 1)]);
                    continue;
                }
                // Adobe stores CMYK inverted: value = 255 - ink
                float c = 1 - px[0] / 255f;
                float m = 1 - px[1] / 255f;
                float yy = 1 - px[2] / 255f;
                float k = 1 - px[3] / 255f;
                int r = clamp(255 * (1 - c) * (1 - k));
                int g = clamp(255 * (1 - m) * (1 - k));
                int b = clamp(255 * (1 - yy) * (1 - k));
                out.setRGB(x, y, (r << 16) | (g << 8) | b);
            }
        }
        return out;
    }

    /** True for torchvision's evaluation transform (resize the shorter side, centre crop), done as PIL does it. */
    static boolean pilResize(Preprocess p) {
        return p.resizeShorter() > 0 && p.resize() == Preprocess.ResizePolicy.CENTER_CROP;
    }

    /**
     * Resizes a canonical image to the target size with the given policy: torchvision's evaluation transform as PIL
     * does it ({@link PilResize}); otherwise with OpenCV (area averaging where it shrinks, bilinear where it enlarges),
     * or Java2D's bilinear where OpenCV's natives are not available.
     */
    public static BufferedImage resize(BufferedImage img, Preprocess p) {
        int tw = p.width();
        int th = p.height();
        int w = img.getWidth();
        int h = img.getHeight();
        if (pilResize(p)) {
            return PilResize.resizeAndCrop(img, p.resizeShorter(), th, tw, p.interpolation()); // torchvision's eval transform
        }
        if (w == tw && h == th) {
            return img;
        }
        if (img.getType() == BufferedImage.TYPE_INT_RGB && NativeImages.available()) {
            return NativeImages.resize(img, p);
        }
        BufferedImage out = new BufferedImage(tw, th, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
            g.setRenderingHint(RenderingHints.KEY_RENDERING, RenderingHints.VALUE_RENDER_QUALITY);
            switch (p.resize()) {
                case STRETCH -> g.drawImage(img, 0, 0, tw, th, null);
                case CENTER_CROP -> {
                    double s = Math.max(tw / (double) w, th / (double) h);
                    int sw = (int) Math.round(tw / s);
                    int sh = (int) Math.round(th / s);
                    int sx = (w - sw) / 2;
                    int sy = (h - sh) / 2;
                    g.drawImage(img, 0, 0, tw, th, sx, sy, sx + sw, sy + sh, null);
                }
                case PAD -> {
                    g.setColor(new java.awt.Color(p.background()));
                    g.fillRect(0, 0, tw, th);
                    double s = Math.min(tw / (double) w, th / (double) h);
                    int dw = Math.max(1, (int) Math.round(w * s));
                    int dh = Math.max(1, (int) Math.round(h * s));
                    g.drawImage(img, (tw - dw) / 2, (th - dh) / 2, dw, dh, null);
                }
            }
        } finally {
            g.dispose();
        }
        return out;
    }

    /** The pixels of an image as packed RGB ints, row by row: the image's own array when it is a plain one. */
    static int[] rgbPixels(BufferedImage img) {
        int w = img.getWidth();
        int h = img.getHeight();
        if (img.getType() == BufferedImage.TYPE_INT_RGB && img.getRaster().getDataBuffer() instanceof DataBufferInt db
                && db.getNumBanks() == 1 && img.getRaster().getParent() == null
                && img.getRaster().getSampleModelTranslateX() == 0 && img.getRaster().getSampleModelTranslateY() == 0
                && img.getRaster().getSampleModel() instanceof java.awt.image.SinglePixelPackedSampleModel sm
                && sm.getScanlineStride() == w && db.getData().length == w * h) {
            return db.getData();
        }
        return img.getRGB(0, 0, w, h, null, 0, w);
    }

    /**
     * Writes a canonical image of the target size into {@code out} at {@code offset} as C x H x W floats, in the
     * preprocess channel order with its normalisation (a 256-entry table per channel for colour images).
     */
    public static void toTensor(BufferedImage img, Preprocess p, float[] out, int offset) {
        int w = p.width();
        int h = p.height();
        int plane = w * h;
        int[] px = rgbPixels(img);
        Normalization n = p.normalization();
        if (p.channels() == 1) {
            for (int i = 0; i < plane; i++) {
                int v = px[i];
                out[offset + i] = n.apply(0, 0.299f * ((v >> 16) & 0xFF) + 0.587f * ((v >> 8) & 0xFF)
                        + 0.114f * (v & 0xFF));
            }
            return;
        }
        float[][] lut = n.tables(3);
        float[] c0 = lut[0];
        float[] c1 = lut[1];
        float[] c2 = lut[2];
        boolean bgr = p.order() == Preprocess.ChannelOrder.BGR;
        int s0 = bgr ? 0 : 16;
        int s2 = bgr ? 16 : 0;
        for (int i = 0; i < plane; i++) {
            int v = px[i];
            int o = offset + i;
            out[o] = c0[(v >> s0) & 0xFF];
            out[o + plane] = c1[(v >> 8) & 0xFF];
            out[o + 2 * plane] = c2[(v >> s2) & 0xFF];
        }
    }
}
