"""Arguments and results: structure keys, flat numbers, and back.

A call's arguments become a *key* (their structure: shapes, lengths, container types, static
values; one traced program per key) and one flat float64 array of their numbers, in order. A
trace rebuilds the arguments from the key with a leaf Value for every number. The function's
result (a Value or nested lists/tuples of Values) is flattened into a list of output Values
and a tree that rebuilds the same structure around the replay's results.
"""
from numbers import Real

import numpy as np

from micrograd.compiler.errors import CompileError
from micrograd.engine import Value

_FAST_KINDS = frozenset("fiu")      # numpy dtype kinds read as numbers: float, int, uint


# ---------------------------------------------------------------------------------------------
# Arguments -> (key, numbers)
# ---------------------------------------------------------------------------------------------
def signature(args, kwargs, static_argnums):
    """(key, parts): the structure key of a call and its numbers, a list of float64 arrays."""
    parts = []
    keys = []
    for i, a in enumerate(args):
        if i in static_argnums:
            try:
                hash(a)
            except TypeError:
                raise CompileError(f"static argument {i} must be hashable, got "
                                   f"{type(a).__name__}") from None
            keys.append(("static", type(a), a))
        else:
            keys.append(arg_key(a, f"argument {i}", parts))
    kw = ()
    if kwargs:
        kw = tuple((name, arg_key(kwargs[name], f"argument {name!r}", parts))
                   for name in sorted(kwargs))
    return (tuple(keys), kw), parts


def arg_key(a, where, parts):
    """The structure key of one argument; its numbers (float64 array) are appended to parts.
    Rectangular lists and arrays of numbers take a fast path through np.array ('f'); anything
    else is walked element by element ('t')."""
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


# ---------------------------------------------------------------------------------------------
# (key, leaves) -> arguments, for the trace
# ---------------------------------------------------------------------------------------------
def rebuild_args(key, leaves):
    """The call's (args, kwargs) with the numbers replaced by `leaves`, in order. Numpy arrays
    come back as nested lists."""
    it = iter(leaves)
    arg_keys, kw = key
    args = [_rebuild_arg(k, it) for k in arg_keys]
    kwargs = {name: _rebuild_arg(k, it) for name, k in kw}
    return args, kwargs


def _rebuild_arg(key, it):
    tag = key[0]
    if tag == "s":
        return next(it)
    if tag == "f":
        return _rebuild_fast(key[1], key[2], it)
    if tag == "t":
        return _rebuild_slow(key[1], it)
    return key[2]   # static


def _rebuild_fast(shape, types, it):
    if not shape:
        return next(it)
    t = types[0] if types else list
    if t is np.ndarray:
        t = list
    return t(_rebuild_fast(shape[1:], types[1:], it) for _ in range(shape[0]))


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


def describe(key):
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
# Outputs
# ---------------------------------------------------------------------------------------------
def flatten_outputs(out, values, where="the compiled function"):
    """The tree of `out` (a Value: its index in `values`; a list/tuple: (type, subtrees));
    appends the output Values to `values`."""
    if isinstance(out, Value):
        values.append(out)
        return len(values) - 1
    t = type(out)
    if t is list or t is tuple:
        return (t, [flatten_outputs(x, values, where) for x in out])
    raise CompileError(f"{where} must return a Value or a (nested) list/tuple of Values, "
                       f"got {type(out).__name__} {out!r:.80}")


def rebuild_outputs(tree, results):
    if type(tree) is int:
        return results[tree]
    t, kids = tree
    return t(rebuild_outputs(k, results) for k in kids)
