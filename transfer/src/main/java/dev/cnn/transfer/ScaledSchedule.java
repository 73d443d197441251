package dev.cnn.transfer;

import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.schedule.ISchedule;
import org.nd4j.shade.jackson.annotation.JsonProperty;

import java.util.Objects;

/**
 * A learning rate that is {@code factor} times the rate of another updater configuration (with whatever schedule
 * that one has: warm-up, cosine, steps). Used by {@link GraphSurgery#scaleLearningRates} for discriminative rates
 * that keep the run's schedule. Serialises with the model configuration (JSON).
 */
public final class ScaledSchedule implements ISchedule {
    @JsonProperty
    private IUpdater base;
    @JsonProperty
    private double factor;

    /** For JSON. */
    public ScaledSchedule() {
    }

    public ScaledSchedule(IUpdater base, double factor) {
        if (base == null || !base.hasLearningRate()) {
            throw new IllegalArgumentException("base updater must have a learning rate: " + base);
        }
        if (!(factor >= 0) || Double.isInfinite(factor)) {
            throw new IllegalArgumentException("learning-rate factor must be >= 0, got " + factor);
        }
        this.base = base.clone();
        this.factor = factor;
    }

    @Override
    public double valueAt(int iteration, int epoch) {
        return base.getLearningRate(iteration, epoch) * factor;
    }

    @Override
    public ISchedule clone() {
        return new ScaledSchedule(base, factor);
    }

    public double factor() {
        return factor;
    }

    public IUpdater base() {
        return base.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ScaledSchedule s && s.factor == factor && Objects.equals(s.base, base);
    }

    @Override
    public int hashCode() {
        return Objects.hash(base, factor);
    }

    @Override
    public String toString() {
        return "ScaledSchedule(" + factor + " x " + base + ")";
    }
}
