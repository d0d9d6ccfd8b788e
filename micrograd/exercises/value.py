"""Exercise `value`: the lecture's class Value, checked op by op, then on whole expressions.

Each op is first checked alone (its forward, its local derivative, and that it accumulates into
a grad that is already there), so a wrong number is reported by op name; then the lecture's own
expressions, reuse, random expressions and a deep graph, against the engine; then what a second
backward() does, which is explained, never failed.
"""
from micrograd.exercises.checking import (ACCUMULATE, Checklist, Mistake, close, derivative,
                                          engine_run, formula, graph_ops, local_grads, num,
                                          number_of, pair, require, run_code, starter)
from micrograd.exercises.expressions import (LECTURE_L, LECTURE_NEURON, SHARED, compare,
                                             random_expression)

NAME = "value"
SUMMARY = ("Write the lecture's class Value: + * ** - / and unary -, radd/rmul/rsub, tanh, exp "
           "and backward(), checked against micrograd's engine and numerical gradients.")
TIMEOUT_HINT = ("For example a build_topo without a visited set revisits shared nodes again "
                "and again, or a while loop in backward() whose condition never changes.")

STARTER = starter('value', 'a scalar that remembers how it was made, and backward().', '''\
import math


class Value:

    def __init__(self, data, _children=(), _op='', label=''):
        self.data = data
        self.grad = 0.0
        self._backward = lambda: None     # a leaf has nothing to propagate
        self._prev = set(_children)
        self._op = _op
        self.label = label

    def __repr__(self):
        return f"Value(data={self.data})"

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)   # a number becomes a Value
        # TODO: out, a new Value: its data, its children (self, other) and its op '+'
        # TODO: out._backward, a function that adds d(out)/d(self) * out.grad to self.grad,
        #       and the same for other
        raise NotImplementedError

    def __mul__(self, other):
        # TODO: as __add__, with the local derivatives of a product
        raise NotImplementedError

    def __pow__(self, other):
        assert isinstance(other, (int, float)), "only int/float powers"
        # TODO: self ** other for a number `other`, op name f'**{other}'
        raise NotImplementedError

    def __neg__(self):        # -self
        raise NotImplementedError   # TODO: from an op you already have

    def __sub__(self, other):  # self - other
        raise NotImplementedError   # TODO

    def __truediv__(self, other):  # self / other
        raise NotImplementedError   # TODO: hint: x / y == x * y**-1

    def __radd__(self, other):  # other + self, when other is a number
        raise NotImplementedError   # TODO

    def __rmul__(self, other):  # other * self
        raise NotImplementedError   # TODO

    def __rsub__(self, other):  # other - self
        raise NotImplementedError   # TODO

    def tanh(self):
        raise NotImplementedError   # TODO: forward and local derivative, op name 'tanh'

    def exp(self):
        raise NotImplementedError   # TODO: op name 'exp'

    def backward(self):
        # TODO: order the nodes topologically (children before parents), set this node's grad
        # to 1.0, then call every node's _backward in reverse order
        raise NotImplementedError
''', notes='''
Follow the lecture: every operation makes a new Value whose _prev are its inputs, and sets
out._backward to a function that adds (local derivative * out.grad) to each input's grad.
''')

checks = Checklist()
CHECKS = checks


def learner_value(learner):
    return require(learner, "Value", "a class Value, as the lecture writes it")


@checks("class Value: data, grad, label, _prev, _op, _backward, backward()")
def _the_class(learner):
    V = learner_value(learner)
    a = V(2.0, label="a")
    for attr, want in (("data", 2.0), ("grad", 0.0), ("label", "a")):
        got = getattr(a, attr, "(missing)")
        if got != want:
            raise Mistake(f"Value(2.0, label='a').{attr} should be {want!r}, yours is {got!r}. "
                          "The lecture's constructor: Value(data, _children=(), _op='', label='')"
                          " keeps data, starts grad at 0.0 and keeps the label.")
    if not callable(getattr(a, "_backward", None)):
        raise Mistake("a leaf's _backward should be a function that does nothing "
                      "(self._backward = lambda: None in __init__): backward() calls it on "
                      "every node, leaves included.")
    b = V(-3.0, label="b")
    c = a * b
    prev = getattr(c, "_prev", None)
    if prev is None or {id(x) for x in prev} != {id(a), id(b)}:
        raise Mistake("(a * b)._prev should hold exactly a and b, the Values it was made from "
                      "(pass (self, other) as _children).")
    if getattr(c, "_op", None) != "*":
        raise Mistake(f"(a * b)._op should be '*', yours is {getattr(c, '_op', None)!r}.")
    c.backward()
    if not close(number_of(c.grad, "the root's grad"), 1.0):
        raise Mistake(f"after c.backward(), c.grad should be 1.0 (dc/dc = 1), yours is "
                      f"{num(c.grad)}: backward() begins by setting the root's grad to 1.0.")


