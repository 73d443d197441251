package dev.cnn.accel;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.CacheMode;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.layers.FrozenLayer;

/**
 * A network set up for fast training by {@link Accel#beginTraining}; {@link #close} undoes it. While open:
 * convolutions, batch norm and pooling run on this package's oneDNN helpers, activations between them stay in
 * oneDNN's blocked layout, convolutions that read a network input skip the input gradient (nobody reads it), each
 * convolution keeps its forward output for its backward pass (DL4J's forward cache, {@code CacheMode.DEVICE}, unless
 * the network already has a cache mode) instead of computing it a second time there, ReLU and ReLU6 layers after a
 * batch norm or a residual add overwrite its output in training forward passes instead of keeping both (so a
 * listener's {@code onForwardPass} map or {@code feedForward(x, true)} shows that output after the activation), and
 * Adam steps in Java ({@link FastAdam}), each as {@link AccelOptions} allow.
 *
 * <p>This class owns the invariant that <em>blocked layouts never escape a training session</em>: the network is
 * handed back NCHW everywhere, since its caller may read inner activations ({@code feedForward}, Grad-CAM), and
 * {@link #close} checks it. (Inference copies, {@link Accel#inferenceCopy}, keep blocked activations inside a network
 * that nobody else holds.)
 */
public final class TrainingSession implements AutoCloseable {
    private final ComputationGraph network;
    private final int blockedTensors;
    private final boolean cachesForward;
    private final int activationsInPlace;
    private final Runnable restoreUpdaters;
    private boolean closed;

    private TrainingSession(ComputationGraph network, int blockedTensors, boolean cachesForward, int activationsInPlace,
                            Runnable restoreUpdaters) {
        this.network = network;
        this.blockedTensors = blockedTensors;
        this.cachesForward = cachesForward;
        this.activationsInPlace = activationsInPlace;
        this.restoreUpdaters = restoreUpdaters;
    }

    static TrainingSession begin(ComputationGraph g, AccelOptions options) {
        GraphPolicy.install(g, options);
        int blocked = GraphPolicy.blockActivations(g);
        GraphPolicy.skipInputGradients(g, true);
        CacheMode mode = g.getConfiguration().getCacheMode();
        // only where the kept outputs can be cleared again on close (DL4J's backward pass reads them unchecked)
        boolean cache = Dl4jInternals.keptForwardOutputClearable() && (mode == null || mode == CacheMode.NONE);
        if (cache) {
            keepOutputs(g, true);
        }
        int inPlace = GraphPolicy.activationsInPlace(g, true);
        return new TrainingSession(g, blocked, cache, inPlace, options.fastAdam() ? FastAdam.install(g) : () -> { });
    }

    public ComputationGraph network() {
        return network;
    }

    /** Tensors kept in the blocked layout while the session is open. */
    public int blockedTensors() {
        return blockedTensors;
    }

    /** Whether the session turned DL4J's forward cache on (and so turns it off again). */
    public boolean cachesForward() {
        return cachesForward;
    }

    /**
     * Whether layers keep their forward output for their backward pass (the default: convolutions on the engine by
     * reference, other layers through DL4J's forward cache) or the backward pass computes it again ({@code false}: the
     * {@code cache-none} lever of {@code cnn bench models}). No effect where the session did not turn the cache on.
     */
    public void keepForwardOutputs(boolean keep) {
        if (cachesForward && !closed) {
            keepOutputs(network, keep);
        }
    }

    /**
     * DL4J's forward cache on, with convolutions on the engine keeping their output by reference instead; or both off,
     * and what any layer kept dropped (DL4J's backward pass reads a kept output unchecked).
     */
    private static void keepOutputs(ComputationGraph g, boolean keep) {
        CacheMode mode = keep ? CacheMode.DEVICE : CacheMode.NONE;
        GraphPolicy.setCacheMode(g, mode);
        GraphPolicy.keepConvolutionOutputs(g, keep, mode);
        if (!keep) {
            for (Layer l : g.getLayers()) {
                Dl4jInternals.clearKeptForwardOutput(l instanceof FrozenLayer f ? f.getInsideLayer() : l);
            }
        }
    }

    /**
     * Activation layers (ReLU, ReLU6) applied in place on their input in training forward passes while the session is
     * open.
     */
    public int activationsInPlace() {
        return activationsInPlace;
    }

    /**
     * Hands the network back as it was: NCHW everywhere, every gradient computed, nothing cached, DL4J's own
     * updaters. Idempotent.
     *
     * @throws IllegalStateException if a blocked layout would outlive the session (a bug in this package)
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            restoreUpdaters.run();
        } finally { // the rest is restored even if the updaters fail to be
            GraphPolicy.activationsInPlace(network, false);
            GraphPolicy.unblock(network);
            GraphPolicy.skipInputGradients(network, false);
            if (cachesForward) {
                keepOutputs(network, false);
            }
        }
        int left = GraphPolicy.blockedVertices(network);
        if (left != 0) {
            throw new IllegalStateException(left + " layers still read or write oneDNN's blocked layout after the "
                    + "training session closed");
        }
    }
}
