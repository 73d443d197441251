package dev.cnn.transfer.weights;

import dev.cnn.core.CnnException;
import dev.cnn.core.Json;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The weight-file readers on small files PyTorch wrote ({@code src/test/resources/torch}, made by
 * {@code src/test/python/torch_fixtures.py tiny}): every format gives PyTorch's values, and hostile or broken files
 * are refused with exit 4 before anything is built.
 */
class StateDictTest {
    static final Path DIR = Path.of("src/test/resources/torch");

    @TempDir
    Path tmp;

    @SuppressWarnings("unchecked")
    static Map<String, Object> expected() throws IOException {
        return Json.readMap(Files.readString(DIR.resolve("tiny.expected.json")));
    }

    static float[] values(Map<String, Object> e, String key) {
        List<Number> v = (List<Number>) ((Map<String, Object>) e.get(key)).get("values");
        float[] f = new float[v.size()];
        for (int i = 0; i < f.length; i++) {
            f[i] = v.get(i).floatValue();
        }
        return f;
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"tiny.zip.pth", "tiny.legacy.pth", "tiny.safetensors", "tiny.f16.pth",
            "tiny.bf16.safetensors", "tiny.checkpoint.pth"})
    void everyFormatReadsPyTorchsValuesAndShapes(String name) throws IOException {
        Map<String, Object> exp = expected();
        double tol = name.contains("f16") ? (name.contains("bf16") ? 1e-2 : 1e-3) : 0;
        try (StateDict sd = StateDict.read(DIR.resolve(name))) {
            assertEquals(List.of("conv.weight", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var",
                    "bn.num_batches_tracked", "fc.weight", "fc.bias"), List.copyOf(sd.tensors().keySet()));
            for (String k : sd.tensors().keySet()) {
                TensorData t = sd.tensors().get(k);
                List<Number> shape = (List<Number>) ((Map<String, Object>) exp.get(k)).get("shape");
                assertArrayEquals(shape.stream().mapToLong(Number::longValue).toArray(), t.shape(), k);
                if (!t.dtype().isFloat()) {
                    assertEquals(DType.I64, t.dtype());
                    continue;
                }
                float[] want = values(exp, k);
                float[] got = t.toFloats().reshape(-1).toFloatVector();
                for (int i = 0; i < want.length; i++) {
                    assertEquals(want[i], got[i], tol * Math.max(1, Math.abs(want[i])), k + "[" + i + "]");
                }
            }
        }
    }

    @Test
    void aTransposedViewIsReadInItsLogicalOrder() throws IOException {
        try (StateDict sd = StateDict.read(DIR.resolve("tiny.strided.pth"))) {
            TensorData t = sd.tensors().get("fc.weight.t");
            assertArrayEquals(new long[]{8, 3}, t.shape());
            assertArrayEquals(values(expected(), "fc.weight.t"), t.toFloats().reshape(-1).toFloatVector());
        }
    }

    @Test
    void halfPrecisionConvertsExactlyIncludingSubnormalsAndSpecials() {
        assertEquals(1.0f, DType.halfToFloat(0x3C00));
        assertEquals(-2.0f, DType.halfToFloat(0xC000));
        assertEquals(65504f, DType.halfToFloat(0x7BFF));
        assertEquals((float) Math.pow(2, -24), DType.halfToFloat(0x0001));
        assertEquals(Float.POSITIVE_INFINITY, DType.halfToFloat(0x7C00));
        assertTrue(Float.isNaN(DType.halfToFloat(0x7E00)));
        assertEquals(-0.0f, DType.halfToFloat(0x8000));
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"evil.pth", "evil.zip.pth"})
    void aPickleNamingAnythingOutsideTheAllowListIsRefusedUnexecuted(String name) {
        CnnException e = assertThrows(CnnException.class, () -> StateDict.read(DIR.resolve(name)));
        assertEquals(CnnException.MODEL, e.exitCode());
        assertTrue(e.getMessage().contains("refused") && e.getMessage().contains("system"), e.getMessage());
        assertTrue(e.getMessage().startsWith(DIR.resolve(name).toString()), e.getMessage());
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"tiny.zip.pth", "tiny.legacy.pth", "tiny.safetensors"})
    void aTruncatedFileIsExit4NotACrash(String name) throws IOException {
        byte[] all = Files.readAllBytes(DIR.resolve(name));
        Path cut = tmp.resolve(name);
        Files.write(cut, Arrays.copyOf(all, all.length * 2 / 3));
        CnnException e = assertThrows(CnnException.class, () -> {
            try (StateDict sd = StateDict.read(cut)) {
                for (TensorData t : sd.tensors().values()) {
                    if (t.dtype().isFloat()) {
                        t.toFloats();
                    }
                }
            } catch (IOException io) {
                throw CnnException.model(io.getMessage());
            }
        });
        assertEquals(CnnException.MODEL, e.exitCode(), e.getMessage());
    }

    @Test
    void aSafetensorsHeaderThatLiesAboutOffsetsIsRefused() throws IOException {
        Path f = safetensors("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,64]}}", 16);
        CnnException e = assertThrows(CnnException.class, () -> StateDict.read(f));
        assertEquals(CnnException.MODEL, e.exitCode());
        assertTrue(e.getMessage().contains("lies about tensor w"), e.getMessage());
    }

    @Test
    void aSafetensorsHeaderWhoseSizeDisagreesWithItsShapeIsRefused() throws IOException {
        Path f = safetensors("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", 16);
        assertThrows(CnnException.class, () -> StateDict.read(f));
    }

    @Test
    void overlappingSafetensorsTensorsAreRefused() throws IOException {
        Path f = safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16);
        CnnException e = assertThrows(CnnException.class, () -> StateDict.read(f));
        assertTrue(e.getMessage().contains("overlapping"), e.getMessage());
    }

    @Test
    void aSafetensorsHeaderLengthPastTheEndOfTheFileIsRefused() throws IOException {
        Path f = tmp.resolve("huge.safetensors");
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1L << 40);
        b.put("{}      ".getBytes(StandardCharsets.US_ASCII));
        Files.write(f, b.array());
        CnnException e = assertThrows(CnnException.class, () -> StateDict.read(f));
        assertTrue(e.getMessage().contains("header length"), e.getMessage());
    }

    @Test
    void aFileThatIsNoCheckpointSaysSo() throws IOException {
        Path f = tmp.resolve("notes.pth");
        Files.writeString(f, "hello, these are not weights\n");
        CnnException e = assertThrows(CnnException.class, () -> StateDict.read(f));
        assertEquals(CnnException.MODEL, e.exitCode());
        assertTrue(e.getMessage().contains("not a PyTorch checkpoint"), e.getMessage());
    }

    @Test
    void aSafetensorsFileWrittenHereRoundTrips() throws IOException {
        Path f = safetensors("{\"__metadata__\":{\"format\":\"pt\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],"
                + "\"data_offsets\":[0,16]}}", 16);
        try (StateDict sd = StateDict.read(f)) {
            assertEquals(StateDict.Format.SAFETENSORS, sd.format());
            INDArray w = sd.tensors().get("w").toFloats();
            assertArrayEquals(new float[]{1, 2, 3, 4}, w.reshape(-1).toFloatVector());
            assertFalse(sd.tensors().containsKey("__metadata__"));
        }
    }

    /** A safetensors file with this header and {@code dataBytes} bytes of floats 1, 2, 3, ... */
    Path safetensors(String header, int dataBytes) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        for (int i = 0; i < dataBytes / 4; i++) {
            b.putFloat(i + 1);
        }
        Path f = tmp.resolve("t" + System.nanoTime() + ".safetensors");
        Files.write(f, b.array());
        return f;
    }
}
