package dev.cnn.viz;

import dev.cnn.core.CnnException;
import dev.cnn.core.ModelBundle;
import dev.cnn.data.BadImageException;
import dev.cnn.data.ImageDecoder;
import dev.cnn.data.Preprocess;
import dev.cnn.zoo.GraphQueries;
import dev.cnn.zoo.Subgraphs;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The lecture's pictures of a trained network (Zeiler &amp; Fergus style): convolution kernels, the feature maps of a
 * layer for one image, and a Grad-CAM overlay of where the network looked for its top class.
 */
public final class NetPictures {
    private NetPictures() {
    }

    // ------------------------------------------------------------------------------------------------ filters

    /**
     * Kernels of a convolution layer (default: the first). With 1 or 3 input channels each filter is one tile (gray, or
     * colour in RGB order whatever the network's channel order); otherwise a row per filter with a tile per input
     * channel (at most {@code maxFilters} x {@code maxChannels}).
     */
    public static Grid.Picture filters(ModelBundle bundle, String layer, int maxFilters, int maxChannels) {
        ComputationGraph g = bundle.network();
        String name = layer != null ? layer : firstConv(g);
        if (!(unwrap(layerConf(g, name)) instanceof ConvolutionLayer)) {
            throw CnnException.usage("--layer " + name + " is not a convolution layer; conv layers: "
                    + String.join(", ", convLayers(g)));
        }
        INDArray w = g.getLayer(name).getParam("W").castTo(DataType.FLOAT).dup('c');
        long[] s = w.shape(); // [out, in, kh, kw]
        int out = (int) s[0];
        int in = (int) s[1];
        int kh = (int) s[2];
        int kw = (int) s[3];
        float[] v = w.data().asFloat();
        int per = in * kh * kw;
        boolean bgr = bundle.metadata().preprocess().order() == dev.cnn.data.Preprocess.ChannelOrder.BGR;
        List<Grid.Tile> tiles = new ArrayList<>();
        int columns;
        int nf = Math.min(out, maxFilters);
        if (in == 1 || in == 3) {
            for (int f = 0; f < nf; f++) {
                int base = f * per;
                BufferedImage t = in == 1 ? Grid.gray(v, base, kh, kw)
                        : Grid.rgb(v, bgr ? new int[]{base + 2 * kh * kw, base + kh * kw, base}
                        : new int[]{base, base + kh * kw, base + 2 * kh * kw}, kh, kw);
                tiles.add(new Grid.Tile(t, "f" + f));
            }
            columns = (int) Math.ceil(Math.sqrt(nf));
        } else {
            int nc = Math.min(in, maxChannels);
            for (int f = 0; f < nf; f++) {
                for (int c = 0; c < nc; c++) {
                    tiles.add(new Grid.Tile(Grid.gray(v, f * per + c * kh * kw, kh, kw), "f" + f + "/c" + c));
                }
            }
            columns = nc;
        }
        int tile = Math.max(32, Math.min(64, 8 * Math.max(kh, kw)));
        String title = String.format("%s: %d filters %dx%d over %d input channel%s%s", name, out, kh, kw, in,
                in == 1 ? "" : "s", nf < out ? " (first " + nf + " shown)" : "");
        return new Grid.Picture(Grid.layout(tiles, tile, columns, title), name, tiles.size(), columns, tile);
    }

    // ------------------------------------------------------------------------------------------------ activations

    /** Feature maps of {@code layer} (default: the first convolution) for one image, the input image first. */
    public static Grid.Picture activations(ModelBundle bundle, Path image, String layer, int maxMaps) {
        ComputationGraph g = bundle.network();
        String name = layer != null ? layer : firstConv(g);
        if (!g.getConfiguration().getVertices().containsKey(name)) {
            throw CnnException.usage("--layer " + name + ": no such layer; layers: " + String.join(", ",
                    GraphQueries.layerNames(g)));
        }
        Preprocess pre = bundle.metadata().preprocess();
        Input in = load(image, pre);
        Map<String, INDArray> acts = g.feedForward(in.tensor(), false);
        INDArray a = acts.get(name);
        if (a == null || a.rank() != 4) {
            throw CnnException.usage("--layer " + name + " has no feature maps (output shape "
                    + (a == null ? "?" : java.util.Arrays.toString(a.shape())) + "); pick a convolutional layer, e.g. "
                    + String.join(", ", convLayers(g)));
        }
        a = a.castTo(DataType.FLOAT).dup('c');
        int c = (int) a.size(1);
        int h = (int) a.size(2);
        int w = (int) a.size(3);
        float[] v = a.data().asFloat();
        List<Grid.Tile> tiles = new ArrayList<>();
        tiles.add(new Grid.Tile(in.shown(), "input"));
        int n = Math.min(c, maxMaps);
        for (int k = 0; k < n; k++) {
            tiles.add(new Grid.Tile(Grid.gray(v, k * h * w, h, w), "#" + k));
        }
        int columns = (int) Math.ceil(Math.sqrt(n + 1));
        int tile = Math.max(48, Math.min(96, h * 2));
        String title = String.format("%s: %d feature maps %dx%d for %s%s", name, c, h, w, image.getFileName(),
                n < c ? " (first " + n + " shown)" : "");
        return new Grid.Picture(Grid.layout(tiles, tile, columns, title), name, tiles.size(), columns, tile);
    }

