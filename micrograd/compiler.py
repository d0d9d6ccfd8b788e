"""micrograd.compile: trace a function of Values once, then replay it as a few numpy operations.

    import micrograd
    loss = micrograd.compile(loss)        # loss(X, y) -> Value, the function you train with
    total = loss(X, y)                    # X, y: numbers, (nested) lists / arrays of numbers
    model.zero_grad()
    total.backward()                      # fills p.grad of every parameter, exactly as eager

How it works
------------
On the first call for a given *structure* of arguments (shapes, lengths, container types) the
function runs once eagerly on fresh leaf Values, one per number in the arguments (the
"inputs"). The graph it builds becomes a flat program over one float64 array: nodes are
level-scheduled (a node's level is one more than its deepest input), the nodes of one level
and one operation form a group, and each group runs as one vectorized numpy operation. A
left-nested chain of `+`/`-` (what `sum(...)` builds) becomes one n-ary sum, and a group of
fused neurons ('w·x+b', nn.Neuron's default) whose weights and inputs vary along different axes
(a layer over a batch) runs as one einsum contraction. Later calls with the same structure copy
the new numbers in, re-read the parameters' `.data`, and replay. `.backward()` on a result runs
the chain rule group by group, from the last level down, and adds into every parameter's
`.grad`. `cfn.stats()` tells the size of each traced graph and where the compile time went.

Exactness: the replay gives the eager engine's numbers *bit for bit* (up to the sign of a zero
gradient), so a training run compiled and eager ends in the same weights. Every sum adds in
eager's order: forward sums left to right, every gradient in the order eager's backward visits
the consumers (reversed topological order, then input position), with order-preserving
reductions only (a numpy reduction or einsum is used only after checking, on operands of the
same memory layout, that numpy adds one term after the other; never BLAS, never pairwise sums).
The operations numpy cannot reproduce bit for bit (exp, log, tanh, sigmoid, powers, any custom
`Op`) are evaluated element by element with the op table's own functions; their derivatives,
plain arithmetic on the op's output, are vectorized.

Errors are eager's: log of 0, overflow in exp or in a power, 0 ** -1, a negative base to a
fractional power, division by 0 raise the same exception with the same message as eager (if
several nodes fail, the replay may name another of them than eager would), in the forward, or
in backward() where eager's backward fails (a derivative that does not exist, such as that of
x ** 0.5 at 0, is an error even when no parameter needs it, as in eager).

What is baked in at trace time
------------------------------
* The graph's shape: Python control flow on `.data` (`if x.data > 0`, `max(z.data for ...)`,
  early exits, loops whose length depends on values) runs once, at trace time, and the branch
  it took is replayed forever. Only the numbers flow through the replay.
* Constants: numbers created inside the function (`1 + x`, `alpha * reg`, a float computed from
  `.data` such as softmax's max shift) keep their trace-time value.
* Parameters: leaves that something outside the graph still refers to (the model's weights,
  reached through the function's closure) are re-read from `.data` at every call and receive
  gradients. A leaf that nothing outside the graph refers to cannot change: it is a constant.
* What the result does not depend on is not replayed (nor are its errors). Everything it
  depends on is recomputed from the leaves, even an intermediate Value cached from an earlier
  graph.

Arguments: numbers (int, float, numpy scalars) and (nested) lists, tuples and numpy arrays of
them are inputs; the function sees them as Values in the same containers (numpy arrays as
nested lists). Anything else (str, None, bool, other hashable objects) and the positions named in
`static_argnums` are static: part of the cache key, passed through as they are. A new structure
traces again (`cfn.trace_count` counts traces), unless `strict=True`, which refuses it. Write
the function on plain numbers, as the engine allows (`model(row)` with a row of floats lifts
them to Values): eagerly they are constants, traced they are the inputs.

Refused with `CompileError`: Values among the arguments (pass parameters through the closure),
a function returning something other than a Value or (nested) lists/tuples of Values, and graph
nodes whose backward is a hand-written closure (`v._backward = fn`) or that have no rule.

Results: the call returns the function's structure with each Value replaced by a `Result`
(`.data`, `.backward()`). A `Result` belongs to its call: once the same compiled function has
been called again with the same structure, the old result's `backward()` raises. A compiled
function is not thread-safe (each traced structure owns its buffers). Deep, narrow graphs
(long chains, one node per level) replay node by node and gain little.
"""
import gc
import sys
import time
from itertools import chain
from numbers import Real
from operator import attrgetter

import numpy as np

from micrograd import engine
from micrograd.engine import Op, Value

__all__ = ["compile", "CompiledFunction", "CompileError", "Result"]


class CompileError(TypeError):
    """The function, its arguments or its graph cannot be compiled (the message says why)."""


# ---------------------------------------------------------------------------------------------
# Kinds of groups
# ---------------------------------------------------------------------------------------------
K_LEAF, K_ADD, K_SUB, K_MUL, K_DIV, K_NEG, K_RELU, K_ABS, K_LIN, K_SUM, K_PY = range(11)
_BUILTIN = {}
for _name, _kind in (("+", K_ADD), ("-", K_SUB), ("*", K_MUL), ("/", K_DIV), ("neg", K_NEG),
                     ("relu", K_RELU), ("abs", K_ABS), ("w·x+b", K_LIN)):
    if _name in engine.OPS:
        _BUILTIN[id(engine.OPS[_name])] = (_kind, engine.OPS[_name])
# ops evaluated element by element in the forward, with a vectorized derivative of their output
_PY_VEC_GRAD = {}
for _name in ("exp", "log", "tanh", "sigmoid"):
    if _name in engine.OPS:
        _PY_VEC_GRAD[id(engine.OPS[_name])] = _name

_getdata = attrgetter("data")
_getgrad = attrgetter("grad")
_F8 = 8  # bytes per float64


# ---------------------------------------------------------------------------------------------
# Order-preserving reductions
# ---------------------------------------------------------------------------------------------
def _numpy_reduce_is_sequential():
    """numpy adds the rows of a C-contiguous (R, n >= 2) array one after the other when it
    reduces over axis 0 (it uses pairwise summation only along a contiguous reduced axis).
    Checked once on data where pairwise and sequential summation disagree."""
    rng = np.random.default_rng(12345)
    for rows, cols in ((9, 2), (40, 3), (130, 17), (17, 2), (300, 5)):
        t = rng.standard_normal((rows, cols)) * 10.0 ** rng.integers(-12, 16, (rows, cols))
        out = np.empty(cols)
        np.add.reduce(t, axis=0, out=out)
        for j in range(cols):
            s = t[0, j]
            for r in range(1, rows):
                s += t[r, j]
            if s != out[j]:
                return False
    return True


_SEQUENTIAL_REDUCE = _numpy_reduce_is_sequential()


def _seqsum(block, out):
    """A function out[:] = ((block[0] + block[1]) + block[2]) + ..., for block (R, ..., n>=2)."""
    if _SEQUENTIAL_REDUCE:
        reduce = np.add.reduce
        return lambda: reduce(block, axis=0, out=out)
    rows = [block[r] for r in range(1, block.shape[0])]
    first = block[0]
    add, copyto = np.add, np.copyto

    def run():
        copyto(out, first)
        for r in rows:
            add(out, r, out=out)
    return run


# ---------------------------------------------------------------------------------------------
# Affine index arrays -> strided views (no gather, no scatter)
# ---------------------------------------------------------------------------------------------
def _affine(idx):
    """(base, strides) if idx[i0, i1, ...] == base + sum(i_d * strides[d]) for all indices."""
    idx = np.asarray(idx)
    if idx.size == 0:
        return None
    base = int(idx.reshape(-1)[0])
    strides = []
    pred = np.full(idx.shape, base, dtype=np.int64)
    for d, n in enumerate(idx.shape):
        if n == 1:
            strides.append(0)
            continue
        sel = [0] * idx.ndim
        sel[d] = 1
        s = int(idx[tuple(sel)]) - base
        strides.append(s)
        shape = [1] * idx.ndim
        shape[d] = n
        pred += (np.arange(n, dtype=np.int64) * s).reshape(shape)
    if not np.array_equal(pred, idx):
        return None
    return base, strides


