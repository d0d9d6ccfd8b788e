"""The engine: a scalar `Value` that remembers how it was made, and `backward()`.

This follows the lecture line by line. A `Value` wraps one float. Every operation makes a new
`Value` whose `_prev` are its inputs and whose rule knows the operation's *local derivative*
d(out)/d(input). `backward()` visits the graph in reverse topological order and applies the chain
rule at every node: input.grad += local derivative * out.grad.

Two departures from the lecture's code, both invisible to code written for it:

* Each operation is one row of the table `OPS` below, forward and local derivative side by side,
  instead of a closure per node. A closure that mentions `out` is a reference cycle, which leaves
  every graph to Python's cyclic garbage collector; a shared rule does not, so a dropped graph is
  freed at once, and a node costs about a third of the memory.
* `backward()` is iterative (no recursion limit) and, as in PyTorch, resets the grads of the
  intermediate nodes first, so calling it twice adds exactly the same gradient to the leaves twice.

Errors: an operation whose real result does not exist (log of 0, 0 ** -1, (-8) ** 0.5, exp of
1000) raises a `ValueError`/`OverflowError` that names the operation and its inputs. NaN and inf
that you put in yourself flow through the arithmetic as IEEE floats, as in PyTorch; the training
loop is where a non-finite loss is caught.
"""
import math
from numbers import Real

__all__ = ["Value", "Op", "OPS", "linear", "topological_order", "no_grad", "is_grad_enabled"]


def _as_float(x, where):
    """Accept ints, floats, bools and numpy scalars; refuse anything else by name."""
    if x.__class__ is float:
        return x
    if isinstance(x, Real):
        try:
            return float(x)
        except OverflowError:
            raise OverflowError(f"{where}: {x!r} is too large for a float") from None
    raise TypeError(f"{where}: expected a real number, got {type(x).__name__} {x!r}")


class Op:
    """A differentiable operation: how to compute it, and its local derivatives.

    forward(*xs) -> float              the value, from the inputs' floats
    local_grads(out, *xs) -> tuple     d(out)/d(x_i) for every input, from floats
    formula, derivatives               optional text of both, for people: "{a} · {b}", ("{b}", "{a}")

    An `Op` is called on Values (or plain numbers) and returns a new Value. This is all it
    takes to add an operation: "as long as you can write the forward and the local
    derivative, it is a lego block".
    """
    __slots__ = ("name", "forward", "local_grads", "formula", "derivatives", "const")

    def __init__(self, name, forward, local_grads, formula="", derivatives=(), const=None):
        self.name, self.forward, self.local_grads = name, forward, local_grads
        # How people read it: formula "{a} · {b}", derivatives ("{b}", "{a}"), one per input.
        self.formula, self.derivatives = formula, tuple(derivatives)
        self.const = const     # a constant the op carries, e.g. k in x ** k (for tools that read it)

    def __call__(self, *inputs):
        inputs = tuple(x if isinstance(x, Value) else _leaf(x, self.name) for x in inputs)
        try:
            data = self.forward(*[x.data for x in inputs])
        except (ValueError, ZeroDivisionError, OverflowError) as e:
            raise _domain_error(self.name, inputs, e) from None
        if data.__class__ is not float:   # a custom op may answer with an int (or worse)
            data = _as_float(data, f"{self.name} (the result of its forward)")
        return _node(data, inputs, self)

    def binary(self, a, b):
        """__call__ for two inputs, spelled out: the hot path of every + - * /."""
        if a.__class__ is not Value and not isinstance(a, Value):    # fast path first
            a = _leaf(a, self.name)
        if b.__class__ is not Value and not isinstance(b, Value):
            b = _leaf(b, self.name)
        try:
            data = self.forward(a.data, b.data)
        except (ValueError, ZeroDivisionError, OverflowError) as e:
            raise _domain_error(self.name, (a, b), e) from None
        return _node(data, (a, b), self)

    def __repr__(self):
        return f"Op({self.name!r})"


def _show(inputs):
    return ", ".join(repr(x.data) for x in inputs)


def _domain_error(name, inputs, e):
    kind = OverflowError if isinstance(e, OverflowError) else ValueError
    return kind(f"{name}: no finite real result for {_show(inputs)} ({e})")


