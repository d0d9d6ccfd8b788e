"""The engine: a scalar `Value` that remembers how it was made, and `backward()`.

This follows the lecture line by line. A `Value` wraps one float. Every operation makes a new
`Value` whose `_prev` are its inputs and whose rule knows the operation's *local derivative*
d(out)/d(input). `backward()` visits the graph in reverse topological order and applies the chain
rule at every node: input.grad += local derivative * out.grad.

The graph is the lecture's: `a * b` is a '*' node, `a + b` a '+' node, `a ** 2` a '**2' node,
`a.relu()` a 'ReLU' node, with the original micrograd's names. Three departures from the
lecture's code, all invisible to code written for it:

* Each operation is one row of the table `OPS` below, forward and local derivative side by side,
  instead of a closure per node. A closure that mentions `out` is a reference cycle, which leaves
  every graph to Python's cyclic garbage collector; a shared rule does not, so a dropped graph is
  freed at once. For the same reason a node keeps its one or two inputs in two slots rather
  than in a tuple of its own (`_prev` still reads as the tuple): one object per node instead of
  two, a third less memory, and half the work for the collector that scans live graphs.
* `backward()` is iterative (no recursion limit) and, as in PyTorch, resets the grads of the
  intermediate nodes first, so calling it twice adds exactly the same gradient to the leaves twice.
* Every local derivative is written with arithmetic that works on floats *and* on Values. The
  fast path (`backward()`) feeds it floats; `grad(..., create_graph=True)` feeds it the nodes
  themselves, so the backward pass becomes a graph of the same lego blocks, which can be drawn
  and differentiated again (second derivatives, Newton's method, Hessians).

Errors: an operation whose real result does not exist (log of 0, 0 ** -1, (-8) ** 0.5, exp of
1000) raises a `ValueError`/`OverflowError` that names the operation and its inputs. NaN and inf
that you put in yourself flow through the arithmetic as IEEE floats, as in PyTorch; the training
loop is where a non-finite loss is caught. `no_grad()` is per thread, as PyTorch's. `.data` is a
plain attribute (the lecture's update `p.data += -lr * p.grad` stays fast); the next operation
that reads it refuses anything but a real number.
"""
import functools
import math
import threading
from numbers import Real

__all__ = ["Value", "Op", "OPS", "linear", "grad", "topological_order", "no_grad",
           "enable_grad", "is_grad_enabled"]


def _as_float(x, where):
    """Accept ints, floats, bools and numpy scalars / 0-d arrays; refuse anything else by name."""
    if x.__class__ is float:
        return x
    if isinstance(x, Real) or _is_numpy_real(x):
        try:
            return float(x)
        except OverflowError:
            raise OverflowError(f"{where}: {_short(x)} is too large for a float") from None
    raise TypeError(f"{where}: expected a real number, got {type(x).__name__} {_short(x)}")


def _is_numpy_real(x):
    """np.bool_, and 0-d numpy arrays of bools, ints or floats (duck-typed: no numpy import)."""
    dtype = getattr(x, "dtype", None)
    return getattr(x, "shape", None) == () and getattr(dtype, "kind", "") in ("b", "i", "u", "f")


def _short(x):
    """repr(x), but not of an integer too long for Python's own repr (4,300 digits)."""
    if isinstance(x, int) and x.bit_length() > 13_000:
        return f"an integer of about {int(x.bit_length() * 0.30103)} digits"
    return repr(x)


