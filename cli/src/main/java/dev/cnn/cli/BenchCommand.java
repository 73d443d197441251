package dev.cnn.cli;

import dev.cnn.core.Json;
import dev.cnn.core.bench.DataBench;
import dev.cnn.core.bench.ModelBench;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** {@code cnn bench}: benchmarks. */
@Command(name = "bench", description = "Benchmarks.", mixinStandardHelpOptions = true, subcommands = {BenchCommand.Models.class, BenchCommand.Data.class})
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
        @picocli.CommandLine.Mixin
        FormatOptions formatOptions;

        @Option(names = "--folder", paramLabel = "DIR", description = "Time the pipeline alone on this folder of "
                + "class subfolders instead (one pass per run, images stretched to each size, no augmentation).")
        Path folder;
        @Option(names = "--runs", defaultValue = "3", description = "Passes over --folder (default: ${DEFAULT-VALUE}).")
        int runs;

        @Override
        public Integer call() throws Exception {
            Format format = formatOptions.require(Format.table, Format.json);
            if (folder != null) {
                List<DataBench.FolderRow> rows = DataBench.folder(folder, sizes, batch, workers, runs);
                Map<String, Object> doc = new LinkedHashMap<>();
                doc.put("threads", Runtime.getRuntime().availableProcessors());
                doc.put("folder", folder.toString());
                doc.put("rows", rows);
                if (json != null) {
                    Files.writeString(json, Json.pretty(doc));
                }
                StringBuilder t = new StringBuilder(String.format("%5s %7s %8s  %s%n", "size", "images", "workers",
                        "images/s per pass"));
                for (DataBench.FolderRow r : rows) {
                    t.append(String.format("%5d %7d %8d  %s%n", r.size(), r.images(), r.workers(),
                            r.rates().stream().map(v -> String.format("%.0f", v)).toList()));
                }
                out().print(format == Format.json ? Json.pretty(doc) + "\n" : t.toString());
                return ExitCodes.OK;
            }
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

    @Command(name = "models", description = "Training and inference images/s of zoo networks on random data, after "
            + "warm-up, median of several runs, with peak heap/off-heap memory.",
            footer = {"", "Default cases: lenet@1x28x28 (batch 64, train+infer), simplecnn@3x32x32 (64, train+infer),",
                    "resnet18@3x64x64 (32, train+infer), resnet50@3x224x224 (8, infer), vgg16@3x224x224 (8, infer).",
                    "--levers also measures each case with helpers off, workspaces off, forward cache off (training), NHWC layout,",
                    "DL4J's own oneDNN helpers instead of cnn's (dl4j-onednn) and inference-graph folding off (infer).",
                    "Threads: OMP_NUM_THREADS / CNN_THREADS."})
    static final class Models extends BaseCommand {
        @Option(names = "--case", paramLabel = "MODEL@CxHxW",
                description = "Measure only these (repeatable), e.g. resnet18@3x64x64; with --batch-size and --mode.")
        List<String> cases;
        @Option(names = "--batch-size", description = "Batch size for --case (default 32).")
        Integer batch;
        @Option(names = "--mode", split = ",", description = "train, infer or both for --case (default: both).")
        List<ModelBench.Mode> modes;
        @Option(names = "--classes", defaultValue = "10", description = "Output classes (default: ${DEFAULT-VALUE}).")
        int classes;
        @Option(names = "--runs", defaultValue = "5", description = "Timed runs (default: ${DEFAULT-VALUE}).")
        int runs;
        @Option(names = "--seconds", defaultValue = "2", description = "Minimum seconds per run (default: ${DEFAULT-VALUE}).")
        double seconds;
        @Option(names = "--warmup", defaultValue = "3", description = "Warm-up iterations, at least (default: ${DEFAULT-VALUE}).")
        int warmup;
        @Option(names = "--warmup-seconds", defaultValue = "3", description = "Warm-up time, at least (default: ${DEFAULT-VALUE}).")
        double warmupSeconds;
        @Option(names = "--levers", description = "Also measure with helpers off, workspaces off, forward cache off, NHWC, "
                + "DL4J's own oneDNN helpers (dl4j-onednn), no inference-graph folding (infer).")
        boolean levers;
        @Option(names = "--lever", paramLabel = "LABEL", description = "Measure only this one setting of --levers "
                + "(its label as the table shows it, e.g. onednn,cache-none), alone in this process.")
        String lever;
        @Option(names = "--json", description = "Also write the results to this file.")
        Path json;
        @picocli.CommandLine.Mixin
        FormatOptions formatOptions;

        static List<ModelBench.Case> defaults(int classes) {
            List<ModelBench.Case> c = new java.util.ArrayList<>();
            for (ModelBench.Mode m : ModelBench.Mode.values()) {
                c.add(ModelBench.parseCase("lenet@1x28x28", 64, m, classes));
            }
            for (ModelBench.Mode m : ModelBench.Mode.values()) {
                c.add(ModelBench.parseCase("simplecnn@3x32x32", 64, m, classes));
            }
            for (ModelBench.Mode m : ModelBench.Mode.values()) {
                c.add(ModelBench.parseCase("resnet18@3x64x64", 32, m, classes));
            }
            c.add(ModelBench.parseCase("resnet50@3x224x224", 8, ModelBench.Mode.INFER, classes));
            c.add(ModelBench.parseCase("vgg16@3x224x224", 8, ModelBench.Mode.INFER, classes));
            return c;
        }

        @Override
        public Integer call() throws Exception {
            Format format = formatOptions.require(Format.table, Format.json);
            List<ModelBench.Case> todo = new java.util.ArrayList<>();
            if (cases == null || cases.isEmpty()) {
                todo.addAll(defaults(classes));
            } else {
                List<ModelBench.Mode> ms = modes == null || modes.isEmpty() ? List.of(ModelBench.Mode.values()) : modes;
                for (String c : cases) {
                    for (ModelBench.Mode m : ms) {
                        try {
                            todo.add(ModelBench.parseCase(c, batch == null ? 32 : batch, m, classes));
                        } catch (IllegalArgumentException e) {
                            throw dev.cnn.core.CnnException.usage("--case: " + e.getMessage());
                        }
                    }
                }
            }
            List<ModelBench.Settings> settings = levers ? ModelBench.Settings.levers()
                    : List.of(ModelBench.Settings.defaults());
            if (lever != null) { // one setting alone, so that its peak memory is its own (RSS is per process)
                settings = ModelBench.Settings.levers().stream().filter(x -> x.label().equals(lever)).toList();
                if (settings.isEmpty()) {
                    throw dev.cnn.core.CnnException.usage("--lever: none is called '" + lever + "'; the levers are "
                            + ModelBench.Settings.levers().stream().map(ModelBench.Settings::label).toList());
                }
            }
            ModelBench.Timing timing = new ModelBench.Timing(warmup, warmupSeconds, runs, seconds);
            List<ModelBench.Result> results = new java.util.ArrayList<>();
            int n = 0;
            int total = 0;
            for (ModelBench.Case c : todo) {
                total += (int) settings.stream().filter(s -> ModelBench.Settings.applies(s, c.mode())).count();
            }
            for (ModelBench.Case c : todo) {
                for (ModelBench.Settings s : settings) {
                    if (!ModelBench.Settings.applies(s, c.mode())) {
                        continue;
                    }
                    n++;
                    err().printf("bench %d/%d: %s@%s batch %d %s [%s]%n", n, total, c.model(),
                            c.input(), c.batch(), c.mode().name().toLowerCase(), s.label());
                    err().flush();
                    ModelBench.Result r = ModelBench.run(c, s, timing);
                    err().printf("  %.1f img/s (runs %s)%n", r.imagesPerSec(), r.runs().stream()
                            .map(v -> String.format("%.1f", v)).toList());
                    results.add(r);
                }
            }
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("tool", "cnn");
            doc.put("engine", dev.cnn.accel.Engine.describe());
            doc.put("threads", dev.cnn.accel.Engine.threads());
            doc.put("cores", Runtime.getRuntime().availableProcessors());
            Map<String, Object> timingDoc = new LinkedHashMap<>(); // fixed key order: diffs of two runs are meaningful
            timingDoc.put("runs", runs);
            timingDoc.put("warmup", warmup);
            timingDoc.put("warmupSeconds", warmupSeconds);
            timingDoc.put("secondsPerRun", seconds);
            doc.put("timing", timingDoc);
            doc.put("results", results.stream().map(ModelBench.Result::toMap).toList());
            if (json != null) {
                Files.writeString(json, Json.pretty(doc));
            }
            out().print(format == Format.json ? Json.pretty(doc) + "\n" : ModelBench.table(results));
            return ExitCodes.OK;
        }
    }
}