# ---------------------------------------------------------------------------------------------
# backward()'s order: each node's _backward once, after every node that uses it
# ---------------------------------------------------------------------------------------------
CONSUMERS = {"e": ("d", "L"), "d": ("L",)}      # in SHARED: who uses whom


@checks("backward() runs each node's _backward once, after every node that uses it")
def _order(learner):
    ns = run_code(SHARED, learner_value(learner))
    calls = []
    for name in "abedL":
        def counting(original=ns[name]._backward, name=name):
            calls.append(name)
            original()
        ns[name]._backward = counting
    ns["L"].backward()
    shown = "in\n" + "".join(f"    {line}\n" for line in SHARED.splitlines()) + \
            "    L.backward()\n"
    for name in "edL":
        runs = calls.count(name)
        if runs > 1:
            raise Mistake(f"no visited set: your backward() ran {name}'s _backward {runs} times "
                          f"{shown}so {name}'s contribution reached its inputs {runs} times. A node"
                          " used by several others is reached once per path to it: keep a set of "
                          "the nodes visited in build_topo.")
        if runs == 0:
            raise Mistake(f"your backward() never ran {name}'s _backward {shown}so nothing "
                          f"reached {name}'s inputs: call every node's _backward.")
    for name, users in CONSUMERS.items():
        for user in users:
            if calls.index(user) > calls.index(name):
                raise Mistake(
                    f"not in reverse topological order: your backward() ran {name}'s _backward "
                    f"before {user}'s {shown}although {user} uses {name}: {name}.grad was not "
                    f"complete yet. Order the nodes with build_topo and walk them backwards "
                    "(for node in reversed(topo)).")


# ---------------------------------------------------------------------------------------------
# one op at a time
# ---------------------------------------------------------------------------------------------
# (expression, the engine's op, its operands (leaf names or numbers), the exponent for **,
#  the method of yours that computes it, leaf values)
LECTURE_LEAVES = {"a": 2.0, "b": -3.0}
OP_CASES = [
    ("a + b", "+", ("a", "b"), None, "__add__", LECTURE_LEAVES),
    ("a * b", "*", ("a", "b"), None, "__mul__", LECTURE_LEAVES),
    ("a ** 3", "**", ("a",), 3, "__pow__", LECTURE_LEAVES),
    ("a ** 0.5", "**", ("a",), 0.5, "__pow__", LECTURE_LEAVES),
    ("-a", "neg", ("a",), None, "__neg__", LECTURE_LEAVES),
    ("a - b", "-", ("a", "b"), None, "__sub__", LECTURE_LEAVES),
    ("a / b", "/", ("a", "b"), None, "__truediv__", LECTURE_LEAVES),
    ("a.tanh()", "tanh", ("a",), None, "tanh", {"a": 0.8813735870195432}),
    ("a.exp()", "exp", ("a",), None, "exp", {"a": 0.5}),
    ("a + 1.5", "+", ("a", "1.5"), None, "__add__", LECTURE_LEAVES),
    ("1.5 + a", "+", ("1.5", "a"), None, "__radd__", LECTURE_LEAVES),
    ("a * 2.0", "*", ("a", "2.0"), None, "__mul__", LECTURE_LEAVES),
    ("2.0 * a", "*", ("2.0", "a"), None, "__rmul__", LECTURE_LEAVES),
    ("a - 1.5", "-", ("a", "1.5"), None, "__sub__", LECTURE_LEAVES),
    ("1.5 - a", "-", ("1.5", "a"), None, "__rsub__", LECTURE_LEAVES),
    ("a / 2.0", "/", ("a", "2.0"), None, "__truediv__", LECTURE_LEAVES),
]


def _leaves_code(values, used):
    return "".join(f"{n} = Value({values[n]!r}, label={n!r})\n" for n in values if n in used)