def _strided(buf, base, strides, shape):
    return np.ndarray(tuple(shape), dtype=np.float64, buffer=buf, offset=base * _F8,
                      strides=tuple(s * _F8 for s in strides))


def _period(a):
    """For a 1-D index array that is not affine, the length of its first affine run."""
    if a.size < 3:
        return None
    d = np.diff(a)
    bad = np.flatnonzero(d != d[0])
    if bad.size == 0:
        return None
    return int(bad[0]) + 1


class _Src:
    """A group's operand: a strided view of the value array, or a gather into a buffer."""
    __slots__ = ("arr", "idx")

    def __init__(self, val, idx):
        aff = _affine(idx)
        if aff is not None:
            self.arr, self.idx = _strided(val, aff[0], aff[1], idx.shape), None
        else:
            self.arr, self.idx = np.empty(idx.shape), idx


def _gathers(srcs, val):
    """The gathers a group needs before it computes: a list of (idx, out)."""
    return [(s.idx, s.arr) for s in srcs if s is not None and s.idx is not None]


def _compact(a, letters):
    """Drop the broadcast (stride 0) axes of a view: the operand einsum wants, and its letters."""
    keep, sel = [], []
    for d in range(a.ndim):
        if a.shape[d] > 1 and a.strides[d] == 0:
            sel.append(0)
        else:
            sel.append(slice(None))
            keep.append(letters[d])
    return a[tuple(sel) + (Ellipsis,)], "".join(keep)     # a view even when 0-d


def _product(a, b, out):
    """A function out[...] = a * b (broadcast, exact: one rounding per element). einsum with no
    summed index is a plain product per element and walks broadcast operands much faster than
    ufunc broadcasting does."""
    letters = "abcdefgh"[:out.ndim]
    if a.shape != out.shape or b.shape != out.shape or out.size < 64:
        mul = np.multiply
        return lambda: mul(a, b, out=out)
    ca, la = _compact(a, letters)
    cb, lb = _compact(b, letters)
    if set(la) | set(lb) != set(letters):
        mul = np.multiply
        return lambda: mul(a, b, out=out)
    spec = f"{la},{lb}->{letters}"
    einsum = np.einsum
    return lambda: einsum(spec, ca, cb, out=out)


def _replica(a, rng):
    """A new array with a's shape and strides (so numpy picks the same loops for it), filled
    with numbers spread over many magnitudes, where any change of summation order shows."""
    lo = sum(min(0, (n - 1) * st) for n, st in zip(a.shape, a.strides))
    hi = sum(max(0, (n - 1) * st) for n, st in zip(a.shape, a.strides)) + _F8
    size = (hi - lo) // _F8
    buf = rng.standard_normal(size) * 10.0 ** rng.integers(-9, 10, size)
    return np.ndarray(a.shape, dtype=np.float64, buffer=buf, offset=-lo, strides=a.strides)


def _contraction(spec, a, b, out):
    """A function doing einsum(spec, a, b, out=out), a sum over one index, if numpy computes it
    as eager does: 0 + p0 + p1 + ... left to right, one rounding per product and per addition.
    That is checked here on replicas of the operands (same shapes and strides, so the same
    numpy loops) filled with numbers where any other order or a fused multiply-add would show.
    None if the check fails (the caller then materializes the products and reduces them)."""
    ins, lo = spec.split("->")
    la, lb = ins.split(",")
    red = (set(la) | set(lb)) - set(lo)
    if len(red) != 1 or not out.flags.writeable:
        return None
    (r,) = red
    rng = np.random.default_rng(2024)
    try:
        ra, rb, ro = _replica(a, rng), _replica(b, rng), _replica(out, rng)
        np.einsum(spec, ra, rb, out=ro)
        prods = np.einsum(f"{la},{lb}->{lo}{r}", ra, rb)
    except (ValueError, TypeError):                            # pragma: no cover
        return None
    ref = prods[..., 0].copy()
    for j in range(1, prods.shape[-1]):
        ref = ref + prods[..., j]
    if not np.array_equal(ro, ref):
        return None
    einsum = np.einsum
    return lambda: einsum(spec, a, b, out=out)


# ---------------------------------------------------------------------------------------------
# Arguments: structure key + flat numbers
# ---------------------------------------------------------------------------------------------
_FAST_KINDS = frozenset("fiu")


def _inner_types(a, depth):
    types = []
    x = a
    for d in range(depth):
        types.append(type(x))
        if d + 1 < depth:
            x = x[0]
    return tuple(types)


def _is_number(x):
    return isinstance(x, Real) and not isinstance(x, (bool, np.bool_))


def _slow_flatten(a, flat, where):
    """Key of a nested structure; appends its numbers to `flat`."""
    t = type(a)
    if t is list or t is tuple:
        return (t, tuple(_slow_flatten(x, flat, where) for x in a))
    if isinstance(a, np.ndarray):
        return (np.ndarray, a.shape, tuple(_slow_flatten(x, flat, where) for x in a.tolist()))
    if isinstance(a, Value):
        raise CompileError(f"{where}: a Value among the arguments; pass numbers (a compiled "
                           f"function's parameters are the Values its closure refers to)")
    if _is_number(a):
        flat.append(float(a))
        return 0
    try:
        hash(a)
    except TypeError:
        raise CompileError(f"{where}: cannot compile an argument of type {t.__name__} "
                           f"(numbers, lists/tuples/arrays of numbers, or hashable "
                           f"constants)") from None
    return ("static", t, a)


def _rebuild_slow(key, it):
    if key == 0:
        return next(it)
    tag = key[0]
    if tag is list:
        return [_rebuild_slow(k, it) for k in key[1]]
    if tag is tuple:
        return tuple(_rebuild_slow(k, it) for k in key[1])
    if tag is np.ndarray:
        return [_rebuild_slow(k, it) for k in key[2]]
    return key[2]   # static


def _rebuild_fast(shape, types, it):
    if not shape:
        return next(it)
    t = types[0] if types else list
    if t is np.ndarray:
        t = list
    return t(_rebuild_fast(shape[1:], types[1:], it) for _ in range(shape[0]))


def _arg_key(a, where, parts):
    """The structure key of one argument; its numbers (float64 array) are appended to parts."""
    t = type(a)
    if t is float or t is int or (isinstance(a, (np.floating, np.integer))):
        parts.append(np.array([a], dtype=np.float64))
        return ("s",)
    if t is list or t is tuple:
        try:
            arr = np.array(a)
        except (ValueError, TypeError):
            arr = None
        if arr is not None and arr.dtype.kind in _FAST_KINDS and arr.ndim >= 1:
            parts.append(arr.astype(np.float64, copy=False).reshape(-1))
            return ("f", arr.shape, _inner_types(a, arr.ndim))
    elif t is np.ndarray and a.dtype.kind in _FAST_KINDS:
        parts.append(a.astype(np.float64, copy=False).reshape(-1))
        return ("f", a.shape, (np.ndarray,))
    elif isinstance(a, (bool, np.bool_)) or a is None or t is str:
        return ("static", t, a)
    flat = []
    key = _slow_flatten(a, flat, where)
    parts.append(np.array(flat, dtype=np.float64))
    return ("t", key)


def _rebuild_arg(key, it):
    tag = key[0]
    if tag == "s":
        return next(it)
    if tag == "f":
        return _rebuild_fast(key[1], key[2], it)
    if tag == "t":
        return _rebuild_slow(key[1], it)
    return key[2]   # static


def _describe(key):
    """A short human description of a structure key (for errors)."""
    args, kw = key
    out = []
    for k in args:
        tag = k[0]
        if tag == "s":
            out.append("number")
        elif tag == "f":
            out.append(f"{k[2][0].__name__ if k[2] else 'array'} of shape {k[1]}")
        elif tag == "t":
            out.append("nested structure")
        else:
            out.append(f"static {k[2]!r}")
    return "(" + ", ".join(out + [f"{n}=..." for n, _ in kw]) + ")"


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------
class Result:
    """One output of a compiled call: `.data`, and `.backward()` as on the eager Value."""
    __slots__ = ("data", "grad", "_prog", "_k", "_gen")

    def __init__(self, data, prog, k, gen):
        self.data, self.grad, self._prog, self._k, self._gen = data, 0.0, prog, k, gen

    def backward(self):
        """Add d(self)/d(p) into p.grad for every parameter p, as eager backward() does."""
        self._prog.backward(self)
        self.grad += 1.0

    def __float__(self):
        return self.data

    def __repr__(self):
        return f"Result(data={self.data})"


