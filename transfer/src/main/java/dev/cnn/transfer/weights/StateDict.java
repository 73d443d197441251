package dev.cnn.transfer.weights;

import dev.cnn.core.CnnException;
import dev.cnn.core.Json;
import net.razorvine.pickle.PickleException;

import java.io.BufferedInputStream;
import java.io.Closeable;
import java.io.EOFException;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * The named tensors of a weights file, as PyTorch and the Hugging Face hub publish them:
 * <ul>
 *   <li>{@code torch.save} zip archives (PyTorch 1.6 and later): {@code <name>/data.pkl} plus one entry per
 *       storage;</li>
 *   <li>{@code torch.save} legacy files (before 1.6, and {@code _use_new_zipfile_serialization=False}): a magic
 *       number, three pickles, then the raw storages;</li>
 *   <li>safetensors: an 8-byte header length, a JSON header of dtype, shape and byte offsets, the raw data.</li>
 * </ul>
 * Pickles are read by {@link SafeUnpickler}, which refuses anything but tensors. The tensors may be the top-level
 * object or sit under {@code state_dict} or {@code model}; a {@code module.} prefix (DataParallel) is removed.
 * float32, float16, bfloat16 and float64 tensors are read as float32. Tensor data is read on use; close the
 * instance to release the file.
 */
public final class StateDict implements Closeable {
    public enum Format { TORCH_ZIP, TORCH_LEGACY, SAFETENSORS }

    private static final BigInteger LEGACY_MAGIC = new BigInteger("1950a86a20f9469cfc6c", 16);
    private static final long MAX_HEADER = 100L << 20;

    private final Path file;
    private final Format format;
    private final Map<String, TensorData> tensors;
    private final Closeable resource;

    private StateDict(Path file, Format format, Map<String, TensorData> tensors, Closeable resource) {
        this.file = file;
        this.format = format;
        this.tensors = Collections.unmodifiableMap(tensors);
        this.resource = resource;
    }

    public Path file() {
        return file;
    }

    public Format format() {
        return format;
    }

    /** Tensors by name, in file order. */
    public Map<String, TensorData> tensors() {
        return tensors;
    }

    @Override
    public void close() throws IOException {
        if (resource != null) {
            resource.close();
        }
    }

    /** Reads a weights file's index (not its data); errors are exit-4 {@link CnnException}s naming the file. */
    public static StateDict read(Path file) {
        try {
            if (!Files.isRegularFile(file)) {
                throw CnnException.data(file + ": no such file");
            }
            byte[] head = new byte[512];
            int n;
            try (InputStream in = Files.newInputStream(file)) {
                n = in.readNBytes(head, 0, head.length);
            }
            if (n >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) {
                return readZip(file);
            }
            if (n >= 2 && (head[0] & 0xFF) == 0x80 && head[1] >= 2 && head[1] <= 5) {
                return readLegacy(file);
            }
            if (n > 262 && new String(head, 257, 5, StandardCharsets.US_ASCII).equals("ustar")) {
                throw CnnException.model(file + ": a tar-format checkpoint (PyTorch before 0.4) is not supported; "
                        + "load it in PyTorch and torch.save it again");
            }
            if (n >= 9 && head[8] == '{') {
                return readSafetensors(file);
            }
            throw CnnException.model(file + ": not a PyTorch checkpoint (.pth/.pt) or a safetensors file");
        } catch (NoSuchFileException e) {
            throw CnnException.data(file + ": no such file", e);
        } catch (EOFException e) {
            throw CnnException.model(file + ": truncated (" + e.getMessage() + "); download it again", e);
        } catch (IOException e) {
            if (String.valueOf(e.getMessage()).contains("premature end")) {
                throw CnnException.model(file + ": truncated (the pickle ends early); download it again", e);
            }
            throw CnnException.model(file + ": cannot read (" + e.getMessage() + ")", e);
        } catch (PickleException | ClassCastException | IllegalArgumentException | IndexOutOfBoundsException e) {
            throw CnnException.model(file + ": not a valid PyTorch checkpoint (" + e.getMessage() + ")", e);
        }
    }