    // ------------------------------------------------------------------------------------------------ Grad-CAM

    /** A class activation map and the picture showing it. */
    public record Saliency(BufferedImage image, String layer, String label, double probability, float[][] map) {
    }

    /**
     * Grad-CAM (Selvaraju et al. 2017) for the top class: the feature maps of the last convolutional vertex that the
     * whole rest of the network reads through, weighted by the spatial mean of the gradient of the class's log
     * probability with respect to them, ReLU, upsampled onto the input. Shown as input | overlay.
     */
    public static Saliency gradCam(ModelBundle bundle, Path image, String layer) {
        ComputationGraph g = bundle.network();
        Preprocess pre = bundle.metadata().preprocess();
        String cut = layer != null ? layer : lastConvCut(g, pre);
        Input in = load(image, pre);
        Map<String, INDArray> acts = g.feedForward(in.tensor(), false); // one pass: the layer's maps and the output
        INDArray probs = acts.get(g.getConfiguration().getNetworkOutputs().get(0));
        int top = probs.argMax(1).getInt(0);
        double p = probs.getDouble(0, top);
        INDArray a = acts.get(cut);
        if (a == null || a.rank() != 4) {
            throw CnnException.usage("--layer " + cut + " has no feature maps; pick a convolutional layer");
        }
        ComputationGraph head;
        try {
            head = Subgraphs.subgraphAfter(g, cut);
        } catch (IllegalArgumentException e) {
            throw CnnException.usage("--layer " + cut + ": " + e.getMessage());
        }
        double[] alpha = channelWeights(head, a.castTo(DataType.FLOAT), top);
        INDArray af = a.castTo(DataType.FLOAT);
        int c = (int) af.size(1);
        int h = (int) af.size(2);
        int w = (int) af.size(3);
        float[][] cam = new float[h][w];
        float max = 0;
        for (int k = 0; k < c; k++) {
            float wk = (float) alpha[k];
            for (int y = 0; y < h; y++) {
                for (int xx = 0; xx < w; xx++) {
                    cam[y][xx] += wk * af.getFloat(0, k, y, xx);
                }
            }
        }
        for (int y = 0; y < h; y++) {
            for (int xx = 0; xx < w; xx++) {
                cam[y][xx] = Math.max(0, cam[y][xx]);
                max = Math.max(max, cam[y][xx]);
            }
        }
        if (max > 0) {
            for (float[] row : cam) {
                for (int xx = 0; xx < w; xx++) {
                    row[xx] /= max;
                }
            }
        }
        String label = bundle.metadata().labels().get(top);
        BufferedImage pic = overlayPicture(in.shown(), cam, String.format("%s %.3f (Grad-CAM at %s)", label, p, cut));
        return new Saliency(pic, cut, label, p, cam);
    }

    /**
     * Grad-CAM's channel weights: the spatial mean of d log p(top) / dA for each channel k, which is the derivative of
     * log p(top) along the all-ones map of channel k, divided by H*W. Computed by central differences through the
     * part of the network after the layer, in inference mode, all channels in a few batched forward passes (DL4J
     * M2.1 exposes no input gradients of a graph).
     */
    static double[] channelWeights(ComputationGraph head, INDArray a, int cls) {
        int c = (int) a.size(1);
        long hw = a.size(2) * a.size(3);
        double eps = Math.max(1e-3, 1e-2 * a.amean().getDouble(0));
        double[] alpha = new double[c];
        int chunk = 64;
        for (int k0 = 0; k0 < c; k0 += chunk) {
            int n = Math.min(chunk, c - k0);
            INDArray batch = Nd4j.create(DataType.FLOAT, 2L * n, c, a.size(2), a.size(3));
            for (int i = 0; i < n; i++) {
                int k = k0 + i;
                INDArray plus = a.dup();
                plus.get(org.nd4j.linalg.indexing.NDArrayIndex.point(0), org.nd4j.linalg.indexing.NDArrayIndex.point(k))
                        .addi(eps);
                INDArray minus = a.dup();
                minus.get(org.nd4j.linalg.indexing.NDArrayIndex.point(0), org.nd4j.linalg.indexing.NDArrayIndex.point(k))
                        .subi(eps);
                batch.putSlice(2 * i, plus.slice(0));
                batch.putSlice(2 * i + 1, minus.slice(0));
            }
            INDArray p = head.outputSingle(false, batch);
            for (int i = 0; i < n; i++) {
                double lp = Math.log(Math.max(1e-30, p.getDouble(2L * i, cls)));
                double lm = Math.log(Math.max(1e-30, p.getDouble(2L * i + 1, cls)));
                alpha[k0 + i] = (lp - lm) / (2 * eps * hw);
            }
        }
        return alpha;
    }

