package dev.cnn.core;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Temporary files that are renamed over their target when complete ({@code .last.zip.<pid>.<n>.tmp}), named with the
 * id of the process that writes them, so that the ones a killed process left behind (kill -9, a full disk, a
 * power cut) are recognised and deleted by the next run instead of piling up.
 */
public final class TempFiles {
    private static final Pattern OURS = Pattern.compile("\\..+\\.(\\d+)\\.\\d+\\.(tmp|part)");

    private TempFiles() {
    }

    /** A new temporary file for {@code target}, in its folder; {@code suffix} is {@code .tmp} or {@code .part}. */
    public static Path create(Path target, String suffix) throws IOException {
        Path abs = target.toAbsolutePath();
        String prefix = "." + abs.getFileName() + "." + ProcessHandle.current().pid() + ".";
        for (int attempt = 0; ; attempt++) {
            // created with the umask's mode (0644 for most users), as any other file the user writes: a model
            // shared on a team server stays readable (Files.createTempFile would make it 0600)
            Path p = abs.getParent().resolve(prefix + (COUNTER.incrementAndGet() & Long.MAX_VALUE) + suffix);
            try {
                return Files.createFile(p);
            } catch (java.nio.file.FileAlreadyExistsException e) {
                if (attempt > 100) {
                    throw e;
                }
            }
        }
    }

    private static final java.util.concurrent.atomic.AtomicLong COUNTER =
            new java.util.concurrent.atomic.AtomicLong(System.nanoTime() & 0xFFFFFFFL);

    /**
     * Deletes the temporary files in {@code dir} whose process no longer runs.
     *
     * @return how many were deleted
     */
    public static int deleteStale(Path dir) {
        if (!Files.isDirectory(dir)) {
            return 0;
        }
        int n = 0;
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                Matcher m = OURS.matcher(p.getFileName().toString());
                if (m.matches() && ProcessHandle.of(Long.parseLong(m.group(1))).map(h -> !h.isAlive()).orElse(true)) {
                    n += Files.deleteIfExists(p) ? 1 : 0;
                }
            }
        } catch (IOException | NumberFormatException e) {
            return n; // best effort: a leftover file is harmless
        }
        return n;
    }
}
