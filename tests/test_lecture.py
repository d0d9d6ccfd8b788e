"""micrograd.lecture is the one home of the lecture's numbers: the exercises' code snippets and
the example script, which show the lecture's code as text, build exactly its graphs."""
import contextlib
import io
import runpy
from pathlib import Path

from micrograd.engine import Value
from micrograd.exercises import expressions, neuron, training
from micrograd.lecture import (LECTURE_XS, LECTURE_YS, NEURON_B, NEURON_W, NEURON_X,
                               lecture_expression, lecture_neuron)

ROOT = Path(__file__).resolve().parent.parent


def leaves(root):
    seen, out, stack = set(), {}, [root]
    while stack:
        v = stack.pop()
        if id(v) not in seen:
            seen.add(id(v))
            if not v._prev:
                out[v.label] = (v.data, v.grad)
            stack.extend(v._prev)
    return out


def run_snippet(code, root):
    env = {"Value": Value}
    exec(code, env)
    env[root].backward()
    return env[root]


def test_the_exercises_lecture_snippets_build_the_lecture_graphs():
    L = run_snippet(expressions.LECTURE_L, "L")
    assert (L.data, leaves(L)) == (-8.0, leaves(lecture_expression(backward=True)))
    o = run_snippet(expressions.LECTURE_NEURON, "o")
    want = lecture_neuron(backward=True)
    assert (o.data, leaves(o)) == (want.data, leaves(want))


def test_the_exercises_take_the_lecture_numbers_from_micrograd_lecture():
    assert (neuron.LECTURE_X, neuron.LECTURE_W, neuron.LECTURE_B) == (NEURON_X, NEURON_W, NEURON_B)
    assert (training.XS, training.YS) == (LECTURE_XS, LECTURE_YS)


def test_the_manual_backprop_example_is_the_lecture_neuron():
    with contextlib.redirect_stdout(io.StringIO()):
        env = runpy.run_path(str(ROOT / "examples" / "02_manual_backprop.py"))
    want = lecture_neuron(backward=True)
    assert env["o"].data == want.data
    assert leaves(env["o"]) == leaves(want)
