"""What draw_dot draws: the graph as units (a value with its op node, or a collapsed neuron or
chain), and which of them fit within max_nodes / max_depth, nearest the root first.

Collapsing: collapse="neurons" (or True) folds each neuron, fused or built the lecture's way,
into one box (its weights inside it); "chains" folds every chain of single-use operations.
"""
from collections import deque

from micrograd.engine import Value
from micrograd.nn import ACTIVATIONS as _NN_ACTIVATIONS

__all__ = ["units", "select", "count_hidden", "unit_of", "COLLAPSE_MODES"]

# The op names nn's activations leave in a graph ("relu" is the engine's 'ReLU' node).
ACTIVATIONS = tuple(squash(Value(0.0))._op for squash in _NN_ACTIVATIONS.values() if squash)
COLLAPSE_MODES = (False, True, "neurons", "chains")


class _Unit:
    __slots__ = ("index", "out", "inputs", "members", "title", "n_hidden_params")

    def __init__(self, index, out, inputs, members=None, title=None, n_hidden_params=0):
        self.index = index                  # topological index of the output value
        self.out = out                      # the Value whose data/grad the unit shows
        self.inputs = inputs                # Values feeding it (their units are its inputs)
        self.members = members              # None for a plain value; else the Values inside
        self.title = title                  # for a group: what it computes
        self.n_hidden_params = n_hidden_params


def _uses(topo):
    """How many times each value appears as an input anywhere in the graph."""
    uses = {}
    for v in topo:
        for c in v._prev:
            uses[c] = uses.get(c, 0) + 1
    return uses


def _is_leaf(v):
    return not v._prev


def _split_product(p):
    """(weight, input) of a product w*x in an unfused neuron: the leaf factor is the weight
    (nn.Neuron writes w*x; the lecture writes x1*w1 with both leaves: a label starting with
    'w' decides, else the first factor)."""
    a, b = p._prev
    if _is_leaf(a) and not _is_leaf(b):
        return a, b
    if _is_leaf(b) and not _is_leaf(a):
        return b, a
    if _is_leaf(a) and _is_leaf(b):
        if b.label.startswith("w") and not a.label.startswith("w"):
            return b, a
        return a, b
    return None, None


def _neuron_core(core, uses, taken, index):
    """If `core` is a neuron's weighted sum, (members, inputs, n_inputs, n_params); else None.

    Fused: a 'w·x+b' node. Unfused: a tree of '+' nodes, each used once, whose terms are
    products w*x (each used once) and at most one leaf bias. Leaf weights and biases are
    folded into the box (n_params of them); the other inputs stay edges."""
    if core in taken:
        return None
    if core._op == "w·x+b":
        inputs, hidden = [], 0
        for i, c in enumerate(core._prev):
            if (i == 0 or i % 2 == 1) and _is_leaf(c):
                hidden += 1
            else:
                inputs.append(c)
        return [core], inputs, (len(core._prev) - 1) // 2, hidden
    if core._op != "+" or len(core._prev) != 2:
        return None
    members, products, bias, stack = [], [], [], [core]
    while stack:
        node = stack.pop()
        members.append(node)
        for c in node._prev:
            if uses.get(c) == 1 and c not in taken and len(c._prev) == 2 and c._op == "+":
                stack.append(c)
            elif (uses.get(c) == 1 and c not in taken and len(c._prev) == 2 and c._op == "*"
                    and _split_product(c)[0] is not None):
                products.append(c)
            elif _is_leaf(c) and not bias:
                bias.append(c)
            else:
                return None
    if not products:
        return None
    products.sort(key=index.__getitem__)
    inputs = [_split_product(p)[1] for p in products]
    return members + products, inputs, len(products), len(products) + len(bias)


def _groups_neurons(topo, uses, index):
    groups, taken = [], set()
    for v in reversed(topo):                # parents first: a neuron is found from its top
        if v in taken:
            continue
        act = None
        found = None
        if v._op in ACTIVATIONS and len(v._prev) == 1 and uses.get(v._prev[0]) == 1:
            found = _neuron_core(v._prev[0], uses, taken, index)
            if found:
                act = v
        if found is None:
            found = _neuron_core(v, uses, taken, index)
        if found is None:
            continue
        members, inputs, n_in, hidden = found
        title = "w·x+b" if act is None else f"{act._op}(w·x+b)"
        title += f" · {n_in} input{'s' if n_in != 1 else ''}"
        if act is not None:
            members = [act] + members
        taken.update(members)
        groups.append((members[0], members, _dedupe(inputs), title, hidden))
    return groups


