package dev.cnn.data;

import java.nio.file.Path;

/** An image file that cannot be used, with the reason. */
public class BadImageException extends Exception {
    /** Why a file was rejected. */
    public enum Reason { EMPTY_FILE, NOT_AN_IMAGE, TRUNCATED, TOO_LARGE, UNREADABLE, DECODE_ERROR }

    private final Path file;
    private final Reason reason;

    public BadImageException(Path file, Reason reason, String detail) {
        super(file + ": " + describe(reason) + (detail == null || detail.isBlank() ? "" : " (" + detail + ")"));
        this.file = file;
        this.reason = reason;
    }

    public Path file() {
        return file;
    }

    public Reason reason() {
        return reason;
    }

    static String describe(Reason r) {
        return switch (r) {
            case EMPTY_FILE -> "empty file (0 bytes)";
            case NOT_AN_IMAGE -> "not a supported image (JPEG, PNG, BMP, GIF, TIFF)";
            case TRUNCATED -> "truncated image data";
            case TOO_LARGE -> "declared image size too large (possible decompression bomb)";
            case UNREADABLE -> "cannot read file (check permissions)";
            case DECODE_ERROR -> "cannot decode image";
        };
    }
}
