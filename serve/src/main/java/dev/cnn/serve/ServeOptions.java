package dev.cnn.serve;

/**
 * How {@link ModelServer} listens and batches.
 *
 * @param host          address to bind (127.0.0.1 by default: nothing outside the machine reaches it)
 * @param port          TCP port; 0 picks a free one ({@link ModelServer#port()} says which)
 * @param maxBatch      most images in one forward pass
 * @param maxWaitMs     how long a batch waits for more images after its first one arrived
 * @param threads       request threads: they read and decode images in parallel
 * @param maxImageBytes largest accepted image (an upload or a request body), in bytes
 * @param maxPixels     largest declared width x height; larger images are refused from their header (bombs)
 * @param topK          predictions per image unless a request asks for another number ({@code ?top_k=})
 * @param apiKey        required in {@code Authorization: Bearer KEY} or {@code X-API-Key: KEY}; null: none
 * @param graceSeconds  how long a shutdown waits for requests in flight
 */
public record ServeOptions(String host, int port, int maxBatch, int maxWaitMs, int threads, long maxImageBytes,
                           long maxPixels, int topK, String apiKey, int graceSeconds) {
    public static final String DEFAULT_HOST = "127.0.0.1";
    public static final int DEFAULT_PORT = 8080;

    public ServeOptions {
        if (maxBatch < 1 || maxWaitMs < 0 || threads < 1 || maxImageBytes < 1 || maxPixels < 1 || topK < 1
                || port < 0 || port > 65535 || graceSeconds < 0) {
            throw new IllegalArgumentException("invalid server options: " + this);
        }
        if (apiKey != null && apiKey.isBlank()) {
            apiKey = null;
        }
    }

    /** The defaults: 127.0.0.1:8080, batches of up to 32 waiting 5 ms, 20 MB and 64 Mpx images, top 5. */
    public static ServeOptions defaults() {
        return new ServeOptions(DEFAULT_HOST, DEFAULT_PORT, 32, 5, Math.max(4, 2 * Runtime.getRuntime()
                .availableProcessors()), 20L << 20, dev.cnn.data.ImageDecoder.DEFAULT_MAX_PIXELS, 5, null, 30);
    }

    public ServeOptions withPort(int p) {
        return new ServeOptions(host, p, maxBatch, maxWaitMs, threads, maxImageBytes, maxPixels, topK, apiKey,
                graceSeconds);
    }

    public ServeOptions withBatching(int batch, int waitMs) {
        return new ServeOptions(host, port, batch, waitMs, threads, maxImageBytes, maxPixels, topK, apiKey,
                graceSeconds);
    }

    public ServeOptions withLimits(long imageBytes, long pixels) {
        return new ServeOptions(host, port, maxBatch, maxWaitMs, threads, imageBytes, pixels, topK, apiKey,
                graceSeconds);
    }

    public ServeOptions withApiKey(String key) {
        return new ServeOptions(host, port, maxBatch, maxWaitMs, threads, maxImageBytes, maxPixels, topK, key,
                graceSeconds);
    }
}
