package dev.cnn.cli;

import dev.cnn.core.CnnException;
import dev.cnn.core.Json;
import dev.cnn.core.ModelBundle;
import dev.cnn.core.Predictor;
import dev.cnn.data.ImageDecoder;
import dev.cnn.data.Preprocess;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** {@code cnn classify}: top-k predictions for images and folders. */
@Command(name = "classify", description = "Classify images with a trained model.",
        footer = {"", "PATH is an image or a folder (searched recursively); '-' reads image paths from stdin.",
                "Exit code 3 if any input could not be read (each gets an error record), else 0."})
final class ClassifyCommand extends BaseCommand {
    @Option(names = {"-m", "--model"}, defaultValue = "model.zip", description = "Model bundle (default: ${DEFAULT-VALUE}).")
    Path model;
    @Parameters(paramLabel = "PATH", arity = "1..*", description = "Images, folders, or - for stdin.")
    List<String> inputs;
    @Option(converter = Ranges.Positive.class, names = {"-k", "--top-k"}, defaultValue = "5", description = "Predictions per image (default: ${DEFAULT-VALUE}).")
    int topK;
    @Option(converter = Ranges.Workers.class, names = "--workers", defaultValue = "auto", description = "Image decoding threads, 1 to 256 or auto: one per core, at most 8 (default: ${DEFAULT-VALUE}).")
    int workers;
    @Option(converter = Ranges.Positive.class, names = "--batch-size", defaultValue = "32", description = "Default: ${DEFAULT-VALUE}.")
    int batchSize;
    @picocli.CommandLine.Mixin
    FormatOptions formatOptions;
    @Option(names = "--spark", paramLabel = "MASTER", description = "Classify on Apache Spark: local[N], "
            + "spark://HOST:PORT, yarn, ... The bundle is broadcast once; inputs may be URIs Hadoop opens "
            + "(hdfs://, s3a://, file:).")
    String spark;
    @Option(names = "--output-dir", paramLabel = "DIR", description = "With --spark: write the records as JSON-lines "
            + "part files to DIR (a path or URI that must not exist) instead of printing them.")
    String outputDir;
    @Option(converter = Ranges.Positive.class, names = "--partitions", description = "With --spark: partitions "
            + "to classify in (default: twice Spark's default parallelism).")
    Integer partitions;
    @Option(names = "--timings", description = "Print where the time went (JVM start, native init, model load, "
            + "classification) to stderr.")
    boolean timings;

    @Override
    public Integer call() throws IOException {
        Format format = formatOptions.require(Format.values());
        if (topK < 1 || batchSize < 1) {
            throw CnnException.usage("--top-k and --batch-size must be >= 1");
        }
        if (spark != null) {
            return onSpark(format);
        }
        if (outputDir != null || partitions != null) {
            throw CnnException.usage("--output-dir and --partitions go with --spark");
        }
        long t0 = System.nanoTime();
        long commandAt = System.currentTimeMillis();
        // OpenCV's natives load only once ND4J's and oneDNN's have: JavaCPP loading libraries on two threads at once
        // can deadlock inside glibc's loader (one thread in dlopen, the other in dlsym called from dl_iterate_phdr,
        // each holding the lock the other waits for: seen as a classify that never ended, gdb showing exactly that)
        java.util.concurrent.CountDownLatch modelLoaded = new java.util.concurrent.CountDownLatch(1);
        Thread warm = new Thread(() -> {
            try {
                modelLoaded.await();
            } catch (InterruptedException e) {
                return;
            }
            dev.cnn.accel.Accel.oneDnnAvailable(); // waits for the oneDNN load below
            dev.cnn.data.ImageDecoder.warmUp();
        }, "imageio-warm-up");
        warm.setDaemon(true);
        warm.start(); // overlaps with the first forward pass
        dev.cnn.accel.Accel.preload(); // overlaps with the model load
        List<Path> files = collect();
        boolean stdin = inputs.contains("-");
        if (files.isEmpty() && !stdin) {
            throw noImages();
        }
        ModelBundle bundle;
        try {
            bundle = ModelBundle.load(model, false);
        } finally {
            modelLoaded.countDown();
        }
        long tLoad = System.nanoTime();
        Preprocess pre = bundle.metadata().preprocess();
        Predictor predictor = new Predictor(bundle, f -> ImageDecoder.load(f, pre)).workers(workers);
        int[] failed = {0};
        List<Predictor.Prediction> all = new ArrayList<>();
        if (format == Format.csv) {
            out().println("path,rank,label,probability,error");
        }
        java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        Signals.Handle signals = Signals.onInterrupt(() -> stop.set(true)); // finish the batch, report what is done
        int handled;
        try {
            // paths on stdin are classified as they arrive, batching what is ready (a pipe may be slow or endless)
            java.util.concurrent.BlockingQueue<Path> queue = new java.util.concurrent.LinkedBlockingQueue<>(files);
            if (stdin) {
                readLinesInto(queue);
            } else {
                queue.add(Predictor.END);
            }
            handled = predictor.classify(queue, stdin ? -1 : files.size(), topK, batchSize,
                    p -> emit(format, p, failed, all), stop::get);
        } finally {
            signals.restore();
        }
        if (timings) {
            long now = System.nanoTime();
            long jvmStart = java.lang.management.ManagementFactory.getRuntimeMXBean().getStartTime();
            long mainAt = Main.startedAtMillis();
            // the model load includes ND4J's native initialisation, overlapped with parsing the configuration
            err().printf("timings: jvm start to main %d ms, main to this command %d ms, native init + model load "
                            + "%d ms, classify %d images %d ms, total since jvm start %d ms%s%n", mainAt - jvmStart,
                    commandAt - mainAt, (tLoad - t0) / 1_000_000, handled, (now - tLoad) / 1_000_000,
                    System.currentTimeMillis() - jvmStart, clientCompilerOnly() ? " (JIT: client compiler only)" : "");
        }
        if (format == Format.json) {
            out().println(Json.pretty(all.stream().map(Predictor.Prediction::toMap).toList()));
        }
        if (signals.exitCode() != 0) {
            err().printf("cnn: %s after %d inputs%n", signals.exitCode() == ExitCodes.TERMINATED
                    ? "terminated" : "interrupted", handled);
            return signals.exitCode();
        }
        if (handled == 0) {
            throw noImages();
        }
        if (failed[0] > 0) {
            err().printf("cnn: %d of %d inputs could not be classified%n", failed[0], handled);
            return ExitCodes.DATA;
        }
        return ExitCodes.OK;
    }

