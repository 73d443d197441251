package dev.cnn.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A real SIGINT to a training process: it finishes the batch, writes a resumable checkpoint, says how to resume and
 * exits 130; resuming from that checkpoint completes the run.
 */
class InterruptTest {
    @TempDir
    Path dir;

    static Process start(Path dir, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx1g", "-cp", System.getProperty("java.class.path"), "dev.cnn.cli.Main"));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
    }

    @Test
    void sigintWritesACheckpointAndExits130() throws Exception {
        stopsCleanly("INT", ExitCodes.INTERRUPTED);
    }

    /** Slurm, Kubernetes and systemd stop jobs with SIGTERM: the same clean stop, exit 143. */
    @Test
    void sigtermWritesACheckpointAndExits143() throws Exception {
        stopsCleanly("TERM", ExitCodes.TERMINATED);
    }

    /** A second run for the same output is refused while the first runs, naming it; another output is fine. */
    @Test
    void twoRunsCannotWriteTheSameOutput() throws Exception {
        Path out = dir.resolve("m.zip");
        Process p = start(dir, "train", "--data", "builtin:shapes?n=2000&size=16", "--image-size", "16", "--epochs", "6",
                "--batch-size", "16", "--output", out.toString(), "--no-report");
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                if (line.startsWith("epoch 1:")) {
                    break;
                }
            }
            CliTestSupport.Run second = CliTestSupport.run("train", "--data", "builtin:shapes?n=200&size=16",
                    "--image-size", "16", "--epochs", "1", "--output", out.toString(), "--no-report");
            assertEquals(ExitCodes.DATA, second.code(), second.err());
            assertTrue(second.err().contains("another run is writing it (pid " + p.pid() + ", cnn train"),
                    second.err());
        } finally {
            p.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        }
        // the lock went with the process (kill -9): the output is free again
        CliTestSupport.Run after = CliTestSupport.run("train", "--data", "builtin:shapes?n=200&size=16",
                "--image-size", "16", "--epochs", "1", "--output", out.toString(), "--no-report");
        assertEquals(0, after.code(), after.err());
    }

    private void stopsCleanly(String signal, int exit) throws Exception {
        Path out = dir.resolve("m.zip");
        Process p = start(dir, "train", "--data", "builtin:shapes?n=2000&size=16", "--image-size", "16", "--epochs", "6",
                "--batch-size", "16", "--output", out.toString(), "--no-report");
        StringBuilder log = new StringBuilder();
        boolean signalled = false;
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                log.append(line).append('\n');
                if (!signalled && line.startsWith("epoch 1:")) { // one epoch done: the checkpoint machinery is live
                    // bash's builtin kill: no dependency on a kill binary being installed
                    assertEquals(0, new ProcessBuilder("bash", "-c", "kill -" + signal + " " + p.pid()).start().waitFor());
                    signalled = true;
                }
            }
        }
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), log.toString());
        assertTrue(signalled, "training printed an epoch line: " + log);
        assertEquals(exit, p.exitValue(), log.toString());
        Path last = dir.resolve("m.zip.checkpoints/last.zip");
        assertTrue(Files.isRegularFile(last), log.toString());
        assertTrue(log.toString().contains("--resume " + last), log.toString());

        CliTestSupport.Run resumed = CliTestSupport.run("train", "--resume", last.toString(), "--output",
                out.toString(), "--no-report", "--format", "json");
        assertEquals(0, resumed.code(), resumed.err());
        assertTrue(Files.isRegularFile(out));
    }
}
