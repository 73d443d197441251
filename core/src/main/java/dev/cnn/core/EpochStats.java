package dev.cnn.core;

import java.util.LinkedHashMap;
import java.util.Map;

/** One epoch's numbers; NaN where there is no validation data. */
public record EpochStats(int epoch, double trainLoss, double valLoss, double top1, double top5, double lr,
                         double seconds, double imagesPerSecond, boolean best) {

    /** This epoch renumbered (phases of a finetune run are numbered on from the phase before). */
    public EpochStats renumbered(int epoch) {
        return new EpochStats(epoch, trainLoss, valLoss, top1, top5, lr, seconds, imagesPerSecond, best);
    }

    /** The JSON mapping (NaN as null). */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("epoch", epoch);
        m.put("trainLoss", trainLoss);
        m.put("valLoss", nanToNull(valLoss));
        m.put("top1", nanToNull(top1));
        m.put("top5", nanToNull(top5));
        m.put("lr", lr);
        m.put("seconds", seconds);
        m.put("imagesPerSecond", imagesPerSecond);
        m.put("best", best);
        return m;
    }

    public static EpochStats fromMap(Map<String, Object> m) {
        return new EpochStats(((Number) m.get("epoch")).intValue(), num(m.get("trainLoss")),
                num(m.get("valLoss")), num(m.get("top1")), num(m.get("top5")), num(m.get("lr")),
                num(m.get("seconds")), num(m.get("imagesPerSecond")), Boolean.TRUE.equals(m.get("best")));
    }

    private static double num(Object o) {
        return o instanceof Number n ? n.doubleValue() : Double.NaN;
    }

    private static Object nanToNull(double v) {
        return Double.isFinite(v) ? v : null;
    }
}
