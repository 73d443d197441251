package dev.cnn.viz;

import dev.cnn.core.CnnException;
import dev.cnn.core.ModelBundle;
import dev.cnn.data.BadImageException;
import dev.cnn.data.DecodeBudget;
import dev.cnn.data.ImageBatchIterator;
import dev.cnn.data.ImageDataset;
import dev.cnn.data.ImageDecoder;
import dev.cnn.data.Preprocess;
import dev.cnn.data.Sample;
import dev.cnn.data.SkipReport;
import dev.cnn.zoo.GraphQueries;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.conf.layers.ZeroPaddingLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * What a unit responds to (Zeiler and Fergus 2013): for each of the first channels of a convolutional layer, the
 * dataset image patches that activate it most. Each image's strongest response per channel is taken (its position in
 * the feature map), the best {@code perChannel} are kept in a bounded heap while the data streams by in batches, and
 * each is shown as the unit's receptive field cropped from the image as the network saw it (resized).
 */
public final class TopPatches {
    private TopPatches() {
    }

    /**
     * Receptive field of one position of a layer's feature map on the input: {@code size} pixels square, positions
     * {@code jump} pixels apart, the centre of position 0 at {@code start} (pixel centres at 0.5, 1.5, ...).
     */
    public record Field(double size, double jump, double start) {
        static final Field INPUT = new Field(1, 1, 0.5);

        Field through(int kernel, int stride, int padding, int dilation) {
            int k = dilation * (kernel - 1) + 1;
            return new Field(size + (k - 1) * jump, jump * stride, start + ((k - 1) / 2.0 - padding) * jump);
        }

        /** The box [x0, y0, x1, y1) of position (y, x), clipped to a {@code w} x {@code h} image. */
        int[] box(int y, int x, int w, int h) {
            double cx = start + x * jump;
            double cy = start + y * jump;
            int x0 = (int) Math.max(0, Math.floor(cx - size / 2));
            int y0 = (int) Math.max(0, Math.floor(cy - size / 2));
            int x1 = (int) Math.min(w, Math.ceil(cx + size / 2));
            int y1 = (int) Math.min(h, Math.ceil(cy + size / 2));
            return new int[]{x0, y0, Math.max(x0 + 1, x1), Math.max(y0 + 1, y1)};
        }
    }

    /** One of a channel's best patches. */
    public record Hit(int channel, double activation, int sample, String source, int y, int x) {
    }

    /** The picture and what it shows. */
    public record Result(BufferedImage image, String layer, Field field, List<List<Hit>> hits, int images) {
    }

    /**
     * The receptive field of {@code layer}'s output, through the convolutions, poolings and zero paddings on the way
     * from the input; where paths merge (residual additions, concatenations) the largest field is taken.
     */
    public static Field field(ComputationGraph g, String layer) {
        Map<String, Field> f = new HashMap<>();
        Map<String, List<String>> inputs = g.getConfiguration().getVertexInputs();
        for (String in : g.getConfiguration().getNetworkInputs()) {
            f.put(in, Field.INPUT);
        }
        for (String name : GraphQueries.topologicalOrder(g)) {
            if (f.containsKey(name)) {
                continue;
            }
            Field from = null;
            for (String in : inputs.getOrDefault(name, List.of())) {
                Field fi = f.get(in);
                if (fi != null && (from == null || fi.size() > from.size())) {
                    from = fi;
                }
            }
            if (from == null) {
                from = Field.INPUT;
            }
            GraphVertex v = g.getConfiguration().getVertices().get(name);
            Layer l = v instanceof LayerVertex lv ? unwrap(lv.getLayerConf().getLayer()) : null;
            if (l instanceof ConvolutionLayer c) { // also DL4J's pooling-free conv subclasses (depthwise, separable)
                from = from.through(c.getKernelSize()[0], c.getStride()[0], padding(c.getConvolutionMode(),
                        c.getPadding()[0], c.getKernelSize()[0], c.getDilation()[0]), c.getDilation()[0]);
            } else if (l instanceof SubsamplingLayer s) {
                from = from.through(s.getKernelSize()[0], s.getStride()[0], padding(s.getConvolutionMode(),
                        s.getPadding()[0], s.getKernelSize()[0], s.getDilation()[0]), s.getDilation()[0]);
            } else if (l instanceof ZeroPaddingLayer z) {
                from = new Field(from.size(), from.jump(), from.start() - z.getPadding()[0] * from.jump());
            }
            f.put(name, from);
        }
        Field out = f.get(layer);
        if (out == null) {
            throw CnnException.usage("--layer " + layer + ": no such layer; layers: "
                    + String.join(", ", GraphQueries.layerNames(g)));
        }
        return out;
    }

    private static int padding(ConvolutionMode mode, int padding, int kernel, int dilation) {
        // "same" pads (k - 1) / 2 before (exactly for odd kernels at stride 1, and as TF/DL4J place it otherwise)
        return mode == ConvolutionMode.Same ? (dilation * (kernel - 1)) / 2 : padding;
    }

    private static Layer unwrap(Layer l) {
        return l instanceof FrozenLayer f ? f.getLayer() : l;
    }

