package dev.cnn.cli;

import dev.cnn.transfer.weights.Weights;

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
    @picocli.CommandLine.Mixin
    SpecOptions shape;

    @picocli.CommandLine.Mixin
    FormatOptions formatOptions;

    @Override
    public Integer call() {
        Format format = formatOptions.require(Format.table, Format.json);
        ModelSpec spec = shape.spec();
        int[] in = {spec.channels(), spec.height(), spec.width()};
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
            List<Map<String, Object>> weights = new ArrayList<>();
            for (Weights w : Weights.forModel(a.name())) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("tag", w.tag());
                m.put("default", w.isDefault());
                m.put("top1", w.top1());
                m.put("top5", w.top5());
                m.put("url", w.url());
                weights.add(m);
            }
            r.put("weights", weights);
            rows.add(r);
        }
        if (format == Format.json) {
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("input", spec.inputString());
            doc.put("classes", spec.numClasses());
            doc.put("models", rows);
            out().println(Json.pretty(doc));
            return ExitCodes.OK;
        }
        out().printf("Models at input %s, %d classes%n", spec.inputString(), spec.numClasses());
        int width = rows.stream().mapToInt(r -> ((String) r.get("name")).length()).max().orElse(4);
        String line = "%-" + width + "s %12s %8s  %-18s %s%n";
        out().printf(line, "name", "params", "GMACs", "weights (top-1)", "description");
        for (Map<String, Object> r : rows) {
            Object p = r.get("params");
            String params = p == null ? "(min " + r.get("minInputSize") + " px)" : String.format("%,d", (Long) p);
            String macs = p == null ? "-" : String.format("%.3f", ((Long) r.get("macs")) / 1e9);
            String w = Weights.find((String) r.get("name"), null).map(x -> "imagenet" + (x.top1() == null ? ""
                    : String.format(" (%.1f%%)", x.top1()))).orElse("-");
            out().printf(line, r.get("name"), params, macs, w, r.get("description"));
        }
        out().println("Weights: --base zoo:NAME:imagenet (cnn finetune), cnn import weights --model NAME; "
                + "--format json lists every tag and URL.");
        return ExitCodes.OK;
    }
}
