"""Each row's hot paths, generated from the row itself: speed machinery, out of the lecture's way.

The engine runs an op through its row: `Op.binary` / `Op.unary` call the row's forward and then
make the node; backward's `Op.chain` calls the row's local_grads and adds local * out.grad into
each input. That is four Python calls a node forward and two backward, for a multiply. Here the
row's own functions are run once on symbols (`Sym`), which write down each operation they do as
a line of Python (`t2 = a * b`), in the order Python evaluates the row. The lines become one
function per path with the node's bookkeeping around them, so that a multiply costs one call
forward and one backward, and every number is made by the very same operations as the row's:
the same bits, by construction. The row stays the one place each op's math is written.

A row of more inputs (a fused neuron's w·x+b) gets a backward step for each number of inputs
it meets. The engine's operators that only call a row (Value.__add__, Value.relu...) are then
that row's path itself (Op.bind), and backward()'s loop has the steps of + and * written in
place of their call (`backward_loop`). A row that does anything but arithmetic, comparisons and
the primitives' exp/log/tanh/where (an `if` on an input, math.*, float()) cannot be read so: it
keeps the generic paths (micrograd.op), which call it. Changing a row's forward or local_grads
at run time (Op.__setattr__) makes its paths, the operators bound to them and backward's loop
again; a path someone kept passes its calls on to the row (`retire`). While a no_grad block is
open in any thread, every path does (`detour`), so the paths themselves never ask.
"""
import math
import re
import weakref

from micrograd import nodes, primitives
from micrograd.checks import FORWARD_ERRORS, checked, forward_error

__all__ = ["install", "generate", "backward_loop", "changed", "retire", "detour", "linear_of",
           "NotSymbolic"]

# what backward catches around a row's local derivatives (op.chain_failed names the failure)
CHAIN_ERRORS = (ValueError, ZeroDivisionError, OverflowError, TypeError)


class NotSymbolic(Exception):
    """The row did something a line of generated Python cannot say."""


class _Lines:
    def __init__(self):
        self.lines, self.n = [], 0

    def emit(self, expr):
        name = f"t{self.n}"
        self.n += 1
        self.lines.append(f"{name} = {expr}")
        return Sym(self, name)


def _literal(x):
    if x.__class__ in (int, bool) or (x.__class__ is float and math.isfinite(x)):
        # repr of a finite float reads back as the same float; (-1) ** t is not -1 ** t
        return f"({x!r})" if x < 0 else repr(x)
    raise NotSymbolic(f"a constant {x!r}")


class Sym:
    """A number in the row being read: its operators write the line of Python that makes it."""
    __slots__ = ("lines", "name")

    def __init__(self, lines, name):
        self.lines, self.name = lines, name

    def _code(self, x):
        return x.name if isinstance(x, Sym) else _literal(x)

    def _op(self, other, sym, swap=False):
        a, b = self.name, self._code(other)
        return self.lines.emit(f"{b} {sym} {a}" if swap else f"{a} {sym} {b}")

    def __add__(self, o):       return self._op(o, "+")
    def __radd__(self, o):      return self._op(o, "+", True)
    def __sub__(self, o):       return self._op(o, "-")
    def __rsub__(self, o):      return self._op(o, "-", True)
    def __mul__(self, o):       return self._op(o, "*")
    def __rmul__(self, o):      return self._op(o, "*", True)
    def __truediv__(self, o):   return self._op(o, "/")
    def __rtruediv__(self, o):  return self._op(o, "/", True)
    def __pow__(self, o):       return self._op(o, "**")
    def __rpow__(self, o):      return self._op(o, "**", True)
    def __lt__(self, o):        return self._op(o, "<")
    def __le__(self, o):        return self._op(o, "<=")
    def __gt__(self, o):        return self._op(o, ">")
    def __ge__(self, o):        return self._op(o, ">=")
    def __eq__(self, o):        return self._op(o, "==")
    def __ne__(self, o):        return self._op(o, "!=")
    def __neg__(self):          return self.lines.emit(f"-{self.name}")
    def __abs__(self):          return self.lines.emit(f"abs({self.name})")

    # primitives.exp(x) is x.exp() for an x that is not a number: the generated line calls
    # the primitive itself, so a number takes the very same path as in the row
    def exp(self):              return self.lines.emit(f"exp({self.name})")
    def log(self):              return self.lines.emit(f"log({self.name})")
    def tanh(self):             return self.lines.emit(f"tanh({self.name})")

    def where(self, if_true, if_false):   # both sides are already computed, as in the row
        return self.lines.emit(f"{self._code(if_true)} if {self.name} else "
                               f"{self._code(if_false)}")

    def __bool__(self):
        raise NotSymbolic("an `if` on an input")

    def __float__(self):
        raise NotSymbolic("float() or math.* of an input")

    __int__ = __index__ = __float__
    __hash__ = object.__hash__


