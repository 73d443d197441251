package dev.cnn.data;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.AffineTransform;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Path2D;
import java.awt.geom.Rectangle2D;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * The built-in synthetic dataset {@code builtin:shapes}: filled shapes (circle, cross, square, triangle) at random
 * positions, scales, rotations and colours on noisy backgrounds. Deterministic for a seed. A shape anywhere in the
 * image is the same class, which is the point about translation invariance that convolutions plus pooling capture.
 */
public final class Shapes {
    public static final List<String> CLASSES = List.of("circle", "cross", "square", "triangle");

    private Shapes() {
    }

    /** {@code n} images of {@code size} x {@code size} pixels, classes balanced and interleaved. */
    public static List<Sample> generate(int n, int size, long seed) {
        List<Sample> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            int label = i % CLASSES.size();
            Random rnd = new Random(seed * 1_000_003L + i);
            out.add(Sample.ofImage(String.format("builtin:shapes/%s/%05d", CLASSES.get(label), i),
                    render(label, size, rnd), label));
        }
        return out;
    }

    static BufferedImage render(int label, int size, Random rnd) {
        BufferedImage img = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
        float bgHue = rnd.nextFloat();
        float bgBright = 0.05f + 0.4f * rnd.nextFloat();
        Color bg = Color.getHSBColor(bgHue, 0.3f * rnd.nextFloat(), bgBright);
        int[] px = new int[size * size];
        for (int i = 0; i < px.length; i++) {
            int noise = (int) (rnd.nextGaussian() * 12);
            int r = ImageDecoder.clamp(bg.getRed() + noise);
            int g = ImageDecoder.clamp(bg.getGreen() + noise);
            int b = ImageDecoder.clamp(bg.getBlue() + noise);
            px[i] = (r << 16) | (g << 8) | b;
        }
        img.setRGB(0, 0, size, size, px, 0, size);
        // shape colour: bright on a darker background so the shape is always visible
        float fgBright = 0.7f + 0.3f * rnd.nextFloat();
        Color fg = Color.getHSBColor(rnd.nextFloat(), 0.4f + 0.6f * rnd.nextFloat(), fgBright);
        double scale = size * (0.45 + 0.35 * rnd.nextDouble());
        double half = scale / 2;
        double cx = half + rnd.nextDouble() * (size - scale);
        double cy = half + rnd.nextDouble() * (size - scale);
        double angle = rnd.nextDouble() * Math.PI * 2;
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setColor(fg);
            AffineTransform t = new AffineTransform();
            t.translate(cx, cy);
            if (label != 0) {
                t.rotate(label == 1 ? angle % (Math.PI / 2) - Math.PI / 4 : angle);
            }
            java.awt.Shape s = switch (label) {
                case 0 -> new Ellipse2D.Double(-half, -half, scale, scale);
                case 1 -> cross(half);
                case 2 -> new Rectangle2D.Double(-half * 0.8, -half * 0.8, scale * 0.8, scale * 0.8);
                default -> triangle(half);
            };
            g.fill(t.createTransformedShape(s));
            g.setStroke(new BasicStroke(1f));
        } finally {
            g.dispose();
        }
        return img;
    }

    private static java.awt.Shape cross(double half) {
        double a = half * 0.32;
        Path2D.Double p = new Path2D.Double();
        p.append(new Rectangle2D.Double(-half, -a, 2 * half, 2 * a), false);
        p.append(new Rectangle2D.Double(-a, -half, 2 * a, 2 * half), false);
        return p;
    }

    private static java.awt.Shape triangle(double half) {
        Path2D.Double p = new Path2D.Double();
        for (int k = 0; k < 3; k++) {
            double a = -Math.PI / 2 + k * 2 * Math.PI / 3;
            double x = Math.cos(a) * half;
            double y = Math.sin(a) * half;
            if (k == 0) {
                p.moveTo(x, y);
            } else {
                p.lineTo(x, y);
            }
        }
        p.closePath();
        return p;
    }
}
