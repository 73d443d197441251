package dev.cnn.core;

import dev.cnn.data.BadImageException;
import dev.cnn.data.ImageDecoder;
import dev.cnn.data.Preprocess;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A model loaded once to classify images from Java: files, bytes, streams or decoded images, one at a time or many
 * in one forward pass.
 *
 * <pre>{@code
 * Classifier c = Classifier.load(Path.of("model.zip"));
 * Predictor.Prediction p = c.classify(image, 3);   // a BufferedImage, byte[], InputStream or Path
 * p.top().get(0).label();
 * }</pre>
 *
 * <p>Safe to share between threads: each call decodes and preprocesses on its caller's thread, so decoding runs in
 * parallel, while forward passes run one at a time on one inference thread that owns an inference copy of the
 * network (batch norm folded; a forward pass already uses every core). One thread, not a lock: DL4J's workspaces
 * and oneDNN's streams and scratchpads are per thread, so callers taking turns on the network would each keep their
 * own copies of that memory. To answer many callers at the
 * throughput of a batch job, gather their images into one {@link #classifyTensors} call, as {@code cnn serve} does.
 * {@link #close} stops the inference thread (a daemon: it does not keep the JVM alive).
 */
public final class Classifier implements AutoCloseable {
    static {
        dev.cnn.accel.Engine.init();
    }

    private final BundleMetadata metadata;
    private final ComputationGraph network;
    private final java.util.concurrent.ExecutorService inference = java.util.concurrent.Executors
            .newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "cnn-inference");
                t.setDaemon(true);
                return t;
            });

    public Classifier(ModelBundle bundle) {
        this.metadata = bundle.metadata();
        this.network = dev.cnn.accel.Accel.forInference(bundle.network(), dev.cnn.accel.Accel.WORTH_AN_INFERENCE_COPY);
    }

    /** Loads a bundle written by {@code cnn train}, {@code cnn finetune} or {@code cnn import}. */
    public static Classifier load(Path model) {
        return new Classifier(ModelBundle.load(model, false));
    }

    public List<String> labels() {
        return metadata.labels();
    }

    /** The input the model expects: size, channels, normalisation. */
    public Preprocess preprocess() {
        return metadata.preprocess();
    }

    public BundleMetadata metadata() {
        return metadata;
    }

    public Predictor.Prediction classify(Path file, int topK) throws BadImageException {
        return classifyTensors(List.of(ImageDecoder.load(file, preprocess())), List.of(file.toString()), topK).get(0);
    }

    /** An encoded image (JPEG, PNG, ...) in memory; {@code name} stands for it in the result and in errors. */
    public Predictor.Prediction classify(byte[] image, String name, int topK) throws BadImageException {
        return classifyTensors(List.of(ImageDecoder.load(image, name, preprocess())), List.of(name), topK).get(0);
    }

    /** An encoded image read to its end (not closed). */
    public Predictor.Prediction classify(InputStream image, String name, int topK)
            throws IOException, BadImageException {
        return classify(image.readAllBytes(), name, topK);
    }

    /** A decoded image of any type (alpha is composited on the model's background colour). */
    public Predictor.Prediction classify(BufferedImage image, int topK) {
        return classifyTensors(List.of(ImageDecoder.load(image, preprocess())), List.of("image"), topK).get(0);
    }

    /**
     * Classifies preprocessed images ([1, C, H, W] each, as {@link ImageDecoder#load} makes them) in one forward
     * pass; {@code names} label the results, in the same order.
     */
    public List<Predictor.Prediction> classifyTensors(List<INDArray> images, List<String> names, int topK) {
        if (images.size() != names.size()) {
            throw new IllegalArgumentException(images.size() + " images but " + names.size() + " names");
        }
        if (images.isEmpty()) {
            return List.of();
        }
        float[][] p = probabilities(images.size() == 1 ? images.get(0) : Nd4j.concat(0, images.toArray(new INDArray[0])));
        List<Predictor.Prediction> out = new ArrayList<>(p.length);
        for (int i = 0; i < p.length; i++) {
            out.add(prediction(names.get(i), p[i], topK));
        }
        return out;
    }

    /** The result for one image's class {@code probabilities} (a row of {@link #probabilities}), named {@code name}. */
    public Predictor.Prediction prediction(String name, float[] probabilities, int topK) {
        return Predictor.prediction(labels(), name, probabilities, Math.max(1, Math.min(topK, labels().size())));
    }

    /**
     * Class probabilities of preprocessed images, each a [C, H, W] array in row-major order as
     * {@link ImageDecoder#toTensor} writes it, one row per image. The batch's native array is made on the inference
     * thread: native memory allocated on many caller threads and freed on others spreads over glibc's per-thread
     * arenas and grows (a server's RSS rose 4 MB every 10 s under load), allocated on one thread it stays flat.
     */
    public float[][] probabilities(List<float[]> images) {
        Preprocess p = preprocess();
        int size = p.channels() * p.height() * p.width();
        for (float[] im : images) {
            if (im.length != size) {
                throw new IllegalArgumentException("an image of " + im.length + " values; the model takes "
                        + p.channels() + "x" + p.height() + "x" + p.width() + " = " + size);
            }
        }
        return run(() -> {
            float[] all = new float[images.size() * size];
            for (int i = 0; i < images.size(); i++) {
                System.arraycopy(images.get(i), 0, all, i * size, size);
            }
            INDArray x = Nd4j.create(all, new long[]{images.size(), p.channels(), p.height(), p.width()}, 'c');
            return network.outputSingle(false, x).toFloatMatrix();
        });
    }

    /** Class probabilities of a preprocessed batch [N, C, H, W], one row per image. */
    public float[][] probabilities(INDArray batch) {
        return run(() -> network.outputSingle(false, batch).toFloatMatrix());
    }

    private float[][] run(java.util.concurrent.Callable<float[][]> forward) {
        try {
            return inference.submit(forward).get();
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            if (e.getCause() instanceof Error err) {
                throw err;
            }
            throw new IllegalStateException(e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.util.concurrent.CancellationException("interrupted while waiting for the forward pass");
        }
    }

    /** Stops the inference thread; later calls are refused. */
    @Override
    public void close() {
        inference.shutdown();
    }
}