def _arity(fn, skip):
    """How many inputs fn takes after `skip` leading ones, or None (varargs, keywords...)."""
    code = getattr(fn, "__code__", None)
    if code is None or code.co_flags & 0x0C or code.co_kwonlyargcount:   # *args, **kwargs
        return None
    if getattr(fn, "__defaults__", None):
        return None
    return code.co_argcount - skip


def _read(fn, names):
    """fn run on symbols named `names`: (its lines of Python, its result as code)."""
    lines = _Lines()
    result = fn(*(Sym(lines, n) for n in names))
    return lines.lines, result


def _code(x):
    return x.name if isinstance(x, Sym) else _literal(x)


FORWARD = '''
def {fname}({args}):
    if detour:         # a no_grad block is open (in some thread), or the row was changed
        return row._{fname}({args})      # since and a caller kept this path: the generic one
{convert}    try:
{body}
    except FORWARD_ERRORS as e:
        raise forward_error(row, ({inputs},), e) from None
    if data.__class__ is not float and data.__class__ is not int:
        data = checked(data, row, ({inputs},))
    v = new(Value)          # one assignment a slot: faster than one of a tuple
    v.data = data
    v.grad = 0
    v._a = {a}
    v._b = {b}
    v._rule = row
    v._names = NO_NAMES
    return v
'''

CHAIN = '''
def chain(v):
    {unpack}
    g = v.grad
    try:
{body}
    except CHAIN_ERRORS as e:
        failed(v, row, e)
'''


def _used(lines):
    """The lines without the loads of inputs that no later line reads (a + b needs no out)."""
    keep = []
    for i, line in enumerate(lines):
        name = line.split(" = ", 1)[0]
        if line.endswith(".data") and not any(_reads(later, name) for later in lines[i + 1:]):
            continue
        keep.append(line)
    return keep


def _reads(line, name):
    right = line.split(" = ", 1)[1] if " = " in line else line.split(" += ", 1)[1]
    return re.search(rf"\b{name}\b", right) is not None


def _indent(lines, n):
    return "".join(" " * n + line + "\n" for line in lines)


def _forward_source(row, n, swapped=False):
    """`unary(a)` or `binary(a, b)` for the row: its forward's lines, then the new node;
    swapped: `rbinary(b, a)`, the same with its arguments the other way (other + self)."""
    names = ["a", "b"][:n]
    lines, result = _read(row.forward, [f"{x}_data" for x in names])
    lines = _used([f"{x}_data = {x}.data" for x in names] + lines + [f"data = {_code(result)}"])
    if len(lines) > 1 and lines[-1] == f"data = {lines[-2].split(' = ')[0]}":
        lines[-2:] = ["data = " + lines[-2].split(" = ", 1)[1]]    # t3 = x; data = t3
    # a number mixed in becomes a constant leaf, as in Op.binary (a Value never goes this way)
    convert = "".join(f"    if {x}.__class__ is not Value and not isinstance({x}, Value):\n"
                      f"        {x} = leaf({x}, row.name)\n" for x in names)
    return FORWARD.format(fname="unary" if n == 1 else "rbinary" if swapped else "binary",
                          args=", ".join(names[::-1] if swapped else names),
                          convert=convert, body=_indent(lines, 8).rstrip("\n"),
                          inputs=", ".join(names), a="a", b="b" if n == 2 else "None")


def _names(n):
    return ["a", "b"][:n] if n <= 2 else [f"c{i}" for i in range(n)]


