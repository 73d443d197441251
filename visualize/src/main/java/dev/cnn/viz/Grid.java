package dev.cnn.viz;

import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.util.List;

/**
 * Lays out labelled tiles in a grid (Java2D, headless), and turns tensors into tiles: each tile is scaled to its own
 * min..max, so weak and strong filters are both visible.
 */
public final class Grid {
    /** One picture and its caption. */
    public record Tile(BufferedImage image, String label) {
    }

    /** A rendered grid and how it was laid out (tests check the counts). */
    public record Picture(BufferedImage image, String layer, int tiles, int columns, int tileSize) {
    }

    static final int LABEL_HEIGHT = 14;
    static final int GAP = 4;
    static final int TITLE_HEIGHT = 22;

    private Grid() {
    }

    /** Tiles scaled (nearest neighbour) to {@code tileSize} px, {@code columns} per row, a title on top. */
    public static BufferedImage layout(List<Tile> tiles, int tileSize, int columns, String title) {
        int cols = Math.max(1, Math.min(columns, tiles.size()));
        int rows = (tiles.size() + cols - 1) / cols;
        int cellW = tileSize + GAP;
        int cellH = tileSize + LABEL_HEIGHT + GAP;
        int w = Math.max(cols * cellW + GAP, 240);
        int h = TITLE_HEIGHT + rows * cellH + GAP;
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        try {
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, w, h);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_NEAREST_NEIGHBOR);
            g.setColor(Color.BLACK);
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 13));
            g.drawString(title, GAP, 16);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 10));
            FontMetrics fm = g.getFontMetrics();
            for (int i = 0; i < tiles.size(); i++) {
                int x = GAP + (i % cols) * cellW;
                int y = TITLE_HEIGHT + (i / cols) * cellH;
                g.drawImage(tiles.get(i).image(), x, y, tileSize, tileSize, null);
                g.setColor(new Color(0xCCCCCC));
                g.drawRect(x - 1, y - 1, tileSize + 1, tileSize + 1);
                g.setColor(Color.DARK_GRAY);
                String label = fit(tiles.get(i).label(), fm, tileSize + GAP);
                g.drawString(label, x + Math.max(0, (tileSize - fm.stringWidth(label)) / 2), y + tileSize + 11);
            }
        } finally {
            g.dispose();
        }
        return out;
    }

    private static String fit(String s, FontMetrics fm, int width) {
        String t = s;
        while (t.length() > 1 && fm.stringWidth(t) > width) {
            t = t.substring(0, t.length() - 1);
        }
        return t;
    }

    /** A gray tile from {@code v[offset .. offset+h*w)}, scaled to its own min..max. */
    public static BufferedImage gray(float[] v, int offset, int h, int w) {
        float min = Float.POSITIVE_INFINITY;
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < h * w; i++) {
            min = Math.min(min, v[offset + i]);
            max = Math.max(max, v[offset + i]);
        }
        float range = max - min > 1e-12f ? max - min : 1f;
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int g = Math.round(255 * (v[offset + y * w + x] - min) / range);
                img.setRGB(x, y, (g << 16) | (g << 8) | g);
            }
        }
        return img;
    }

    /**
     * A colour tile from three planes of {@code h*w} values at {@code offsets} (red, green, blue), scaled together to
     * their joint min..max (one filter's kernels keep their relative colour).
     */
    public static BufferedImage rgb(float[] v, int[] offsets, int h, int w) {
        float min = Float.POSITIVE_INFINITY;
        float max = Float.NEGATIVE_INFINITY;
        for (int o : offsets) {
            for (int i = 0; i < h * w; i++) {
                min = Math.min(min, v[o + i]);
                max = Math.max(max, v[o + i]);
            }
        }
        float range = max - min > 1e-12f ? max - min : 1f;
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int rgb = 0;
                for (int c = 0; c < 3; c++) {
                    int q = Math.round(255 * (v[offsets[c] + y * w + x] - min) / range);
                    rgb = (rgb << 8) | q;
                }
                img.setRGB(x, y, rgb);
            }
        }
        return img;
    }

    /** Jet-like colour map of t in [0,1]: blue, cyan, yellow, red. */
    public static int jet(double t) {
        double v = Math.max(0, Math.min(1, t));
        double r = clamp(1.5 - Math.abs(4 * v - 3));
        double g = clamp(1.5 - Math.abs(4 * v - 2));
        double b = clamp(1.5 - Math.abs(4 * v - 1));
        return ((int) (r * 255) << 16) | ((int) (g * 255) << 8) | (int) (b * 255);
    }

    private static double clamp(double x) {
        return Math.max(0, Math.min(1, x));
    }
}
