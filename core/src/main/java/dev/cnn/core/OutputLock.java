package dev.cnn.core;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;

/**
 * One run at a time per output file: a run that writes {@code model.zip} (its checkpoints, epoch log and report
 * beside it) holds an operating-system lock on {@code model.zip.checkpoints/run.lock} meanwhile, and a second run for
 * the same output is refused (exit 3) naming the first run's process, instead of both succeeding with files from
 * different runs. The lock goes with the process (kill -9 included); the file stays (it names the last holder), so
 * that two waiting runs never lock two different files. Re-entrant for the thread that holds it (the CLI holds it
 * around a job that takes it again).
 */
public final class OutputLock implements AutoCloseable {
    private static final Map<Path, OutputLock> HELD = new HashMap<>();
    private final Path file;
    private final FileChannel channel;
    private final FileLock lock;
    private final Thread owner;
    private final boolean createdFolder;
    private int count = 1;

    private OutputLock(Path file, FileChannel channel, FileLock lock, boolean createdFolder) {
        this.file = file;
        this.channel = channel;
        this.lock = lock;
        this.owner = Thread.currentThread();
        this.createdFolder = createdFolder;
    }

    /** The lock file of an output, in its checkpoint folder. */
    public static Path lockFile(Path output) {
        Path abs = output.toAbsolutePath().normalize();
        return abs.resolveSibling(abs.getFileName() + ".checkpoints").resolve("run.lock");
    }

    /**
     * Takes the lock of {@code output}.
     *
     * @throws CnnException (data, exit 3) when another run holds it, naming that run
     */
    public static OutputLock acquire(Path output, String command) {
        Path file = lockFile(output);
        synchronized (HELD) {
            OutputLock held = HELD.get(file);
            if (held != null) {
                if (held.owner == Thread.currentThread()) {
                    held.count++;
                    return held;
                }
                throw busy(output, "this process (" + ProcessHandle.current().pid() + ", another thread)");
            }
            try {
                boolean created = !Files.isDirectory(file.getParent());
                Files.createDirectories(file.getParent());
                FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
                        StandardOpenOption.WRITE);
                FileLock l;
                try {
                    l = ch.tryLock();
                } catch (OverlappingFileLockException e) {
                    l = null;
                }
                if (l == null) {
                    String holder = read(ch);
                    ch.close();
                    throw busy(output, holder.isBlank() ? "another process" : holder);
                }
                ch.truncate(0);
                ch.write(ByteBuffer.wrap(("pid " + ProcessHandle.current().pid() + ", " + command + ", started "
                        + Instant.now()).getBytes(StandardCharsets.UTF_8)), 0);
                ch.force(false);
                OutputLock out = new OutputLock(file, ch, l, created);
                HELD.put(file, out);
                return out;
            } catch (IOException e) {
                throw CnnException.data("cannot lock " + output + " (" + e.getMessage() + "); check that its folder "
                        + "is writable", e);
            }
        }
    }

    private static boolean isOnlyEntry(Path file) throws IOException {
        try (java.util.stream.Stream<Path> s = Files.list(file.getParent())) {
            return s.allMatch(file::equals);
        }
    }

    private static String read(FileChannel ch) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(512);
        int n = ch.read(b, 0);
        return n <= 0 ? "" : new String(b.array(), 0, n, StandardCharsets.UTF_8).trim();
    }

    private static CnnException busy(Path output, String holder) {
        return CnnException.data(output + ": another run is writing it (" + holder + "); wait for it to end or "
                + "choose another --output");
    }

    @Override
    public void close() {
        synchronized (HELD) {
            if (--count > 0) {
                return;
            }
            HELD.remove(file);
            try {
                // a run refused before it wrote anything (a usage or data error) leaves no folder behind
                boolean onlyTheLock = createdFolder && isOnlyEntry(file);
                if (onlyTheLock) {
                    Files.deleteIfExists(file);
                }
                lock.release();
                channel.close();
                if (onlyTheLock) {
                    Files.deleteIfExists(file.getParent());
                }
            } catch (IOException e) {
                // the lock goes with the channel or the process; a leftover folder is harmless
            }
        }
    }
}
