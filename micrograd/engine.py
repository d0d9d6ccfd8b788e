"""The engine: a number that remembers how it was made, and backward().

This is the lecture's story, in its order:

1. `Value` wraps one number (an int stays an int, as in the original micrograd). Every operation
   on Values makes a new Value that remembers its inputs (`_prev`) and the operation (`_op`).
   `a - b`, `-a` and `a / b` are built from the others exactly as in the lecture and in micrograd
   0.1.0 (`a + (-b)`, `a * -1`, `a * b**-1`), so the graphs, and every bit of their numbers,
   are the original's.
2. The op table: each operation is one row, its forward beside its local derivatives
   d(out)/d(input) and the formula for people. "As long as you can write the forward and the
   local derivative, it is a lego block."
3. `backward()`: order the graph topologically, then walk it backwards applying the chain rule
   at every node: input.grad += local derivative * out.grad.

Three departures from the lecture's code, invisible to code written for it: a node keeps its
op's row instead of a closure (no reference cycle, so a dropped graph is freed at once; you may
still assign `out._backward` a closure of your own); the walk is iterative (a million-deep graph
is fine); and, as in PyTorch, backward() zeroes the intermediate nodes first, so calling it twice
adds the same gradient to the leaves twice.

The rest lives next door, out of the way of the story: micrograd.op (what a row is, the generic
way to run one, the rows of x ** k), micrograd.fastpaths (each row's hot paths, generated from
the row), micrograd.nodes (how a node is stored), micrograd.grad_mode (no_grad),
micrograd.higher_order (grad(), derivatives as graphs), micrograd.checks (what counts as a
number, and the errors), micrograd.primitives (the exp/log/tanh/where the rows are written with).
"""
from micrograd import fastpaths, nodes
from micrograd.checks import as_number, int_power, pow_domain, pow_grad_domain, short
from micrograd.nodes import _MANY, Node, _thread
from micrograd.op import Op, _pow_op_cached, local_grads, pow_op  # noqa: F401 (re-exported)
from micrograd.primitives import exp, log, tanh, where

__all__ = ["Value", "Op", "OPS", "linear", "pow_op", "topological_order", "backpropagate",
           "grad", "no_grad", "enable_grad", "is_grad_enabled"]


# ---------------------------------------------------------------------------------------------
# 1. Value
# ---------------------------------------------------------------------------------------------
class Value(Node):
    """ stores a single scalar value and its gradient """
    # Node (micrograd/nodes.py) stores data, grad, the inputs (read as `_prev`), the op's row,
    # and _op and label, in six slots: 80 bytes a node, with its number 104.
    __slots__ = ()

    def __init__(self, data, _children=(), _op='', label=''):
        self.data = as_number(data, "Value(data)")
        self.grad = 0
        self._prev = _children
        # the op that produced this node (`_op`, for graphviz / debugging) and its label, kept
        # as one pair (micrograd/nodes.py): one store, where the two properties are two calls
        self._names = nodes.names(_op, label)
        self._rule = None       # the op's row (or a closure you assigned to _backward)

    # Each operation runs its row of the table below. (The ones that only call their row are
    # made that row's generated path itself at the end of this module: the same numbers.)
    def __add__(self, other):      return ADD.binary(self, other)
    def __mul__(self, other):      return MUL.binary(self, other)
    def __radd__(self, other):     return ADD.binary(other, self)      # other + self
    def __rmul__(self, other):     return MUL.binary(other, self)      # other * self
    def __neg__(self):             return self * -1                    # -self
    def __sub__(self, other):      return self + (-_operand(other, "-"))  # self - other
    def __rsub__(self, other):     return other + (-self)              # other - self
    def __truediv__(self, other):  return self * _inverse(self, other)  # self * other**-1
    def __rtruediv__(self, other): return other * self**-1             # other / self

    def __pow__(self, other):
        if isinstance(other, Value):                # a ** b, both in the graph
            return POW.binary(self, int_power(self, other))
        return pow_op(int_power(self, as_number(other, "**"))).unary(self)   # x ** 2: '**2'

    def __rpow__(self, other):     return POW.binary(other, int_power(other, self))
    def __abs__(self):             return ABS.unary(self)
    def exp(self):                 return EXP.unary(self)
    def log(self):                 return LOG.unary(self)
    def tanh(self):                return TANH.unary(self)
    def relu(self):                return RELU.unary(self)
    def sigmoid(self):             return SIGMOID.unary(self)

    def div(self, other):
        """self / other as one node: PyTorch's division, correctly rounded (one rounding where
        the lecture's self * other**-1 makes two, and finite where other**-2 would overflow)."""
        return DIV.binary(self, other)

    # Ordered by value, so max(values) and `if v > 0` work. No __eq__: a Value is hashed by
    # identity, as a graph node must be.
    def __lt__(self, other): return self.data < _number(other)
    def __le__(self, other): return self.data <= _number(other)
    def __gt__(self, other): return self.data > _number(other)
    def __ge__(self, other): return self.data >= _number(other)

    def __float__(self):
        if _thread.building:    # float() would silently cut a derivative graph being built
            raise TypeError("float() of a Value while building a derivative graph")
        return float(self.data)

    @property
    def _backward(self):
        """This node's step of the chain rule, to call by hand as in the lecture."""
        rule = self._rule
        if rule is None:
            return lambda: None
        return (lambda: _chain_rule(self, rule)) if isinstance(rule, Op) else rule

    @_backward.setter
    def _backward(self, fn):        # lecture style: out._backward = a closure you wrote
        self._op = self._op         # (the op's name stays when its row goes)
        self._rule = fn

    def backward(self):
        topo = topological_order(self)
        for v in topo:
            if v._a is not None:    # the intermediate nodes start from zero on every call
                v.grad = 0
        self.grad += 1
        backpropagate(topo)

    def topo(self):
        """Every node this Value depends on, children before parents."""
        return topological_order(self)

    def summary(self):
        """One line with the label and the op, for notebooks and debugging."""
        extra = "".join(f", {k}={v!r}" for k, v in (("label", self.label), ("op", self._op)) if v)
        return f"Value(data={short(self.data)}, grad={short(self.grad)}{extra})"

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"


