"""Tracing: run the function once on leaf Values, then read its graph into integer arrays.

`trace` runs fn eagerly on a fresh leaf Value per number of the arguments (the inputs).
`Graph` reads the graph it built: the nodes in topological order, their inputs as a compressed
adjacency list (the inputs of node i are chl[ptr[i]:ptr[i + 1]]), each node's kind (which
vectorized operation replays it) and traced value, and what each leaf is: an input, a
parameter (re-read from `.data` at every call) or a constant (baked in).
"""
import gc
import sys
import time
from contextlib import contextmanager
from operator import attrgetter

import numpy as np

from micrograd import engine
from micrograd.compiler.arguments import flatten_outputs, rebuild_args
from micrograd.compiler import rows as rowlib
from micrograd.compiler.errors import node_error
from micrograd.engine import Op, Value
from micrograd.nodes import Node

# ---------------------------------------------------------------------------------------------
# Kinds of nodes. Every op is K_OP (its row interpreted, rows.py), except where the structure
# itself is the point: K_ADD / K_MUL nodes (rows that read as a + b and a * b) chain into n-ary
# sums (K_SUM) and lecture-style neurons, and K_LIN nodes (a row reading b + w0*x0 + ...) run
# as contractions. Which rows read so is found by reading the rows, not by their names.
# ---------------------------------------------------------------------------------------------
K_LEAF, K_ADD, K_MUL, K_LIN, K_SUM, K_OP = range(6)

_getdata = attrgetter("data")
_geta, _getb = attrgetter("_a"), attrgetter("_b")


# ---------------------------------------------------------------------------------------------
# Running the function
# ---------------------------------------------------------------------------------------------
@contextmanager
def gc_paused():
    """A trace allocates a whole graph at once, and the program is built while that graph is
    alive: the cyclic garbage collector would scan it again and again (the engine's graphs
    hold no cycles). It is off meanwhile, and back on after."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if gc_was_enabled:
            gc.enable()


def trace(fn, key, flat, name):
    """Run fn eagerly on leaf Values, one per number of `flat`, in the structure `key`:
    (out_values, tree, inputs, seconds). Gradient mode is on, whatever the caller's."""
    inputs = [Value(x) for x in flat.tolist()]
    args, kwargs = rebuild_args(key, inputs)
    t0 = time.perf_counter()
    with engine.enable_grad():       # this thread only; its no_grad blocks resume afterwards
        out = fn(*args, **kwargs)
    seconds = time.perf_counter() - t0
    del args, kwargs      # the argument lists must not hold the leaves (see Graph)
    out_values = []
    tree = flatten_outputs(out, out_values, f"compiled function {name}")
    return out_values, tree, inputs, seconds


def topo_graph(roots):
    """The graph reachable from roots as (order, nch, chl, position): the nodes children first,
    in the engine's own order (engine.topological_order, the package's one walk), how many
    inputs each has and all their inputs' positions in one flat array (numpy), and
    position(values) -> the position of each of `values` in order (-1: not in the graph).

    Positions are found by the nodes' ids, sorted once, instead of a dict of a million nodes:
    on a 1e6-node graph the walk's order plus this costs about what the walk alone does."""
    order = engine.topological_order(*roots)
    n = len(order)
    ids = np.fromiter(map(id, order), dtype=np.int64, count=n)
    sorter = np.argsort(ids)
    sorted_ids = ids[sorter]

    def position(values):
        want = np.fromiter(map(id, values), dtype=np.int64)
        at = np.minimum(np.searchsorted(sorted_ids, want), max(n - 1, 0))
        return np.where(sorted_ids[at] == want, sorter[at], -1) if n else -np.ones_like(want)

    # the inputs of every node, read from the engine's layout (see Value._prev): _a and _b
    # hold one or two inputs, or _a a tuple of three or more when _b is engine._MANY
    a_id = np.fromiter(map(id, map(_geta, order)), dtype=np.int64, count=n)
    b_id = np.fromiter(map(id, map(_getb, order)), dtype=np.int64, count=n)
    none, many = id(None), id(engine._MANY)
    is_many = b_id == many
    nch = (a_id != none).astype(np.int64) + ((b_id != none) & ~is_many)
    many_at = np.flatnonzero(is_many).tolist()
    many_ids = [np.fromiter(map(id, order[i]._a), dtype=np.int64) for i in many_at]
    nch[many_at] = [len(m) for m in many_ids]
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(nch, out=ptr[1:])
    child = np.empty(ptr[-1], dtype=np.int64)
    one = (nch > 0) & ~is_many
    child[ptr[:-1][one]] = a_id[one]
    two = (nch == 2) & ~is_many
    child[ptr[:-1][two] + 1] = b_id[two]
    for i, m in zip(many_at, many_ids):
        child[ptr[i]:ptr[i + 1]] = m
    chl = sorter[np.searchsorted(sorted_ids, child)]
    return order, nch, chl, position


