"""The op table's rows, interpreted: on numpy arrays (`Arr`) and as C source (`CExpr`).

Every row of the engine's table writes its forward and its local derivatives with arithmetic,
comparisons and micrograd.primitives' exp/log/tanh/where. The compiler runs those very
functions on two more kinds of number, so that it never writes an op's math itself:

    Arr     a numpy array: + - * / and comparisons are numpy's, which round as Python's floats
            do; exp, log, tanh and ** go element by element through Python's own math, since
            numpy's differ from libm's in the last bit (np.exp, np.tanh, and np.power even
            for ** 2 and ** -1). Where Python would raise (a division by 0, exp overflowing,
            log of 0, 0 ** -1), it raises `Suspect`: the caller then runs the row element by
            element in Python, which raises eager's own error.
    CExpr   a C expression: each operation appends one C statement `double tN = ...;` to a
            `Block`, in the order Python evaluates the row, constants written exactly
            (float.hex), exp/log/tanh/pow from the same libm as Python's math. Where Python
            would raise, the statement sets `err = 1` (the kernel then hands over to numpy).

A row that does anything else (math.* on an input, float(), an `if` on an input) raises
`NotSymbolic` on both: it has no C kernel and its numpy replay runs element by element.
"""
import math
import operator
import re

import numpy as np


class NotSymbolic(Exception):
    """A row used something other than arithmetic, comparisons and the primitives."""


class Suspect(Exception):
    """An element where Python would raise: the row must run element by element."""


# ---------------------------------------------------------------------------------------------
# C expressions
# ---------------------------------------------------------------------------------------------
def c_number(x):
    """A Python number as an exact C literal."""
    if isinstance(x, bool):
        return "1" if x else "0"
    if isinstance(x, int) and -2 ** 31 < x < 2 ** 31:
        return str(x)
    x = float(x)
    if math.isnan(x):
        return "NAN"
    if math.isinf(x):
        return "INFINITY" if x > 0 else "(-INFINITY)"
    r = repr(x)
    if float(r) == x and len(r) <= 12:
        return r if ("." in r or "e" in r) else r + ".0"
    return x.hex()


class Block:
    """The C statements of one evaluation of a row; `may_fail`: does any of them set err?"""

    def __init__(self, prefix="t"):
        self.lines, self.n, self.prefix, self.may_fail = [], 0, prefix, False

    def var(self, name, typ="double"):
        return CExpr(self, name, typ)

    def emit(self, typ, expr, op, args):
        name = f"{self.prefix}{self.n}"
        self.n += 1
        self.lines.append(f"{typ} {name} = {expr};")
        return CExpr(self, name, typ, op, args)

    def check(self, cond):
        self.lines.append(f"if ({cond}) err = 1;")
        self.may_fail = True

    def text(self, result=None):
        """The statements; with `result` (C code), only those it needs, and every check (with
        what the checks need): a row whose derivatives share nothing (take's, one per entry)
        then writes each derivative's loop without all the others' statements."""
        if result is None:
            return " ".join(self.lines)
        name = re.compile(r"\b" + re.escape(self.prefix) + r"\d+\b")
        need = set(name.findall(result))
        keep = []
        for line in reversed(self.lines):
            defined = line.split(" = ", 1)[0].split()[-1] if not line.startswith("if ") else None
            if defined is None or defined in need:
                keep.append(line)
                body = line if defined is None else line.split(" = ", 1)[1]
                need.update(name.findall(body))
        return " ".join(reversed(keep))


def _notsym(what):
    def refuse(self, *args):
        raise NotSymbolic(f"{what} of an input (write the row with arithmetic, comparisons "
                          f"and micrograd.primitives' exp/log/tanh/where)")
    return refuse


