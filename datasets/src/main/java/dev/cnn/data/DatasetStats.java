package dev.cnn.data;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** {@code cnn data stats}: class counts, image sizes and colour modes, unreadable files, imbalance warnings. */
public final class DatasetStats {
    private DatasetStats() {
    }

    /** Scans {@code spec} (folder, CSV or builtin) and decodes every image once. */
    public static Map<String, Object> compute(String spec, boolean strict) {
        DataSource src = DataSource.open(spec, DataSource.Options.defaults().withValSplit(0).withStrict(strict));
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("data", spec);
        doc.put("classes", src.classes());
        Map<String, Object> splits = new LinkedHashMap<>();
        splits.put("train", describe(src.train(), src.skipped()));
        if (src.validation() != null) {
            splits.put("val", describe(src.validation(), src.skipped()));
        }
        if (src.test() != null) {
            splits.put("test", describe(src.test(), src.skipped()));
        }
        doc.put("splits", splits);
        doc.put("skipped", src.skipped().toMap());
        return doc;
    }

    private static Map<String, Object> describe(ImageDataset d, SkipReport report) {
        Map<String, Integer> counts = new LinkedHashMap<>();
        int[] c = d.counts();
        for (int i = 0; i < c.length; i++) {
            counts.put(d.classes().get(i), c[i]);
        }
        Map<String, Integer> sizes = new TreeMap<>();
        Map<String, Integer> modes = new TreeMap<>();
        int unreadable = 0;
        for (Sample s : d.samples()) {
            try {
                java.awt.image.BufferedImage img;
                if (s.image() != null) {
                    img = s.image();
                } else {
                    img = rawRead(s.path());
                }
                sizes.merge(img.getWidth() + "x" + img.getHeight(), 1, Integer::sum);
                modes.merge(mode(img), 1, Integer::sum);
            } catch (BadImageException e) {
                report.skip(e);
                unreadable++;
            }
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("images", d.size() - unreadable);
        m.put("perClass", counts);
        m.put("sizes", top(sizes, 10));
        m.put("modes", modes);
        int min = Integer.MAX_VALUE;
        int max = 0;
        for (int v : c) {
            min = Math.min(min, v);
            max = Math.max(max, v);
        }
        m.put("imbalance", min == 0 ? null : max / (double) min);
        List<String> warnings = new ArrayList<>();
        if (min == 0) {
            warnings.add("some classes have no images");
        } else if (max / (double) min >= 3) {
            warnings.add(String.format("imbalanced: largest class has %.1fx the images of the smallest", max / (double) min));
        }
        m.put("warnings", warnings);
        return m;
    }

    private static java.awt.image.BufferedImage rawRead(Path p) throws BadImageException {
        try {
            ImageDecoder.probe(p, ImageDecoder.DEFAULT_MAX_PIXELS);
            java.awt.image.BufferedImage img = javax.imageio.ImageIO.read(p.toFile());
            if (img == null) {
                throw new BadImageException(p, BadImageException.Reason.NOT_AN_IMAGE, null);
            }
            return img;
        } catch (java.io.IOException e) {
            // CMYK JPEGs and other cases ImageIO.read refuses: fall back to the canonical reader
            return ImageDecoder.read(p);
        }
    }

    static String mode(java.awt.image.BufferedImage img) {
        var cm = img.getColorModel();
        int bits = cm.getComponentSize(0);
        String base;
        if (cm instanceof java.awt.image.IndexColorModel) {
            base = "palette";
        } else if (cm.getColorSpace().getType() == java.awt.color.ColorSpace.TYPE_GRAY) {
            base = cm.hasAlpha() ? "gray+alpha" : "gray";
        } else if (cm.getColorSpace().getType() == java.awt.color.ColorSpace.TYPE_CMYK) {
            base = "cmyk";
        } else {
            base = cm.hasAlpha() ? "rgba" : "rgb";
        }
        return bits > 8 ? base + "16" : base;
    }

    private static Map<String, Integer> top(Map<String, Integer> m, int n) {
        Map<String, Integer> out = new LinkedHashMap<>();
        m.entrySet().stream().sorted((a, b) -> b.getValue() - a.getValue()).limit(n)
                .forEach(e -> out.put(e.getKey(), e.getValue()));
        return out;
    }
}