class Op:
    """A differentiable operation: how to compute it, and its local derivatives.

    forward(*xs) -> float              the value, from the inputs' floats
    local_grads(out, *xs) -> tuple     d(out)/d(x_i) for every input
    formula, derivatives               optional text of both, for people: "{a} · {b}", ("{b}", "{a}")

    An `Op` is called on Values (or plain numbers) and returns a new Value. This is all it
    takes to add an operation: "as long as you can write the forward and the local
    derivative, it is a lego block".

    local_grads is called with floats by backward(). To make the op twice-differentiable
    (micrograd.grad(..., create_graph=True)), write local_grads with arithmetic and Value
    methods only (+ - * / **, .exp(), .log(), .tanh(), comparisons), never math.* or float():
    then the same function also works when grad() calls it with the Values themselves, and its
    result is a graph. An op whose local_grads works on floats only still has first
    derivatives; grad(create_graph=True) through it raises a TypeError naming it.
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
        except (ValueError, ZeroDivisionError, OverflowError, TypeError) as e:
            raise _domain_error(self.name, inputs, e) from None
        return _node(data, inputs, self)

    def unary(self, a):
        """__call__ for one Value, spelled out: the hot path of relu, tanh, exp, x ** 2..."""
        try:
            data = self.forward(a.data)
        except (ValueError, ZeroDivisionError, OverflowError, TypeError) as e:
            raise _domain_error(self.name, (a,), e) from None
        if data.__class__ is not float or _blocks_open:
            return _make(data, a, None, self)   # with its checks, or a leaf under no_grad
        v = _new(Value)                         # _make, spelled out for the common case
        v.data, v.grad, v._a, v._b, v._op, v.label, v._rule = data, 0.0, a, None, self.name, "", self
        return v

    def binary(self, a, b):
        """__call__ for two inputs, spelled out: the hot path of every + - * /."""
        if a.__class__ is not Value and not isinstance(a, Value):    # fast path first
            a = _leaf(a, self.name)
        if b.__class__ is not Value and not isinstance(b, Value):
            b = _leaf(b, self.name)
        try:
            data = self.forward(a.data, b.data)
        except (ValueError, ZeroDivisionError, OverflowError, TypeError) as e:
            raise _domain_error(self.name, (a, b), e) from None
        if data.__class__ is not float or _blocks_open:
            return _make(data, a, b, self)      # with its checks, or a leaf under no_grad
        v = _new(Value)                         # _make, spelled out for the common case
        v.data, v.grad, v._a, v._b, v._op, v.label, v._rule = data, 0.0, a, b, self.name, "", self
        return v

    def __repr__(self):
        return f"Op({self.name!r})"


def _show(inputs):
    return ", ".join(_short(x.data) for x in inputs)


def _domain_error(name, inputs, e):
    if isinstance(e, TypeError):             # a str or complex someone put into .data
        return TypeError(f"{name}: expected real numbers, got {_show(inputs)} ({e})")
    kind = OverflowError if isinstance(e, OverflowError) else ValueError
    return kind(f"{name}: no finite real result for {_show(inputs)} ({e})")


# ---------------------------------------------------------------------------------------------
# The table: every operation, its forward and its local derivative(s), side by side.
# `out` is the forward's result; a, b are the inputs. The derivatives are written so that they
# work on floats (backward) and on Values (grad with create_graph=True) alike; where a math
# function is needed, `_log` picks math.log or Value.log.
# ---------------------------------------------------------------------------------------------
def _log(x):
    return x.log() if isinstance(x, Value) else math.log(x)


def _num(x):
    return x.data if isinstance(x, Value) else x


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
    if _num(b) == 0:
        return 0.0
    return b * (a ** (b - 1) if isinstance(a, Value) else _pow(a, b - 1))


def _dpow_exponent(out, a):           # d(a**b)/db = a**b * log(a); at a == 0 the power is flat
    if _num(a) > 0:
        return out * _log(a)
    if _num(a) == 0:
        return 0.0
    raise ValueError(f"d/db of a**b needs a > 0, got a={_num(a)!r}")


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
    "/":    (lambda a, b: a / b,               lambda out, a, b: (1.0 / b, -out / b)),
    "**":   (_pow,                             lambda out, a, b: (_dpow(a, b),
                                                                  _dpow_exponent(out, a))),
    "neg":  (lambda a: -a,                     lambda out, a: (-1.0,)),
    "exp":  (math.exp,                         lambda out, a: (out,)),
    "log":  (math.log,                         lambda out, a: (1.0 / a,)),
    "tanh": (math.tanh,                        lambda out, a: (1.0 - out * out,)),
    "ReLU": (lambda a: 0.0 if a <= 0 else a,   lambda out, a: (1.0 if a > 0 else 0.0,)),  # NaN stays
    "abs":  (abs,                              lambda out, a: ((a > 0) - (a < 0),)),   # sign(a)
    "sigmoid": (_sigmoid,                      lambda out, a: (out * (1.0 - out),)),
    # A whole neuron's weighted sum as one node (nn.Neuron's fused=True): inputs b, w0, x0, w1, ...
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
    "/":    ("{a} / {b}",      ("1/{b}", "-{out}/{b}")),
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
_POW_CONST_MAX = 1024      # distinct exponents kept; a graph keeps its own ops alive regardless


def _pow_const(k):
    """x ** k for a constant k: one Op per exponent (named '**2' as in the lecture), shared."""
    op = _POW_CONST.get((type(k), k))
    if op is None:
        kf = float(k)
        if len(_POW_CONST) >= _POW_CONST_MAX:           # forget the oldest exponent
            del _POW_CONST[next(iter(_POW_CONST))]
        op = _POW_CONST[(type(k), k)] = Op(
            f"**{k}", lambda a: _pow(a, kf), lambda out, a: (_dpow(a, kf),),
            f"{{a}}^{k}", ("2·{a}" if kf == 2 else f"{k}·{{a}}^{kf - 1:g}",), const=kf)
    return op


# ---------------------------------------------------------------------------------------------
# Grad mode: per thread, as in PyTorch. `off` counts the no_grad blocks this thread is inside,
# so blocks may nest or overlap in any order (A enters, B enters, A leaves, B leaves).
# ---------------------------------------------------------------------------------------------
class _GradState(threading.local):
    off = 0                   # no_grad blocks entered and not yet left, in this thread
    building = False          # grad(create_graph=True) is calling a local_grads with Values

    @property
    def enabled(self):
        return self.off == 0


_GradMode = _GradState()
_blocks_open = 0              # the sum of `off` over all threads: while 0, nobody looks further
_lock = threading.Lock()


def _set_off(n):
    """Set this thread's count of open no_grad blocks, keeping the all-threads sum in step."""
    global _blocks_open
    with _lock:
        _blocks_open += n - _GradMode.off
        _GradMode.off = n