    // ------------------------------------------------------------------------------------------------ torch zip

    private static StateDict readZip(Path file) throws IOException {
        ZipFile zip;
        try {
            zip = new ZipFile(file.toFile());
        } catch (java.util.zip.ZipException e) {
            throw new EOFException("not a complete zip archive: " + e.getMessage());
        }
        try {
            ZipEntry pkl = null;
            for (var en = zip.entries(); en.hasMoreElements(); ) {
                ZipEntry e = en.nextElement();
                if (e.getName().endsWith("/data.pkl") && e.getName().indexOf('/') == e.getName().length() - 9) {
                    pkl = e;
                    break;
                }
            }
            if (pkl == null) {
                throw CnnException.model(file + ": a zip file without data.pkl; not a torch.save checkpoint"
                        + (zip.getEntry("cnn-metadata.json") != null ? " (it is a cnn model: pass it as the model)"
                        : ""));
            }
            String prefix = pkl.getName().substring(0, pkl.getName().length() - "data.pkl".length());
            Map<String, TensorData.Storage> storages = new HashMap<>();
            SafeUnpickler u = new SafeUnpickler(file.toString(), pid -> {
                Object[] t = (Object[]) pid;
                if (t.length < 5 || !"storage".equals(t[0]) || !(t[1] instanceof SafeUnpickler.StorageType type)) {
                    throw new PickleException("unknown persistent id");
                }
                String key = String.valueOf(t[2]);
                return storages.computeIfAbsent(key, k -> {
                    ZipEntry e = zip.getEntry(prefix + "data/" + k);
                    if (e == null) {
                        throw new PickleException("storage " + k + " is missing from the archive");
                    }
                    long numel = ((Number) t[4]).longValue();
                    if (e.getSize() >= 0 && e.getSize() < numel * type.dtype().size) {
                        throw new PickleException("storage " + k + " holds " + e.getSize() + " bytes, "
                                + numel * type.dtype().size + " expected");
                    }
                    return new TensorData.Storage(type.dtype(), numel, () -> zip.getInputStream(e),
                            file.getFileName() + ":" + e.getName());
                });
            });
            Object root;
            try (InputStream in = new BufferedInputStream(zip.getInputStream(pkl))) {
                root = u.load(in);
            }
            return new StateDict(file, Format.TORCH_ZIP, tensorsOf(file, root), zip);
        } catch (IOException | RuntimeException e) {
            zip.close();
            throw e;
        }
    }

    // ------------------------------------------------------------------------------------------------ legacy

