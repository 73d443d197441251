package dev.cnn.cli;

import java.util.Locale;

/**
 * A build made with {@code -Pcuda} carries ND4J's CUDA 11.6 backend instead of the CPU one. Where the machine has no
 * NVIDIA driver, no CUDA 11.6 or no GPU, ND4J logs a stack trace per backend and then fails in whatever first touches
 * an array; this check runs first and says in one line what is missing and how to build for CPU.
 */
final class CudaCheck {
    static final String CUDA_BACKEND = "org.nd4j.linalg.jcublas.JCublasBackend";
    static final String CUDART = "org.bytedeco.cuda.global.cudart";

    private CudaCheck() {
    }

    /** True when this is a CUDA build (the CUDA backend is on the class path). */
    static boolean cudaBuild() {
        try {
            Class.forName(CUDA_BACKEND, false, CudaCheck.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
    }

    /** Null when this is not a CUDA build or its backend works here; else the one-line problem. */
    static String problem() {
        if (!cudaBuild()) {
            return null;
        }
        try {
            Class.forName(CUDART); // loads the CUDA runtime bindings, and with them the driver library
        } catch (Throwable t) {
            return message(describe(t));
        }
        try {
            String backend = org.nd4j.linalg.factory.Nd4j.getBackend().getClass().getName();
            if (!backend.contains("JCublas")) {
                return message("ND4J did not start its CUDA backend (it chose " + backend + ")");
            }
        } catch (Throwable t) {
            return message(describe(t));
        }
        return null;
    }

    static String message(String what) {
        return "this is a CUDA build (-Pcuda) and " + what + "; it needs an NVIDIA GPU with its driver and CUDA 11.6."
                + " Run it on such a machine, or build for CPU: ./mvnw -DskipTests install (without -Pcuda)";
    }

    /** What a failure to load or start CUDA says is missing, in a few words. */
    static String describe(Throwable t) {
        Throwable root = t;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String m = String.valueOf(root.getMessage());
        java.util.regex.Matcher lib = java.util.regex.Pattern.compile("(lib[A-Za-z0-9_+.-]+\\.so[.0-9]*): cannot open")
                .matcher(m);
        if (lib.find()) {
            String name = lib.group(1);
            String what = name.startsWith("libcuda.") ? " (the NVIDIA driver)"
                    : name.startsWith("libcudart") || name.startsWith("libcublas") || name.startsWith("libcudnn")
                    || name.startsWith("libcusolver") || name.startsWith("libnvrtc") ? " (CUDA 11.6)" : "";
            return name + what + " was not found";
        }
        String lower = m.toLowerCase(Locale.ROOT);
        if (lower.contains("no cuda-capable device") || lower.contains("no devices") || lower.contains("device count")) {
            return "no GPU was found";
        }
        return "CUDA did not start (" + root.getClass().getSimpleName() + ": " + m.lines().findFirst().orElse("")
                + ")";
    }
}
