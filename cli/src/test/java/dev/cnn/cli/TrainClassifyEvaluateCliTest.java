package dev.cnn.cli;

import dev.cnn.core.Json;
import dev.cnn.data.Importers;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static dev.cnn.cli.CliTestSupport.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** End to end through the CLI entry point on a small synthetic set. */
class TrainClassifyEvaluateCliTest {
    @TempDir
    static Path dir;
    static Path model;
    static Path data;

    @BeforeAll
    static void train() throws Exception {
        data = dir.resolve("shapes");
        Importers.writeShapes(data, 160, 16, 7, 0.25);
        model = dir.resolve("m.zip");
        CliTestSupport.Run r = run("train", "--data", data.toString(), "--image-size", "16", "--epochs", "2",
                "--batch-size", "32", "--output", model.toString(), "--augment", "flip", "--format", "json");
        assertEquals(0, r.code(), r.err());
        Map<String, Object> doc = Json.readMap(r.out());
        assertEquals("completed", doc.get("status"));
        assertEquals(2, ((List<?>) doc.get("history")).size());
        assertTrue(Files.isRegularFile(model));
        assertTrue(Files.isRegularFile(dir.resolve("m.history.csv")));
        assertTrue(r.err().contains("epoch 2:"), r.err());
    }

    @Test
    @SuppressWarnings("unchecked")
    void classifyJsonlWithAFailure() throws Exception {
        Path img = Files.list(data.resolve("val/circle")).findFirst().orElseThrow();
        Path broken = dir.resolve("broken.png");
        Files.writeString(broken, "not a png");
        CliTestSupport.Run r = run("classify", "--model", model.toString(), "--format", "jsonl", "--top-k", "9",
                img.toString(), broken.toString());
        assertEquals(3, r.code(), "any failed input -> exit 3");
        List<String> lines = r.out().lines().toList();
        assertEquals(2, lines.size(), r.out());
        Map<String, Object> ok = Json.readMap(lines.get(0));
        List<Map<String, Object>> preds = (List<Map<String, Object>>) ok.get("predictions");
        assertEquals(4, preds.size(), "top-k capped at the class count");
        double sum = preds.stream().mapToDouble(p -> ((Number) p.get("probability")).doubleValue()).sum();
        assertEquals(1.0, sum, 1e-4);
        assertTrue(Json.readMap(lines.get(1)).get("error").toString().contains("broken.png"));
        CliTestSupport.Run folder = run("classify", "--model", model.toString(), "--format", "csv",
                data.resolve("val").toString());
        assertEquals(0, folder.code(), folder.err());
        assertEquals(1 + 40 * 4, folder.out().lines().count(), "header + 40 images x 4 ranks");
    }

    @Test
    @SuppressWarnings("unchecked")
    void evaluateMatchesLabelsByName() throws Exception {
        // a folder with a class missing, one renamed-order subset and one unknown class
        Path ev = dir.resolve("eval");
        for (String c : List.of("triangle", "circle")) {
            Path to = ev.resolve(c);
            Files.createDirectories(to);
            try (var s = Files.list(data.resolve("val").resolve(c))) {
                for (Path p : s.toList()) {
                    Files.copy(p, to.resolve(p.getFileName()));
                }
            }
        }
        Files.createDirectories(ev.resolve("zebra"));
        Files.copy(Files.list(data.resolve("val/cross")).findFirst().orElseThrow(), ev.resolve("zebra/z.png"));
        CliTestSupport.Run r = run("evaluate", "--model", model.toString(), "--data", ev.toString(), "--format", "json");
        assertEquals(0, r.code(), r.err());
        Map<String, Object> doc = Json.readMap(r.out());
        assertEquals(20, ((Number) doc.get("images")).intValue());
        assertEquals(Map.of("zebra", 1), doc.get("unknownClasses"));
        assertEquals(List.of("circle", "cross", "square", "triangle"), doc.get("labels"));
        List<List<Number>> cm = (List<List<Number>>) doc.get("confusion");
        long circleRow = cm.get(0).stream().mapToLong(Number::longValue).sum();
        long crossRow = cm.get(1).stream().mapToLong(Number::longValue).sum();
        assertEquals(10, circleRow);
        assertEquals(0, crossRow);
    }

