package dev.cnn.accel;

import org.bytedeco.dnnl.memory;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.HashMap;
import java.util.Map;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_BIAS;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_WEIGHTS;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_WEIGHTS;

/**
 * The backward pass of a layer with weights (convolution, inner product): oneDNN's backward-data and
 * backward-weights primitives with their ports, between ND4J arrays in the layer's own layouts.
 */
final class WeightedBackward {
    private final Dnnl.Prim data;
    private final Dnnl.Prim weights;
    private final Dnnl.Port dataDiffDst;
    private final Dnnl.Port dataWeights;
    private final Dnnl.Port dataDiffSrc;
    private final Dnnl.Port src;
    private final Dnnl.Port diffDst;
    private final Dnnl.Port diffWeights;
    private final Dnnl.Port diffBias;
    private final WideDepthwiseWeights wide; // the weight gradient when not `weights` (which is then null)

    /**
     * @param user   the arrays' layouts: source, weights, bias, destination
     * @param data   backward-data primitive and the layouts it wants: diff destination, weights, diff source
     * @param wgt    backward-weights primitive and the layouts it wants: source, diff destination, diff weights and
     *               diff bias (null: no bias gradient)
     */
    WeightedBackward(memory.desc[] user, Dnnl.Prim data, memory.desc[] dataDescs, Dnnl.Prim wgt,
                     memory.desc[] wgtDescs) {
        this.data = data;
        this.weights = wgt;
        dataDiffDst = Dnnl.Port.in(user[3], dataDescs[0]);
        dataWeights = Dnnl.Port.in(user[1], dataDescs[1]);
        dataDiffSrc = Dnnl.Port.out(user[0], dataDescs[2]);
        src = Dnnl.Port.in(user[0], wgtDescs[0]);
        diffDst = Dnnl.Port.in(user[3], wgtDescs[1]);
        diffWeights = Dnnl.Port.out(user[1], wgtDescs[2]);
        diffBias = wgtDescs[3] == null ? null : Dnnl.Port.out(user[2], wgtDescs[3]);
        wide = null;
    }

    /** A convolution whose weight (and bias) gradient {@code wide} computes (see {@link WideDepthwiseWeights}). */
    WeightedBackward(memory.desc[] user, Dnnl.Prim data, memory.desc[] dataDescs, WideDepthwiseWeights wide) {
        this.data = data;
        this.weights = null;
        dataDiffDst = Dnnl.Port.in(user[3], dataDescs[0]);
        dataWeights = Dnnl.Port.in(user[1], dataDescs[1]);
        dataDiffSrc = Dnnl.Port.out(user[0], dataDescs[2]);
        src = null;
        diffDst = null;
        diffWeights = null;
        diffBias = null;
        this.wide = wide;
    }

    boolean hasBias() {
        return wide != null ? wide.hasBias() : diffBias != null;
    }

    /**
     * Writes the input gradient into {@code epsOut} (skipped when null), the weight gradient into {@code gw} and,
     * where the primitive has one, the bias gradient into {@code gb}; all arrays dense in the user layouts.
     */
    void run(INDArray in, INDArray w, INDArray delta, INDArray gw, INDArray gb, INDArray epsOut) {
        Dnnl.Run run = Dnnl.run();
        if (epsOut != null) {
            run.exec(data, Map.of(DNNL_ARG_DIFF_DST, dataDiffDst.bind(run, delta),
                    DNNL_ARG_WEIGHTS, dataWeights.bind(run, w), DNNL_ARG_DIFF_SRC, dataDiffSrc.bind(run, epsOut)));
        }
        if (wide != null) {
            wide.run(run, in, delta, gw, gb);
            run.finish();
            return;
        }
        Map<Integer, memory> args = new HashMap<>(6);
        args.put(DNNL_ARG_SRC, src.bind(run, in));
        args.put(DNNL_ARG_DIFF_DST, diffDst.bind(run, delta));
        args.put(DNNL_ARG_DIFF_WEIGHTS, diffWeights.bind(run, gw));
        if (diffBias != null) {
            args.put(DNNL_ARG_DIFF_BIAS, diffBias.bind(run, gb));
        }
        run.exec(weights, args);
        run.finish();
    }

    /** oneDNN's names of the backward-data and backward-weights kernels. */
    java.util.List<String> implementations() {
        return java.util.List.of(data.implementation, wide != null ? wide.implementation() : weights.implementation);
    }
}
