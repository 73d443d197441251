package dev.cnn.cli;

/** Output formats; machine formats go to stdout, logs and progress to stderr. */
public enum Format {
    table, json, jsonl, csv
}
