"""Level scheduling: the graph's nodes -> groups that each run as one numpy operation, and one
float64 array (the *slots*) holding every value of the program.

A node's level is one more than its deepest input. The nodes of one level, one operation and
one shape (arity; number of terms of a sum) form a group. A left-nested chain of `+` (what
`sum(...)` builds; `+` being a row that reads a + b, see rows.py) whose intermediate nodes
nobody else uses becomes one n-ary sum (K_SUM), its terms in eager's order. A neuron written
the lecture's way, sum((wi*xi for ...), b) (a chain of + over products, `*` a row that reads
a * b, that only it reads), becomes a fused neuron (K_LIN, 'w·x+b'): the same floats in the
same order, and its groups are those of a model built with fused=True. Every other node is
its row's (K_OP), grouped by row.

Slots, in order: the inputs (the arguments' numbers), one slot that stays 0.0, the parameters,
the constants, then each group's outputs, contiguous.
"""
import numpy as np

from micrograd.compiler.trace import K_ADD, K_LEAF, K_LIN, K_MUL, K_OP, K_SUM
from micrograd.engine import LINEAR


class Group:
    """Nodes of one level and one operation, replayed together.

    kind, rule, level   the operation (K_OP, K_SUM or K_LIN; the Op) and the level
    nodes, m            the graph nodes (in topological order) and their number
    roles               per input position (for K_LIN: bias, weights, inputs; for K_SUM: the
                        terms), an array (positions, m) of node numbers, slots after `Slots`
    cnode, inp          per role, the consuming node of each edge and the input position
                        (eager's backward order of the gradient contributions)
    k                   K_LIN: the number of weights
    o0, ishape          the group's first output slot, and the shape it runs in (program.py)
    srcs                the operands as views/gathers of the value array (program.py)
    """
    __slots__ = ("kind", "rule", "nodes", "m", "o0", "ishape", "roles", "cnode", "inp",
                 "k", "level", "srcs")


def make_groups(graph):
    """The groups of the graph, level after level (a list of Group; roles are node numbers)."""
    sums, lins, level, alive = _levels_and_sums(graph)
    return _groups(graph, sums, lins, level, alive)


def _levels_and_sums(graph):
    """Every node's level; the n-ary sums: node -> [terms, cnodes, inps, maxlevel, ...]
    for the last node of each chain; and the neurons written the lecture's way,
    sum((wi*xi for ...), b), recognised as fused ones: node -> (inputs b, w0, x0, w1, x1, ...;
    the consuming node and input position of each, as eager's graph has them). `alive` is
    False for the chains' inner nodes and those neurons' products."""
    n, kind, ptr, chl = graph.n_nodes, graph.kind, graph.ptr, graph.chl
    is_out = np.zeros(n, dtype=bool)
    is_out[graph.out_nodes] = True
    kind_l = kind.tolist()
    ptr_l = ptr.tolist()
    chl_l = chl.tolist()
    indeg_l = graph.indeg.tolist()
    is_out_l = is_out.tolist()
    level = [0] * n
    alive = np.ones(n, dtype=bool)
    sums = {}

    def product_level(t):
        """A product w*x that only its chain reads: the level of its deeper input, else -1."""
        if kind_l[t] != K_MUL or indeg_l[t] != 1 or is_out_l[t]:
            return -1
        lw, lx = level[chl_l[ptr_l[t]]], level[chl_l[ptr_l[t] + 1]]
        return lw if lw > lx else lx

    for i in np.flatnonzero(kind != K_LEAF).tolist():
        k = kind_l[i]
        s = ptr_l[i]
        e = ptr_l[i + 1]
        if k == K_ADD:
            a, b = chl_l[s], chl_l[s + 1]
            if kind_l[a] == K_ADD and indeg_l[a] == 1 and not is_out_l[a]:
                # a left-nested chain of +: one n-ary sum, terms in eager's order
                rec = sums.pop(a, None)
                if rec is None:
                    a0, a1 = chl_l[ptr_l[a]], chl_l[ptr_l[a] + 1]
                    pl = product_level(a1)
                    # [terms, cnodes, inps, maxlevel, a neuron?, its level]
                    rec = [[a0, a1], [a, a], [0, 1], max(level[a0], level[a1]), pl >= 0,
                           max(level[a0], pl)]
                alive[a] = False
                rec[0].append(b)
                rec[1].append(i)
                rec[2].append(1)
                if level[b] > rec[3]:
                    rec[3] = level[b]
                if rec[4]:
                    pl = product_level(b)
                    rec[4] = pl >= 0
                    if pl > rec[5]:
                        rec[5] = pl
                sums[i] = rec
                level[i] = (rec[5] if rec[4] else rec[3]) + 1
                continue
            la, lb = level[a], level[b]
            level[i] = (la if la > lb else lb) + 1
        elif e - s == 1:
            level[i] = level[chl_l[s]] + 1
        elif e - s == 2:                # the common case (*, /, max of two) without a slice
            la, lb = level[chl_l[s]], level[chl_l[s + 1]]
            level[i] = (la if la > lb else lb) + 1
        else:
            level[i] = max(map(level.__getitem__, chl_l[s:e])) + 1
    lins = {}
    for i in [i for i, rec in sums.items() if rec[4]]:
        terms, cnodes, inps = sums.pop(i)[:3]
        ins, cns, pos = [terms[0]], [cnodes[0]], [inps[0]]
        for t in terms[1:]:                     # b + w0*x0 + w1*x1 + ...: a fused neuron
            ins += chl_l[ptr_l[t]:ptr_l[t] + 2]
            cns += (t, t)
            pos += (0, 1)
        alive[terms[1:]] = False
        lins[i] = (ins, cns, pos)
    return sums, lins, np.array(level, dtype=np.int64), alive


