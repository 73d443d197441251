package dev.cnn.transfer;

import dev.cnn.core.BundleMetadata;
import dev.cnn.core.LrSchedule;
import dev.cnn.core.ModelBundle;
import dev.cnn.core.Networks;
import dev.cnn.core.TrainConfig;
import dev.cnn.data.Preprocess;
import dev.cnn.zoo.Architecture;
import dev.cnn.zoo.ModelRegistry;
import dev.cnn.zoo.ModelSpec;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.ZipFile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A finetuned network (frozen base, discriminative rates over the run's schedule) is saved with DL4J's classes only,
 * so that plain DL4J loads it (core's {@code PlainDl4jLoadTest} loads such files in a JVM without this project).
 */
class PortableBundleTest {
    private static final Pattern CLASS = Pattern.compile("\"@class\"\\s*:\\s*\"([^\"]+)\"");

    @Test
    void finetunedNetworksAreSavedWithDl4jClassesOnly(@TempDir Path dir) throws Exception {
        Architecture arch = ModelRegistry.get("simplecnn");
        ModelSpec spec = ModelSpec.builder().numClasses(3).input(3, 16, 16).seed(1).build();
        TrainConfig cfg = TrainConfig.builder().epochs(2).batchSize(4).lr(1e-3).seed(1)
                .schedule(LrSchedule.Kind.COSINE).warmupEpochs(0.5).output(dir.resolve("m.zip")).build();
        ComputationGraph base = Networks.forTraining(arch, spec, cfg, 3);
        ComputationGraph net = LearningRates.forPhase(Freezing.freezeUpTo(base, arch.featureLayer()), cfg, 3, 1e-4,
                1e-3, Set.of(arch.headLayer()));
        Set<String> before = foreign(net.getConfiguration().toJson());
        assertTrue(before.contains("dev.cnn.core.LrSchedule"),
                "the live network trains on this project's schedules: " + before);

        INDArray x = Nd4j.rand(new int[]{4, 3, 16, 16});
        INDArray y = Nd4j.zeros(4, 3);
        for (int i = 0; i < 4; i++) {
            y.putScalar(i, i % 3, 1);
        }
        net.fit(new DataSet(x, y));
        net.fit(new DataSet(x, y));
        BundleMetadata meta = BundleMetadata.of(arch.name(), List.of("a", "b", "c"),
                Preprocess.builder().size(3, 16, 16).normalization(dev.cnn.data.Normalization.unit()).build(), null);
        Path bundle = dir.resolve("m.zip");
        Path checkpoint = dir.resolve("last.zip");
        new ModelBundle(net, meta).save(bundle, false);
        new ModelBundle(net, meta).save(checkpoint, true);
        for (Path f : List.of(bundle, checkpoint)) {
            String json = entry(f, "configuration.json");
            assertEquals(Set.of(), foreign(json), f.toString());
            assertTrue(!json.contains("dev.cnn."), f.toString());
            ComputationGraph back = ModelSerializer.restoreComputationGraph(f.toFile(), true);
            assertTrue(net.outputSingle(false, x).equalsWithEps(back.outputSingle(false, x), 1e-5));
            double head = LearningRates.learningRate(net, arch.headLayer());
            assertEquals(head, LearningRates.learningRate(back, arch.headLayer()), 1e-12 * head,
                    "the head's fixed rate is its schedule's rate for the next step");
        }
        assertEquals(before, foreign(net.getConfiguration().toJson()), "the live network keeps its schedules");
    }

    private static Set<String> foreign(String json) {
        Set<String> out = new TreeSet<>();
        Matcher m = CLASS.matcher(json);
        while (m.find()) {
            if (!m.group(1).startsWith("org.nd4j.") && !m.group(1).startsWith("org.deeplearning4j.")) {
                out.add(m.group(1));
            }
        }
        return out;
    }

    private static String entry(Path zip, String name) throws Exception {
        try (ZipFile z = new ZipFile(zip.toFile())) {
            return new String(z.getInputStream(z.getEntry(name)).readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
