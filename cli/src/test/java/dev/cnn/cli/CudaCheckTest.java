package dev.cnn.cli;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CudaCheckTest {
    @Test
    void theCpuBuildIsNotACudaBuildAndHasNoProblem() {
        assertFalse(CudaCheck.cudaBuild());
        assertNull(CudaCheck.problem());
    }

    @Test
    void aMissingDriverOrRuntimeIsNamedInAFewWords() {
        // what JavaCPP throws on a machine without the NVIDIA driver (seen with -Pcuda here)
        UnsatisfiedLinkError noDriver = new UnsatisfiedLinkError("/root/.javacpp/cache/cuda-11.6-8.3-1.5.7-linux-x86_64"
                + ".jar/org/bytedeco/cuda/linux-x86_64/libjnicudart.so: libcuda.so.1: cannot open shared object file: "
                + "No such file or directory");
        assertEquals("libcuda.so.1 (the NVIDIA driver) was not found", CudaCheck.describe(noDriver));
        assertEquals("libcudart.so.11.0 (CUDA 11.6) was not found", CudaCheck.describe(new ExceptionInInitializerError(
                new UnsatisfiedLinkError("x/libjnicudart.so: libcudart.so.11.0: cannot open shared object file"))));
        assertEquals("no GPU was found", CudaCheck.describe(new RuntimeException("cudaGetDeviceCount: no CUDA-capable "
                + "device is detected")));
        assertTrue(CudaCheck.describe(new IllegalStateException("odd\nsecond line")).endsWith(
                "(IllegalStateException: odd)"));
        String line = CudaCheck.message(CudaCheck.describe(noDriver));
        assertFalse(line.contains("\n"), "one line");
        assertTrue(line.contains("libcuda.so.1") && line.contains("without -Pcuda"), line);
    }

    @Test
    void helpAndVersionSkipTheCheck() {
        assertTrue(Main.helpOrVersion(new String[0]));
        assertTrue(Main.helpOrVersion(new String[]{"train", "--help"}));
        assertTrue(Main.helpOrVersion(new String[]{"--version"}));
        assertFalse(Main.helpOrVersion(new String[]{"classify", "x.png"}));
    }
}
