package dev.cnn.serve;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.function.DoubleSupplier;

/** What {@code GET /metrics} shows, in Prometheus' text format (its own registry: one per server). */
final class ServerMetrics {
    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();
    final Counter requests = Counter.builder().name("cnn_requests_total")
            .help("HTTP requests by endpoint and status code").labelNames("endpoint", "status").register(registry);
    final Histogram latency = Histogram.builder().name("cnn_request_duration_seconds")
            .help("HTTP request latency by endpoint").labelNames("endpoint")
            .classicUpperBounds(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10).classicOnly()
            .register(registry);
    final Counter images = Counter.builder().name("cnn_images_total")
            .help("Images received, by outcome (classified, or rejected with an error)").labelNames("outcome")
            .register(registry);
    final Histogram batchSize = Histogram.builder().name("cnn_batch_size")
            .help("Images per forward pass").classicUpperBounds(1, 2, 4, 8, 16, 32, 64, 128, 256).classicOnly()
            .register(registry);

    ServerMetrics(DoubleSupplier waiting, DoubleSupplier inFlight) {
        GaugeWithCallback.builder().name("cnn_images_waiting").help("Images waiting for a batch")
                .callback(cb -> cb.call(waiting.getAsDouble())).register(registry);
        GaugeWithCallback.builder().name("cnn_requests_in_flight").help("Requests being handled")
                .callback(cb -> cb.call(inFlight.getAsDouble())).register(registry);
    }

    String contentType() {
        return writer.getContentType();
    }

    String scrape() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            writer.write(out, registry.scrape());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toString(java.nio.charset.StandardCharsets.UTF_8);
    }
}
