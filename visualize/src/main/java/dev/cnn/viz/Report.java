package dev.cnn.viz;

import dev.cnn.core.EpochStats;
import dev.cnn.core.Evaluator;
import dev.cnn.core.Json;
import dev.cnn.core.Metrics;
import dev.cnn.core.Trainer;
import dev.cnn.data.BadImageException;
import dev.cnn.data.ImageDecoder;

import javax.imageio.ImageIO;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A self-contained HTML report (no network needed: charts and images are inlined as data URIs, no external scripts):
 * settings, loss and accuracy curves per epoch, the confusion matrix as a heat map and a table, per-class metrics and
 * the most confidently misclassified images. PNG versions of the plots are written next to it. The curves' numbers are
 * embedded as JSON ({@code <script id="report-data">}).
 */
public final class Report {
    /** What goes into a report; any part may be empty. */
    public record Content(String title, Map<String, Object> settings, List<EpochStats> history,
                          Metrics metrics, List<Evaluator.Miss> misclassified) {
    }

    /** Files written. */
    public record Written(Path html, List<Path> pngs) {
    }

    private Report() {
    }

    /**
     * Writes {@code html} ({@code <stem>.report.html} or {@code <stem>.html}) and, next to it,
     * {@code <stem>.loss.png}, {@code .accuracy.png} and {@code .confusion.png}.
     */
    public static Written write(Content c, Path html) throws IOException {
        String name = html.getFileName().toString();
        String stem = name.endsWith(".report.html") ? name.substring(0, name.length() - 12)
                : name.endsWith(".html") ? name.substring(0, name.length() - 5) : name;
        Path dir = html.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        List<Path> pngs = new ArrayList<>();
        StringBuilder b = new StringBuilder();
        b.append("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>")
                .append(esc(c.title())).append("</title>\n<style>\n")
                .append("body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222}")
                .append("h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}")
                .append("table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 7px;")
                .append("text-align:right}th{background:#f4f4f4}td.l,th.l{text-align:left}")
                .append("img.chart{max-width:100%;margin:6px 12px 6px 0;border:1px solid #eee}")
                .append("figure{display:inline-block;margin:6px;text-align:center;font-size:11px}")
                .append("figure img{width:96px;height:96px;image-rendering:pixelated;border:1px solid #ccc}")
                .append("</style></head>\n<body>\n<h1>").append(esc(c.title())).append("</h1>\n");

        Map<String, Object> data = new LinkedHashMap<>();
        data.put("title", c.title());
        if (c.settings() != null && !c.settings().isEmpty()) {
            b.append("<h2>Settings</h2>\n<table id=\"settings\">\n");
            for (Map.Entry<String, Object> e : c.settings().entrySet()) {
                b.append("<tr><th class=\"l\">").append(esc(e.getKey())).append("</th><td class=\"l\">")
                        .append(esc(String.valueOf(e.getValue()))).append("</td></tr>\n");
            }
            b.append("</table>\n");
            data.put("settings", c.settings());
        }
        if (c.history() != null && !c.history().isEmpty()) {
            b.append("<h2>Training curves</h2>\n<p id=\"epochs\">").append(c.history().size())
                    .append(" epochs</p>\n");
            BufferedImage loss = Charts.loss(c.history(), "Loss per epoch");
            BufferedImage acc = Charts.accuracy(c.history(), "Validation accuracy per epoch");
            pngs.add(png(loss, dir.resolve(stem + ".loss.png")));
            pngs.add(png(acc, dir.resolve(stem + ".accuracy.png")));
            b.append(img("loss-chart", "chart", loss, "loss per epoch")).append('\n');
            b.append(img("accuracy-chart", "chart", acc, "accuracy per epoch")).append('\n');
            b.append("<table id=\"history\"><tr><th>epoch</th><th>train loss</th><th>val loss</th><th>top-1</th>")
                    .append("<th>top-5</th><th>lr</th><th>seconds</th><th>img/s</th></tr>\n");
            for (EpochStats s : c.history()) {
                b.append(String.format(Locale.ROOT, "<tr><td>%d</td><td>%.4f</td><td>%s</td><td>%s</td><td>%s</td>"
                                + "<td>%.3g</td><td>%.1f</td><td>%.0f</td></tr>%n", s.epoch(), s.trainLoss(),
                        f4(s.valLoss()), f4(s.top1()), f4(s.top5()), s.lr(), s.seconds(), s.imagesPerSecond()));
            }
            b.append("</table>\n");
            data.put("history", c.history().stream().map(EpochStats::toMap).toList());
        }
        if (c.metrics() != null && c.metrics().count() > 0) {
            Metrics m = c.metrics();
            b.append(String.format(Locale.ROOT, "<h2>Evaluation</h2>\n<p id=\"summary\">%d images: top-1 %.4f, "
                    + "top-5 %.4f, loss %.4f</p>%n", m.count(), m.top1(), m.top5(), m.loss()));
            BufferedImage cm = Charts.confusion(m.confusion(), m.labels(), "Confusion matrix (row-normalised)");
            pngs.add(png(cm, dir.resolve(stem + ".confusion.png")));
            b.append(img("confusion-chart", "chart", cm, "confusion matrix")).append('\n');
            b.append("<table id=\"confusion\"><tr><th class=\"l\">true \\ predicted</th>");
            for (String l : m.labels()) {
                b.append("<th>").append(esc(l)).append("</th>");
            }
            b.append("</tr>\n");
            long[][] cmx = m.confusion();
            for (int t = 0; t < cmx.length; t++) {
                long row = 0;
                for (long v : cmx[t]) {
                    row += v;
                }
                b.append("<tr><th class=\"l\">").append(esc(m.labels().get(t))).append("</th>");
                for (int p = 0; p < cmx[t].length; p++) {
                    double frac = row == 0 ? 0 : cmx[t][p] / (double) row;
                    int shade = (int) (255 - 150 * frac);
                    b.append(String.format("<td style=\"background:rgb(%d,%d,255)\">%d</td>", shade, shade,
                            cmx[t][p]));
                }
                b.append("</tr>\n");
            }
            b.append("</table>\n<h2>Per class</h2>\n<table id=\"per-class\"><tr><th class=\"l\">class</th>")
                    .append("<th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>\n");
            for (Map<String, Object> r : m.perClass()) {
                b.append(String.format(Locale.ROOT, "<tr><td class=\"l\">%s</td><td>%.4f</td><td>%.4f</td>"
                                + "<td>%.4f</td><td>%s</td></tr>%n", esc(String.valueOf(r.get("label"))),
                        ((Number) r.get("precision")).doubleValue(), ((Number) r.get("recall")).doubleValue(),
                        ((Number) r.get("f1")).doubleValue(), r.get("support")));
            }
            b.append("</table>\n");
            data.put("labels", m.labels());
            data.put("confusion", cmx);
            data.put("perClass", m.perClass());
            data.put("top1", m.top1());
            data.put("top5", m.top5());
        }
        if (c.misclassified() != null && !c.misclassified().isEmpty()) {
            b.append("<h2>Misclassified (most confident first)</h2>\n<div id=\"misclassified\">\n");
            List<Map<String, Object>> misses = new ArrayList<>();
            for (Evaluator.Miss miss : c.misclassified()) {
                BufferedImage thumb = thumbnail(miss);
                if (thumb == null) {
                    continue;
                }
                b.append("<figure>").append(img(null, null, thumb, miss.trueLabel())).append("<figcaption>")
                        .append(esc(miss.trueLabel())).append(" &rarr; ").append(esc(miss.predicted()))
                        .append(String.format(Locale.ROOT, " %.2f", miss.probability()))
                        .append("</figcaption></figure>\n");
                misses.add(miss.toMap());
            }
            b.append("</div>\n");
            data.put("misclassified", misses);
        }
        b.append("<script type=\"application/json\" id=\"report-data\">")
                .append(Json.write(data).replace("</", "<\\/")).append("</script>\n")
                .append("<script>\nwindow.addEventListener('load', function () {\n")
                .append("  var data = JSON.parse(document.getElementById('report-data').textContent);\n")
                .append("  var broken = 0;\n")
                .append("  for (var i = 0; i < document.images.length; i++) {\n")
                .append("    var im = document.images[i]; if (!im.complete || im.naturalWidth === 0) broken++;\n  }\n")
                .append("  document.body.setAttribute('data-images', String(document.images.length));\n")
                .append("  document.body.setAttribute('data-epochs', String((data.history || []).length));\n")
                .append("  document.body.setAttribute('data-rendered', broken === 0 ? 'ok' : 'broken:' + broken);\n")
                .append("});\n</script>\n</body></html>\n");
        Path tmp = html.resolveSibling("." + name + ".tmp");
        Files.writeString(tmp, b.toString(), StandardCharsets.UTF_8);
        Files.move(tmp, html, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        return new Written(html, pngs);
    }

    private static BufferedImage thumbnail(Evaluator.Miss m) {
        BufferedImage src = m.image();
        if (src == null && m.path() != null) {
            try {
                src = ImageDecoder.read(Path.of(m.path()));
            } catch (BadImageException | RuntimeException e) {
                return null;
            }
        }
        if (src == null) {
            return null;
        }
        int size = 96;
        BufferedImage t = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = t.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, src.getWidth() < size
                ? RenderingHints.VALUE_INTERPOLATION_NEAREST_NEIGHBOR : RenderingHints.VALUE_INTERPOLATION_BILINEAR);
        g.drawImage(src, 0, 0, size, size, null);
        g.dispose();
        return t;
    }

    static Path png(BufferedImage img, Path file) throws IOException {
        dev.cnn.data.Importers.writePng(img, file);
        return file;
    }

    private static String img(String id, String cls, BufferedImage img, String alt) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            ImageIO.write(img, "png", out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return "<img" + (id == null ? "" : " id=\"" + id + "\"") + (cls == null ? "" : " class=\"" + cls + "\"")
                + " alt=\"" + esc(alt) + "\" width=\"" + img.getWidth() + "\" height=\"" + img.getHeight()
                + "\" src=\"data:image/png;base64," + Base64.getEncoder().encodeToString(out.toByteArray()) + "\">";
    }

    private static String f4(double v) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, "%.4f", v) : "-";
    }

    static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
