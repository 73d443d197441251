package dev.cnn.core;

import dev.cnn.data.ImageBatchIterator;
import dev.cnn.data.ImageDataset;
import dev.cnn.data.Preprocess;
import dev.cnn.data.Sample;
import dev.cnn.data.SkipReport;
import org.nd4j.linalg.dataset.DataSet;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Evaluates a bundle on a labelled folder. Labels are matched by name, so a folder whose classes come in another order
 * or lack some of the model's classes evaluates correctly; images of classes the model does not know are counted and
 * reported, not scored.
 */
public final class Evaluator {
    static {
        dev.cnn.accel.Engine.init(); // DL4J's helpers on and the native build chosen, before ND4J loads
    }

    /** Metrics over the model's labels plus what could not be scored. */
    public record Result(Metrics metrics, Map<String, Integer> unknownClasses, SkipReport skipped,
                         List<Miss> misclassified) {
        public Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>(metrics.toMap());
            m.put("unknownClasses", unknownClasses);
            m.put("skipped", skipped.toMap());
            m.put("misclassified", misclassified.stream().map(Miss::toMap).toList());
            return m;
        }
    }

    /** A wrongly classified image: its path, true and predicted label, and the predicted probability. */
    public record Miss(String path, String trueLabel, String predicted, double probability,
                       java.awt.image.BufferedImage image) {
        public Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("path", path);
            m.put("true", trueLabel);
            m.put("predicted", predicted);
            m.put("probability", probability);
            return m;
        }
    }

    /** How many of the most confidently wrong images a result keeps. */
    public static final int MAX_MISSES = 16;

    private Evaluator() {
    }

    public static Result evaluate(ModelBundle bundle, ImageDataset data, SkipReport report, int batchSize) {
        List<String> labels = bundle.metadata().labels();
        Map<String, Integer> index = new HashMap<>();
        for (int i = 0; i < labels.size(); i++) {
            index.put(labels.get(i), i);
        }
        Map<String, Integer> unknown = new LinkedHashMap<>();
        List<Sample> mapped = new ArrayList<>();
        for (Sample s : data.samples()) {
            String name = data.classes().get(s.label());
            Integer k = index.get(name);
            if (k == null) {
                unknown.merge(name, 1, Integer::sum);
            } else {
                mapped.add(new Sample(s.path(), s.image(), k));
            }
        }
        Metrics m = new Metrics(labels);
        List<Miss> misses = new ArrayList<>();
        if (!mapped.isEmpty()) {
            Preprocess pre = bundle.metadata().preprocess();
            org.deeplearning4j.nn.graph.ComputationGraph net = dev.cnn.accel.Accel.forInference(bundle.network(), mapped.size());
            ImageBatchIterator it = ImageBatchIterator.builder(new ImageDataset(labels, mapped), pre)
                    .batchSize(batchSize).report(report).workers(ImageBatchIterator.defaultWorkers()).build();
            while (it.hasNext()) {
                DataSet ds = it.next();
                org.nd4j.linalg.api.ndarray.INDArray p = net.outputSingle(false, ds.getFeatures());
                m.add(p, ds.getLabels());
                collectMisses(p, ds, labels, misses, mapped);
                it.recycle(ds);
            }
            it.shutdown();
        }
        misses.sort((a, b) -> Double.compare(b.probability(), a.probability()));
        return new Result(m, unknown, report, List.copyOf(misses.subList(0, Math.min(MAX_MISSES, misses.size()))));
    }

    /** Adds the wrong predictions of a batch (paths from the batch's example metadata) to {@code out}. */
    public static void collectMisses(org.nd4j.linalg.api.ndarray.INDArray probs, DataSet ds, List<String> labels,
                                     List<Miss> out, List<Sample> samples) {
        List<?> meta = ds.getExampleMetaData();
        long n = probs.size(0);
        for (int i = 0; i < n; i++) {
            int pred = probs.getRow(i).argMax().getInt(0);
            int truth = ds.getLabels().getRow(i).argMax().getInt(0);
            if (pred != truth) {
                String path = meta != null && i < meta.size() ? String.valueOf(meta.get(i)) : null;
                java.awt.image.BufferedImage img = null;
                if (path != null && path.startsWith("#") && samples != null) { // an in-memory image (builtin data)
                    img = samples.get(Integer.parseInt(path.substring(1))).image();
                    path = null;
                }
                out.add(new Miss(path, labels.get(truth), labels.get(pred), probs.getDouble(i, pred), img));
            }
        }
        if (out.size() > 4 * MAX_MISSES) {
            out.sort((a, b) -> Double.compare(b.probability(), a.probability()));
            out.subList(MAX_MISSES, out.size()).clear();
        }
    }
}