# ---------------------------------------------------------------------------------------------
# The table: every operation, its forward and its local derivative(s), side by side.
# `out` is the forward's result; a, b are the inputs' floats.
# ---------------------------------------------------------------------------------------------
def _sigmoid(a):                      # written so that exp never overflows
    if a >= 0:
        return 1.0 / (1.0 + math.exp(-a))
    e = math.exp(a)
    return e / (1.0 + e)


def _pow(a, b):                       # Python answers (-8) ** 0.5 with a complex number; we refuse
    if a == 0 and b < 0:
        raise ZeroDivisionError("0 to a negative power")
    if a < 0 and not float(b).is_integer():
        raise ValueError("a negative base to a non-integer power")
    return a ** b


def _dpow(a, b):                      # d(a**b)/da = b * a**(b-1); a constant (b = 0) has none
    return 0.0 if b == 0 else b * _pow(a, b - 1)


def _log_base(a, b):                  # d(a**b)/db = a**b * log(a); at a == 0 the power is flat
    if a > 0:
        return math.log(a)
    if a == 0:
        return 0.0
    raise ValueError(f"d/db of a**b needs a > 0, got a={a!r}")


def _linear(b, *wx):                  # b + w0*x0 + w1*x1 + ..., added in the lecture's order
    s = b
    for i in range(0, len(wx), 2):
        s += wx[i] * wx[i + 1]
    return s


def _linear_grads(out, b, *wx):       # d/db = 1, d/dw_i = x_i, d/dx_i = w_i
    g = [1.0] * (len(wx) + 1)
    g[1::2], g[2::2] = wx[1::2], wx[0::2]
    return g


OPS = {
    #         forward                          local derivatives d(out)/d(input)
    "+":    (lambda a, b: a + b,               lambda out, a, b: (1.0, 1.0)),
    "-":    (lambda a, b: a - b,               lambda out, a, b: (1.0, -1.0)),
    "*":    (lambda a, b: a * b,               lambda out, a, b: (b, a)),
    "/":    (lambda a, b: a / b,               lambda out, a, b: (1.0 / b, -a / (b * b))),
    "**":   (_pow,                             lambda out, a, b: (_dpow(a, b),
                                                                  out * _log_base(a, b))),
    "neg":  (lambda a: -a,                     lambda out, a: (-1.0,)),
    "exp":  (math.exp,                         lambda out, a: (out,)),
    "log":  (math.log,                         lambda out, a: (1.0 / a,)),
    "tanh": (math.tanh,                        lambda out, a: (1.0 - out * out,)),
    "ReLU": (lambda a: 0.0 if a <= 0 else a,   lambda out, a: (1.0 if a > 0 else 0.0,)),  # NaN stays
    "abs":  (abs,                              lambda out, a: ((a > 0) - (a < 0),)),   # sign(a)
    "sigmoid": (_sigmoid,                      lambda out, a: (out * (1.0 - out),)),
    # A whole neuron's weighted sum as one node (nn.Neuron's fast path): inputs b, w0, x0, w1, x1...
    "w·x+b": (_linear,                         _linear_grads),
    # The largest input (Python's max: the first of equals): softmax's shift. Its derivative is
    # 0 for every input, since the shift cancels (what a replay must recompute, not learn from).
    "max":  (lambda *xs: max(xs),              lambda out, *xs: (0.0,) * len(xs)),
}
# The same rows as text, for people (the stepper, the exercises): {a}, {b} are the inputs' names,
# {out} the result's. ("w·x+b" has any number of inputs; its readers spell it out.)
FORMULAS = {
    "+":    ("{a} + {b}",      ("1", "1")),
    "-":    ("{a} - {b}",      ("1", "-1")),
    "*":    ("{a} · {b}",      ("{b}", "{a}")),
    "/":    ("{a} / {b}",      ("1/{b}", "-{a}/{b}²")),
    "**":   ("{a}^{b}",        ("{b}·{a}^({b}-1)", "{out}·ln({a})")),
    "neg":  ("-{a}",           ("-1",)),
    "exp":  ("exp({a})",       ("exp({a}) = {out}",)),
    "log":  ("ln({a})",        ("1/{a}",)),
    "tanh": ("tanh({a})",      ("1 - {out}²",)),
    "ReLU": ("max(0, {a})",    ("1 if {a} > 0 else 0",)),
    "abs":  ("|{a}|",          ("sign({a})",)),
    "sigmoid": ("σ({a})",      ("{out}·(1 - {out})",)),
    "max":  ("max({a}, {b}, …)", ("0", "0")),
}
OPS = {name: Op(name, f, df, *FORMULAS.get(name, ("", ()))) for name, (f, df) in OPS.items()}
ADD, SUB, MUL, DIV, POW = OPS["+"], OPS["-"], OPS["*"], OPS["/"], OPS["**"]
NEG, EXP, LOG, TANH, RELU, ABS, SIGMOID = (
    OPS[k] for k in ("neg", "exp", "log", "tanh", "ReLU", "abs", "sigmoid"))
