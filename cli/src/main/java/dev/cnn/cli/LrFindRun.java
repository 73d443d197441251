package dev.cnn.cli;

import dev.cnn.core.CnnException;
import dev.cnn.core.Json;
import dev.cnn.core.LrFinder;
import dev.cnn.viz.Charts;

import javax.imageio.ImageIO;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import java.util.function.IntConsumer;

/** {@code --lr-find} and {@code --lr auto} of train and finetune: the range test with a progress bar, its report. */
final class LrFindRun {
    static final int STEPS = 100;

    private LrFindRun() {
    }

    /** Runs the test (the library call gets the per-step callback) with a progress bar on {@code err}. */
    static LrFinder.Result sweep(PrintWriter err, Function<IntConsumer, LrFinder.Result> test) {
        Progress bar = new Progress(err, "lr-find", STEPS, "steps");
        long t0 = System.nanoTime();
        LrFinder.Result r = test.apply(step -> bar.update(step, step / Math.max(1e-9, (System.nanoTime() - t0)
                / 1e9), ""));
        if (r.lrs().size() < STEPS) { // stopped early: close the bar
            bar.update(STEPS, r.lrs().size() / Math.max(1e-9, (System.nanoTime() - t0) / 1e9),
                    "stopped at step " + r.lrs().size() + ": the loss diverged");
        }
        return r;
    }

    /** The chart next to the model file: {@code model.lr-find.png} for {@code model.zip}. */
    static Path chartFile(Path output) {
        String n = output.getFileName().toString();
        n = n.endsWith(".zip") ? n.substring(0, n.length() - 4) : n;
        return output.resolveSibling(n + ".lr-find.png");
    }

    /** Writes the chart and prints the suggestion (table) or the whole sweep (json). */
    static int report(LrFinder.Result r, Path output, Format format, PrintWriter out, String command) {
        Path png = chartFile(output);
        try {
            Path tmp = png.resolveSibling("." + png.getFileName() + ".tmp");
            ImageIO.write(Charts.lrFind(r.lrs(), r.losses(), r.suggestion(), command + " lr range test"), "png",
                    tmp.toFile());
            Files.move(tmp, png, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw CnnException.data("cannot write " + png + ": " + e.getMessage(), e);
        }
        if (format == Format.json) {
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("suggestion", r.suggestion());
            doc.put("minOver10", r.minOver10());
            doc.put("steps", r.lrs().size());
            doc.put("diverged", r.diverged());
            doc.put("chart", png.toString());
            doc.put("lrs", r.lrs());
            doc.put("losses", r.losses());
            out.println(Json.pretty(doc));
        } else {
            out.printf(Locale.ROOT, "suggested --lr %.2g (valley; min/10: %.2g) after %d steps%s%n", r.suggestion(),
                    r.minOver10(), r.lrs().size(), r.diverged() ? ", stopped when the loss diverged" : "");
            out.printf("loss curve: %s%n", png);
        }
        return ExitCodes.OK;
    }
}
