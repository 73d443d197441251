package dev.cnn.core;

/**
 * A failure the user can act on. Carries the process exit code the CLI reports: {@link #USAGE} (2),
 * {@link #DATA} (3) or {@link #MODEL} (4). The message is one line that names the file or option and the fix.
 */
public class CnnException extends RuntimeException {
    public static final int INTERNAL = 1;
    public static final int USAGE = 2;
    public static final int DATA = 3;
    public static final int MODEL = 4;

    private final int exitCode;

    public CnnException(int exitCode, String message) {
        super(message);
        this.exitCode = exitCode;
    }

    public CnnException(int exitCode, String message, Throwable cause) {
        super(message, cause);
        this.exitCode = exitCode;
    }

    public int exitCode() {
        return exitCode;
    }

    public static CnnException usage(String message) {
        return new CnnException(USAGE, message);
    }

    public static CnnException data(String message) {
        return new CnnException(DATA, message);
    }

    public static CnnException data(String message, Throwable cause) {
        return new CnnException(DATA, message, cause);
    }

    public static CnnException model(String message) {
        return new CnnException(MODEL, message);
    }

    public static CnnException model(String message, Throwable cause) {
        return new CnnException(MODEL, message, cause);
    }
}
