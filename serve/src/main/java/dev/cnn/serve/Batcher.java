package dev.cnn.serve;

import dev.cnn.core.Classifier;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.IntConsumer;

/**
 * Dynamic batching: images submitted by many request threads are classified together. A batch starts with the
 * oldest waiting image, takes whatever else is waiting, and waits up to {@code maxWait} after its first image for
 * more, up to {@code maxBatch}; images that arrive while a batch runs make up the next one.
 */
final class Batcher implements AutoCloseable {
    private record Job(float[] image, CompletableFuture<float[]> result) {
    }

    private final Classifier classifier;
    private final int maxBatch;
    private final long maxWaitNanos;
    private final IntConsumer onBatch;
    private final BlockingQueue<Job> queue = new LinkedBlockingQueue<>();
    private final Thread thread;
    private volatile boolean closed;

    Batcher(Classifier classifier, int maxBatch, long maxWaitMs, IntConsumer onBatch) {
        this.classifier = classifier;
        this.maxBatch = maxBatch;
        this.maxWaitNanos = TimeUnit.MILLISECONDS.toNanos(maxWaitMs);
        this.onBatch = onBatch;
        this.thread = new Thread(this::loop, "cnn-batcher");
        thread.setDaemon(true);
        thread.start();
    }

    /** The class probabilities of one preprocessed image ([C, H, W] values), when its batch has run. */
    CompletableFuture<float[]> submit(float[] image) {
        CompletableFuture<float[]> f = new CompletableFuture<>();
        synchronized (this) { // never added after close: the loop finishes what came before
            if (closed) {
                f.completeExceptionally(new RejectedExecutionException("the server is shutting down"));
                return f;
            }
            queue.add(new Job(image, f));
        }
        return f;
    }

    int waiting() {
        return queue.size();
    }

    private void loop() {
        List<Job> batch = new ArrayList<>(maxBatch);
        while (!closed || !queue.isEmpty()) {
            try {
                Job first = queue.poll(100, TimeUnit.MILLISECONDS);
                if (first == null) {
                    continue;
                }
                batch.add(first);
                queue.drainTo(batch, maxBatch - 1);
                long deadline = System.nanoTime() + maxWaitNanos;
                while (batch.size() < maxBatch) {
                    long left = deadline - System.nanoTime();
                    Job j = left > 0 ? queue.poll(left, TimeUnit.NANOSECONDS) : null;
                    if (j == null) {
                        break;
                    }
                    batch.add(j);
                    queue.drainTo(batch, maxBatch - batch.size());
                }
            } catch (InterruptedException e) {
                if (batch.isEmpty()) {
                    continue; // closing: the loop ends once the queue is empty
                }
            }
            run(batch);
            batch.clear();
        }
    }

    private void run(List<Job> batch) {
        try {
            float[][] p = classifier.probabilities(batch.stream().map(Job::image).toList());
            onBatch.accept(batch.size());
            for (int i = 0; i < batch.size(); i++) {
                batch.get(i).result().complete(p[i]);
            }
        } catch (RuntimeException | Error e) {
            for (Job j : batch) {
                j.result().completeExceptionally(e);
            }
        }
    }

    /** Refuses new images, classifies those already waiting, and stops. */
    @Override
    public void close() {
        synchronized (this) {
            closed = true;
        }
        try {
            thread.join(TimeUnit.SECONDS.toMillis(30));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        for (Job j; (j = queue.poll()) != null; ) { // left when the loop gave up waiting (30 s)
            j.result().completeExceptionally(new RejectedExecutionException("the server is shutting down"));
        }
    }
}