def is_grad_enabled():
    """True unless this thread is inside a no_grad block."""
    return not (_blocks_open and _GradMode.off)


class _GradBlock:
    """Shared by no_grad and enable_grad: a `with` block, or a decorator (with or without ())."""

    def __init__(self, func=None):
        self._func = func
        if func is not None:
            functools.update_wrapper(self, func)

    def __call__(self, *args, **kwargs):
        if self._func is None:                   # @no_grad(): decorate the function given
            func, = args
            return type(self)(func)
        with type(self)():                       # a fresh block per call (threads, recursion)
            return self._func(*args, **kwargs)

    def __get__(self, obj, objtype=None):        # decorated methods receive self
        return self if obj is None else functools.partial(self.__call__, obj)


class no_grad(_GradBlock):
    """`with no_grad():` operations give plain leaf Values, no graph, as torch.no_grad().
    Per thread; blocks may nest or overlap; also `@no_grad()` or `@no_grad` on a function."""

    def __enter__(self):
        _set_off(_GradMode.off + 1)

    def __exit__(self, *exc):
        _set_off(max(_GradMode.off - 1, 0))


class enable_grad(_GradBlock):
    """`with enable_grad():` builds graphs even inside a no_grad block, as torch.enable_grad()."""

    def __enter__(self):
        self._saved = _GradMode.off
        _set_off(0)

    def __exit__(self, *exc):
        _set_off(self._saved)


# ---------------------------------------------------------------------------------------------
# Value
# ---------------------------------------------------------------------------------------------
_MANY = object()     # in _b: _a holds a tuple of three or more inputs


