package dev.cnn.cli;

import picocli.AutoComplete;
import picocli.CommandLine.Command;
import picocli.CommandLine.HelpCommand;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** The root {@code cnn} command. */
@Command(name = "cnn",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = "Train, finetune and run convolutional image classifiers (Deeplearning4j).",
        footer = {"", "Exit codes: 0 ok, 1 internal error, 2 usage, 3 data/input error, 4 model error, "
                + "130 interrupted."})
final class CnnCommand implements java.util.concurrent.Callable<Integer> {
    /**
     * The subcommands, in the order the usage lists them. Not in the annotation: {@link Main#commandLine} registers
     * only the one a command line names (picocli reads every registered command's annotations up front: about 70 ms
     * of a one-image classify that takes about a second), and all of them for help, completion and anything else.
     */
    static final java.util.List<Class<?>> SUBCOMMANDS = java.util.List.of(
            TrainCommand.class,
            FinetuneCommand.class,
            ImportCommand.class,
            ClassifyCommand.class,
            ServeCommand.class,
            EvaluateCommand.class,
            VisualizeCommand.class,
            DataCommand.class,
            ModelsCommand.class,
            BenchCommand.class,
            SummaryCommand.class,
            HelpCommand.class,
            AutoComplete.GenerateCompletion.class);

    /** The subcommand class named exactly {@code name} (or one of its aliases), or null. */
    static Class<?> named(String name) {
        for (Class<?> c : SUBCOMMANDS) {
            Command a = c.getAnnotation(Command.class);
            if (a.name().equals(name) || java.util.Arrays.asList(a.aliases()).contains(name)) {
                return c;
            }
        }
        return null;
    }

    @Spec
    CommandSpec spec;

    /** {@code cnn} without a command: the usage on stderr, exit 2 (a batch job that forgot its command fails). */
    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getErr());
        return ExitCodes.USAGE;
    }
}
