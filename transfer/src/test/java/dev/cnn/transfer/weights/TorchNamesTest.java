package dev.cnn.transfer.weights;

import dev.cnn.core.CnnException;
import dev.cnn.zoo.ModelRegistry;
import dev.cnn.zoo.ModelSpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Name and shape checking of an import, on files written here (no PyTorch needed). */
class TorchNamesTest {
    @TempDir
    Path tmp;

    static Set<String> keys(String arch) {
        return TorchNames.expectedKeys(ModelRegistry.get(arch).configuration(ModelSpec.builder().input(3, 224, 224)
                .numClasses(1000).build()));
    }

    /** A safetensors file with these keys, every tensor a single float. */
    Path file(Collection<String> keys) throws IOException {
        StringBuilder h = new StringBuilder("{");
        int i = 0;
        for (String k : keys) {
            h.append(i > 0 ? "," : "").append('"').append(k).append("\":{\"dtype\":\"F32\",\"shape\":[1],")
                    .append("\"data_offsets\":[").append(4 * i).append(',').append(4 * i + 4).append("]}");
            i++;
        }
        byte[] hb = h.append('}').toString().getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + hb.length + 4 * i).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(hb.length).put(hb);
        Path f = tmp.resolve("w" + System.nanoTime() + ".safetensors");
        Files.write(f, b.array());
        return f;
    }

    @Test
    void torchvisionsNamesAreTheZoosLayerNames() {
        Set<String> r18 = keys("resnet18");
        assertTrue(r18.containsAll(List.of("conv1.weight", "bn1.running_var", "layer2.0.downsample.0.weight",
                "layer4.1.bn2.bias", "fc.weight", "fc.bias")), r18.toString());
        assertEquals(62 + 40, r18.size()); // 21 convolutions + fc (2) + 20 batch norms x 4
        assertTrue(keys("vgg16_bn").containsAll(List.of("features.0.weight", "features.0.bias", "features.1.running_mean",
                "classifier.0.weight", "classifier.3.bias", "classifier.6.weight")));
        assertTrue(keys("alexnet").containsAll(List.of("features.10.weight", "classifier.1.weight",
                "classifier.4.bias", "classifier.6.weight")));
        for (String squeezenet : List.of("squeezenet1_0", "squeezenet1_1")) {
            Set<String> k = keys(squeezenet);
            assertTrue(k.containsAll(List.of("features.0.weight", "features.0.bias", "features.3.squeeze.weight",
                    "features.3.expand1x1.bias", "features.12.expand3x3.weight", "classifier.1.weight",
                    "classifier.1.bias")), k.toString());
            assertEquals(2 * (1 + 8 * 3 + 1), k.size()); // stem, 8 Fire modules of 3 convolutions, classifier
        }
    }

    @Test
    void googlenetsNamesAreTorchvisionsAndItsAuxiliaryClassifiersAreNotRead() throws IOException {
        Set<String> k = keys("googlenet");
        assertTrue(k.containsAll(List.of("conv1.conv.weight", "conv1.bn.running_var", "conv3.bn.weight",
                "inception3a.branch2.1.conv.weight", "inception4e.branch3.0.bn.running_mean",
                "inception5b.branch4.1.bn.bias", "fc.weight", "fc.bias")), k.toString());
        assertEquals(57 + 57 * 4 + 2, k.size()); // 3 stem + 9 x 6 convolutions, each with a batch norm; fc
        List<String> withAux = new ArrayList<>(k);
        withAux.addAll(List.of("aux1.conv.conv.weight", "aux1.fc1.weight", "aux2.fc2.bias"));
        Path f = file(withAux);
        CnnException e = assertThrows(CnnException.class, () -> TorchImport.run(new TorchImport.Request("googlenet",
                f, null, null, f.toString())));
        assertTrue(e.getMessage().contains("conv1.conv.weight is [1] in the file"), e.getMessage());
        assertFalse(e.getMessage().contains("aux"), "published files keep aux1/aux2, the zoo leaves them out: "
                + e.getMessage());
    }

    @Test
    void densenetFilesWithTorchvisionsLegacyNamesAreReadUnderTheCurrentOnes() throws IOException {
        Set<String> k = keys("densenet121");
        assertTrue(k.containsAll(List.of("features.conv0.weight", "features.denseblock1.denselayer1.norm1.weight",
                "features.denseblock4.denselayer16.conv2.weight", "features.transition3.conv.weight",
                "features.norm5.running_var", "classifier.weight")), k.toString());
        List<String> legacy = k.stream().map(n -> n.replaceAll("(denselayer\\d+\\.(?:norm|conv))([12])\\.", "$1.$2."))
                .toList();
        assertTrue(legacy.contains("features.denseblock1.denselayer1.norm.1.weight"), legacy.toString());
        Path f = file(legacy);
        CnnException e = assertThrows(CnnException.class, () -> TorchImport.run(new TorchImport.Request(
                "densenet121", f, null, null, f.toString())));
        assertTrue(e.getMessage().contains("is [1] in the file"), e.getMessage());
        assertFalse(e.getMessage().contains("unexpected") || e.getMessage().contains("missing"), e.getMessage());
    }

    @Test
    void weightsForAnotherArchitectureAreExit4NamingTheArchitectureTheyFit() throws IOException {
        Path f = file(keys("resnet18"));
        CnnException e = assertThrows(CnnException.class, () -> TorchImport.run(new TorchImport.Request("resnet34",
                f, null, null, f.toString())));
        assertEquals(CnnException.MODEL, e.exitCode());
        assertTrue(e.getMessage().contains("does not fit resnet34"), e.getMessage());
        assertTrue(e.getMessage().contains("missing layer1.2.conv1.weight [64, 64, 3, 3]"), e.getMessage());
        assertTrue(e.getMessage().contains("try --model resnet18"), e.getMessage());
    }

    @Test
    void aWrongShapeNamesTheKeyWithBothShapes() throws IOException {
        Path f = file(keys("resnet18"));
        CnnException e = assertThrows(CnnException.class, () -> TorchImport.run(new TorchImport.Request("resnet18",
                f, null, List.of("a", "b"), f.toString())));
        assertTrue(e.getMessage().contains("conv1.weight is [1] in the file, [64, 3, 7, 7] in resnet18"),
                e.getMessage());
    }

    @Test
    void unexpectedKeysAreNamed() throws IOException {
        List<String> k = new java.util.ArrayList<>(keys("resnet18"));
        k.add("extra.weight");
        Path f = file(k);
        CnnException e = assertThrows(CnnException.class, () -> TorchImport.run(new TorchImport.Request("resnet18",
                f, null, null, f.toString())));
        assertTrue(e.getMessage().contains("unexpected extra.weight [1]"), e.getMessage());
    }
}
