package dev.cnn.core;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Typed reads of one JSON object as Jackson maps it ({@code Map<String,Object>}), for the {@code fromMap} of the
 * bundle's metadata records: a missing key gives the default, a value of the wrong type fails naming the key.
 */
final class MapReader {
    private final String what;
    private final Map<String, Object> map;

    MapReader(String what, Map<String, Object> map) {
        this.what = what;
        this.map = map == null ? Map.of() : map;
    }

    boolean has(String key) {
        return map.get(key) != null;
    }

    String string(String key) {
        Object o = map.get(key);
        if (o == null) {
            return null;
        }
        if (!(o instanceof String s)) {
            throw wrong(key, "a string", o);
        }
        return s;
    }

    Number number(String key) {
        Object o = map.get(key);
        if (o == null) {
            return null;
        }
        if (!(o instanceof Number n)) {
            throw wrong(key, "a number", o);
        }
        return n;
    }

    int integer(String key, int dflt) {
        Number n = number(key);
        return n == null ? dflt : n.intValue();
    }

    double real(String key, double dflt) {
        Number n = number(key);
        return n == null ? dflt : n.doubleValue();
    }

    Boolean bool(String key) {
        Object o = map.get(key);
        if (o == null) {
            return null;
        }
        if (!(o instanceof Boolean b)) {
            throw wrong(key, "true or false", o);
        }
        return b;
    }

    @SuppressWarnings("unchecked")
    Map<String, Object> object(String key) {
        Object o = map.get(key);
        if (o == null) {
            return null;
        }
        if (!(o instanceof Map<?, ?> m)) {
            throw wrong(key, "an object", o);
        }
        return (Map<String, Object>) m;
    }

    <T> List<T> list(String key, Function<Object, T> element) {
        Object o = map.get(key);
        if (o == null) {
            return null;
        }
        if (!(o instanceof List<?> l)) {
            throw wrong(key, "a list", o);
        }
        List<T> out = new ArrayList<>(l.size());
        for (Object e : l) {
            out.add(element.apply(e));
        }
        return out;
    }

    @SuppressWarnings("unchecked")
    <T> List<T> objects(String key, Function<Map<String, Object>, T> element) {
        return list(key, e -> {
            if (!(e instanceof Map<?, ?> m)) {
                throw wrong(key, "a list of objects", e);
            }
            return element.apply((Map<String, Object>) m);
        });
    }

    List<String> strings(String key) {
        return list(key, e -> {
            if (!(e instanceof String s)) {
                throw wrong(key, "a list of strings", e);
            }
            return s;
        });
    }

    private IllegalArgumentException wrong(String key, String expected, Object got) {
        return new IllegalArgumentException(what + "." + key + " must be " + expected + ", got " + got);
    }
}
