package org.nd4j.nativeblas;

import java.lang.reflect.Method;

/**
 * Compatibility shim for DL4J 1.0.0-M2.1.
 *
 * <p>{@code org.deeplearning4j.nn.layers.mkldnn.BaseMKLDNNHelper#mklDnnEnabled()} probes oneDNN by reflection on
 * {@code org.nd4j.nativeblas.Nd4jCpu$Environment#isUseMKLDNN()}, a class that M2.1 moved to
 * {@code org.nd4j.linalg.cpu.nativecpu.bindings.Nd4jCpu$Environment} (method {@code isUseONEDNN()}). Without a class
 * under the old name the probe always fails and no layer ever uses oneDNN. This class answers the probe from the new
 * location. It is reflection-only so it compiles and is harmless on the CUDA backend (the probe then answers false).
 */
public final class Nd4jCpu {
    private Nd4jCpu() {
    }

    /** Stand-in for the pre-M2 {@code Nd4jCpu.Environment}. */
    public static final class Environment {
        private static final Environment INSTANCE = new Environment();
        private static final String MOVED = "org.nd4j.linalg.cpu.nativecpu.bindings.Nd4jCpu$Environment";

        private Environment() {
        }

        public static Environment getInstance() {
            return INSTANCE;
        }

        /** True when the loaded native library was built with oneDNN and uses it. */
        public boolean isUseMKLDNN() {
            try {
                Class<?> c = Class.forName(MOVED);
                Object env = c.getMethod("getInstance").invoke(null);
                Method m = c.getMethod("isUseONEDNN");
                return (Boolean) m.invoke(env);
            } catch (ReflectiveOperationException | LinkageError | RuntimeException e) {
                return false;
            }
        }
    }
}
