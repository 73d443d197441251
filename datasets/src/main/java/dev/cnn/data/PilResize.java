package dev.cnn.data;

import java.awt.image.BufferedImage;

/**
 * torchvision's evaluation resize on PIL images: {@code Resize(S)} (shorter side to S, antialiased bilinear) then
 * {@code CenterCrop(H, W)}, reproduced to the bit. Java2D's bilinear filter samples 2x2 pixels whatever the scale, so
 * it aliases when it shrinks; PIL's {@code Image.resize(..., BILINEAR)} instead convolves with a triangle stretched
 * by the scale factor, separably (horizontal pass, then vertical), in 22-bit fixed point with 8-bit rounding between
 * the passes. This class follows Pillow's {@code libImaging/Resample.c} ({@code precompute_coeffs},
 * {@code normalize_coeffs_8bpc}, the two 8-bpc passes) and torchvision's size and crop arithmetic (truncated long
 * side, banker's-rounded crop offsets, zero padding when the crop is larger), so a model imported from PyTorch sees
 * the pixels it saw there. Written here rather than taken from a library: no maintained Java library reproduces
 * Pillow's fixed-point arithmetic, and the parity tests compare against Pillow itself.
 */
public final class PilResize {
    private static final int PRECISION_BITS = 32 - 8 - 2;

    /** Pillow's resampling filters that torchvision's weights use: the triangle, and the cubic with a = -0.5. */
    public enum Filter {
        BILINEAR(1.0),
        BICUBIC(2.0);

        final double support;

        Filter(double support) {
            this.support = support;
        }

        double weight(double x) {
            x = Math.abs(x);
            if (this == BILINEAR) {
                return x < 1.0 ? 1.0 - x : 0.0;
            }
            double a = -0.5; // Pillow's bicubic_filter
            if (x < 1.0) {
                return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
            }
            return x < 2.0 ? (((x - 5) * x + 8) * x - 4) * a : 0.0;
        }
    }

    private PilResize() {
    }

    /** The size torchvision's {@code Resize(shorter)} gives a {@code w x h} image: {w', h'}. */
    public static int[] resizedSize(int w, int h, int shorter) {
        int s = Math.min(w, h);
        int l = Math.max(w, h);
        int newLong = (int) (shorter * (double) l / s);
        return w <= h ? new int[]{shorter, newLong} : new int[]{newLong, shorter};
    }

    /** {@code Resize(shorter)} then {@code CenterCrop(th, tw)} of an RGB image. */
    public static BufferedImage resizeAndCrop(BufferedImage img, int shorter, int th, int tw) {
        return resizeAndCrop(img, shorter, th, tw, Filter.BILINEAR);
    }

    /** {@code Resize(shorter, interpolation)} then {@code CenterCrop(th, tw)} of an RGB image. */
    public static BufferedImage resizeAndCrop(BufferedImage img, int shorter, int th, int tw, Filter filter) {
        int[] size = resizedSize(img.getWidth(), img.getHeight(), shorter);
        BufferedImage r = resize(img, size[0], size[1], filter);
        return centerCrop(r, th, tw);
    }

    /** Pillow's {@code Image.resize((w, h), BILINEAR)} of an RGB image. */
    public static BufferedImage resize(BufferedImage img, int ow, int oh) {
        return resize(img, ow, oh, Filter.BILINEAR);
    }

