"""What every exercise's checks share: how a wrong answer is reported, and how numbers are shown.

A check is a function of the learner's imported module. It returns None (passed), or a string
(passed, with an explanation worth reading), or raises `Mistake` with feedback a learner can act
on: what was computed, the expected number beside theirs, and what that usually means.
Anything else it raises came from the learner's code (see `learner_error`).
"""
import math
import os
import traceback

from micrograd.engine import OPS, Op, Value as EngineValue, grad, pow_op

ACCUMULATE = "gradients must accumulate: use +="


class Mistake(Exception):
    """The learner's code gave a wrong answer; the message is the feedback."""


class Checklist(list):
    """An exercise's checks, in the order they run: `@checks("title")` adds one."""

    def __call__(self, title):
        def add(fn):
            self.append((title, fn))
            return fn
        return add


def starter(name, title, code, notes=""):
    """A starter file: a docstring (the task, how to check it, any notes), then `code`, whose
    TODOs the learner fills in."""
    notes = f"\n{notes.strip()}\n" if notes else ""
    return (f'"""Exercise `{name}`: {title}\n\nFill in the TODOs, then check your work:\n\n'
            f'    micrograd exercises check {name} {name}.py\n{notes}"""\n{code}')


def require(learner, name, what):
    """The learner's file must define `name`; otherwise say what the exercise expects."""
    obj = getattr(learner, name, None)
    if obj is None:
        raise Mistake(f"your file defines no {name}: the exercise expects {what}")
    return obj


# ---------------------------------------------------------------------------------------------
# numbers
# ---------------------------------------------------------------------------------------------
def close(actual, expected, rtol=1e-6, atol=1e-9):
    if not isinstance(actual, (int, float)) or isinstance(actual, bool):
        return False
    if math.isnan(expected):
        return math.isnan(actual)
    return abs(actual - expected) <= atol + rtol * abs(expected)


def num(x, digits=6):
    """A number as a learner reads it: -3.0, 0.707107, 1e-12."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return repr(x)
    if float(x).is_integer() and abs(x) < 1e15:
        return repr(float(x))
    return f"{x:.{digits}g}"


def pair(expected, actual):
    """'expected E, yours A' with enough digits to see that they differ."""
    for digits in (6, 10, 17):
        e, a = num(expected, digits), num(actual, digits)
        if e != a:
            break
    return f"expected {e}, yours {a}"


def number_of(x, what):
    """A float from a Value-like (anything with .data) or a plain number; else a Mistake."""
    data = getattr(x, "data", x)
    if isinstance(data, bool) or not isinstance(data, (int, float)):
        raise Mistake(f"{what} should be a Value (or a number), got {type(x).__name__} {x!r}")
    return float(data)


# ---------------------------------------------------------------------------------------------
# the engine's op table, as text: the feedback quotes it rather than keeping its own
# ---------------------------------------------------------------------------------------------
def engine_op(name, const=None):
    """The engine's Op for an op name ('*', 'tanh', ...); '**' with a number exponent `const`;
    '-', 'neg' and '/', which the lecture builds from + * **, as an Op made of those."""
    if name in _BUILT:
        return _BUILT[name]
    return pow_op(const) if name == "**" and const is not None else OPS[name]


def _built(name, fn, formula, derivatives):
    """An Op for an expression the lecture builds from other ops: its numbers are the engine's
    (its forward is the expression, its local derivatives are what grad() finds in its graph);
    only the text for people is written here."""
    def local(out, *xs):
        leaves = [EngineValue(x) for x in xs]
        return tuple(g.data for g in grad(fn(*leaves), leaves))
    return Op(name, lambda *xs: fn(*[EngineValue(x) for x in xs]).data, local,
              formula, derivatives)


_BUILT = {
    "neg": _built("neg", lambda a: -a, "-{a}", ("-1",)),
    "-": _built("-", lambda a, b: a - b, "{a} - {b}", ("1", "-1")),
    "/": _built("/", lambda a, b: a / b, "{a} / {b}", ("1/{b}", "-{a}/{b}²")),
}


def formula(name, names, const=None):
    """'a · b' for ('*', ('a', 'b')): the engine's formula text with these input names."""
    return engine_op(name, const).formula.format(**_slots(names, "out"))


def derivative(name, names, i, const=None):
    """The local derivative d(out)/d(input i) as text, from the engine's table: 'b'."""
    op = engine_op(name, const)
    return op.derivatives[i].format(**_slots(names, "out"))


