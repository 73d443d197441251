package dev.cnn.zoo;

/**
 * What a network is built for: number of classes, input channels, height and width, and the seed of its initial
 * weights. Build with {@link #builder()}; every field but the seed must be set and positive. {@code nhwc} builds the
 * convolutional part channels-last (input [batch, height, width, channels]); the default is NCHW.
 */
public record ModelSpec(int numClasses, int channels, int height, int width, long seed, boolean nhwc) {

    public ModelSpec {
        if (numClasses < 1) {
            throw new IllegalArgumentException("numClasses must be >= 1, got " + numClasses);
        }
        if (channels < 1) {
            throw new IllegalArgumentException("channels must be >= 1, got " + channels);
        }
        if (height < 1 || width < 1) {
            throw new IllegalArgumentException("height and width must be >= 1, got " + height + "x" + width);
        }
    }

    /**
     * {@code seed} as ND4J's random generator should get it: {@code Nd4j.getRandom().setSeed(0)} (which DL4J calls
     * for a network configured with seed 0) does not reset the generator, so seed 0 gave different weights on every
     * run; it maps to a fixed other value. Every other seed is itself.
     */
    public static long nd4jSeed(long seed) {
        return seed == 0 ? 0x2545F4914F6CDD1DL : seed;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** "CxHxW", as the CLI writes it. */
    public String inputString() {
        return channels + "x" + height + "x" + width;
    }

    /**
     * Parses "CxHxW" (e.g. {@code 3x224x224}) or "HxW" / "S" (then 3 channels).
     *
     * @return {channels, height, width}
     */
    public static int[] parseInput(String s) {
        String[] parts = s.trim().toLowerCase().split("x");
        try {
            int[] v = new int[parts.length];
            for (int i = 0; i < parts.length; i++) {
                v[i] = Integer.parseInt(parts[i].trim());
            }
            int[] r = switch (v.length) {
                case 1 -> new int[]{3, v[0], v[0]};
                case 2 -> new int[]{3, v[0], v[1]};
                case 3 -> v;
                default -> throw new NumberFormatException();
            };
            for (int x : r) {
                if (x < 1) {
                    throw new NumberFormatException();
                }
            }
            return r;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("invalid input shape '" + s + "': expected CxHxW such as 3x224x224");
        }
    }

    public static final class Builder {
        private Integer numClasses;
        private Integer channels;
        private Integer height;
        private Integer width;
        private long seed = 42;
        private boolean nhwc;

        /** Channels-last activations (NHWC) instead of NCHW; a speed lever, see {@code cnn bench models --levers}. */
        public Builder nhwc(boolean v) {
            this.nhwc = v;
            return this;
        }

        public Builder numClasses(int n) {
            this.numClasses = n;
            return this;
        }

        public Builder channels(int c) {
            this.channels = c;
            return this;
        }

        public Builder size(int height, int width) {
            this.height = height;
            this.width = width;
            return this;
        }

        public Builder input(int channels, int height, int width) {
            this.channels = channels;
            return size(height, width);
        }

        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        public ModelSpec build() {
            if (numClasses == null) {
                throw new IllegalStateException("ModelSpec: numClasses is not set");
            }
            if (channels == null || height == null || width == null) {
                throw new IllegalStateException("ModelSpec: input shape (channels, height, width) is not set");
            }
            return new ModelSpec(numClasses, channels, height, width, seed, nhwc);
        }
    }
}
