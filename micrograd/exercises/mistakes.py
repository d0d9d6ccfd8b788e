"""The lecture's classic mistakes, each run next to the right version: the wrong number beside the
right one.

    micrograd exercises mistakes              print the three
    micrograd exercises mistakes --draw DIR   also draw each graph, right and wrong, with
                                              draw_dot (needs Graphviz's dot)

(`python -m micrograd.exercises.mistakes` is the same command.)

1. `=` instead of `+=` in a _backward: b = a + a gives a.grad = 1, not 2 (the lecture's own bug).
2. No topological sort: recursing from the root runs a shared node's _backward too early, and
   more than once (the "fix" proposed most often in the original micrograd's issues).
3. No zero_grad: every backward() adds to the gradients left by the last step.
"""
import os
import sys
import textwrap
from dataclasses import dataclass

from micrograd.engine import Value
from micrograd.exercises.checking import num, run_code
from micrograd.exercises.expressions import SHARED
from micrograd.exercises.topo import recursive_backward
from micrograd.exercises.training import XS, YS, lecture_model

__all__ = ["Demo", "demos", "draw"]


@dataclass
class Demo:
    title: str
    code: str           # what both versions compute
    quantity: str       # the number shown, e.g. "a.grad"
    right: float
    wrong: float
    why: str
    graphs: tuple = ()  # (right root, wrong root) to draw, or () when the graph is too big

    def __str__(self):
        code = "\n".join("    " + line for line in self.code.strip().splitlines())
        return (f"{self.title}\n{code}\n"
                f"    {self.quantity}:  right {num(self.right)}   wrong {num(self.wrong)}\n"
                + textwrap.fill(self.why, 96, initial_indent="  ", subsequent_indent="  "))


def overwrite():
    """b = a + a, with the lecture's _backward for '+' written with = and with +=."""
    right_a = Value(3.0, label="a")
    right = right_a + right_a
    right.label = "b"
    right.backward()

    a = Value(3.0, label="a")
    wrong = Value(a.data + a.data, (a, a), "+", label="b")

    def _backward():             # the lecture's first version: self and other are both a
        a.grad = 1.0 * wrong.grad      # self.grad = ...
        a.grad = 1.0 * wrong.grad      # other.grad = ... overwrites it
    wrong._backward = _backward
    wrong.backward()
    return Demo("1. = instead of += (gradients must accumulate: use +=)",
                "a = Value(3.0)\nb = a + a\nb.backward()", "a.grad", right_a.grad, a.grad,
                "b uses a twice, so a.grad needs both contributions, 1 + 1. With self.grad = "
                "... the second assignment (other is self here) overwrites the first.",
                (right, wrong))


def _labelled(code):
    """`code` run on micrograd's Value, every named Value labelled with its name (for drawing)."""
    ns = run_code(code, Value)
    for name, v in ns.items():
        if isinstance(v, Value):
            v.label = name
    return ns


def no_topological_sort():
    """A shared node e, backpropagated in topological order and by recursing from the root."""
    right = _labelled(SHARED)
    right["L"].backward()
    wrong = _labelled(SHARED)
    recursive_backward(wrong["L"])
    return Demo("2. no topological sort (recursing from the root instead)",
                SHARED + "L.backward()", "a.grad", right["a"].grad, wrong["a"].grad,
                "e is used by d and by L. Recursing from L runs e's _backward as soon as L is "
                "done, before d has added its part to e.grad, and then again after d: a gets "
                "contributions from an incomplete e.grad and from the complete one.",
                (right["L"], wrong["L"]))


def no_zero_grad(steps=3):
    """The lecture's training loop, with and without resetting the grads before backward()."""
    grads = {}
    for zero in (True, False):
        model = lecture_model()
        for _ in range(steps):
            loss = sum((model(x) - y) ** 2 for x, y in zip(XS, YS))
            if zero:
                model.zero_grad()
            loss.backward()
            for p in model.parameters():
                p.data += -0.05 * p.grad
        grads[zero] = model.parameters()[0].grad
    return Demo(f"3. no zero_grad (the lecture's training loop, step {steps})",
                "for k in range(3):\n    loss = sum((n(x) - y)**2 for x, y in zip(xs, ys))\n"
                "    # right: for p in n.parameters(): p.grad = 0.0\n    loss.backward()\n"
                "    for p in n.parameters(): p.data += -0.05 * p.grad",
                "the first weight's grad at step 3", grads[True], grads[False],
                "without the reset, backward() adds this step's gradient to the last two steps':"
                " the update uses the sum of three gradients, not the current one.")


def demos():
    return [overwrite(), no_topological_sort(), no_zero_grad()]


def draw(demo, directory, index):
    """Render a demo's right and wrong graphs to DIR/mistake-N-right.svg and -wrong.svg."""
    from micrograd.viz import render
    paths = []
    for kind, root in zip(("right", "wrong"), demo.graphs):
        paths.append(render(root, os.path.join(directory, f"mistake-{index}-{kind}.svg")))
    return paths


if __name__ == "__main__":          # the older spelling of `micrograd exercises mistakes`
    from micrograd.cli import main
    sys.exit(main(["exercises", "mistakes", *sys.argv[1:]]))
