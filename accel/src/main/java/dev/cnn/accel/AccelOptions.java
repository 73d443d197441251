package dev.cnn.accel;

/**
 * How the engine runs a network, in place of process-wide switches: each lever is off-able for comparison
 * ({@code cnn bench models --levers}) or as a fallback.
 *
 * @param dl4jHelpers DL4J's own layer helpers (oneDNN inside ND4J) in networks built under
 *                    {@link Accel#build(AccelOptions, java.util.function.Supplier)}; off: plain libnd4j ops
 * @param dnnl        this module's oneDNN helpers and layers (off: DL4J's helpers, with {@link SmallMapConvHelper}'s
 *                    rerouting)
 * @param fastAdam    Adam's step in Java ({@link FastAdam}) while training (off: ND4J's {@code adam_updater} op)
 * @param fold        inference copies fold batch norm and ReLU into the convolutions ({@link InferenceGraph})
 */
public record AccelOptions(boolean dl4jHelpers, boolean dnnl, boolean fastAdam, boolean fold) {
    /** Every lever on: what {@code cnn} runs with. */
    public static final AccelOptions DEFAULT = new AccelOptions(true, true, true, true);
    /** The system property {@link #fromSystemProperties} reads for {@link #dnnl}. */
    public static final String DNNL_PROPERTY = "cnn.dnnl";
    /** The system property {@link #fromSystemProperties} reads for {@link #fastAdam}. */
    public static final String FAST_ADAM_PROPERTY = "cnn.fastAdam";

    /**
     * The defaults with {@code -Dcnn.dnnl=false} and {@code -Dcnn.fastAdam=false} honoured: read once, by an
     * application's entry point (the CLI's {@code Main}), never inside the engine.
     */
    public static AccelOptions fromSystemProperties() {
        return new AccelOptions(true, !"false".equalsIgnoreCase(System.getProperty(DNNL_PROPERTY)),
                !"false".equalsIgnoreCase(System.getProperty(FAST_ADAM_PROPERTY)), true);
    }

    public AccelOptions withDl4jHelpers(boolean on) {
        return new AccelOptions(on, dnnl, fastAdam, fold);
    }

    public AccelOptions withDnnl(boolean on) {
        return new AccelOptions(dl4jHelpers, on, fastAdam, fold);
    }

    public AccelOptions withFastAdam(boolean on) {
        return new AccelOptions(dl4jHelpers, dnnl, on, fold);
    }

    public AccelOptions withFold(boolean on) {
        return new AccelOptions(dl4jHelpers, dnnl, fastAdam, on);
    }
}
