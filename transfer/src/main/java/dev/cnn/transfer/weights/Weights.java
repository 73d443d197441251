package dev.cnn.transfer.weights;

import dev.cnn.core.CnnException;
import dev.cnn.core.Json;
import dev.cnn.data.Normalization;
import dev.cnn.data.PilResize;
import dev.cnn.data.Preprocess;
import dev.cnn.transfer.WeightsChecksum;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * Published pretrained weights for zoo architectures, as torchvision's {@code Weights} enums describe them: where
 * the file is, its hash, the evaluation transform, the labels and the published accuracy. The table is
 * {@code torchvision-weights.json}, written from torchvision's own enums by {@code tools/torchvision_weights.py}.
 *
 * @param model         zoo architecture
 * @param tag           {@code imagenet1k_v1}, {@code imagenet1k_v2}, ...
 * @param url           public URL of the {@code .pth} file
 * @param sha256Prefix  leading hex digits of the file's SHA-256 (the part of the file name torch.hub checks)
 * @param resizeShorter torchvision's {@code Resize} before the crop
 * @param crop          centre crop, square
 * @param mean          per-channel mean (RGB, on 0..1 values)
 * @param std           per-channel standard deviation
 * @param labels        {@code imagenet} for the ImageNet-1k class names, or null (a feature extractor)
 * @param top1          published ImageNet top-1 accuracy in percent, or null
 * @param top5          published top-5, or null
 * @param params        number of parameters
 * @param isDefault     torchvision's {@code DEFAULT} for the architecture
 * @param interpolation the resize's filter ({@code bilinear}, or {@code bicubic} for EfficientNet's)
 */
public record Weights(String model, String tag, String url, String sha256Prefix, int resizeShorter, int crop,
                      double[] mean, double[] std, String labels, Double top1, Double top5, long params,
                      boolean isDefault, String interpolation) {

    private static final List<Weights> ALL = load();
    private static volatile List<String> imagenetLabels;

    /** Every entry, in table order (architecture, then tag). */
    public static List<Weights> all() {
        return ALL;
    }

    /** Entries for one architecture. */
    public static List<Weights> forModel(String model) {
        return ALL.stream().filter(w -> w.model.equalsIgnoreCase(model)).toList();
    }

    /**
     * An entry by architecture and tag. Tags: a torchvision tag ({@code imagenet1k_v2}), {@code imagenet} or
     * {@code default} or null (torchvision's default).
     */
    public static Optional<Weights> find(String model, String tag) {
        List<Weights> m = forModel(model);
        String t = tag == null ? "default" : tag.trim().toLowerCase(Locale.ROOT);
        if (t.equals("default") || t.equals("imagenet") || t.equals("pretrained")) {
            return m.stream().filter(Weights::isDefault).findFirst();
        }
        return m.stream().filter(w -> w.tag.equals(t)).findFirst();
    }

    /** The file name in the download cache (the URL's last segment). */
    public String fileName() {
        return url.substring(url.lastIndexOf('/') + 1);
    }

    public URI uri() {
        return URI.create(url);
    }

    public WeightsChecksum checksum() {
        return WeightsChecksum.sha256(sha256Prefix);
    }

    /** {@code model:tag}. */
    public String id() {
        return model + ":" + tag;
    }

    /** torchvision's evaluation transform as a bundle preprocess (RGB, resize, centre crop, mean/std). */
    public Preprocess preprocess() {
        float[] m = new float[3];
        float[] s = new float[3];
        for (int i = 0; i < 3; i++) {
            m[i] = (float) mean[i];
            s[i] = (float) std[i];
        }
        return Preprocess.builder().size(3, crop, crop).order(Preprocess.ChannelOrder.RGB)
                .normalization(Normalization.meanStd(m, s)).resizeShorter(resizeShorter)
                .interpolation("bicubic".equals(interpolation) ? PilResize.Filter.BICUBIC : PilResize.Filter.BILINEAR)
                .build();
    }

    /** The class names, or null when the weights have no classifier of their own. */
    public List<String> labelNames() {
        return "imagenet".equals(labels) ? imagenetLabels() : null;
    }

    /** The 1000 ImageNet-1k class names in torchvision's order (its {@code _IMAGENET_CATEGORIES}). */
    public static List<String> imagenetLabels() {
        List<String> l = imagenetLabels;
        if (l == null) {
            try (InputStream in = Weights.class.getResourceAsStream("/dev/cnn/transfer/imagenet-labels.txt")) {
                l = new String(in.readAllBytes(), StandardCharsets.UTF_8).lines().filter(x -> !x.isEmpty())
                        .toList();
            } catch (IOException | NullPointerException e) {
                throw new IllegalStateException("imagenet-labels.txt missing from the jar", e);
            }
            imagenetLabels = l;
        }
        return l;
    }

    /** One line for listings: {@code imagenet1k_v1 (default) top-1 69.8%}. */
    public String summary() {
        return tag + (isDefault ? " (default)" : "") + (top1 != null ? String.format(Locale.ROOT, " top-1 %.1f%%",
                top1) : " features only");
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Weights w && w.id().equals(id());
    }

    @Override
    public int hashCode() {
        return id().hashCode();
    }

    @Override
    public String toString() {
        return id() + " " + url + " mean=" + Arrays.toString(mean);
    }

    private static List<Weights> load() {
        try (InputStream in = Weights.class.getResourceAsStream("/dev/cnn/transfer/torchvision-weights.json")) {
            if (in == null) {
                throw new IllegalStateException("torchvision-weights.json missing from the jar");
            }
            List<?> rows = Json.mapper().readValue(in, List.class);
            List<Weights> out = new ArrayList<>();
            for (Object r : rows) {
                Map<?, ?> m = (Map<?, ?>) r;
                out.add(new Weights((String) m.get("model"), (String) m.get("tag"), (String) m.get("url"),
                        (String) m.get("sha256Prefix"), ((Number) m.get("resizeShorter")).intValue(),
                        ((Number) m.get("crop")).intValue(), doubles(m.get("mean")), doubles(m.get("std")),
                        (String) m.get("labels"), number(m.get("top1")), number(m.get("top5")),
                        ((Number) m.get("params")).longValue(), Boolean.TRUE.equals(m.get("default")),
                        (String) m.get("interpolation")));
            }
            return List.copyOf(out);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read torchvision-weights.json", e);
        }
    }

    private static double[] doubles(Object o) {
        return ((List<?>) o).stream().mapToDouble(x -> ((Number) x).doubleValue()).toArray();
    }

    private static Double number(Object o) {
        return o instanceof Number n ? n.doubleValue() : null;
    }

    /** An exit-2 error for an unknown {@code model:tag}, listing what exists. */
    static CnnException unknown(String model, String tag) {
        List<Weights> m = forModel(model);
        if (m.isEmpty()) {
            return CnnException.usage("no published weights for " + model + "; architectures with weights: "
                    + String.join(", ", ALL.stream().map(Weights::model).distinct().toList()));
        }
        return CnnException.usage("no weights " + model + ":" + tag + "; " + model + " has: "
                + String.join(", ", m.stream().map(Weights::tag).toList()));
    }
}