def topo_ints(root, ptr, chl):
    """Value.topo() on the integer graph: positions of the nodes in root.topo(), -1 elsewhere.
    The traced Values are gone by now, so the engine's own walk (engine.topological_order)
    runs on bare stand-in nodes linked as they were, each holding its position as its data."""
    n = len(ptr) - 1
    nch = np.diff(ptr)
    at = np.append(chl, -1)                              # -1: no input there
    first = np.where(nch > 0, at[np.minimum(ptr[:-1], len(chl))], -1)
    second = np.where(nch == 2, at[np.minimum(ptr[:-1] + 1, len(chl))], -1)
    with gc_paused():                  # a whole graph of stand-ins at once (see gc_paused)
        new = object.__new__
        stand = [new(Node) for _ in range(n)] + [None]      # stand[-1]: no input
        for v, i, a, b in zip(stand, range(n), first.tolist(), second.tolist()):
            v.data, v._a, v._b = i, stand[a], stand[b]
        for i in np.flatnonzero(nch > 2).tolist():
            stand[i]._a = tuple([stand[c] for c in chl[ptr[i]:ptr[i + 1]].tolist()])
            stand[i]._b = engine._MANY
        order = [v.data for v in engine.topological_order(stand[root])]
        del stand
    pos = np.full(n, -1, dtype=np.int64)
    pos[order] = np.arange(len(order))
    return pos


# ---------------------------------------------------------------------------------------------
# The graph as arrays
# ---------------------------------------------------------------------------------------------
class Graph:
    """The traced graph, node i being the i-th of the topological order:

    n_nodes, ptr, chl  the nodes and their inputs (compressed adjacency)
    kind               K_* per node; rules: the node's Op; datas: its traced value
    rule_ix, ops       per node, the number of its Op among the graph's distinct ones; those
    indeg              how many consumers each node has in the graph
    out_nodes          the output nodes, in the order of the flattened outputs
    is_input_node, input_slot_of   leaves made from the arguments' numbers, and which number
    is_param_node      leaves that something outside the graph refers to (the parameters)
    param_values       node -> its Value, for the parameters

    `rules`, `datas`, `order` and `param_values` hold the traced Values and numbers;
    `drop_trace()` forgets them once the program is built."""

    def __init__(self, out_values, inputs):
        order, nch, chl, position = topo_graph(out_values)
        n = len(order)
        ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(nch, out=ptr[1:])
        self.out_nodes = position(out_values)
        in_node = position(inputs)
        self.datas = np.fromiter(map(_getdata, order), dtype=np.float64, count=n)
        rules = list(map(attrgetter("_rule"), order))
        kind, by_id, self.rule_ix = self._kinds(order, rules, nch)
        self.ops = [r for r in by_id.values() if r is not None]    # the distinct rules
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
        self.ptr, self.chl, self.indeg = ptr, chl, indeg
        self.kind = kind
        self.is_param_node = is_param
        self.is_input_node = is_input
        self.input_slot_of = input_slot_of
        self.n_in = len(inputs)
        self.param_values = {int(i): order[i] for i in np.flatnonzero(is_param)}
        self.rules = rules
        self.order = order

    @staticmethod
    def _kinds(order, rules, nch):
        """The kind of every node; refuses nodes a compiler cannot read."""
        n = len(order)
        ids = list(map(id, rules))
        by_id = dict(zip(ids, rules))
        # the arities each rule is used with (a row reads as a sum or a neuron at all of them)
        uids, inv = np.unique(np.fromiter(ids, dtype=np.int64, count=n), return_inverse=True)
        span = int(nch.max()) + 1 if n else 1
        arities = {}
        for pair in np.unique(inv * span + nch).tolist():
            arities.setdefault(int(uids[pair // span]), []).append(pair % span)
        kind_of = {}
        for rid, r in by_id.items():
            ks = arities[rid]
            if r is None:
                kind_of[rid] = K_LEAF
            elif not isinstance(r, Op):
                kind_of[rid] = -1
            elif ks == [2] and rowlib.is_plain_add(r):
                kind_of[rid] = K_ADD
            elif ks == [2] and rowlib.is_plain_mul(r):
                kind_of[rid] = K_MUL
            elif all(k > 1 and rowlib.is_plain_linear(r, k) for k in ks):
                kind_of[rid] = K_LIN
            else:
                kind_of[rid] = K_OP
        kind = np.fromiter(map(kind_of.__getitem__, ids), dtype=np.int64, count=n)
        if (kind == -1).any():
            raise node_error(order[int(np.flatnonzero(kind == -1)[0])],
                             "its backward is a hand-written closure (`_backward`), which a "
                             "compiler cannot read; write the operation as an "
                             "engine.Op(name, forward, local_grads) instead")
        bad = (kind == K_LEAF) & (nch > 0)
        if bad.any():
            raise node_error(order[int(np.flatnonzero(bad)[0])],
                             "it has inputs but no rule (a Value built by hand with "
                             "_children); make it with an engine.Op")
        kind[nch == 0] = K_LEAF        # an op without inputs is a constant leaf
        return kind, by_id, inv

    def drop_trace(self):
        """Forget the traced Values and numbers (the program keeps its parameters)."""
        self.order = None
        self.param_values = None
        self.rules = None
        self.datas = None
        self.rule_ix = None
