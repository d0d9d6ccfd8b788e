"""Exercise `topo`: order the graph so that backward() visits a node after all of its consumers.

The learner writes build_topo(root) (checked for an order that is valid: every node once,
children before parents) and/or backward(root) (checked by its gradients). Both run on
micrograd's own Value, whose _backward does one node's chain-rule step, so only the order is
under test. A wrong order is shown with the gradient it produces; the classic wrong orders (no
reversal, no topological sort at all, no visited set) are recognised by name.
"""
from collections import Counter, deque

from micrograd.engine import Value
from micrograd.exercises.checking import (Checklist, Mistake, close, indent, num, pair, run_code,
                                          starter)
from micrograd.exercises.expressions import LECTURE_L, LECTURE_NEURON, SHARED

NAME = "topo"
SUMMARY = ("Write build_topo(root) and backward(root): the order in which backpropagation must "
           "visit the nodes, checked on graphs with shared subexpressions.")
TIMEOUT_HINT = ("For example a build_topo without a visited set walks a shared subgraph once per "
                "path to it, which doubles with every level of sharing.")

STARTER = starter('topo', 'the order of backpropagation.', '''\
from micrograd.engine import Value


def build_topo(root):
    """Every node root depends on, root included, each exactly once, and every node after all
    of its inputs (so root comes last)."""
    topo = []
    # TODO
    return topo


def backward(root):
    """Fill in every node's grad: the root's grad is 1.0, then each node's _backward() runs
    after those of every node that uses it."""
    # TODO
''', notes='''
Both functions work on micrograd's own Value: node._prev are a node's inputs, and
node._backward() does that one node's step of the chain rule (it adds to its inputs' grads).
''')

checks = Checklist()
CHECKS = checks

LADDER = """\
x = Value(0.9, label='x')
h1 = x * x + x
h2 = h1 * h1 + h1
h3 = h2 * h2 + h2
h4 = h3 * h3 + h3
h5 = h4 * h4 + h4
"""
GRAPHS = [("the lecture's L = (a*b + c) * f", LECTURE_L, "L"),
          ("a shared node: e = a*b used by d = e + a and by L = d * e", SHARED, "L"),
          ("shared subgraphs five levels deep: h = h*h + h", LADDER, "h5"),
          ("the lecture's neuron", LECTURE_NEURON, "o")]


def _graph(code, root):
    """A fresh graph: (root, {id(node): name}, nodes in a valid order)."""
    ns = run_code(code, Value)
    r = ns[root]
    names = {id(v): k for k, v in ns.items() if isinstance(v, Value)}
    order = r.topo()
    for v in order:
        names.setdefault(id(v), f"({v._op} node of {v.data:.4g})" if v._op else f"{v.data!r}")
    return r, names, order


def _grads_in_order(root, order):
    """The grads backward gives when it runs the nodes' _backward in reversed(order)."""
    for v in root.topo():
        v.grad = 0.0
    root.grad = 1.0
    for v in reversed(order):
        v._backward()
    return {id(v): v.grad for v in root.topo()}


def _leaf_grads(root, names, grads):
    return ", ".join(f"{names[id(v)]}.grad = {num(grads[id(v)])}" for v in root.topo()
                     if not v._prev and id(v) in grads and not names[id(v)][0] in "(0123456789-")


def _consequence(root, names, order, correct):
    got = _grads_in_order(root, order)
    want = _grads_in_order(root, correct)
    if all(close(got[k], want[k]) for k in want):
        return ""
    return ("\nWalking your list backwards, backward() would give"
            f"\n    {_leaf_grads(root, names, got)}   (yours)"
            f"\n    {_leaf_grads(root, names, want)}   (the right order's)")


def _one_of(learner, name, other):
    """The learner's function `name`, or None when only `other` is defined (the exercise asks
    for either or both)."""
    fn = getattr(learner, name, None)
    if fn is None and getattr(learner, other, None) is None:
        raise Mistake("your file defines neither build_topo(root) nor backward(root)")
    return fn


