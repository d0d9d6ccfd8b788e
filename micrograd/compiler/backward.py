"""The backward replay: the chain rule group by group, from the last level down, for one seed
output.

Every gradient is an ordered sum: its contributions are written into the rows of an
accumulation *block* in the order eager's backward adds them (reversed topological order of
the consumers, then input position), row 0 holding the starting value (a parameter's current
.grad, or 0.0 for an intermediate node), and the block is reduced row after row. A node with a
single contribution takes it as its gradient directly. Blocks are shared by the nodes of one
group (or all parameters) whose number of contributions rounds up to the same power of two.

Two flavours: `run()` adds into the parameters' .grad (row 0 of their blocks is their current
.grad), as eager's backward() does. With fresh=True (the fused training step), every gradient
starts at 0.0, as after zero_grad(), and the parameters' gradients stay in the buffer
(`fresh_gradients()`): their blocks are then split by the role that writes them, so that a
layer's weight gradients, too, become one contraction (fusions.py).
"""
from operator import attrgetter

import numpy as np

from micrograd.compiler import cgen
from micrograd.compiler.cbuild import CUnavailable, Kernel
from micrograd.compiler.derivatives import contributions, may_fail_backward
from micrograd.compiler.fusions import fusions
from micrograd.compiler.kernels import seqsum
from micrograd.compiler.trace import K_LEAF, topo_ints

_getgrad = attrgetter("grad")


