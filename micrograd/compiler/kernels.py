"""numpy building blocks of the replay, each one exact: it rounds where eager rounds.

* sequential sums: ((t0 + t1) + t2) + ..., never numpy's pairwise summation;
* strided views: an operand whose slots form an affine pattern is read in place, no gather;
* products and contractions: einsum, used only after checking on replicas of the operands
  that numpy adds the products one after the other in eager's order (never BLAS).

The one inexact kernel, matmul_contraction (BLAS), is for exact=False only.
"""
import numpy as np

F8 = 8  # bytes per float64


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


SEQUENTIAL_REDUCE = _numpy_reduce_is_sequential()


def seqsum(block, out):
    """A function out[:] = ((block[0] + block[1]) + block[2]) + ..., for block (R, ..., n>=2)."""
    if SEQUENTIAL_REDUCE:
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
def affine(idx):
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


def strided(buf, base, strides, shape):
    """The view of buf whose element i0, i1, ... is buf[base + sum(i_d * strides[d])]."""
    return np.ndarray(tuple(shape), dtype=np.float64, buffer=buf, offset=base * F8,
                      strides=tuple(s * F8 for s in strides))


def period(a):
    """For a 1-D index array that is not affine, the length of its first affine run."""
    if a.size < 3:
        return None
    d = np.diff(a)
    bad = np.flatnonzero(d != d[0])
    if bad.size == 0:
        return None
    return int(bad[0]) + 1


class Src:
    """A group's operand: a strided view of the value array, or a gather into a buffer."""
    __slots__ = ("arr", "idx")

    def __init__(self, val, idx):
        aff = affine(idx)
        if aff is not None:
            self.arr, self.idx = strided(val, aff[0], aff[1], idx.shape), None
        else:
            self.arr, self.idx = np.empty(idx.shape), idx


def gathers(srcs):
    """The gathers a group needs before it computes: a list of (idx, out)."""
    return [(s.idx, s.arr) for s in srcs if s is not None and s.idx is not None]


# ---------------------------------------------------------------------------------------------
# Products and contractions
# ---------------------------------------------------------------------------------------------
def compact(a, letters):
    """Drop the broadcast (stride 0) axes of a view: the operand einsum wants, and its letters."""
    keep, sel = [], []
    for d in range(a.ndim):
        if a.shape[d] > 1 and a.strides[d] == 0:
            sel.append(0)
        else:
            sel.append(slice(None))
            keep.append(letters[d])
    return a[tuple(sel) + (Ellipsis,)], "".join(keep)     # a view even when 0-d


def expand(a, letters, have):
    """a (axes `have`) reshaped with length-1 axes so it broadcasts over `letters`."""
    shape = [a.shape[have.index(c)] if c in have else 1 for c in letters]
    return a.reshape(shape)


def product(a, b, out):
    """A function out[...] = a * b (broadcast, exact: one rounding per element). einsum with no
    summed index is a plain product per element and walks broadcast operands much faster than
    ufunc broadcasting does."""
    letters = "abcdefgh"[:out.ndim]
    if a.shape != out.shape or b.shape != out.shape or out.size < 64:
        mul = np.multiply
        return lambda: mul(a, b, out=out)
    ca, la = compact(a, letters)
    cb, lb = compact(b, letters)
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
    hi = sum(max(0, (n - 1) * st) for n, st in zip(a.shape, a.strides)) + F8
    size = (hi - lo) // F8
    buf = rng.standard_normal(size) * 10.0 ** rng.integers(-9, 10, size)
    return np.ndarray(a.shape, dtype=np.float64, buffer=buf, offset=-lo, strides=a.strides)


def contraction(spec, a, b, out):
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


def matmul_contraction(spec, a, b, out):
    """A function doing einsum(spec, a, b, out=out), a sum over one index, as one BLAS matrix
    product (not eager's order of additions: for exact=False). None unless each operand has
    the summed index and letters of its own, all of which the output has."""
    ins, lo = spec.split("->")
    la, lb = ins.split(",")
    red = (set(la) | set(lb)) - set(lo)
    if len(red) != 1 or set(la) & set(lb) != red or set(lo) != (set(la) | set(lb)) - red:
        return None
    (r,) = red
    fa, fb = [c for c in la if c != r], [c for c in lb if c != r]
    pa = [la.index(c) for c in fa] + [la.index(r)]           # a -> (free_a..., r)
    pb = [lb.index(r)] + [lb.index(c) for c in fb]           # b -> (r, free_b...)
    ma = int(np.prod([a.shape[i] for i in pa[:-1]]))
    nb = int(np.prod([b.shape[i] for i in pb[1:]]))
    k = a.shape[pa[-1]]
    tmp = np.empty((ma, nb))
    res = tmp.reshape([a.shape[i] for i in pa[:-1]] + [b.shape[i] for i in pb[1:]])
    res = res.transpose([(fa + fb).index(c) for c in lo])    # as out's letters
    at, bt = a.transpose(pa), b.transpose(pb)
    matmul, copyto = np.matmul, np.copyto

    def run():
        matmul(at.reshape(ma, k), bt.reshape(k, nb), out=tmp)
        copyto(out, res)
    return run


def own(a, copies, first):
    """A buffer shaped like a, refreshed from a at every call (via `copies`), laid out with
    axis `first` outermost: numpy then runs the sum over that axis as its outer loop, one
    element after the other, instead of a vectorized dot product along it."""
    perm = [first] + [d for d in range(a.ndim) if d != first]
    buf = np.empty([a.shape[d] for d in perm]).transpose(np.argsort(perm))
    copies.append((buf, a))
    return buf
