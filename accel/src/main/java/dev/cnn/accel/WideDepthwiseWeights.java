package dev.cnn.accel;

import org.bytedeco.dnnl.IntMemoryMap;
import org.bytedeco.dnnl.convolution_backward_weights;
import org.bytedeco.dnnl.convolution_forward;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.reorder;
import org.bytedeco.dnnl.stream;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.List;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_BIAS;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_WEIGHTS;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SCRATCHPAD;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SRC;
import static org.bytedeco.dnnl.global.dnnl.algorithm;
import static org.bytedeco.dnnl.global.dnnl.prop_kind;

/**
 * The weight gradient of a depthwise convolution wider than 3 (EfficientNet's and MobileNetV3's 5x5, ConvNeXt's 7x7)
 * on oneDNN's depthwise kernel. oneDNN 2.5's depthwise kernel computes weight gradients for kernels up to 3 wide (of
 * any height) only; wider ones went to its GEMM convolution with an im2col per channel, or with blocked activations
 * to its reference kernel: 15 ms for a 5x5 one over 8x144x56x56 where this takes under 1 ms (EfficientNet-B0's nine
 * came to 76 ms of a 570 ms training step; this, 4-5 ms).
 *
 * <p>The kernel's columns are covered by windows three wide at even offsets {@code b = 0, 2, .., kw - 3}. Window
 * {@code b} is a {@code kh x 3} depthwise convolution, on oneDNN's kernel, of the input padded explicitly in width
 * ({@code xp}, the columns {@code -pl .. w + pr - 1} of the input, zeros outside it; padding in height stays the
 * primitive's) and of the output gradient shifted right by {@code b / stride} columns (zeros around it):
 * <pre>
 *   sum over ow' of dy'[ow'] xp[s ow' + j]  =  sum over ow of dy[ow] x[s ow + b + j - pl]  =  dW[b + j]
 * </pre>
 * with {@code ow' = ow + b / s} (so {@code b} a multiple of the stride: strides 1 and 2). Its weight gradient is
 * columns {@code b .. b + 2} of the whole (the windows overlap by a column, which both compute exactly); its bias
 * gradient, when the layer has one, is the first window's (the shifted gradient's sum is the gradient's).
 * {@link #of} answers null where this does not apply or oneDNN would not run a window on its depthwise kernel.
 */
final class WideDepthwiseWeights {
    private final DnnlConvHelper.Geometry g;
    private final long wp; // padded width
    private final long owp; // width of the shifted gradient
    private final long[] offsets; // the windows' first columns
    private final Dnnl.Prim window;
    private final Dnnl.Prim windowWithBias; // the first window when the layer has a bias, else null
    private final memory src; // user layouts, handles set per call
    private final memory diffDst;
    private final memory diffWeights;
    private final memory diffBias;
    private final memory xp; // the padded input and the shifted gradient in the SHIFTED buffer
    private final memory dyShifted;
    private final memory windowWeights; // one window's weight gradient, in the kernel's layout (kept)
    private final Step copyInput;
    private final List<Step> zeroInput = new ArrayList<>(2);
    private final List<List<Step>> perWindow = new ArrayList<>(); // copy and zeros of the shifted gradient
    private final List<Step> gather = new ArrayList<>(); // window weight gradient into the user's columns
    private final long dyShiftedOffset; // bytes from the SHIFTED buffer's start
    private final long zeroBytes;
    private final String implementation;

    /** A reorder between two memories that are pointed at buffers per call. */
    private record Step(memory from, memory to, reorder prim, boolean fromZeros) {
        static Step of(memory.desc from, memory.desc to, boolean fromZeros) {
            memory f = new memory(from, Dnnl.engine(), new Dnnl.Address(0));
            memory t = new memory(to, Dnnl.engine(), new Dnnl.Address(0));
            return new Step(f, t, new reorder(f, t), fromZeros);
        }
    }

