"""C source for a traced program: the forward, and the backward of one output.

Each group becomes a loop nest over its instances (in the shape the group runs in, 1-D or
(S, P)); an operand whose slots form an affine pattern is read as `v[base + i*s + ...]` with
the constants written into the source, any other is read through an index table (`I`, handed
over at run time, so the source stays proportional to the number of groups, not of nodes).
Every value is computed as eager computes it: an op's group runs the C statements its own row
writes when run on rows.CExpr operands (its forward; its local_grads times out.grad), the same
operations in the same order, one rounding each (the library is built with -ffp-contract=off,
no -ffast-math, no built-in pow: see cbuild.FLAGS), exp/log/tanh/pow from the same libm as
Python's math. A sum over the terms of a fused neuron or an n-ary sum keeps its terms' order:
the loop over terms is the outer loop, the instances inside it.

The backward follows backward.py's layout exactly (the same destinations for every gradient
contribution, the same blocks, reduced row after row), so its numbers are the numpy backend's,
bit for bit.

Where eager would raise (a division by 0, exp or a power overflowing, log of a number <= 0,
in a forward or in a local derivative), the kernel returns 1, and the caller runs the numpy
backend, which raises eager's own error (or, where eager does not visit the node, gives the
numbers).
"""
import os
import re

import numpy as np

from micrograd.compiler import trace as kinds
from micrograd.compiler.cbuild import UNIT_MARK
from micrograd.compiler.kernels import affine
from micrograd.compiler.rows import as_double, row

HEADER = """#include <math.h>
#include <stdint.h>
"""

# Up to this many groups a program is compiled to C. The C compiler's time grows with the
# number of loop nests (a second or more for a few hundred): beyond this, numpy's replay
# (a few numpy calls per group) is the better bargain, and compiling stays fast.
MAX_GROUPS = 64


def supports(groups, insist=False):
    """Can every group run in C? (Every op whose row is written with arithmetic, comparisons
    and the primitives can; one that is not keeps the program on numpy, as does a program of
    more than MAX_GROUPS groups unless the C backend is asked for: `insist`, for a program
    replayed often enough to repay its compile.) -> (ok, why not)"""
    if len(groups) > MAX_GROUPS and not insist:
        return False, (f"{len(groups)} groups (more than {MAX_GROUPS}: the C compiler would "
                       f"take longer than it saves)")
    for g in groups:
        if g.kind == kinds.K_OP:
            r = row(g.rule, len(g.roles))
            if not r.ok:
                return False, f"no C kernel for {r.why}"
    return True, ""


_WORD = re.compile(r"\b\w+\b")


def _loads(names_refs, text):
    """`double x0_ = ..., o_ = ...;` for the row's variables the statements use."""
    used = set(_WORD.findall(text))
    loads = [f"{n} = {ref()}" for n, ref in names_refs if n in used]
    return f"double {', '.join(loads)};" if loads else ""


class Tables:
    """The index table `I` (int32) and the constants table `D` (float64) a kernel reads."""

    def __init__(self):
        self.ints, self.n_ints = [], 0
        self.dbls, self.n_dbls = [], 0

    def index(self, idx):
        flat = np.ascontiguousarray(idx, dtype=np.int64).reshape(-1)
        if flat.size and (flat.max() >= 2 ** 31 or flat.min() < 0):
            raise OverflowError("a program too large for 32-bit indices")
        off = self.n_ints
        self.ints.append(flat.astype(np.int32))
        self.n_ints += flat.size
        return off

    def doubles(self, arr):
        flat = np.ascontiguousarray(arr, dtype=np.float64).reshape(-1)
        off = self.n_dbls
        self.dbls.append(flat)
        self.n_dbls += flat.size
        return off

    def arrays(self):
        ints = np.concatenate(self.ints) if self.ints else np.zeros(1, dtype=np.int32)
        dbls = np.concatenate(self.dbls) if self.dbls else np.zeros(1)
        return ints, dbls


