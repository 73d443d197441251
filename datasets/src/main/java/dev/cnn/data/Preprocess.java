package dev.cnn.data;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The image-to-tensor transform a model was trained with, stored in the model bundle so inference repeats it.
 * Tensors are NCHW float32. Channel order: {@link ChannelOrder#RGB} for this project's models; {@code BGR} for DL4J's
 * converted ImageNet weights (DL4J's NativeImageLoader also returns BGR). One channel means luma
 * (0.299 R + 0.587 G + 0.114 B). Transparent pixels are composited on {@link #background()}.
 *
 * <p>{@code resizeShorter} &gt; 0 (with {@link ResizePolicy#CENTER_CROP}) is torchvision's evaluation transform:
 * the shorter side resized to that many pixels with Pillow's antialiased bilinear filter ({@link PilResize}), then
 * the centre {@code height x width} cropped; 0 scales the shorter side straight to the crop size. {@code
 * interpolation} is that resize's filter: bilinear, or bicubic (EfficientNet's published weights).
 */
public record Preprocess(int channels, int height, int width, ResizePolicy resize, ChannelOrder order,
                         Normalization normalization, int background, int resizeShorter,
                         PilResize.Filter interpolation) implements java.io.Serializable {

    public enum ResizePolicy { STRETCH, CENTER_CROP, PAD }

    public enum ChannelOrder { RGB, BGR }

    public static Builder builder() {
        return new Builder();
    }

    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("channels", channels);
        m.put("height", height);
        m.put("width", width);
        m.put("resize", resize.name().toLowerCase(Locale.ROOT));
        if (resizeShorter > 0) {
            m.put("resizeShorter", resizeShorter);
            if (interpolation != PilResize.Filter.BILINEAR) {
                m.put("interpolation", interpolation.name().toLowerCase(Locale.ROOT));
            }
        }
        m.put("channelOrder", order.name().toLowerCase(Locale.ROOT));
        m.put("normalization", normalization.toMap());
        m.put("background", String.format("#%06x", background & 0xFFFFFF));
        m.put("layout", "NCHW");
        return m;
    }

    @SuppressWarnings("unchecked")
    public static Preprocess fromMap(Map<String, Object> m) {
        Object bg = m.getOrDefault("background", "#ffffff");
        return builder().size(((Number) m.get("channels")).intValue(), ((Number) m.get("height")).intValue(),
                        ((Number) m.get("width")).intValue())
                .resize(ResizePolicy.valueOf(((String) m.get("resize")).toUpperCase(Locale.ROOT)))
                .order(ChannelOrder.valueOf(((String) m.get("channelOrder")).toUpperCase(Locale.ROOT)))
                .normalization(Normalization.fromMap((Map<String, Object>) m.get("normalization")))
                .background(Integer.parseInt(((String) bg).substring(1), 16))
                .resizeShorter(m.get("resizeShorter") instanceof Number n ? n.intValue() : 0)
                .interpolation(m.get("interpolation") instanceof String s
                        ? PilResize.Filter.valueOf(s.toUpperCase(Locale.ROOT)) : PilResize.Filter.BILINEAR)
                .build();
    }

    public static final class Builder {
        private Integer channels;
        private Integer height;
        private Integer width;
        private ResizePolicy resize = ResizePolicy.STRETCH;
        private ChannelOrder order = ChannelOrder.RGB;
        private Normalization normalization;
        private int background = 0xFFFFFF;
        private int resizeShorter;
        private PilResize.Filter interpolation = PilResize.Filter.BILINEAR;

        public Builder size(int channels, int height, int width) {
            this.channels = channels;
            this.height = height;
            this.width = width;
            return this;
        }

        public Builder resize(ResizePolicy r) {
            this.resize = r;
            return this;
        }

        public Builder order(ChannelOrder o) {
            this.order = o;
            return this;
        }

        public Builder normalization(Normalization n) {
            this.normalization = n;
            return this;
        }

        /** RGB background for transparent pixels (default white). */
        public Builder background(int rgb) {
            this.background = rgb;
            return this;
        }

        /** torchvision's {@code Resize(n)} before the centre crop (sets the policy to CENTER_CROP); 0: none. */
        /** The filter of the {@link #resizeShorter} resize (bilinear by default). */
        public Builder interpolation(PilResize.Filter f) {
            this.interpolation = f;
            return this;
        }

        public Builder resizeShorter(int n) {
            this.resizeShorter = n;
            if (n > 0) {
                this.resize = ResizePolicy.CENTER_CROP;
            }
            return this;
        }

        public Preprocess build() {
            if (channels == null || height == null || width == null) {
                throw new IllegalStateException("Preprocess: size (channels, height, width) is not set");
            }
            if (channels != 1 && channels != 3) {
                throw new IllegalArgumentException("channels must be 1 or 3, got " + channels);
            }
            if (height < 1 || width < 1 || height > 4096 || width > 4096) {
                throw new IllegalArgumentException("image size must be in 1..4096, got " + height + "x" + width);
            }
            if (normalization == null) {
                throw new IllegalStateException("Preprocess: normalization is not set");
            }
            if (resize == null || order == null) {
                throw new IllegalStateException("Preprocess: resize policy and channel order are required");
            }
            if (resizeShorter < 0 || resizeShorter > 8192 || resizeShorter > 0 && resize != ResizePolicy.CENTER_CROP) {
                throw new IllegalArgumentException("resizeShorter must be 0..8192 and goes with center_crop, got "
                        + resizeShorter + " with " + resize);
            }
            return new Preprocess(channels, height, width, resize, order, normalization, background, resizeShorter,
                    interpolation);
        }
    }
}