    /** Pillow's {@code Image.resize((w, h), filter)} of an RGB image. */
    public static BufferedImage resize(BufferedImage img, int ow, int oh, Filter filter) {
        int iw = img.getWidth();
        int ih = img.getHeight();
        if (iw == ow && ih == oh) {
            return img;
        }
        int[] px = img.getRGB(0, 0, iw, ih, null, 0, iw);
        Coeffs hz = coeffs(iw, ow, filter);
        Coeffs vt = coeffs(ih, oh, filter);
        int first = vt.bounds[0];
        int last = vt.bounds[2 * (oh - 1)] + vt.bounds[2 * (oh - 1) + 1];
        int rows = last - first;
        int[] tmp;
        if (iw != ow) {
            tmp = new int[ow * rows];
            for (int y = 0; y < rows; y++) {
                int src = (y + first) * iw;
                for (int x = 0; x < ow; x++) {
                    int min = hz.bounds[2 * x];
                    int n = hz.bounds[2 * x + 1];
                    int k0 = x * hz.ksize;
                    int r = 1 << (PRECISION_BITS - 1);
                    int g = r;
                    int b = r;
                    for (int i = 0; i < n; i++) {
                        int p = px[src + min + i];
                        int k = hz.kk[k0 + i];
                        r += ((p >> 16) & 0xFF) * k;
                        g += ((p >> 8) & 0xFF) * k;
                        b += (p & 0xFF) * k;
                    }
                    tmp[y * ow + x] = (clip8(r) << 16) | (clip8(g) << 8) | clip8(b);
                }
            }
        } else {
            tmp = new int[iw * rows];
            System.arraycopy(px, first * iw, tmp, 0, iw * rows);
        }
        int[] out = new int[ow * oh];
        if (ih != oh) {
            for (int y = 0; y < oh; y++) {
                int min = vt.bounds[2 * y] - first;
                int n = vt.bounds[2 * y + 1];
                int k0 = y * vt.ksize;
                for (int x = 0; x < ow; x++) {
                    int r = 1 << (PRECISION_BITS - 1);
                    int g = r;
                    int b = r;
                    for (int i = 0; i < n; i++) {
                        int p = tmp[(min + i) * ow + x];
                        int k = vt.kk[k0 + i];
                        r += ((p >> 16) & 0xFF) * k;
                        g += ((p >> 8) & 0xFF) * k;
                        b += (p & 0xFF) * k;
                    }
                    out[y * ow + x] = (clip8(r) << 16) | (clip8(g) << 8) | clip8(b);
                }
            }
        } else {
            out = tmp;
        }
        BufferedImage o = new BufferedImage(ow, oh, BufferedImage.TYPE_INT_RGB);
        o.setRGB(0, 0, ow, oh, out, 0, ow);
        return o;
    }

    /** torchvision's {@code CenterCrop}: banker's-rounded offsets; black padding where the crop is larger. */
    public static BufferedImage centerCrop(BufferedImage img, int th, int tw) {
        int w = img.getWidth();
        int h = img.getHeight();
        if (w == tw && h == th) {
            return img;
        }
        if (tw > w || th > h) { // torchvision pads (fill 0) to the crop size, then crops
            int padL = (tw - w) / 2 > 0 ? (tw - w) / 2 : 0;
            int padT = (th - h) / 2 > 0 ? (th - h) / 2 : 0;
            int nw = Math.max(w, tw);
            int nh = Math.max(h, th);
            BufferedImage p = new BufferedImage(nw, nh, BufferedImage.TYPE_INT_RGB); // black
            p.setRGB(padL, padT, w, h, img.getRGB(0, 0, w, h, null, 0, w), 0, w);
            img = p;
            w = nw;
            h = nh;
        }
        int top = (int) Math.rint((h - th) / 2.0);
        int left = (int) Math.rint((w - tw) / 2.0);
        BufferedImage o = new BufferedImage(tw, th, BufferedImage.TYPE_INT_RGB);
        o.setRGB(0, 0, tw, th, img.getRGB(left, top, tw, th, null, 0, tw), 0, tw);
        return o;
    }

    private record Coeffs(int ksize, int[] bounds, int[] kk) {
    }

    /** Pillow's precompute_coeffs + normalize_coeffs_8bpc for {@code filter}. */
    private static Coeffs coeffs(int inSize, int outSize, Filter filter) {
        double scale = (double) inSize / outSize;
        double filterscale = Math.max(scale, 1.0);
        double support = filter.support * filterscale;
        int ksize = (int) Math.ceil(support) * 2 + 1;
        int[] bounds = new int[outSize * 2];
        int[] kk = new int[outSize * ksize];
        double[] k = new double[ksize];
        for (int xx = 0; xx < outSize; xx++) {
            double center = (xx + 0.5) * scale;
            double ww = 0;
            double ss = 1.0 / filterscale;
            int xmin = (int) (center - support + 0.5);
            if (xmin < 0) {
                xmin = 0;
            }
            int xmax = (int) (center + support + 0.5);
            if (xmax > inSize) {
                xmax = inSize;
            }
            xmax -= xmin;
            for (int x = 0; x < xmax; x++) {
                double w = filter.weight((x + xmin - center + 0.5) * ss);
                k[x] = w;
                ww += w;
            }
            for (int x = 0; x < ksize; x++) {
                double v = x < xmax ? (ww != 0 ? k[x] / ww : k[x]) : 0;
                kk[xx * ksize + x] = (int) (v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
            }
            bounds[2 * xx] = xmin;
            bounds[2 * xx + 1] = xmax;
        }
        return new Coeffs(ksize, bounds, kk);
    }

    private static int clip8(int v) {
        int s = v >> PRECISION_BITS;
        return s < 0 ? 0 : Math.min(s, 255);
    }
}
