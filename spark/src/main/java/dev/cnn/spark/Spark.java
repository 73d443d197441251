package dev.cnn.spark;

import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;

/** The Spark context of a run: the one {@code spark-submit} set up, or a new one for {@code --spark MASTER}. */
public final class Spark {
    private Spark() {
    }

    /**
     * A context for {@code master} ({@code local[2]}, {@code spark://host:7077}, {@code yarn}, ...); a master that
     * {@code spark-submit} already set ({@code spark.master}) wins. The web UI is off unless configured; Spark's own
     * log is cut to warnings.
     */
    public static JavaSparkContext context(String master, String appName) {
        // Spark's and Hadoop's start-up notes (loopback address, no native Hadoop, task sizes) are not the user's
        // business: errors only, unless logging was configured (slf4j-simple reads these when a logger is made)
        for (String pkg : new String[]{"org.apache.spark", "org.apache.hadoop", "org.sparkproject"}) {
            String key = "org.slf4j.simpleLogger.log." + pkg;
            if (System.getProperty(key) == null) {
                System.setProperty(key, "error");
            }
        }
        SparkConf conf = new SparkConf().setAppName(appName);
        if (!conf.contains("spark.master")) {
            conf.setMaster(master);
        }
        conf.setIfMissing("spark.ui.enabled", "false");
        try {
            JavaSparkContext sc = JavaSparkContext.fromSparkContext(org.apache.spark.SparkContext.getOrCreate(conf));
            sc.setLogLevel("WARN");
            return sc;
        } catch (RuntimeException e) {
            throw dev.cnn.core.CnnException.usage("--spark " + master + ": cannot start Spark ("
                    + dev.cnn.core.ModelBundle.oneLine(e) + "); give local[N], spark://HOST:PORT, yarn or k8s://...");
        }
    }
}