class CExpr:
    """A C expression of type double or int; its operators write C statements into a Block.
    `op`, `args`: the operation that made it (for reading a row's structure)."""
    __slots__ = ("block", "code", "typ", "op", "args")
    __hash__ = object.__hash__

    def __init__(self, block, code, typ="double", op=None, args=()):
        self.block, self.code, self.typ, self.op, self.args = block, code, typ, op, args

    def _lift(self, x):
        if isinstance(x, CExpr):
            return x
        if isinstance(x, (int, float)):
            typ = "int" if isinstance(x, int) and -2 ** 31 < x < 2 ** 31 else "double"
            return CExpr(self.block, c_number(x), typ, "const", (x,))
        raise NotSymbolic(f"a {type(x).__name__} in a row")

    def _arith(self, other, sym, swap=False):
        a, b = self, self._lift(other)
        if swap:
            a, b = b, a
        if sym == "/":
            r = self.block.emit("double", f"(double){a.code} / (double){b.code}", sym, (a, b))
            self.block.check(f"{b.code} == 0")
            return r
        if sym == "**":
            r = self.block.emit("double", f"pow((double){a.code}, (double){b.code})", sym,
                                (a, b))
            self.block.check(f"!isfinite({r.code}) && isfinite((double){a.code}) && "
                             f"isfinite((double){b.code})")
            return r
        typ = "int" if a.typ == b.typ == "int" else "double"
        return self.block.emit(typ, f"{a.code} {sym} {b.code}", sym, (a, b))

    def __add__(self, o):       return self._arith(o, "+")
    def __radd__(self, o):      return self._arith(o, "+", True)
    def __sub__(self, o):       return self._arith(o, "-")
    def __rsub__(self, o):      return self._arith(o, "-", True)
    def __mul__(self, o):       return self._arith(o, "*")
    def __rmul__(self, o):      return self._arith(o, "*", True)
    def __truediv__(self, o):   return self._arith(o, "/")
    def __rtruediv__(self, o):  return self._arith(o, "/", True)
    def __pow__(self, o):       return self._arith(o, "**")
    def __rpow__(self, o):      return self._arith(o, "**", True)

    def _compare(self, other, sym):
        b = self._lift(other)
        return self.block.emit("int", f"{self.code} {sym} {b.code}", sym, (self, b))

    def __lt__(self, o): return self._compare(o, "<")
    def __le__(self, o): return self._compare(o, "<=")
    def __gt__(self, o): return self._compare(o, ">")
    def __ge__(self, o): return self._compare(o, ">=")
    def __eq__(self, o): return self._compare(o, "==")
    def __ne__(self, o): return self._compare(o, "!=")

    def __neg__(self):
        return self.block.emit(self.typ, f"-{self.code}", "neg", (self,))

    def __pos__(self):
        return self

    def __abs__(self):
        if self.typ == "int":
            return self.block.emit("int", f"({self.code} < 0 ? -{self.code} : {self.code})",
                                   "abs", (self,))
        return self.block.emit("double", f"fabs({self.code})", "abs", (self,))

    def exp(self):      # math.exp raises where the result overflows
        r = self.block.emit("double", f"exp((double){self.code})", "exp", (self,))
        self.block.check(f"isinf({r.code}) && isfinite((double){self.code})")
        return r

    def log(self):      # math.log raises at a <= 0 (a NaN gives NaN)
        self.block.check(f"{self.code} <= 0")
        return self.block.emit("double", f"log((double){self.code})", "log", (self,))

    def tanh(self):
        return self.block.emit("double", f"tanh((double){self.code})", "tanh", (self,))

    def where(self, if_true, if_false):
        a, b = self._lift(if_true), self._lift(if_false)
        typ = "int" if a.typ == b.typ == "int" else "double"
        return self.block.emit(typ, f"{self.code} ? {a.code} : {b.code}", "where",
                               (self, a, b))

    __bool__ = _notsym("a Python `if` or `and`/`or`")
    __float__ = _notsym("float() or a math.* function")
    __int__ = __index__ = _notsym("int()")
    __complex__ = _notsym("complex()")
    __round__ = __floor__ = __ceil__ = __trunc__ = _notsym("rounding")


def as_double(x):
    """A row's result (a CExpr or a Python number) as a C expression of type double."""
    if isinstance(x, CExpr):
        return x.code if x.typ == "double" else f"(double){x.code}"
    if isinstance(x, (int, float)):
        return c_number(float(x))
    raise NotSymbolic(f"a row returned a {type(x).__name__}")


# ---------------------------------------------------------------------------------------------
# numpy arrays
# ---------------------------------------------------------------------------------------------
def _raw(x):
    if isinstance(x, Arr):
        return x.v
    if isinstance(x, (int, float)):
        return x
    raise NotSymbolic(f"a {type(x).__name__} in a row")


