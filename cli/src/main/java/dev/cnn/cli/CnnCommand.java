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
        subcommands = {
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
                AutoComplete.GenerateCompletion.class,
        },
        footer = {"", "Exit codes: 0 ok, 1 internal error, 2 usage, 3 data/input error, 4 model error, "
                + "130 interrupted."})
final class CnnCommand implements java.util.concurrent.Callable<Integer> {
    @Spec
    CommandSpec spec;

    /** {@code cnn} without a command: the usage on stderr, exit 2 (a batch job that forgot its command fails). */
    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getErr());
        return ExitCodes.USAGE;
    }
}