class Value:
    """Stores a single scalar value and its gradient."""
    __slots__ = ("data", "grad", "_a", "_b", "_op", "label", "_rule")

    def __init__(self, data, _children=(), _op="", label=""):
        self.data = _as_float(data, "Value(data)")
        self.grad = 0.0
        self._prev = _children
        self._op = _op
        self.label = label
        self._rule = None      # the Op that made this node (or a callable you set as _backward)

    # ---- the node's inputs, read as the lecture reads them: for child in v._prev ----
    @property
    def _prev(self):
        a, b = self._a, self._b
        if b is None:
            return () if a is None else (a,)
        return a if b is _MANY else (a, b)

    @_prev.setter
    def _prev(self, children):
        children = tuple(children)
        n = len(children)
        self._a = children[0] if n in (1, 2) else (children if n else None)
        self._b = children[1] if n == 2 else (_MANY if n > 2 else None)

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
    def __neg__(self):            return NEG.unary(self)
    def __abs__(self):            return ABS.unary(self)
    def __rpow__(self, other):    return POW(other, self)

    def __pow__(self, other):
        if isinstance(other, Value):
            return POW(self, other)
        _as_float(other, "**")    # refuse a non-number exponent by name
        return _pow_const(other).unary(self)

    def exp(self):     return EXP.unary(self)
    def log(self):     return LOG.unary(self)
    def tanh(self):    return TANH.unary(self)
    def relu(self):    return RELU.unary(self)
    def sigmoid(self): return SIGMOID.unary(self)

    # Order by value, so max(values) and `if v > 0` work. No __eq__: Values stay hashable by
    # identity, as graph nodes must.
    def __lt__(self, other): return self.data < _data(other)
    def __le__(self, other): return self.data <= _data(other)
    def __gt__(self, other): return self.data > _data(other)
    def __ge__(self, other): return self.data >= _data(other)

    def __float__(self):
        if _GradMode.building:   # float() would silently cut the derivative graph here
            raise TypeError("float() of a Value while building a derivative graph")
        return self.data

    def backward(self):
        """Fill in d(self)/d(node) for every node of the graph, by the chain rule, in reverse
        topological order. Leaves accumulate (call zero_grad between steps); intermediate
        nodes start from zero on every call, so a second call adds the same gradient again."""
        topo = self.topo()
        for v in topo:
            if v._a is not None:
                v.grad = 0.0
        self.grad += 1.0
        for v in reversed(topo):
            rule = v._rule
            if rule is None:
                continue
            if rule.__class__ is not Op:
                if isinstance(rule, Op):
                    _chain_rule(v, rule)
                else:
                    rule()          # a closure assigned to _backward, lecture style
                continue
            # _chain_rule(v, rule), spelled out for one and two inputs: the hot loop
            a, b, g = v._a, v._b, v.grad
            try:
                if b is None:
                    d, = rule.local_grads(v.data, a.data)
                    a.grad += d * g
                elif b is not _MANY:
                    da, db = rule.local_grads(v.data, a.data, b.data)
                    a.grad += da * g
                    b.grad += db * g
                else:
                    _chain_rule(v, rule)
            except (ValueError, ZeroDivisionError, OverflowError, TypeError):
                _chain_rule(v, rule)        # raises the error, named
                raise

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
        stack = [root]
        while stack:
            v = stack.pop()
            if v.__class__ is tuple:        # (node,): its children are done, the node is next
                topo.append(v[0])
                continue
            if v in visited:
                continue
            visited.add(v)
            a, b = v._a, v._b               # v._prev, spelled out: this is the hot loop
            if a is None:
                topo.append(v)              # a leaf
                continue
            stack.append((v,))
            if b is None:                   # push the children last-first, so the first is
                if a not in visited:        # visited first, as in the lecture's recursion
                    stack.append(a)
            elif b is _MANY:
                stack.extend([c for c in reversed(a) if c not in visited])
            else:
                if b not in visited:
                    stack.append(b)
                if a not in visited:
                    stack.append(a)
    return topo


def _data(x):
    return x.data if isinstance(x, Value) else _as_float(x, "comparison")


def _leaf(x, where):
    """A plain number mixed into an operation becomes a constant leaf, as in the lecture."""
    v = _new(Value)
    v.data, v.grad, v._a, v._b, v._op, v.label, v._rule = (
        _as_float(x, where), 0.0, None, None, "", "", None)
    return v


_new = object.__new__


def _nothing():
    pass


def _checked(data, rule, inputs):
    """A forward's result that is not a float: an int from a custom op is made a float; a
    complex number (from a complex someone put in .data, or a custom op's) is refused."""
    if not all(isinstance(x.data, Real) for x in inputs):
        raise TypeError(f"{rule.name}: expected real numbers, got {_show(inputs)} "
                        f"(a Value's .data must be a real number)")
    return _as_float(data, f"{rule.name} of {_show(inputs)} (the result of its forward)")


def _make(data, a, b, rule):
    """A new Value made by `rule`, its inputs in the slots a, b (see Value._prev), skipping
    __init__'s checks; a plain leaf under no_grad."""
    if data.__class__ is not float:
        data = _checked(data, rule, a if b is _MANY else (a,) if b is None else (a, b))
    v = _new(Value)
    v.data, v.grad, v.label = data, 0.0, ""
    if _blocks_open and _GradMode.off:
        v._a = v._b = v._rule = None
        v._op = ""
    else:
        v._a, v._b, v._op, v._rule = a, b, rule.name, rule
    return v


def _node(data, children, rule):
    """_make, for a tuple of inputs."""
    n = len(children)
    if n == 1:
        return _make(data, children[0], None, rule)
    if n == 2:
        return _make(data, children[0], children[1], rule)
    return _make(data, children, _MANY, rule)


def _chain_rule(v, rule=None):
    """One node's backward step: each input's grad += local derivative * out.grad.
    (One and two inputs are spelled out: they are nearly every node, and this is the hot loop.)"""
    rule, a, b, g = rule or v._rule, v._a, v._b, v.grad
    try:
        if b is None:
            local = rule.local_grads(v.data, a.data)
            n = 1
        elif b is not _MANY:
            local = rule.local_grads(v.data, a.data, b.data)
            n = 2
        else:
            local = rule.local_grads(v.data, *[c.data for c in a])
            n = len(a)
    except (ValueError, ZeroDivisionError, OverflowError) as e:
        raise ValueError(f"backward through {v._op}: the derivative at {_show(v._prev)} "
                         f"is not finite ({e})") from None
    if len(local) != n:
        raise TypeError(f"{v._op}: local_grads gave {len(local)} derivatives for {n} inputs")
    if n == 2:
        a.grad += local[0] * g
        b.grad += local[1] * g
    elif n == 1:
        a.grad += local[0] * g
    else:
        for child, d in zip(a, local):
            child.grad += d * g


