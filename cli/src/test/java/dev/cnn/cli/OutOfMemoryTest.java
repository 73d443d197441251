package dev.cnn.cli;

import dev.cnn.data.DecodeOutOfMemoryError;
import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Running out of memory ends the CLI with one line (naming the image when decoding) and exit 1, no stack trace. */
class OutOfMemoryTest {
    static String print(OutOfMemoryError e, boolean verbose) {
        StringWriter s = new StringWriter();
        assertEquals(ExitCodes.INTERNAL, Main.outOfMemory(e, new PrintWriter(s), verbose));
        return s.toString();
    }

    @Test
    void aDecodeOutOfMemoryNamesTheImageInOneLine() {
        String out = print(new DecodeOutOfMemoryError(Path.of("big.png"), 8192, 8192, 640L << 20, null), false);
        assertEquals(1, out.lines().count(), out);
        assertTrue(out.startsWith("cnn: error: out of memory decoding big.png (8192 x 8192"), out);
        assertTrue(out.contains("lower --workers"), out);
    }

    @Test
    void anyOtherOutOfMemorySaysWhatToLowerAndTracesOnlyWhenVerbose() {
        String out = print(new OutOfMemoryError("Java heap space"), false);
        assertEquals("cnn: error: out of memory (Java heap space); lower --batch-size or --workers, or raise CNN_HEAP "
                + "(-Xmx)", out.strip());
        assertTrue(print(new OutOfMemoryError("Java heap space"), true).lines().count() > 1);
    }
}
