"""What a row of the engine's op table is: class Op, and how a row is run on Values.

The engine (micrograd/engine.py) writes the table; this module is the machinery around a row:
calling it on Values to make a node (`unary`, `binary`, or the row itself for any number of
inputs), backward's step at a node (`chain`), and the errors that name the op. The table's rows
run these steps as code generated from the rows themselves (micrograd.fastpaths), the same
operations in the same order, so the same bits; the generic steps below are what any other
row runs, and what the generated ones are checked against.
"""
import functools
from types import FunctionType

from micrograd import fastpaths, nodes
from micrograd.checks import FORWARD_ERRORS, derivative_error, forward_error, pow_domain
from micrograd.nodes import _MANY, leaf, make, node

__all__ = ["Op", "pow_op", "local_grads", "chain_failed"]

# what backward catches around a row's local derivatives, to name the op
CHAIN_ERRORS = fastpaths.CHAIN_ERRORS


def _value(x, name):
    """x itself if it is a Value; a number mixed into an operation, a constant leaf."""
    return x if isinstance(x, nodes.Node) else leaf(x, name)


class Op:
    """A differentiable operation: one row of the table.

    forward(*xs) -> out                the value, from the inputs' numbers
    local_grads(out, *xs) -> tuple     d(out)/d(x_i) for every input
    formula, derivatives               their text for people: "{a} · {b}", ("{b}", "{a}")
    domain(*xs) -> str or None         why the forward has no real result here (eager raises)
    grad_domain(*xs) -> str or None    the same for the local derivatives
    const                              a constant the op carries (k in x ** k)

    Call it on Values or numbers to get a new Value. Written with arithmetic, comparisons and
    micrograd.primitives (exp, log, tanh, where), local_grads also works on Values, so
    grad(..., create_graph=True) can differentiate through it again; one that calls math.*
    has first derivatives only.

    `unary(a)` and `binary(a, b)` are the call for one and two inputs (`rbinary(b, a)` is
    binary(a, b), for other + self); `chain(node)` is backward's step at a node made by this
    op. `speed_up()` replaces them by code generated from the row (micrograd.fastpaths; the
    engine does it for its table's rows, yours may too); they are made again whenever the
    row's forward or local_grads is replaced.
    """
    __slots__ = ("name", "forward", "local_grads", "formula", "derivatives", "const",
                 "domain", "grad_domain", "unary", "binary", "rbinary", "chain", "fast",
                 "methods")

    def __init__(self, name, forward, local_grads, formula="", derivatives=(), const=None,
                 domain=None, grad_domain=None):
        self.fast, self.methods = False, []
        self.name, self.forward, self.local_grads = name, forward, local_grads
        self.formula, self.derivatives = formula, tuple(derivatives)
        self.const, self.domain, self.grad_domain = const, domain, grad_domain
        self.unary, self.binary, self.chain = self._unary, self._binary, self._chain
        self.rbinary = self._rbinary

    def __call__(self, *inputs):
        if len(inputs) == 2:                 # the row's own path (generated, after speed_up)
            return self.binary(*inputs)
        if len(inputs) == 1:
            return self.unary(_value(inputs[0], self.name))
        inputs = tuple(_value(x, self.name) for x in inputs)
        try:
            data = self.forward(*[x.data for x in inputs])
        except FORWARD_ERRORS as e:
            raise forward_error(self, inputs, e) from None
        return node(data, inputs, self)

    def _unary(self, a):
        a = _value(a, self.name)
        try:
            data = self.forward(a.data)
        except FORWARD_ERRORS as e:
            raise forward_error(self, (a,), e) from None
        return make(data, a, None, self)

    def _binary(self, a, b):
        a, b = _value(a, self.name), _value(b, self.name)
        try:
            data = self.forward(a.data, b.data)
        except FORWARD_ERRORS as e:
            raise forward_error(self, (a, b), e) from None
        return make(data, a, b, self)

    def _rbinary(self, b, a):     # binary(a, b), called as b.method(a): other + self
        return self.binary(a, b)

    def _chain(self, v):
        """backward's step at node v: input.grad += local derivative * out.grad."""
        a, b, g = v._a, v._b, v.grad
        try:
            if b is None:
                d, = self.local_grads(v.data, a.data)
                a.grad += d * g
            elif b is not _MANY:
                da, db = self.local_grads(v.data, a.data, b.data)
                a.grad += da * g
                b.grad += db * g
            else:
                for child, d in zip(a, local_grads(v, self, [c.data for c in a])):
                    child.grad += d * g
        except CHAIN_ERRORS as e:
            chain_failed(v, self, e)

    def speed_up(self):
        """unary, binary, rbinary and chain generated from this row (micrograd.fastpaths)."""
        self.fast = True
        fastpaths.retire(self.unary, self.binary, self.rbinary)
        made = fastpaths.generate(self, nodes.Value, leaf, chain_failed)
        self.unary = made.get("unary", self._unary)
        self.binary = made.get("binary", self._binary)
        self.rbinary = made.get("rbinary", self._rbinary)
        self.chain = made.get("chain", self._chain)
        for cls, name, path in self.methods:
            setattr(cls, name, _method(getattr(self, path)))
        fastpaths.changed(self)

    def bind(self, cls, name, path):
        """cls.name becomes this row's `path` ("unary", "binary" or "rbinary") itself, and
        follows it when the row is made again: an operator method without a call of its own."""
        self.methods.append((cls, name, path))
        setattr(cls, name, _method(getattr(self, path)))

    def __setattr__(self, name, value):
        """A row whose forward or local_grads is replaced at run time gets its paths again
        (getattr: copy.copy fills the slots in any order)."""
        object.__setattr__(self, name, value)
        if name in ("forward", "local_grads") and getattr(self, "fast", False):
            self.speed_up()

    def __repr__(self):
        return f"Op({self.name!r})"