LINEAR = OPS["w·x+b"]
MAX = OPS["max"]


def linear(w, x, b=0.0):
    """b + sum(w_i * x_i) as one node: the same number, in the same order of additions, as
    sum((wi*xi for wi, xi in zip(w, x)), b), with 1 node instead of 2*len(w)."""
    if len(w) != len(x):
        raise ValueError(f"linear: {len(w)} weights but {len(x)} inputs")
    inputs = [b if isinstance(b, Value) else _leaf(b, "w·x+b")]
    s = inputs[0].data
    for wi, xi in zip(w, x):     # LINEAR.forward, spelled out here: a neuron is the hot path
        if wi.__class__ is not Value and not isinstance(wi, Value):
            wi = _leaf(wi, "w·x+b")
        if xi.__class__ is not Value and not isinstance(xi, Value):
            xi = _leaf(xi, "w·x+b")
        inputs += (wi, xi)
        s += wi.data * xi.data
    return _node(s, tuple(inputs), LINEAR)


_POW_CONST = {}


def _pow_const(k):
    """x ** k for a constant k: one Op per exponent (named '**2' as in the lecture), shared."""
    op = _POW_CONST.get((type(k), k))
    if op is None:
        kf = float(k)
        op = _POW_CONST[(type(k), k)] = Op(
            f"**{k}", lambda a: _pow(a, kf), lambda out, a: (_dpow(a, kf),),
            f"{{a}}^{k}", (f"2·{{a}}" if kf == 2 else f"{k}·{{a}}^{kf - 1:g}",), const=kf)
    return op


# ---------------------------------------------------------------------------------------------
# no_grad: evaluate without building a graph.
# ---------------------------------------------------------------------------------------------
class _GradMode:
    enabled = True


def is_grad_enabled():
    return _GradMode.enabled


class no_grad:
    """`with no_grad():` operations give plain leaf Values, no graph, as torch.no_grad()."""

    def __enter__(self):
        self._prev, _GradMode.enabled = _GradMode.enabled, False

    def __exit__(self, *exc):
        _GradMode.enabled = self._prev


