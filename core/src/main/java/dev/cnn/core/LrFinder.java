package dev.cnn.core;

import dev.cnn.accel.Accel;
import dev.cnn.accel.TrainingSession;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.dataset.api.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.schedule.ISchedule;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntConsumer;

/**
 * The learning-rate range test (Smith 2015; fastai's {@code lr_find}): train a copy of the network for up to
 * {@code iterations} steps while the rate grows exponentially from {@code start} to {@code end}, record the smoothed
 * loss at each step, stop once it exceeds 4x its minimum, and suggest a rate. The suggestion is fastai's default
 * "valley": the longest run of falling loss, two thirds of the way down it (fastai 2.5+), which lands below the
 * minimum and clear of the blow-up; {@code min/10} (fastai's older rule) is reported too. The network passed in is
 * not changed.
 */
public final class LrFinder {

    /** The sweep: rates tried, smoothed losses, and the suggestions. */
    public record Result(List<Double> lrs, List<Double> losses, double suggestion, double minOver10,
                         boolean diverged) {
    }

    private LrFinder() {
    }

    /** fastai's defaults: 1e-7 to 10 over 100 steps. */
    public static Result run(ComputationGraph net, EpochData data) {
        return run(net, data, 1e-7, 10, 100, null);
    }

    /**
     * @param net        an initialised network with its updaters (only trainable layers are swept); copied first
     * @param data       training batches; epochs are cycled when fewer than {@code iterations} batches
     * @param onStep     called after every step with its number, or null
     */
    public static Result run(ComputationGraph net, EpochData data, double start, double end, int iterations,
                             IntConsumer onStep) {
        if (!(start > 0) || !(end > start) || iterations < 2) {
            throw new IllegalArgumentException("lr range test needs 0 < start < end and >= 2 steps");
        }
        ComputationGraph g = net.clone();
        double ratio = Math.log(end / start) / (iterations - 1);
        Optimizers.setSchedule(g, new Sweep(start, ratio, g.getConfiguration().getIterationCount()));
        List<Double> lrs = new ArrayList<>();
        List<Double> losses = new ArrayList<>();
        double avg = 0;
        double best = Double.POSITIVE_INFINITY;
        boolean diverged = false;
        int step = 0;
        try (TrainingSession t = Accel.beginTraining(g)) {
            for (int epoch = 0; step < iterations && !diverged; epoch++) {
                DataSetIterator it = data.train(epoch);
                if (!it.hasNext() && epoch > 0) {
                    break;
                }
                while (it.hasNext() && step < iterations) {
                    DataSet d = it.next();
                    double loss = Trainer.dataLoss(g, (org.nd4j.linalg.dataset.DataSet) d);
                    dev.cnn.data.ImageBatchIterator.recycle(it, (org.nd4j.linalg.dataset.DataSet) d);
                    double lr = start * Math.exp(ratio * step);
                    step++;
                    if (!Double.isFinite(loss)) {
                        diverged = true;
                        break;
                    }
                    avg = 0.98 * avg + 0.02 * loss; // fastai's smoothing, debiased
                    double smooth = avg / (1 - Math.pow(0.98, step));
                    lrs.add(lr);
                    losses.add(smooth);
                    if (onStep != null) {
                        onStep.accept(step);
                    }
                    best = Math.min(best, smooth);
                    if (step > 1 && smooth > 4 * best) {
                        diverged = true;
                        break;
                    }
                }
            }
        }
        if (lrs.size() < 2) {
            throw CnnException.data("lr range test: fewer than 2 steps ran (no training data?)");
        }
        int min = 0;
        for (int i = 1; i < losses.size(); i++) {
            if (losses.get(i) < losses.get(min)) {
                min = i;
            }
        }
        return new Result(List.copyOf(lrs), List.copyOf(losses), lrs.get(valley(losses)), lrs.get(min) / 10,
                diverged);
    }

    /** fastai's valley: the index two thirds down the longest decreasing subsequence of the losses. */
    static int valley(List<Double> losses) {
        int n = losses.size();
        int[] lds = new int[n];
        java.util.Arrays.fill(lds, 1);
        int maxStart = 0;
        int maxEnd = 0;
        for (int i = 1; i < n; i++) {
            for (int j = 0; j < i; j++) {
                if (losses.get(i) < losses.get(j) && lds[i] < lds[j] + 1) {
                    lds[i] = lds[j] + 1;
                }
                if (lds[maxEnd] < lds[i]) {
                    maxEnd = i;
                    maxStart = maxEnd - lds[maxEnd];
                }
            }
        }
        double sections = (maxEnd - maxStart) / 3.0;
        return Math.min(n - 1, Math.max(0, maxStart + (int) sections + (int) (sections / 2)));
    }

    /** start x e^(ratio x steps since {@code first}). */
    static final class Sweep implements ISchedule {
        private final double start;
        private final double ratio;
        private final int first;

        Sweep(double start, double ratio, int first) {
            this.start = start;
            this.ratio = ratio;
            this.first = first;
        }

        @Override
        public double valueAt(int iteration, int epoch) {
            return start * Math.exp(ratio * Math.max(0, iteration - first));
        }

        @Override
        public ISchedule clone() {
            return new Sweep(start, ratio, first);
        }
    }
}
