package dev.cnn.cli;

import dev.cnn.core.CnnException;
import dev.cnn.core.Json;
import dev.cnn.data.DataException;
import dev.cnn.data.DatasetStats;
import dev.cnn.data.Importers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code cnn data}: import standard formats, write synthetic data, dataset statistics. */
@Command(name = "data", description = "Import, synthesise and inspect image datasets.", mixinStandardHelpOptions = true,
        subcommands = {DataCommand.Import.class, DataCommand.Synth.class, DataCommand.Stats.class})
final class DataCommand implements Runnable {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    static <T> T data(Callable<T> c) throws Exception {
        try {
            return c.call();
        } catch (DataException e) {
            throw CnnException.data(e.getMessage(), e);
        } catch (IllegalArgumentException e) {
            throw CnnException.usage(e.getMessage());
        }
    }

    @Command(name = "import", description = "Convert IDX (MNIST, Fashion-MNIST) or CIFAR-10 binary files to an "
            + "image folder (OUT/train/<class>/, OUT/test/<class>/).")
    static final class Import extends BaseCommand {
        @Parameters(index = "0", paramLabel = "FORMAT", description = "idx or cifar10")
        String kind;
        @Parameters(index = "1", paramLabel = "DIR", description = "Folder with the source files.")
        Path dir;
        @Option(names = "--out", required = true, description = "Output image folder.")
        Path out;
        @Option(names = "--names", defaultValue = "digits",
                description = "Class names for idx: digits, mnist or fashion-mnist (default: ${DEFAULT-VALUE}).")
        String names;
        @Option(names = "--limit-per-class", defaultValue = "0", description = "At most N images per class and split.")
        int limit;
        @Option(names = "--strict", description = "Fail (exit 3) on a truncated file instead of keeping its complete images.")
        boolean strict;

        @Override
        public Integer call() throws Exception {
            boolean tty = Progress.isTerminal();
            Map<String, Integer> n = data(() -> switch (kind.toLowerCase()) {
                case "idx" -> Importers.importIdx(dir, out, Importers.names(names), limit, strict, i -> {
                    if (tty && i % 1000 == 0) {
                        err().printf("\rimported %d images ", i);
                        err().flush();
                    } else if (!tty && i % 20000 == 0) {
                        err().printf("imported %d images%n", i);
                        err().flush();
                    }
                });
                case "cifar10", "cifar-10" -> Importers.importCifar10(dir, out, limit, null);
                default -> throw new IllegalArgumentException("unknown format '" + kind + "': use idx or cifar10");
            });
            if (tty) {
                err().println();
            }
            out().println("wrote " + n + " to " + out);
            return ExitCodes.OK;
        }
    }

    @Command(name = "synth", description = "Write a synthetic dataset to disk (OUT/train/<class>/, OUT/val/<class>/).")
    static final class Synth extends BaseCommand {
        @Parameters(index = "0", paramLabel = "KIND", description = "shapes")
        String kind;
        @Option(names = "--out", required = true)
        Path out;
        @Option(converter = Ranges.Positive.class, names = "-n", defaultValue = "3000", description = "Images (default: ${DEFAULT-VALUE}).")
        int n;
        @Option(converter = Ranges.ImageSize.class, names = "--size", defaultValue = "32", description = "Pixels (default: ${DEFAULT-VALUE}).")
        int size;
        @Option(names = "--seed", defaultValue = "1234")
        long seed;
        @Option(names = "--val-split", defaultValue = "0.2")
        double valSplit;

        @Override
        public Integer call() throws Exception {
            if (!kind.equals("shapes")) {
                throw CnnException.usage("unknown synthetic dataset '" + kind + "': the built-in one is shapes");
            }
            Map<String, Integer> w = data(() -> {
                try {
                    return Importers.writeShapes(out, n, size, seed, valSplit);
                } catch (IOException e) {
                    throw new DataException(out + ": cannot write (" + e.getMessage() + ")", e);
                }
            });
            out().println("wrote " + w + " to " + out);
            return ExitCodes.OK;
        }
    }

    @Command(name = "stats", description = "Class counts, image sizes and colour modes, unreadable files.")
    static final class Stats extends BaseCommand {
        @Parameters(index = "0", paramLabel = "DATA", description = "Folder, CSV manifest or builtin:shapes.")
        String spec;
        @Option(names = "--strict", description = "Fail (exit 3) on the first unreadable image.")
        boolean strict;
        @picocli.CommandLine.Mixin
        FormatOptions formatOptions;

        @Override
        @SuppressWarnings("unchecked")
        public Integer call() throws Exception {
            Format format = formatOptions.require(Format.table, Format.json);
            Map<String, Object> st = data(() -> DatasetStats.compute(spec, strict));
            if (format == Format.json) {
                out().println(Json.pretty(st));
                return ExitCodes.OK;
            }
            // counts are of readable images (a split's total is the sum of its classes); unreadable ones apart
            out().println("data: " + spec + "   classes: " + ((java.util.List<String>) st.get("classes")).size()
                    + "   images: " + st.get("images") + unreadable(st.get("unreadable")));
            for (var e : ((Map<String, Object>) st.get("splits")).entrySet()) {
                Map<String, Object> s = (Map<String, Object>) e.getValue();
                out().printf("%n[%s] %s images%s%n", e.getKey(), s.get("images"), unreadable(s.get("unreadable")));
                Map<String, Integer> bad = (Map<String, Integer>) s.get("unreadablePerClass");
                ((Map<String, Integer>) s.get("perClass")).forEach((k, v) -> out().printf("  %-24s %8d%s%n", k, v,
                        unreadable(bad.get(k))));
                out().println("  sizes: " + s.get("sizes"));
                out().println("  modes: " + s.get("modes"));
                for (String w : (java.util.List<String>) s.get("warnings")) {
                    out().println("  warning: " + w);
                }
            }
            Map<String, Object> sk = (Map<String, Object>) st.get("skipped");
            int skipped = (Integer) sk.get("skipped");
            int decoded = (Integer) st.get("unreadable");
            out().println("\nunreadable/skipped: " + skipped + " " + sk.get("byReason") + (skipped == 0 ? ""
                    : " (" + decoded + " unreadable when decoded, counted above; " + (skipped - decoded)
                    + " refused when scanned)"));
            return ExitCodes.OK;
        }

        /** " (N unreadable)", or "" for none. */
        private static String unreadable(Object n) {
            return n == null || ((Integer) n) == 0 ? "" : " (" + n + " unreadable)";
        }
    }
}
