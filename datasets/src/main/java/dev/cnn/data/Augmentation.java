package dev.cnn.data;

import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.AffineTransform;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Training-time augmentation from a short spec such as {@code flip,crop:0.8,rotate:15,jitter:0.2} ({@code none} for
 * nothing). {@code flip}: horizontal flip with probability 0.5 ({@code vflip} vertical). {@code crop:S}: random crop
 * of S..1 of each side, resized back. {@code rotate:D}: rotation by up to +-D degrees (edges filled by replication).
 * {@code translate:F}: shift by up to F of the size. {@code jitter:J}: brightness, contrast and saturation by up to
 * +-J. Operates on canonical RGB images of the target size, driven by the caller's seeded {@link Random}.
 */
public record Augmentation(boolean flip, boolean vflip, double crop, double rotate, double translate,
                           double jitter) {
    public static final Augmentation NONE = new Augmentation(false, false, 1, 0, 0, 0);

    public boolean isNone() {
        return equals(NONE);
    }

    /** Parses a spec; an unknown or malformed item is an {@link IllegalArgumentException} naming it. */
    public static Augmentation parse(String spec) {
        if (spec == null || spec.isBlank() || spec.trim().equalsIgnoreCase("none")) {
            return NONE;
        }
        boolean flip = false;
        boolean vflip = false;
        double crop = 1;
        double rotate = 0;
        double translate = 0;
        double jitter = 0;
        for (String item : spec.split(",")) {
            String[] kv = item.trim().toLowerCase().split(":", 2);
            String k = kv[0];
            Double v = null;
            if (kv.length == 2) {
                try {
                    v = Double.parseDouble(kv[1]);
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("augmentation '" + item + "': '" + kv[1] + "' is not a number");
                }
            }
            switch (k) {
                case "flip", "hflip" -> flip = true;
                case "vflip" -> vflip = true;
                case "crop" -> crop = range(item, v == null ? 0.8 : v, 0.1, 1);
                case "rotate" -> rotate = range(item, v == null ? 15 : v, 0, 180);
                case "translate" -> translate = range(item, v == null ? 0.1 : v, 0, 0.5);
                case "jitter" -> jitter = range(item, v == null ? 0.2 : v, 0, 1);
                default -> throw new IllegalArgumentException("unknown augmentation '" + item
                        + "': use flip, vflip, crop:S, rotate:DEG, translate:F, jitter:J or none");
            }
        }
        return new Augmentation(flip, vflip, crop, rotate, translate, jitter);
    }

    private static double range(String item, double v, double lo, double hi) {
        if (v < lo || v > hi) {
            throw new IllegalArgumentException("augmentation '" + item + "': value must be in [" + lo + ", " + hi + "]");
        }
        return v;
    }

    /** Applies the augmentation to {@code img} (not modified) with randomness from {@code rnd}. */
    public BufferedImage apply(BufferedImage img, Random rnd) {
        if (isNone()) {
            return img;
        }
        int w = img.getWidth();
        int h = img.getHeight();
        AffineTransform t = new AffineTransform();
        t.translate(w / 2.0, h / 2.0);
        if (translate > 0) {
            t.translate((rnd.nextDouble() * 2 - 1) * translate * w, (rnd.nextDouble() * 2 - 1) * translate * h);
        }
        if (rotate > 0) {
            t.rotate(Math.toRadians((rnd.nextDouble() * 2 - 1) * rotate));
        }
        if (crop < 1) {
            double s = crop + rnd.nextDouble() * (1 - crop);
            double cx = (rnd.nextDouble() * 2 - 1) * (1 - s) / 2 * w;
            double cy = (rnd.nextDouble() * 2 - 1) * (1 - s) / 2 * h;
            t.scale(1 / s, 1 / s);
            t.translate(-cx, -cy);
        }
        boolean fx = flip && rnd.nextBoolean();
        boolean fy = vflip && rnd.nextBoolean();
        t.scale(fx ? -1 : 1, fy ? -1 : 1);
        t.translate(-w / 2.0, -h / 2.0);
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        try {
            // fill with the mean border colour so rotations do not add black corners
            g.setColor(new java.awt.Color(img.getRGB(0, 0)));
            g.fillRect(0, 0, w, h);
            g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
            g.drawImage(img, t, null);
        } finally {
            g.dispose();
        }
        if (jitter > 0) {
            jitter(out, rnd);
        }
        return out;
    }

    private void jitter(BufferedImage img, Random rnd) {
        float bright = (float) (1 + (rnd.nextDouble() * 2 - 1) * jitter);
        float contrast = (float) (1 + (rnd.nextDouble() * 2 - 1) * jitter);
        float sat = (float) (1 + (rnd.nextDouble() * 2 - 1) * jitter);
        int w = img.getWidth();
        int h = img.getHeight();
        int[] px = img.getRGB(0, 0, w, h, null, 0, w);
        double mean = 0;
        for (int v : px) {
            mean += 0.299 * ((v >> 16) & 0xFF) + 0.587 * ((v >> 8) & 0xFF) + 0.114 * (v & 0xFF);
        }
        float m = (float) (mean / px.length);
        for (int i = 0; i < px.length; i++) {
            int v = px[i];
            float r = ((v >> 16) & 0xFF) * bright;
            float g = ((v >> 8) & 0xFF) * bright;
            float b = (v & 0xFF) * bright;
            float l = 0.299f * r + 0.587f * g + 0.114f * b;
            r = l + (r - l) * sat;
            g = l + (g - l) * sat;
            b = l + (b - l) * sat;
            r = (r - m) * contrast + m;
            g = (g - m) * contrast + m;
            b = (b - m) * contrast + m;
            px[i] = (ImageDecoder.clamp(r) << 16) | (ImageDecoder.clamp(g) << 8) | ImageDecoder.clamp(b);
        }
        img.setRGB(0, 0, w, h, px, 0, w);
    }

    /** The spec string that parses back to this value. */
    public String toSpec() {
        if (isNone()) {
            return "none";
        }
        List<String> s = new ArrayList<>();
        if (flip) {
            s.add("flip");
        }
        if (vflip) {
            s.add("vflip");
        }
        if (crop < 1) {
            s.add("crop:" + crop);
        }
        if (rotate > 0) {
            s.add("rotate:" + rotate);
        }
        if (translate > 0) {
            s.add("translate:" + translate);
        }
        if (jitter > 0) {
            s.add("jitter:" + jitter);
        }
        return String.join(",", s);
    }
}
