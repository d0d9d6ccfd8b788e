"""Exercise `neuron`: the lecture's Neuron, tanh(w · x + b), checked for its shape and numbers.

The helpers here (the weights a check sets, the reference forward on micrograd's engine) serve
the `mlp` exercise too. The learner's Neuron may use micrograd's Value or their own: the checks
only read and set `.data`, and make input Values of the same class as the weights.
"""
import math
import random

from micrograd.engine import Value as EngineValue
from micrograd.exercises.checking import (Checklist, Mistake, close, num, number_of, pair, require,
                                          starter)
from micrograd.lecture import NEURON_B, NEURON_W, NEURON_X

NAME = "neuron"
SUMMARY = ("Write the lecture's Neuron: random weights w and bias b, tanh(w·x + b) when called, "
           "and parameters() in the order w then b.")
TIMEOUT_HINT = "For example a loop over the inputs whose index never moves on."

IMPORTS = '''\
import random

from micrograd.engine import Value      # or your own Value from the `value` exercise
'''
NEURON_CLASS = '''

class Neuron:

    def __init__(self, nin):
        # TODO: self.w, a list of nin Values drawn from random.uniform(-1, 1),
        #       and self.b, one Value drawn the same way
        pass

    def __call__(self, x):
        # TODO: w · x + b (the sum of wi * xi, starting from b), squashed with tanh
        pass

    def parameters(self):
        # TODO: the weights, then the bias, in one list
        return []
'''
STARTER = starter("neuron", "one neuron, tanh(w · x + b).", IMPORTS + NEURON_CLASS)

checks = Checklist()
CHECKS = checks
LECTURE_W, LECTURE_B, LECTURE_X = NEURON_W, NEURON_B, NEURON_X


def make(learner, cls_name, *args):
    cls = require(learner, cls_name, f"a class {cls_name}, as the lecture writes it")
    return cls(*args)


def weights_of(neuron, where="the neuron"):
    """The learner's neuron's w (a list of Value-likes) and b, or a Mistake naming what's off."""
    w, b = getattr(neuron, "w", None), getattr(neuron, "b", None)
    if not isinstance(w, (list, tuple)) or b is None:
        raise Mistake(f"{where} should keep its weights in self.w (a list of Values) and its "
                      f"bias in self.b (one Value), as the lecture does; yours has "
                      f"w = {w!r}, b = {b!r}.")
    return list(w), b


def set_weights(neuron, w, b):
    ws, bias = weights_of(neuron)
    for wi, v in zip(ws, w):
        wi.data = v
    bias.data = b


def expected_neuron(w, b, x):
    """The lecture's neuron on micrograd's engine: tanh(sum((wi*xi for ...), b))."""
    return sum((EngineValue(wi) * xi for wi, xi in zip(w, x)), EngineValue(b)).tanh().data


def neuron_mistake(w, b, x, got, call):
    """A wrong neuron output, with what the number usually means."""
    want = expected_neuron(w, b, x)
    act = b + sum(wi * xi for wi, xi in zip(w, x))
    lines = [f"{call}: {pair(want, got)}   (tanh of w·x + b = {num(act)})"]
    if close(got, act):
        lines.append("Yours is w·x + b itself: squash it with tanh (return act.tanh()).")
    elif close(got, math.tanh(act - b)):
        lines.append("Yours is tanh(w·x), without the bias: start the sum from self.b.")
    elif close(got, act - b):
        lines.append("Yours is w·x alone: add the bias self.b, then apply tanh.")
    return Mistake("\n".join(lines))


def output_number(out, call):
    if isinstance(out, (list, tuple)):
        raise Mistake(f"{call} returned a list of {len(out)}: a neuron gives one Value.")
    return number_of(out, call)


