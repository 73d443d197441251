package dev.cnn.cli;

import dev.cnn.core.BundleMetadata;
import dev.cnn.core.ModelBundle;
import dev.cnn.core.Provenance;
import dev.cnn.core.TrainConfig;
import dev.cnn.data.Normalization;
import dev.cnn.data.Preprocess;
import dev.cnn.zoo.ModelRegistry;
import dev.cnn.zoo.ModelSpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.List;

import static dev.cnn.cli.CliTestSupport.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ServeCliTest {
    @Test
    void aPortInUseOrAMissingModelEndsWithOneLineAndItsExitCode(@TempDir Path dir) throws Exception {
        Path model = dir.resolve("m.zip");
        ModelSpec spec = ModelSpec.builder().numClasses(2).input(1, 8, 8).build();
        new ModelBundle(ModelRegistry.get("simplecnn").build(spec), new BundleMetadata(1, "simplecnn",
                List.of("a", "b"), 1, 8, 8, Preprocess.builder().size(1, 8, 8).normalization(Normalization.unit())
                .build(), Provenance.of("x", 0, "none", false, false, 1, 0,
                TrainConfig.builder().output(model).build(), null), null)).save(model, false);
        try (ServerSocket taken = new ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
            CliTestSupport.Run r = run("serve", "--model", model.toString(), "--port",
                    Integer.toString(taken.getLocalPort()));
            assertEquals(ExitCodes.USAGE, r.code(), r.err());
            assertTrue(r.err().contains("pick another --port"), r.err());
            assertTrue(r.err().lines().findFirst().orElse("").contains("pick another --port"), r.err());
        }
        CliTestSupport.Run missing = run("serve", "--model", dir.resolve("none.zip").toString());
        assertTrue(missing.code() == ExitCodes.DATA || missing.code() == ExitCodes.MODEL, missing.err());
        assertTrue(missing.err().contains("none.zip"), missing.err());
        assertEquals(ExitCodes.USAGE, run("serve", "--model", model.toString(), "--port", "70000").code());
    }
}