class Backward:
    """Gradients of output k of a Program: `run()` adds them into the parameters' .grad;
    with fresh=True, `fresh_gradients()` returns them (from 0.0) instead."""

    def __init__(self, prog, k, fresh=False):
        self.prog = prog
        self.fresh = fresh
        graph = prog.graph
        seed = int(graph.out_nodes[k])
        self.seed_slot = int(prog.slots.slot[seed])
        self.leaf_seed = None
        self.steps = []
        self.kernel = None
        self.pg = []
        self.npg = 0
        self.gv = None
        if graph.kind[seed] == K_LEAF:
            if graph.is_param_node[seed]:
                self.leaf_seed = prog.params[self.seed_slot - prog.p0]
            return
        # tpos: each node's position in eager's seed.topo() (-1: not reached from the seed)
        n = graph.n_nodes
        first = int(graph.out_nodes[0])
        if k == 0 or seed == first:
            tpos = np.where(np.arange(n) <= first, np.arange(n), -1)
        else:
            tpos = topo_ints(seed, graph.ptr, graph.chl)
        role_dest, blocks, size = self._layout(tpos)
        self.buf = buf = np.zeros(size)
        self.gv = buf[:prog.n_slots]              # the gradient of every slot
        self._plan = (tpos, role_dest, blocks)
        self.steps = None                         # the numpy instructions, when needed
        self.kernel = self._c_kernel() if prog.cfwd is not None else None
        if self.kernel is None:
            self.numpy_steps()
        if fresh:
            self.pg, self.npg = prog.params, prog.np_
        else:
            self._parameters([b for b in blocks if b[0] == -1], buf)

    # ------------------------------------------------------------------------ layout ----
    def _layout(self, tpos):
        """Where each gradient contribution goes. Returns (role_dest, blocks, size):

        role_dest[(group, role)]  the destination (a position in the buffer) of each edge,
                                  shaped like the role; only roles with something to write
        blocks   (home group, or -1 for the parameters; offset; rows R; columns nb2; the
                 slots of the columns)
        size     of the buffer: the gradients of the slots, a trash slot, the blocks"""
        prog = self.prog
        groups, need, n_slots = prog.groups, prog.need, prog.n_slots
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
        blocks = []
        if tg:
            tg, key1, key2, eid = (np.concatenate(x) for x in (tg, key1, key2, eid))
            order = np.lexsort((key2, key1, tg))
            tg, eid = tg[order], eid[order]
            start = np.r_[0, np.flatnonzero(np.diff(tg)) + 1]
            counts = np.diff(np.r_[start, len(tg)])
            rank = np.arange(len(tg)) - np.repeat(start, counts) + 1
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
            # bucket: the number of contributions rounded up to 2**j (key: j)
            key = (home + 1) * 64 + np.frexp(counts - 1)[1].astype(np.int64)
            if self.fresh:
                # a parameter written by one role only gets a block of that role's own; for
                # the C kernel, parameters written by the same first and last roles share
                # one (cgen then computes each role's rows of a block in one loop nest)
                role = np.searchsorted([sp[2] for sp in spans], eid, side="right") - 1
                lo, hi = np.minimum.reduceat(role, start), np.maximum.reduceat(role, start)
                ns = len(spans) + 1
                if prog.cfwd is not None:
                    key = (key * ns + np.where(is_par, lo + 1, 0)) * ns + np.where(is_par,
                                                                                   hi + 1, 0)
                else:
                    key = key * ns + np.where(is_par & (lo == hi), lo + 1, 0)
            blk_t = ~direct_t
            tcol = np.zeros(len(targets), dtype=np.int64)
            toff = np.zeros(len(targets), dtype=np.int64)
            tnb2 = np.zeros(len(targets), dtype=np.int64)
            sel = np.flatnonzero(blk_t)
            if sel.size:
                bkey = key[sel]
                for bk in np.unique(bkey):
                    members = sel[bkey == bk]                # sorted by slot already
                    nb = len(members)
                    nb2 = max(nb, 2)       # numpy reduces an (R, 1) block pairwise: pad to 2
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
        role_dest = {}
        for gi, ri, s0, size in spans:
            d = dest[s0:s0 + size]
            if not (d == trash).all():
                role_dest[(gi, ri)] = d.reshape((groups[gi].roles[ri].shape[0],)
                                                + groups[gi].ishape)
        return role_dest, blocks, offset

    # ------------------------------------------------------------------ instructions ----
    def numpy_steps(self):
        """The numpy instructions (the numpy backend; the C kernel's fallback)."""
        if self.steps is None:
            self.prog.numpy_forward()             # the groups' operands, as numpy views
            self.steps = self._instructions(*self._plan, self.buf, self.gv)
        return self.steps

    def _c_kernel(self):
        """The same steps in C (cgen.py), without numpy's fusions: the same layout, so the
        same numbers. None if it cannot be built (numpy then)."""
        prog = self.prog
        tpos, role_dest, blocks = self._plan
        pulled = blocks if self.fresh else [b for b in blocks if b[0] != -1]
        segs = cgen.mac_segments(prog.groups, role_dest, pulled)
        computed = {(s[0], s[1]) for s in segs.values()}     # roles a reduction computes
        order = []
        for gi in range(len(prog.groups) - 1, -1, -1):
            g = prog.groups[gi]
            for bi, (home, off, R, nb2, cols) in enumerate(pulled):
                if home == gi:
                    order.append(("pull", (off, R, nb2, cols), segs.get(bi)))
            dests = [None if (gi, ri) in computed else role_dest.get((gi, ri))
                     for ri in range(len(g.roles))]
            check = may_fail_backward(g) and bool((tpos[g.nodes] >= 0).any())
            if check or any(d is not None for d in dests):
                order.append(("contrib", gi, dests, check))
        order += [("pull", b[1:], segs.get(bi)) for bi, b in enumerate(pulled) if b[0] == -1]
        try:
            src, tables = cgen.backward_source(prog, order)
            self.c_source = src
            return Kernel(src, "bwd", tables, [prog.val, self.buf], quick=prog.quick)
        except (CUnavailable, OverflowError):
            return None

    def _instructions(self, tpos, role_dest, blocks, buf, gv):
        """Groups from the last level down: reduce the blocks of the group's nodes into their
        gradients, then write the group's contributions to its inputs."""
        prog = self.prog
        groups = prog.groups
        per_group_blocks = {}
        for b in blocks:
            if b[0] != -1:
                per_group_blocks.setdefault(b[0], []).append(b)
        # blocks whose row 0 is 0.0: an intermediate node's; a parameter's when fresh
        fusable = blocks if self.fresh else [b for b in blocks if b[0] != -1]
        fused, skip = fusions(groups, fusable, role_dest, buf, gv, prog.exact)
        steps = []
        for gi in range(len(groups) - 1, -1, -1):
            g = groups[gi]
            for _, off, R, nb2, cols in per_group_blocks.get(gi, ()):
                if off not in skip:
                    steps.append(_pull(buf, off, R, nb2, cols))
            dests = [role_dest.get((gi, ri)) for ri in range(len(g.roles))]
            for ri in range(len(g.roles)):
                if (gi, ri) in fused:
                    steps.append(fused[(gi, ri)])
                    dests[ri] = None
            if any(d is not None for d in dests):
                steps.append(contributions(prog, g, dests, buf, gv, tpos))
            elif may_fail_backward(g) and (tpos[g.nodes] >= 0).any():
                # eager's backward evaluates every node's derivative, needed or not, and
                # fails where one does not exist: so does the replay
                steps.append(contributions(prog, g, dests, buf, gv, tpos))
        if self.fresh:      # the parameters' gradients, into their slots of gv
            for home, off, R, nb2, cols in blocks:
                if home == -1 and off not in skip:
                    steps.append(_pull(buf, off, R, nb2, cols))
        return steps

    def _parameters(self, param_blocks, buf):
        """The parameters' blocks: row 0 is set to their current .grad at every run, the
        block's sum (in `self.new`) is their new .grad."""
        prog = self.prog
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
                pulls.append(seqsum(blk, self.new[a:b]))
            else:
                tmp = np.empty(nb2)
                red = seqsum(blk, tmp)
                dst, src = self.new[a:b], tmp[:b - a]

                def pull(red=red, dst=dst, src=src):
                    red()
                    dst[...] = src
                pulls.append(pull)
        self.rows0 = rows0
        self.param_pulls = pulls
        self.pg = [prog.params[s - prog.p0] for s in
                   (np.concatenate(pg_slots).tolist() if pg_slots else [])]

    # -------------------------------------------------------------------------- run ----
    def run(self):
        """Add the gradients into the parameters' .grad (each sum starts at the old .grad)."""
        if self.leaf_seed is not None:
            self.leaf_seed.grad += 1.0
            return
        if self.gv is None:
            return
        self._chain_rule()
        if self.npg:
            old = np.fromiter(map(_getgrad, self.pg), dtype=np.float64, count=self.npg)
            for row, a, b in self.rows0:
                row[...] = old[a:b]
            for f in self.param_pulls:
                f()
            for p, x in zip(self.pg, self.new[:self.npg].tolist()):
                p.grad = x

    def fresh_gradients(self):
        """fresh=True: the gradients of all the program's parameters (prog.params order) as
        eager computes them after zero_grad() (each sum starting at 0.0): a view, valid until
        the next run. Touches no Value. (A seed that is itself a parameter is left to the
        caller: see `leaf_seed`.)"""
        assert self.fresh
        if self.gv is None:
            return np.zeros(self.prog.np_)
        self._chain_rule()
        p0 = self.prog.p0
        return self.gv[p0:p0 + self.npg]

    def _chain_rule(self):
        self.gv[self.seed_slot] = 1.0
        if self.kernel is not None and not self.kernel():
            return
        # numpy; after the C kernel, where eager would raise: numpy raises eager's error (or,
        # where eager does not visit the failing node, gives the numbers)
        self.gv[self.seed_slot] = 1.0
        with np.errstate(all="ignore"):
            for f in self.numpy_steps():
                f()


def _pull(buf, off, R, nb2, cols):
    """Reduce a block into the gradients of its columns' slots."""
    blk = buf[off:off + R * nb2].reshape(R, nb2)
    nb = len(cols)
    gv = buf
    if nb2 == nb and nb > 1 and (np.diff(cols) == 1).all():
        return seqsum(blk, gv[int(cols[0]):int(cols[0]) + nb])
    tmp = np.empty(nb2)
    red = seqsum(blk, tmp)
    src = tmp[:nb]

    def pull():
        red()
        gv[cols] = src
    return pull