def _op_check(expr, op, operands, const, method, values):
    leaves = [n for n in operands if n.isidentifier()]
    code = _leaves_code(values, leaves) + f"out = {expr}\n"
    shown = ", ".join(f"{n} = {values[n]!r}" for n in leaves)
    floats = [values[n] if n.isidentifier() else float(n) for n in operands]

    def check(learner):
        V = learner_value(learner)
        ref = engine_run(code, "out")
        ns = run_code(code, V)
        out = number_of(ns["out"], f"the result of {expr}")
        if not close(out, ref["out"].data):
            raise Mistake(f"out = {expr} with {shown}: out.data is {pair(ref['out'].data, out)}."
                          f"\nThe forward of '{op}' is out = {formula(op, operands, const)}: "
                          f"look at the data your {method} computes.")
        built_from = _built_from(ns["out"], op, const)
        ns["out"].backward()
        for i, n in enumerate(operands):
            if not n.isidentifier():
                continue
            got = number_of(ns[n].grad, f"{n}.grad")
            if not close(got, ref[n].grad):
                raise Mistake(_wrong_derivative(expr, shown, op, operands, const, i, floats,
                                                ref[n].grad, got, method, built_from))
        # A grad that is already there (from another use of the input) must survive.
        ns = run_code(code, V)
        for n in leaves:
            ns[n].grad = 0.5
        ns["out"].backward()
        for n in leaves:
            got, want = number_of(ns[n].grad, f"{n}.grad"), 0.5 + ref[n].grad
            if close(got, ref[n].grad) and not close(got, want):
                raise Mistake(
                    f"{ACCUMULATE}.\nout = {expr} with {shown}, and {n}.grad already 0.5 (as if "
                    f"{n} had been used elsewhere too), then out.backward():\n"
                    f"  {n}.grad: {pair(want, got)}   (0.5 + {num(ref[n].grad)})\n"
                    f"Your {method}'s _backward{' (or one it is built from)' if built_from else ''}"
                    " sets the input's grad (self.grad = ..., other.grad = ...) instead of adding "
                    "to it (self.grad += ...): "
                    f"a Value used twice, like b = a + a in the lecture, would lose one of its "
                    f"contributions.{built_from}")
            if not close(got, want):
                raise Mistake(f"out = {expr} with {shown}, and {n}.grad already 0.5: after "
                              f"out.backward(), {n}.grad is {pair(want, got)}: backward() "
                              "should add to a leaf's grad, never reset it.")
    check.__name__ = f"check {expr}"
    return check


def _built_from(out, op, const):
    """' (built from ...)' when the learner's graph for this op holds other ops (as the lecture
    builds - from + and *): a mistake in those shows here too."""
    def own(o):
        return o.startswith("**") if op == "**" else o == op
    ops = sorted(o for o in graph_ops(out) if not own(o))
    if not ops:
        return ""
    return (f"\n(Yours is built from {', '.join(map(repr, ops))}, as the lecture does: if one of "
            "those fails above, fix that one first.)")


def _wrong_derivative(expr, shown, op, operands, const, i, floats, want, got, method, built):
    name = operands[i]
    local = local_grads(op, floats, const)[i]
    text = derivative(op, operands, i, const)
    lines = [f"wrong local derivative of '{op}': out = {expr} with {shown}, then out.backward():",
             f"  {name}.grad: {pair(want, got)}",
             f"The local derivative of {formula(op, operands, const)} with respect to {name} is "
             f"{text} = {num(local)} (micrograd's op table), and the chain rule multiplies it by "
             "out.grad = 1.0."]
    if got == 0:
        lines.append(f"{name}.grad stayed 0: did your {method} set out._backward = _backward, "
                     "and does backward() call every node's _backward?")
    else:
        lines.append(f"Look at the line of your {method}'s _backward that adds to this input's "
                     "grad: usually a wrong factor (self.data where other.data belongs, a "
                     "missing out.grad, t where 1 - t**2 belongs).")
    return "\n".join(lines) + built


for _case in OP_CASES:
    checks(f"'{_case[1]}': out = {_case[0]}")(_op_check(*_case))


# ---------------------------------------------------------------------------------------------
# reuse: the lecture's bug
# ---------------------------------------------------------------------------------------------
def _reuse_check(expr, value, one_use):
    code = f"a = Value({value!r}, label='a')\nb = {expr}\n"

    def check(learner):
        V = learner_value(learner)
        want = engine_run(code, "b")["a"].grad
        ns = run_code(code, V)
        ns["b"].backward()
        got = number_of(ns["a"].grad, "a.grad")
        if close(got, want):
            return None
        if close(got, one_use):
            raise Mistake(f"{ACCUMULATE}.\nb = {expr} with a = {value!r}: a.grad is "
                          f"{pair(want, got)}. b uses a twice, so a.grad gets two "
                          f"contributions of {num(one_use)} each. In your _backward self and "
                          "other are the very same Value here: with `=` the second assignment "
                          "overwrites the first (the lecture's own bug); with `+=` they add up.")
        raise Mistake(f"b = {expr} with a = {value!r}: a.grad is {pair(want, got)}.")
    return check


