package dev.cnn.transfer.weights;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Arrays;

/**
 * One tensor of a checkpoint, read lazily: its element type, shape and strides, and where its elements lie in a
 * {@link Storage}. Nothing is read until {@link #toFloats()}, so that importing a 500 MB file never holds it whole.
 */
public final class TensorData {

    /** Where a storage's bytes are: opened as a stream positioned at its first element. */
    @FunctionalInterface
    public interface Source {
        InputStream open() throws IOException;
    }

    /** A flat run of elements, shared by the tensors that view it (as PyTorch storages are). */
    public record Storage(DType dtype, long numel, Source source, String where) {
    }

    private final DType dtype;
    private final long[] shape;
    private final long[] stride;
    private final long offset;
    private final Storage storage;

    public TensorData(DType dtype, long[] shape, long[] stride, long offset, Storage storage) {
        this.dtype = dtype;
        this.shape = shape.clone();
        this.stride = stride.clone();
        this.offset = offset;
        this.storage = storage;
        if (shape.length != stride.length) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " and stride "
                    + Arrays.toString(stride) + " differ in rank");
        }
        long last = offset;
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] < 0 || stride[i] < 0) {
                throw new IllegalArgumentException("negative size or stride in " + Arrays.toString(shape));
            }
            last += (shape[i] - 1) * stride[i];
        }
        if (numel() > 0 && (offset < 0 || last >= storage.numel())) {
            throw new IllegalArgumentException("tensor of shape " + Arrays.toString(shape) + " at offset " + offset
                    + " reaches past its storage of " + storage.numel() + " elements (" + storage.where() + ")");
        }
    }

    /** A contiguous tensor over a whole storage. */
    public static TensorData contiguous(DType dtype, long[] shape, Storage storage) {
        return new TensorData(dtype, shape, contiguousStrides(shape), 0, storage);
    }

    public DType dtype() {
        return dtype;
    }

    public long[] shape() {
        return shape.clone();
    }

    public long numel() {
        long n = 1;
        for (long s : shape) {
            n *= s;
        }
        return n;
    }

    public String shapeString() {
        return Arrays.toString(shape);
    }

    static long[] contiguousStrides(long[] shape) {
        long[] s = new long[shape.length];
        long acc = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            s[i] = acc;
            acc *= shape[i];
        }
        return s;
    }

    private boolean isContiguous() {
        long[] c = contiguousStrides(shape);
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] > 1 && c[i] != stride[i]) {
                return false;
            }
        }
        return true;
    }

    /** The elements as a float32 array of this shape (a scalar becomes shape [1]), converted from the file's type. */
    public INDArray toFloats() throws IOException {
        long[] s = shape.length == 0 ? new long[]{1} : shape;
        INDArray out = Nd4j.createUninitialized(DataType.FLOAT, s, 'c');
        long n = numel();
        FloatBuffer dst = out.data().asNio().order(ByteOrder.nativeOrder()).asFloatBuffer();
        if (isContiguous()) {
            try (InputStream in = storage.source().open()) {
                skipFully(in, offset * dtype.size);
                copy(in, n, dst);
            }
            return out;
        }
        // a strided view (rare in state dicts): read the storage span it covers, then gather
        long span = 1;
        for (int i = 0; i < shape.length; i++) {
            span += (shape[i] - 1) * stride[i];
        }
        if (span > Integer.MAX_VALUE) {
            throw new IOException("strided tensor spans " + span + " elements; too large to gather");
        }
        FloatBuffer all = FloatBuffer.allocate((int) span);
        try (InputStream in = storage.source().open()) {
            skipFully(in, offset * dtype.size);
            copy(in, span, all);
        }
        float[] src = all.array();
        long[] idx = new long[shape.length];
        for (long k = 0; k < n; k++) {
            long pos = 0;
            for (int i = 0; i < shape.length; i++) {
                pos += idx[i] * stride[i];
            }
            dst.put(src[(int) pos]);
            for (int i = shape.length - 1; i >= 0; i--) {
                if (++idx[i] < shape[i]) {
                    break;
                }
                idx[i] = 0;
            }
        }
        return out;
    }

    private void copy(InputStream in, long n, FloatBuffer dst) throws IOException {
        if (!dtype.isFloat()) {
            throw new IOException(dtype + " tensor is not a floating-point weight");
        }
        byte[] buf = new byte[1 << 20];
        ByteBuffer bb = ByteBuffer.wrap(buf).order(ByteOrder.LITTLE_ENDIAN);
        long remaining = n * dtype.size;
        while (remaining > 0) {
            int want = (int) Math.min(buf.length, remaining);
            readFully(in, buf, want);
            bb.clear().limit(want);
            switch (dtype) {
                case F32 -> {
                    while (bb.hasRemaining()) {
                        dst.put(bb.getFloat());
                    }
                }
                case F16 -> {
                    while (bb.hasRemaining()) {
                        dst.put(DType.halfToFloat(bb.getShort() & 0xFFFF));
                    }
                }
                case BF16 -> {
                    while (bb.hasRemaining()) {
                        dst.put(Float.intBitsToFloat((bb.getShort() & 0xFFFF) << 16));
                    }
                }
                case F64 -> {
                    while (bb.hasRemaining()) {
                        dst.put((float) bb.getDouble());
                    }
                }
                default -> throw new IllegalStateException(dtype.name());
            }
            remaining -= want;
        }
    }

    private void readFully(InputStream in, byte[] buf, int len) throws IOException {
        int off = 0;
        while (off < len) {
            int r = in.read(buf, off, len - off);
            if (r < 0) {
                throw new EOFException("unexpected end of " + storage.where());
            }
            off += r;
        }
    }

    private void skipFully(InputStream in, long n) throws IOException {
        while (n > 0) {
            long k = in.skip(n);
            if (k <= 0) {
                if (in.read() < 0) {
                    throw new EOFException("unexpected end of " + storage.where());
                }
                k = 1;
            }
            n -= k;
        }
    }
}