@checks("Neuron(3): three weights in w and a bias b, drawn from uniform(-1, 1)")
def _shape(learner):
    random.seed(0)
    n1, n2 = make(learner, "Neuron", 3), make(learner, "Neuron", 3)
    w, b = weights_of(n1, "Neuron(3)")
    if len(w) != 3:
        raise Mistake(f"Neuron(3).w should hold 3 weights, one per input; yours holds {len(w)}.")
    values = [number_of(v, "a weight") for v in w] + [number_of(b, "the bias")]
    if not all(-1 <= v <= 1 for v in values):
        raise Mistake(f"the weights and bias should start in [-1, 1] (random.uniform(-1, 1)); "
                      f"yours are {', '.join(map(num, values))}.")
    others = [number_of(v, "a weight") for v in weights_of(n2)[0]]
    if values[:3] == others or len(set(values)) == 1:
        raise Mistake(f"two Neuron(3)s start with the same weights ({', '.join(map(num, others))}"
                      "): draw each one with random.uniform(-1, 1), so neurons differ.")


@checks("Neuron(3).parameters(): the weights, then the bias")
def _parameters(learner):
    n = make(learner, "Neuron", 3)
    w, b = weights_of(n)
    params = list(n.parameters())
    if len(params) != 4:
        raise Mistake(f"Neuron(3).parameters() should list 4 Values (3 weights and the bias); "
                      f"yours lists {len(params)}.")
    if [id(p) for p in params] != [id(v) for v in w + [b]]:
        order = ["w[%d]" % w.index(p) if any(p is v for v in w) else "b" if p is b else "?"
                 for p in params]
        raise Mistake(f"Neuron.parameters() should be self.w + [self.b], the very Values (not "
                      f"copies), in that order; yours is [{', '.join(order)}] ('?': a Value "
                      "that is not the neuron's own).")


@checks("the lecture's neuron: w = [-3, 1], b = 6.8814, x = [2, 0] gives 0.7071")
def _lecture(learner):
    n = make(learner, "Neuron", 2)
    set_weights(n, LECTURE_W, LECTURE_B)
    got = output_number(n(LECTURE_X), "n([2.0, 0.0])")
    if not close(got, expected_neuron(LECTURE_W, LECTURE_B, LECTURE_X)):
        raise neuron_mistake(LECTURE_W, LECTURE_B, LECTURE_X, got, "n([2.0, 0.0])")


@checks("Neuron(3) on other weights and inputs")
def _other(learner):
    rng = random.Random(3)
    for _ in range(5):
        w, b = [rng.uniform(-1, 1) for _ in range(3)], rng.uniform(-1, 1)
        x = [rng.uniform(-2, 2) for _ in range(3)]
        n = make(learner, "Neuron", 3)
        set_weights(n, w, b)
        call = f"Neuron with w = [{', '.join(map(num, w))}], b = {num(b)}, on x = " \
               f"[{', '.join(map(num, x))}]"
        got = output_number(n(x), call)
        if not close(got, expected_neuron(w, b, x)):
            raise neuron_mistake(w, b, x, got, call)


@checks("gradients through the neuron: o = n(x), o.backward()")
def _gradients(learner):
    n = make(learner, "Neuron", 2)
    set_weights(n, LECTURE_W, LECTURE_B)
    w, b = weights_of(n)
    V = type(w[0])
    x = [V(v) for v in LECTURE_X]
    n(x).backward()
    want_w = [EngineValue(v) for v in LECTURE_W]
    want_b, want_x = EngineValue(LECTURE_B), [EngineValue(v) for v in LECTURE_X]
    sum((wi * xi for wi, xi in zip(want_w, want_x)), want_b).tanh().backward()
    pairs = [(f"x[{i}]", x[i], want_x[i]) for i in range(2)] + \
            [(f"w[{i}]", w[i], want_w[i]) for i in range(2)] + [("b", b, want_b)]
    wrong = [f"  {name}.grad: {pair(ref.grad, got.grad)}" for name, got, ref in pairs
             if not close(number_of(got.grad, f"{name}.grad"), ref.grad)]
    if wrong:
        raise Mistake("after o = n(x) with the lecture's numbers and o.backward():\n"
                      + "\n".join(wrong) + "\nThe lecture's: x1.grad = -1.5, w1.grad = 1.0, "
                      "x2.grad = 0.5, w2.grad = 0.0. Build the output from Value operations "
                      "(wi * xi, +, .tanh()), not from floats, so that backward() reaches "
                      "every weight.")