def _flatten_outputs(out, values, where="the compiled function"):
    if isinstance(out, Value):
        values.append(out)
        return len(values) - 1
    t = type(out)
    if t is list or t is tuple:
        return (t, [_flatten_outputs(x, values, where) for x in out])
    raise CompileError(f"{where} must return a Value or a (nested) list/tuple of Values, "
                       f"got {type(out).__name__} {out!r:.80}")


def _rebuild_outputs(tree, results):
    if type(tree) is int:
        return results[tree]
    t, kids = tree
    return t(_rebuild_outputs(k, results) for k in kids)


# ---------------------------------------------------------------------------------------------
# compile
# ---------------------------------------------------------------------------------------------
def compile(fn, *, static_argnums=(), strict=False, check=False):
    """Trace `fn` on its first call (per argument structure) and replay it fast afterwards.

    static_argnums  positions of arguments that are part of the cache key instead of inputs
    strict          refuse (CompileError) a call whose structure differs from the first trace
    check           after each trace, compare the replay's forward values with the trace, node
                    by node, and raise AssertionError on any difference (a debugging aid)
    """
    if not callable(fn):
        raise TypeError(f"micrograd.compile needs a function, got {type(fn).__name__}")
    return CompiledFunction(fn, static_argnums=static_argnums, strict=strict, check=check)


class CompiledFunction:
    """What `compile(fn)` returns: call it like fn, with numbers instead of Values."""

    def __init__(self, fn, static_argnums=(), strict=False, check=False):
        if isinstance(static_argnums, int):
            static_argnums = (static_argnums,)
        self.fn = fn
        self.static_argnums = frozenset(static_argnums)
        self.strict = strict
        self.check = check
        self.trace_count = 0
        self._cache = {}
        self.__wrapped__ = fn
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__name__ = getattr(fn, "__name__", "compiled")

    def _signature(self, args, kwargs):
        parts = []
        static = self.static_argnums
        keys = []
        for i, a in enumerate(args):
            if i in static:
                try:
                    hash(a)
                except TypeError:
                    raise CompileError(f"static argument {i} must be hashable, got "
                                       f"{type(a).__name__}") from None
                keys.append(("static", type(a), a))
            else:
                keys.append(_arg_key(a, f"argument {i}", parts))
        kw = ()
        if kwargs:
            kw = tuple((name, _arg_key(kwargs[name], f"argument {name!r}", parts))
                       for name in sorted(kwargs))
        return (tuple(keys), kw), parts

    def __call__(self, *args, **kwargs):
        key, parts = self._signature(args, kwargs)
        prog = self._cache.get(key)
        if prog is None:
            if self.strict and self._cache:
                old = next(iter(self._cache))
                raise CompileError(f"strict compiled function {self.__name__} was traced for "
                                   f"arguments {_describe(old)}, got {_describe(key)}")
            prog = self._trace(key, parts)
            self._cache[key] = prog
            self.trace_count += 1
        flat = parts[0] if len(parts) == 1 else (
            np.concatenate(parts) if parts else np.empty(0))
        return prog.run(flat)

    def _trace(self, key, parts):
        # A trace allocates a whole graph at once: the cyclic garbage collector would scan it
        # again and again (the engine's graphs hold no cycles). It is back on afterwards.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            return self._trace_nogc(key, parts)
        finally:
            if gc_was_enabled:
                gc.enable()

    def _trace_nogc(self, key, parts):
        flat = np.concatenate(parts) if parts else np.empty(0)
        inputs = [Value(x) for x in flat.tolist()]
        it = iter(inputs)
        arg_keys, kw = key
        args = [_rebuild_arg(k, it) for k in arg_keys]
        kwargs = {name: _rebuild_arg(k, it) for name, k in kw}
        prev_mode = engine._GradMode.enabled
        engine._GradMode.enabled = True
        t0 = time.perf_counter()
        try:
            out = self.fn(*args, **kwargs)
        finally:
            engine._GradMode.enabled = prev_mode
        t1 = time.perf_counter()
        del args, kwargs, it
        out_values = []
        tree = _flatten_outputs(out, out_values, f"compiled function {self.__name__}")
        prog = _Program(out_values, tree, inputs)
        del out, out_values, inputs
        if self.check:
            prog.run(flat)
            prog.check_against_trace()
        prog.drop_trace()
        prog.info = {"structure": _describe(key), "nodes": prog.n_nodes,
                     "groups": len(prog.groups), "trace_s": t1 - t0,
                     "compile_s": time.perf_counter() - t1, "backward_compile_s": {}}
        return prog

    def stats(self):
        """One dict per traced structure: graph nodes, vectorized groups, and the seconds spent
        running fn eagerly (trace_s), turning its graph into a program (compile_s), and
        building the backward of each output used so far (backward_compile_s)."""
        return [dict(p.info) for p in self._cache.values()]


# ---------------------------------------------------------------------------------------------
# The traced graph -> a program
# ---------------------------------------------------------------------------------------------
def _topo(roots):
    """All nodes reachable from roots, children first: the engine's Value.topo() order for the
    first root, continued (same visited set) for the others."""
    order, visited = [], set()
    for root in roots:
        if root in visited:
            continue
        visited.add(root)
        stack = [(root, iter(root._prev))]
        while stack:
            node, children = stack[-1]
            for child in children:
                if child not in visited:
                    visited.add(child)
                    stack.append((child, iter(child._prev)))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


def _topo_ints(root, ptr, chl):
    """Value.topo() on the integer graph: positions of the nodes in root.topo(), -1 elsewhere."""
    n = len(ptr) - 1
    pos = np.full(n, -1, dtype=np.int64)
    ptr_l, chl_l = ptr.tolist(), chl.tolist()
    visited = bytearray(n)
    visited[root] = 1
    stack = [(root, iter(chl_l[ptr_l[root]:ptr_l[root + 1]]))]
    k = 0
    posl = [-1] * n
    while stack:
        node, children = stack[-1]
        for c in children:
            if not visited[c]:
                visited[c] = 1
                stack.append((c, iter(chl_l[ptr_l[c]:ptr_l[c + 1]])))
                break
        else:
            stack.pop()
            posl[node] = k
            k += 1
    pos[:] = posl
    return pos


def _node_error(v, why):
    name = v._op or "?"
    return CompileError(f"cannot compile a graph node made by {name!r} (data={v.data!r}): {why}")


class _Group:
    __slots__ = ("kind", "rule", "nodes", "m", "o0", "ishape", "roles", "cnode", "inp",
                 "signs", "k", "level", "srcs")


