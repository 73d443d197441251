package dev.cnn.accel;

import org.nd4j.linalg.factory.Nd4j;

import java.util.concurrent.atomic.AtomicReference;

/** Runs test code on a thread of its own: fresh DL4J workspaces and oneDNN buffers, freed when it ends. */
final class FreshThread {
    interface Body {
        void run() throws Exception;
    }

    private FreshThread() {
    }

    /** Runs {@code body} on a new thread and waits for it; what it throws is rethrown here. */
    static void run(Body body) throws Exception {
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread t = new Thread(() -> {
            try {
                body.run();
            } catch (Throwable e) {
                failure.set(e);
            } finally { // the thread's native buffers go with it, not at some later GC
                Dnnl.releaseThreadBuffers();
                Nd4j.getWorkspaceManager().destroyAllWorkspacesForCurrentThread();
            }
        });
        t.start();
        t.join();
        if (failure.get() != null) {
            throw new AssertionError("on the test's own thread: " + failure.get(), failure.get());
        }
    }
}