    private static StateDict readLegacy(Path file) throws IOException {
        Map<String, TensorData.Storage> storages = new HashMap<>();
        Map<String, DType> types = new LinkedHashMap<>();
        Map<String, Long> offsets = new HashMap<>(); // root key -> file offset of its first element
        long fileSize = Files.size(file);
        try (CountingStream in = new CountingStream(new BufferedInputStream(Files.newInputStream(file)))) {
            SafeUnpickler plain = new SafeUnpickler(file.toString(), pid -> {
                throw new PickleException("unexpected persistent id");
            });
            Object magic = plain.load(in);
            if (!(magic instanceof Number m) || !new BigInteger(m.toString()).equals(LEGACY_MAGIC)) {
                throw CnnException.model(file + ": a pickle, but not a torch.save checkpoint (no PyTorch magic "
                        + "number); only state dicts saved by torch.save are read");
            }
            Object protocol = plain.load(in);
            if (!(protocol instanceof Number p) || p.intValue() != 1001) {
                throw CnnException.model(file + ": legacy checkpoint protocol " + protocol + " is not supported");
            }
            Object sysInfo = plain.load(in);
            if (sysInfo instanceof Map<?, ?> info && Boolean.FALSE.equals(info.get("little_endian"))) {
                throw CnnException.model(file + ": saved on a big-endian machine; not supported");
            }
            SafeUnpickler u = new SafeUnpickler(file.toString(), pid -> {
                Object[] t = (Object[]) pid;
                if (t.length < 5 || !"storage".equals(t[0]) || !(t[1] instanceof SafeUnpickler.StorageType type)) {
                    throw new PickleException("unknown persistent id");
                }
                String root = String.valueOf(t[2]);
                long numel = ((Number) t[4]).longValue();
                types.putIfAbsent(root, type.dtype());
                long viewOffset = 0;
                long viewNumel = numel;
                if (t.length > 5 && t[5] instanceof Object[] view) { // (view_key, offset, view_size)
                    viewOffset = ((Number) view[1]).longValue();
                    viewNumel = ((Number) view[2]).longValue();
                }
                long vo = viewOffset;
                String key = root + "@" + viewOffset + "+" + viewNumel;
                long vn = viewNumel;
                return storages.computeIfAbsent(key, k -> new TensorData.Storage(type.dtype(), vn, () -> {
                    Long at = offsets.get(root);
                    if (at == null) {
                        throw new EOFException("storage " + root + " is missing");
                    }
                    FileChannel ch = FileChannel.open(file, StandardOpenOption.READ);
                    ch.position(at + vo * type.dtype().size);
                    return Channels.newInputStream(ch);
                }, file.getFileName() + " storage " + root));
            });
            Object root = u.load(in);
            Object keys = plain.load(in);
            if (!(keys instanceof List<?> keyList)) {
                throw new PickleException("storage key list missing");
            }
            long pos = in.count();
            for (Object k : keyList) {
                String key = String.valueOf(k);
                DType d = types.get(key);
                if (d == null) {
                    throw new PickleException("storage " + key + " listed but not used");
                }
                if (pos + 8 > fileSize) {
                    throw new EOFException("storage " + key + " is cut off");
                }
                ByteBuffer len = ByteBuffer.wrap(in.readNBytes(8)).order(ByteOrder.LITTLE_ENDIAN);
                long numel = len.getLong();
                offsets.put(key, pos + 8);
                pos += 8 + numel * d.size;
                if (pos > fileSize) {
                    throw new EOFException("storage " + key + " is cut off (" + numel + " elements)");
                }
                in.skipNBytes(numel * d.size);
            }
            return new StateDict(file, Format.TORCH_LEGACY, tensorsOf(file, root), null);
        }
    }

    /** Counts the bytes its reader consumed (the position in the file, whatever the buffering beneath). */
    private static final class CountingStream extends FilterInputStream {
        private long count;

        CountingStream(InputStream in) {
            super(in);
        }

        long count() {
            return count;
        }

        @Override
        public int read() throws IOException {
            int b = super.read();
            if (b >= 0) {
                count++;
            }
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int r = super.read(b, off, len);
            if (r > 0) {
                count += r;
            }
            return r;
        }

        @Override
        public long skip(long n) throws IOException {
            long s = super.skip(n);
            count += s;
            return s;
        }
    }

    // ------------------------------------------------------------------------------------------------ safetensors