class _Program:
    """One traced structure: its buffers, forward instructions, and backward per seed output."""

    def __init__(self, out_values, tree, inputs):
        self.tree = tree
        self.info = {"backward_compile_s": {}}
        self.gen = 0
        self._bwd = {}
        self._build(out_values, inputs)

    # ------------------------------------------------------------------ graph extraction ----
    def _build(self, out_values, inputs):
        order = _topo(out_values)
        n = len(order)
        # node -> position, by identity: a sorted array of ids instead of a dict of a million
        node_ids = np.fromiter(map(id, order), dtype=np.int64, count=n)
        by_id = np.argsort(node_ids)
        sorted_ids = node_ids[by_id]

        def positions(values, count, missing_ok=False):
            q = np.fromiter(map(id, values), dtype=np.int64, count=count)
            j = np.searchsorted(sorted_ids, q)
            j[j >= n] = 0
            found = sorted_ids[j] == q if n else np.zeros(count, dtype=bool)
            pos = np.where(found, by_id[j] if n else 0, -1)
            if not missing_ok:
                assert found.all()
            return pos

        prevs = list(map(attrgetter("_prev"), order))
        nch = np.fromiter(map(len, prevs), dtype=np.int64, count=n)
        ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(nch, out=ptr[1:])
        chl = positions(chain.from_iterable(prevs), int(ptr[-1]))
        del prevs
        datas = np.fromiter(map(_getdata, order), dtype=np.float64, count=n)
        self.out_nodes = positions(out_values, len(out_values))
        in_node = positions(inputs, len(inputs), missing_ok=True)
        # --- rules -> kinds
        rules = list(map(attrgetter("_rule"), order))
        ids = list(map(id, rules))
        kind_of = {}
        for rid, r in dict(zip(ids, rules)).items():
            if r is None:
                kind_of[rid] = K_LEAF
            elif rid in _BUILTIN:
                kind_of[rid] = _BUILTIN[rid][0]
            elif isinstance(r, Op):
                kind_of[rid] = K_PY
            else:
                kind_of[rid] = -1
        kind = np.fromiter(map(kind_of.__getitem__, ids), dtype=np.int64, count=n)
        self._rule_ids = ids
        if (kind == -1).any():
            v = order[int(np.flatnonzero(kind == -1)[0])]
            raise _node_error(v, "its backward is a hand-written closure (`_backward`), which "
                                 "a compiler cannot read; write the operation as an "
                                 "engine.Op(name, forward, local_grads) instead")
        bad = (kind == K_LEAF) & (nch > 0)
        if bad.any():
            v = order[int(np.flatnonzero(bad)[0])]
            raise _node_error(v, "it has inputs but no rule (a Value built by hand with "
                                 "_children); make it with an engine.Op")
        kind[nch == 0] = K_LEAF        # an op without inputs is a constant leaf
        # --- leaves: inputs / parameters / constants
        is_input = np.zeros(n, dtype=bool)
        input_slot_of = np.full(n, -1, dtype=np.int64)
        used = in_node >= 0
        is_input[in_node[used]] = True
        input_slot_of[in_node[used]] = np.flatnonzero(used)
        indeg = np.bincount(chl, minlength=n)
        leaf_ids = np.flatnonzero((kind == K_LEAF) & ~is_input)
        # A leaf that nothing outside this graph refers to cannot change: a constant. Its
        # references are then exactly: `order`, the _prev tuples of its consumers, and
        # getrefcount's own argument.
        getrc = sys.getrefcount
        is_param = np.zeros(n, dtype=bool)
        indeg_l = indeg.tolist()
        for i in leaf_ids.tolist():
            if getrc(order[i]) - 2 != indeg_l[i]:
                is_param[i] = True
        self.n_nodes = n
        self.ptr, self.chl = ptr, chl
        self.kind = kind
        self.datas = datas
        self.is_param_node = is_param
        self.is_input_node = is_input
        self.input_slot_of = input_slot_of
        self.n_in = len(inputs)
        param_nodes = np.flatnonzero(is_param)
        self._param_values = {int(i): order[i] for i in param_nodes}
        self.rules = rules
        self._trace_order = order
        self._plan(indeg)

    # ---------------------------------------------------------------- reduce and schedule ----
    def _plan(self, indeg):
        n, kind, ptr, chl = self.n_nodes, self.kind, self.ptr, self.chl
        is_out = np.zeros(n, dtype=bool)
        is_out[self.out_nodes] = True
        kind_l = kind.tolist()
        ptr_l = ptr.tolist()
        chl_l = chl.tolist()
        indeg_l = indeg.tolist()
        is_out_l = is_out.tolist()
        level = [0] * n
        alive = np.ones(n, dtype=bool)
        sums = {}           # node -> [terms, signs, cnodes, inps, maxlevel]
        addsub = (K_ADD, K_SUB)
        for i in np.flatnonzero(kind != K_LEAF).tolist():
            k = kind_l[i]
            s = ptr_l[i]
            e = ptr_l[i + 1]
            if k == K_ADD or k == K_SUB:
                a, b = chl_l[s], chl_l[s + 1]
                if kind_l[a] in addsub and indeg_l[a] == 1 and not is_out_l[a]:
                    # a left-nested chain of + and -: one n-ary sum, terms in eager's order
                    rec = sums.pop(a, None)
                    if rec is None:
                        a0, a1 = chl_l[ptr_l[a]], chl_l[ptr_l[a] + 1]
                        rec = [[a0, a1], [1.0, 1.0 if kind_l[a] == K_ADD else -1.0], [a, a],
                               [0, 1], max(level[a0], level[a1])]
                    alive[a] = False
                    rec[0].append(b)
                    rec[1].append(1.0 if k == K_ADD else -1.0)
                    rec[2].append(i)
                    rec[3].append(1)
                    if level[b] > rec[4]:
                        rec[4] = level[b]
                    sums[i] = rec
                    level[i] = rec[4] + 1
                    continue
                la, lb = level[a], level[b]
                level[i] = (la if la > lb else lb) + 1
            elif e - s == 1:
                level[i] = level[chl_l[s]] + 1
            else:
                level[i] = max(map(level.__getitem__, chl_l[s:e])) + 1
        self.sums = sums
        # --- groups: same level, same operation, same shape (arity; terms of a sum)
        level = np.array(level, dtype=np.int64)
        comp = np.flatnonzero((kind != K_LEAF) & alive)
        arity = (ptr[1:] - ptr[:-1])[comp]
        ck = kind[comp]
        sub = np.where((ck == K_LIN) | (ck == K_PY), arity, 0)
        if sums:
            sum_nodes = np.fromiter(sums.keys(), dtype=np.int64, count=len(sums))
            is_sum = np.zeros(n, dtype=bool)
            is_sum[sum_nodes] = True
            terms = np.zeros(n, dtype=np.int64)
            terms[sum_nodes] = [len(r[0]) for r in sums.values()]
            m = is_sum[comp]
            ck = np.where(m, K_SUM, ck)
            sub = np.where(m, terms[comp], sub)
        rule_ids = np.array(self._rule_ids, dtype=object)[comp] if (ck == K_PY).any() else None
        rid = np.zeros(len(comp), dtype=np.int64)
        if rule_ids is not None:
            py = np.flatnonzero(ck == K_PY)
            _, inv = np.unique(rule_ids[py].astype(np.int64), return_inverse=True)
            rid[py] = inv + 1
        lv = level[comp]
        order = np.lexsort((comp, sub, rid, ck, lv))       # stable: topo order within a group
        comp, lv, ck, rid, sub = comp[order], lv[order], ck[order], rid[order], sub[order]
        change = np.flatnonzero((np.diff(lv) != 0) | (np.diff(ck) != 0) | (np.diff(rid) != 0)
                                | (np.diff(sub) != 0)) + 1
        bounds = np.r_[0, change, len(comp)] if len(comp) else np.zeros(1, dtype=np.int64)
        groups = [(int(lv[a]), int(ck[a]), comp[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
        self._make_groups(groups)

    def _make_groups(self, groups):
        ptr, chl = self.ptr, self.chl
        glist = []
        for lvl, gkind, nodes in groups:
            g = _Group()
            g.level, g.kind = lvl, gkind
            g.nodes, g.m = nodes, len(nodes)
            g.rule = self.rules[int(nodes[0])]
            g.k = 0
            g.signs = None
            if g.kind == K_SUM:
                recs = [self.sums[i] for i in nodes.tolist()]
                g.roles = [np.array([r[0] for r in recs], dtype=np.int64).T]
                g.signs = np.array([r[1] for r in recs], dtype=np.float64).T
                g.cnode = [np.array([r[2] for r in recs], dtype=np.int64).T]
                g.inp = [np.array([r[3] for r in recs], dtype=np.int64).T]
            else:
                arity = int(ptr[nodes[0] + 1] - ptr[nodes[0]])
                ch = chl[ptr[nodes][:, None] + np.arange(arity)].T      # (arity, m)
                cn = np.broadcast_to(nodes, (arity, len(nodes)))
                pos = np.broadcast_to(np.arange(arity)[:, None], (arity, len(nodes)))
                if g.kind == K_LIN:
                    g.k = (arity - 1) // 2
                    g.roles = [ch[0:1], ch[1::2], ch[2::2]]
                    g.cnode = [cn[0:1], cn[1::2], cn[2::2]]
                    g.inp = [pos[0:1], pos[1::2], pos[2::2]]
                else:
                    g.roles = [ch[r:r + 1] for r in range(arity)]
                    g.cnode = [cn[r:r + 1] for r in range(arity)]
                    g.inp = [pos[r:r + 1] for r in range(arity)]
            glist.append(g)
        self.groups = glist
        self._assign_slots()

    # ---------------------------------------------------------------------------- slots ----
    def _assign_slots(self):
        n, groups = self.n_nodes, self.groups
        slot = np.full(n, -1, dtype=np.int64)
        n_in = self.n_in
        inp = self.is_input_node
        slot[inp] = self.input_slot_of[inp]
        zero_slot = n_in
        # Parameters and constants in order of first use by the biggest groups, so that a
        # layer's weights read by a group of neurons form a regular (strided) pattern.
        uses = []
        for g in sorted(groups, key=lambda g: -sum(r.size for r in g.roles)):
            for r in g.roles:
                uses.append(r.T.reshape(-1))
        uses = np.concatenate(uses) if uses else np.empty(0, dtype=np.int64)
        _, first = np.unique(uses, return_index=True)
        by_use = uses[np.sort(first)]
        params = by_use[self.is_param_node[by_use]]
        extra = np.setdiff1d(np.flatnonzero(self.is_param_node), params)  # outputs only
        params = np.concatenate([params, extra])
        consts_mask = (self.kind == K_LEAF) & ~inp & ~self.is_param_node
        consts = by_use[consts_mask[by_use]]
        consts = np.concatenate([consts, np.setdiff1d(np.flatnonzero(consts_mask), consts)])
        p0 = zero_slot + 1
        slot[params] = p0 + np.arange(len(params))
        c0 = p0 + len(params)
        slot[consts] = c0 + np.arange(len(consts))
        o = c0 + len(consts)
        for g in groups:
            g.o0 = o
            slot[g.nodes] = o + np.arange(g.m)
            o += g.m
        self.n_slots = o
        self.slot = slot
        self.out_slots = slot[self.out_nodes]
        self.zero_slot = zero_slot
        self.p0, self.np_ = p0, len(params)
        self.params = [self._param_values[int(i)] for i in params]
        self.param_nodes = params
        self.val = np.zeros(o)
        self.val[c0:c0 + len(consts)] = self.datas[consts]
        for g in groups:
            g.roles = [slot[r] for r in g.roles]
        # does a slot need a gradient (is it a parameter, or computed from one)?
        need = np.zeros(o + 1, dtype=bool)
        need[p0:p0 + len(params)] = True
        for g in groups:
            acc = np.zeros(g.m, dtype=bool)
            for r in g.roles:
                acc |= need[r].any(axis=0)
            need[g.o0:g.o0 + g.m] = acc
        self.need = need[:o]
        self._compile_forward()

    # -------------------------------------------------------------------------- forward ----
    def _choose_shape(self, g):
        """Instances as a 1-D or a 2-D (S, P) array: whichever makes more operands strided
        views. Neurons of a layer over a batch come out as (batch, neurons)."""
        m = g.m
        rows = [r[j] for r in g.roles for j in range(r.shape[0])]
        cands = set()
        for a in rows[:64]:
            p = _period(a)
            if p is not None and m % p == 0 and 1 < p < m:
                cands.add(p)
        best, best_score = (m,), sum(_affine(a) is not None for a in rows)
        for p in sorted(cands):
            shape = (m // p, p)
            score = sum(_affine(a.reshape(shape)) is not None for a in rows)
            if score > best_score:
                best, best_score = shape, score
        return best

    def _compile_forward(self):
        val = self.val
        fwd = []
        for g in self.groups:
            g.ishape = self._choose_shape(g) if g.m > 2 else (g.m,)
            g.srcs = [_Src(val, r.reshape((r.shape[0],) + g.ishape)) for r in g.roles]
            fwd.append(self._forward_op(g))
        self.fwd = fwd

    def _out(self, g):
        return self.val[g.o0:g.o0 + g.m].reshape(g.ishape)

    def _forward_op(self, g):
        val = self.val
        Y = self._out(g)
        gathers = _gathers(g.srcs, val)
        take = np.take
        kind = g.kind
        ops = []
        if kind in (K_ADD, K_SUB, K_MUL, K_DIV):
            A, B = g.srcs[0].arr[0], g.srcs[1].arr[0]
            uf = {K_ADD: np.add, K_SUB: np.subtract, K_MUL: np.multiply, K_DIV: np.divide}[kind]
            if kind == K_DIV:
                op = g.rule

                def run():
                    for idx, buf in gathers:
                        take(val, idx, out=buf, mode="clip")
                    uf(A, B, out=Y)
                    if not B.all():
                        _raise_eager_forward(op, [A, B])
                return run
            ops.append(lambda: uf(A, B, out=Y))
        elif kind == K_NEG:
            A = g.srcs[0].arr[0]
            ops.append(lambda: np.negative(A, out=Y))
        elif kind == K_ABS:
            A = g.srcs[0].arr[0]
            ops.append(lambda: np.absolute(A, out=Y))
        elif kind == K_RELU:
            A = g.srcs[0].arr[0]
            fmax, add = np.fmax, np.add

            def relu():                      # a if a > 0 else 0.0: NaN -> 0.0, -0.0 -> 0.0
                fmax(A, 0.0, out=Y)
                add(Y, 0.0, out=Y)
            ops.append(relu)
        elif kind == K_LIN or kind == K_SUM:
            k = g.k if kind == K_LIN else g.roles[0].shape[0] - 1
            width = g.ishape if g.m >= 2 else (2,)
            T = np.zeros((k + 1,) + width)
            Tc = T if g.m >= 2 else T[:, :1]
            if kind == K_LIN:
                B, W, X = (s.arr for s in g.srcs)
                fast = _lin_contraction(B[0], W, X, Y)
                if fast is not None:
                    ops.extend(fast)
                    T = None
                else:
                    copyto = np.copyto
                    b0 = B[0]
                    ops.append(lambda: copyto(Tc[0], b0))
                    ops.append(_product(W, X, Tc[1:]))
            else:
                R = g.srcs[0].arr
                copyto = np.copyto
                ops.append(lambda: copyto(Tc, R))
                if (g.signs < 0).any():
                    S = g.signs.reshape((k + 1,) + g.ishape)
                    mul = np.multiply
                    ops.append(lambda: mul(Tc, S, out=Tc))
            if T is None:
                pass
            elif g.m >= 2:
                ops.append(_seqsum(T, Y))
            else:
                tmp = np.empty(2)
                red = _seqsum(T, tmp)
                copyto = np.copyto
                t0 = tmp[:1]

                def one():
                    red()
                    copyto(Y, t0)
                ops.append(one)
        elif kind == K_PY:
            op = g.rule
            arrs = [s.arr[0] for s in g.srcs]
            ops.append(lambda: _py_forward(op, arrs, Y))
        else:                                            # pragma: no cover
            raise AssertionError(kind)
        if len(ops) == 1 and not gathers:
            return ops[0]

        def run():
            for idx, buf in gathers:
                take(val, idx, out=buf, mode="clip")
            for f in ops:
                f()
        return run

    # --------------------------------------------------------------------------- replay ----
    def run(self, flat):
        val = self.val
        if flat.shape[0] != self.n_in:                    # pragma: no cover (key guards it)
            raise CompileError(f"expected {self.n_in} numbers, got {flat.shape[0]}")
        val[:self.n_in] = flat
        if self.np_:
            val[self.p0:self.p0 + self.np_] = np.fromiter(map(_getdata, self.params),
                                                           dtype=np.float64, count=self.np_)
        self.gen += 1
        gen = self.gen
        with np.errstate(all="ignore"):
            for f in self.fwd:
                f()
        outs = val[self.out_slots].tolist()
        results = [Result(x, self, k, gen) for k, x in enumerate(outs)]
        if type(self.tree) is int:
            return results[self.tree]
        return _rebuild_outputs(self.tree, results)

    def check_against_trace(self):
        alive = self.slot >= 0
        got = self.val[self.slot[alive]]
        want = self.datas[alive]
        same = (got == want) | (np.isnan(got) & np.isnan(want))
        if not same.all():
            i = int(np.flatnonzero(alive)[np.flatnonzero(~same)[0]])
            raise AssertionError(f"compiled forward differs from the trace at node {i} "
                                 f"({self._trace_order[i]._op}): {got[~same][0]!r} vs "
                                 f"{want[~same][0]!r}")

    def drop_trace(self):
        """Forget the traced Values (only the parameters are kept)."""
        self._trace_order = None
        self._param_values = None
        self.rules = None
        self.datas = None

    # ------------------------------------------------------------------------- backward ----
    def backward(self, res):
        if res._gen != self.gen:
            raise RuntimeError("this Result comes from an earlier call of the compiled function, "
                               "whose buffers have been reused by a later call with the same "
                               "argument structure; call backward() before calling it again")
        k = res._k
        prog = self._bwd.get(k)
        if prog is None:
            t = time.perf_counter()
            prog = self._bwd[k] = _Backward(self, k)
            self.info["backward_compile_s"][k] = time.perf_counter() - t
        with np.errstate(all="ignore"):
            prog.run()


def _lin_contraction(b, W, X, Y):
    """A group of fused neurons out = b + w0*x0 + w1*x1 + ... as one einsum contraction, when
    the weights and the inputs each vary over their own instance axes (a layer over a batch:
    weights per neuron, inputs per example). The bias joins as a term 1*b in front of the sum,
    in the weights' (or the inputs') operand. None if the shapes do not allow it, or numpy
    would not add in eager's order (see _contraction)."""
    if Y.size < 2:
        return None
    letters = "jstuv"[:W.ndim]
    inst = letters[1:]
    cw, lw = _compact(W, letters)
    cx, lx = _compact(X, letters)
    cb, lb = _compact(b, inst)
    if "j" not in lw or "j" not in lx:
        return None
    # the bias rides along the operand whose instance letters cover its own
    if set(lb) <= set(lw) - {"j"}:
        host, other, lhost, lother = cw, cx, lw, lx
    elif set(lb) <= set(lx) - {"j"}:
        host, other, lhost, lother = cx, cw, lx, lw
    else:
        return None
    if set(inst) - (set(lhost) | set(lother)):
        return None
    k = W.shape[0]
    host_aug = np.empty((k + 1,) + host.shape[1:])
    other_aug = np.empty((k + 1,) + other.shape[1:])
    other_aug[0] = 1.0
    # the bias fills row 0 of the host operand, broadcast over the host's other axes
    bview = host_aug[0, ...]
    order = [c for c in lhost[1:] if c in lb]
    cb_t = np.transpose(cb, [lb.index(c) for c in order]) if lb else cb
    bsrc = np.broadcast_to(_expand(cb_t, lhost[1:], order), bview.shape)
    spec = f"{lhost},{lother}->{inst}"
    fn = _contraction(spec, host_aug, other_aug, Y)
    if fn is None:
        return None
    copyto = np.copyto
    hdst, odst = host_aug[1:], other_aug[1:]
    return [lambda: copyto(bview, bsrc), lambda: copyto(hdst, host),
            lambda: copyto(odst, other), fn]


def _expand(a, letters, have):
    """a (axes `have`) reshaped with length-1 axes so it broadcasts over `letters`."""
    shape = [a.shape[have.index(c)] if c in have else 1 for c in letters]
    return a.reshape(shape)


# ---------------------------------------------------------------------------------------------
# Per-element fallbacks (exactly the op table's functions) and eager-identical errors
# ---------------------------------------------------------------------------------------------
def _py_forward(op, arrs, Y):
    cols = [a.reshape(-1).tolist() for a in arrs]
    try:
        res = list(map(op.forward, *cols))
    except Exception:
        _raise_eager_forward(op, arrs)
        raise
    if not all([type(x) is float for x in res]):
        try:
            res = [x if type(x) is float else engine._as_float(x, "") for x in res]
        except TypeError:
            _raise_eager_forward(op, arrs)
            raise
    Y[...] = np.array(res, dtype=np.float64).reshape(Y.shape)


def _raise_eager_forward(op, arrs, active=None):
    """Run the op on Values element by element, as eager does, until it raises."""
    cols = [np.asarray(a).reshape(-1).tolist() for a in arrs]
    for j, xs in enumerate(zip(*cols)):
        if active is not None and not active[j]:
            continue
        vs = [Value(x) for x in xs]
        if len(vs) == 2 and op.name in ("+", "-", "*", "/"):
            op.binary(*vs)
        else:
            op(*vs)


def _py_local_grads(op, out, arrs, active):
    """Local derivatives per element (m, arity), with eager's error for a failing one."""
    o = out.reshape(-1).tolist()
    cols = [a.reshape(-1).tolist() for a in arrs]
    lg = op.local_grads
    try:
        d = list(map(lg, o, *cols))
    except (ValueError, ZeroDivisionError, OverflowError):
        for j, xs in enumerate(zip(*cols)):
            if active is None or active[j]:
                _raise_eager_backward(op, o[j], xs)
        d = [lg(oj, *xs) if (active is None or active[j]) else (0.0,) * len(cols)
             for j, (oj, xs) in enumerate(zip(o, zip(*cols)))]
    return np.array(d, dtype=np.float64).reshape((len(o), len(cols)))


def _raise_eager_backward(op, out, xs):
    vs = [Value(x) for x in xs]
    v = engine._node(out, tuple(vs), op)
    engine._chain_rule(v)


# ---------------------------------------------------------------------------------------------
# Backward: one program per seed output
# ---------------------------------------------------------------------------------------------
class _Backward:
    """Gradients of one output. Every gradient is an ordered sum: its contributions are written
    into the rows of an accumulation block in the order eager's backward adds them (reversed
    topological order of the consumers, then input position), row 0 holding the starting value
    (the parameter's current .grad, or 0.0), and the block is reduced row after row."""

    def __init__(self, prog, k):
        self.prog = prog
        seed = int(prog.out_nodes[k])
        self.seed_slot = int(prog.slot[seed])
        self.leaf_seed = None
        self.steps = []
        self.pg = []
        self.gv = None
        if prog.kind[seed] == K_LEAF:
            if prog.is_param_node[seed]:
                self.leaf_seed = prog.params[self.seed_slot - prog.p0]
            return
        first = int(prog.out_nodes[0])
        if k == 0 or seed == first:
            tpos = np.where(np.arange(prog.n_nodes) <= first, np.arange(prog.n_nodes), -1)
        else:
            tpos = _topo_ints(seed, prog.ptr, prog.chl)
        self._build(tpos)

    def _build(self, tpos):
        prog = self.prog
        groups, need = prog.groups, prog.need
        n_slots = prog.n_slots
        # ---- all edges (group, role, element) with a target that needs a gradient
        tg, key1, key2, eid = [], [], [], []
        spans = []
        total = 0
        for gi, g in enumerate(groups):
            for ri, r in enumerate(g.roles):
                size = r.size
                tgt = r.reshape(-1)
                cpos = tpos[np.asarray(g.cnode[ri]).reshape(-1)]
                ok = (cpos >= 0) & need[tgt]
                spans.append((gi, ri, total, size))
                if ok.any():
                    w = np.flatnonzero(ok)
                    tg.append(tgt[w])
                    key1.append(-cpos[w])
                    key2.append(np.asarray(g.inp[ri]).reshape(-1)[w])
                    eid.append(total + w)
                total += size
        trash = n_slots
        dest = np.full(total, trash, dtype=np.int64)
        offset = n_slots + 1
        blocks = []                                   # (home, off, R, nb2, cols(slots))
        if tg:
            tg, key1, key2, eid = (np.concatenate(x) for x in (tg, key1, key2, eid))
            order = np.lexsort((key2, key1, tg))
            tg, eid = tg[order], eid[order]
            start = np.r_[0, np.flatnonzero(np.diff(tg)) + 1]
            counts = np.diff(np.r_[start, len(tg)])
            rank = np.arange(len(tg)) - np.repeat(start, counts) + 1
            cnt_e = np.repeat(counts, counts)
            targets = tg[start]
            is_par = (targets >= prog.p0) & (targets < prog.p0 + prog.np_)
            # direct: an intermediate node with one contribution takes it as its gradient
            direct_t = (counts == 1) & ~is_par
            de = np.repeat(direct_t, counts)
            dest[eid[de]] = tg[de]
            # blocks: per home (group of the node; for parameters a shared home) and bucket
            home = np.searchsorted(np.array([g.o0 for g in groups] + [n_slots]), targets,
                                   side="right") - 1
            home[is_par] = -1
            bucket = np.left_shift(1, np.frexp(counts - 1)[1].astype(np.int64))  # next 2**j
            blk_t = ~direct_t
            tcol = np.zeros(len(targets), dtype=np.int64)
            toff = np.zeros(len(targets), dtype=np.int64)
            tnb2 = np.zeros(len(targets), dtype=np.int64)
            sel = np.flatnonzero(blk_t)
            if sel.size:
                bkey = home[sel] * 1_000_003 + bucket[sel]
                for bk in np.unique(bkey):
                    members = sel[bkey == bk]                # sorted by slot already
                    nb = len(members)
                    nb2 = max(nb, 2)
                    R = int(counts[members].max()) + 1
                    tcol[members] = np.arange(nb)
                    toff[members] = offset
                    tnb2[members] = nb2
                    blocks.append((int(home[members[0]]), offset, R, nb2, targets[members]))
                    offset += R * nb2
            be = np.repeat(blk_t, counts)
            t_of_e = np.repeat(np.arange(len(targets)), counts)
            te = t_of_e[be]
            dest[eid[be]] = toff[te] + rank[be] * tnb2[te] + tcol[te]
            del cnt_e
        self.buf = buf = np.zeros(offset)
        gv = buf[:n_slots]
        # ---- instructions, groups from the last level down
        per_group_blocks = {}
        param_blocks = []
        for b in blocks:
            (param_blocks if b[0] == -1 else per_group_blocks.setdefault(b[0], [])).append(b)
        span_of = {(gi, ri): (s0, size) for gi, ri, s0, size in spans}
        role_dest = {}
        for (gi, ri), (s0, size) in span_of.items():
            d = dest[s0:s0 + size]
            if not (d == trash).all():
                role_dest[(gi, ri)] = d.reshape((groups[gi].roles[ri].shape[0],)
                                                + groups[gi].ishape)
        fused, skip = self._fusions(blocks, role_dest, buf, gv)
        steps = []
        for gi in range(len(groups) - 1, -1, -1):
            g = groups[gi]
            for _, off, R, nb2, cols in per_group_blocks.get(gi, ()):
                if off not in skip:
                    steps.append(self._pull(buf, off, R, nb2, cols))
            dests = [role_dest.get((gi, ri)) for ri in range(len(g.roles))]
            for ri in range(len(g.roles)):
                if (gi, ri) in fused:
                    steps.append(fused[(gi, ri)])
                    dests[ri] = None
            if any(d is not None for d in dests):
                steps.append(self._contrib(g, dests, buf, gv, tpos))
            elif _may_fail_backward(g) and (tpos[g.nodes] >= 0).any():
                # eager's backward evaluates every node's derivative, needed or not, and
                # fails where one does not exist: so does the replay
                steps.append(self._contrib(g, dests, buf, gv, tpos))
        # ---- parameters: row 0 of their blocks is their current .grad
        pg_slots = []
        rows0, outs, pulls = [], [], []
        pos = 0
        for _, off, R, nb2, cols in param_blocks:
            nb = len(cols)
            blk = buf[off:off + R * nb2].reshape(R, nb2)
            rows0.append((blk[0, :nb], pos, pos + nb))
            pg_slots.append(cols)
            outs.append((pos, pos + nb))
            pos += nb
        self.npg = pos
        self.new = np.empty(max(pos, 1))
        for (_, off, R, nb2, cols), (a, b) in zip(param_blocks, outs):
            blk = buf[off:off + R * nb2].reshape(R, nb2)
            if nb2 == b - a:
                pulls.append(_seqsum(blk, self.new[a:b]))
            else:
                tmp = np.empty(nb2)
                red = _seqsum(blk, tmp)
                dst, src = self.new[a:b], tmp[:b - a]

                def pull(red=red, dst=dst, src=src):
                    red()
                    dst[...] = src
                pulls.append(pull)
        self.rows0 = rows0
        self.param_pulls = pulls
        self.pg = [prog.params[s - prog.p0] for s in
                   (np.concatenate(pg_slots).tolist() if pg_slots else [])]
        self.steps = steps
        self.gv = gv

    def _fusions(self, blocks, role_dest, buf, gv):
        """Blocks filled by nothing but one role of one group of fused neurons (the inputs of a
        layer, each read by every neuron of the next layer): their products and their ordered
        sum become one einsum contraction straight into the gradients."""
        groups = self.prog.groups
        fused, skip = {}, set()
        comp = [b for b in blocks if b[0] != -1]
        if not comp:
            return fused, skip
        offs = np.array([b[1] for b in comp])
        ends = np.array([b[1] + b[2] * b[3] for b in comp])
        writers = {}
        for key, d in role_dest.items():
            flat = d.reshape(-1)
            inb = flat > gv.shape[0]
            bi = np.searchsorted(offs, flat[inb], side="right") - 1
            ok = (bi >= 0) & (flat[inb] < ends[np.maximum(bi, 0)])
            hit = set(np.unique(bi[ok]).tolist())
            for b in hit:
                writers.setdefault(b, set()).add(key)
            writers.setdefault(("role", key), (hit, bool(inb.all() and ok.all())))
        for bi, (home, off, R, nb2, cols) in enumerate(comp):
            w = writers.get(bi, set())
            if len(w) != 1:
                continue
            (key,) = w
            gi, ri = key
            g = groups[gi]
            hit, only_blocks = writers[("role", key)]
            nb = len(cols)
            if g.kind != K_LIN or ri == 0 or hit != {bi} or not only_blocks or nb2 != nb:
                continue
            d = role_dest[key]
            if d.size != (R - 1) * nb:
                continue
            plan = _fusion_axis(d - off, R, nb2, cols)
            if plan is None:
                continue
            ax, flip, base, strides, shape = plan
            G = gv[g.o0:g.o0 + g.m].reshape(g.ishape)
            Gb = np.broadcast_to(G.reshape((1,) + g.ishape), (g.k,) + g.ishape)
            other = g.srcs[2 if ri == 1 else 1].arr            # d/dw = x, d/dx = w
            if flip:
                other, Gb = np.flip(other, ax), np.flip(Gb, ax)
            letters = "jstuv"[:d.ndim]
            ca, la = _compact(other, letters)
            cg, lg = _compact(Gb, letters)
            lo = letters[:ax] + letters[ax + 1:]
            if letters[ax] not in la or letters[ax] not in lg or set(lo) - set(la) - set(lg):
                continue
            out = _strided(buf, base, strides, shape)
            copies = []
            spec = f"{la},{lg}->{lo}"
            fn = None if flip else _contraction(spec, ca, cg, out)
            if fn is None:
                # numpy walks a reversed view in memory order (undoing the reversal) and may sum
                # along a contiguous axis with a vector dot product: copy the operands, at
                # every call, into buffers with the summed axis outermost
                r = letters[ax]
                ca, cg = _own(ca, copies, la.index(r)), _own(cg, copies, lg.index(r))
                fn = _contraction(spec, ca, cg, out)
            if fn is None:
                continue
            if copies:
                copyto = np.copyto
                pre = copies

                def fn(fn=fn, pre=pre):
                    for dst, src in pre:
                        copyto(dst, src)
                    fn()
            fused[key] = fn
            skip.add(off)
        return fused, skip

    def _pull(self, buf, off, R, nb2, cols):
        blk = buf[off:off + R * nb2].reshape(R, nb2)
        nb = len(cols)
        gv = buf
        if nb2 == nb and nb > 1 and (np.diff(cols) == 1).all():
            return _seqsum(blk, gv[int(cols[0]):int(cols[0]) + nb])
        tmp = np.empty(nb2)
        red = _seqsum(blk, tmp)
        src = tmp[:nb]

        def pull():
            red()
            gv[cols] = src
        return pull

    def _contrib(self, g, dests, buf, gv, tpos):
        """Write d(out)/d(input) * out.grad for every edge of group g to its destination."""
        prog = self.prog
        G = gv[g.o0:g.o0 + g.m].reshape(g.ishape)
        kind = g.kind
        sinks = []
        for d in dests:
            if d is None:
                sinks.append(None)
                continue
            aff = _affine(d)
            if aff is not None:
                sinks.append((_strided(buf, aff[0], aff[1], d.shape), None))
            else:
                sinks.append((np.empty(d.shape), d))
        ops = []
        mul, neg, copyto = np.multiply, np.negative, np.copyto

        def emit(ri, make):
            """make(out) -> function computing role ri's contributions into out."""
            s = sinks[ri]
            if s is None:
                return
            out, scatter = s
            ops.append(make(out))
            if scatter is not None:
                def put(out=out, scatter=scatter):
                    buf[scatter] = out
                ops.append(put)

        srcs = [s.arr for s in g.srcs]
        Y = prog.val[g.o0:g.o0 + g.m].reshape(g.ishape)
        if kind == K_ADD:
            emit(0, lambda out: (lambda: copyto(out[0], G)))
            emit(1, lambda out: (lambda: copyto(out[0], G)))
        elif kind == K_SUB:
            emit(0, lambda out: (lambda: copyto(out[0], G)))
            emit(1, lambda out: (lambda: neg(G, out=out[0])))
        elif kind == K_MUL:
            A, B = srcs[0][0], srcs[1][0]
            emit(0, lambda out: (lambda: mul(B, G, out=out[0])))
            emit(1, lambda out: (lambda: mul(A, G, out=out[0])))
        elif kind == K_DIV:
            A, B = srcs[0][0], srcs[1][0]
            active = self._active(g, tpos)
            op = g.rule
            tmp = np.empty(g.ishape)

            def check():
                np.multiply(B, B, out=tmp)
                z = tmp == 0
                if z.any() and (active is None or (z.reshape(-1) & active).any()):
                    _raise_backward_at(op, Y, [A, B], z.reshape(-1) if active is None
                                       else z.reshape(-1) & active)
            ops.append(check)
            t1 = np.empty(g.ishape)

            def da(out):
                def f():
                    np.divide(1.0, B, out=t1)
                    mul(t1, G, out=out[0])
                return f

            def db(out):
                def f():
                    np.negative(A, out=t1)
                    np.divide(t1, tmp, out=t1)           # -a / (b * b)
                    mul(t1, G, out=out[0])
                return f
            emit(0, da)
            emit(1, db)
        elif kind == K_NEG:
            emit(0, lambda out: (lambda: neg(G, out=out[0])))
        elif kind == K_RELU:
            A = srcs[0][0]
            mask = np.empty(g.ishape, dtype=bool)

            def relu(out):
                def f():
                    np.greater(A, 0.0, out=mask)
                    mul(mask, G, out=out[0])
                return f
            emit(0, relu)
        elif kind == K_ABS:
            A = srcs[0][0]
            sg = np.empty(g.ishape)

            def sign(out):
                def f():                                     # (a > 0) - (a < 0)
                    sg[...] = A > 0
                    np.subtract(sg, A < 0, out=sg)
                    mul(sg, G, out=out[0])
                return f
            emit(0, sign)
        elif kind == K_LIN:
            B, W, X = srcs
            Gk = G.reshape((1,) + g.ishape)
            Gb = np.broadcast_to(Gk, (g.k,) + g.ishape)
            emit(0, lambda out: (lambda: copyto(out[0], G)))
            emit(1, lambda out: _product(X, Gb, out))
            emit(2, lambda out: _product(W, Gb, out))
        elif kind == K_SUM:
            T = g.roles[0].shape[0]
            Gb = np.broadcast_to(G.reshape((1,) + g.ishape), (T,) + g.ishape)
            if (g.signs < 0).any():
                S = g.signs.reshape((T,) + g.ishape)
                emit(0, lambda out: (lambda: mul(S, Gb, out=out)))
            else:
                emit(0, lambda out: (lambda: copyto(out, Gb)))
        elif kind == K_PY:
            op = g.rule
            arrs = [s[0] for s in srcs]
            vec = _PY_VEC_GRAD.get(id(op))
            if vec is not None:
                A = arrs[0]
                t1 = np.empty(g.ishape)

                def make(out, vec=vec):
                    if vec == "exp":
                        return lambda: mul(Y, G, out=out[0])
                    if vec == "log":
                        def f():
                            np.divide(1.0, A, out=t1)
                            mul(t1, G, out=out[0])
                        return f
                    if vec == "tanh":
                        def f():
                            mul(Y, Y, out=t1)
                            np.subtract(1.0, t1, out=t1)
                            mul(t1, G, out=out[0])
                        return f

                    def f():                                     # sigmoid: out * (1 - out)
                        np.subtract(1.0, Y, out=t1)
                        mul(Y, t1, out=t1)
                        mul(t1, G, out=out[0])
                    return f
                emit(0, make)
            else:
                active = self._active(g, tpos)
                state = {}

                def local():
                    state["d"] = _py_local_grads(op, Y, arrs, active)
                ops.append(local)
                for ri in range(len(arrs)):
                    def make(out, ri=ri):
                        def f():
                            mul(state["d"][:, ri].reshape(g.ishape), G, out=out[0])
                        return f
                    emit(ri, make)
        else:                                                    # pragma: no cover
            raise AssertionError(kind)
        if len(ops) == 1:
            return ops[0]

        def run():
            for f in ops:
                f()
        return run

    def _active(self, g, tpos):
        """Instances of g that eager's backward visits (None: all of them)."""
        act = tpos[g.nodes] >= 0
        return None if act.all() else act

    def run(self):
        if self.leaf_seed is not None:
            self.leaf_seed.grad += 1.0
            return
        gv = self.gv
        if gv is None:
            return
        gv[self.seed_slot] = 1.0
        for f in self.steps:
            f()
        if self.npg:
            old = np.fromiter(map(_getgrad, self.pg), dtype=np.float64, count=self.npg)
            for row, a, b in self.rows0:
                row[...] = old[a:b]
            for f in self.param_pulls:
                f()
            for p, x in zip(self.pg, self.new[:self.npg].tolist()):
                p.grad = x


def _own(a, copies, first):
    """A buffer shaped like a, refreshed from a at every call (via `copies`), laid out with
    axis `first` outermost: numpy then runs the sum over that axis as its outer loop, one
    element after the other, instead of a vectorized dot product along it."""
    perm = [first] + [d for d in range(a.ndim) if d != first]
    buf = np.empty([a.shape[d] for d in perm]).transpose(np.argsort(perm))
    copies.append((buf, a))
    return buf


def _may_fail_backward(g):
    """Can eager's local derivative of this group's op raise? (1/b**2 of a division, powers,
    custom ops; the others are plain arithmetic on finite inputs or on the op's output)"""
    return g.kind == K_DIV or (g.kind == K_PY and id(g.rule) not in _PY_VEC_GRAD)


def _fusion_axis(rel, R, nb2, cols):
    """For a role's contributions landing at positions rel = row * nb2 + col of a block: the
    axis along which the row runs 1..R-1 (or back), the others giving the column, and the
    gradient slots of the columns as a strided view: (axis, flip, base, strides, shape)."""
    row, col = rel // nb2, rel % nb2
    for ax in range(rel.ndim):
        if rel.shape[ax] != R - 1:
            continue
        r = np.moveaxis(row, ax, 0)
        c = np.moveaxis(col, ax, 0)
        if not ((r == r[(slice(None),) + (slice(0, 1),) * (r.ndim - 1)]).all()
                and (c == c[:1]).all()):
            continue
        line = r.reshape(R - 1, -1)[:, 0]
        if np.array_equal(line, np.arange(1, R)):
            flip = False
        elif np.array_equal(line, np.arange(R - 1, 0, -1)):
            flip = True
        else:
            continue
        slots = cols[c[0]]
        aff = _affine(slots)
        if aff is None:
            continue
        return ax, flip, aff[0], aff[1], slots.shape
    return None


def _raise_backward_at(op, Y, arrs, mask):
    j = int(np.flatnonzero(mask)[0])
    o = Y.reshape(-1)[j]
    xs = [np.asarray(a).reshape(-1)[j] for a in arrs]
    _raise_eager_backward(op, float(o), [float(x) for x in xs])
    raise RuntimeError("compiled backward: eager did not fail where the replay did")
