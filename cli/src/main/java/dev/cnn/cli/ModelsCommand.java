package dev.cnn.cli;

import dev.cnn.core.Json;
import dev.cnn.zoo.Architecture;
import dev.cnn.zoo.ModelRegistry;
import dev.cnn.zoo.ModelSpec;
import dev.cnn.zoo.ModelSummary;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** {@code cnn models}: every architecture with parameters and multiply-adds at a chosen input. */
@Command(name = "models", description = "List the architectures of the model zoo.")
final class ModelsCommand extends BaseCommand {
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
        List<Map<String, Object>> rows = new ArrayList<>();
        for (Architecture a : ModelRegistry.all()) {
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("name", a.name());
            r.put("description", a.description());
            r.put("minInputSize", a.minInputSize());
            if (in[1] >= a.minInputSize() && in[2] >= a.minInputSize()) {
                ModelSummary s = ModelSummary.of(a, spec);
                r.put("params", s.totalParams());
                r.put("buffers", s.totalState());
                r.put("macs", s.totalMacs());
            } else {
                r.put("params", null);
                r.put("buffers", null);
                r.put("macs", null);
            }
            rows.add(r);
        }
        if (format == Format.json) {
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("input", spec.inputString());
            doc.put("classes", classes);
            doc.put("models", rows);
            out().println(Json.pretty(doc));
            return ExitCodes.OK;
        }
        out().printf("Models at input %s, %d classes%n", spec.inputString(), classes);
        out().printf("%-13s %15s %12s  %s%n", "name", "params", "GMACs", "description");
        for (Map<String, Object> r : rows) {
            Object p = r.get("params");
            String params = p == null ? "(min " + r.get("minInputSize") + " px)" : String.format("%,d", (Long) p);
            String macs = p == null ? "-" : String.format("%.3f", ((Long) r.get("macs")) / 1e9);
            out().printf("%-13s %15s %12s  %s%n", r.get("name"), params, macs, r.get("description"));
        }
        return ExitCodes.OK;
    }
}
