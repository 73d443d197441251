package dev.cnn.data;

/** Bad or missing input data (the CLI exits with 3). The message is one line naming the file and the fix. */
public class DataException extends RuntimeException {
    public DataException(String message) {
        super(message);
    }

    public DataException(String message, Throwable cause) {
        super(message, cause);
    }
}
