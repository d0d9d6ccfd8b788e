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
from micrograd.compiler.errors import node_error
from micrograd.engine import Op, Value

# ---------------------------------------------------------------------------------------------
# Kinds of nodes (and of groups: K_SUM is a chain of + and - merged into one n-ary sum)
# ---------------------------------------------------------------------------------------------
K_LEAF, K_ADD, K_SUB, K_MUL, K_DIV, K_NEG, K_RELU, K_ABS, K_LIN, K_SUM, K_PY, K_MAX = range(12)
BUILTIN = {}        # id(op) -> (kind, op): the ops numpy replays exactly
for _name, _kind in (("+", K_ADD), ("-", K_SUB), ("*", K_MUL), ("/", K_DIV), ("neg", K_NEG),
                     ("ReLU", K_RELU), ("abs", K_ABS), ("w·x+b", K_LIN), ("max", K_MAX)):
    if _name in engine.OPS:
        BUILTIN[id(engine.OPS[_name])] = (_kind, engine.OPS[_name])
# ops evaluated element by element in the forward (K_PY), with a vectorized derivative of their
# output: id(op) -> name
PY_VEC_GRAD = {}
for _name in ("exp", "log", "tanh", "sigmoid"):
    if _name in engine.OPS:
        PY_VEC_GRAD[id(engine.OPS[_name])] = _name

_getdata = attrgetter("data")


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
    """The graph reachable from roots as (order, nch, chl, pos): the nodes children first, in
    exactly the engine's order (engine.topological_order: its stack walk, repeated here step
    by step), how many inputs each has, all their inputs' positions in one flat list, and
    node -> position.

    One walk instead of the engine's sort followed by passes that look every node's inputs up
    by identity: a node's inputs are all placed before it, so their positions are known when
    it is. On a 1e6-node graph this is most of the compile time saved."""
    order, nch, chl = [], [], []
    pos = {}               # node -> position; -1 while its inputs are being walked (visited)
    many = engine._MANY    # the engine's node layout: _a, _b = input(s), see Value._prev
    for root in roots:
        stack = [root]
        while stack:
            v = stack.pop()
            if v.__class__ is tuple:        # (node,): its inputs are placed, the node is next
                v = v[0]
                a, b = v._a, v._b
                if b is None:
                    chl.append(pos[a])
                    nch.append(1)
                elif b is many:
                    chl.extend(map(pos.__getitem__, a))
                    nch.append(len(a))
                else:
                    chl.append(pos[a])
                    chl.append(pos[b])
                    nch.append(2)
                pos[v] = len(order)
                order.append(v)
                continue
            if v in pos:
                continue
            a, b = v._a, v._b
            if a is None:                   # a leaf
                pos[v] = len(order)
                order.append(v)
                nch.append(0)
                continue
            pos[v] = -1
            stack.append((v,))
            if b is None:                   # inputs pushed last-first: the first is walked
                if a not in pos:            # first, as in the lecture's recursion
                    stack.append(a)
            elif b is many:
                stack.extend([c for c in reversed(a) if c not in pos])
            else:
                if b not in pos:
                    stack.append(b)
                if a not in pos:
                    stack.append(a)
    return order, nch, chl, pos


def topo_ints(root, ptr, chl):
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


# ---------------------------------------------------------------------------------------------
# The graph as arrays
# ---------------------------------------------------------------------------------------------
class Graph:
    """The traced graph, node i being the i-th of the topological order:

    n_nodes, ptr, chl  the nodes and their inputs (compressed adjacency)
    kind               K_* per node; rules: the node's Op; datas: its traced value
    indeg              how many consumers each node has in the graph
    out_nodes          the output nodes, in the order of the flattened outputs
    is_input_node, input_slot_of   leaves made from the arguments' numbers, and which number
    is_param_node      leaves that something outside the graph refers to (the parameters)
    param_values       node -> its Value, for the parameters

    `rules`, `datas`, `order` and `param_values` hold the traced Values and numbers;
    `drop_trace()` forgets them once the program is built."""

    def __init__(self, out_values, inputs):
        order, nch, chl, pos = topo_graph(out_values)
        n = len(order)
        nch = np.array(nch, dtype=np.int64)
        ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(nch, out=ptr[1:])
        chl = np.array(chl, dtype=np.int64)
        self.out_nodes = np.array([pos[v] for v in out_values], dtype=np.int64)
        in_node = np.array([pos.get(v, -1) for v in inputs], dtype=np.int64)
        del pos        # it refers to every node: the reference count test below needs it gone
        self.datas = np.fromiter(map(_getdata, order), dtype=np.float64, count=n)
        rules = list(map(attrgetter("_rule"), order))
        kind = self._kinds(order, rules, nch)
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
        kind_of = {}
        for rid, r in dict(zip(ids, rules)).items():
            if r is None:
                kind_of[rid] = K_LEAF
            elif rid in BUILTIN:
                kind_of[rid] = BUILTIN[rid][0]
            elif isinstance(r, Op):
                kind_of[rid] = K_PY
            else:
                kind_of[rid] = -1
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
        return kind

    def drop_trace(self):
        """Forget the traced Values and numbers (the program keeps its parameters)."""
        self.order = None
        self.param_values = None
        self.rules = None
        self.datas = None
