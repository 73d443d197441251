package dev.cnn.data;

import java.nio.file.Path;

/**
 * The heap ran out while an image was decoded. The image is not bad, so this is never a {@link BadImageException}
 * (never skipped or counted as unreadable): it ends the run, naming the file, its size and the fix.
 */
public final class DecodeOutOfMemoryError extends OutOfMemoryError {
    private final Path file;

    public DecodeOutOfMemoryError(Path file, int width, int height, long bytes, Throwable cause) {
        super("out of memory decoding " + file + " (" + width + " x " + height + ", about " + mb(bytes)
                + " MB decoded); lower --workers or raise CNN_HEAP (-Xmx)");
        this.file = file;
        if (cause != null) {
            initCause(cause);
        }
    }

    /** Out of memory before the image's size was known (reading its header). */
    public DecodeOutOfMemoryError(Path file, Throwable cause) {
        super("out of memory reading " + file + "; lower --workers or raise CNN_HEAP (-Xmx)");
        this.file = file;
        if (cause != null) {
            initCause(cause);
        }
    }

    public Path file() {
        return file;
    }

    private static long mb(long bytes) {
        return (bytes + (1 << 20) - 1) >> 20;
    }
}
