package dev.cnn.zoo.layers;

/**
 * A running vertex or layer that can work on a channel-blocked layout: the buffer of an {@code [N, C, H, W]} array
 * holding {@code [N, C / block, H, W, block]} (oneDNN's {@code nChw16c} and {@code nChw8c}), which an engine keeps
 * between its convolutions so that no reorder runs. The engine says which layout the arrays hold; a vertex is never
 * asked for a block that does not divide its channels.
 */
public interface ChannelBlocked {
    /**
     * The layout of the arrays this vertex reads and writes from now on: {@code block} channels innermost, or the plain
     * layout for 0 or 1.
     */
    void channelBlock(int block);

    /** The block last set by {@link #channelBlock}, 0 for the plain layout. */
    int channelBlock();

    /**
     * {@code a}, an {@code [N, C, H, W]} array holding the layout with {@code block} channels innermost (dense, C
     * order), viewed as {@code [N, C / block, H * W, block]}.
     */
    static org.nd4j.linalg.api.ndarray.INDArray blockedView(org.nd4j.linalg.api.ndarray.INDArray a, int block) {
        long[] s = a.shape();
        return a.reshape('c', s[0], s[1] / block, s[2] * s[3], block);
    }
}