def local_grads(name, xs, const=None):
    """The local derivatives' numbers at the floats xs, from the engine's table."""
    op = engine_op(name, const)
    return op.local_grads(op.forward(*xs), *xs)


def _slots(names, out):
    return dict(zip("ab", names), out=out)


# ---------------------------------------------------------------------------------------------
# running code written as text, on the learner's Value and on the engine's
# ---------------------------------------------------------------------------------------------
def run_code(code, value_class, extra=None):
    """exec `code` with `Value` bound to value_class; returns its namespace."""
    ns = {"Value": value_class, **(extra or {})}
    exec(compile(code, "<the check's code>", "exec"), ns)
    return ns


def engine_run(code, root, extra=None):
    """The reference: `code` on micrograd's own Value, root.backward() called."""
    ns = run_code(code, EngineValue, extra)
    ns[root].backward()
    return ns


def indent(text, by="    "):
    return "\n".join(by + line if line else line for line in text.splitlines())


def graph_ops(root):
    """The op names ('*', '+', ...) of every node under a learner's Value, by walking _prev."""
    ops, seen, stack = set(), set(), [root]
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        if getattr(v, "_op", ""):
            ops.add(str(v._op))
        stack.extend(getattr(v, "_prev", ()))
    return ops


# ---------------------------------------------------------------------------------------------
# the learner's exceptions, shown as theirs
# ---------------------------------------------------------------------------------------------
HINTS = [
    # (exception type name, text it contains, what it usually means)
    ("AttributeError", "'int' object has no attribute 'data'",
     "a plain number reached an operation: wrap it first, as the lecture does: "
     "other = other if isinstance(other, Value) else Value(other)"),
    ("AttributeError", "'float' object has no attribute 'data'",
     "a plain number reached an operation: wrap it first, as the lecture does: "
     "other = other if isinstance(other, Value) else Value(other)"),
    ("TypeError", "for +: 'int' and", "Python tried number + Value: define __radd__ "
     "(def __radd__(self, other): return self + other)"),
    ("TypeError", "for +: 'float' and", "Python tried number + Value: define __radd__ "
     "(def __radd__(self, other): return self + other)"),
    ("TypeError", "for *: 'int' and", "Python tried number * Value: define __rmul__ "
     "(def __rmul__(self, other): return self * other)"),
    ("TypeError", "for *: 'float' and", "Python tried number * Value: define __rmul__ "
     "(def __rmul__(self, other): return self * other)"),
    ("TypeError", "for -: 'float' and", "Python tried number - Value: define __rsub__ "
     "(def __rsub__(self, other): return other + (-self))"),
    ("TypeError", "for -: 'int' and", "Python tried number - Value: define __rsub__ "
     "(def __rsub__(self, other): return other + (-self))"),
    ("TypeError", "'NoneType' object is not callable",
     "something that should be a function is None: is every node's _backward a function "
     "(the default: self._backward = lambda: None)?"),
    ("NotImplementedError", "", "this part of the starter is still a TODO"),
    ("RecursionError", "", "a function calls itself without end: for example __sub__ written "
     "with '-' again, or a recursion that never reaches a leaf"),
]


def learner_error(exc, learner_dir):
    """A learner's exception as a learner reads it: the type and message, then only the frames
    in their own files (never the checker's), then what it usually means."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if _inside(f.filename, learner_dir)]
    lines = [f"your code raised {type(exc).__name__}" + (f": {exc}" if str(exc) else "")]
    if isinstance(exc, SyntaxError) and exc.filename:
        lines = [f"your file does not parse: {exc.msg}",
                 f'  File "{exc.filename}", line {exc.lineno}']
        if exc.text:
            lines.append("    " + exc.text.rstrip("\n").strip())
    for f in frames[-4:]:
        lines.append(f'  File "{f.filename}", line {f.lineno}, in {f.name}')
        if f.line:
            lines.append(f"    {f.line}")
    for kind, text, hint in HINTS:
        if type(exc).__name__ == kind and text in str(exc):
            lines.append(f"This usually means {hint}.")
            break
    return "\n".join(lines)


PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))   # micrograd/


def _inside(filename, directory):
    """A learner's file: under their file's folder, and not part of micrograd itself."""
    if filename.startswith("<"):         # "<the check's code>", "<frozen importlib...>"
        return False
    path = os.path.realpath(filename)
    return _under(path, directory) and not _under(path, PACKAGE_DIR)


def _under(path, directory):
    try:
        return os.path.commonpath([path, directory]) == directory
    except ValueError:
        return False
