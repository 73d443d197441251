package dev.cnn.spark;

import java.io.Serializable;

/**
 * One image as Spark's executors see it: where to read it ({@link #location}, a local path or a URI that Hadoop's file
 * systems open: {@code hdfs://}, {@code s3a://}, {@code file:}), or the image itself, encoded ({@link #encoded}: the
 * built-in synthetic images, which exist only in memory), and its class index (-1 when unlabelled).
 */
public record SparkSample(String location, byte[] encoded, int label) implements Serializable {
    public static SparkSample of(String location, int label) {
        return new SparkSample(location, null, label);
    }
}
