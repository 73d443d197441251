package dev.cnn.cli;

import picocli.CommandLine;

/** {@code cnn --version}: project, DL4J and Java versions. */
final class VersionProvider implements CommandLine.IVersionProvider {
    static String version() {
        String v = Main.class.getPackage().getImplementationVersion();
        return v == null ? "0.1.0-SNAPSHOT" : v;
    }

    @Override
    public String[] getVersion() {
        return new String[]{
                "cnn " + version(),
                "Deeplearning4j 1.0.0-M2.1, Java " + System.getProperty("java.version")
                        + " (" + System.getProperty("java.vm.name") + ")"};
    }
}