    @Test
    void damagedModelIsExit4WithoutStackTrace() throws Exception {
        byte[] bytes = Files.readAllBytes(model);
        Path bad = dir.resolve("bad.zip");
        Files.write(bad, Arrays.copyOf(bytes, bytes.length / 3));
        CliTestSupport.Run r = run("classify", "--model", bad.toString(), data.resolve("val").toString());
        assertEquals(4, r.code());
        assertTrue(r.err().contains(bad.toString()), r.err());
        assertFalse(r.err().contains("\tat "), r.err());
        CliTestSupport.Run v = run("classify", "--verbose", "--model", bad.toString(), data.resolve("val").toString());
        assertEquals(4, v.code());
        assertTrue(v.err().contains("\tat "), "stack trace with --verbose");
    }

    @Test
    void dataErrorsAreExit3() {
        assertEquals(3, run("train", "--data", dir.resolve("nope").toString(), "--output",
                dir.resolve("x.zip").toString()).code());
        assertEquals(3, run("evaluate", "--model", model.toString(), "--data", dir.resolve("nope").toString()).code());
        assertEquals(2, run("train", "--epochs", "0").code());
        assertEquals(2, run("train", "--augment", "wobble", "--output", dir.resolve("wobble.zip").toString()).code());
        assertFalse(java.nio.file.Files.exists(dir.resolve("wobble.zip.checkpoints")),
                "a refused run leaves no checkpoint folder (nor its lock) behind");
        assertEquals(2, run("train", "--model", "resnet9000").code());
    }