    /**
     * The wide depthwise weight gradient for {@code g}, or null: not depthwise, not wider than 3 (or an even width),
     * a stride other than 1 or 2, dilation, channels that are not whole blocks, NHWC, or no depthwise kernel for the
     * windows (small maps: the kernel wants the input at least as high as the kernel).
     *
     * @param user the arrays' layouts: source, weights, bias (null: no bias gradient), destination
     */
    static WideDepthwiseWeights of(DnnlConvHelper.Geometry g, memory.desc[] user) {
        if (g.nhwc() || g.groups() != g.c() || g.oc() != g.c() || g.kw() <= 3 || g.kw() % 2 == 0
                || g.sw() < 1 || g.sw() > 2 || g.dh() != 1 || g.dw() != 1 || g.c() % Dnnl.BLOCK != 0) {
            return null;
        }
        try {
            WideDepthwiseWeights w = new WideDepthwiseWeights(g, user);
            return w.implementation.startsWith("jit") && (w.windowWithBias == null
                    || w.windowWithBias.implementation.startsWith("jit")) ? w : null;
        } catch (RuntimeException e) { // no implementation at all for the windows, or not one like the others
            return null;
        }
    }

    private WideDepthwiseWeights(DnnlConvHelper.Geometry g, memory.desc[] user) {
        this.g = g;
        long n = g.n();
        long c = g.c();
        int s = g.sw();
        wp = g.w() + g.pl() + g.pr();
        owp = (wp - 3) / s + 1;
        int windows = (g.kw() - 1) / 2; // offsets 0, 2, .., kw - 3
        offsets = new long[windows];
        for (int i = 0; i < windows; i++) {
            offsets[i] = 2L * i;
        }
        memory.format_tag blocked = Dnnl.blockedTag();
        memory.desc xpDesc = Dnnl.desc(new long[]{n, c, g.h(), wp}, blocked);
        memory.desc dyDesc = Dnnl.desc(new long[]{n, c, g.oh(), owp}, blocked);
        long[] wDims = {c, 1, 1, g.kh(), 3};
        long[] strides = {g.sh(), s};
        long[] padL = {g.pt(), 0};
        long[] padR = {g.pb(), 0};
        convolution_forward.primitive_desc fwd = new convolution_forward.primitive_desc(
                new convolution_forward.desc(prop_kind.forward_training, algorithm.convolution_direct, xpDesc,
                        Dnnl.any(wDims), dyDesc, strides, new long[]{0, 0}, padL, padR),
                Dnnl.attr(), Dnnl.engine());
        convolution_backward_weights.primitive_desc bw = new convolution_backward_weights.primitive_desc(
                new convolution_backward_weights.desc(algorithm.convolution_direct, xpDesc, Dnnl.any(wDims), dyDesc,
                        strides, new long[]{0, 0}, padL, padR),
                Dnnl.attr(), Dnnl.engine(), fwd);
        window = new Dnnl.Prim(new convolution_backward_weights(bw), bw);
        implementation = window.implementation;
        if (user[2] != null) {
            convolution_backward_weights.primitive_desc bb = new convolution_backward_weights.primitive_desc(
                    new convolution_backward_weights.desc(algorithm.convolution_direct, xpDesc, Dnnl.any(wDims),
                            user[2], dyDesc, strides, new long[]{0, 0}, padL, padR),
                    Dnnl.attr(), Dnnl.engine(), fwd);
            if (!bb.diff_weights_desc().equals(bw.diff_weights_desc())) { // the kept window gradient's layout
                throw new IllegalStateException("window with bias: another weight layout");
            }
            windowWithBias = new Dnnl.Prim(new convolution_backward_weights(bb), bb);
            diffBias = new memory(user[2], Dnnl.engine(), new Dnnl.Address(0));
        } else {
            windowWithBias = null;
            diffBias = null;
        }
        windowWeights = new memory(bw.diff_weights_desc(), Dnnl.engine());
        src = new memory(user[0], Dnnl.engine(), new Dnnl.Address(0));
        diffWeights = new memory(user[1], Dnnl.engine(), new Dnnl.Address(0));
        diffDst = new memory(user[3], Dnnl.engine(), new Dnnl.Address(0));
        xp = new memory(xpDesc, Dnnl.engine(), new Dnnl.Address(0));
        dyShifted = new memory(dyDesc, Dnnl.engine(), new Dnnl.Address(0));
        dyShiftedOffset = align(xpDesc.get_size());

        long h = g.h();
        copyInput = Step.of(user[0], xpDesc.submemory_desc(new long[]{n, c, h, g.w()}, new long[]{0, 0, 0, g.pl()}),
                false);
        long zeros = 0;
        zeros = Math.max(zeros, addZeros(zeroInput, xpDesc, n, c, h, 0, g.pl()));
        zeros = Math.max(zeros, addZeros(zeroInput, xpDesc, n, c, h, g.pl() + g.w(), wp - g.pl() - g.w()));
        long oh = g.oh();
        long ow = g.ow();
        for (long b : offsets) {
            long shift = b / s;
            List<Step> steps = new ArrayList<>(3);
            steps.add(Step.of(user[3], dyDesc.submemory_desc(new long[]{n, c, oh, ow}, new long[]{0, 0, 0, shift}),
                    false));
            zeros = Math.max(zeros, addZeros(steps, dyDesc, n, c, oh, 0, shift));
            zeros = Math.max(zeros, addZeros(steps, dyDesc, n, c, oh, shift + ow, owp - shift - ow));
            perWindow.add(steps);
            gather.add(Step.of(bw.diff_weights_desc(), user[1].submemory_desc(wDims, new long[]{0, 0, 0, 0, b}),
                    false));
        }
        zeroBytes = zeros;
    }

