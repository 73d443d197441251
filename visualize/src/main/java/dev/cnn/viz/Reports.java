package dev.cnn.viz;

import dev.cnn.core.BundleMetadata;
import dev.cnn.core.Evaluator;
import dev.cnn.core.EpochStats;
import dev.cnn.core.ModelBundle;
import dev.cnn.data.ImageDataset;
import dev.cnn.data.SkipReport;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The reports {@code cnn train}, {@code cnn finetune} and {@code cnn evaluate --report} write. */
public final class Reports {
    private Reports() {
    }

    /** {@code <stem>.report.html} next to a model file. */
    public static Path reportPath(Path model) {
        String name = model.getFileName().toString();
        String stem = name.endsWith(".zip") ? name.substring(0, name.length() - 4) : name;
        return model.toAbsolutePath().resolveSibling(stem + ".report.html");
    }

    /**
     * After training: curves from {@code history}, the final model's confusion matrix, per-class metrics and
     * misclassified images on {@code validation} (skipped when there is none).
     */
    public static Report.Written afterTraining(String command, ModelBundle bundle, ImageDataset validation,
                                               List<EpochStats> history, Path model) throws IOException {
        Evaluator.Result eval = validation == null || validation.size() == 0 ? null
                : Evaluator.evaluate(bundle, validation, new SkipReport(false), 64);
        return Report.write(new Report.Content(command + ": " + model.getFileName() + " ("
                        + bundle.metadata().architecture() + ")", settings(bundle.metadata(), model), history,
                eval == null ? null : eval.metrics(), eval == null ? List.of() : eval.misclassified()),
                reportPath(model));
    }

    /** An evaluation; the model's own training curves are included when its bundle carries them. */
    public static Report.Written evaluation(ModelBundle bundle, Path model, Path data, Evaluator.Result eval,
                                            Path html) throws IOException {
        Map<String, Object> s = settings(bundle.metadata(), model);
        s.put("evaluated on", data.toString());
        return Report.write(new Report.Content("cnn evaluate: " + model.getFileName() + " on " + data, s,
                history(bundle.metadata()), eval.metrics(), eval.misclassified()), html);
    }

    /** Epoch history stored in a bundle's provenance, if any. */
    static List<EpochStats> history(BundleMetadata meta) {
        return meta.provenance() == null ? List.of() : meta.provenance().history();
    }

    /** Flat, readable settings of a bundle: model, input, classes, preprocessing, data and training config. */
    static Map<String, Object> settings(BundleMetadata m, Path model) {
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("model file", model.toString());
        s.put("architecture", m.architecture());
        s.put("input", m.channels() + "x" + m.height() + "x" + m.width());
        s.put("classes", m.numClasses() + ": " + String.join(", ", m.labels()));
        s.put("preprocess", m.preprocess().toMap());
        if (m.provenance() != null) {
            s.putAll(m.provenance().summary());
        }
        return s;
    }
}
