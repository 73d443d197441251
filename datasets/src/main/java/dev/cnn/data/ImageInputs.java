package dev.cnn.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/** The images that inputs name, as {@code cnn classify} reads them: files as given, folders searched recursively. */
public final class ImageInputs {
    private ImageInputs() {
    }

    /**
     * Each input that is a folder becomes its image files (by extension, hidden files left out, sorted); any other
     * input is kept as it is, so a missing file gets an error record of its own. {@code "-"} (stdin) is left out.
     */
    public static List<Path> collect(List<String> inputs) throws IOException {
        List<Path> files = new ArrayList<>();
        for (String in : inputs) {
            if (in.equals("-")) {
                continue;
            }
            Path p = Path.of(in);
            if (Files.isDirectory(p)) {
                try (Stream<Path> s = Files.walk(p)) {
                    s.filter(Files::isRegularFile).filter(f -> !f.getFileName().toString().startsWith("."))
                            .filter(f -> ImageDecoder.isImageName(f.getFileName().toString())).sorted()
                            .forEach(files::add);
                }
            } else {
                files.add(p);
            }
        }
        return files;
    }
}