    /**
     * Streams {@code data} through the network in batches of {@code batch} (bounded memory: only the per-channel
     * heaps are kept) and draws, for each of the first {@code channels} channels of {@code layer}, its
     * {@code perChannel} strongest patches.
     */
    public static Result compute(ModelBundle bundle, ImageDataset data, String layer, int channels, int perChannel,
                                 int batch, SkipReport report) {
        ComputationGraph g = bundle.network();
        String name = layer != null ? layer : NetPictures.firstConv(g);
        Field field = field(g, name);
        Preprocess pre = bundle.metadata().preprocess();
        List<PriorityQueue<Hit>> best = new ArrayList<>();
        Map<String, Integer> index = new HashMap<>(); // a batch names its images by path ("#i" when in memory)
        for (int i = 0; i < data.size(); i++) {
            Sample s = data.samples().get(i);
            index.put(s.path() == null ? "#" + i : s.path().toString(), i);
        }
        int seen = 0;
        int shown = -1;
        ImageBatchIterator it = ImageBatchIterator.builder(data, pre).batchSize(batch).report(report).build();
        try {
            while (it.hasNext()) {
                DataSet ds = it.next();
                @SuppressWarnings("unchecked")
                List<String> sources = (List<String>) (List<?>) ds.getExampleMetaData();
                INDArray a = g.feedForward(ds.getFeatures(), false).get(name);
                if (a == null || a.rank() != 4) {
                    throw CnnException.usage("--layer " + name + " has no feature maps (output shape "
                            + (a == null ? "?" : java.util.Arrays.toString(a.shape())) + "); pick a convolutional "
                            + "layer, e.g. " + String.join(", ", NetPictures.convLayers(g)));
                }
                a = a.castTo(DataType.FLOAT).dup('c');
                int n = (int) a.size(0);
                int c = (int) a.size(1);
                int h = (int) a.size(2);
                int w = (int) a.size(3);
                if (shown < 0) {
                    shown = Math.min(channels, c);
                    for (int k = 0; k < shown; k++) {
                        best.add(new PriorityQueue<>(Comparator.comparingDouble(Hit::activation)));
                    }
                }
                float[] v = a.data().asFloat();
                for (int i = 0; i < n; i++) {
                    for (int k = 0; k < shown; k++) {
                        int base = (i * c + k) * h * w;
                        int arg = 0;
                        for (int p = 1; p < h * w; p++) {
                            if (v[base + p] > v[base + arg]) {
                                arg = p;
                            }
                        }
                        PriorityQueue<Hit> q = best.get(k);
                        Hit hit = new Hit(k, v[base + arg], index.getOrDefault(sources.get(i), seen + i),
                                sources.get(i), arg / w, arg % w);
                        if (q.size() < perChannel) {
                            q.add(hit);
                        } else if (hit.activation() > q.peek().activation()) {
                            q.poll();
                            q.add(hit);
                        }
                    }
                }
                seen += n;
            }
        } finally {
            it.shutdown();
        }
        if (seen == 0) {
            throw CnnException.data("no readable image in the data; give a folder of images the model can read");
        }
        List<List<Hit>> hits = new ArrayList<>();
        for (PriorityQueue<Hit> q : best) {
            List<Hit> l = new ArrayList<>(q);
            l.sort(Comparator.comparingDouble(Hit::activation).reversed());
            hits.add(l);
        }
        return new Result(draw(data, pre, field, hits, name, seen), name, field, hits, seen);
    }

    private static BufferedImage draw(ImageDataset data, Preprocess pre, Field field, List<List<Hit>> hits,
                                      String layer, int images) {
        int patch = 32;
        int side = (int) Math.ceil(Math.sqrt(hits.isEmpty() ? 1 : Math.max(1, hits.get(0).size())));
        List<Grid.Tile> tiles = new ArrayList<>();
        Map<Integer, BufferedImage> decoded = new HashMap<>(); // an image may be among several channels' best
        for (List<Hit> channel : hits) {
            BufferedImage block = new BufferedImage(side * (patch + 1), side * (patch + 1), BufferedImage.TYPE_INT_RGB);
            Graphics2D g = block.createGraphics();
            try {
                g.setColor(java.awt.Color.WHITE);
                g.fillRect(0, 0, block.getWidth(), block.getHeight());
                g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
                for (int i = 0; i < channel.size(); i++) {
                    Hit hit = channel.get(i);
                    BufferedImage img = decoded.computeIfAbsent(hit.sample(),
                            k -> image(data.samples().get(k), pre));
                    int[] b = field.box(hit.y(), hit.x(), img.getWidth(), img.getHeight());
                    g.drawImage(img, (i % side) * (patch + 1), (i / side) * (patch + 1),
                            (i % side) * (patch + 1) + patch, (i / side) * (patch + 1) + patch,
                            b[0], b[1], b[2], b[3], null);
                }
            } finally {
                g.dispose();
            }
            tiles.add(new Grid.Tile(block, "#" + (channel.isEmpty() ? "?" : channel.get(0).channel())));
        }
        int columns = (int) Math.ceil(Math.sqrt(tiles.size()));
        String title = String.format("%s: top %d of %d images, field %.0f px", layer,
                hits.isEmpty() ? 0 : hits.get(0).size(), images, field.size());
        return Grid.layout(tiles, side * (patch + 1), columns, title);
    }

    /** A sample as the network saw it: decoded and resized by the bundle's preprocessing. */
    private static BufferedImage image(Sample s, Preprocess pre) {
        try {
            return s.decodeResized(ImageDecoder.DEFAULT_MAX_PIXELS, pre, DecodeBudget.shared());
        } catch (BadImageException e) {
            throw CnnException.data(e.getMessage() + " (it was readable a moment ago)");
        }
    }
}