checks("reuse: b = a + a (the lecture's bug)")(_reuse_check("a + a", 3.0, 1.0))
checks("reuse: b = a * a")(_reuse_check("a * a", 3.0, 3.0))

# ---------------------------------------------------------------------------------------------
# whole expressions, against the engine
# ---------------------------------------------------------------------------------------------
TANH_FROM_EXP = LECTURE_NEURON.replace("o = n.tanh()\n",
                                       "e = (2 * n).exp()\no = (e - 1) / (e + 1)\n")
TWO_CONSUMERS = """\
a = Value(-2.0, label='a')
b = Value(3.0, label='b')
d = a * b
e = a + b
f = d * e
"""
DEEP = """\
x = Value(0.5, label='x')
y = x
for _ in range(100):
    y = (y * 0.9 + x).tanh()
"""


def _expression_check(code, root, names):
    def check(learner):
        compare(learner_value(learner), code, root, names, numerical=True)
    return check


checks("the lecture's expression: L = (a*b + c) * f")(
    _expression_check(LECTURE_L, "L", ["a", "b", "c", "e", "d", "f", "L"]))
checks("the lecture's neuron: o = tanh(x1*w1 + x2*w2 + b)")(
    _expression_check(LECTURE_NEURON, "o", ["x1", "x2", "w1", "w2", "b", "n", "o"]))
checks("the lecture's tanh from exp: o = (e - 1) / (e + 1), e = exp(2n)")(
    _expression_check(TANH_FROM_EXP, "o", ["x1", "x2", "w1", "w2", "b", "n", "e", "o"]))
checks("a node with two consumers: f = (a*b) * (a+b)")(
    _expression_check(TWO_CONSUMERS, "f", ["a", "b", "d", "e", "f"]))
checks("a deep graph: 100 layers of y = tanh(0.9*y + x)")(_expression_check(DEEP, "y", ["x", "y"]))

RANDOM_SEEDS = range(40)


@checks("40 random expressions, with reuse, against the engine and numerical gradients")
def _random(learner):
    V = learner_value(learner)
    for seed in RANDOM_SEEDS:
        code, root, names = random_expression(seed)
        compare(V, code, root, names, numerical=True,
                intro=f"random expression {seed + 1} of {len(RANDOM_SEEDS)}:\n")


# ---------------------------------------------------------------------------------------------
# backward() twice: the lecture's answer is not PyTorch's, and both are fine
# ---------------------------------------------------------------------------------------------
TWICE = "x = Value(2.0, label='x')\ny = x * x\nz = y * 3\n"


@checks("backward() twice: z = (x*x) * 3 at x = 2")
def _twice(learner):
    ns = run_code(TWICE, learner_value(learner))
    ns["z"].backward()
    first = number_of(ns["x"].grad, "x.grad")
    if not close(first, 12.0):
        raise Mistake(f"after z.backward(), x.grad (dz/dx = 6x) is {pair(12.0, first)}.")
    ns["z"].backward()
    second = number_of(ns["x"].grad, "x.grad")
    if close(second, 36.0):
        return ("Called a second time, your backward() gives x.grad = 36.0, as the lecture's does;"
                " PyTorch gives 24.0 (and so does micrograd's engine). Both are right for what "
                "they do: your backward() sets z.grad = 1 but leaves y's grad at 3.0 from the "
                "first call, so the second call adds 2*x*(3+3) = 24 on top of 12. PyTorch frees "
                "the graph (or starts every intermediate grad from zero), so it adds exactly 12 "
                "again. Training never sees the difference: every step builds a fresh graph and "
                "zero_grad() resets the parameters.")
    if close(second, 24.0):
        return ("Called a second time, your backward() adds dz/dx = 12 again (x.grad = 24.0), as "
                "PyTorch does; the lecture's gives 36.0, because it keeps y's grad from the first "
                "call. Either is fine.")
    raise Mistake(f"after a second z.backward(), x.grad is {num(second)}: the lecture's backward()"
                  " gives 36.0 (it keeps y's stale grad), PyTorch's 24.0 (it adds 12 again). "
                  + ("Yours adds 1 to z.grad rather than setting it: backward() should start "
                     "with self.grad = 1.0." if close(second, 48.0) else
                     "backward() should set the root's grad to 1.0 and leave the leaves' grads "
                     "to accumulate."))