def _groups(graph, sums, lins, level, alive):
    """Groups: same level, same operation (same Op for K_OP), same shape (arity; terms of a
    sum); within a group, topological order. (K_ADD and K_MUL nodes that no sum or neuron took
    in are plain K_OP nodes of their rows.)"""
    n, kind, ptr, chl = graph.n_nodes, graph.kind, graph.ptr, graph.chl
    comp = np.flatnonzero((kind != K_LEAF) & alive)
    arity = (ptr[1:] - ptr[:-1])[comp]
    ck = kind[comp]
    ck = np.where((ck == K_ADD) | (ck == K_MUL), K_OP, ck)
    sub = np.where((ck == K_LIN) | (ck == K_OP), arity, 0)
    for recs, k in ((sums, K_SUM), (lins, K_LIN)):
        if recs:
            nodes = np.fromiter(recs.keys(), dtype=np.int64, count=len(recs))
            mark = np.zeros(n, dtype=bool)
            mark[nodes] = True
            size = np.zeros(n, dtype=np.int64)
            size[nodes] = [len(r[0]) for r in recs.values()]
            m = mark[comp]
            ck = np.where(m, k, ck)
            sub = np.where(m, size[comp], sub)
    rid = np.zeros(len(comp), dtype=np.int64)
    py = np.flatnonzero(ck == K_OP)
    if py.size:
        rid[py] = graph.rule_ix[comp[py]] + 1
    lv = level[comp]
    order = np.lexsort((comp, sub, rid, ck, lv))       # stable: topo order within a group
    comp, lv, ck, rid, sub = comp[order], lv[order], ck[order], rid[order], sub[order]
    change = np.flatnonzero((np.diff(lv) != 0) | (np.diff(ck) != 0) | (np.diff(rid) != 0)
                            | (np.diff(sub) != 0)) + 1
    bounds = np.r_[0, change, len(comp)] if len(comp) else np.zeros(1, dtype=np.int64)
    groups = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        g = Group()
        g.level, g.kind = int(lv[a]), int(ck[a])
        g.nodes = nodes = comp[a:b]
        g.m = len(nodes)
        g.rule = LINEAR if g.kind == K_LIN else graph.rules[int(nodes[0])]
        g.k = 0
        if g.kind == K_SUM:
            recs = [sums[i] for i in nodes.tolist()]
            g.roles = [np.array([r[0] for r in recs], dtype=np.int64).T]
            g.cnode = [np.array([r[1] for r in recs], dtype=np.int64).T]
            g.inp = [np.array([r[2] for r in recs], dtype=np.int64).T]
        else:
            arity = int(sub[a]) if g.kind == K_LIN else int(ptr[nodes[0] + 1] - ptr[nodes[0]])
            ch, cn, pos = _inputs(nodes, arity, ptr, chl, lins if g.kind == K_LIN else {})
            if g.kind == K_LIN:
                g.k = (arity - 1) // 2
                g.roles = [ch[0:1], ch[1::2], ch[2::2]]
                g.cnode = [cn[0:1], cn[1::2], cn[2::2]]
                g.inp = [pos[0:1], pos[1::2], pos[2::2]]
            else:
                g.roles = [ch[r:r + 1] for r in range(arity)]
                g.cnode = [cn[r:r + 1] for r in range(arity)]
                g.inp = [pos[r:r + 1] for r in range(arity)]
        groups.append(g)
    return groups


