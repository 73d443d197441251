package dev.cnn.accel;

import org.bytedeco.dnnl.IntMemoryMap;
import org.bytedeco.dnnl.engine;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.primitive;
import org.bytedeco.dnnl.primitive_attr;
import org.bytedeco.dnnl.primitive_desc_base;
import org.bytedeco.dnnl.reorder;
import org.bytedeco.dnnl.stream;
import org.bytedeco.javacpp.Pointer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SCRATCHPAD;
import static org.bytedeco.dnnl.global.dnnl.scratchpad_mode;

/**
 * The native runtime: oneDNN 2.5 from JavaCPP's {@code org.bytedeco:dnnl} for the layer helpers in this package,
 * with one CPU engine, a stream per thread, and the glue between ND4J arrays and oneDNN memory (ports, reorders,
 * runs). Which layers of a network use it is {@link GraphPolicy}'s business; whether they do at all is
 * {@link AccelOptions#dnnl()}.
 */
public final class Dnnl {
    /** Channel block of the blocked activation layout used between convolutions: 16 with AVX-512, else 8. */
    static int BLOCK = 16;
    private static memory.format_tag blockedTag = memory.format_tag.nChw16c;
    private static final Logger LOG = LoggerFactory.getLogger(Dnnl.class);
    private static volatile Boolean available;
    private static engine engine;
    private static final ThreadLocal<stream> STREAM = ThreadLocal.withInitial(() -> new stream(engine));
    private static final ThreadLocal<ThreadBuffer> SCRATCHPAD = ThreadLocal.withInitial(ThreadBuffer::new);

    private static final java.util.concurrent.atomic.AtomicBoolean PRELOADING =
            new java.util.concurrent.atomic.AtomicBoolean();

    private Dnnl() {
    }

    /** Whether the library loads here (loaded on the first call). */
    public static boolean available() {
        Boolean a = available;
        if (a == null) {
            synchronized (Dnnl.class) {
                if (available == null) {
                    available = load();
                }
                a = available;
            }
        }
        return a;
    }

    private static boolean load() {
        try {
            engine = new engine(org.bytedeco.dnnl.engine.kind.cpu, 0);
            int avx512 = org.bytedeco.dnnl.global.dnnl.cpu_isa.avx512_core.value;
            if ((org.bytedeco.dnnl.global.dnnl.dnnl_get_effective_cpu_isa() & avx512) != avx512) {
                BLOCK = 8; // AVX2 and older: oneDNN's kernels work on blocks of 8 channels
                blockedTag = memory.format_tag.nChw8c;
            }
            return true;
        } catch (Throwable t) { // no native build for this platform, or the library does not load
            LOG.warn("oneDNN (org.bytedeco:dnnl) not available, using DL4J's own helpers: {}", t.toString());
            return false;
        }
    }

    /**
     * Loads the library on a daemon thread (about 0.3-0.5 s of native loading), for commands that can overlap it
     * with other start-up work; {@link #available} then waits for it. Idempotent.
     *
     * <p>JavaCPP's own classes are initialised first, on the calling thread. {@code Loader.loadLibrary} holds
     * {@code Loader}'s class lock while a library's {@code JNI_OnLoad} waits for {@code Pointer} to be initialised,
     * and {@code Pointer}'s initialiser calls {@code Loader.load()}: a caller loading ND4J's libraries while the new
     * thread was initialising {@code Pointer} (its first step) would deadlock with it. Seen as a classify that never
     * ended when ND4J's load was started on a thread of its own, jstack showing exactly that.
     */
    public static void preload() {
        if (!PRELOADING.compareAndSet(false, true)) {
            return;
        }
        try {
            org.bytedeco.javacpp.Pointer.maxBytes(); // initialises Loader and Pointer on this thread
        } catch (Throwable t) { // e.g. a malformed org.bytedeco.javacpp.* property; later uses fail without the cause
            LOG.warn("JavaCPP did not initialise: {}", t.toString());
            return;
        }
        Thread t = new Thread(Dnnl::available, "onednn-load");
        t.setDaemon(true);
        t.start();
    }

    /** The blocked activation layout (nChw16c or nChw8c, see {@link #BLOCK}). */
    static memory.format_tag blockedTag() {
        return blockedTag;
    }