def _chain_lines(row, n):
    """The lines of backward's step at a node v of the row, its inputs unpacked."""
    names = _names(n)
    lines, local = _read(row.local_grads, ["out"] + [f"{x}_data" for x in names])
    local = tuple(local)
    if len(local) != n:
        raise NotSymbolic(f"{len(local)} derivatives for {n} inputs")
    updates = []
    for x, d in zip(names, local):
        term = "g" if d.__class__ is int and d == 1 else f"{_code(d)} * g"   # 1 * g is g
        updates.append(f"{x}.grad += {term}")
    unpack = {1: "a = v._a", 2: "a, b = v._a, v._b"}.get(n, f"{', '.join(names)}, = v._a")
    return [unpack, "g = v.grad"] + _used(["out = v.data"] + [f"{x}_data = {x}.data"
                                                             for x in names] + lines + updates)


def _chain_source(row, n):
    """`chain(v)`: the row's local derivatives at v, then input.grad += local * v.grad."""
    lines = _chain_lines(row, n)
    return CHAIN.format(unpack=lines[0], body=_indent(lines[2:], 8).rstrip("\n"))


MAX_ARITIES = 64     # a row of many inputs keeps a chain for each of this many input counts


def _chain_by_count(row, env):
    """chain(v) for a row of any number of inputs (a neuron's w·x+b): one generated for each
    number of inputs it meets, made the first time."""
    made = {}

    def chain(v):
        a = v._a
        if v._b is not nodes._MANY:           # used with one or two inputs: the generic step
            return row._chain(v)
        fn = made.get(len(a))
        if fn is None:
            fn = _compiled(row, "chain", _chain_source, len(a), env) or row._chain
            if len(made) < MAX_ARITIES:
                made[len(a)] = fn
        return fn(v)
    return chain


def _compiled(row, name, source, n, env):
    try:
        text = source(row, n)
    except Exception:            # NotSymbolic, or a row that fails on symbols another way
        return None
    env = dict(env)
    exec(compile(text, f"<{name} of row {row.name!r}>", "exec"), env)
    return env[name]


def generate(row, Value, leaf, failed):
    """The row's paths generated from it: {"unary": f(a)} or {"binary": f(a, b), "rbinary":
    f(b, a)}, and {"chain": f(node)}; a path it cannot have is missing. `failed(v, row, e)`
    raises backward's error for an exception e of the row at node v."""
    env = {"row": row, "Value": Value, "leaf": leaf, "stale": False, "detour": False,
           "new": object.__new__, "NO_NAMES": nodes.NO_NAMES,
           "FORWARD_ERRORS": FORWARD_ERRORS, "CHAIN_ERRORS": CHAIN_ERRORS,
           "forward_error": forward_error, "checked": checked, "failed": failed,
           "exp": primitives.exp, "log": primitives.log, "tanh": primitives.tanh}
    n = _arity(row.forward, 0)
    if n is None and _arity(row.local_grads, 1) is None:
        return {"chain": _chain_by_count(row, env)}
    if n not in (1, 2) or _arity(row.local_grads, 1) != n:
        return {}
    paths = {"chain": _compiled(row, "chain", _chain_source, n, env)}
    with nodes.grad_lock:     # born detoured if a no_grad block is open now
        env["detour"] = nodes._blocks_open != 0
        if n == 1:
            paths["unary"] = _compiled(row, "unary", _forward_source, 1, env)
        else:
            paths["binary"] = _compiled(row, "binary", _forward_source, 2, env)
            paths["rbinary"] = _compiled(row, "rbinary",
                                         lambda r, n: _forward_source(r, n, True), 2, env)
        _forward_paths.update(paths[k] for k in ("unary", "binary", "rbinary")
                              if paths.get(k) is not None)
    return {k: f for k, f in paths.items() if f is not None}


# The operators of Value that do nothing but call their row: each becomes the row's path.
BOUND = [("+", "__add__", "binary"), ("+", "__radd__", "rbinary"), ("*", "__mul__", "binary"),
         ("*", "__rmul__", "rbinary"), ("abs", "__abs__", "unary"), ("exp", "exp", "unary"),
         ("log", "log", "unary"), ("tanh", "tanh", "unary"), ("ReLU", "relu", "unary"),
         ("sigmoid", "sigmoid", "unary")]


