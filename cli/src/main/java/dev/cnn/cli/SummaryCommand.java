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

    @picocli.CommandLine.Mixin
    SpecOptions shape;

    @picocli.CommandLine.Mixin
    FormatOptions formatOptions;

    @Override
    public Integer call() {
        Format format = formatOptions.require(Format.table, Format.json);
        ModelSpec spec = shape.spec();
        int[] in = {spec.channels(), spec.height(), spec.width()};
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
            doc.put("classes", spec.numClasses());
            doc.put("layers", s.rows());
            doc.put("totalParams", s.totalParams());
            doc.put("trainableParams", s.trainableParams());
            doc.put("buffers", s.totalState());
            doc.put("macs", s.totalMacs());
            out().println(Json.pretty(doc));
        } else {
            out().printf("%s at input %s, %d classes%n", arch.name(), spec.inputString(), spec.numClasses());
            out().print(s.toTable());
        }
        return ExitCodes.OK;
    }
}
