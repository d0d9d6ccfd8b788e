"""Exercise `training`: the lecture's training loop, on its four examples.

The learner writes train(model, xs, ys, steps, learning_rate). Besides "the loss falls", two
mistakes are caught directly, whatever loss normalisation the learner chose (sum or mean):

* the sign of the step: with a tiny learning rate, one step must move the parameters along
  minus the gradient of the squared error;
* a forgotten zero_grad: with a tiny learning rate the gradient barely changes from step to step,
  so three steps move the parameters 3 times as far as one; without zero_grad the gradients pile
  up (1 + 2 + 3 = 6 times as far), which is the lecture's own "subtle bug".
"""
import math
import random

from micrograd.exercises.checking import Checklist, Mistake, num, number_of, require, starter
from micrograd.lecture import LECTURE_XS, LECTURE_YS
from micrograd.nn import MLP

NAME = "training"
SUMMARY = ("Write the lecture's training loop, train(model, xs, ys, steps, learning_rate): the "
           "loss falls on its four examples, zero_grad and the step's sign are checked.")
TIMEOUT_HINT = ("For example a `while loss > target` loop whose loss never gets there, or a "
                "loop over range(steps) where steps is not the argument.")

STARTER = starter('training', "gradient descent, the lecture's way.", '''\


def train(model, xs, ys, steps=20, learning_rate=0.1):
    """Gradient descent on the squared-error loss of model over the examples (xs, ys).
    Returns the loss of every step, a list of `steps` floats."""
    losses = []
    for k in range(steps):
        # TODO: forward pass: a prediction for every x, and the loss
        # TODO: backward pass
        # TODO: update every parameter
        pass
    return losses
''', notes='''
`model` is a micrograd MLP: model(x) is its prediction (a Value) for one example x, and
model.parameters() lists its weights and biases.
''')

# The lecture's four examples and their targets.
XS, YS = LECTURE_XS, LECTURE_YS
SEED = 1
TINY = 1e-6            # a learning rate small enough that the gradient barely changes

checks = Checklist()
CHECKS = checks


def lecture_model():
    """MLP(3, [4, 4, 1]) of tanh neurons, as in the lecture, always with the same weights."""
    random.seed(SEED)
    return MLP(3, [4, 4, 1], activation="tanh", fused=False)


def squared_error_gradient():
    """The gradient of the lecture's loss at the starting weights."""
    model = lecture_model()
    loss = sum((model(x) - y) ** 2 for x, y in zip(XS, YS))
    loss.backward()
    return [p.grad for p in model.parameters()]


def _steps(learner, steps, learning_rate):
    """Run the learner's train on a fresh model: (its losses, how far each parameter moved)."""
    train = require(learner, "train", "a function train(model, xs, ys, steps, learning_rate)")
    model = lecture_model()
    before = [p.data for p in model.parameters()]
    losses = train(model, [list(x) for x in XS], list(YS), steps, learning_rate)
    moved = [p.data - b for p, b in zip(model.parameters(), before)]
    return losses, moved


def _dot(u, v):
    return sum(a * b for a, b in zip(u, v))


def _norm(u):
    return math.sqrt(_dot(u, u))


@checks("the loss falls: 20 steps at learning_rate 0.1 on the lecture's four examples")
def _falls(learner):
    losses, _ = _steps(learner, 20, 0.1)
    if not isinstance(losses, (list, tuple)):
        raise Mistake(f"train(...) should return the list of losses, one per step; yours returned "
                      f"{type(losses).__name__} {losses!r}.")
    if len(losses) != 20:
        raise Mistake(f"train(model, xs, ys, 20, 0.1) should return 20 losses, one per step; "
                      f"yours returned a list of {len(losses)}.")
    values = [number_of(v, f"loss {i}") for i, v in enumerate(losses)]
    first, last = values[0], values[-1]
    if not all(math.isfinite(v) for v in values):
        raise Mistake(f"the loss became {num(next(v for v in values if not math.isfinite(v)))}: "
                      "the steps are far too large (is learning_rate used as given?).")
    if last >= first:
        raise Mistake(f"the loss does not fall: {num(first)} at the first step, {num(last)} at the "
                      "last. If it rises, the step goes up the gradient: p.data += "
                      "-learning_rate * p.grad (see the check of the step's sign).")
    if last > 0.5 * first:
        raise Mistake(f"the loss falls too little: from {num(first)} to {num(last)} in 20 steps "
                      "(the lecture's loop gets below half of where it started). Do you update "
                      "every parameter, every step?")
    return f"loss {num(first, 4)} at the first step, {num(last, 4)} at the last."


@checks("each step goes against the gradient (the learning rate's sign)")
def _sign(learner):
    _, moved = _steps(learner, 1, TINY)
    gradient = squared_error_gradient()
    if _norm(moved) == 0:
        raise Mistake("after one step the parameters have not moved: update each parameter's "
                      "data in place, p.data += -learning_rate * p.grad, for p in "
                      "model.parameters().")
    cos = -_dot(moved, gradient) / (_norm(moved) * _norm(gradient))
    if cos < -0.99:
        raise Mistake("the learning rate's sign: one step moves the parameters up the gradient, "
                      "so the loss grows. The gradient points to where the loss increases; step "
                      "the other way: p.data += -learning_rate * p.grad.")
    if cos < 0.99:
        raise Mistake(f"one step does not move the parameters along minus the gradient of the "
                      f"squared error (cosine {cos:.3f}, expected 1.0): is the loss "
                      "sum((yout - ygt)**2 ...) over all four examples, and backward() called "
                      "on it before the update?")
    scale = _norm(moved) / (TINY * _norm(gradient))
    if not 0.01 < scale < 100:
        raise Mistake(f"with learning_rate = {TINY:g}, one step moved the parameters {scale:.3g} "
                      "times as far as learning_rate * gradient: use the learning_rate argument "
                      "rather than a number of your own.")


@checks("the gradients are zeroed before every backward() (zero_grad)")
def _zero_grad(learner):
    _, one = _steps(learner, 1, TINY)
    _, three = _steps(learner, 3, TINY)
    if _norm(one) == 0:
        raise Mistake("after one step the parameters have not moved (see the check above).")
    ratio = _dot(three, one) / _dot(one, one)
    if abs(ratio - 6) < 0.3:
        raise Mistake("forgot zero_grad: the gradients are never reset, so every backward() adds "
                      "to the last step's gradients. With a tiny learning rate, 3 steps moved "
                      f"the parameters {ratio:.2f} times as far as 1 step (1 + 2 + 3 = 6, the "
                      "gradients piling up), not 3. Before loss.backward(), set p.grad = 0.0 for "
                      "every parameter (the lecture's fix; model.zero_grad() does it too).")
    if abs(ratio - 3) > 0.3:
        raise Mistake(f"with a tiny learning rate, 3 steps should move the parameters 3 times as "
                      f"far as 1 step (the gradient barely changes); yours moved them "
                      f"{ratio:.2f} times as far. Does every step do one forward, one backward "
                      "and one update?")
