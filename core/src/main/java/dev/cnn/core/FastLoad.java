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
 * ({@code coefficients.bin}, ND4J's binary format) are read in one bulk copy instead of one {@code readFloat} per
 * value through an interpreted loop and an intermediate byte-array copy of the entry. Anything unexpected (another
 * data type, a compressed buffer) returns null so the caller falls back to {@code ModelSerializer}.
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
            INDArray params;
            try (DataInputStream in = new DataInputStream(new BufferedInputStream(zip.getInputStream(coef), 1 << 20))) {
                params = readFloatArray(in);
            }
            if (params == null) {
                return null;
            }
            ComputationGraph g = new ComputationGraph(ComputationGraphConfiguration.fromJson(json));
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
        byte[] bytes = new byte[(int) len * 4];
        in.readFully(bytes);
        // big-endian file -> native-order off-heap floats in one bulk copy, then one native buffer
        org.bytedeco.javacpp.FloatPointer ptr = new org.bytedeco.javacpp.FloatPointer(len);
        ptr.asBuffer().put(ByteBuffer.wrap(bytes).order(ByteOrder.BIG_ENDIAN).asFloatBuffer());
        org.nd4j.linalg.api.buffer.DataBuffer buf = Nd4j.createBuffer(ptr, org.nd4j.linalg.api.buffer.DataType.FLOAT,
                len, org.bytedeco.javacpp.indexer.FloatIndexer.create(ptr));
        return Nd4j.create(buf, shape, Nd4j.getStrides(shape, order == 'f' ? 'f' : 'c'), 0, order == 'f' ? 'f' : 'c');
    }
}