    /** Adds a step writing zeros into columns {@code from .. from + count - 1} of {@code target}; its bytes. */
    private static long addZeros(List<Step> steps, memory.desc target, long n, long c, long rows, long from,
                                 long count) {
        if (count <= 0) {
            return 0;
        }
        long[] dims = {n, c, rows, count};
        memory.desc zeros = Dnnl.desc(dims, Dnnl.blockedTag());
        steps.add(Step.of(zeros, target.submemory_desc(dims, new long[]{0, 0, 0, from}), true));
        return zeros.get_size();
    }

    private static long align(long bytes) {
        return (bytes + 63) & ~63L;
    }

    /** Whether this computes the bias gradient too. */
    boolean hasBias() {
        return windowWithBias != null;
    }

    /** oneDNN's name for the windows' kernel, and how many windows. */
    String implementation() {
        return implementation + " (" + offsets.length + " windows " + g.kh() + "x3)";
    }

    /**
     * Writes the weight gradient into {@code gw} and, where the layer has a bias, the bias gradient into {@code gb},
     * on {@code run}'s stream (all arrays dense in the user layouts; the caller waits for the stream).
     */
    void run(Dnnl.Run run, INDArray in, INDArray delta, INDArray gw, INDArray gb) {
        stream st = run.stream;
        run.kept.add(in); // dense copies made for this call outlive the primitives (Run.finish drops them)
        run.kept.add(delta);
        long shifted = Dnnl.SHIFTED.get().atLeast(dyShiftedOffset + dyShifted.get_desc().get_size(), st);
        long zeros = Dnnl.ZEROS.get().atLeast(zeroBytes, st, true);
        handle(src, Dnnl.address(in), st);
        handle(diffDst, Dnnl.address(delta), st);
        handle(diffWeights, Dnnl.address(gw), st);
        handle(xp, shifted, st);
        handle(dyShifted, shifted + dyShiftedOffset, st);

        exec(copyInput, src, xp, zeros, st);
        for (Step z : zeroInput) {
            exec(z, null, xp, zeros, st);
        }
        for (int i = 0; i < offsets.length; i++) {
            for (Step step : perWindow.get(i)) {
                exec(step, diffDst, dyShifted, zeros, st);
            }
            boolean bias = i == 0 && windowWithBias != null;
            Dnnl.Prim prim = bias ? windowWithBias : window;
            IntMemoryMap m = new IntMemoryMap();
            m.put(DNNL_ARG_SRC, xp);
            m.put(DNNL_ARG_DIFF_DST, dyShifted);
            m.put(DNNL_ARG_DIFF_WEIGHTS, windowWeights);
            if (bias) {
                handle(diffBias, Dnnl.address(gb), st);
                m.put(DNNL_ARG_DIFF_BIAS, diffBias);
            }
            memory scratchpad = prim.scratchpad(st);
            if (scratchpad != null) {
                m.put(DNNL_ARG_SCRATCHPAD, scratchpad);
            }
            prim.prim.execute(st, m);
            m.close();
            exec(gather.get(i), windowWeights, diffWeights, zeros, st);
        }
    }

    /**
     * Runs {@code step} from {@code from}'s buffer (or the zeros) into {@code to}'s: the step's memories take the
     * handles of the memories they are views of.
     */
    private static void exec(Step step, memory from, memory to, long zeros, stream st) {
        handle(step.from, step.fromZeros ? zeros : from.get_data_handle().address(), st);
        handle(step.to, to.get_data_handle().address(), st);
        step.prim.execute(st, step.from, step.to);
    }

    private static void handle(memory m, long address, stream st) {
        m.set_data_handle(new Dnnl.Address(address), st);
    }
}
