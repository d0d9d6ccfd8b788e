"""CompiledFunction (what `compile(fn)` returns): one traced Program per argument structure;
Result: one output of a call."""
import threading
import time

import numpy as np

from micrograd.compiler.arguments import describe, rebuild_outputs, signature
from micrograd.compiler.errors import CompileError
from micrograd.compiler.program import Program
from micrograd.compiler.trace import gc_paused, trace

BACKENDS = ("auto", "c", "numpy")


class Result:
    """One output of a compiled call: `.data`, and `.backward()` as on the eager Value."""
    __slots__ = ("data", "grad", "_prog", "_k", "_gen")

    def __init__(self, data, prog, k, gen):
        self.data, self.grad, self._prog, self._k, self._gen = data, 0.0, prog, k, gen

    def backward(self):
        """Add d(self)/d(p) into p.grad for every parameter p, as eager backward() does."""
        self._prog.backward(self._k, self._gen)
        self.grad += 1.0

    def __float__(self):
        return self.data

    def __repr__(self):
        return f"Result(data={self.data})"


class CompiledFunction:
    """What `compile(fn)` returns: call it like fn, with numbers instead of Values.
    `c_gate`: given to every program it traces (Program.c_gate: run on numpy while the C
    compiler works in the background, or wait for it)."""
    c_gate = None

    def __init__(self, fn, static_argnums=(), strict=False, check=False, exact=True,
                 backend="auto"):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))}, got "
                             f"{backend!r}")
        if isinstance(static_argnums, int):
            static_argnums = (static_argnums,)
        self.fn = fn
        self.static_argnums = frozenset(static_argnums)
        self.strict = strict
        self.check = check
        self.exact = exact
        self.backend = backend
        self.trace_count = 0
        self._cache = {}
        self._fast = None if self.static_argnums else {}   # (shape, dtype) of array args -> prog
        # one call at a time: the programs' buffers are shared by every caller (a reentrant
        # lock, so that fn may use the compiled function itself while it is being traced)
        self._lock = threading.RLock()
        self.__wrapped__ = fn
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__name__ = getattr(fn, "__name__", "compiled")

    def __call__(self, *args, **kwargs):
        with self._lock:
            prog, flat = self._program(args, kwargs)
            outs = prog.run(flat)
            gen = prog.gen
        results = [Result(x, prog, k, gen) for k, x in enumerate(outs)]
        return rebuild_outputs(prog.tree, results)

    def _program(self, args, kwargs):
        """The program for this call's structure (traced now if new), and its numbers. A
        program made before one of its ops' rows was replaced (forward or local_grads
        reassigned) is dropped, with every other: they are traced again, with the new rows."""
        prog, flat = self._lookup(args, kwargs)
        if not prog.rows_current():
            self._drop_programs()
            prog, flat = self._lookup(args, kwargs)
        return prog, flat

    def _drop_programs(self):
        self._cache.clear()
        if self._fast is not None:
            self._fast.clear()

    def _lookup(self, args, kwargs):
        if not kwargs and self._fast is not None and all(
                [type(a) is np.ndarray for a in args]):
            # numpy arrays of numbers seen before: their shapes and dtypes are the key
            prog = self._fast.get(tuple([(a.shape, a.dtype.str) for a in args]))
            if prog is not None:
                # the numbers as views where they can be (Program.put_inputs copies them in)
                return prog, [a.astype(np.float64, copy=False).reshape(-1) for a in args]
        key, parts = signature(args, kwargs, self.static_argnums)
        prog = self._cache.get(key)
        if prog is None:
            if self.strict and self._cache:
                old = next(iter(self._cache))
                raise CompileError(f"strict compiled function {self.__name__} was traced for "
                                   f"arguments {describe(old)}, got {describe(key)}")
            prog = self._trace(key, parts)
            self._cache[key] = prog
            self.trace_count += 1
        if (self._fast is not None and not kwargs and args
                and all([type(a) is np.ndarray and a.dtype.kind in "fiu" for a in args])):
            self._fast[tuple([(a.shape, a.dtype.str) for a in args])] = prog
        flat = parts[0] if len(parts) == 1 else (
            np.concatenate(parts) if parts else np.empty(0))
        return prog, flat

    def _trace(self, key, parts):
        flat = np.concatenate(parts) if parts else np.empty(0)
        with gc_paused():
            out_values, tree, inputs, trace_s = trace(self.fn, key, flat, self.__name__)
            t1 = time.perf_counter()
            prog = Program(out_values, tree, inputs, self.exact, self._lock, self.backend)
            prog.c_gate = self.c_gate
            del out_values, inputs
            if self.check:
                prog.run(flat)
                prog.check_against_trace()
            prog.drop_trace()
        prog.info = {"structure": describe(key), "nodes": prog.n_nodes,
                     "groups": len(prog.groups), "backend": prog.backend,
                     "backend_note": prog.backend_note, "trace_s": trace_s,
                     "compile_s": time.perf_counter() - t1, "backward_compile_s": {}}
        return prog

    def stats(self):
        """One dict per traced structure: graph nodes, vectorized groups, the backend that
        runs it ("c" or "numpy", and `backend_note`: why), and the seconds spent running fn
        eagerly (trace_s), turning its graph into a program (compile_s, C compiler
        included), and building the backward of each output used so far
        (backward_compile_s)."""
        return [dict(p.info) for p in self._cache.values()]