def _python(f, *xs):
    """f element by element, Python's own arithmetic; Suspect where Python raises (or answers
    with a complex number)."""
    shape = np.broadcast_shapes(*[np.shape(x) for x in xs])
    cols = [np.broadcast_to(x, shape).reshape(-1).tolist() if isinstance(x, np.ndarray)
            else [x] * int(np.prod(shape)) for x in xs]
    try:
        return np.array(list(map(f, *cols)), dtype=np.float64).reshape(shape)
    except (ArithmeticError, ValueError, TypeError):
        raise Suspect from None


class Arr:
    """A numpy array of float64 that computes as Python's floats do, element by element, bit
    for bit. fast=True (exact=False): numpy's own exp, log, tanh and **, Suspect where their
    result is not finite (so that errors and infinities stay eager's)."""
    __slots__ = ("v", "fast")

    def __init__(self, v, fast=False):
        self.v, self.fast = v, fast

    def _new(self, v):
        return Arr(v, self.fast)

    def __add__(self, o):       return self._new(self.v + _raw(o))
    def __radd__(self, o):      return self._new(_raw(o) + self.v)
    def __sub__(self, o):       return self._new(self.v - _raw(o))
    def __rsub__(self, o):      return self._new(_raw(o) - self.v)
    def __mul__(self, o):       return self._new(self.v * _raw(o))
    def __rmul__(self, o):      return self._new(_raw(o) * self.v)

    def _divide(self, a, b):
        if not np.all(b):               # Python raises ZeroDivisionError
            raise Suspect
        return self._new(np.true_divide(a, b, dtype=np.float64))

    def __truediv__(self, o):   return self._divide(self.v, _raw(o))
    def __rtruediv__(self, o):  return self._divide(_raw(o), self.v)

    def _power(self, a, b):
        if self.fast:
            with np.errstate(all="ignore"):
                r = np.power(np.asarray(a, dtype=np.float64), b)
            if not np.isfinite(r).all():
                return self._new(_python(operator.pow, a, b))
            return self._new(r)
        return self._new(_python(operator.pow, a, b))

    def __pow__(self, o):       return self._power(self.v, _raw(o))
    def __rpow__(self, o):      return self._power(_raw(o), self.v)
    def __neg__(self):          return self._new(-self.v)
    def __pos__(self):          return self
    def __abs__(self):          return self._new(np.absolute(self.v))

    # comparisons: 0.0 / 1.0 (Python's bools, as numbers)
    def __lt__(self, o): return self._new((self.v < _raw(o)).astype(np.float64))
    def __le__(self, o): return self._new((self.v <= _raw(o)).astype(np.float64))
    def __gt__(self, o): return self._new((self.v > _raw(o)).astype(np.float64))
    def __ge__(self, o): return self._new((self.v >= _raw(o)).astype(np.float64))
    def __eq__(self, o): return self._new((self.v == _raw(o)).astype(np.float64))
    def __ne__(self, o): return self._new((self.v != _raw(o)).astype(np.float64))
    __hash__ = object.__hash__

    def _unary(self, f, uf):
        if self.fast:
            with np.errstate(all="ignore"):
                r = uf(self.v)
            if np.isfinite(r).all():
                return self._new(r)
        return self._new(_python(f, self.v))

    def exp(self):  return self._unary(math.exp, np.exp)
    def log(self):  return self._unary(math.log, np.log)
    def tanh(self): return self._unary(math.tanh, np.tanh)

    def where(self, if_true, if_false):
        return self._new(np.where(self.v != 0, _raw(if_true), _raw(if_false)).astype(np.float64))

    __bool__ = _notsym("a Python `if` or `and`/`or`")
    __float__ = _notsym("float() or a math.* function")
    __int__ = __index__ = _notsym("int()")
    __complex__ = _notsym("complex()")
    __round__ = __floor__ = __ceil__ = __trunc__ = _notsym("rounding")


def array_of(x, shape):
    """A row's result (an Arr or a Python number) as a float64 array of `shape`."""
    if isinstance(x, Arr):
        return x.v
    if isinstance(x, (int, float)):
        return np.full(shape, float(x))
    raise NotSymbolic(f"a row returned a {type(x).__name__}")


