"""Backward fusions: a layer's input gradients as one contraction.

The inputs of a layer of fused neurons are each read by every neuron of the layer, so each
input's gradient is a sum of (weight * the neuron's gradient) over the neurons. Instead of
writing every product into a block and reducing it, the products and their ordered sum become
one einsum contraction straight into the gradients, when numpy adds them in eager's order.
"""
import numpy as np

from micrograd.compiler.kernels import (
    affine,
    compact,
    contraction,
    matmul_contraction,
    own,
    strided,
)
from micrograd.compiler.trace import K_LIN


def fusions(groups, blocks, role_dest, buf, gv, exact=True):
    """({(group, role): instruction}, offsets of the blocks they replace) for the blocks filled
    by nothing but one (weights or inputs) role of one group of fused neurons. `blocks`: those
    whose row 0 is 0.0 (a sum from 0.0, as a contraction computes it). exact=False: the
    contractions are BLAS matrix products."""
    fused, skip = {}, set()
    comp = blocks
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
        fn = _fused(g, ri, d - off, R, nb2, cols, buf, gv, exact)
        if fn is not None:
            fused[key] = fn
            skip.add(off)
    return fused, skip


def _fused(g, ri, rel, R, nb2, cols, buf, gv, exact):
    """The contraction for role ri of group g, whose contributions land at positions rel of a
    block of R rows; None if the pattern is not a plain contraction numpy does in order."""
    plan = _fusion_axis(rel, R, nb2, cols)
    if plan is None:
        return None
    ax, flip, base, strides, shape = plan
    G = gv[g.o0:g.o0 + g.m].reshape(g.ishape)
    Gb = np.broadcast_to(G.reshape((1,) + g.ishape), (g.k,) + g.ishape)
    other = g.srcs[2 if ri == 1 else 1].arr            # d/dw = x, d/dx = w
    if flip:
        other, Gb = np.flip(other, ax), np.flip(Gb, ax)
    letters = "jstuv"[:rel.ndim]
    ca, la = compact(other, letters)
    cg, lg = compact(Gb, letters)
    lo = letters[:ax] + letters[ax + 1:]
    if letters[ax] not in la or letters[ax] not in lg or set(lo) - set(la) - set(lg):
        return None
    out = strided(buf, base, strides, shape)
    copies = []
    spec = f"{la},{lg}->{lo}"
    if not exact:
        fn = matmul_contraction(spec, ca, cg, out)
        if fn is not None:
            return fn
    fn = None if flip else contraction(spec, ca, cg, out)
    if fn is None:
        # numpy walks a reversed view in memory order (undoing the reversal) and may sum
        # along a contiguous axis with a vector dot product: copy the operands, at every
        # call, into buffers with the summed axis outermost
        r = letters[ax]
        ca, cg = own(ca, copies, la.index(r)), own(cg, copies, lg.index(r))
        fn = contraction(spec, ca, cg, out)
    if fn is None:
        return None
    if not copies:
        return fn
    copyto = np.copyto

    def run():
        for dst, src in copies:
            copyto(dst, src)
        fn()
    return run


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
        aff = affine(slots)
        if aff is None:
            continue
        return ax, flip, aff[0], aff[1], slots.shape
    return None
