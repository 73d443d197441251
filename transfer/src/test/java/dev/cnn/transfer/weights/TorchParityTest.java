package dev.cnn.transfer.weights;

import dev.cnn.zoo.Architecture;
import dev.cnn.zoo.ModelRegistry;
import dev.cnn.zoo.ModelSpec;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;

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
            "vgg19_bn;zip",
            "squeezenet1_0;zip",
            "squeezenet1_1;zip,bf16",
            "googlenet;zip",
            "densenet121;zip",
            "densenet169;safetensors",
            "resnext50_32x4d;zip",
            "resnext101_32x8d;safetensors",
            "wide_resnet50_2;zip",
            "mobilenet_v2;zip",
            "mobilenet_v3_large;zip",
            "mobilenet_v3_small;safetensors",
            "efficientnet_b0;zip",
            "efficientnet_b1;zip",
            "efficientnet_b2;zip",
            "efficientnet_b3;zip",
            "regnet_y_400mf;zip",
            "regnet_y_1_6gf;zip",
            "convnext_tiny;zip",
            "convnext_small;zip",
            "inception_v3;zip",
            "shufflenet_v2_x1_0;zip"})
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
            assertSameLogits(arch + " " + fmt, want, got);
            Files.delete(file);
        }
    }

    /** Within 1e-4 of the largest logit, printed. */
    static void assertSameLogits(String what, float[] want, float[] got) {
        assertEquals(want.length, got.length, what);
        double max = 0;
        double diff = 0;
        for (int i = 0; i < want.length; i++) {
            max = Math.max(max, Math.abs(want[i]));
            diff = Math.max(diff, Math.abs(want[i] - got[i]));
        }
        System.out.printf("parity %s: max |logit| %.3f, max diff %.2e (%.2e relative)%n", what, max, diff,
                diff / max);
        assertTrue(max > 0, what + ": PyTorch's logits are all zero");
        assertTrue(diff <= 1e-4 * max, what + ": logits differ by " + diff + " (largest " + max + ")");
    }

    /**
     * SqueezeNet's and GoogLeNet's max pools round up (ceil mode), which the zoo builds from zero padding and a
     * truncating pool: at the smallest inputs (21, 17) every pool of SqueezeNet rounds up, at 226 every pool of 1_1, at
     * 299 the last of 1_0 (at 224, above, the second of 1_0 and none of 1_1); GoogLeNet's second and third round up at
     * 33, its second and fourth at 250 (at 224, above, the first three).
     */
    @ParameterizedTest(name = "{0} at {1}x{1}")
    @CsvSource({"squeezenet1_0,21", "squeezenet1_0,299", "squeezenet1_1,17", "squeezenet1_1,226", "googlenet,33",
            "googlenet,250"})
    void ceilModePoolsGivePyTorchsLogitsAtSizesWhereTheyRoundUp(String arch, int size) throws Exception {
        PyTorch.fixtures("parity", "--arch", arch, "--formats", "zip", "--size", String.valueOf(size), "--out",
                tmp.toString());
        Architecture a = ModelRegistry.get(arch);
        ComputationGraph g = a.build(ModelSpec.builder().numClasses(1000).input(3, size, size).build());
        try (StateDict sd = StateDict.read(tmp.resolve(arch + ".zip.pth"))) {
            TorchNames.load(g, sd, Set.of(), arch);
        }
        INDArray x = Nd4j.create(PyTorch.floats(tmp.resolve("input.bin")), new long[]{2, 3, size, size}, 'c');
        assertSameLogits(arch + " at " + size, PyTorch.floats(tmp.resolve(arch + ".logits.bin")), logits(g, a, x));
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

    /**
     * {@code cnn finetune --base zoo:squeezenet1_1:imagenet} (the weights given as a file): the default cut is the last
     * Fire module, below the classifier convolution; the new head (pooling, softmax layer) trains on cached features
     * and the base keeps PyTorch's weights.
     */
    @org.junit.jupiter.api.Test
    void aSqueezenetBaseIsCutAtItsLastFireModuleAndGetsANewHead() throws Exception {
        assertEquals("https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth",
                Pretrained.find("squeezenet1_1:imagenet").orElseThrow().url());
        PyTorch.fixtures("parity", "--arch", "squeezenet1_1", "--formats", "zip", "--out", tmp.toString());
        Path file = tmp.resolve("squeezenet1_1.zip.pth");
        dev.cnn.core.TrainConfig cfg = dev.cnn.core.TrainConfig.builder().epochs(2).batchSize(16).lr(1e-2)
                .schedule(dev.cnn.core.LrSchedule.Kind.CONSTANT).seed(3).output(tmp.resolve("sq.zip")).build();
        dev.cnn.transfer.FinetuneJob.Outcome o = dev.cnn.transfer.FinetuneJob.run(new dev.cnn.transfer.FinetuneJob
                .Request("builtin:shapes?n=48&size=16&seed=4", "zoo:squeezenet1_1:imagenet", file,
                dev.cnn.transfer.FinetuneJob.Strategy.FEATURE_EXTRACTION, null, null, 1e-3, 1, true, "none", 0.25,
                false, true, 1, cfg), null, null);
        assertEquals(dev.cnn.core.Trainer.Status.COMPLETED, o.status());
        assertEquals("features.12", o.cut());
        assertTrue(o.phases().get(0).featureCache(), "nothing random before the cut: features computed once");
        ComputationGraph out = dev.cnn.core.ModelBundle.load(tmp.resolve("sq.zip"), false).network();
        assertEquals(java.util.List.of("head"), out.getConfiguration().getNetworkOutputs());
        assertTrue(!out.getConfiguration().getVertices().containsKey("classifier.1"), "the old classifier is gone");
        ComputationGraph imported = TorchImport.run(new TorchImport.Request("squeezenet1_1", file, null, null,
                file.toString())).bundle().network();
        for (String layer : java.util.List.of("features.0", "features.3.squeeze", "features.12.expand3x3")) {
            assertEquals(imported.getLayer(layer).params(), out.getLayer(layer).params(), layer);
        }
        INDArray p = out.outputSingle(false, Nd4j.rand(new int[]{1, 3, 224, 224}));
        assertEquals(4, p.size(1));
        assertEquals(1.0, p.sumNumber().doubleValue(), 1e-4);
    }

    /**
     * The head's pre-softmax output: the feature layer's activations times the head's weights, plus bias; where the
     * head is not the output layer (SqueezeNet's convolution, pooled, then a parameter-free softmax), what the output
     * layer reads.
     */
    static float[] logits(ComputationGraph g, Architecture arch, INDArray x) {
        String out = g.getConfiguration().getNetworkOutputs().get(0);
        if (!out.equals(arch.headLayer())) {
            String in = g.getConfiguration().getVertexInputs().get(out).get(0);
            return g.feedForward(x, false).get(in).reshape(-1).toFloatVector();
        }
        INDArray f = g.feedForward(x, false).get(arch.featureLayer());
        INDArray w = g.getLayer(arch.headLayer()).getParam("W");
        INDArray b = g.getLayer(arch.headLayer()).getParam("b");
        return f.reshape(f.size(0), -1).mmul(w).addiRowVector(b).reshape(-1).toFloatVector();
    }
}