def install(Value, table):
    """Every row of the engine's table gets its paths (Op.speed_up), Value's operators in
    BOUND become them (Op.bind: they follow a row that is changed later), and backward() its
    loop (backward_loop)."""
    global backward, _installed
    from micrograd.op import chain_failed      # (micrograd.op imports this module)
    for row in table.values():
        row.speed_up()
    for name, method, path in BOUND:
        table[name].bind(Value, method, path)
    _installed = table, chain_failed
    backward = backward_loop(table, chain_failed)


backward = None     # engine.backpropagate's loop without a step, made by install()
_installed = None   # (the table, the failure namer) install() made it from


def changed(row):
    """A row made its paths again: backward's loop follows, if the row is written in it."""
    global backward
    if _installed is not None and any(_installed[0][name] is row for name in INLINED):
        backward = backward_loop(*_installed)


BACKWARD = '''
def backward(topo):
    for v in reversed(topo):
        rule = v._rule
        try:
{cases}
            elif rule.__class__ is Op or isinstance(rule, Op):
                rule.chain(v)
            elif rule is not None:
                rule()                      # a closure assigned to _backward, lecture style
        except CHAIN_ERRORS as e:
            if {inlined}:     # raised by a chain written here: named as its own would be
                failed(v, rule, e)
            raise
'''
INLINED = ("+", "*")       # the rows most nodes of a network are made by


def backward_loop(table, failed):
    """engine.backpropagate's loop for backward() (no step): each node's row's `chain`, with
    the chain of the rows in INLINED written in place of the call, the very lines of their own
    chain (a call less a node). Made again whenever one of them is (Op.speed_up)."""
    cases, tests = [], []
    env = {"Op": type(table["+"]), "CHAIN_ERRORS": CHAIN_ERRORS, "failed": failed}
    for i, name in enumerate(INLINED):
        row = table[name]
        try:            # a row changed to one that is not two inputs, or not readable: a call
            if _arity(row.forward, 0) != 2 or _arity(row.local_grads, 1) != 2:
                continue
            body = _chain_lines(row, 2)
        except Exception:
            continue
        env[f"row{i}"] = row
        tests.append(f"rule is row{i}")
        cases.append(f"{'elif' if len(tests) > 1 else 'if'} {tests[-1]}:")
        cases += ["    " + line for line in body]
    cases = cases or ["if False:", "    pass"]
    text = BACKWARD.format(cases=_indent(cases, 12).rstrip("\n"),
                           inlined=" or ".join(tests) or "False")
    exec(compile(text, "<backward, + and * in place>", "exec"), env)
    return env["backward"]


def retire(*paths):
    """Paths of a row whose forward changed: each passes its calls on to the row (generic)."""
    with nodes.grad_lock:
        for path in paths:
            if path in _forward_paths:
                path.__globals__["stale"] = path.__globals__["detour"] = True


def detour(on):
    """Every generated forward path takes its row's generic path (which asks the thread's
    grad mode) while `on`: micrograd.grad_mode turns it on while any no_grad block is open.
    Called with nodes.grad_lock held."""
    for path in list(_forward_paths):
        env = path.__globals__
        env["detour"] = on or env["stale"]


_forward_paths = weakref.WeakSet()      # every generated forward path, live


def linear_of(row):
    """linear(w, x, b=0): the row of a neuron's w·x + b (inputs b, w0, x0, w1, x1, ...) on
    lists of weights and inputs. Its forward spelled out, a neuron being the hot path: s + w*x
    in the order of the row's own loop; a row replaced at run time is called instead."""
    Value, leaf, own_forward = nodes.Value, nodes.leaf, row.forward

    def linear(w, x, b=0):
        if len(w) != len(x):
            raise ValueError(f"linear: {len(w)} weights but {len(x)} inputs")
        if row.forward is not own_forward:
            return row(b, *[v for pair in zip(w, x) for v in pair])
        if b.__class__ is not Value and not isinstance(b, Value):
            b = leaf(b, row.name)
        inputs = [b]
        s = b.data
        for wi, xi in zip(w, x):
            if wi.__class__ is not Value and not isinstance(wi, Value):
                wi = leaf(wi, row.name)
            if xi.__class__ is not Value and not isinstance(xi, Value):
                xi = leaf(xi, row.name)
            inputs += (wi, xi)
            s = s + wi.data * xi.data
        return nodes.node(s, tuple(inputs), row)
    return linear