class Nest:
    """A loop nest over `shape`, loop variables i0, i1, ...: references to arrays in it.

    Every loop runs upwards, so whatever order the loops are nested in, each sum over one of
    them adds its terms in the same order: `open()` picks the innermost loop (the one along
    which the written array and most operands are contiguous, never one the written element
    stays fixed along: that would be a chain of dependent additions), and marks it `ivdep`
    (the elements it writes are never read in the same nest)."""

    def __init__(self, shape, tables):
        self.shape = tuple(int(n) for n in shape)
        self.vars = [f"i{d}" for d in range(len(self.shape))]
        self.tables = tables
        self.refs = []              # (strides or None for a table lookup, written?)

    def flat(self, dims=None):
        """The row-major index over the dimensions `dims` (default: all)."""
        dims = range(len(self.shape)) if dims is None else dims
        terms, mult = [], 1
        for d in reversed(list(dims)):
            terms.append(self.vars[d] if mult == 1 else f"{mult}L*{self.vars[d]}")
            mult *= self.shape[d]
        return " + ".join(reversed(terms)) or "0"

    def ref(self, array, idx, store=False):
        """array[idx[i0, i1, ...]]: affine constants in the source, else through `I`."""
        idx = np.broadcast_to(idx, self.shape)
        aff = affine(idx) if idx.size else (0, [0] * len(self.shape))
        if aff is not None:
            base, strides = aff
            self.refs.append((strides, store))
            expr = [str(base)] + [f"{s}L*{v}" if s != 1 else v
                                  for s, v in zip(strides, self.vars) if s != 0]
            return f"{array}[{' + '.join(expr)}]"
        self.refs.append((None, store))
        off = self.tables.index(idx)
        return f"{array}[I[{off}L + {self.flat()}]]"

    def ref_doubles(self, values):
        """A table of constants D, one per element of the nest."""
        off = self.tables.doubles(np.broadcast_to(values, self.shape))
        self.refs.append((None, False))
        return f"D[{off}L + {self.flat()}]"

    def accumulate(self, out, op, expr, pre=""):
        """The loops of `out op= expr` (op "+=" or "-="), `out` written by ref(store=True).
        When `out` stays fixed along one loop (a sum, whose terms that loop visits in order)
        and runs contiguously along another, short one, a row of partial sums is kept in a
        local array over the whole sum, to be written once: the same additions in the same
        order, without a load and a store of `out` per term."""
        stores = [st for st, is_store in self.refs if is_store]
        nd = len(self.shape)
        red = [d for d in range(nd) if stores and stores[0] is not None
               and stores[0][d] == 0 and self.shape[d] > 1]
        inner = [d for d in range(nd) if stores and stores[0] is not None
                 and abs(stores[0][d]) == 1 and 1 < self.shape[d] <= 64]
        if len(stores) != 1 or len(red) != 1 or not inner:
            return f"{self.open()} {pre} {out} {op} {expr}; }}"
        r, i = red[0], inner[-1]
        vi, n = self.vars[i], self.shape[i]
        outer = [d for d in range(nd) if d not in (r, i)]
        heads = "".join(f"for (long {self.vars[d]} = 0; {self.vars[d]} < {self.shape[d]}; "
                        f"{self.vars[d]}++) " for d in outer)
        loop_i = f"for (long {vi} = 0; {vi} < {n}; {vi}++)"
        vr = self.vars[r]
        return (f"{heads}{{ double acc[{n}];\n"
                f"    {loop_i} acc[{vi}] = {out};\n"
                f"    for (long {vr} = 0; {vr} < {self.shape[r]}; {vr}++)\n"
                f"#pragma GCC ivdep\n"
                f"    {loop_i} {{ {pre} acc[{vi}] {op} {expr}; }}\n"
                f"    {loop_i} {out} = acc[{vi}]; }}")

    def open(self):
        """The loops' heads (the body follows, then `}`)."""
        nd = len(self.shape)
        best, inner = None, nd - 1
        for d in range(nd):
            if self.shape[d] == 1:
                continue
            score = 0
            for strides, store in self.refs:
                if strides is None:
                    score += 1 if d == nd - 1 else 0
                elif store and strides[d] == 0:
                    score -= 1000
                elif abs(strides[d]) == 1:
                    score += 3 if store else 1
            if best is None or score > best or (score == best and d == nd - 1):
                best, inner = score, d
        order = [d for d in range(nd) if d != inner] + [inner]
        heads = [f"for (long {self.vars[d]} = 0; {self.vars[d]} < {self.shape[d]}; "
                 f"{self.vars[d]}++)" for d in order]
        return " ".join(heads[:-1]) + "\n#pragma GCC ivdep\n  " + heads[-1] + " {"


