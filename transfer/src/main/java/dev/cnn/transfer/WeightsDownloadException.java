package dev.cnn.transfer;

import java.io.IOException;
import java.net.URI;

/**
 * Pretrained weights could not be fetched. The message is one line naming the URL and the reason, and tells the user
 * to pass {@code --weights FILE} to work offline.
 */
public class WeightsDownloadException extends IOException {
    private final URI url;
    private final String reason;
    private final boolean retryable;

    public WeightsDownloadException(URI url, String reason, Throwable cause) {
        this(url, reason, cause, false);
    }

    WeightsDownloadException(URI url, String reason, Throwable cause, boolean retryable) {
        super("could not download pretrained weights from " + url + ": " + reason
                + "; for offline use download the file yourself and pass --weights FILE", cause);
        this.url = url;
        this.reason = reason;
        this.retryable = retryable;
    }

    /** The URL that failed. */
    public URI url() {
        return url;
    }

    /** Why it failed, without the URL and advice. */
    public String reason() {
        return reason;
    }

    boolean retryable() {
        return retryable;
    }
}
