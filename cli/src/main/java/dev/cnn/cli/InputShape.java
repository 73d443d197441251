package dev.cnn.cli;

import dev.cnn.zoo.ModelSpec;
import picocli.CommandLine;

/** {@code CxHxW} option values (e.g. {@code 3x224x224}); a bad value is a usage error. */
record InputShape(int channels, int height, int width) {
    static final class Converter implements CommandLine.ITypeConverter<InputShape> {
        @Override
        public InputShape convert(String value) {
            try {
                int[] v = ModelSpec.parseInput(value);
                return new InputShape(v[0], v[1], v[2]);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }

    @Override
    public String toString() {
        return channels + "x" + height + "x" + width;
    }
}
