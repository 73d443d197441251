package dev.cnn.core;

import org.nd4j.linalg.schedule.ISchedule;
import org.nd4j.shade.jackson.annotation.JsonProperty;

/**
 * Learning-rate schedule by iteration: linear warm-up from 0, then constant, step decay (x{@code gamma} every
 * {@code stepIters}) or cosine decay to 0 at {@code totalIters}. Lives on the updaters of a network in training; a
 * saved bundle stores the next step's fixed rate in its place (so that plain DL4J loads it, see
 * {@code PortableConfiguration}) and the run's settings in its metadata, from which a resumed run puts the schedule
 * back ({@link Optimizers#restoreSchedule}).
 */
public final class LrSchedule implements ISchedule {
    public enum Kind { CONSTANT, STEP, COSINE }

    @JsonProperty
    private double baseLr;
    @JsonProperty
    private Kind kind;
    @JsonProperty
    private long warmupIters;
    @JsonProperty
    private long totalIters;
    @JsonProperty
    private long stepIters;
    @JsonProperty
    private double gamma;

    /** For JSON. */
    public LrSchedule() {
    }

    public LrSchedule(double baseLr, Kind kind, long warmupIters, long totalIters, long stepIters, double gamma) {
        if (!(baseLr >= 0) || Double.isInfinite(baseLr)) { // 0: a layer that does not move (--base-lr 0)
            throw new IllegalArgumentException("learning rate must be >= 0, got " + baseLr);
        }
        this.baseLr = baseLr;
        this.kind = kind;
        this.warmupIters = Math.max(0, warmupIters);
        this.totalIters = Math.max(1, totalIters);
        this.stepIters = Math.max(1, stepIters);
        this.gamma = gamma;
    }

    @Override
    public double valueAt(int iteration, int epoch) {
        if (iteration < warmupIters) {
            return baseLr * (iteration + 1) / (double) warmupIters;
        }
        return switch (kind) {
            case CONSTANT -> baseLr;
            case STEP -> baseLr * Math.pow(gamma, (iteration - warmupIters) / stepIters);
            case COSINE -> {
                double t = Math.min(1.0, (iteration - warmupIters) / (double) Math.max(1, totalIters - warmupIters));
                yield baseLr * 0.5 * (1 + Math.cos(Math.PI * t));
            }
        };
    }

    @Override
    public ISchedule clone() {
        return new LrSchedule(baseLr, kind, warmupIters, totalIters, stepIters, gamma);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LrSchedule s && s.baseLr == baseLr && s.kind == kind && s.warmupIters == warmupIters
                && s.totalIters == totalIters && s.stepIters == stepIters && s.gamma == gamma;
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(baseLr, kind, warmupIters, totalIters, stepIters, gamma);
    }
}