nodes.Value = Value      # what nodes.make makes


def _number(x):
    return x.data if isinstance(x, Value) else as_number(x, "comparison")


def _operand(x, where):
    return x if isinstance(x, Value) else as_number(x, where)


def _inverse(self, other):
    """other**-1 for the lecture's division: a node for a Value, a number for a number."""
    if isinstance(other, Value):
        return other ** -1
    other = as_number(other, "/")
    if other == 0:
        raise ValueError(f"/: no finite real result for {short(self.data)}, {other!r} "
                         f"(division by zero)")
    return other ** -1


# ---------------------------------------------------------------------------------------------
# 2. The op table: one row per op, forward beside local derivatives, written with arithmetic,
#    comparisons and primitives' exp/log/tanh/where only (no `if` on the inputs). The same row
#    then runs on ints and floats (backward), on Values (grad(create_graph=True)), on numpy
#    arrays and on C expressions (the compiler), giving the same bits everywhere.
# ---------------------------------------------------------------------------------------------
def _pow_grads(out, a, b):
    # d/da = b·a^(b-1), d/db = out·ln(a); PyTorch's constant 0 where the power is flat in that
    # input (b = 0 for d/da, a = 0 for d/db). A 1 stands in for the base there, so that
    # neither side fails on the branch `where` does not take.
    da = b * where(b > 0, a, where(b < 0, a, 1)) ** (b - 1)
    db = out * log(where(a > 0, a, where(a < 0, a, 1)))
    return where(b > 0, da, where(b < 0, da, 0)), where(a > 0, db, where(a < 0, db, 0))


def _sigmoid(a):                 # exp of -|a| only, so it never overflows
    e = exp(where(a < 0, a, -a))
    return where(a < 0, e / (1 + e), 1 / (1 + e))


def _linear(b, *wx):             # b + w0*x0 + w1*x1 + ..., added in the lecture's order
    s = b
    for i in range(0, len(wx), 2):
        s = s + wx[i] * wx[i + 1]
    return s


def _linear_grads(out, b, *wx):  # d/db = 1, d/dw_i = x_i, d/dx_i = w_i
    g = [1] * (len(wx) + 1)
    g[1::2], g[2::2] = wx[1::2], wx[0::2]
    return g


def _max(*xs):                   # Python's max: the first of equals
    m = xs[0]
    for x in xs[1:]:
        m = where(x > m, x, m)
    return m


def _take(i, *table):            # table[i] for a whole number i: the last entry at or before i
    out = table[0]
    for j in range(1, len(table)):
        out = where(i < j, out, table[j])
    return out


def _take_grads(out, i, *table):  # 1 for the entry taken, 0 for the others; 0 for the index
    return (0,) + tuple(where(i < j, 0, where(i < j + 1, 1, 0)) for j in range(len(table)))


