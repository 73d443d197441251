package dev.cnn.viz;

import dev.cnn.core.ModelBundle;
import dev.cnn.data.ImageDataset;
import dev.cnn.data.Sample;
import dev.cnn.data.SkipReport;
import dev.cnn.zoo.ModelRegistry;
import dev.cnn.zoo.ModelSpec;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TopPatchesTest {

    @Test
    void receptiveFieldsGrowThroughConvolutionsAndPoolingAsForTorchvisionsResnet18() {
        ComputationGraph g = ModelRegistry.get("resnet18").build(ModelSpec.builder().numClasses(3)
                .input(3, 64, 64).seed(1).build());
        TopPatches.Field conv1 = TopPatches.field(g, "conv1");
        assertEquals(7, conv1.size(), 1e-9);
        assertEquals(2, conv1.jump(), 1e-9);
        assertEquals(0.5, conv1.start(), 1e-9, "7x7, padding 3: position 0 centred on pixel 0");
        TopPatches.Field pool = TopPatches.field(g, "maxpool");
        assertEquals(11, pool.size(), 1e-9);
        assertEquals(4, pool.jump(), 1e-9);
        // the last block's output: 435 px, the figure usually given for ResNet-18
        String last = g.getConfiguration().getVertexInputs().get("avgpool").get(0);
        assertEquals(435, TopPatches.field(g, last).size(), 1e-9, last);
        assertEquals(32, TopPatches.field(g, last).jump(), 1e-9);
    }

    /** 16x16 gray images; some with a red 3x3 square centred at (3, 11), some with a blue one at (12, 4). */
    static ImageDataset squares() {
        List<Sample> samples = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            BufferedImage img = new BufferedImage(16, 16, BufferedImage.TYPE_INT_RGB);
            for (int y = 0; y < 16; y++) {
                for (int x = 0; x < 16; x++) {
                    img.setRGB(x, y, 0x808080);
                }
            }
            int colour = i < 3 ? 0xFF0000 : i < 6 ? 0x0000FF : -1;
            int cy = i < 3 ? 3 : 12;
            int cx = i < 3 ? 11 : 4;
            if (colour >= 0) {
                for (int y = cy - 1; y <= cy + 1; y++) {
                    for (int x = cx - 1; x <= cx + 1; x++) {
                        img.setRGB(x, y, colour);
                    }
                }
            }
            samples.add(Sample.ofImage("img" + i, img, i % 2));
        }
        return new ImageDataset(List.of("a", "b"), samples);
    }

    @Test
    void aRedDetectorsTopPatchesAreTheRedSquaresAndABlueDetectorsTheBlueOnes() {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder().seed(1).graphBuilder()
                .addInputs("in").setInputTypes(InputType.convolutional(16, 16, 3))
                .addLayer("detect", new ConvolutionLayer.Builder(3, 3).padding(1, 1).nOut(2).hasBias(false)
                        .activation(Activation.IDENTITY).build(), "in")
                .addLayer("pool", new GlobalPoolingLayer.Builder().build(), "detect")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(2)
                        .activation(Activation.SOFTMAX).build(), "pool")
                .setOutputs("out").build();
        ComputationGraph g = new ComputationGraph(conf);
        g.init();
        INDArray w = Nd4j.zeros(2, 3, 3, 3); // [out, in, kh, kw]: channel 0 = R - G - B, channel 1 = B - R - G
        w.get(org.nd4j.linalg.indexing.NDArrayIndex.point(0), org.nd4j.linalg.indexing.NDArrayIndex.point(0)).assign(1);
        w.get(org.nd4j.linalg.indexing.NDArrayIndex.point(0), org.nd4j.linalg.indexing.NDArrayIndex.point(1)).assign(-1);
        w.get(org.nd4j.linalg.indexing.NDArrayIndex.point(0), org.nd4j.linalg.indexing.NDArrayIndex.point(2)).assign(-1);
        w.get(org.nd4j.linalg.indexing.NDArrayIndex.point(1), org.nd4j.linalg.indexing.NDArrayIndex.point(2)).assign(1);
        w.get(org.nd4j.linalg.indexing.NDArrayIndex.point(1), org.nd4j.linalg.indexing.NDArrayIndex.point(0)).assign(-1);
        w.get(org.nd4j.linalg.indexing.NDArrayIndex.point(1), org.nd4j.linalg.indexing.NDArrayIndex.point(1)).assign(-1);
        g.getLayer("detect").setParam("W", w);
        dev.cnn.data.Preprocess pre = dev.cnn.data.Preprocess.builder().size(3, 16, 16)
                .normalization(dev.cnn.data.Normalization.unit()).build();
        ModelBundle bundle = new ModelBundle(g, new dev.cnn.core.BundleMetadata(1, "detectors", List.of("a", "b"), 3,
                16, 16, pre, dev.cnn.core.Provenance.of("x", 0, "none", false, false, 1, 0,
                dev.cnn.core.TrainConfig.builder().output(java.nio.file.Path.of("m.zip")).build(), null), null));

        TopPatches.Result r = TopPatches.compute(bundle, squares(), "detect", 2, 3, 5, new SkipReport(false));
        assertEquals(12, r.images(), "every image streamed, in batches of 5");
        assertEquals(3, r.field().size(), 1e-9);
        assertEquals(Set.of("img0", "img1", "img2"), r.hits().get(0).stream().map(TopPatches.Hit::source)
                .collect(Collectors.toSet()), "the red detector's best are the red squares");
        assertEquals(Set.of("img3", "img4", "img5"), r.hits().get(1).stream().map(TopPatches.Hit::source)
                .collect(Collectors.toSet()));
        for (TopPatches.Hit h : r.hits().get(0)) {
            assertEquals(3, h.y(), "at the square's centre");
            assertEquals(11, h.x());
        }
        assertEquals(List.of(10, 2, 13, 5), java.util.Arrays.stream(r.field().box(3, 11, 16, 16)).boxed().toList(),
                "the 3x3 receptive field around (3, 11)");
        assertTrue(r.image().getWidth() > 60 && r.image().getHeight() > 60);
        // the drawn patches are red in the first channel's block (top left of the grid, below the title)
        int red = 0;
        for (int y = Grid.TITLE_HEIGHT; y < Grid.TITLE_HEIGHT + 60; y++) {
            for (int x = 0; x < 60; x++) {
                int v = r.image().getRGB(x, y);
                if (((v >> 16) & 0xFF) > 200 && (v & 0xFF) < 60) {
                    red++;
                }
            }
        }
        assertTrue(red > 500, "red pixels in the first block: " + red);
    }
}
