package dev.cnn.accel;

import org.deeplearning4j.nn.layers.LayerHelper;

import java.util.Collections;
import java.util.Map;

/** What this package's DL4J layer helpers share: availability is oneDNN's, memory is held by oneDNN itself. */
abstract class DnnlLayerHelper implements LayerHelper {

    @Override
    public Map<String, Long> helperMemoryUse() {
        return Collections.emptyMap();
    }

    @Override
    public boolean checkSupported() {
        return Dnnl.available();
    }
}
