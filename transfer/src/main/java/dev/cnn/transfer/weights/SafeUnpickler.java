package dev.cnn.transfer.weights;

import dev.cnn.core.CnnException;
import net.razorvine.pickle.IObjectConstructor;
import net.razorvine.pickle.Opcodes;
import net.razorvine.pickle.PickleUtils;
import net.razorvine.pickle.Unpickler;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Pyrolite's unpickler (net.razorvine:pickle, as Spark uses) restricted to what a PyTorch state dict needs. A pickle
 * names Python callables by module and name ({@code GLOBAL}); Python's own unpickler would import and call them,
 * which is how a malicious {@code .pth} runs code. Here every name is looked up in an allow-list (the tensor-rebuild
 * functions, the storage types, {@code OrderedDict}) and mapped to a Java constructor that only builds data; any
 * other name, and the opcodes that reach callables another way ({@code INST}, extension registry), stop the load
 * with exit 4 before anything is built. Nothing is ever executed.
 */
final class SafeUnpickler extends Unpickler {

    /** A storage type named in a persistent id ({@code torch.FloatStorage}); a value, never called. */
    record StorageType(DType dtype) implements IObjectConstructor {
        @Override
        public Object construct(Object[] args) {
            throw new net.razorvine.pickle.PickleException("storage type " + dtype + " called");
        }
    }

    private final String file;
    private final Function<Object, Object> persistent;

    SafeUnpickler(String file, Function<Object, Object> persistent) {
        this.file = file;
        this.persistent = persistent;
    }

    @Override
    protected Object dispatch(short key) throws IOException {
        switch (key) {
            case Opcodes.GLOBAL -> {
                String module = PickleUtils.readline(input);
                String name = PickleUtils.readline(input);
                stack.add(resolve(module, name));
                return NO_RETURN_VALUE;
            }
            case Opcodes.STACK_GLOBAL -> {
                Object name = stack.pop();
                Object module = stack.pop();
                stack.add(resolve(String.valueOf(module), String.valueOf(name)));
                return NO_RETURN_VALUE;
            }
            case Opcodes.INST, Opcodes.EXT1, Opcodes.EXT2, Opcodes.EXT4 -> throw refused("pickle opcode "
                    + (char) key + " (reaches a callable outside the allow-list)");
            case Opcodes.EMPTY_DICT -> { // ordered: a state dict's order is its layers' order
                stack.add(new LinkedHashMap<>());
                return NO_RETURN_VALUE;
            }
            case Opcodes.SETITEMS -> {
                List<Object> items = stack.pop_all_since_marker();
                @SuppressWarnings("unchecked")
                Map<Object, Object> m = (Map<Object, Object>) stack.peek();
                for (int i = 0; i + 1 < items.size(); i += 2) {
                    m.put(items.get(i), items.get(i + 1));
                }
                return NO_RETURN_VALUE;
            }
            case Opcodes.BUILD -> {
                stack.pop(); // the state: for a state dict, its _metadata (layer versions), not needed
                if (!(stack.peek() instanceof Map)) {
                    throw refused("object state on " + stack.peek().getClass().getSimpleName());
                }
                return NO_RETURN_VALUE;
            }
            default -> {
                return super.dispatch(key);
            }
        }
    }

    @Override
    protected Object persistentLoad(Object pid) {
        return persistent.apply(pid);
    }

    private IObjectConstructor resolve(String module, String name) {
        String global = module + "." + name;
        switch (global) {
            case "collections.OrderedDict" -> {
                return args -> {
                    Map<Object, Object> m = new LinkedHashMap<>();
                    if (args.length == 1 && args[0] instanceof List<?> pairs) {
                        for (Object p : pairs) {
                            Object[] kv = (Object[]) p;
                            m.put(kv[0], kv[1]);
                        }
                    }
                    return m;
                };
            }
            case "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2" -> {
                return args -> {
                    if (args.length < 4 || !(args[0] instanceof TensorData.Storage s)) {
                        throw new net.razorvine.pickle.PickleException(name + " without a storage");
                    }
                    return new TensorData(s.dtype(), longs(args[2]), longs(args[3]), ((Number) args[1]).longValue(),
                            s);
                };
            }
            case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state" -> {
                return args -> args[0];
            }
            default -> {
                if (module.equals("torch") && name.endsWith("Storage")) {
                    return DType.ofTorchStorage(name).map(StorageType::new)
                            .orElseThrow(() -> refused("storage type " + global));
                }
                throw refused(global);
            }
        }
    }

    private CnnException refused(String what) {
        return CnnException.model(file + ": refused to load: the pickle names " + what + ", which is not on the "
                + "allow-list for state dicts (tensors, storages, OrderedDict); nothing was executed. If the file is "
                + "a training checkpoint, save just its weights in Python: torch.save(model.state_dict(), PATH)");
    }

    private static long[] longs(Object tuple) {
        Object[] t = tuple instanceof Object[] a ? a : ((List<?>) tuple).toArray();
        long[] r = new long[t.length];
        for (int i = 0; i < t.length; i++) {
            r[i] = ((Number) t[i]).longValue();
        }
        return r;
    }
}
