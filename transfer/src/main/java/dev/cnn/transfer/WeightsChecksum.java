package dev.cnn.transfer;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Locale;
import java.util.zip.Adler32;

/**
 * Expected checksum of a weights file: Adler-32 (what DL4J's zoo uses, an unsigned 32-bit value as a decimal) or
 * SHA-256 (hex). Written {@code adler32:3501732770} or {@code sha256:9f86d0...}. A SHA-256 value may be a prefix of
 * at least 8 hex digits: torchvision's and torch.hub's file names carry one ({@code resnet18-f37072fd.pth}), and
 * torch.hub's {@code check_hash} compares just that prefix.
 */
public record WeightsChecksum(Algorithm algorithm, String value) {

    public enum Algorithm { ADLER32, SHA256 }

    public WeightsChecksum {
        if (algorithm == null || value == null || value.isBlank()) {
            throw new IllegalArgumentException("checksum needs an algorithm and a value");
        }
        value = value.trim().toLowerCase(Locale.ROOT);
        if (algorithm == Algorithm.ADLER32) {
            long v;
            try {
                v = Long.parseLong(value);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("adler32 checksum must be a decimal number, got " + value);
            }
            if (v < 0 || v > 0xFFFFFFFFL) {
                throw new IllegalArgumentException("adler32 checksum out of range: " + value);
            }
        } else if (!value.matches("[0-9a-f]{8,64}")) {
            throw new IllegalArgumentException("sha256 checksum must be 8 to 64 hex digits, got " + value);
        }
    }

    public static WeightsChecksum adler32(long value) {
        return new WeightsChecksum(Algorithm.ADLER32, Long.toString(value));
    }

    public static WeightsChecksum sha256(String hex) {
        return new WeightsChecksum(Algorithm.SHA256, hex);
    }

    /** Parses {@code adler32:N} or {@code sha256:HEX}. */
    public static WeightsChecksum parse(String s) {
        int i = s == null ? -1 : s.indexOf(':');
        if (i < 0) {
            throw new IllegalArgumentException("checksum must look like adler32:NUMBER or sha256:HEX, got " + s);
        }
        String alg = s.substring(0, i).trim().toLowerCase(Locale.ROOT).replace("-", "");
        return switch (alg) {
            case "adler32" -> new WeightsChecksum(Algorithm.ADLER32, s.substring(i + 1));
            case "sha256" -> new WeightsChecksum(Algorithm.SHA256, s.substring(i + 1));
            default -> throw new IllegalArgumentException("unknown checksum algorithm '" + alg
                    + "' (adler32 or sha256)");
        };
    }

    /** This file's checksum with this algorithm, in the same notation. */
    public WeightsChecksum of(Path file) throws IOException {
        return new WeightsChecksum(algorithm, compute(algorithm, file));
    }

    public boolean matches(Path file) throws IOException {
        return matchesValue(compute(algorithm, file));
    }

    /** Whether a computed value (as {@link #of} gives) satisfies this one (a SHA-256 prefix matches its start). */
    public boolean matchesValue(String computed) {
        return algorithm == Algorithm.SHA256 ? computed.startsWith(value) : value.equals(computed);
    }

    static String compute(Algorithm algorithm, Path file) throws IOException {
        byte[] buf = new byte[1 << 16];
        try (InputStream in = Files.newInputStream(file)) {
            if (algorithm == Algorithm.ADLER32) {
                Adler32 a = new Adler32();
                for (int n; (n = in.read(buf)) > 0; ) {
                    a.update(buf, 0, n);
                }
                return Long.toString(a.getValue());
            }
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            for (int n; (n = in.read(buf)) > 0; ) {
                md.update(buf, 0, n);
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public String toString() {
        return algorithm.name().toLowerCase(Locale.ROOT) + ":" + value;
    }
}
