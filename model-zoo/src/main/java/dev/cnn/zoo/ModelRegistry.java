package dev.cnn.zoo;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The one registry of architectures by name. Registering a name twice fails; looking up an unknown name fails with
 * the valid names, closest first.
 */
public final class ModelRegistry {
    private static final Map<String, Architecture> MODELS = new LinkedHashMap<>();

    static {
        register(new LeNet());
        register(new SimpleCnn());
        register(new KerasMnistCnn());
        register(AlexNet.torchvision());
        register(AlexNet.lrn());
        for (Vgg.Config c : Vgg.Config.values()) {
            register(new Vgg(c, false));
            register(new Vgg(c, true));
        }
        for (ResNet.Depth d : ResNet.Depth.values()) {
            register(new ResNet(d));
        }
        for (SqueezeNet.Version v : SqueezeNet.Version.values()) {
            register(new SqueezeNet(v));
        }
        register(new GoogLeNet());
        for (DenseNet.Depth d : DenseNet.Depth.values()) {
            register(new DenseNet(d));
        }
        register(new InceptionV3());
        register(new ShuffleNet());
        for (MobileNet.Variant v : MobileNet.Variant.values()) {
            register(new MobileNet(v));
        }
        for (EfficientNet.Variant v : EfficientNet.Variant.values()) {
            register(new EfficientNet(v));
        }
        for (RegNet.Variant v : RegNet.Variant.values()) {
            register(new RegNet(v));
        }
        for (ConvNeXt.Variant v : ConvNeXt.Variant.values()) {
            register(new ConvNeXt(v));
        }
        for (int depth : new int[]{20, 32, 44, 56, 110}) {
            register(new CifarResNet(depth, true));
        }
        for (int depth : new int[]{20, 32, 44, 56}) {
            register(new CifarResNet(depth, false));
        }
    }

    private ModelRegistry() {
    }

    /** Adds an architecture; fails if its name is taken. */
    public static synchronized void register(Architecture a) {
        String key = a.name().toLowerCase();
        if (MODELS.containsKey(key)) {
            throw new IllegalStateException("model name registered twice: " + key);
        }
        MODELS.put(key, a);
    }

    /** The architecture registered under {@code name} (case-insensitive, '-' and '_' interchangeable). */
    public static synchronized Architecture get(String name) {
        Architecture a = MODELS.get(normalise(name));
        if (a == null) {
            throw new UnknownModelException(name, closest(name));
        }
        return a;
    }

    public static synchronized boolean contains(String name) {
        return MODELS.containsKey(normalise(name));
    }

    /** All names in registration order. */
    public static synchronized List<String> names() {
        return List.copyOf(MODELS.keySet());
    }

    public static synchronized List<Architecture> all() {
        return List.copyOf(MODELS.values());
    }

    private static String normalise(String name) {
        String n = name.trim().toLowerCase();
        if (MODELS.containsKey(n)) {
            return n;
        }
        String alt = n.replace('-', '_');
        if (MODELS.containsKey(alt)) {
            return alt;
        }
        return n.replace('_', '-');
    }

    /** Valid names ordered by edit distance to {@code name}. */
    static List<String> closest(String name) {
        String n = name.trim().toLowerCase();
        List<String> all = new ArrayList<>(MODELS.keySet());
        all.sort(Comparator.comparingInt((String s) -> distance(n, s)).thenComparing(Comparator.naturalOrder()));
        return Collections.unmodifiableList(all);
    }

    static int distance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }
}
