package dev.cnn.data;

import java.util.List;

/** An immutable list of labelled samples over a fixed, sorted class list. */
public record ImageDataset(List<String> classes, List<Sample> samples) {
    public ImageDataset {
        classes = List.copyOf(classes);
        samples = List.copyOf(samples);
    }

    public int size() {
        return samples.size();
    }

    public int numClasses() {
        return classes.size();
    }

    /** Images per class, in class order. */
    public int[] counts() {
        int[] c = new int[classes.size()];
        for (Sample s : samples) {
            c[s.label()]++;
        }
        return c;
    }
}