# ---------------------------------------------------------------------------------------------
# grad: derivatives as Values, without touching .grad; with create_graph=True, the chain rule
# applied with Values, so that the derivatives are graphs too (differentiable again).
# ---------------------------------------------------------------------------------------------
def grad(output, inputs, grad_outputs=None, create_graph=False):
    """d(output)/d(x) for every Value x in `inputs`, as a list of Values in the same order
    (as torch.autograd.grad). No `.grad` is read or written.

    grad_outputs   the seed, d(final)/d(output): a number or a Value (default 1)
    create_graph   False: the derivatives are plain leaves (floats, the fast path).
                   True: they are nodes of a graph made of engine operations (the chain rule
                   applied with Values), so grad() or .backward() can differentiate them again,
                   to any order, and draw_dot can draw them.

    An input that `output` does not depend on gets a zero (unlike PyTorch, which raises unless
    allow_unused=True): d(output)/dx is 0 there, and a Hessian needs no special case.
    Non-smooth points are PyTorch's: relu' and abs' are 0 at 0, relu'' is 0, x ** 0 is flat.
    Nodes made by a hand-written `_backward` closure (lecture style) have no rule to reuse and
    are refused by name.
    """
    if not isinstance(output, Value):
        raise TypeError(f"grad: output must be a Value, got {type(output).__name__}")
    inputs = [inputs] if isinstance(inputs, Value) else list(inputs)
    for i, x in enumerate(inputs):
        if not isinstance(x, Value):
            raise TypeError(f"grad: inputs[{i}] is {type(x).__name__} {_short(x)}, not a Value")
    seed = 1.0 if grad_outputs is None else grad_outputs
    if not isinstance(seed, Value):
        seed = _as_float(seed, "grad(grad_outputs)")
    elif not create_graph:
        seed = seed.data
    if create_graph:
        with enable_grad():
            grads = _backpropagate(output, seed, _graph_step)
    else:
        grads = _backpropagate(output, seed, _float_step)
    found = [grads.get(x, 0.0) for x in inputs]
    return [g if isinstance(g, Value) else Value(g) for g in found]


def _backpropagate(output, seed, step):
    """The chain rule over the graph into a dict node -> d(output)/d(node)."""
    grads = {output: seed}
    for v in reversed(topological_order(output)):
        g = grads.get(v)
        if g is None or v._a is None:
            continue
        rule = v._rule
        if not isinstance(rule, Op):
            raise TypeError(f"grad: the node {v!r} (op {v._op!r}) was made by a hand-written "
                            f"_backward, which writes .grad; grad() needs an Op (see Op)")
        step(v, rule, g, grads)
    return grads


def _local(v, rule, args):
    try:
        local = rule.local_grads(*args)
    except (ValueError, ZeroDivisionError, OverflowError) as e:
        raise ValueError(f"grad through {v._op}: the derivative at {_show(v._prev)} "
                         f"is not finite ({e})") from None
    if len(local) != len(args) - 1:
        raise TypeError(f"{v._op}: local_grads gave {len(local)} derivatives for "
                        f"{len(args) - 1} inputs")
    return local


def _float_step(v, rule, g, grads):
    prev = v._prev
    for child, d in zip(prev, _local(v, rule, [v.data] + [c.data for c in prev])):
        grads[child] = grads.get(child, 0.0) + d * g


def _graph_step(v, rule, g, grads):
    prev = v._prev
    _GradMode.building = True
    try:
        local = _local(v, rule, (v,) + prev)
    except TypeError as e:
        if "local_grads gave" in str(e):
            raise
        raise TypeError(
            f"the derivative of {rule.name!r} cannot be built from Values, so it has no second "
            f"derivative ({e}); write its local_grads with Value arithmetic and methods "
            f"(+ - * / **, .exp(), .log(), .tanh()) instead of math.* or float()") from None
    finally:
        _GradMode.building = False
    for child, d in zip(prev, local):
        if not isinstance(d, Value):
            if d == 0:               # a constant zero (relu off, x ** 0): nothing flows back
                continue
            term = g if d == 1 else d * g
        else:
            term = d if (g.__class__ is float and g == 1) else d * g
        old = grads.get(child)
        grads[child] = term if old is None else old + term
