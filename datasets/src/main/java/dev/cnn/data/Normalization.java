package dev.cnn.data;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * How 8-bit pixel values become network inputs. {@code UNIT}: v/255. {@code MEAN_STD}: (v/255 - mean) / std per
 * channel (ImageNet: {@link #imagenet()}). {@code VGG}: v - mean in 0..255 (DL4J's converted ImageNet weights, BGR
 * means 103.939, 116.779, 123.68). Means/stds are given in the tensor's channel order.
 */
public record Normalization(Kind kind, float[] mean, float[] std) implements java.io.Serializable {
    public enum Kind { UNIT, MEAN_STD, VGG }

    public Normalization {
        if (kind == null) {
            throw new IllegalArgumentException("normalization kind is required");
        }
        if (kind != Kind.UNIT && (mean == null || std == null || mean.length != std.length || mean.length == 0)) {
            throw new IllegalArgumentException(kind + " normalization needs per-channel mean and std");
        }
    }

    public static Normalization unit() {
        return new Normalization(Kind.UNIT, null, null);
    }

    /** ImageNet statistics in RGB order, on [0,1] values. */
    public static Normalization imagenet() {
        return new Normalization(Kind.MEAN_STD, new float[]{0.485f, 0.456f, 0.406f}, new float[]{0.229f, 0.224f, 0.225f});
    }

    /** VGG mean subtraction in BGR order on 0..255 values. */
    public static Normalization vgg() {
        return new Normalization(Kind.VGG, new float[]{103.939f, 116.779f, 123.68f}, new float[]{1f, 1f, 1f});
    }

    public static Normalization meanStd(float[] mean, float[] std) {
        return new Normalization(Kind.MEAN_STD, mean, std);
    }

    /** Parses {@code unit}, {@code imagenet}, {@code vgg}. */
    public static Normalization parse(String s) {
        return switch (s.trim().toLowerCase()) {
            case "unit", "none", "0-1" -> unit();
            case "imagenet" -> imagenet();
            case "vgg" -> vgg();
            default -> throw new IllegalArgumentException("unknown normalization '" + s
                    + "': use unit, imagenet, vgg or dataset");
        };
    }

    /** {@link #apply} of every 8-bit value, per channel: {@code tables(c)[k][v] == apply(k, v)}. */
    public float[][] tables(int channels) {
        float[][] t = new float[channels][256];
        for (int c = 0; c < channels; c++) {
            for (int v = 0; v < 256; v++) {
                t[c][v] = apply(c, v);
            }
        }
        return t;
    }

    /** Maps an 8-bit value of channel {@code c} to the network input. */
    public float apply(int c, float v255) {
        return switch (kind) {
            case UNIT -> v255 / 255f;
            case MEAN_STD -> (v255 / 255f - mean[c % mean.length]) / std[c % std.length];
            case VGG -> v255 - mean[c % mean.length];
        };
    }

    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("kind", kind.name().toLowerCase());
        if (mean != null) {
            m.put("mean", toList(mean));
            m.put("std", toList(std));
        }
        return m;
    }

    @SuppressWarnings("unchecked")
    public static Normalization fromMap(Map<String, Object> m) {
        String kind = String.valueOf(m.get("kind"));
        Kind k;
        try {
            k = Kind.valueOf(kind.toUpperCase(java.util.Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("normalization kind '" + kind + "' is unknown; known: "
                    + java.util.Arrays.stream(Kind.values()).map(x -> x.name().toLowerCase(java.util.Locale.ROOT))
                    .toList());
        }
        return new Normalization(k, toArray((List<Number>) m.get("mean")), toArray((List<Number>) m.get("std")));
    }

    private static List<Double> toList(float[] a) {
        Double[] d = new Double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = (double) a[i];
        }
        return List.of(d);
    }

    private static float[] toArray(List<Number> l) {
        if (l == null) {
            return null;
        }
        float[] a = new float[l.size()];
        for (int i = 0; i < a.length; i++) {
            a[i] = l.get(i).floatValue();
        }
        return a;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Normalization n && n.kind == kind && java.util.Arrays.equals(n.mean, mean)
                && java.util.Arrays.equals(n.std, std);
    }

    @Override
    public int hashCode() {
        return kind.hashCode() * 31 + java.util.Arrays.hashCode(mean) * 7 + java.util.Arrays.hashCode(std);
    }
}
