package dev.cnn.cli;

import dev.cnn.core.CnnException;
import dev.cnn.core.Evaluator;
import dev.cnn.core.Json;
import dev.cnn.core.ModelBundle;
import dev.cnn.data.DataException;
import dev.cnn.data.DataSource;
import dev.cnn.data.ImageDataset;
import dev.cnn.data.SkipReport;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;

/** {@code cnn evaluate}: accuracy, top-5, per-class metrics and the confusion matrix on a labelled folder. */
@Command(name = "evaluate", description = "Evaluate a model on a labelled image folder.",
        footer = {"", "DIR is a folder of class subfolders; if it has test/ (or val/) inside, that is used.",
                "Classes are matched by name; images of classes the model does not know are reported."})
final class EvaluateCommand extends BaseCommand {
    @Option(names = {"-m", "--model"}, defaultValue = "model.zip", description = "Model bundle (default: ${DEFAULT-VALUE}).")
    Path model;
    @Option(names = "--data", required = true, description = "Labelled image folder.")
    Path data;
    @Option(converter = Ranges.Positive.class, names = "--batch-size", defaultValue = "64", description = "Default: ${DEFAULT-VALUE}.")
    int batchSize;
    @Option(names = "--strict", description = "Fail (exit 3) on the first unreadable image.")
    boolean strict;
    @picocli.CommandLine.Mixin
    FormatOptions formatOptions;
    @Option(names = "--report", paramLabel = "FILE",
            description = "Also write an HTML report (confusion heat map, per-class metrics, misclassified images).")
    Path reportFile;

    @Override
    public Integer call() {
        Format format = formatOptions.require(Format.table, Format.json);
        ModelBundle bundle = ModelBundle.load(model, false);
        Path dir = data;
        for (String sub : new String[]{"test", "val", "valid", "validation"}) {
            if (Files.isDirectory(data.resolve(sub))) {
                dir = data.resolve(sub);
                break;
            }
        }
        SkipReport report = new SkipReport(strict);
        Evaluator.Result r;
        try {
            ImageDataset ds = DataSource.openFolder(dir, DataSource.Options.defaults().withValSplit(0)
                    .withStrict(strict), report);
            r = Evaluator.evaluate(bundle, ds, report, batchSize);
        } catch (DataException e) {
            throw CnnException.data(e.getMessage(), e);
        }
        if (format == Format.json) {
            out().println(Json.pretty(r.toMap()));
        } else {
            out().printf("%s on %s%n", model, dir);
            out().print(r.metrics().toTable());
            if (!r.unknownClasses().isEmpty()) {
                out().println("\nnot scored (classes unknown to the model): " + r.unknownClasses());
            }
        }
        if (reportFile != null && r.metrics().count() > 0) {
            try {
                dev.cnn.viz.Reports.evaluation(bundle, model, dir, r, reportFile);
            } catch (java.io.IOException e) {
                throw CnnException.data("cannot write " + reportFile + ": " + e.getMessage());
            }
            err().println("cnn: report: " + reportFile);
        }
        if (!report.summary().isEmpty()) {
            err().println("cnn: " + report.summary());
        }
        if (r.metrics().count() == 0) {
            throw CnnException.data(dir + ": no image belongs to a class the model knows ("
                    + String.join(", ", bundle.metadata().labels()) + ")");
        }
        return ExitCodes.OK;
    }
}
