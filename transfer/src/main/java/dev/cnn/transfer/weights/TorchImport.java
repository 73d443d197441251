package dev.cnn.transfer.weights;

import dev.cnn.core.BundleMetadata;
import dev.cnn.core.CnnException;
import dev.cnn.core.ModelBundle;
import dev.cnn.core.Provenance;
import dev.cnn.data.Normalization;
import dev.cnn.data.Preprocess;
import dev.cnn.zoo.Architecture;
import dev.cnn.zoo.ModelRegistry;
import dev.cnn.zoo.ModelSpec;
import org.deeplearning4j.nn.graph.ComputationGraph;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * A zoo network with weights from a PyTorch or safetensors file, as a normal bundle: classifiable, evaluable and a
 * {@code --base} for finetuning. What {@code cnn import weights} and {@code cnn finetune --base zoo:NAME:imagenet}
 * both call.
 *
 * <p>Classes: with labels given, the network gets that many outputs; when that differs from the file's classifier
 * the file's head is left out and a new one initialised (timm's {@code create_model(pretrained=True,
 * num_classes=N)}). Without labels, the registry entry's (ImageNet-1k names) or, for an unknown file, the file's
 * number of classes named {@code 0..N-1} (ImageNet's names for 1000). Input: the registry entry's evaluation transform, else torchvision's
 * ImageNet one (shorter side 256, centre 224, ImageNet mean and std).
 */
public final class TorchImport {
    static {
        dev.cnn.accel.Engine.init(); // before ND4J loads, as for every network this project builds
    }

    private TorchImport() {
    }

    /**
     * @param model   zoo architecture
     * @param file    {@code .pth}/{@code .pt}/{@code .safetensors}
     * @param entry   the registry entry the file is (for preprocessing and labels), or null
     * @param labels  class names for the output layer, or null (see class doc)
     * @param source  where the file came from, for provenance (a URL or the path)
     */
    public record Request(String model, Path file, Weights entry, List<String> labels, String source) {
    }

    /** The bundle and what was copied. */
    public record Result(ModelBundle bundle, TorchNames.Report report, StateDict.Format format, boolean newHead,
                         int fileClasses) {
    }

    /** torchvision's ImageNet evaluation transform, for files not in the registry. */
    public static Preprocess imagenetEval() {
        return Preprocess.builder().size(3, 224, 224).order(Preprocess.ChannelOrder.RGB)
                .normalization(Normalization.imagenet()).resizeShorter(256).build();
    }

    public static Result run(Request req) {
        Architecture arch = ModelRegistry.get(req.model());
        Preprocess pre = req.entry() != null ? req.entry().preprocess() : imagenetEval();
        try (StateDict sd = StateDict.read(req.file())) {
            int fileClasses = headClasses(sd, arch.headLayer());
            List<String> labels = req.labels();
            if (labels == null) {
                labels = req.entry() != null && req.entry().labelNames() != null ? req.entry().labelNames()
                        : fileClasses >= 2 && fileClasses != 1000 ? numbered(fileClasses) : Weights.imagenetLabels();
            }
            boolean newHead = labels.size() != fileClasses;
            ModelSpec spec = ModelSpec.builder().input(pre.channels(), pre.height(), pre.width())
                    .numClasses(labels.size()).seed(42).build();
            ComputationGraph g;
            try {
                g = arch.build(spec);
            } catch (IllegalArgumentException e) {
                throw CnnException.usage(req.model() + ": " + e.getMessage());
            }
            TorchNames.Report report = TorchNames.load(g, sd, newHead ? Set.of(arch.headLayer()) : Set.of(),
                    req.model());
            Provenance.Transfer t = new Provenance.Transfer(req.source(), req.model(), null, "import", null,
                    newHead ? List.of(arch.headLayer()) : List.of(), null, 0, 0, List.of());
            Provenance p = Provenance.of("import:" + req.source(), 0, null, null, null, 0, 0, null, t);
            ModelBundle bundle = new ModelBundle(g, BundleMetadata.of(req.model(), labels, pre, p));
            return new Result(bundle, report, sd.format(), newHead, fileClasses);
        } catch (IOException e) {
            throw CnnException.model(req.file() + ": cannot read (" + e.getMessage() + ")", e);
        }
    }

    /** Outputs of the file's classifier ({@code <head>.weight} rows, or timm's {@code head.fc}), or -1. */
    static int headClasses(StateDict sd, String headLayer) {
        for (String k : List.of(headLayer + ".weight", "head.fc.weight")) {
            TensorData t = sd.tensors().get(k);
            if (t != null && t.shape().length >= 1) {
                return (int) t.shape()[0];
            }
        }
        return -1;
    }

    private static List<String> numbered(int n) {
        List<String> l = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            l.add(Integer.toString(i));
        }
        return l;
    }
}