# ---------------------------------------------------------------------------------------------
# Value
# ---------------------------------------------------------------------------------------------
class Value:
    """Stores a single scalar value and its gradient."""
    __slots__ = ("data", "grad", "_prev", "_op", "label", "_rule")

    def __init__(self, data, _children=(), _op="", label=""):
        self.data = _as_float(data, "Value(data)")
        self.grad = 0.0
        self._prev = tuple(_children)
        self._op = _op
        self.label = label
        self._rule = None      # the Op that made this node (or a callable you set as _backward)

    # ---- the local chain-rule step, callable by hand as in the lecture's manual backprop ----
    @property
    def _backward(self):
        rule = self._rule
        if rule is None:
            return _nothing
        if isinstance(rule, Op):
            return lambda: _chain_rule(self)
        return rule

    @_backward.setter
    def _backward(self, fn):   # lecture style: out._backward = a closure you wrote
        self._rule = fn

    # ---- operations: each one is a row of OPS ----
    def __add__(self, other):     return ADD.binary(self, other)
    def __radd__(self, other):    return ADD.binary(other, self)
    def __sub__(self, other):     return SUB.binary(self, other)
    def __rsub__(self, other):    return SUB.binary(other, self)
    def __mul__(self, other):     return MUL.binary(self, other)
    def __rmul__(self, other):    return MUL.binary(other, self)
    def __truediv__(self, other): return DIV.binary(self, other)
    def __rtruediv__(self, other): return DIV.binary(other, self)
    def __neg__(self):            return NEG(self)
    def __abs__(self):            return ABS(self)
    def __rpow__(self, other):    return POW(other, self)

    def __pow__(self, other):
        if isinstance(other, Value):
            return POW(self, other)
        _as_float(other, "**")    # refuse a non-number exponent by name
        return _pow_const(other)(self)

    def exp(self):     return EXP(self)
    def log(self):     return LOG(self)
    def tanh(self):    return TANH(self)
    def relu(self):    return RELU(self)
    def sigmoid(self): return SIGMOID(self)

    # Order by value, so max(values) and `if v > 0` work. No __eq__: Values stay hashable by
    # identity, as graph nodes must.
    def __lt__(self, other): return self.data < _data(other)
    def __le__(self, other): return self.data <= _data(other)
    def __gt__(self, other): return self.data > _data(other)
    def __ge__(self, other): return self.data >= _data(other)
    def __float__(self):     return self.data

    def backward(self):
        """Fill in d(self)/d(node) for every node of the graph, by the chain rule, in reverse
        topological order. Leaves accumulate (call zero_grad between steps); intermediate
        nodes start from zero on every call, so a second call adds the same gradient again."""
        topo = self.topo()
        for v in topo:
            if v._prev:
                v.grad = 0.0
        self.grad += 1.0
        for v in reversed(topo):
            rule = v._rule
            if rule is None:
                continue
            if isinstance(rule, Op):
                _chain_rule(v, rule)
            else:
                rule()              # a closure assigned to _backward, lecture style

    def topo(self):
        """All nodes this Value depends on, children before parents (the lecture's build_topo,
        without recursion, in a deterministic order)."""
        return topological_order(self)

    def __repr__(self):
        label = f", label={self.label!r}" if self.label else ""
        return f"Value(data={self.data}, grad={self.grad}{label})"


def topological_order(*roots):
    """Every node the roots depend on, children before parents: the lecture's recursive
    build_topo (visit the children in order, then append the node), with an explicit stack
    instead of recursion. Several roots share one visited set."""
    topo, visited = [], set()
    for root in roots:
        if root in visited:
            continue
        visited.add(root)
        stack = [(root, iter(root._prev))]
        while stack:
            node, children = stack[-1]
            for child in children:
                if child not in visited:
                    visited.add(child)
                    stack.append((child, iter(child._prev)))
                    break
            else:
                stack.pop()
                topo.append(node)
    return topo


def _data(x):
    return x.data if isinstance(x, Value) else _as_float(x, "comparison")


def _leaf(x, where):
    """A plain number mixed into an operation becomes a constant leaf, as in the lecture."""
    v = _new(Value)
    v.data, v.grad, v._prev, v._op, v.label, v._rule = _as_float(x, where), 0.0, (), "", "", None
    return v


_new = object.__new__


def _nothing():
    pass


def _node(data, children, rule):
    """A new Value made by `rule` (or a plain leaf under no_grad); skips __init__'s checks."""
    v = _new(Value)
    v.data, v.grad, v.label = data, 0.0, ""
    if _GradMode.enabled:
        v._prev, v._op, v._rule = children, rule.name, rule
    else:
        v._prev, v._op, v._rule = (), "", None
    return v


def _chain_rule(v, rule=None):
    """One node's backward step: each input's grad += local derivative * out.grad.
    (One and two inputs are spelled out: they are nearly every node, and this is the hot loop.)"""
    rule, prev, g = rule or v._rule, v._prev, v.grad
    n = len(prev)
    try:
        if n == 2:
            local = rule.local_grads(v.data, prev[0].data, prev[1].data)
        elif n == 1:
            local = rule.local_grads(v.data, prev[0].data)
        else:
            local = rule.local_grads(v.data, *[c.data for c in prev])
    except (ValueError, ZeroDivisionError, OverflowError) as e:
        raise ValueError(f"backward through {v._op}: the derivative at {_show(prev)} "
                         f"is not finite ({e})") from None
    if len(local) != n:
        raise TypeError(f"{v._op}: local_grads gave {len(local)} derivatives for {n} inputs")
    if n == 2:
        a, b = prev
        a.grad += local[0] * g
        b.grad += local[1] * g
    else:
        for child, d in zip(prev, local):
            child.grad += d * g
