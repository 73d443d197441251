package dev.cnn.zoo;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RegistryAndSummaryTest {

    @Test
    void registryHasTheRequiredNames() {
        List<String> names = ModelRegistry.names();
        for (String n : List.of("lenet", "simplecnn", "alexnet", "alexnet-lrn", "vgg11", "vgg13", "vgg16", "vgg19",
                "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn", "resnet18", "resnet34", "resnet50", "resnet101",
                "resnet152")) {
            assertTrue(names.contains(n), n);
        }
    }

    @Test
    void duplicateNamesFail() {
        Architecture dup = ModelRegistry.get("lenet");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> ModelRegistry.register(dup));
        assertTrue(e.getMessage().contains("lenet"));
    }

    @Test
    void unknownNameListsClosestFirst() {
        UnknownModelException e = assertThrows(UnknownModelException.class, () -> ModelRegistry.get("resnet19"));
        assertEquals("resnet18", e.suggestions().get(0));
        assertTrue(e.getMessage().contains("resnet18") && e.getMessage().contains("vgg16"));
        assertEquals("vgg16_bn", assertThrows(UnknownModelException.class, () -> ModelRegistry.get("vgg16bn"))
                .suggestions().get(0));
    }

    @Test
    void lookupIsCaseAndSeparatorInsensitive() {
        assertSame(ModelRegistry.get("vgg16_bn"), ModelRegistry.get("VGG16-BN"));
        assertSame(ModelRegistry.get("alexnet-lrn"), ModelRegistry.get("alexnet_lrn"));
    }

    @Test
    void lenetHasLeNet5ParameterCount() {
        ModelSpec spec = ModelSpec.builder().numClasses(10).input(1, 28, 28).build();
        ModelSummary s = ModelSummary.of(ModelRegistry.get("lenet"), spec);
        assertEquals(61_706, s.totalParams());
        assertEquals(0, s.totalState());
    }

    @Test
    void mnistCnnHasTheParameterCountKerasReports() {
        ModelSpec spec = ModelSpec.builder().numClasses(10).input(1, 28, 28).build();
        ModelSummary s = ModelSummary.of(ModelRegistry.get("mnist_cnn"), spec);
        assertEquals(1_199_882, s.totalParams()); // Keras' mnist_cnn.py model.summary()
        assertEquals("fc1", ModelRegistry.get("mnist-cnn").featureLayer());
    }

    @Test
    void resnetBatchNormStateCountedApart() {
        ModelSpec spec = ModelSpec.builder().numClasses(1000).input(3, 224, 224).build();
        ModelSummary s = ModelSummary.of(ModelRegistry.get("resnet18"), spec);
        // torchvision resnet18: 4,800 BN channels -> 9,600 running mean/var values (num_batches_tracked aside)
        assertEquals(4_800 * 2, s.totalState());
        // published 1.81 GMACs
        assertEquals(1.81e9, s.totalMacs(), 0.01e9);
    }

    @Test
    void lectureConvExample() {
        // kernel 3, stride 2, padding 1, 3 input channels, 2 output channels: 2*(3*3*3)+2 = 56 parameters
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder()
                .convolutionMode(ConvolutionMode.Truncate)
                .graphBuilder().addInputs("input")
                .addLayer("conv", new ConvolutionLayer.Builder(3, 3).stride(2, 2).padding(1, 1).nIn(3).nOut(2)
                        .activation(Activation.IDENTITY).build(), "input")
                .addLayer("gap", new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), "conv")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(2).nOut(2)
                        .activation(Activation.SOFTMAX).build(), "gap")
                .setOutputs("out")
                .setInputTypes(InputType.convolutional(7, 7, 3))
                .build();
        ModelSummary s = ModelSummary.of(conf, InputType.convolutional(7, 7, 3));
        ModelSummary.Row conv = s.rows().get(0);
        assertEquals("conv", conv.name());
        assertEquals(56, conv.params());
        // floor((7 + 2*1 - 3) / 2) + 1 = 4
        assertEquals("2x4x4", conv.outputShape());
        assertEquals(4 * 4 * 2 * 27, conv.macs());
        assertTrue(s.toTable().contains("56"));
    }

    @Test
    void specValidatesInBuild() {
        assertThrows(IllegalStateException.class, () -> ModelSpec.builder().input(3, 32, 32).build());
        assertThrows(IllegalArgumentException.class,
                () -> ModelSpec.builder().numClasses(0).input(3, 32, 32).build());
        assertEquals(List.of(3, 224, 224), List.of(box(ModelSpec.parseInput("3x224x224"))));
        assertEquals(List.of(3, 64, 64), List.of(box(ModelSpec.parseInput("64"))));
        assertThrows(IllegalArgumentException.class, () -> ModelSpec.parseInput("3x-1x2"));
    }

    private static Integer[] box(int[] a) {
        Integer[] r = new Integer[a.length];
        for (int i = 0; i < a.length; i++) {
            r[i] = a[i];
        }
        return r;
    }
}
