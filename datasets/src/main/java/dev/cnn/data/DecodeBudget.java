package dev.cnn.data;

import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Heap that decoding may hold at once, shared by every decoding thread (the workers of every
 * {@link ImageBatchIterator}, {@code classify}, {@code data stats}): before an image is decoded its decoded size is
 * estimated from the header (width x height x bytes per pixel of the raw image, plus the 8-bit RGB copy) and taken
 * from the budget; it is given back once the image has been resized. Decoders that do not fit wait, first come first
 * served, so four 8192x8192 16-bit images on four workers decode one after the other instead of ending in an
 * {@link OutOfMemoryError}. An image larger than the whole budget takes all of it and decodes alone: nothing waits
 * forever.
 */
public final class DecodeBudget {
    /** Fraction of the maximum heap the shared budget allows decoding to hold. */
    static final double HEAP_FRACTION = 0.5;
    private static final long MIN_BYTES = 64L << 20;
    private static final DecodeBudget SHARED = ofBytes(Math.max(MIN_BYTES,
            (long) (Runtime.getRuntime().maxMemory() * HEAP_FRACTION)));

    private final long capacity;
    private final int permits; // KiB
    private final Semaphore semaphore;
    private final AtomicLong inUse = new AtomicLong();
    private final AtomicLong peak = new AtomicLong();

    private DecodeBudget(long bytes) {
        this.permits = (int) Math.min(Integer.MAX_VALUE, Math.max(1, bytes >> 10));
        this.capacity = (long) permits << 10;
        this.semaphore = new Semaphore(permits, true);
    }

    /** The process-wide budget: half the maximum heap ({@code -Xmx}, {@code CNN_HEAP}), at least 64 MB. */
    public static DecodeBudget shared() {
        return SHARED;
    }

    /** A budget of its own, of {@code bytes}. */
    public static DecodeBudget ofBytes(long bytes) {
        if (bytes < 1) {
            throw new IllegalArgumentException("decode budget must be >= 1 byte, got " + bytes);
        }
        return new DecodeBudget(bytes);
    }

    public long capacityBytes() {
        return capacity;
    }

    /** Bytes held by decodes under way. */
    public long inUseBytes() {
        return inUse.get();
    }

    /** The most bytes ever held at once. */
    public long peakBytes() {
        return peak.get();
    }

    /**
     * Takes {@code bytes} (all of the budget when it is larger), waiting while other decodes hold too much.
     * Interruptible; the lease gives the bytes back when closed.
     */
    public Lease acquire(long bytes) throws InterruptedException {
        int n = (int) Math.min(permits, Math.max(1, (bytes + 1023) >> 10));
        semaphore.acquire(n);
        long held = (long) n << 10;
        peak.accumulateAndGet(inUse.addAndGet(held), Math::max);
        return new Lease(n, held);
    }

    /** Bytes taken from the budget; {@link #close()} gives them back (once). */
    public final class Lease implements AutoCloseable {
        private final int n;
        private final long held;
        private boolean closed;

        private Lease(int n, long held) {
            this.n = n;
            this.held = held;
        }

        /** Bytes this lease holds (the request, rounded up to a KiB and capped at the budget). */
        public long bytes() {
            return held;
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                inUse.addAndGet(-held);
                semaphore.release(n);
            }
        }
    }
}
