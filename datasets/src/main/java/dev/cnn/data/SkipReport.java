package dev.cnn.data;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Files skipped while scanning or decoding, counted by reason. Each skip logs one WARN line with the path. In strict
 * mode the first skip throws a {@link DataException} instead. Thread-safe.
 */
public final class SkipReport {
    private static final Logger LOG = LoggerFactory.getLogger(SkipReport.class);
    private final boolean strict;
    private final Map<BadImageException.Reason, Integer> counts = new EnumMap<>(BadImageException.Reason.class);
    private final List<String> examples = new ArrayList<>();
    private final List<String> warnings = new ArrayList<>();
    private final List<String> files = new ArrayList<>();
    /** Skipped files logged one by one before the rest are only counted (and listed in {@link #toMap()}). */
    static final int LOGGED = 10;

    public SkipReport(boolean strict) {
        this.strict = strict;
    }

    public boolean strict() {
        return strict;
    }

    /** Records a bad file: warns and counts, or throws in strict mode. */
    public synchronized void skip(BadImageException e) {
        if (strict) {
            throw new DataException(e.getMessage() + "; remove or fix the file, or run without --strict to skip it");
        }
        counts.merge(e.reason(), 1, Integer::sum);
        if (examples.size() < 20) {
            examples.add(e.getMessage());
        }
        files.add(e.getMessage());
        if (files.size() <= LOGGED) {
            LOG.warn("skipping {}", e.getMessage());
        } else if (files.size() == LOGGED + 1) {
            LOG.warn("skipping more unreadable files: counted in the summary, each listed with --format json "
                    + "(-v logs them all)");
        } else {
            LOG.info("skipping {}", e.getMessage());
        }
    }

    /** A dataset-level warning (empty class folder, single class, imbalance); strict turns it into an error. */
    public synchronized void warn(String message, boolean fatalWhenStrict) {
        if (strict && fatalWhenStrict) {
            throw new DataException(message);
        }
        warnings.add(message);
        LOG.warn(message);
    }

    public synchronized int total() {
        return counts.values().stream().mapToInt(Integer::intValue).sum();
    }

    public synchronized Map<String, Integer> counts() {
        Map<String, Integer> m = new LinkedHashMap<>();
        counts.forEach((k, v) -> m.put(k.name().toLowerCase(), v));
        return m;
    }

    public synchronized List<String> examples() {
        return List.copyOf(examples);
    }

    public synchronized List<String> warnings() {
        return Collections.unmodifiableList(new ArrayList<>(warnings));
    }

    /** One line such as "skipped 3 files: empty_file 1, not_an_image 2", or "" when nothing was skipped. */
    public synchronized String summary() {
        if (counts.isEmpty()) {
            return "";
        }
        StringBuilder b = new StringBuilder("skipped " + total() + " file" + (total() == 1 ? "" : "s") + ":");
        String sep = " ";
        for (var e : counts().entrySet()) {
            b.append(sep).append(e.getKey()).append(' ').append(e.getValue());
            sep = ", ";
        }
        return b.toString();
    }

    public synchronized Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("skipped", total());
        m.put("byReason", counts());
        m.put("examples", examples());
        m.put("files", List.copyOf(files));
        m.put("warnings", warnings());
        return m;
    }
}
