package dev.cnn.cli;

import dev.cnn.core.Json;
import dev.cnn.zoo.ModelRegistry;
import dev.cnn.zoo.ModelSpec;
import dev.cnn.zoo.ModelSummary;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.LinkedHashMap;
import java.util.Map;

/** {@code cnn summary MODEL}: the layer table of an architecture, like Keras' summary or torchinfo. */
@Command(name = "summary", description = "Print the layer table of a zoo architecture.")
final class SummaryCommand extends BaseCommand {
    @Parameters(index = "0", paramLabel = "MODEL", description = "Zoo name (see 'cnn models').")
    String model;

    @Option(names = "--input", defaultValue = "3x224x224", converter = InputShape.Converter.class,
            description = "Input shape CxHxW (default: ${DEFAULT-VALUE}).")
    InputShape input;

    @Option(names = "--classes", defaultValue = "1000", description = "Number of classes (default: ${DEFAULT-VALUE}).")
    int classes;

    @Option(names = "--format", defaultValue = "table", description = "table or json (default: ${DEFAULT-VALUE}).")
    Format format;

    @Override
    public Integer call() {
        requireFormat(format, Format.table, Format.json);
        int[] in = {input.channels(), input.height(), input.width()};
        ModelSpec spec = ModelSpec.builder().numClasses(classes).input(in[0], in[1], in[2]).build();
        var arch = ModelRegistry.get(model);
        try {
            arch.checkInput(spec);
        } catch (IllegalArgumentException e) {
            throw dev.cnn.core.CnnException.usage(e.getMessage());
        }
        ModelSummary s = ModelSummary.of(arch, spec);
        if (format == Format.json) {
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("model", arch.name());
            doc.put("input", spec.inputString());
            doc.put("classes", classes);
            doc.put("layers", s.rows());
            doc.put("totalParams", s.totalParams());
            doc.put("trainableParams", s.trainableParams());
            doc.put("buffers", s.totalState());
            doc.put("macs", s.totalMacs());
            out().println(Json.pretty(doc));
        } else {
            out().printf("%s at input %s, %d classes%n", arch.name(), spec.inputString(), classes);
            out().print(s.toTable());
        }
        return ExitCodes.OK;
    }
}
