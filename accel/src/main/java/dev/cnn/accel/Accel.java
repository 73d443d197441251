package dev.cnn.accel;

import org.deeplearning4j.nn.graph.ComputationGraph;

import java.util.Objects;
import java.util.function.Supplier;

/**
 * The one door to the engine. Everything else in this package is how it works.
 * <ul>
 *   <li>{@link #beginTraining}: a {@link TrainingSession} around a network being trained; close it to undo it.</li>
 *   <li>{@link #forInference} / {@link #inferenceCopy}: the network to run many images through, with batch norm
 *   and ReLU folded into the convolutions and weights in oneDNN's layout; the original is left untouched.</li>
 *   <li>{@link #install}: this package's helpers on a network the caller keeps running as it is (a frozen feature
 *   extractor, a network classifying a few images).</li>
 * </ul>
 * Each takes {@link AccelOptions}; the overloads without use {@link #defaults()}, which an application sets once
 * ({@link #setDefaults}) and is {@link AccelOptions#DEFAULT} otherwise. {@link Engine#init()} (DL4J's helpers on, the
 * native build chosen) must run before ND4J's first use; this class runs it when loaded.
 */
public final class Accel {
    /** From this many images on, {@link #forInference} makes an inference copy. */
    public static final int WORTH_AN_INFERENCE_COPY = InferenceGraph.WORTH_FOLDING;
    private static volatile AccelOptions defaults = AccelOptions.DEFAULT;

    static {
        Engine.init();
    }

    private Accel() {
    }

    /** The options of the overloads without options. */
    public static AccelOptions defaults() {
        return defaults;
    }

    /** Sets {@link #defaults()} for this process (an application's entry point does, once). */
    public static void setDefaults(AccelOptions options) {
        defaults = Objects.requireNonNull(options);
    }

    public static TrainingSession beginTraining(ComputationGraph network) {
        return beginTraining(network, defaults);
    }

    /** Sets {@code network} up for fast training until the returned session is closed. */
    public static TrainingSession beginTraining(ComputationGraph network, AccelOptions options) {
        return TrainingSession.begin(network, options);
    }

    public static ComputationGraph forInference(ComputationGraph network, long images) {
        return forInference(network, images, defaults);
    }

    /**
     * The network to run {@code images} images through: an {@link #inferenceCopy} when that pays for its set-up
     * ({@value InferenceGraph#WORTH_FOLDING} images and more), else {@code network} itself with helpers installed.
     */
    public static ComputationGraph forInference(ComputationGraph network, long images, AccelOptions options) {
        return InferenceGraph.forImages(network, images, options);
    }

    public static ComputationGraph inferenceCopy(ComputationGraph network) {
        return inferenceCopy(network, defaults);
    }

    /**
     * An inference-only copy: batch norm and the ReLU after it folded into each convolution, residual block ends
     * fused, weights reordered once; outputs equal {@code network}'s in inference mode to float rounding. Without
     * {@link AccelOptions#fold()}, or with nothing to fold, {@code network} itself with helpers installed.
     */
    public static ComputationGraph inferenceCopy(ComputationGraph network, AccelOptions options) {
        return options.fold() ? InferenceGraph.fold(network, options).network() : install(network, options);
    }

    public static ComputationGraph install(ComputationGraph network) {
        return install(network, defaults);
    }

    /** This package's helpers on {@code network} as it is (idempotent); returns it. */
    public static ComputationGraph install(ComputationGraph network, AccelOptions options) {
        GraphPolicy.install(network, options);
        return network;
    }

    /**
     * Runs {@code build} (which creates a network's layers) with DL4J's own layer helpers on or off as
     * {@link AccelOptions#dl4jHelpers()} says. DL4J reads its switch, a system property, when a layer is created;
     * this is the one place that sets it, and it is restored before this returns.
     */
    public static synchronized <T> T build(AccelOptions options, Supplier<T> build) {
        String before = System.getProperty(Engine.HELPERS_DISABLE);
        System.setProperty(Engine.HELPERS_DISABLE, Boolean.toString(!options.dl4jHelpers()));
        try {
            return build.get();
        } finally {
            if (before == null) {
                System.clearProperty(Engine.HELPERS_DISABLE);
            } else {
                System.setProperty(Engine.HELPERS_DISABLE, before);
            }
        }
    }

    /** Loads oneDNN on a daemon thread, for commands that can overlap it with other start-up work (idempotent). */
    public static void preload() {
        Dnnl.preload();
    }

    /** Whether oneDNN loads here; loads it, or waits for a {@link #preload} in progress. */
    public static boolean oneDnnAvailable() {
        return Dnnl.available();
    }
}