    /** Prints one result in {@code format} (json: kept in {@code all} for the end); counts failures. */
    private void emit(Format format, Predictor.Prediction p, int[] failed, List<Predictor.Prediction> all) {
        if (!p.ok()) {
            failed[0]++;
            err().println("cnn: warning: " + p.error());
        }
        switch (format) {
            case jsonl -> out().println(Json.write(p.toMap()));
            case csv -> {
                if (!p.ok()) {
                    out().println(csv(p.path()) + ",,,," + csv(p.error()));
                }
                for (int i = 0; i < p.top().size(); i++) {
                    out().printf(java.util.Locale.ROOT, "%s,%d,%s,%.6f,%n", csv(p.path()), i + 1,
                            csv(p.top().get(i).label()), p.top().get(i).probability());
                }
            }
            case table -> {
                if (p.ok()) {
                    StringBuilder b = new StringBuilder(p.path()).append(':');
                    for (Predictor.Scored s : p.top()) {
                        b.append(String.format("  %s %.4f", s.label(), s.probability()));
                    }
                    out().println(b);
                } else {
                    out().println(p.path() + ":  ERROR " + p.error());
                }
            }
            case json -> all.add(p);
        }
        out().flush();
    }

    /** {@code --spark}: the same records from {@link dev.cnn.spark.SparkClassifier}, in input order. */
    private Integer onSpark(Format format) {
        if (inputs.contains("-")) {
            throw CnnException.usage("--spark does not read paths from stdin; give files, folders or URIs");
        }
        if (outputDir != null && format != Format.jsonl) {
            throw CnnException.usage("--output-dir writes JSON lines: add --format jsonl");
        }
        int[] failed = {0};
        List<Predictor.Prediction> all = new ArrayList<>();
        if (format == Format.csv) {
            out().println("path,rank,label,probability,error");
        }
        dev.cnn.spark.SparkClassifier.Counts c = dev.cnn.spark.SparkClassifier.run(spark, model, inputs, topK,
                batchSize, partitions == null ? 0 : partitions, outputDir, p -> emit(format, p, failed, all));
        if (c.handled() == 0) {
            throw noImages();
        }
        if (format == Format.json) {
            out().println(Json.pretty(all.stream().map(Predictor.Prediction::toMap).toList()));
        }
        if (outputDir != null) {
            err().printf("cnn classify: %d records written to %s%n", c.handled(), outputDir);
        }
        if (c.failed() > 0) {
            err().printf("cnn: %d of %d inputs could not be classified%n", c.failed(), c.handled());
            return ExitCodes.DATA;
        }
        return ExitCodes.OK;
    }

    private List<Path> collect() throws IOException {
        return dev.cnn.data.ImageInputs.collect(inputs); // missing files get an error record
    }

    private CnnException noImages() {
        return CnnException.data("no images found in " + String.join(", ", inputs.stream()
                .map(i -> i.equals("-") ? "stdin" : i).toList())
                + "; give image files, folders of images (" + String.join(", ",
                new java.util.TreeSet<>(ImageDecoder.EXTENSIONS)) + ") or paths on stdin");
    }

    /** Puts each non-blank line of stdin on {@code queue} as it is read, then {@link Predictor#END}. */
    private static void readLinesInto(java.util.concurrent.BlockingQueue<Path> queue) {
        Thread t = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    if (!line.isBlank()) {
                        try {
                            queue.add(Path.of(line.strip()));
                        } catch (java.nio.file.InvalidPathException e) {
                            // not a path on this system: nothing to classify
                        }
                    }
                }
            } catch (IOException e) {
                // end of input as far as we can read it
            } finally {
                queue.add(Predictor.END);
            }
        }, "stdin-paths");
        t.setDaemon(true);
        t.start();
    }

    static String csv(String s) {
        return s.contains(",") || s.contains("\"") || s.contains("\n") ? "\"" + s.replace("\"", "\"\"") + "\"" : s;
    }

    /** True when the JVM runs with the client compiler only: the last {@code -XX:TieredStopAtLevel} given is 1. */
    static boolean clientCompilerOnly() {
        String level = null;
        for (String a : java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (a.startsWith("-XX:TieredStopAtLevel=")) {
                level = a.substring("-XX:TieredStopAtLevel=".length());
            }
        }
        return "1".equals(level);
    }
}
