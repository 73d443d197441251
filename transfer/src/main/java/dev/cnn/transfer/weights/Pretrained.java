package dev.cnn.transfer.weights;

import dev.cnn.core.CnnException;
import dev.cnn.core.ModelBundle;
import dev.cnn.transfer.PretrainedWeights;
import dev.cnn.transfer.WeightsDownloadException;
import dev.cnn.zoo.ModelRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * {@code zoo:NAME[:TAG]} with published weights: the registry entry, its file (a {@code --weights} file on disk,
 * else the download cache, else a download checked against the SHA-256 prefix), imported into the zoo network.
 * What {@code cnn finetune --base zoo:resnet18:imagenet} and {@code cnn import weights} share.
 */
public final class Pretrained {
    private static final Logger log = LoggerFactory.getLogger(Pretrained.class);

    private Pretrained() {
    }

    /** The entry for {@code NAME[:TAG]} (a tag of imagenet/default/none: torchvision's default), if any. */
    public static Optional<Weights> find(String nameAndTag) {
        String[] p = nameAndTag.trim().toLowerCase(Locale.ROOT).split(":", 2);
        return Weights.find(p[0], p.length > 1 ? p[1] : null);
    }

    /**
     * The weights file of an entry: {@code weights} when given (it must exist and, when it has the published
     * file's name, its SHA-256 must start with the published prefix), else the cached or downloaded file.
     */
    public static Path file(Weights w, Path weights, PretrainedWeights downloader) {
        if (weights == null) {
            try {
                return downloader.fetch(downloader.mirrored(w.uri(), w.fileName()), w.fileName(), w.checksum());
            } catch (WeightsDownloadException e) {
                throw CnnException.model(e.getMessage(), e);
            } catch (IOException e) {
                throw CnnException.model("cannot download " + w.url() + " (" + e.getMessage() + "); download it "
                        + "and pass it with --weights FILE", e);
            }
        }
        if (!Files.isRegularFile(weights)) {
            throw CnnException.model("--weights " + weights + ": no such file; download " + w.url()
                    + " and pass its path");
        }
        if (isBundle(weights)) {
            throw CnnException.model("--weights " + weights + ": a cnn model, not PyTorch weights for " + w.id()
                    + "; pass it as --base " + weights);
        }
        try {
            if (weights.getFileName().toString().equals(w.fileName()) && !w.checksum().matches(weights)) {
                throw CnnException.model("--weights " + weights + ": not the published " + w.fileName() + " (its "
                        + "SHA-256 does not start with " + w.sha256Prefix() + "): truncated or altered; download "
                        + w.url() + " again");
            }
        } catch (IOException e) {
            throw CnnException.data("--weights " + weights + ": cannot read (" + e.getMessage() + ")", e);
        }
        if (!weights.getFileName().toString().equals(w.fileName())) {
            log.info("{} is not the published {}: checked by its tensor names and shapes only", weights,
                    w.fileName());
        }
        return weights;
    }

    /** Imports an entry's weights into its zoo network (labels null: the entry's). */
    public static TorchImport.Result load(Weights w, Path weights, PretrainedWeights downloader,
                                          List<String> labels) {
        Path file = file(w, weights, downloader);
        return TorchImport.run(new TorchImport.Request(w.model(), file, w, labels,
                weights != null ? weights.toString() : w.url()));
    }

    /** An exit-2 error for {@code NAME[:TAG]} without published weights, saying what exists. */
    public static CnnException unknown(String nameAndTag) {
        String[] p = nameAndTag.trim().toLowerCase(Locale.ROOT).split(":", 2);
        if (!ModelRegistry.contains(p[0])) {
            return CnnException.usage("zoo:" + nameAndTag + ": no architecture " + p[0] + "; with weights: "
                    + String.join(", ", Weights.all().stream().map(Weights::model).distinct().toList()));
        }
        return Weights.unknown(p[0], p.length > 1 ? p[1] : "default");
    }

    static boolean isBundle(Path file) {
        try (java.util.zip.ZipFile z = new java.util.zip.ZipFile(file.toFile())) {
            return z.getEntry(ModelBundle.METADATA_ENTRY) != null;
        } catch (IOException e) {
            return false;
        }
    }
}
