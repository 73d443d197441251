package dev.cnn.transfer.weights;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The PyTorch that writes the parity fixtures: {@code $CNN_PYTHON}, else Debian's {@code /usr/bin/python3}, else
 * {@code python3}, whichever imports torch and torchvision. Without one the tests that need it are skipped, except
 * under {@code CI=true}, where a missing PyTorch fails them ({@code .ci/run} installs python3-torch).
 */
final class PyTorch {
    static final Path SCRIPT = Path.of("src/test/python/torch_fixtures.py");
    private static String python;
    private static boolean looked;

    private PyTorch() {
    }

    /** The python command, or skips (fails under CI) when none has torch. */
    static synchronized String require() {
        if (!looked) {
            looked = true;
            List<String> candidates = new ArrayList<>();
            if (System.getenv("CNN_PYTHON") != null) {
                candidates.add(System.getenv("CNN_PYTHON"));
            }
            candidates.add("/usr/bin/python3");
            candidates.add("python3");
            for (String c : candidates) {
                try {
                    Process p = new ProcessBuilder(c, "-c", "import torch, torchvision").redirectErrorStream(true)
                            .start();
                    p.getInputStream().readAllBytes();
                    if (p.waitFor(120, TimeUnit.SECONDS) && p.exitValue() == 0) {
                        python = c;
                        break;
                    }
                } catch (IOException | InterruptedException e) {
                    // try the next
                }
            }
        }
        if (python == null) {
            String msg = "PyTorch not found (python3 with torch and torchvision; Debian: apt-get install "
                    + "python3-torch python3-torchvision, or set CNN_PYTHON)";
            if ("true".equalsIgnoreCase(System.getenv("CI"))) {
                fail(msg + ": required under CI=true");
            }
            assumeTrue(false, msg);
        }
        return python;
    }

    /** Runs the fixture script with these arguments (fails the test on a non-zero exit). */
    static void fixtures(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(require(), SCRIPT.toString()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(600, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail("fixture script timed out: " + cmd);
        }
        assertEquals(0, p.exitValue(), "fixture script failed: " + cmd + "\n" + out);
    }

    /** A little-endian float32 file. */
    static float[] floats(Path f) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(f)).order(ByteOrder.LITTLE_ENDIAN);
        float[] v = new float[b.remaining() / 4];
        b.asFloatBuffer().get(v);
        return v;
    }
}
