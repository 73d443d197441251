package dev.cnn.transfer;

import org.deeplearning4j.nn.conf.inputs.InputType;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.regularization.Regularization;

import java.util.List;

/**
 * The classifier {@link Heads#replaceHead} puts on a cut layer.
 *
 * <p>Layers added, in order: {@code <name>_pool} (global average or max pooling, only when the cut's output is
 * convolutional and not flattened), {@code <name>_fc} (dense, ReLU, only when {@code hidden > 0}, with dropout
 * {@code dropout} on its output side, i.e. on the input of the output layer) and {@code <name>} (OutputLayer, softmax,
 * MCXENT).
 *
 * @param numClasses     number of classes (&gt; 0)
 * @param name           name of the output layer (default {@code head})
 * @param hidden         units of an extra dense layer, 0 for none
 * @param pooling        how a convolutional cut's output becomes a vector: averaged or maxed over each channel, or
 *                       flattened (every position kept, as Keras' {@code include_top=False} with {@code pooling=None}
 *                       and a {@code Flatten}); a flat cut takes only the default, {@code AVG} (nothing to pool)
 * @param dropout        drop <em>probability</em> (0 = none) applied to the output layer's input; note that DL4J's own
 *                       {@code dropOut(x)} takes the <em>retain</em> probability
 * @param seed           seed for the new layers' weights
 * @param updater        updater of the new layers; null = the updater of the classifier being replaced (or the last
 *                       trainable layer), else Adam(1e-3)
 * @param regularization regularisation of the new layers' weights; null = that of the classifier being replaced
 * @param inputTypes     the network's input types, e.g. {@code InputType.convolutional(224, 224, 3)}; empty = work
 *                       out the cut's output from the layer configurations (enough for the common layer types)
 */
public record HeadSpec(int numClasses, String name, int hidden, Pooling pooling, double dropout, long seed,
                       IUpdater updater, List<Regularization> regularization, List<InputType> inputTypes) {

    public static final String DEFAULT_NAME = "head";
    public static final long DEFAULT_SEED = 12345L;

    /** How a convolutional cut's output becomes the head's input vector. */
    public enum Pooling {
        AVG, MAX, FLATTEN;

        /** {@code avg}, {@code max} or {@code flatten}, any case. */
        public static Pooling parse(String s) {
            try {
                return valueOf(s.trim().toUpperCase(java.util.Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("unknown head pooling '" + s + "'; use avg, max or flatten");
            }
        }

        /** {@code avg}, {@code max} or {@code flatten}, as {@link #parse} reads it. */
        public String cliName() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    public HeadSpec {
        if (numClasses < 1) {
            throw new IllegalArgumentException("number of classes must be >= 1, got " + numClasses);
        }
        if (name == null || name.isBlank()) {
            name = DEFAULT_NAME;
        }
        if (pooling == null) {
            pooling = Pooling.AVG;
        }
        if (hidden < 0) {
            throw new IllegalArgumentException("hidden units must be >= 0, got " + hidden);
        }
        if (!(dropout >= 0 && dropout < 1)) {
            throw new IllegalArgumentException("dropout must be in [0, 1), got " + dropout);
        }
        regularization = regularization == null ? null : List.copyOf(regularization);
        inputTypes = inputTypes == null ? List.of() : List.copyOf(inputTypes);
    }

    /** A plain softmax head named {@code head}, seed {@value #DEFAULT_SEED}. */
    public static HeadSpec of(int numClasses) {
        return new HeadSpec(numClasses, DEFAULT_NAME, 0, Pooling.AVG, 0, DEFAULT_SEED, null, null, List.of());
    }

    public HeadSpec withName(String n) {
        return new HeadSpec(numClasses, n, hidden, pooling, dropout, seed, updater, regularization, inputTypes);
    }

    public HeadSpec withHidden(int units, double dropProbability) {
        return new HeadSpec(numClasses, name, units, pooling, dropProbability, seed, updater, regularization,
                inputTypes);
    }

    public HeadSpec withDropout(double dropProbability) {
        return new HeadSpec(numClasses, name, hidden, pooling, dropProbability, seed, updater, regularization,
                inputTypes);
    }

    public HeadSpec withPooling(Pooling p) {
        return new HeadSpec(numClasses, name, hidden, p, dropout, seed, updater, regularization, inputTypes);
    }

    public HeadSpec withSeed(long s) {
        return new HeadSpec(numClasses, name, hidden, pooling, dropout, s, updater, regularization, inputTypes);
    }

    public HeadSpec withUpdater(IUpdater u) {
        return new HeadSpec(numClasses, name, hidden, pooling, dropout, seed, u, regularization, inputTypes);
    }

    public HeadSpec withRegularization(List<Regularization> r) {
        return new HeadSpec(numClasses, name, hidden, pooling, dropout, seed, updater, r, inputTypes);
    }

    public HeadSpec withInputTypes(InputType... types) {
        return new HeadSpec(numClasses, name, hidden, pooling, dropout, seed, updater, regularization, List.of(types));
    }

    String poolName() {
        return name + "_pool";
    }

    String fcName() {
        return name + "_fc";
    }
}
