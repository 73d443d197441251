package dev.cnn.core.bench;

import dev.cnn.core.Networks;
import dev.cnn.core.TrainConfig;
import dev.cnn.data.Augmentation;
import dev.cnn.data.ImageBatchIterator;
import dev.cnn.data.ImageDataset;
import dev.cnn.data.Normalization;
import dev.cnn.data.Preprocess;
import dev.cnn.data.Sample;
import dev.cnn.data.Shapes;
import dev.cnn.zoo.ModelRegistry;
import dev.cnn.zoo.ModelSpec;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Input-pipeline benchmark: decoded + augmented images/s from PNG and JPEG folders at several sizes, without and with
 * the decoded-image cache, next to the rate at which simplecnn and resnet18 consume training batches of that size.
 * The pipeline keeps up when its rate exceeds the network's.
 */
public final class DataBench {
    private DataBench() {
    }

    /** One measurement. */
    public record Row(int size, String format, double imagesPerSecNoCache, double imagesPerSecCached,
                      double simplecnnTrainIps, double resnet18TrainIps) {
    }

    public static List<Row> run(Path workDir, int[] sizes, int images, int batch, int workers) throws IOException {
        List<Row> rows = new ArrayList<>();
        for (int size : sizes) {
            Map<String, Double> net = new LinkedHashMap<>();
            for (String model : List.of("simplecnn", "resnet18")) {
                net.put(model, trainRate(model, size, batch, images <= 256 ? 3 : 5));
            }
            for (String fmt : List.of("png", "jpg")) {
                Path dir = workDir.resolve(fmt + size);
                ImageDataset ds = writeFolder(dir, fmt, size, images);
                Preprocess pre = Preprocess.builder().size(3, size, size).normalization(Normalization.unit()).build();
                Augmentation aug = Augmentation.parse("flip,crop:0.8,jitter:0.2");
                double plain = pipelineRate(ds, pre, aug, batch, workers, null);
                ImageBatchIterator.Cache cache = new ImageBatchIterator.Cache();
                pipelineRate(ds, pre, aug, batch, workers, cache); // fills the cache
                double cached = pipelineRate(ds, pre, aug, batch, workers, cache);
                rows.add(new Row(size, fmt, plain, cached, net.get("simplecnn"), net.get("resnet18")));
            }
        }
        return rows;
    }

    /** Source images are 1.5x the target size, so every image is decoded and resized. */
    static ImageDataset writeFolder(Path dir, String fmt, int size, int n) throws IOException {
        List<Sample> samples = new ArrayList<>();
        int src = size * 3 / 2;
        List<Sample> gen = Shapes.generate(n, src, 99);
        for (int i = 0; i < n; i++) {
            Sample s = gen.get(i);
            Path f = dir.resolve(Shapes.CLASSES.get(s.label())).resolve(i + "." + fmt);
            if (!Files.exists(f)) {
                Files.createDirectories(f.getParent());
                BufferedImage img = s.image();
                ImageIO.write(img, fmt.equals("jpg") ? "jpeg" : "png", f.toFile());
            }
            samples.add(Sample.ofFile(f, s.label()));
        }
        return new ImageDataset(Shapes.CLASSES, samples);
    }

    /** The input pipeline alone on a folder of class subfolders: one timed pass per run. */
    public record FolderRow(int size, int images, int workers, int batch, List<Double> rates) {
    }

    /**
     * Images/s of one full pass over {@code dir} per run (decode, resize to {@code size} x {@code size} stretched,
     * ImageNet normalisation, batches of {@code batch}; no augmentation, no cache), as a PyTorch user times an
     * ImageFolder + DataLoader epoch. The first run includes starting the workers and the decoder's natives.
     */
    public static List<FolderRow> folder(Path dir, int[] sizes, int batch, int workers, int runs) {
        ImageDataset ds = dev.cnn.data.DataSource.openFolder(dir, dev.cnn.data.DataSource.Options.defaults(),
                new dev.cnn.data.SkipReport(false));
        List<FolderRow> rows = new ArrayList<>();
        for (int size : sizes) {
            Preprocess pre = Preprocess.builder().size(3, size, size).normalization(Normalization.imagenet()).build();
            List<Double> rates = new ArrayList<>();
            for (int r = 0; r < runs; r++) {
                rates.add(pipelineRate(ds, pre, Augmentation.NONE, batch, workers, null));
            }
            rows.add(new FolderRow(size, ds.size(), workers, batch, rates));
        }
        return rows;
    }

    static double pipelineRate(ImageDataset ds, Preprocess pre, Augmentation aug, int batch, int workers,
                               ImageBatchIterator.Cache cache) {
        long t0 = System.nanoTime();
        ImageBatchIterator it = ImageBatchIterator.builder(ds, pre).batchSize(batch).augmentation(aug).shuffle(true)
                .cache(cache).workers(workers).build();
        long n = 0;
        while (it.hasNext()) {
            DataSet b = it.next();
            n += b.numExamples();
            it.recycle(b);
        }
        it.shutdown();
        return n / ((System.nanoTime() - t0) / 1e9);
    }

    static double trainRate(String model, int size, int batch, int steps) {
        ModelSpec spec = ModelSpec.builder().numClasses(4).input(3, size, size).build();
        TrainConfig cfg = TrainConfig.builder().epochs(1).batchSize(batch).output(Path.of("unused.zip")).build();
        ComputationGraph g = Networks.forTraining(ModelRegistry.get(model), spec, cfg, 100);
        DataSet ds = new DataSet(Nd4j.rand(new int[]{batch, 3, size, size}), Nd4j.eye(4).getRows(
                java.util.stream.IntStream.range(0, batch).map(i -> i % 4).toArray()));
        g.fit(ds); // warm-up
        long t0 = System.nanoTime();
        for (int i = 0; i < steps; i++) {
            g.fit(ds);
        }
        return steps * (double) batch / ((System.nanoTime() - t0) / 1e9);
    }

    public static String table(List<Row> rows) {
        StringBuilder b = new StringBuilder(String.format("%5s %5s %14s %14s %16s %16s%n", "size", "fmt",
                "pipeline img/s", "cached img/s", "simplecnn train", "resnet18 train"));
        for (Row r : rows) {
            b.append(String.format("%5d %5s %14.0f %14.0f %16.0f %16.0f%n", r.size(), r.format(),
                    r.imagesPerSecNoCache(), r.imagesPerSecCached(), r.simplecnnTrainIps(), r.resnet18TrainIps()));
        }
        return b.toString();
    }
}