OPS = {op.name: op for op in [
    #  name     forward                    local derivatives          formula, derivatives
    Op("+",     lambda a, b: a + b,        lambda out, a, b: (1, 1),  "{a} + {b}", ("1", "1")),
    Op("*",     lambda a, b: a * b,        lambda out, a, b: (b, a),  "{a} · {b}", ("{b}", "{a}")),
    Op("**",    lambda a, b: a ** b,       _pow_grads,                "{a}^{b}",
       ("{b}·{a}^({b}-1)", "{out}·ln({a})"), domain=pow_domain, grad_domain=pow_grad_domain),
    Op("exp",   exp,                       lambda out, a: (out,),     "exp({a})",
       ("exp({a}) = {out}",)),
    Op("tanh",  tanh,                      lambda out, a: (1 - out * out,), "tanh({a})",
       ("1 - {out}²",)),
    Op("ReLU",  lambda a: where(a < 0, 0, a), lambda out, a: (out > 0,), "max(0, {a})",
       ("1 if {a} > 0 else 0",)),
    Op("log",   log,                       lambda out, a: (1 / a,),   "ln({a})", ("1/{a}",),
       domain=lambda a: "log of a number <= 0" if a <= 0 else None),
    Op("abs",   lambda a: where(a > 0, a, 0 - a),
       lambda out, a: (where(a > 0, 1, where(a < 0, -1, 0)),), "|{a}|", ("sign({a})",)),
    Op("sigmoid", _sigmoid,                lambda out, a: (out * (1 - out),), "σ({a})",
       ("{out}·(1 - {out})",)),
    # a.div(b): PyTorch's division, one node (the lecture's a / b is a * b**-1)
    Op("/",     lambda a, b: a / b,        lambda out, a, b: (1 / b, -out / b), "{a} / {b}",
       ("1/{b}", "-{out}/{b}"), domain=lambda a, b: "division by zero" if b == 0 else None),
    # A whole neuron's w·x + b as one node (nn's fused=True); inputs b, w0, x0, w1, x1, ...
    Op("w·x+b", _linear,                   _linear_grads),
    # The largest input, softmax's shift. Its derivative is 0: the shift cancels out.
    Op("max",   _max,                      lambda out, *xs: (0,) * len(xs),
       "max({a}, {b}, …)", ("0", "0")),
    # table[i] with the index a node (an input of a compiled program): a lookup the tracer
    # records. Inputs i, t0, t1, ...; backward adds out.grad to the entry taken (a scatter-add).
    Op("take",  _take,                     _take_grads, "[{b}, …][{a}]",
       ("0", "1 if {a} picks it, else 0")),
]}
ADD, MUL, POW, DIV = OPS["+"], OPS["*"], OPS["**"], OPS["/"]
EXP, LOG, TANH, RELU, ABS, SIGMOID = (OPS[k] for k in ("exp", "log", "tanh", "ReLU", "abs",
                                                        "sigmoid"))
LINEAR, MAX, TAKE = OPS["w·x+b"], OPS["max"], OPS["take"]


# linear(w, x, b=0): b + sum(w_i * x_i) as one node of this row (nn's fused=True), the same
# number, in the same order of additions, as sum((wi*xi for wi, xi in zip(w, x)), b)
linear = fastpaths.linear_of(LINEAR)


# ---------------------------------------------------------------------------------------------
# 3. backward(): the topological order, then the chain rule at every node, parents first
# ---------------------------------------------------------------------------------------------
def topological_order(*roots):
    """Every node the roots depend on, children before parents: the lecture's recursive
    build_topo (visit the children in order, then append the node), with a stack instead of
    recursion. Several roots share one visited set."""
    topo, visited = [], set()
    append, add = topo.append, visited.add
    for root in roots:
        stack = [root]
        while stack:
            v = stack.pop()
            if v is _DONE:                  # the children of the node below are done
                append(stack.pop())
                continue
            # v's inputs (v._prev, spelled out: this is the hot loop) are pushed last-first,
            # so that the first is visited first, as in the recursion; one already visited
            # is not pushed at all (the recursion would return from it at once), and the
            # first, if new, is visited at once, without the stack.
            while v not in visited:
                add(v)
                a, b = v._a, v._b
                if a is None:
                    append(v)
                elif b is _MANY:
                    stack += (v, _DONE)
                    stack.extend([c for c in reversed(a) if c not in visited])
                elif b is not None and b not in visited:
                    stack += (v, _DONE, b)      # (if a visits b first, b is skipped later)
                    v = a
                    continue
                elif a in visited:
                    append(v)
                else:
                    stack += (v, _DONE)
                    v = a
                    continue
                break
    return topo


_DONE = object()


def backpropagate(topo, step=None):
    """The one backprop loop of the package: every node made by an op, parents before
    children, is handed to step(node, rule). grad() and the stepper's replay pass their own
    step (derivatives as Values, in a dict, recorded). Without a step, the chain rule at every
    node (backward()): each row's own `chain`, by this loop as micrograd.fastpaths writes it
    out, with the chain of + and * in place of a call (most nodes are theirs)."""
    if step is None:                        # the loop below with step=_chain_rule, written
        return fastpaths.backward(topo)     # out (+ and * in place) by micrograd.fastpaths
    for v in reversed(topo):
        if v._rule is not None:
            step(v, v._rule)


def _chain_rule(v, rule=None):
    """backward()'s step at one node: input.grad += local derivative * out.grad."""
    rule = rule or v._rule
    if not isinstance(rule, Op):
        return rule()                       # a closure assigned to _backward, lecture style
    return rule.chain(v)


# Speed, out of the story: each row's paths generated from the row itself (micrograd.fastpaths),
# and the operators above that only call their row made that path itself.
fastpaths.install(Value, OPS)


# The rest of the engine's public names live in its siblings; importing them here keeps
# `from micrograd.engine import grad, no_grad` working (they import this module first).
def __getattr__(name):
    if name in ("no_grad", "enable_grad", "is_grad_enabled"):
        from micrograd import grad_mode
        return getattr(grad_mode, name)
    if name == "grad":
        from micrograd.higher_order import grad
        return grad
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
