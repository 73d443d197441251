package dev.cnn.core;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * Loads the network of a ModelSerializer zip without its updater, faster than {@code ModelSerializer}: the weights
 * ({@code coefficients.bin}, ND4J's binary format) are copied 1 MB at a time straight into native memory instead of
 * one {@code readFloat} per value through an interpreted loop and a byte-array copy of the whole entry, while the
 * configuration is parsed on another thread. Anything unexpected (another data type, a compressed buffer) returns
 * null so the caller falls back to {@code ModelSerializer}.
 */
final class FastLoad {
    private FastLoad() {
    }

    static ComputationGraph graph(Path file) throws IOException {
        try (ZipFile zip = new ZipFile(file.toFile())) {
            ZipEntry conf = zip.getEntry("configuration.json");
            ZipEntry coef = zip.getEntry("coefficients.bin");
            if (conf == null || coef == null) {
                return null;
            }
            String json;
            try (InputStream in = zip.getInputStream(conf)) {
                json = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            }
            // DL4J's JSON mapper set-up and first parse take ~0.6 s of a cold start; run them while this thread
            // reads the weights (which also initialises ND4J's native backend, another ~0.6 s)
            java.util.concurrent.CompletableFuture<ComputationGraphConfiguration> parsed =
                    java.util.concurrent.CompletableFuture.supplyAsync(() -> ComputationGraphConfiguration.fromJson(json));
            INDArray params;
            try (DataInputStream in = new DataInputStream(new BufferedInputStream(zip.getInputStream(coef), 1 << 20))) {
                params = readFloatArray(in);
            }
            if (params == null) {
                return null;
            }
            ComputationGraphConfiguration c;
            try {
                c = parsed.join();
            } catch (java.util.concurrent.CompletionException e) {
                if (e.getCause() instanceof RuntimeException r) {
                    throw r;
                }
                throw e;
            }
            ComputationGraph g = new ComputationGraph(c);
            g.init(params, false);
            return g;
        }
    }

    /** ND4J's {@code Nd4j.write} layout: a LONG shape-info buffer, then the data buffer; FLOAT data only. */
    static INDArray readFloatArray(DataInputStream in) throws IOException {
        String alloc = in.readUTF();
        long n = in.readLong();
        String type = in.readUTF();
        if (!"LONG".equals(type) || n < 3 || n > 64 || alloc.contains("COMPRESSED")) {
            return null;
        }
        long[] info = new long[(int) n];
        for (int i = 0; i < n; i++) {
            info[i] = in.readLong();
        }
        String alloc2 = in.readUTF();
        long len = in.readLong();
        String type2 = in.readUTF();
        if (!"FLOAT".equals(type2) || alloc2.contains("COMPRESSED") || len > Integer.MAX_VALUE / 4) {
            return null;
        }
        int rank = (int) info[0];
        if (rank < 1 || 2 * rank + 4 > n) {
            return null;
        }
        long[] shape = new long[rank];
        long count = 1;
        for (int i = 0; i < rank; i++) {
            shape[i] = info[1 + i];
            count *= shape[i];
        }
        if (count != len) {
            return null;
        }
        char order = (char) info[(int) n - 1];
        // big-endian file -> native-order off-heap floats, 1 MB at a time (a whole-file heap copy costs more than
        // the read: fresh memory is expensive to touch on this project's VMs, ~3 ms per MB)
        org.bytedeco.javacpp.FloatPointer ptr = new org.bytedeco.javacpp.FloatPointer(len);
        java.nio.FloatBuffer dst = ptr.asBuffer();
        byte[] chunk = new byte[1 << 20];
        java.nio.FloatBuffer src = ByteBuffer.wrap(chunk).order(ByteOrder.BIG_ENDIAN).asFloatBuffer();
        long left = len * 4;
        while (left > 0) {
            int step = (int) Math.min(chunk.length, left);
            in.readFully(chunk, 0, step);
            dst.put(src.clear().limit(step / 4));
            left -= step;
        }
        org.nd4j.linalg.api.buffer.DataBuffer buf = Nd4j.createBuffer(ptr, org.nd4j.linalg.api.buffer.DataType.FLOAT,
                len, org.bytedeco.javacpp.indexer.FloatIndexer.create(ptr));
        return Nd4j.create(buf, shape, Nd4j.getStrides(shape, order == 'f' ? 'f' : 'c'), 0, order == 'f' ? 'f' : 'c');
    }
}
