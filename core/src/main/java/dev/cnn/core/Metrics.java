package dev.cnn.core;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Accumulates predictions against true labels: loss, top-1/top-5 accuracy, confusion matrix and per-class
 * precision/recall/F1. Rows of the confusion matrix are true classes, columns predicted ones.
 */
public final class Metrics {
    private final List<String> labels;
    private final long[][] confusion;
    private long count;
    private long top1;
    private long top5;
    private double lossSum;

    public Metrics(List<String> labels) {
        this.labels = List.copyOf(labels);
        this.confusion = new long[labels.size()][labels.size()];
    }

    /** Adds a batch: probabilities [N, K] and one-hot (or soft) labels [N, K]. */
    public void add(INDArray probabilities, INDArray oneHot) {
        float[][] p = probabilities.toFloatMatrix();
        float[][] y = oneHot.toFloatMatrix();
        for (int i = 0; i < p.length; i++) {
            int t = argmax(y[i]);
            add(p[i], t);
        }
    }

    /** Adds one example with true class index {@code t}. */
    public void add(float[] p, int t) {
        int pred = argmax(p);
        int rank = 0;
        for (float v : p) {
            if (v > p[t]) {
                rank++;
            }
        }
        count++;
        if (rank == 0 && pred == t) {
            top1++;
        }
        if (rank < 5) {
            top5++;
        }
        lossSum += -Math.log(Math.max(p[t], 1e-12));
        confusion[t][pred]++;
    }

    static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    public long count() {
        return count;
    }

    public double top1() {
        return count == 0 ? Double.NaN : top1 / (double) count;
    }

    public double top5() {
        return count == 0 ? Double.NaN : top5 / (double) count;
    }

    public double loss() {
        return count == 0 ? Double.NaN : lossSum / count;
    }

    public long[][] confusion() {
        long[][] c = new long[confusion.length][];
        for (int i = 0; i < c.length; i++) {
            c[i] = confusion[i].clone();
        }
        return c;
    }

    public List<String> labels() {
        return labels;
    }

    /** Per-class precision, recall, F1 and support, in label order. */
    public List<Map<String, Object>> perClass() {
        List<Map<String, Object>> rows = new ArrayList<>();
        for (int k = 0; k < labels.size(); k++) {
            long tp = confusion[k][k];
            long support = 0;
            long predicted = 0;
            for (int j = 0; j < labels.size(); j++) {
                support += confusion[k][j];
                predicted += confusion[j][k];
            }
            double precision = predicted == 0 ? 0 : tp / (double) predicted;
            double recall = support == 0 ? 0 : tp / (double) support;
            double f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("label", labels.get(k));
            r.put("precision", precision);
            r.put("recall", recall);
            r.put("f1", f1);
            r.put("support", support);
            rows.add(r);
        }
        return rows;
    }

    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("images", count);
        m.put("loss", loss());
        m.put("top1", top1());
        m.put("top5", top5());
        m.put("labels", labels);
        m.put("perClass", perClass());
        m.put("confusion", confusion());
        return m;
    }

    /** Text report: totals, per-class table and confusion matrix. */
    public String toTable() {
        StringBuilder b = new StringBuilder();
        b.append(String.format("images %d   top-1 %.4f   top-5 %.4f   loss %.4f%n%n", count, top1(), top5(), loss()));
        int w = Math.max(8, labels.stream().mapToInt(String::length).max().orElse(5) + 1);
        b.append(String.format("%-" + w + "s %9s %9s %9s %8s%n", "class", "precision", "recall", "f1", "support"));
        for (Map<String, Object> r : perClass()) {
            b.append(String.format("%-" + w + "s %9.4f %9.4f %9.4f %8d%n", r.get("label"), r.get("precision"),
                    r.get("recall"), r.get("f1"), r.get("support")));
        }
        b.append(String.format("%nconfusion matrix (rows: true, columns: predicted)%n"));
        int cw = 6;
        for (long[] row : confusion) {
            for (long v : row) {
                cw = Math.max(cw, String.valueOf(v).length() + 1);
            }
        }
        b.append(String.format("%-" + w + "s", ""));
        for (int k = 0; k < labels.size(); k++) {
            b.append(String.format("%" + cw + "s", abbreviate(labels.get(k), cw - 1)));
        }
        b.append('\n');
        for (int i = 0; i < labels.size(); i++) {
            b.append(String.format("%-" + w + "s", labels.get(i)));
            for (long v : confusion[i]) {
                b.append(String.format("%" + cw + "d", v));
            }
            b.append('\n');
        }
        return b.toString();
    }

    private static String abbreviate(String s, int n) {
        return s.length() <= n ? s : s.substring(0, n);
    }
}
