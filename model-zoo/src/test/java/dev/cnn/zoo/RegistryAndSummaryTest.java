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
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
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
                "resnet152",
                // issue #19: the zoo after 2015 and the residual-learning experiment's CIFAR families
                "googlenet", "inception_v3", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small",
                "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3", "densenet121",
                "densenet169", "squeezenet1_0", "squeezenet1_1", "shufflenet_v2_x1_0", "resnext50_32x4d",
                "resnext101_32x8d", "wide_resnet50_2", "regnet_y_400mf", "regnet_y_1_6gf", "convnext_tiny",
                "convnext_small", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "plain20", "plain32",
                "plain44", "plain56")) {
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

    /**
     * Multiply-adds per image against the "GFLOPS" torchvision publishes with each model's weights (multiply-adds of
     * convolutions and linear layers, at the weights' own evaluation size: 224 but for inception_v3 and
     * efficientnet_b1-b3), which are rounded to two decimals.
     */
    @ParameterizedTest(name = "{0} at {1} px")
    @CsvSource({"alexnet,224,0.71", "vgg16,224,15.47", "resnet50,224,4.09", "resnet152,224,11.51",
            "googlenet,224,1.5", "inception_v3,299,5.71", "mobilenet_v2,224,0.3", "mobilenet_v3_large,224,0.22",
            "mobilenet_v3_small,224,0.06", "efficientnet_b0,224,0.39", "efficientnet_b1,240,0.69",
            "efficientnet_b2,288,1.09", "efficientnet_b3,300,1.83", "densenet121,224,2.83", "densenet169,224,3.36",
            "squeezenet1_0,224,0.82", "squeezenet1_1,224,0.35", "shufflenet_v2_x1_0,224,0.14",
            "resnext50_32x4d,224,4.23", "resnext101_32x8d,224,16.41", "wide_resnet50_2,224,11.4",
            "regnet_y_400mf,224,0.4", "regnet_y_1_6gf,224,1.61", "convnext_tiny,224,4.46", "convnext_small,224,8.68"})
    void multiplyAddsAreTheOnesTorchvisionPublishes(String name, int size, double gmacs) {
        ModelSpec spec = ModelSpec.builder().numClasses(1000).input(3, size, size).build();
        long macs = ModelSummary.of(ModelRegistry.get(name), spec).totalMacs();
        assertEquals(gmacs, macs / 1e9, 0.005 + 0.003 * gmacs, name + ": " + macs);
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