# ---------------------------------------------------------------------------------------------
# Reading a row
# ---------------------------------------------------------------------------------------------
class Row:
    """What the compiler knows of an Op at an arity, read by running its functions on CExprs:

    ok, why          can it run on Arr / CExpr (else: element by element, and why)
    bwd_may_fail     may its local derivatives raise (a division, a power, exp, log in them)?
                     Eager's backward evaluates them at every node it visits, needed or not.
    forward()        -> (Block, result): the forward on the C variables x0_, x1_, ...
    local()          -> (Block, grads): local_grads on o_ (the output) and x0_, x1_, ...
    """

    def __init__(self, rule, arity):
        self.rule, self.arity = rule, arity
        self.ok, self.why = True, ""
        try:
            as_double(self.forward()[1])
            blk, grads = self.local()
            self.bwd_may_fail = blk.may_fail
            if len(grads) != arity:
                raise NotSymbolic(f"local_grads gave {len(grads)} derivatives for {arity} "
                                  f"inputs")
            for d in grads:
                as_double(d)
        except NotSymbolic as e:
            self.ok, self.why = False, f"op {rule.name!r}: {e}"
        except Exception as e:          # anything else a row does to a symbol
            self.ok, self.why = False, f"op {rule.name!r}: {type(e).__name__}: {e}"
        if not self.ok:
            self.bwd_may_fail = True

    def _vars(self, blk):
        return [blk.var(f"x{i}_") for i in range(self.arity)]

    def forward(self, prefix="t"):
        blk = Block(prefix)
        return blk, self.rule.forward(*self._vars(blk))

    def local(self, prefix="t"):
        """(Block, grads), written once per prefix (a wide row, take's, is asked once per
        input: its derivatives are written once)."""
        memo = self.__dict__.setdefault("_local", {})
        if prefix not in memo:
            blk = Block(prefix)
            xs = self._vars(blk)
            memo[prefix] = (blk, tuple(self.rule.local_grads(blk.var("o_"), *xs)))
        return memo[prefix]


_ROWS = {}


def row(rule, arity):
    """The Row of `rule` at `arity`, cached by the rule's functions (a row replaced at run
    time is read again)."""
    key = (id(rule), arity)
    hit = _ROWS.get(key)
    if hit is not None and hit[0] is rule and hit[1] is rule.forward \
            and hit[2] is rule.local_grads:
        return hit[3]
    r = Row(rule, arity)
    if len(_ROWS) > 4096:
        _ROWS.clear()
    _ROWS[key] = (rule, rule.forward, rule.local_grads, r)
    return r


def _is(x, op, *names):
    """Is x the operation `op` of the variables `names`, in that order?"""
    return isinstance(x, CExpr) and x.op == op and len(x.args) == len(names) and all(
        isinstance(a, CExpr) and a.code == n for a, n in zip(x.args, names))


def _one(d):
    return isinstance(d, (int, float)) and not isinstance(d, bool) and d == 1


def is_plain_add(rule):
    """Is the row a + b with derivatives (1, 1)? (Chains of it become n-ary sums.)"""
    r = row(rule, 2)
    if not r.ok:
        return False
    _, out = r.forward()
    if not _is(out, "+", "x0_", "x1_"):
        return False
    _, grads = r.local()
    return all(map(_one, grads))


def is_plain_mul(rule):
    """Is the row a * b with derivatives (b, a)?"""
    r = row(rule, 2)
    if not r.ok:
        return False
    _, out = r.forward()
    if not _is(out, "*", "x0_", "x1_"):
        return False
    _, grads = r.local()
    return (len(grads) == 2 and isinstance(grads[0], CExpr) and grads[0].code == "x1_"
            and isinstance(grads[1], CExpr) and grads[1].code == "x0_")


def is_plain_linear(rule, arity):
    """Is the row b + w0*x0 + w1*x1 + ... (added left to right) with derivatives
    (1, x0, w0, x1, w1, ...)? (Groups of it run as contractions.)"""
    if arity < 1 or arity % 2 != 1:
        return False
    r = row(rule, arity)
    if not r.ok:
        return False
    _, out = r.forward()
    k = (arity - 1) // 2
    node = out
    for i in range(k - 1, -1, -1):          # ((b + w0*x0) + w1*x1) + ..., from the outside in
        if not (isinstance(node, CExpr) and node.op == "+"):
            return False
        prod = node.args[1]
        if not _is(prod, "*", f"x{2 * i + 1}_", f"x{2 * i + 2}_"):
            return False
        node = node.args[0]
    if not (isinstance(node, CExpr) and node.code == "x0_"):
        return False
    _, grads = r.local()
    if len(grads) != arity or not _one(grads[0]):
        return False
    names = [d.code if isinstance(d, CExpr) else None for d in grads[1:]]
    return names == [f"x{2 * i + 2 - j}_" for i in range(k) for j in (0, 1)]