def _groups_chains(topo, uses, index):
    """Fold every intermediate value used exactly once into the value that uses it."""
    owner = {}
    groups = {}
    for v in reversed(topo):                # parents first
        if not v._prev:
            continue
        if uses.get(v) == 1 and v in owner:
            top = owner[v]
        else:
            top = v
            groups[v] = [v]
        for c in v._prev:
            if c._prev and uses.get(c) == 1:
                owner[c] = top
                groups[top].append(c)
    out = []
    for top, members in groups.items():
        if len(members) < 2:
            continue
        inside = set(members)
        inputs = _dedupe([c for m in members for c in m._prev if c not in inside])
        counts = {}
        for m in members:
            counts[m._op] = counts.get(m._op, 0) + 1
        ops = ", ".join(op if n == 1 else f"{n}×{op}" for op, n in counts.items())
        out.append((top, members, inputs, f"{len(members)} ops: {ops}", 0))
    return out


def _dedupe(values):
    seen, out = set(), []
    for v in values:
        if v not in seen:
            seen.add(v)
            out.append(v)
    return out


def units(root, collapse):
    """All drawing units reachable from the root, keyed by their output value."""
    if collapse is None:
        collapse = False
    if not any(collapse is m or (isinstance(m, str) and collapse == m) for m in COLLAPSE_MODES):
        raise ValueError(f"collapse must be one of False, True, 'neurons', 'chains'; "
                         f"got {collapse!r}")
    topo = root.topo()
    index = {v: i for i, v in enumerate(topo)}
    groups = []
    if collapse:
        uses = _uses(topo)
        groups = (_groups_chains if collapse == "chains" else _groups_neurons)(topo, uses, index)
    by_out = {}
    for top, members, inputs, title, hidden in groups:
        by_out[top] = _Unit(index[top], top, inputs, members, title, hidden)
    return topo, index, by_out


def unit_of(v, index, by_out):
    u = by_out.get(v)
    if u is None:
        u = by_out[v] = _Unit(index[v], v, v._prev)
    return u


def select(root, index, by_out, max_nodes, max_depth):
    """Breadth-first from the root: the units to draw, in order, and each one's depth."""
    for name, lim in (("max_nodes", max_nodes), ("max_depth", max_depth)):
        if lim is not None and (isinstance(lim, bool) or not isinstance(lim, int) or lim < 0):
            raise ValueError(f"{name} must be a non-negative integer or None, got {lim!r}")
    if max_nodes == 0:
        raise ValueError("max_nodes must be at least 1 (the root)")
    first = unit_of(root, index, by_out)
    shown = {first.out: 0}
    order = [first]
    queue = deque([first])
    cut = set()                             # which limits left something out
    while queue:
        u = queue.popleft()
        d = shown[u.out]
        if max_depth is not None and d >= max_depth:
            if u.inputs:
                cut.add("max_depth")
            continue
        for c in u.inputs:
            cu = unit_of(c, index, by_out)
            if cu.out in shown:
                continue
            if max_nodes is not None and len(order) >= max_nodes:
                cut.add("max_nodes")
                break
            shown[cu.out] = d + 1
            order.append(cu)
            queue.append(cu)
    return order, shown, sorted(cut, reverse=True)


def count_hidden(order, shown, index, by_out):
    """For each shown unit with hidden inputs, how many hidden units it leads to (each hidden
    unit counted once, for the first shown unit that reaches it, so the counts add up)."""
    claimed = set()
    counts = {}
    for u in order:
        hidden_inputs = [c for c in u.inputs if unit_of(c, index, by_out).out not in shown]
        if not hidden_inputs:
            continue
        n = 0
        stack = []
        for c in hidden_inputs:
            cu = unit_of(c, index, by_out)
            if cu.out not in claimed:
                claimed.add(cu.out)
                stack.append(cu)
        while stack:
            h = stack.pop()
            n += 1
            for c in h.inputs:
                cu = unit_of(c, index, by_out)
                if cu.out not in shown and cu.out not in claimed:
                    claimed.add(cu.out)
                    stack.append(cu)
        counts[u.out] = n
    return counts, len(claimed)
