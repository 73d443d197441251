package dev.cnn.cli;

import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * Range-checked whole-number options, in one place: picocli converts with these, so a value out of range is a usage
 * error (exit 2) when the command line is parsed, naming the option and the range its help states. The library
 * checks its inputs too; these make the CLI's messages name the option, not an internal field.
 */
final class Ranges {
    private Ranges() {
    }

    private static int parse(String value, int min, int max, String range) {
        int v;
        try {
            v = Integer.parseInt(value.trim());
        } catch (NumberFormatException e) {
            throw new TypeConversionException("'" + value + "' is not a whole number; use " + range);
        }
        if (v < min || v > max) {
            throw new TypeConversionException(v + " is out of range; use " + range);
        }
        return v;
    }

    /** 1 or more: epochs, batch sizes, counts. */
    static final class Positive implements ITypeConverter<Integer> {
        @Override
        public Integer convert(String value) {
            return parse(value, 1, Integer.MAX_VALUE, "1 or more");
        }
    }

    /** A learning rate in (0, 10), or {@code auto} (NaN): the lr range test's suggestion. */
    static final class LearningRate implements ITypeConverter<Double> {
        @Override
        public Double convert(String value) {
            if (value.trim().equalsIgnoreCase("auto")) {
                return Double.NaN;
            }
            double v;
            try {
                v = Double.parseDouble(value.trim());
            } catch (NumberFormatException e) {
                throw new picocli.CommandLine.TypeConversionException("'" + value + "' is not a learning rate "
                        + "(a number in (0, 10), or auto)");
            }
            if (!(v > 0 && v < 10)) {
                throw new picocli.CommandLine.TypeConversionException("'" + value + "' is out of range (a number in "
                        + "(0, 10), or auto)");
            }
            return v;
        }
    }

    /**
     * {@code cnn finetune --base-lr}: one rate for the whole base ({@code 0.001}, 0 keeps it still), or {@code LO:HI}
     * (fastai's {@code slice(lo, hi)}): LO at its first trainable layer rising to HI at the cut, 0 < LO <= HI; low 0
     * for one rate.
     */
    record BaseRates(double low, double high) {
    }

    /** Reads {@link BaseRates}. */
    static final class BaseLearningRate implements ITypeConverter<BaseRates> {
        private static final String FORM = "a rate such as 0.001, or LO:HI such as 0.0001:0.001 (0 < LO <= HI < 10)";

        @Override
        public BaseRates convert(String value) {
            String[] parts = value.trim().split(":", -1);
            if (parts.length > 2) {
                throw new TypeConversionException("'" + value + "' is not " + FORM);
            }
            double[] r = new double[parts.length];
            for (int i = 0; i < parts.length; i++) {
                try {
                    r[i] = Double.parseDouble(parts[i].trim());
                } catch (NumberFormatException e) {
                    throw new TypeConversionException("'" + value + "' is not " + FORM);
                }
            }
            double low = parts.length == 2 ? r[0] : 0;
            double high = r[r.length - 1];
            if (!(high >= 0 && high < 10) || parts.length == 2 && !(low > 0 && low <= high)) {
                throw new TypeConversionException("'" + value + "' is out of range: use " + FORM);
            }
            return new BaseRates(low, high);
        }
    }

    /** Image height and width in pixels: 8 to 4096. */
    static final class ImageSize implements ITypeConverter<Integer> {
        @Override
        public Integer convert(String value) {
            return parse(value, 8, 4096, "8 to 4096 pixels");
        }
    }

    /** Image channels: 1 (gray) or 3 (RGB). */
    static final class Channels implements ITypeConverter<Integer> {
        @Override
        public Integer convert(String value) {
            int v = parse(value, 1, 3, "1 (gray) or 3 (RGB)");
            if (v == 2) {
                throw new TypeConversionException("2 is out of range; use 1 (gray) or 3 (RGB)");
            }
            return v;
        }
    }

    /** Decoding threads: 1 to 256, or {@code auto}: one per core, at most 8. */
    static final class Workers implements ITypeConverter<Integer> {
        @Override
        public Integer convert(String value) {
            if (value.trim().equalsIgnoreCase("auto")) {
                return dev.cnn.data.ImageBatchIterator.defaultWorkers();
            }
            return parse(value, 1, 256, "1 to 256 threads, or auto");
        }
    }
}