    private static StateDict readSafetensors(Path file) throws IOException {
        long size = Files.size(file);
        long headerLen;
        byte[] header;
        try (InputStream in = Files.newInputStream(file)) {
            headerLen = ByteBuffer.wrap(in.readNBytes(8)).order(ByteOrder.LITTLE_ENDIAN).getLong();
            if (headerLen <= 0 || headerLen > MAX_HEADER || 8 + headerLen > size) {
                throw CnnException.model(file + ": safetensors header length " + headerLen + " does not fit the "
                        + size + "-byte file; the file is truncated or not safetensors");
            }
            header = in.readNBytes((int) headerLen);
        }
        Map<String, Object> h;
        try {
            h = Json.readMap(new String(header, StandardCharsets.UTF_8));
        } catch (RuntimeException e) {
            Throwable c = e.getCause() != null ? e.getCause() : e;
            throw CnnException.model(file + ": safetensors header is not valid JSON (" + c.getMessage()
                    .lines().findFirst().orElse("") + ")", e);
        }
        long dataStart = 8 + headerLen;
        long dataSize = size - dataStart;
        Map<String, TensorData> out = new LinkedHashMap<>();
        List<long[]> ranges = new ArrayList<>();
        for (Map.Entry<String, Object> e : h.entrySet()) {
            if (e.getKey().equals("__metadata__")) {
                continue;
            }
            String name = e.getKey();
            if (!(e.getValue() instanceof Map<?, ?> t)) {
                throw CnnException.model(file + ": safetensors entry " + name + " is not an object");
            }
            String dt = String.valueOf(t.get("dtype"));
            DType d = DType.ofSafetensors(dt).orElseThrow(() -> CnnException.model(file + ": tensor " + name
                    + " has unsupported dtype " + dt));
            long[] shape = ((List<?>) t.get("shape")).stream().mapToLong(x -> ((Number) x).longValue()).toArray();
            List<?> off = (List<?>) t.get("data_offsets");
            long begin = ((Number) off.get(0)).longValue();
            long end = ((Number) off.get(1)).longValue();
            long numel = 1;
            for (long s : shape) {
                if (s < 0) {
                    throw CnnException.model(file + ": tensor " + name + " has a negative dimension");
                }
                numel = Math.multiplyExact(numel, s);
            }
            if (begin < 0 || end < begin || end > dataSize || end - begin != numel * d.size) {
                throw CnnException.model(file + ": safetensors header lies about tensor " + name + ": bytes "
                        + begin + ".." + end + " for " + numel + " " + d + " elements, in " + dataSize
                        + " bytes of data; the file is truncated or corrupt");
            }
            ranges.add(new long[]{begin, end});
            long at = dataStart + begin;
            TensorData.Storage s = new TensorData.Storage(d, numel, () -> {
                FileChannel ch = FileChannel.open(file, StandardOpenOption.READ);
                ch.position(at);
                return Channels.newInputStream(ch);
            }, file.getFileName() + " tensor " + name);
            out.put(name, TensorData.contiguous(d, shape, s));
        }
        ranges.sort((a, b) -> Long.compare(a[0], b[0]));
        for (int i = 1; i < ranges.size(); i++) {
            if (ranges.get(i)[0] < ranges.get(i - 1)[1]) {
                throw CnnException.model(file + ": safetensors header gives overlapping tensor data; the file is "
                        + "corrupt");
            }
        }
        return new StateDict(file, Format.SAFETENSORS, stripPrefix(out), null);
    }

    // ------------------------------------------------------------------------------------------------ common

    private static Map<String, TensorData> tensorsOf(Path file, Object root) {
        Object r = root;
        if (r instanceof Map<?, ?> m && !hasTensors(m)) {
            for (String k : List.of("state_dict", "model", "model_state_dict", "module")) {
                if (m.get(k) instanceof Map<?, ?> inner && hasTensors(inner)) {
                    r = inner;
                    break;
                }
            }
        }
        if (!(r instanceof Map<?, ?> m) || !hasTensors(m)) {
            String what = r instanceof Map<?, ?> m2 ? "a dict with keys " + preview(m2.keySet())
                    : r == null ? "None" : r.getClass().getSimpleName();
            throw CnnException.model(file + ": holds no state dict (found " + what + "); save one with "
                    + "torch.save(model.state_dict(), PATH)");
        }
        Map<String, TensorData> out = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : m.entrySet()) {
            if (e.getValue() instanceof TensorData t) {
                out.put(String.valueOf(e.getKey()), t);
            }
        }
        return stripPrefix(out);
    }

    private static boolean hasTensors(Map<?, ?> m) {
        return m.values().stream().anyMatch(v -> v instanceof TensorData);
    }

    private static Map<String, TensorData> stripPrefix(Map<String, TensorData> in) {
        if (!in.isEmpty() && in.keySet().stream().allMatch(k -> k.startsWith("module."))) {
            Map<String, TensorData> out = new LinkedHashMap<>();
            in.forEach((k, v) -> out.put(k.substring("module.".length()), v));
            return out;
        }
        return in;
    }

    private static String preview(java.util.Collection<?> keys) {
        List<String> s = keys.stream().limit(6).map(String::valueOf).toList();
        return s + (keys.size() > 6 ? " (+" + (keys.size() - 6) + ")" : "");
    }
}
