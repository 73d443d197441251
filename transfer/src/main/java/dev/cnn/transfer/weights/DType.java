package dev.cnn.transfer.weights;

import java.util.Locale;
import java.util.Optional;

/** Element types of checkpoint tensors, with their names in PyTorch storages and in safetensors headers. */
public enum DType {
    F32(4, "FloatStorage", "F32"),
    F16(2, "HalfStorage", "F16"),
    BF16(2, "BFloat16Storage", "BF16"),
    F64(8, "DoubleStorage", "F64"),
    I64(8, "LongStorage", "I64"),
    I32(4, "IntStorage", "I32"),
    I16(2, "ShortStorage", "I16"),
    I8(1, "CharStorage", "I8"),
    U8(1, "ByteStorage", "U8"),
    BOOL(1, "BoolStorage", "BOOL");

    public final int size;
    final String torchStorage;
    final String safetensors;

    DType(int size, String torchStorage, String safetensors) {
        this.size = size;
        this.torchStorage = torchStorage;
        this.safetensors = safetensors;
    }

    /** Weights are read as float; integer tensors (batch norm's {@code num_batches_tracked}) are not weights. */
    public boolean isFloat() {
        return this == F32 || this == F16 || this == BF16 || this == F64;
    }

    static Optional<DType> ofTorchStorage(String name) {
        for (DType d : values()) {
            if (d.torchStorage.equals(name)) {
                return Optional.of(d);
            }
        }
        return Optional.empty();
    }

    static Optional<DType> ofSafetensors(String name) {
        for (DType d : values()) {
            if (d.safetensors.equals(name)) {
                return Optional.of(d);
            }
        }
        return Optional.empty();
    }

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** IEEE 754 half precision to float (Float.float16ToFloat arrives only in Java 20). */
    static float halfToFloat(int h) {
        int sign = (h & 0x8000) << 16;
        int exp = (h >>> 10) & 0x1F;
        int mant = h & 0x3FF;
        if (exp == 0x1F) {
            return Float.intBitsToFloat(sign | 0x7F800000 | (mant << 13));
        }
        if (exp == 0) {
            if (mant == 0) {
                return Float.intBitsToFloat(sign);
            }
            float v = mant / 1024f / 16384f; // subnormal: mant * 2^-24
            return sign != 0 ? -v : v;
        }
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
    }
}
