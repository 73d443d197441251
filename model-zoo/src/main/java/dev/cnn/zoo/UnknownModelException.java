package dev.cnn.zoo;

import java.util.List;

/** Thrown for a model name that is not registered; the message lists valid names, closest first. */
public class UnknownModelException extends IllegalArgumentException {
    private final String requested;
    private final List<String> suggestions;

    public UnknownModelException(String requested, List<String> suggestions) {
        super("unknown model '" + requested + "'; valid names (closest first): " + String.join(", ", suggestions));
        this.requested = requested;
        this.suggestions = List.copyOf(suggestions);
    }

    public String requested() {
        return requested;
    }

    public List<String> suggestions() {
        return suggestions;
    }
}