    private static BufferedImage overlayPicture(BufferedImage input, float[][] cam, String title) {
        int size = Math.max(192, Math.max(input.getWidth(), input.getHeight()));
        int hmH = cam.length;
        int hmW = cam[0].length;
        BufferedImage base = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
        Graphics2D bg = base.createGraphics();
        bg.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
        bg.drawImage(input, 0, 0, size, size, null);
        bg.dispose();
        BufferedImage over = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < size; y++) {
            for (int x = 0; x < size; x++) {
                double t = bilinear(cam, (x + 0.5) * hmW / size - 0.5, (y + 0.5) * hmH / size - 0.5);
                int heat = Grid.jet(t);
                int px = base.getRGB(x, y);
                double a = 0.2 + 0.45 * t;
                int r = (int) ((1 - a) * ((px >> 16) & 255) + a * ((heat >> 16) & 255));
                int gg = (int) ((1 - a) * ((px >> 8) & 255) + a * ((heat >> 8) & 255));
                int b = (int) ((1 - a) * (px & 255) + a * (heat & 255));
                over.setRGB(x, y, (r << 16) | (gg << 8) | b);
            }
        }
        BufferedImage out = new BufferedImage(2 * size + 12, size + 30, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, out.getWidth(), out.getHeight());
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 13));
        g.drawString(title, 4, 18);
        g.drawImage(base, 4, 26, null);
        g.drawImage(over, size + 8, 26, null);
        g.dispose();
        return out;
    }

    private static double bilinear(float[][] m, double x, double y) {
        int h = m.length;
        int w = m[0].length;
        x = Math.max(0, Math.min(w - 1, x));
        y = Math.max(0, Math.min(h - 1, y));
        int x0 = (int) Math.floor(x);
        int y0 = (int) Math.floor(y);
        int x1 = Math.min(w - 1, x0 + 1);
        int y1 = Math.min(h - 1, y0 + 1);
        double fx = x - x0;
        double fy = y - y0;
        return (1 - fy) * ((1 - fx) * m[y0][x0] + fx * m[y0][x1]) + fy * ((1 - fx) * m[y1][x0] + fx * m[y1][x1]);
    }

    // ------------------------------------------------------------------------------------------------ helpers

    /**
     * The last vertex with a convolutional (4-D) output through which everything after it flows: Grad-CAM's layer.
     */
    static String lastConvCut(ComputationGraph g, Preprocess pre) {
        ComputationGraphConfiguration c = g.getConfiguration();
        Map<String, InputType> types = c.getLayerActivationTypes(true, false,
                InputType.convolutional(pre.height(), pre.width(), pre.channels()));
        List<String> order = GraphQueries.topologicalOrder(g);
        for (int i = order.size() - 1; i >= 0; i--) {
            String n = order.get(i);
            if (c.getVertices().get(n) == null || !(types.get(n) instanceof InputType.InputTypeConvolutional)) {
                continue;
            }
            if (GraphQueries.splitsAt(g, n)) {
                return n;
            }
        }
        throw CnnException.usage("the network has no convolutional layer to explain; Grad-CAM needs one");
    }

    static String firstConv(ComputationGraph g) {
        List<String> convs = convLayers(g);
        if (convs.isEmpty()) {
            throw CnnException.usage("the network has no convolution layer");
        }
        return convs.get(0);
    }

    static List<String> convLayers(ComputationGraph g) {
        List<String> out = new ArrayList<>();
        for (String n : GraphQueries.topologicalOrder(g)) {
            var v = g.getConfiguration().getVertices().get(n);
            if (v instanceof LayerVertex lv && unwrap(lv.getLayerConf().getLayer()) instanceof ConvolutionLayer) {
                out.add(n);
            }
        }
        return out;
    }

    private static Layer layerConf(ComputationGraph g, String name) {
        var v = g.getConfiguration().getVertices().get(name);
        if (v == null) {
            throw CnnException.usage("--layer " + name + ": no such layer; conv layers: "
                    + String.join(", ", convLayers(g)));
        }
        return v instanceof LayerVertex lv ? lv.getLayerConf().getLayer() : null;
    }

    private static Layer unwrap(Layer l) {
        return l instanceof FrozenLayer f ? f.getLayer() : l;
    }

    /** An image decoded once: as the network sees it (resized, RGB) and as its input tensor [1, C, H, W]. */
    private record Input(BufferedImage shown, INDArray tensor) {
    }

    private static Input load(Path image, Preprocess pre) {
        BufferedImage shown;
        try {
            // decoded and resized exactly as training and classify do it (reduced-scale JPEG decoding included)
            shown = ImageDecoder.readResized(image, ImageDecoder.DEFAULT_MAX_PIXELS, pre,
                    dev.cnn.data.DecodeBudget.shared());
        } catch (BadImageException e) {
            throw CnnException.data(e.getMessage() + " (pass a readable PNG/JPEG image)", e);
        }
        return new Input(shown, ImageDecoder.tensor(shown, pre));
    }
}