    /** Paths on stdin are answered as they arrive: a slow pipe gets each answer before the next path is written. */
    @Test
    void classifyStreamsPathsFromStdin() throws Exception {
        Path image;
        try (var files = java.nio.file.Files.walk(data)) {
            image = files.filter(f -> f.toString().endsWith(".png")).findFirst().orElseThrow();
        }
        Process p = InterruptTest.start(dir, "classify", "--model", model.toString(), "--format", "jsonl", "-");
        try (var in = new java.io.PrintWriter(p.getOutputStream(), true);
             var out = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream()))) {
            in.println(image);
            String first = out.readLine(); // stdin still open: the first answer must not wait for the end
            assertTrue(first != null && first.contains("\"path\":\"" + image + "\"") && first.contains("predictions"),
                    String.valueOf(first));
            in.println(dir.resolve("missing.png"));
            in.close();
            String second = out.readLine();
            while (second != null && second.startsWith("cnn: ")) { // stderr is merged in: the warning comes too
                second = out.readLine();
            }
            assertTrue(second != null && second.contains("missing.png") && second.contains("\"error\""), second);
        }
        assertTrue(p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS));
        assertEquals(3, p.exitValue(), "one input failed");
        Process empty = InterruptTest.start(dir, "classify", "--model", model.toString(), "-");
        empty.getOutputStream().close();
        // read while it runs: a process whose output fills the pipe would wait on it forever
        var output = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return new String(empty.getInputStream().readAllBytes());
            } catch (java.io.IOException e) {
                return e.toString();
            }
        });
        boolean ended = empty.waitFor(60, java.util.concurrent.TimeUnit.SECONDS);
        if (!ended) {
            empty.destroyForcibly().waitFor(10, java.util.concurrent.TimeUnit.SECONDS);
        }
        String text = output.get(10, java.util.concurrent.TimeUnit.SECONDS);
        assertTrue(ended, "classify of an empty stdin did not end in 60 s; its output: " + text);
        assertEquals(3, empty.exitValue(), "empty stdin: no images found");
        assertTrue(text.contains("no images found in stdin"), text);
    }

    @Test
    void classifyWithNothingToClassifyIsExit3() throws Exception {
        Path empty = java.nio.file.Files.createDirectories(dir.resolve("empty"));
        java.nio.file.Files.writeString(empty.resolve("notes.txt"), "not an image");
        CliTestSupport.Run r = run("classify", "--model", model.toString(), empty.toString());
        assertEquals(3, r.code());
        assertTrue(r.err().contains("no images found in " + empty), r.err());
    }

    @Test
    void resumeContinuesFromCheckpoint() {
        Path out = dir.resolve("r.zip");
        CliTestSupport.Run first = run("train", "--data", data.toString(), "--image-size", "16", "--epochs", "1",
                "--batch-size", "32", "--output", out.toString());
        assertEquals(0, first.code(), first.err());
        // a finished run's last checkpoint has epoch == epochs: resuming it completes immediately
        CliTestSupport.Run again = run("train", "--resume", dir.resolve("r.zip.checkpoints/last.zip").toString(),
                "--output", out.toString(), "--format", "json");
        assertEquals(0, again.code(), again.err());
        assertTrue(again.out().contains("\"completed\""), again.out());
        CliTestSupport.Run notCkpt = run("train", "--resume", model.toString(), "--output", out.toString());
        assertEquals(4, notCkpt.code(), notCkpt.err());

        // without --output the run's own file is written (not ./model.zip); --epochs makes the run longer
        String ckpt = dir.resolve("r.zip.checkpoints/last.zip").toString();
        boolean hadDefault = java.nio.file.Files.exists(Path.of("model.zip"));
        CliTestSupport.Run longer = run("train", "--resume", ckpt, "--epochs", "2", "--no-report");
        assertEquals(0, longer.code(), longer.err());
        assertTrue(longer.out().contains("saved " + out), longer.out());
        assertEquals(2, dev.cnn.core.ModelBundle.load(out, false).metadata().provenance().history().size());
        assertEquals(hadDefault, java.nio.file.Files.exists(Path.of("model.zip")), "nothing written to ./model.zip");
        // the run's other settings are its own: changing one is a usage error naming it
        CliTestSupport.Run changed = run("train", "--resume", ckpt, "--lr", "0.1", "--data", "elsewhere");
        assertEquals(2, changed.code(), changed.err());
        assertTrue(changed.err().contains("--data, --lr cannot change"), changed.err());
    }

    @Test
    void finetuneToTwoNewClassesThenClassifyAndEvaluate() throws Exception {
        Path two = dir.resolve("two");
        for (String split : List.of("train", "val")) {
            for (String cls : List.of("circle", "square")) {
                Path from = data.resolve(split).resolve(cls);
                Path to = two.resolve(split).resolve(cls.equals("circle") ? "round" : "boxy");
                Files.createDirectories(to);
                try (var files = Files.list(from)) {
                    for (Path f : files.toList()) {
                        Files.copy(f, to.resolve(f.getFileName()));
                    }
                }
            }
        }
        Path ft = dir.resolve("ft.zip");
        CliTestSupport.Run r = run("finetune", "--base", model.toString(), "--data", two.toString(), "--epochs", "2",
                "--lr", "0.01", "--output", ft.toString(), "--format", "json");
        assertEquals(0, r.code(), r.err());
        Map<String, Object> doc = Json.readMap(r.out());
        assertEquals("completed", doc.get("status"));
        assertEquals(2, ((List<?>) doc.get("history")).size());
        assertEquals(Boolean.TRUE, ((Map<?, ?>) ((List<?>) doc.get("phases")).get(0)).get("featureCache"));
        assertTrue(r.err().contains("training the new head only"), r.err());

        CliTestSupport.Run c = run("classify", "--model", ft.toString(), "--format", "jsonl",
                two.resolve("val/round").toString());
        assertEquals(0, c.code(), c.err());
        for (String line : c.out().strip().split("\n")) {
            Object label = ((Map<?, ?>) ((List<?>) Json.readMap(line).get("predictions")).get(0)).get("label");
            assertTrue(List.of("round", "boxy").contains(label), line);
        }
        CliTestSupport.Run e = run("evaluate", "--model", ft.toString(), "--data", two.resolve("val").toString(),
                "--format", "json");
        assertEquals(0, e.code(), e.err());

        // gradual from the finetuned bundle: it is a valid base
        CliTestSupport.Run g = run("finetune", "--base", ft.toString(), "--data", two.toString(), "--strategy",
                "gradual", "--frozen-epochs", "1", "--epochs", "1", "--output", dir.resolve("gr.zip").toString());
        assertEquals(0, g.code(), g.err());
        assertTrue(g.out().contains("phase frozen") && g.out().contains("phase unfrozen"), g.out());
        List<dev.cnn.core.Provenance.Phase> gp = dev.cnn.core.ModelBundle.readMetadata(dir.resolve("gr.zip"))
                .provenance().transfer().phases();
        assertEquals(List.of(0.01, 0.002), gp.stream().map(dev.cnn.core.Provenance.Phase::headLr).toList(),
                "gradual's default: the head alone at 1e-2, then a fifth of it with the base");

        CliTestSupport.Run layers = run("finetune", "--base", model.toString(), "--list-layers");
        assertEquals(0, layers.code(), layers.err());
        assertTrue(layers.out().contains("fc") && layers.out().contains("OutputLayer"), layers.out());
    }

    @Test
    @SuppressWarnings("unchecked")
    void lrFindDrawsTheSweepAndLrAutoTrainsWithItsSuggestion() throws Exception {
        Path out = dir.resolve("lf.zip");
        CliTestSupport.Run f = run("finetune", "--base", model.toString(), "--data", data.toString(), "--lr-find",
                "--output", out.toString(), "--format", "json");
        assertEquals(0, f.code(), f.err());
        Map<String, Object> doc = Json.readMap(f.out());
        double s = ((Number) doc.get("suggestion")).doubleValue();
        assertTrue(s > 1e-7 && s < 10, f.out());
        assertTrue(((List<Number>) doc.get("lrs")).size() >= 10);
        assertTrue(Files.size(dir.resolve("lf.lr-find.png")) > 1000, "loss curve written");
        assertFalse(Files.exists(out), "--lr-find trains nothing");
        CliTestSupport.Run auto = run("train", "--data", data.toString(), "--image-size", "16", "--epochs", "1",
                "--lr", "auto", "--output", dir.resolve("auto.zip").toString(), "--no-report");
        assertEquals(0, auto.code(), auto.err());
        assertTrue(auto.err().contains("--lr auto: "), auto.err());
        double lr = ((Number) ((Map<String, Object>) ((Map<String, Object>) dev.cnn.core.ModelBundle.readMetadata(
                dir.resolve("auto.zip")).provenance().toMap().get("config"))).get("lr")).doubleValue();
        assertTrue(lr > 1e-7 && lr < 10 && lr != 0.003, "the suggestion, not the default: " + lr);
        assertEquals(2, run("train", "--lr", "fast").code());
        assertEquals(2, run("train", "--lr", "12").code());
    }

    @Test
    void finetuneTrainsTheHeadAtLrAndRecordsTheRate() throws Exception {
        CliTestSupport.Run f = run("finetune", "--base", model.toString(), "--data", data.toString(), "--strategy",
                "finetune", "--epochs", "1", "--output", dir.resolve("ft-lr.zip").toString(), "--no-report",
                "--format", "json");
        assertEquals(0, f.code(), f.err());
        assertTrue(f.err().contains("head lr 0.002)"), "finetune's default: the head with the base at 2e-3 " + f.err());
        assertEquals(0.002, ((Map<?, ?>) ((List<?>) Json.readMap(f.out()).get("phases")).get(0)).get("headLr"));
        CliTestSupport.Run fe = run("finetune", "--base", model.toString(), "--data", data.toString(), "--strategy",
                "feature-extraction", "--epochs", "1", "--output", dir.resolve("fe-lr.zip").toString(), "--no-report",
                "--format", "json");
        assertEquals(0, fe.code(), fe.err());
        assertEquals(0.01, ((Map<?, ?>) ((List<?>) Json.readMap(fe.out()).get("phases")).get(0)).get("headLr"),
                "a head alone on a frozen base keeps 1e-2");
        CliTestSupport.Run given = run("finetune", "--base", model.toString(), "--data", data.toString(),
                "--strategy", "finetune", "--epochs", "1", "--lr", "0.02", "--output",
                dir.resolve("ft-lr2.zip").toString(), "--no-report");
        assertEquals(0, given.code(), given.err());
        assertTrue(given.err().contains("head lr 0.02)"), given.err());
    }

    @Test
    void finetuneTakesABaseLrRangeAsFastaisSliceAndRecordsIt() throws Exception {
        Path out = dir.resolve("ft-slice.zip");
        CliTestSupport.Run f = run("finetune", "--base", model.toString(), "--data", data.toString(), "--strategy",
                "finetune", "--epochs", "1", "--base-lr", "0.0001:0.001", "--output", out.toString(), "--no-report");
        assertEquals(0, f.code(), f.err());
        assertTrue(f.err().contains("(base lr 0.0001:0.001, head lr 0.002)"), f.err());
        var t = dev.cnn.core.ModelBundle.readMetadata(out).provenance().transfer();
        assertEquals(List.of(1e-4, 1e-3), List.of(t.baseLrLow(), t.baseLr()));
        finetuneUsageError(List.of("--base-lr", "0 < LO <= HI"), "--base-lr", "0.001:0.0001");
        finetuneUsageError(List.of("--base-lr", "'fast' is not a rate such as 0.001, or LO:HI"), "--base-lr", "fast");
        finetuneUsageError(List.of("--base-lr", "is not a rate"), "--base-lr", "1e-4:1e-3:1e-2");
    }

    @Test
    void finetuneResumesFromItsCheckpointWithItsOwnSettings() throws Exception {
        Path out = dir.resolve("ft-resume.zip");
        CliTestSupport.Run f = run("finetune", "--base", model.toString(), "--data", data.toString(), "--epochs", "1",
                "--output", out.toString(), "--no-report");
        assertEquals(0, f.code(), f.err());
        Path last = dir.resolve("ft-resume.zip.checkpoints/last.zip");
        assertTrue(Files.isRegularFile(last));
        Files.delete(out);
        CliTestSupport.Run more = run("finetune", "--resume", last.toString(), "--epochs", "2", "--no-report",
                "--format", "json");
        assertEquals(0, more.code(), more.err());
        assertTrue(Files.isRegularFile(out), "written to the run's own output");
        assertEquals(2, ((List<?>) Json.readMap(more.out()).get("history")).size(), more.out());
        CliTestSupport.Run other = run("finetune", "--resume", last.toString(), "--strategy", "finetune");
        assertEquals(2, other.code(), other.err());
        assertTrue(other.err().contains("--strategy cannot change"), other.err());
        CliTestSupport.Run train = run("finetune", "--resume", dir.resolve("m.zip.checkpoints/last.zip").toString());
        assertEquals(4, train.code(), train.err());
        assertTrue(train.err().contains("use cnn train --resume"), train.err());
        assertEquals(2, run("finetune", "--data", data.toString()).code(), "--base or --resume is required");
    }

    @Test
    void curvesDrawOneLinePerRunFromEpochLogs() throws Exception {
        Path csv = dir.resolve("m.history.csv");
        Path png = dir.resolve("curves.png");
        CliTestSupport.Run r = run("visualize", "curves", "a=" + csv, csv.toString(), "--metric", "val_loss",
                "--output", png.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("val_loss of 2 runs"), r.out());
        assertTrue(javax.imageio.ImageIO.read(png.toFile()).getWidth() > 100);
        CliTestSupport.Run bad = run("visualize", "curves", csv.toString(), "--metric", "accuracy");
        assertEquals(2, bad.code(), bad.err());
        assertTrue(bad.err().contains("no such column"), bad.err());
        assertEquals(3, run("visualize", "curves", dir.resolve("none.csv").toString(), "-o",
                dir.resolve("x.png").toString()).code());
    }

    /** {@code cnn finetune --base model.zip OPTIONS --output x.zip} exits 2 with each of {@code expected} in stderr. */
    private static void finetuneUsageError(List<String> expected, String... options) {
        List<String> args = new java.util.ArrayList<>(List.of("finetune", "--base", model.toString()));
        args.addAll(List.of(options));
        args.addAll(List.of("--output", dir.resolve("x.zip").toString()));
        CliTestSupport.Run r = run(args.toArray(new String[0]));
        assertEquals(2, r.code(), r.err());
        for (String e : expected) {
            assertTrue(r.err().contains(e), r.err());
        }
    }

    @Test
    void finetuneErrorsHaveExitCodes() {
        assertEquals(2, run("finetune", "--base", model.toString(), "--strategy", "half").code());
        finetuneUsageError(List.of("--cut nope"), "--cut", "nope");
        finetuneUsageError(List.of("--head-pool", "avg, max or flatten"), "--head-pool", "mean");
        finetuneUsageError(List.of("--head-dropout must be in [0, 1)"), "--head-dropout", "1");
        // the default cut of this simplecnn is its pooled vector: nothing to flatten
        finetuneUsageError(List.of("--head-pool flatten", "already flat"), "--head-pool", "flatten");
        CliTestSupport.Run w = run("finetune", "--base", "zoo:vgg16:imagenet", "--weights",
                dir.resolve("missing.zip").toString());
        assertEquals(4, w.code(), w.err());
        assertTrue(w.err().contains("--weights"), w.err());
        assertEquals(4, run("finetune", "--base", dir.resolve("none.zip").toString()).code());
        // another model given as the ImageNet weights is refused, not labelled vgg16 (#17 item 3)
        CliTestSupport.Run other = run("finetune", "--base", "zoo:vgg16:imagenet", "--weights", model.toString(),
                "--output", dir.resolve("y.zip").toString());
        assertEquals(4, other.code(), other.err());
        assertTrue(other.err().contains("not PyTorch weights") && other.err().contains("pass it as --base " + model),
                other.err());
        assertFalse(java.nio.file.Files.exists(dir.resolve("y.zip")));
        CliTestSupport.Run dl4j = run("finetune", "--base", "zoo:vgg16:dl4j", "--weights", model.toString(),
                "--output", dir.resolve("y.zip").toString());
        assertEquals(4, dl4j.code(), dl4j.err());
        assertTrue(dl4j.err().contains("not the registry's vgg16:dl4j file"), dl4j.err());
        assertEquals(2, run("finetune", "--base", "zoo:lenet:imagenet").code());
    }

    @Test
    void trainWritesAReportAndVisualizeDrawsPictures() throws Exception {
        Path report = dir.resolve("m.report.html");
        assertTrue(Files.isRegularFile(report), "cnn train writes <model>.report.html");
        String html = Files.readString(report);
        assertTrue(html.contains("id=\"report-data\"") && html.contains("id=\"confusion\""), "report content");
        assertTrue(Files.isRegularFile(dir.resolve("m.loss.png")) && Files.isRegularFile(dir.resolve("m.confusion.png")));

        Path f = dir.resolve("pics/filters.png");
        CliTestSupport.Run r = run("visualize", "filters", "--model", model.toString(), "--output", f.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("32 tiles"), r.out());
        assertTrue(javax.imageio.ImageIO.read(f.toFile()).getWidth() >= 240);
        Path img;
        try (var files = Files.walk(data.resolve("val"))) {
            img = files.filter(p -> p.toString().endsWith(".png")).sorted().findFirst().orElseThrow();
        }
        Path a = dir.resolve("pics/act.png");
        r = run("visualize", "activations", "--model", model.toString(), "--image", img.toString(), "--layer",
                "relu2", "--output", a.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("65 tiles"), r.out());
        Path s = dir.resolve("pics/sal.png");
        r = run("visualize", "saliency", "--model", model.toString(), "--image", img.toString(), "--output",
                s.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("Grad-CAM at relu4"), r.out());
        assertTrue(Files.size(s) > 1000);
        assertEquals(2, run("visualize", "activations", "--model", model.toString(), "--image", img.toString(),
                "--layer", "nope").code());
        Path tp = dir.resolve("pics/top.png");
        r = run("visualize", "top-patches", "--model", model.toString(), "--data", data.toString(), "--layer",
                "relu2", "--channels", "4", "--output", tp.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("relu2: 4 channels") && r.out().contains("receptive field"), r.out());
        assertTrue(javax.imageio.ImageIO.read(tp.toFile()).getWidth() >= 240);
        assertEquals(2, run("visualize", "top-patches", "--model", model.toString(), "--data", data.toString(),
                "--layer", "nope").code());
        assertEquals(3, run("visualize", "saliency", "--model", model.toString(), "--image",
                dir.resolve("missing.png").toString()).code());

        Path er = dir.resolve("eval.html");
        r = run("evaluate", "--model", model.toString(), "--data", data.resolve("val").toString(), "--report",
                er.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.readString(er).contains("id=\"per-class\""));
    }

    @Test
    void everyCommandHasHelp() {
        for (String[] cmd : new String[][]{{"train", "--help"}, {"finetune", "--help"}, {"classify", "-h"},
                {"visualize", "--help"}, {"visualize", "saliency", "--help"}, {"visualize", "top-patches", "--help"},
                {"bench", "models", "--help"},
                {"data", "--help"}}) {
            CliTestSupport.Run r = run(cmd);
            assertEquals(0, r.code(), String.join(" ", cmd) + ": " + r.err());
            assertTrue(r.out().contains("Usage:"), String.join(" ", cmd));
        }
    }

    @Test
    void anUnknownBenchLeverIsAUsageErrorListingTheLevers() {
        CliTestSupport.Run r = run("bench", "models", "--case", "lenet@1x28x28", "--lever", "turbo");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("none is called 'turbo'") && r.err().contains("onednn,cache-none"), r.err());
    }

    @Test
    void theWorkersOptionTakesAutoOrACountAndRefusesZero() {
        assertEquals(dev.cnn.data.ImageBatchIterator.defaultWorkers(), new Ranges.Workers().convert("auto"));
        assertEquals(3, new Ranges.Workers().convert("3"));
        CliTestSupport.Run r = run("classify", "--model", "m.zip", "x.png", "--workers", "0");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("1 to 256 threads, or auto"), r.err());
    }
}
