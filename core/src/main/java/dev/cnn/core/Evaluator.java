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
    /** Metrics over the model's labels plus what could not be scored. */
    public record Result(Metrics metrics, Map<String, Integer> unknownClasses, SkipReport skipped) {
        public Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>(metrics.toMap());
            m.put("unknownClasses", unknownClasses);
            m.put("skipped", skipped.toMap());
            return m;
        }
    }

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
        if (!mapped.isEmpty()) {
            Preprocess pre = Preprocess.fromMap(bundle.metadata().preprocess());
            ImageBatchIterator it = ImageBatchIterator.builder(new ImageDataset(labels, mapped), pre)
                    .batchSize(batchSize).report(report).build();
            while (it.hasNext()) {
                DataSet ds = it.next();
                m.add(bundle.network().outputSingle(false, ds.getFeatures()), ds.getLabels());
            }
            it.shutdown();
        }
        return new Result(m, unknown, report);
    }
}
