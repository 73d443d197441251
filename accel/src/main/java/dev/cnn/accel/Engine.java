package dev.cnn.accel;

import org.deeplearning4j.nn.layers.mkldnn.BaseMKLDNNHelper;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Properties;

/**
 * Process-wide set-up of the DL4J/ND4J engine. Call {@link #init()} before the first ND4J use (the registry, trainer
 * and CLI do). It turns on DL4J's layer helpers (off by default in M2.1) and selects the oneDNN native build when it is
 * on the class path, so convolution, pooling and batch norm run on oneDNN. Explicit system properties win.
 */
public final class Engine {
    /** DL4J switch for layer helpers (cuDNN / oneDNN). M2.1 treats absence as "disabled". */
    public static final String HELPERS_DISABLE = "org.eclipse.deeplearning4j.helpers.disable";
    /** JavaCPP property choosing the native build variant. */
    public static final String PLATFORM_EXTENSION = "org.bytedeco.javacpp.platform.extension";
    private static final String[] EXTENSIONS = {"-onednn-avx2", "-onednn", "-avx512", "-avx2"};
    private static volatile boolean initialised;

    private Engine() {
    }

    /** Idempotent. Sets system properties only where the user has not set them. */
    public static synchronized void init() {
        if (initialised) {
            return;
        }
        if (System.getProperty(HELPERS_DISABLE) == null) {
            System.setProperty(HELPERS_DISABLE, "false");
        }
        if (System.getProperty(PLATFORM_EXTENSION) == null) {
            ClassLoader cl = Engine.class.getClassLoader();
            for (String ext : EXTENSIONS) {
                String dir = "org/nd4j/linalg/cpu/nativecpu/bindings/linux-x86_64" + ext + "/";
                if (cl.getResource(dir) != null) {
                    System.setProperty(PLATFORM_EXTENSION, ext);
                    break;
                }
            }
        }
        initialised = true;
    }

    /** True when DL4J's layers will call oneDNN (native build has it, helpers enabled, probe answers). */
    public static boolean oneDnnInUse() {
        init();
        return !Boolean.parseBoolean(System.getProperty(HELPERS_DISABLE, "true"))
                && BaseMKLDNNHelper.mklDnnEnabled();
    }

    /** Native threads ND4J computes with (OMP_NUM_THREADS, else the processor count), at least 1. */
    public static int threads() {
        try {
            return Math.max(1, Nd4j.getEnvironment().maxMasterThreads());
        } catch (RuntimeException | LinkageError e) {
            return Math.max(1, Runtime.getRuntime().availableProcessors());
        }
    }

    /** One line describing backend, threads and oneDNN use, for logs and {@code cnn --version}. */
    public static String describe() {
        init();
        Properties p = Nd4j.getExecutioner().getEnvironmentInformation();
        // values are not all strings (omp.threads is an Integer), so get, not getProperty
        return String.format("ND4J backend %s, %s threads, oneDNN %s",
                p.getOrDefault("backend", "?"), p.getOrDefault("omp.threads", "?"),
                oneDnnInUse() ? "on" : "off");
    }
}
