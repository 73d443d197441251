package dev.cnn.cli;

import dev.cnn.core.Json;
import dev.cnn.core.bench.DataBench;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** {@code cnn bench}: benchmarks. */
@Command(name = "bench", description = "Benchmarks.", subcommands = {BenchCommand.Data.class})
final class BenchCommand implements Runnable {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    @Command(name = "data", description = "Input pipeline images/s (PNG/JPEG, with and without cache) next to the "
            + "training rate of simplecnn and resnet18 at the same size.")
    static final class Data extends BaseCommand {
        @Option(names = "--sizes", split = ",", defaultValue = "32,64,224", description = "Default: ${DEFAULT-VALUE}.")
        int[] sizes;
        @Option(names = "--images", defaultValue = "512", description = "Images per folder (default: ${DEFAULT-VALUE}).")
        int images;
        @Option(names = "--batch-size", defaultValue = "32")
        int batch;
        @Option(names = "--workers", defaultValue = "1")
        int workers;
        @Option(names = "--work-dir", defaultValue = "target/bench-data")
        Path workDir;
        @Option(names = "--json", description = "Also write the results to this file.")
        Path json;
        @Option(names = "--format", defaultValue = "table")
        Format format;

        @Override
        public Integer call() throws Exception {
            requireFormat(format, Format.table, Format.json);
            List<DataBench.Row> rows = DataBench.run(workDir, sizes, images, batch, workers);
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("threads", Runtime.getRuntime().availableProcessors());
            doc.put("images", images);
            doc.put("batch", batch);
            doc.put("workers", workers);
            doc.put("rows", rows);
            if (json != null) {
                Files.writeString(json, Json.pretty(doc));
            }
            out().print(format == Format.json ? Json.pretty(doc) + "\n" : DataBench.table(rows));
            return ExitCodes.OK;
        }
    }
}
