"""Expressions written as code, run on the learner's Value and on the engine's, and compared.

An expression is a few lines of Python that build Values (every leaf made with a label equal to
its name, `a = Value(2.0, label='a')`), so that the feedback can quote the very code that gave
the wrong number, and the learner can paste it to reproduce it.
"""
import math
import random
import re

from micrograd.engine import Value as EngineValue
from micrograd.exercises.checking import (ACCUMULATE, Mistake, close, engine_run, indent, num,
                                          number_of, pair, run_code)

H = 1e-6

# The lecture's own expressions, used by several exercises.
LECTURE_L = """\
a = Value(2.0, label='a')
b = Value(-3.0, label='b')
c = Value(10.0, label='c')
e = a * b
d = e + c
f = Value(-2.0, label='f')
L = d * f
"""
# e is shared: used by d and by L (and a by e and d): the smallest graph where order matters.
SHARED = """\
a = Value(2.0, label='a')
b = Value(-3.0, label='b')
e = a * b
d = e + a
L = d * e
"""
LECTURE_NEURON = """\
x1 = Value(2.0, label='x1')
x2 = Value(0.0, label='x2')
w1 = Value(-3.0, label='w1')
w2 = Value(1.0, label='w2')
b = Value(6.8813735870195432, label='b')
x1w1 = x1 * w1
x2w2 = x2 * w2
x1w1x2w2 = x1w1 + x2w2
n = x1w1x2w2 + b
o = n.tanh()
"""


def compare(V, code, root, names, intro="", numerical=False):
    """Run `code` with the learner's Value V, call root.backward(), and raise a Mistake unless
    every named node's data and grad match the engine's (and, with `numerical`, every leaf's
    grad matches the slope of the learner's own forward, nudged by H)."""
    expected = engine_run(code, root)
    ns = run_code(code, V)
    for name in names:                                  # the forward first: in code order
        e, a = expected[name].data, number_of(ns[name], name)
        if not close(a, e):
            raise Mistake(f"{intro}{_show(code, root)}\n"
                          f"forward: {name}.data is {pair(e, a)}.\n"
                          "A wrong forward number: look at what your operation computes for "
                          f"the line that makes {name} (its data, before any gradient).")
    ns[root].backward()
    wrong = [n for n in names if not close(number_of(getattr(ns[n], "grad", None), f"{n}.grad"),
                                           expected[n].grad)]
    if not wrong:
        if numerical:
            _against_slopes(V, code, root, [n for n in names if _is_leaf(code, n)], ns, intro)
        return
    lines = [f"{intro}{_show(code, root)}", "after backward():"]
    for n in wrong:
        line = f"  {n}.grad: {pair(expected[n].grad, ns[n].grad)}"
        if _is_leaf(code, n):
            slope = numerical_slope(V, code, root, n)
            if slope is not None:
                line += f"   (nudging {n} by {H:g} in your own Value: slope {num(slope)})"
        lines.append(line)
    first = max(wrong, key=names.index)               # the one nearest the root
    users = _lines_using(code, first)
    lines.append(f"Walking back from {root}, the first wrong gradient is {first}.grad.")
    if users:
        lines.append(f"{first} is used in: " + "; ".join(f"`{u}`" for u in users) + ".")
    if _uses(code, first) >= 2:
        lines.append(f"{first} is used more than once: its grad must be the sum of one "
                     f"contribution from each use, no fewer ({ACCUMULATE}) and no more (each "
                     "node's _backward runs once).")
    raise Mistake("\n".join(lines))


def _against_slopes(V, code, root, leaves, ns, intro):
    for n in leaves:
        slope = numerical_slope(V, code, root, n)
        if slope is not None and not close(ns[n].grad, slope, rtol=1e-4, atol=1e-5):
            raise Mistake(f"{intro}{_show(code, root)}\n{n}.grad is {num(ns[n].grad)}, but "
                          f"nudging {n} by {H:g} in your own Value gives a slope of {num(slope)}:"
                          " your backward() and your forward disagree.")


def numerical_slope(V, code, root, leaf):
    """d root / d leaf by central differences on the learner's own forward (None if it fails)."""
    def at(delta):
        def nudged(data, *args, **kwargs):
            if kwargs.get("label") == leaf:
                data = data + delta
            return V(data, *args, **kwargs)
        return number_of(run_code(code, nudged)[root], root)
    try:
        return (at(H) - at(-H)) / (2 * H)
    except Exception:
        return None


def _show(code, root):
    return f"{indent(code.strip())}\n    {root}.backward()"


def _is_leaf(code, name):
    return any(target == name and expr.startswith("Value(") for target, expr in _assignments(code))


def _assignments(code):
    """(target, expression) for every `name = expression` line of the code."""
    return re.findall(r"^\s*(\w+) = (.*)$", code, re.M)


def _lines_using(code, name):
    return [f"{t} = {e}" for t, e in _assignments(code)
            if not e.startswith("Value(") and re.search(rf"\b{name}\b", e)]


def _uses(code, name):
    return sum(len(re.findall(rf"\b{name}\b", e)) for t, e in _assignments(code)
               if not e.startswith("Value("))


# ---------------------------------------------------------------------------------------------
# random expressions: the lecture's ops on a few leaves, with reuse, kept in a safe range
# ---------------------------------------------------------------------------------------------
BINARY = ["{x} + {y}", "{x} * {y}", "{x} - {y}", "{x} / {y}"]
WITH_NUMBER = ["{x} + {k}", "{k} + {x}", "{x} * {k}", "{k} * {x}", "{x} - {k}", "{k} - {x}",
               "{x} / {k}"]
UNARY = ["-{x}", "{x} ** 2", "{x} ** 3", "{x}.tanh()", "{x}.exp()"]


def random_expression(seed):
    """(code, root, names): 2-3 leaves and 4-9 operations, operands often reused."""
    rng = random.Random(seed)
    lines, names, env = [], [], {}
    for i in range(rng.randint(2, 3)):
        name, v = f"x{i}", round(rng.uniform(-2, 2), 2) or 0.5
        lines.append(f"{name} = Value({v!r}, label={name!r})")
        names.append(name)
        env[name] = EngineValue(v)
    size = len(names) + rng.randint(4, 9)
    while len(names) < size:
        template = rng.choice(rng.choice([BINARY, BINARY, WITH_NUMBER, UNARY]))
        recent = names[-3:]
        x = rng.choice(recent if rng.random() < 0.6 else names)
        y = rng.choice(recent if rng.random() < 0.5 else names)
        expr = template.format(x=x, y=y, k=rng.choice([2.0, -1.5, 0.5, 3.0]))
        if "/ {y}" in template and abs(env[y].data) < 0.3:
            continue
        if "exp" in template and env[x].data > 2.5:
            continue
        v = eval(expr, {}, env)             # with its graph: what the root needs is kept below
        if not math.isfinite(v.data) or abs(v.data) > 20:
            continue
        name = f"n{len(names)}"
        lines.append(f"{name} = {expr}")
        names.append(name)
        env[name] = v
    # Keep only what the root depends on: the code shown to a learner stays short.
    needed = {id(v) for v in env[names[-1]].topo()}
    keep = [i for i, n in enumerate(names) if id(env[n]) in needed]
    return "".join(lines[i] + "\n" for i in keep), names[-1], [names[i] for i in keep]