def _topo_check(title, code, root_name):
    def check(learner):
        build = _one_of(learner, "build_topo", "backward")
        if build is None:
            return "no build_topo in your file: only your backward(root) is checked."
        root, names, correct = _graph(code, root_name)
        order = build(root)
        if order is None:
            raise Mistake("build_topo(root) returned None: return the list (return topo).")
        order = list(order)
        shown = f"{indent(code.strip())}\n    build_topo({root_name})"
        counts = Counter(id(v) for v in order)
        twice = [k for k in counts if counts[k] > 1]
        if twice:
            worst = max(twice, key=counts.get)
            raise Mistake(
                f"no visited set: a node appears more than once.\n{shown}\n"
                f"gives {len(order)} nodes for a graph of {len(correct)}: {names.get(worst, '?')} "
                f"appears {counts[worst]} times. A node used by several others is reached once "
                "per path to it; keep a set of the nodes visited (the lecture's `if v not in "
                "visited: visited.add(v) ...`)." + _consequence(root, names, order, correct))
        missing = [v for v in correct if id(v) not in counts]
        if not order:
            raise Mistake(f"{shown}\nreturned an empty list: it should hold all "
                          f"{len(correct)} nodes, the leaves first and {root_name} last.")
        if missing:
            raise Mistake(f"nodes missing.\n{shown}\nleaves out "
                          + ", ".join(names[id(v)] for v in missing)
                          + ": visit every input in node._prev, recursively, down to the leaves.")
        if len(order) != len(correct):
            raise Mistake(f"{shown}\ngives {len(order)} items for a graph of {len(correct)} nodes: "
                          "only the nodes of the graph, each once.")
        position = {id(v): i for i, v in enumerate(order)}
        if order[0] is root and len(order) > 1:
            raise Mistake(f"the root comes first: put it last.\n{shown}\nstarts with "
                          f"{root_name}: build_topo lists children before parents (append a "
                          "node after visiting its inputs), and backward() walks it reversed."
                          + _consequence(root, names, order, correct))
        for v in order:
            for child in v._prev:
                if position[id(child)] > position[id(v)]:
                    raise Mistake(
                        f"a node comes before one of its inputs.\n{shown}\nlists "
                        f"{names[id(v)]} before its input {names[id(child)]}: append a node only "
                        "after all of its inputs have been appended."
                        + _consequence(root, names, order, correct))
    return check


def recursive_backward(root):
    """The most proposed "simplification": no sort, just recurse from the root. Right on a tree;
    wrong as soon as a node has two consumers."""
    root.grad = 1.0

    def visit(v):
        v._backward()
        for child in v._prev:
            visit(child)
    visit(root)


def _simulations(code, root_name):
    """The grads of the classic wrong ways to order backward, by name."""
    def forward_order(root):
        root.grad = 1.0
        for v in root.topo():
            v._backward()

    def breadth_first(root):
        root.grad = 1.0
        queue, seen = deque([root]), {root}
        while queue:
            v = queue.popleft()
            v._backward()
            for child in v._prev:
                if child not in seen:
                    seen.add(child)
                    queue.append(child)

    named = [
        ("the topological order walked forwards, not reversed: reverse it "
         "(for node in reversed(topo))", forward_order),
        ("no topological sort: recursing from the root runs a node's _backward before all of its"
         " consumers have added to its grad, and runs a shared node's more than once",
         recursive_backward),
        ("no topological sort: breadth-first from the root runs a shared node's _backward before"
         " all of its consumers have added to its grad", breadth_first),
    ]
    out = []
    for name, walk in named:
        ns = run_code(code, Value)
        walk(ns[root_name])
        out.append((name, {k: v.grad for k, v in ns.items() if isinstance(v, Value)}))
    return out


def _order_problem(build, code, root_name):
    """True when build_topo's list for this graph is not a valid order (each node once, inputs
    first); its own checks say how."""
    root, _, correct = _graph(code, root_name)
    try:
        order = list(build(root))
    except Exception:
        return True
    position = {id(v): i for i, v in enumerate(order)}
    return (len(order) != len(correct) or len(position) != len(correct)
            or any(id(v) not in position for v in correct)
            or any(position[id(c)] > position[id(v)] for v in correct for c in v._prev))


def _diagnosis(learner, code, root_name, ns, names):
    """What the wrong gradients of the learner's backward usually mean, or ''."""
    build = getattr(learner, "build_topo", None)
    if build is not None and _order_problem(build, code, root_name):
        return ("your build_topo's order is not valid (see its checks above), and backward walks"
                " it: fix build_topo first.")
    for name, grads in _simulations(code, root_name):
        if all(close(ns[k].grad, grads[k]) for k in names):
            return name + "."
    return ""


def _backward_check(title, code, root_name):
    def check(learner):
        backward = _one_of(learner, "backward", "build_topo")
        if backward is None:
            return "no backward in your file: only your build_topo(root) is checked."
        want = run_code(code, Value)
        want[root_name].backward()
        ns = run_code(code, Value)
        backward(ns[root_name])
        names = [k for k, v in want.items() if isinstance(v, Value)]
        wrong = [k for k in names if not close(ns[k].grad, want[k].grad)]
        if not wrong:
            return None
        lines = [f"{indent(code.strip())}\n    backward({root_name})"]
        lines += [f"  {k}.grad: {pair(want[k].grad, ns[k].grad)}" for k in wrong]
        if not close(ns[root_name].grad, 1.0):
            lines.insert(0, f"{root_name}.grad should be 1.0 (d{root_name}/d{root_name}): "
                            "backward(root) starts by setting root.grad = 1.0.")
        lines.insert(0, _diagnosis(learner, code, root_name, ns, names))
        raise Mistake("\n".join(line for line in lines if line))
    return check


for _title, _code, _root in GRAPHS:
    checks(f"build_topo: {_title}")(_topo_check(_title, _code, _root))
for _title, _code, _root in GRAPHS:
    checks(f"backward: {_title}")(_backward_check(_title, _code, _root))
