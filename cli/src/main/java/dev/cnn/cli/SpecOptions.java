package dev.cnn.cli;

import dev.cnn.zoo.ModelSpec;
import picocli.CommandLine.Option;

/** Input shape and class count of a zoo network ({@code models}, {@code summary}). */
public class SpecOptions {
    @Option(names = "--input", defaultValue = "3x224x224", converter = InputShape.Converter.class,
            description = "Input shape CxHxW (default: ${DEFAULT-VALUE}).")
    InputShape input;

    @Option(converter = Ranges.Positive.class, names = "--classes", defaultValue = "1000", description = "Number of classes (default: ${DEFAULT-VALUE}).")
    int classes;

    ModelSpec spec() {
        return ModelSpec.builder().numClasses(classes).input(input.channels(), input.height(), input.width()).build();
    }
}
