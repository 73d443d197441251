package dev.cnn.data;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * {@code cnn data stats}: class counts, image sizes and colour modes, unreadable files, imbalance warnings.
 * <p>
 * Every image is decoded as training decodes it (a truncated file is unreadable here exactly when training would
 * skip it). Counts are of readable images: a split's {@code images} is the sum of its {@code perClass}, and the
 * top-level {@code images} the sum over splits. Files that fail to decode are counted apart, per class
 * ({@code unreadablePerClass}, summing to the split's {@code unreadable}) and in all ({@code unreadable}); the
 * {@code skipped} report lists them with the files already refused when the folder was scanned (empty, not an image,
 * too large), which belong to no split.
 */
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
        int images = 0;
        int unreadable = 0;
        for (Object v : splits.values()) {
            Map<?, ?> m = (Map<?, ?>) v;
            images += (Integer) m.get("images");
            unreadable += (Integer) m.get("unreadable");
        }
        doc.put("images", images);
        doc.put("unreadable", unreadable);
        doc.put("splits", splits);
        doc.put("skipped", src.skipped().toMap());
        return doc;
    }

    private static Map<String, Object> describe(ImageDataset d, SkipReport report) {
        int[] c = new int[d.numClasses()];
        int[] bad = new int[d.numClasses()];
        Map<String, Integer> sizes = new TreeMap<>();
        Map<String, Integer> modes = new TreeMap<>();
        for (Sample s : d.samples()) {
            try {
                String[] sizeAndMode = s.image() != null ? describe(s.image()) : describe(s.path());
                sizes.merge(sizeAndMode[0], 1, Integer::sum);
                modes.merge(sizeAndMode[1], 1, Integer::sum);
                c[s.label()]++;
            } catch (BadImageException e) {
                report.skip(e);
                bad[s.label()]++;
            }
        }
        Map<String, Integer> counts = new LinkedHashMap<>();
        Map<String, Integer> unreadable = new LinkedHashMap<>();
        for (int i = 0; i < c.length; i++) {
            counts.put(d.classes().get(i), c[i]);
            unreadable.put(d.classes().get(i), bad[i]);
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("images", java.util.Arrays.stream(c).sum());
        m.put("perClass", counts);
        m.put("unreadable", java.util.Arrays.stream(bad).sum());
        m.put("unreadablePerClass", unreadable);
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

    /**
     * Size and mode of an image file, and whether it is readable exactly as training finds it: ImageIO describes it;
     * a file ImageIO refuses but the native decoder training uses accepts (a complete JPEG with corrupt data inside,
     * which libjpeg decodes as PIL does) counts as readable, described from its header.
     */
    private static String[] describe(java.nio.file.Path file) throws BadImageException {
        try {
            return ImageDecoder.decode(file, ImageDecoder.DEFAULT_MAX_PIXELS, DecodeBudget.shared(),
                    DatasetStats::describe);
        } catch (BadImageException e) {
            String[] fromNative = ImageDecoder.nativeDescription(file, ImageDecoder.DEFAULT_MAX_PIXELS);
            if (fromNative == null) {
                throw e;
            }
            return fromNative;
        }
    }

    /** Size ("WxH") and colour mode of an image as decoded, before conversion to 8-bit RGB. */
    private static String[] describe(java.awt.image.BufferedImage img) {
        return new String[]{img.getWidth() + "x" + img.getHeight(), mode(img)};
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
