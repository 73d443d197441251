package dev.cnn.examples;

import dev.cnn.core.EpochStats;
import dev.cnn.core.Predictor;
import dev.cnn.core.Trainer;
import dev.cnn.transfer.FinetuneJob;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The examples run as the README shows them: train, classify what it made, finetune from it. */
class ExamplesTest {
    @Test
    void trainThenClassifyThreeWaysThenFinetuneFromTheTrainedModel(@TempDir Path dir) throws Exception {
        Path model = dir.resolve("model.zip");
        List<EpochStats> epochs = TrainOnAFolder.train("builtin:shapes?n=200&size=16&seed=3", model, 2, 16);
        assertEquals(2, epochs.size(), "the callback saw every epoch");
        assertTrue(Files.isRegularFile(model));

        Path image = dir.resolve("x.png");
        BufferedImage img = new BufferedImage(20, 20, BufferedImage.TYPE_INT_RGB);
        img.createGraphics().fillOval(4, 4, 12, 12);
        ImageIO.write(img, "png", image.toFile());
        List<Predictor.Prediction> three = ClassifyImages.classify(model, image);
        assertEquals(3, three.size());
        for (Predictor.Prediction p : three) {
            assertTrue(p.ok(), p.error());
            assertArrayEquals(three.get(0).probabilities(), p.probabilities(), 1e-5f, "same image, same answer");
        }

        FinetuneJob.Outcome o = FinetuneFromImportedWeights.finetune("builtin:shapes?n=80&size=16&seed=9",
                model.toString(), null, dir.resolve("finetuned.zip"), 1);
        assertEquals(Trainer.Status.COMPLETED, o.status());
        assertTrue(Files.isRegularFile(dir.resolve("finetuned.zip")));
    }
}