def pow_op(k):
    """The row of x ** k for a constant k, named '**2', '**-1' as in the original: the
    engine's table writes a ** b for two Values; a constant exponent gets a row of its own."""
    return _pow_op_cached(k.__class__, k)


def _pow_op(cls, k):
    if k == 0:
        local_grads = lambda out, a: (0,)                      # x ** 0 is flat
    else:
        local_grads = lambda out, a: (k * a ** (k - 1),)       # the original's expression
    text = "2·{a}" if k == 2 else f"{k}·{{a}}^{k - 1:g}"
    row = Op(f"**{k}", lambda a: a ** k, local_grads, f"{{a}}^{k}", (text,), const=k,
             domain=lambda a: pow_domain(a, k),
             grad_domain=lambda a: "0 to a negative power" if a == 0 and 0 < k < 1 else None)
    if k in (2, -1) and cls is int:     # x ** 2, and the lecture's division: a * b**-1
        row.speed_up()
    return row


# One row per exponent, shared: lru_cache is thread-safe and bounded (a graph keeps its rows).
_pow_op_cached = functools.lru_cache(maxsize=1024)(_pow_op)


def _method(path):
    """path as a function to put in a class (a bound method put there would not get self)."""
    if isinstance(path, FunctionType):
        return path

    def method(*args):
        return path(*args)
    return method


def local_grads(v, rule, xs, out=None):
    """rule's local derivatives at node v, given its inputs xs (numbers, or Values for
    create_graph), with a failure named."""
    try:
        local = rule.local_grads(v.data if out is None else out, *xs)
    except (ValueError, ZeroDivisionError, OverflowError) as e:
        raise derivative_error(rule, v._prev, e) from None
    if len(local) != len(xs):
        raise TypeError(f"{rule.name}: local_grads gave {len(local)} derivatives for "
                        f"{len(xs)} inputs")
    return local


def chain_failed(v, rule, e):
    """backward's error for an exception e of rule's local derivatives at node v, named."""
    local_grads(v, rule, [c.data for c in v._prev])     # raises it, named
    raise type(e)(f"backward through {rule.name}: {e}") from None