def _inst(g):
    """Slot of each instance of g, shaped as g runs."""
    return g.o0 + np.arange(g.m, dtype=np.int64).reshape(g.ishape)


def _rows(idx, g):
    """A role's (rows, m) array as (rows,) + ishape."""
    return np.asarray(idx).reshape((idx.shape[0],) + g.ishape)


# ------------------------------------------------------------------------------- forward ----
def forward_source(groups, name="fwd"):
    """(source, tables) of `int fwd(double *v, const int32_t *I, const double *D)`."""
    t = Tables()
    body = []
    for gi, g in enumerate(groups):
        body.append(f"  /* group {gi}: kind {g.kind}, {g.m} nodes */")
        body.extend(_forward_group(g, t))
    # one unit: a big program's forward builds in the background, on one processor, while
    # Python writes the backward on the other (which then builds in UNITS units)
    src = _function(name, "double *restrict v, const int32_t *restrict I, "
                          "const double *restrict D", body)
    return src, t


def _forward_group(g, t):
    inst = _inst(g)
    one = Nest(g.ishape, t)
    y = one.ref("v", inst, store=True)
    k = g.kind
    srcs = [_rows(r, g) for r in g.roles]
    if k == kinds.K_OP:                         # the row's forward, as C statements
        blk, res = row(g.rule, len(srcs)).forward()
        text, out = blk.text(), as_double(res)
        loads = _loads([(f"x{i}_", lambda r=r: one.ref("v", r[0])) for i, r in enumerate(srcs)],
                       text + " " + out)
        return [f"  {one.open()} {loads} {text} {y} = {out}; }}"]
    if k == kinds.K_LIN:
        B, W, X = srcs
        lines = [f"  {one.open()} {y} = {one.ref('v', B[0])}; }}"]
        nest = Nest(W.shape, t)
        yy = nest.ref("v", np.broadcast_to(inst, W.shape), store=True)
        prod = f"{nest.ref('v', W)} * {nest.ref('v', X)}"
        lines.append("  " + nest.accumulate(yy, "+=", prod))
        return lines
    if k == kinds.K_SUM:
        T = srcs[0]
        lines = [f"  {one.open()} {y} = {one.ref('v', T[0])}; }}"]
        rest = Nest((T.shape[0] - 1,) + g.ishape, t)
        yy = rest.ref("v", np.broadcast_to(inst, rest.shape), store=True)
        lines.append("  " + rest.accumulate(yy, "+=", rest.ref("v", T[1:])))
        return lines
    raise AssertionError(k)                                  # pragma: no cover


# ------------------------------------------------------------------------------ backward ----
def backward_source(prog, order, name="bwd"):
    """(source, tables) of `int bwd(const double *v, double *b, const int32_t *I,
    const double *D)`: `order` is the list of steps, ("pull", block, segment) and
    ("contrib", group, dests, check), in the order they run (backward.py). `b` is the
    backward's buffer (the gradients of the slots first, then the blocks)."""
    t = Tables()
    body = []
    for step in order:
        if step[0] == "pull":
            body.extend(_pull(prog, step[1], step[2], t))
        else:
            _, gi, dests, check = step
            body.append(f"  /* group {gi} */")
            body.extend(_contributions(prog.groups[gi], dests, check, t))
    src = _function(name, "const double *restrict v, double *restrict b, "
                          "const int32_t *restrict I, const double *restrict D", body,
                    UNITS if len(prog.groups) > MAX_GROUPS else 1)
    return src, t


# A C compiler's optimizer takes time more than linear in the size of a function: a big
# program's kernel is cut into functions of about this many groups' loops (the kernel calls
# them in order), which halves the compile of a GPT's backward at -O2. The backward of a
# program of more than MAX_GROUPS groups is also cut into translation units, one per processor
# (up to 4), that are compiled at once (cbuild.UNIT_MARK).
GROUPS_PER_FUNCTION = 8
UNITS = max(1, min(4, os.cpu_count() or 1))


