package dev.cnn.transfer.weights;

import dev.cnn.zoo.Architecture;
import dev.cnn.zoo.ModelRegistry;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Parity with PyTorch for every zoo architecture torchvision has: PyTorch saves the network with seeded random
 * weights (batch-norm statistics randomised, not 0/1) in each format, cnn imports the file, and both networks'
 * logits on the same input agree within 1e-4 of the largest logit. Half-precision files are compared with PyTorch
 * running the same rounded weights.
 */
class TorchParityTest {
    @TempDir
    Path tmp;

    @AfterEach
    void gc() {
        System.gc();
    }

    @ParameterizedTest(name = "{0} ({1})")
    @CsvSource(delimiter = ';', value = {
            "resnet18;zip,legacy,safetensors,f16,bf16",
            "resnet34;zip",
            "resnet50;zip,legacy",
            "resnet101;safetensors",
            "resnet152;zip",
            "alexnet;zip",
            "vgg11;zip",
            "vgg11_bn;safetensors",
            "vgg13;zip",
            "vgg13_bn;zip",
            "vgg16;zip",
            "vgg16_bn;zip",
            "vgg19;zip",
            "vgg19_bn;zip"})
    void importedNetworksGivePyTorchsLogits(String arch, String formats) throws Exception {
        PyTorch.fixtures("parity", "--arch", arch, "--formats", formats, "--out", tmp.toString());
        INDArray x = Nd4j.create(PyTorch.floats(tmp.resolve("input.bin")), new long[]{2, 3, 224, 224}, 'c');
        for (String fmt : formats.split(",")) {
            Path file = tmp.resolve(arch + "." + fmt + (fmt.equals("safetensors") || fmt.equals("bf16")
                    ? ".safetensors" : ".pth"));
            float[] want = PyTorch.floats(tmp.resolve(arch + (fmt.endsWith("f16") ? "." + fmt : "")
                    + ".logits.bin"));
            TorchImport.Result r = TorchImport.run(new TorchImport.Request(arch, file, null, null, file.toString()));
            assertEquals(1000, r.bundle().metadata().numClasses());
            assertTrue(!r.newHead(), "the file's own classifier is kept");
            float[] got = logits(r.bundle().network(), ModelRegistry.get(arch), x);
            double max = 0;
            double diff = 0;
            for (int i = 0; i < want.length; i++) {
                max = Math.max(max, Math.abs(want[i]));
                diff = Math.max(diff, Math.abs(want[i] - got[i]));
            }
            System.out.printf("parity %s %s: max |logit| %.3f, max diff %.2e (%.2e relative)%n", arch, fmt, max,
                    diff, diff / max);
            assertTrue(diff <= 1e-4 * max, arch + " " + fmt + ": logits differ by " + diff + " (largest " + max + ")");
            Files.delete(file);
        }
    }

    @org.junit.jupiter.api.Test
    void aZooImagenetBaseForFinetuningComesFromTheWeightsFileWithItsTransform() throws Exception {
        PyTorch.fixtures("parity", "--arch", "resnet18", "--formats", "zip", "--out", tmp.toString());
        Path file = tmp.resolve("resnet18.zip.pth");
        dev.cnn.transfer.FinetuneJob.Base b = dev.cnn.transfer.FinetuneJob.loadBase("zoo:resnet18:imagenet", file,
                dev.cnn.transfer.PretrainedWeights.fromEnvironment().withCacheDir(tmp.resolve("cache")));
        assertEquals("resnet18", b.architecture());
        assertEquals(256, b.preprocess().resizeShorter());
        assertEquals(224, b.preprocess().height());
        assertTrue(b.source().contains("resnet18:imagenet1k_v1"), b.source());
        INDArray x = Nd4j.create(PyTorch.floats(tmp.resolve("input.bin")), new long[]{2, 3, 224, 224}, 'c');
        float[] want = PyTorch.floats(tmp.resolve("resnet18.logits.bin"));
        float[] got = logits(b.network(), ModelRegistry.get("resnet18"), x);
        assertEquals(want[7], got[7], 1e-4 * Math.abs(want[7]) + 1e-5);
        assertTrue(!Files.exists(tmp.resolve("cache")), "a --weights file is used in place, nothing downloaded");
    }

    /** The head's pre-softmax output: the feature layer's activations times the head's weights, plus bias. */
    static float[] logits(ComputationGraph g, Architecture arch, INDArray x) {
        INDArray f = g.feedForward(x, false).get(arch.featureLayer());
        INDArray w = g.getLayer(arch.headLayer()).getParam("W");
        INDArray b = g.getLayer(arch.headLayer()).getParam("b");
        return f.reshape(f.size(0), -1).mmul(w).addiRowVector(b).reshape(-1).toFloatVector();
    }
}