    static engine engine() {
        return engine;
    }

    /** A reorder between two layouts of the same tensor, both held by ND4J arrays. */
    static final class Reorder {
        private final memory from;
        private final memory to;
        private final reorder prim;

        Reorder(memory.desc fromDesc, memory.desc toDesc) {
            from = new memory(fromDesc, engine, new Address(0));
            to = new memory(toDesc, engine, new Address(0));
            prim = new reorder(from, to);
        }

        void run(INDArray src, INDArray dst) {
            stream s = STREAM.get();
            from.set_data_handle(new Address(address(src)), s);
            to.set_data_handle(new Address(address(dst)), s);
            prim.execute(s, from, to);
            s._wait();
        }
    }

    /** Whether {@code a} is dense in C order (its buffer can be handed to oneDNN as it is). */
    static boolean isDense(INDArray a) {
        long[] shape = a.shape();
        long[] stride = a.stride();
        long expected = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            if (shape[i] != 1 && stride[i] != expected) {
                return false;
            }
            expected *= shape[i];
        }
        return true;
    }

    /** Copies dense {@code src} into dense {@code dst} of the same length, byte for byte. */
    static void copy(INDArray src, INDArray dst) {
        if (src.length() != dst.length() || src.dataType() != dst.dataType() || !isDense(src) || !isDense(dst)) {
            throw new IllegalArgumentException("copy needs two dense arrays of one length and type");
        }
        Pointer.memcpy(new Address(address(dst)), new Address(address(src)), src.length() * src.data().getElementSize());
    }

    /** {@code a} itself when dense, else a dense copy. */
    static INDArray dense(INDArray a) {
        return isDense(a) ? a : a.dup('c');
    }

    /** Native address of the first element of {@code a}. */
    static long address(INDArray a) {
        Pointer p = a.data().addressPointer();
        return p.address() + p.position() * a.data().getElementSize();
    }

    static memory.desc desc(long[] dims, memory.format_tag tag) {
        return new memory.desc(dims, memory.data_type.f32, tag);
    }

    static memory.desc any(long[] dims) {
        return desc(dims, memory.format_tag.any);
    }

    /** A raw address as a JavaCPP pointer, for {@code memory.set_data_handle}. */
    static final class Address extends Pointer {
        Address(long address) {
            this.address = address;
        }
    }

    /**
     * One argument of a primitive: memory in the layout the primitive wants, fed from (and/or written back to) an
     * ND4J array in the user's layout, with reorders between them when the two differ. The primitive-layout copy
     * only lives while one primitive runs, so it has no memory of its own: {@link Run#exec} points it at the
     * running thread's arena ({@link ThreadBuffer}), shared by every port (a network's ports, each the size of an
     * activation or a weight tensor, had kept 142 MB for resnet18@64 at batch 32 and 333 MB for resnet50@224 at
     * batch 16).
     */
    static final class Port {
        final boolean input;
        final boolean output;
        final memory user;
        final memory inner; // == user when the layouts agree; else its buffer is set by Run.exec
        final long innerBytes; // 0 when the layouts agree
        private final reorder toInner;
        private final reorder toUser;
        private memory kept; // fixed(): the primitive-layout copy that outlives a call (inference weights)

        private Port(memory.desc userDesc, memory.desc innerDesc, boolean input, boolean output) {
            this.input = input;
            this.output = output;
            this.user = new memory(userDesc, engine, new Address(0));
            if (userDesc.equals(innerDesc)) {
                inner = user;
                innerBytes = 0;
                toInner = null;
                toUser = null;
            } else {
                inner = new memory(innerDesc, engine, new Address(0));
                innerBytes = innerDesc.get_size();
                PORT_BYTES.addAndGet(innerBytes);
                toInner = input ? new reorder(user, inner) : null;
                toUser = output ? new reorder(inner, user) : null;
            }
        }

        /** Read by the primitive. */
        static Port in(memory.desc userDesc, memory.desc innerDesc) {
            return new Port(userDesc, innerDesc, true, false);
        }

        /** Written by the primitive. */
        static Port out(memory.desc userDesc, memory.desc innerDesc) {
            return new Port(userDesc, innerDesc, false, true);
        }

        /** An argument in the array's own layout (no reorder either way). */
        static Port same(memory.desc desc) {
            return new Port(desc, desc, false, false);
        }

        /** Read and written (a destination that a sum post-op adds to). */
        static Port inOut(memory.desc userDesc, memory.desc innerDesc) {
            return new Port(userDesc, innerDesc, true, true);
        }

        boolean reorders() {
            return inner != user;
        }

        /** Points this port at {@code array} (dense, in the user layout) for the coming {@link Run#exec}. */
        memory bind(Run run, INDArray array) {
            run.kept.add(array); // a dense copy made for this call must outlive the primitive
            user.set_data_handle(new Address(address(array)), run.stream);
            if (inner != user) {
                run.staged.add(this);
                if (input) {
                    run.before.add(this);
                }
                if (output) {
                    run.after.add(this);
                }
            }
            return inner;
        }

        /**
         * The input {@code array} (dense, in the user layout) reordered into memory of this port's own that stays
         * until the next call, for arguments that do not change between calls (an inference copy's weights);
         * {@code refill} false hands back what the last call reordered.
         */
        memory fixed(Run run, INDArray array, boolean refill) {
            if (kept == null) {
                kept = new memory(inner.get_desc(), engine);
                refill = true;
            }
            if (refill) {
                user.set_data_handle(new Address(address(array)), run.stream);
                toInner.execute(run.stream, user, kept);
            }
            return kept;
        }

        void toInner(stream s) {
            toInner.execute(s, user, inner);
        }

        void toUser(stream s) {
            toUser.execute(s, inner, user);
        }
    }

    /**
     * Attributes for the primitives of this package (reorders aside): the caller passes the scratchpad
     * ({@link Prim}). With oneDNN's default (library) mode, oneDNN 2.5 keeps the scratchpad of some implementations
     * (GEMM/im2col convolutions, Winograd: {@code USE_GLOBAL_SCRATCHPAD}) in thread-local storage of the thread that
     * <em>created</em> the primitive, so running such a primitive on another thread (a network made on one thread,
     * used from a pool) handed it a null scratchpad: SIGSEGV in {@code jit_gemm_convolution_utils::im2col}. Reorders
     * keep the library mode: no reorder implementation uses the global scratchpad.
     */
    static primitive_attr attr() {
        primitive_attr a = new primitive_attr();
        a.set_scratchpad_mode(scratchpad_mode.user);
        return a;
    }

    /**
     * A primitive made with {@link #attr()} and the scratchpad it needs: when it runs, its scratchpad memory points at
     * the running thread's scratchpad buffer, so it runs on any thread (one call at a time, as the helpers serialise).
     */
    static final class Prim {
        final primitive prim;
        private final memory scratchpad; // null: the primitive needs none
        private final long scratchpadSize;

        final String implementation; // oneDNN's name for the kernel, e.g. jit_dw:avx512_common

        Prim(primitive prim, primitive_desc_base pd) {
            this.prim = prim;
            this.implementation = pd.impl_info_str().getString();
            memory.desc d = pd.scratchpad_desc();
            scratchpadSize = d.get_size();
            scratchpad = scratchpadSize == 0 ? null : new memory(d, engine, new Address(0));
        }

        /**
         * The scratchpad memory pointed at the calling thread's scratchpad buffer (grown as needed), or null when the
         * primitive needs none.
         */
        memory scratchpad(stream s) {
            if (scratchpad != null) {
                scratchpad.set_data_handle(new Address(SCRATCHPAD.get().atLeast(scratchpadSize, s)), s);
            }
            return scratchpad;
        }
    }

    /**
     * A buffer of the calling thread grown to the largest size asked for, only read and written while one primitive
     * (and its reorders) runs, so one buffer serves them all; kept until the thread ends or {@link
     * #releaseThreadBuffers}. Two per thread: the scratchpad, oneDNN's global scratchpad but for the thread that runs
     * a primitive rather than the one that created it; and the arena, where {@link Run#exec} lays out the
     * primitive-layout copies of a primitive's {@link Port}s (one after the other, 64-byte aligned).
     */
    static final class ThreadBuffer {
        private memory buffer;
        private long base;
        private long size;

        long atLeast(long bytes, stream s) {
            return atLeast(bytes, s, false);
        }

        /** {@code zeroed}: a new buffer is filled with zeros (callers that never write to it keep it so). */
        long atLeast(long bytes, stream s, boolean zeroed) {
            if (bytes > size) {
                s._wait(); // the old buffer may still be read by a primitive in flight
                release();
                buffer = new memory(new memory.desc(new long[]{bytes}, memory.data_type.u8, memory.format_tag.a),
                        engine);
                base = buffer.get_data_handle().address();
                size = bytes;
                if (zeroed) {
                    Pointer.memset(new Address(base), 0, bytes);
                }
            }
            return base;
        }

        void release() {
            if (buffer != null) {
                buffer.close();
                buffer = null;
            }
            size = 0;
        }
    }

    private static final ThreadLocal<ThreadBuffer> ARENA = ThreadLocal.withInitial(ThreadBuffer::new);
    /** Working copies of {@link WideDepthwiseWeights} (the padded input, the shifted gradient), and its zeros. */
    static final ThreadLocal<ThreadBuffer> SHIFTED = ThreadLocal.withInitial(ThreadBuffer::new);
    static final ThreadLocal<ThreadBuffer> ZEROS = ThreadLocal.withInitial(ThreadBuffer::new);
    /** The primitive-layout copies of all ports made so far, in bytes: what they would hold with memory of their own. */
    private static final java.util.concurrent.atomic.AtomicLong PORT_BYTES = new java.util.concurrent.atomic.AtomicLong();

    /** Frees the calling thread's buffers (arena, scratchpad, working copies) now (a thread about to end; else at its GC). */
    static void releaseThreadBuffers() {
        if (!Boolean.TRUE.equals(available)) {
            return; // no engine, so no buffers (and no stream to make)
        }
        stream s = STREAM.get();
        s._wait();
        ARENA.get().release();
        ARENA.remove();
        SCRATCHPAD.get().release();
        SCRATCHPAD.remove();
        SHIFTED.get().release();
        SHIFTED.remove();
        ZEROS.get().release();
        ZEROS.remove();
        s.close();
        STREAM.remove(); // a later call on this thread makes them again
    }

    /** The bytes of the calling thread's arena (tests). */
    static long arenaBytes() {
        return ARENA.get().size;
    }

    /** {@link #PORT_BYTES} (tests). */
    static long portBytes() {
        return PORT_BYTES.get();
    }

    /** The current thread's stream and the reorders around the next primitive. */
    static final class Run {
        final stream stream;
        final List<Port> before = new ArrayList<>(4);
        final List<Port> after = new ArrayList<>(4);
        final List<Port> staged = new ArrayList<>(4); // ports whose primitive-layout copy the next exec places
        final List<INDArray> kept = new ArrayList<>(8);

        Run(stream s) {
            this.stream = s;
        }

        void exec(Prim p, Map<Integer, memory> args) {
            if (!staged.isEmpty()) {
                long total = 0;
                for (Port port : staged) {
                    total += align(port.innerBytes);
                }
                long at = ARENA.get().atLeast(total, stream);
                for (Port port : staged) {
                    port.inner.set_data_handle(new Address(at), stream);
                    at += align(port.innerBytes);
                }
            }
            for (Port port : before) {
                port.toInner(stream);
            }
            IntMemoryMap m = new IntMemoryMap();
            for (Map.Entry<Integer, memory> e : args.entrySet()) {
                m.put(e.getKey(), e.getValue());
            }
            memory scratchpad = p.scratchpad(stream);
            if (scratchpad != null) {
                m.put(DNNL_ARG_SCRATCHPAD, scratchpad);
            }
            p.prim.execute(stream, m);
            m.close();
            for (Port port : after) {
                port.toUser(stream);
            }
            before.clear();
            after.clear();
            staged.clear();
        }

        private static long align(long bytes) {
            return (bytes + 63) & ~63L;
        }

        void finish() {
            stream._wait();
            kept.clear();
        }
    }

    static Run run() {
        return new Run(STREAM.get());
    }

}