def _function(name, params, body, units=1):
    """`int name(params)` running `body` (lines; a group's loops start with a `/* group`
    comment), in parts of GROUPS_PER_FUNCTION groups each when it is long, spread over
    `units` translation units."""
    parts, n = [[]], 0
    for line in body:
        if line.startswith("  /* group"):
            n += 1
            if n > GROUPS_PER_FUNCTION and parts[-1]:
                parts.append([])
                n = 1
        parts[-1].append(line)
    if len(parts) == 1:
        return (HEADER + f"int {name}({params}) {{\n  int err = 0;\n" + "\n".join(body)
                + "\n  return err;\n}\n")
    args = ", ".join(p.split()[-1].lstrip("*") for p in params.split(","))
    # the parts are the library's own (hidden), never static: another unit may call them
    attr = '__attribute__((noinline, visibility("hidden")))'
    funcs = [f"{attr} int {name}_{k}({params}) {{\n  int err = 0;\n" + "\n".join(lines)
             + "\n  return err;\n}\n" for k, lines in enumerate(parts)]
    units = max(1, min(units, len(funcs)))
    size = -(-len(funcs) // units)
    protos = "".join(f"{attr} int {name}_{k}({params});\n" for k in range(len(funcs)))
    calls = "\n".join(f"  err |= {name}_{k}({args});" for k in range(len(funcs)))
    main = (HEADER + protos + f"int {name}({params}) {{\n  int err = 0;\n{calls}\n"
            f"  return err;\n}}\n")
    chunks = ["\n".join([HEADER] + funcs[i:i + size]) for i in range(0, len(funcs), size)]
    if units == 1:
        return main + "\n" + "\n".join(funcs)
    return UNIT_MARK.join([main] + chunks)


def mac_segments(groups, role_dest, blocks):
    """Rows of a block that one role of a group of fused neurons fills, for every column (its
    weights' gradients x*g, or its inputs' w*g, one row per instance along one axis of the
    role): {block index: (group, role, first row, end row, axis, flip, column of each edge)}.
    Such rows are not written to the block: the block's reduction computes them in place, as
    products added straight into the gradients, in the rows' order."""
    if not blocks:
        return {}
    offs = np.array([b[1] for b in blocks])
    found = {}
    for (gi, ri), d in role_dest.items():
        if groups[gi].kind != kinds.K_LIN or ri == 0:
            continue
        flat = d.reshape(-1)
        bi = np.searchsorted(offs, flat, side="right") - 1
        if bi[0] < 0 or not (bi == bi[0]).all():
            continue
        b = int(bi[0])
        _, off, R, nb2, cols = blocks[b]
        nb = len(cols)
        rel = d - off
        row, col = rel // nb2, rel % nb2
        if rel.max() >= R * nb2 or col.max() >= nb:
            continue
        for ax in range(d.ndim):
            n = d.shape[ax]
            r = np.moveaxis(row, ax, 0).reshape(n, -1)
            c = np.moveaxis(col, ax, 0).reshape(n, -1)
            if not ((r == r[:, :1]).all() and (c == c[:1]).all()):
                continue
            line = r[:, 0]
            step = np.diff(line)
            if n > 1 and not ((step == 1).all() or (step == -1).all()):
                continue
            flip = bool(n > 1 and step[0] == -1)
            if c.shape[1] != nb or np.unique(c[0]).size != nb:
                continue
            r0 = int(line.min())
            if b not in found or n > found[b][3] - found[b][2]:
                found[b] = (gi, ri, r0, r0 + n, ax, flip, c[0])
            break
    return found


def _pull(prog, block, seg, t):
    """gradient[cols[c]] = block[0, c] + block[1, c] + ... (row after row, as seqsum); rows
    of a segment (mac_segments) are computed in place instead of read from the block."""
    off, R, nb2, cols = block
    cols = np.asarray(cols, dtype=np.int64)
    nb = len(cols)
    one = Nest((nb,), t)
    dst = one.ref("b", cols, store=True)
    lines = [f"  {one.open()} {dst} = b[{off}L + i0]; }}"]
    ranges = [(1, R)] if seg is None else [(1, seg[2]), None, (seg[3], R)]
    for rg in ranges:
        if rg is None:
            lines.extend(_mac(prog, block, seg, t))
            continue
        r0, r1 = rg
        if r1 <= r0:
            continue
        rows = Nest((r1 - r0, nb), t)
        dst2 = rows.ref("b", np.broadcast_to(cols, (r1 - r0, nb)), store=True)
        src = rows.ref("b", off + nb2 * np.arange(r0, r1)[:, None] + np.arange(nb)[None, :])
        lines.append(f"  {rows.open()} {dst2} += {src}; }}")
    return lines


def _mac(prog, block, seg, t):
    """A segment's rows, added into the gradients: one product per edge, in row order."""
    gi, ri, r0, r1, ax, flip, col = seg
    g = prog.groups[gi]
    cols = np.asarray(block[3], dtype=np.int64)
    shape = (g.roles[ri].shape[0],) + g.ishape
    tgt = np.broadcast_to(np.expand_dims(cols[col].reshape(shape[:ax] + shape[ax + 1:]), ax),
                          shape)

    def prep(arr):                  # rows in ascending order: along the axis, or against it
        arr = np.broadcast_to(arr, shape)
        return np.flip(arr, ax) if flip else arr
    nest = Nest(shape, t)
    out = nest.ref("b", tgt, store=True)
    G, pre, expr = _edge(g, ri, nest, prep)
    return [f"  /* group {gi}, role {ri}: rows {r0}..{r1 - 1} */",
            "  " + nest.accumulate(out, "+=", expr, pre=f"double g_ = {G}; {pre}")]


def _contributions(g, dests, check, t):
    """Each edge's d(out)/d(input) * out.grad, written to its destination in b; `check`: the
    row's local derivatives may fail where eager's backward visits, and are evaluated (for
    their err) even if no edge needs them."""
    lines = []
    for ri, d in enumerate(dests):
        if d is None:
            continue
        nest = Nest(d.shape, t)
        out = nest.ref("b", d, store=True)
        G, pre, expr = _edge(g, ri, nest, lambda arr, shape=d.shape: np.broadcast_to(arr, shape))
        lines.append(f"  {nest.open()} double g_ = {G}; {pre} {out} = {expr}; }}")
    if check and not lines:
        nest = Nest(g.ishape, t)
        pre, _ = _row_derivative(g, 0, lambda arr: nest.ref("v", np.broadcast_to(arr, g.ishape)))
        lines.append(f"  {nest.open()} {pre} }}")
    return lines


def _edge(g, ri, nest, prep):
    """(reference to out.grad, statements, the contribution's expression) for the edges of
    role ri."""
    G = nest.ref("b", prep(_inst(g)))
    val = (lambda arr: nest.ref("v", prep(arr)))
    if g.kind == kinds.K_OP:
        pre, d = _row_derivative(g, ri, val)
        return G, pre, f"{d} * g_"
    if g.kind == kinds.K_SUM or (g.kind == kinds.K_LIN and ri == 0):
        return G, "", "g_"
    if g.kind == kinds.K_LIN:                           # d/dw = x, d/dx = w
        srcs = [_rows(r, g) for r in g.roles]
        return G, "", f"{val(srcs[2 if ri == 1 else 1])} * g_"
    raise AssertionError(g.kind)                                      # pragma: no cover


def _row_derivative(g, ri, val):
    """(statements, expression) of d(out)/d(input ri): the row's local_grads as C, its
    operands (o_ the output, x0_, x1_, ... the inputs) read through `val`."""
    srcs = [_rows(r, g) for r in g.roles]
    blk, grads = row(g.rule, len(srcs)).local()
    d = as_double(grads[ri])
    text = blk.text(d)          # the statements this derivative needs (and the checks)
    refs = [("o_", lambda: val(_inst(g)))] + [
        (f"x{i}_", lambda r=r: val(r[0])) for i, r in enumerate(srcs)]
    return f"{_loads(refs, text + ' ' + d)} {text}", d