def _inputs(nodes, arity, ptr, chl, lins):
    """The inputs of a group's nodes, each one's consuming node and input position, as
    (arity, m) arrays: from the graph, or, for a neuron recognised in the lecture's graph, from
    its record (its products are the consumers of the weights and inputs, as in eager)."""
    if not lins or not any(i in lins for i in nodes.tolist()):
        ch = chl[ptr[nodes][:, None] + np.arange(arity)].T
        cn = np.broadcast_to(nodes, (arity, len(nodes)))
        pos = np.broadcast_to(np.arange(arity)[:, None], (arity, len(nodes)))
        return ch, cn, pos
    recs = []
    for i in nodes.tolist():
        rec = lins.get(i)
        if rec is None:
            s = int(ptr[i])
            rec = (chl[s:s + arity].tolist(), [i] * arity, list(range(arity)))
        recs.append(rec)
    return tuple(np.array([r[j] for r in recs], dtype=np.int64).T for j in range(3))


class Slots:
    """Where every value lives in the program's value array `val`.

    slot        node -> slot (-1: not replayed)
    n_slots     the size of `val`; zero_slot: a slot that stays 0.0
    p0, np_     the parameters are the slots p0 .. p0 + np_ - 1
    params      their Values (the order of those slots); param_nodes: their graph nodes
    out_slots   the slots of the outputs
    need        does a slot need a gradient (is it a parameter, or computed from one)?
    val         the value array, constants filled in
    """

    def __init__(self, graph, groups, rows_first=False):
        n_in = graph.n_in
        inp = graph.is_input_node
        is_param = graph.is_param_node
        slot = np.full(graph.n_nodes, -1, dtype=np.int64)
        slot[inp] = graph.input_slot_of[inp]
        zero_slot = n_in
        # Parameters and constants in order of first use by the biggest groups, so that a
        # layer's weights read by a group of neurons form a regular (strided) pattern:
        # instance by instance (numpy's einsum likes a neuron's weights together), or, with
        # rows_first (C loops over the neurons innermost), weight row after weight row.
        uses = []
        for g in sorted(groups, key=lambda g: -sum(r.size for r in g.roles)):
            for r in g.roles:
                uses.append(r.reshape(-1) if rows_first else r.T.reshape(-1))
        uses = np.concatenate(uses) if uses else np.empty(0, dtype=np.int64)
        _, first = np.unique(uses, return_index=True)
        by_use = uses[np.sort(first)]
        params = by_use[is_param[by_use]]
        # then those no group reads (outputs only), in node order (a mask, not a set
        # difference: no sort of a million nodes)
        used = np.zeros(graph.n_nodes, dtype=bool)
        used[by_use] = True
        params = np.concatenate([params, np.flatnonzero(is_param & ~used)])
        consts_mask = (graph.kind == K_LEAF) & ~inp & ~is_param
        consts = by_use[consts_mask[by_use]]
        consts = np.concatenate([consts, np.flatnonzero(consts_mask & ~used)])
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
        self.out_slots = slot[graph.out_nodes]
        self.zero_slot = zero_slot
        self.p0, self.np_ = p0, len(params)
        self.params = [graph.param_values[int(i)] for i in params]
        self.param_nodes = params
        self.val = np.zeros(o)
        self.val[c0:c0 + len(consts)] = graph.datas[consts]
        for g in groups:
            g.roles = [slot[r] for r in g.roles]
        need = np.zeros(o + 1, dtype=bool)
        need[p0:p0 + len(params)] = True
        for g in groups:
            acc = np.zeros(g.m, dtype=bool)
            for r in g.roles:
                acc |= need[r].any(axis=0)
            need[g.o0:g.o0 + g.m] = acc
        self.need = need[:o]
