package dev.cnn.cli;

import dev.cnn.core.Json;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static dev.cnn.cli.CliTestSupport.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ModelsCliTest {

    @Test
    void helpAndVersion() {
        CliTestSupport.Run help = run("--help");
        assertEquals(0, help.code());
        assertTrue(help.out().contains("models") && help.out().contains("summary"), help.out());
        CliTestSupport.Run v = run("--version");
        assertEquals(0, v.code());
        assertTrue(v.out().startsWith("cnn "), v.out());
        CliTestSupport.Run sub = run("help", "summary");
        assertEquals(0, sub.code());
        assertTrue(sub.out().contains("--input"));
    }

    /**
     * A command line that names its command registers only that one (start-up time), so what reads the others is
     * checked here: the usage lists every command, {@code help} finds any, a typo is a usage error naming the command
     * it is closest to, and a command's own usage comes with it.
     */
    @Test
    void theRootCommandFindsEveryCommandWhileRegisteringOnlyTheOneNamed() {
        CliTestSupport.Run usage = run("--help");
        for (Class<?> c : CnnCommand.SUBCOMMANDS) {
            String name = c.getAnnotation(picocli.CommandLine.Command.class).name();
            assertTrue(usage.out().contains(name), name + " missing from the usage: " + usage.out());
        }
        CliTestSupport.Run help = run("help", "classify");
        assertEquals(0, help.code(), help.err());
        assertTrue(help.out().contains("--top-k"), help.out());
        CliTestSupport.Run typo = run("clasify", "x.png");
        assertEquals(2, typo.code(), typo.err());
        assertTrue(typo.err().contains("classify"), typo.err());
        CliTestSupport.Run own = run("summary", "--help");
        assertEquals(0, own.code(), own.err());
        assertTrue(own.out().contains("--input"), own.out());
        java.io.PrintWriter sink = new java.io.PrintWriter(java.io.Writer.nullWriter());
        assertEquals(java.util.Set.of("summary"), Main.commandLine(sink, sink, 0,
                new String[]{"-v", "summary", "resnet18"}).getSubcommands().keySet(), "only the command named");
        assertEquals(CnnCommand.SUBCOMMANDS.size(), Main.commandLine(sink, sink, 0,
                new String[]{"help", "summary"}).getSubcommands().size(), "help reads them all");
        assertEquals(CnnCommand.SUBCOMMANDS.size(), Main.commandLine(sink, sink, 0,
                new String[]{"--help", "summary"}).getSubcommands().size(), "the root's usage lists them all");
    }

    @Test
    @SuppressWarnings("unchecked")
    void modelsJsonListsEveryArchitectureWithCounts() {
        CliTestSupport.Run r = run("models", "--format", "json");
        assertEquals(0, r.code(), r.err());
        Map<String, Object> doc = Json.readMap(r.out());
        List<Map<String, Object>> models = (List<Map<String, Object>>) doc.get("models");
        Map<String, Object> resnet50 = models.stream().filter(m -> m.get("name").equals("resnet50")).findFirst()
                .orElseThrow();
        assertEquals(25_557_032L, ((Number) resnet50.get("params")).longValue());
        assertTrue(models.size() >= 17);
    }

    @Test
    void modelsTableAtSmallInputMarksTooSmallNets() {
        CliTestSupport.Run r = run("models", "--input", "1x28x28", "--classes", "10");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("61,706"), r.out()); // lenet
        assertTrue(r.out().contains("(min 63 px)"), r.out()); // alexnet
    }

    @Test
    void summaryPrintsLayerTable() {
        CliTestSupport.Run r = run("summary", "resnet18", "--input", "3x64x64", "--classes", "10");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("layer4.1.conv2"), r.out());
        assertTrue(r.out().contains("Total params:         11,181,642"), r.out());
        assertTrue(r.out().contains("512x2x2"), r.out());
    }

    @Test
    void squeezenetsSummaryShowsThePaddingOfACeilModePoolAndTheSoftmaxAfterItsClassifier() {
        CliTestSupport.Run r = run("summary", "squeezenet1_0", "--input", "3x224x224", "--classes", "1000");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("Total params:         1,248,424"), r.out());
        assertTrue(r.out().matches("(?s).*features\\.6\\.pad +ZeroPaddingLayer +256x55x55 .*"), r.out());
        assertTrue(r.out().matches("(?s).*classifier\\.1 +ConvolutionLayer +1000x13x13 +513,000 .*"), r.out());
        assertTrue(r.out().matches("(?s).*softmax +LossLayer +1000 +0 .*"), r.out());
    }

    @Test
    void unknownModelIsUsageErrorWithSuggestions() {
        CliTestSupport.Run r = run("summary", "resnt18");
        assertEquals(2, r.code());
        assertTrue(r.err().endsWith("Try 'cnn summary --help' for more information." + System.lineSeparator())
                && r.err().lines().count() == 2, "one line and the help hint: " + r.err());
        assertTrue(r.err().contains("valid names (closest first): resnet18"), r.err());
        assertFalse(r.err().contains("at dev.cnn"), "no stack trace without --verbose");
    }

    @Test
    void usageErrors() {
        assertEquals(2, run("models", "--input", "banana").code());
        assertEquals(2, run("models", "--format", "xml").code());
        assertEquals(2, run("nosuchcommand").code());
        assertEquals(2, run("summary", "alexnet", "--input", "3x32x32").code());
        // numeric options are range-checked when parsed: exit 2 naming the option and its range
        for (String[] bad : new String[][]{{"train", "--image-size", "0"}, {"train", "--image-size", "100000"},
                {"train", "--channels", "2"}, {"train", "--workers", "0"}, {"finetune", "--base", "m.zip",
                "--batch-size", "0"}, {"evaluate", "--model", "m.zip", "--data", "d", "--batch-size", "0"},
                {"classify", "--model", "m.zip", "--top-k", "0", "x.png"}}) {
            CliTestSupport.Run r = run(bad);
            assertEquals(2, r.code(), String.join(" ", bad) + ": " + r.err());
            assertTrue(r.err().contains("'" + bad[bad.length - (bad[0].equals("classify") ? 3 : 2)] + "'")
                    && r.err().contains("use "), r.err());
        }
        CliTestSupport.Run bare = run();
        assertEquals(2, bare.code(), "cnn without a command is a usage error");
        assertTrue(bare.err().contains("Usage: cnn") && bare.out().isEmpty(), bare.err());
    }
}
