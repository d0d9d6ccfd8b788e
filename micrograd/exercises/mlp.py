"""Exercise `mlp`: the lecture's Neuron, Layer and MLP, checked for shape, numbers and order.

Weights are set through the lecture's attributes (mlp.layers, layer.neurons, neuron.w and .b),
so that the forward and backward numbers can be compared with the same network built on
micrograd's engine, whatever order the learner's parameters() gives.
"""
import random

from micrograd.engine import Value as EngineValue
from micrograd.exercises.checking import Checklist, Mistake, close, number_of, pair, starter
from micrograd.exercises.neuron import (IMPORTS, NEURON_CLASS, expected_neuron, make,
                                        neuron_mistake, output_number, set_weights, weights_of)

NAME = "mlp"
SUMMARY = ("Write the lecture's Neuron, Layer and MLP: MLP(3, [4, 4, 1]) has 41 parameters, "
           "gives the lecture's numbers and lists its parameters layer by layer.")
TIMEOUT_HINT = "For example a loop over the layers that never reaches the last one."

STARTER = starter("mlp", "a multi-layer perceptron, the lecture's way.",
                  IMPORTS + NEURON_CLASS + '''

class Layer:

    def __init__(self, nin, nout):
        # TODO: self.neurons, nout Neurons of nin inputs each
        pass

    def __call__(self, x):
        # TODO: every neuron's output, in a list; just the Value when there is one neuron
        pass

    def parameters(self):
        # TODO: every neuron's parameters, neuron after neuron
        return []


class MLP:

    def __init__(self, nin, nouts):
        # TODO: self.layers, one Layer per size in nouts: MLP(3, [4, 4, 1]) is 3 -> 4 -> 4 -> 1
        pass

    def __call__(self, x):
        # TODO: feed x through the layers in turn
        pass

    def parameters(self):
        # TODO: every layer's parameters, layer after layer
        return []
''')

checks = Checklist()
CHECKS = checks
LECTURE_X = [2.0, 3.0, -1.0]


def layers_of(mlp, where):
    layers = getattr(mlp, "layers", None)
    if not isinstance(layers, (list, tuple)):
        raise Mistake(f"{where} should keep its layers in self.layers (a list of Layers), as the "
                      f"lecture does; yours has layers = {layers!r}.")
    return [neurons_of(layer, f"{where}.layers[{i}]") for i, layer in enumerate(layers)]


def neurons_of(layer, where):
    neurons = getattr(layer, "neurons", None)
    if not isinstance(neurons, (list, tuple)):
        raise Mistake(f"{where} should keep its neurons in self.neurons (a list of Neurons), as "
                      f"the lecture does; yours has neurons = {neurons!r}.")
    return list(neurons)


def lecture_order(layers):
    """The parameters as the lecture lists them: layer by layer, neuron by neuron, w then b."""
    out = []
    for neurons in layers:
        for n in neurons:
            w, b = weights_of(n)
            out += w + [b]
    return out


def given_weights(layers, seed=5):
    """Set every weight and bias to a known number; returns them, neuron by neuron."""
    rng, values = random.Random(seed), []
    for neurons in layers:
        for n in neurons:
            w = [round(rng.uniform(-1, 1), 3) for _ in weights_of(n)[0]]
            b = round(rng.uniform(-1, 1), 3)
            set_weights(n, w, b)
            values.append((w, b))
    return values


def reference(layers, values, x):
    """The same network on micrograd's engine: (output Value, parameters in lecture order)."""
    params, it = [], iter(values)
    for neurons in layers:
        outs = []
        for _ in neurons:
            w, b = next(it)
            ws, bv = [EngineValue(v) for v in w], EngineValue(b)
            params += ws + [bv]
            outs.append(sum((wi * xi for wi, xi in zip(ws, x)), bv).tanh())
        x = outs
    return (x[0] if len(x) == 1 else x), params


@checks("Layer(3, 4): four neurons of three inputs, four outputs")
def _layer(learner):
    layer = make(learner, "Layer", 3, 4)
    neurons = neurons_of(layer, "Layer(3, 4)")
    if len(neurons) != 4 or any(len(weights_of(n)[0]) != 3 for n in neurons):
        raise Mistake(f"Layer(3, 4) should hold 4 neurons of 3 weights each; yours holds "
                      f"{len(neurons)} with {[len(weights_of(n)[0]) for n in neurons]} weights.")
    values = given_weights([neurons])
    out = layer(LECTURE_X)
    if not isinstance(out, (list, tuple)) or len(out) != 4:
        raise Mistake(f"Layer(3, 4)(x) should give a list of 4 Values, one per neuron; yours "
                      f"gives {out!r}.")
    for i, ((w, b), o) in enumerate(zip(values, out)):
        got = number_of(o, f"output {i}")
        if not close(got, expected_neuron(w, b, LECTURE_X)):
            raise neuron_mistake(w, b, LECTURE_X, got, f"Layer(3, 4)(x)[{i}], x = {LECTURE_X}")
    params = list(layer.parameters())
    if [id(p) for p in params] != [id(p) for p in lecture_order([neurons])]:
        raise Mistake(f"Layer(3, 4).parameters() should list the 16 Values neuron after neuron "
                      f"(each neuron's w, then its b), the very Values; yours lists "
                      f"{len(params)}, not in that order.")


@checks("Layer(3, 1)(x) gives one Value, not a list of one")
def _single(learner):
    out = make(learner, "Layer", 3, 1)(LECTURE_X)
    if isinstance(out, (list, tuple)):
        raise Mistake("a layer of one neuron should give its Value itself (the lecture's "
                      "`return outs[0] if len(outs) == 1 else outs`), so that MLP(3, [4, 4, 1])"
                      " gives a Value the loss can use; yours gives a list of "
                      f"{len(out)}.")
    output_number(out, "Layer(3, 1)(x)")


@checks("MLP(3, [4, 4, 1]): layers 3 -> 4 -> 4 -> 1 and 41 parameters")
def _shape(learner):
    mlp = make(learner, "MLP", 3, [4, 4, 1])
    layers = layers_of(mlp, "MLP(3, [4, 4, 1])")
    shape = [(len(weights_of(ns[0])[0]) if ns else 0, len(ns)) for ns in layers]
    if shape != [(3, 4), (4, 4), (4, 1)]:
        raise Mistake("MLP(3, [4, 4, 1]) should have 3 layers, (inputs, neurons) = "
                      f"[(3, 4), (4, 4), (4, 1)]; yours are {shape}. Each layer's inputs are the "
                      "previous layer's outputs: sz = [nin] + nouts.")
    n = len(list(mlp.parameters()))
    if n != 41:
        raise Mistake(f"MLP(3, [4, 4, 1]).parameters() should list 41 Values (16 + 20 + 5); "
                      f"yours lists {n}.")


@checks("MLP.parameters(): layer by layer, neuron by neuron, each neuron's w then b")
def _order(learner):
    mlp = make(learner, "MLP", 3, [4, 4, 1])
    want = lecture_order(layers_of(mlp, "MLP(3, [4, 4, 1])"))
    got = list(mlp.parameters())
    if [id(p) for p in got] != [id(p) for p in want]:
        first = next((i for i, (g, w) in enumerate(zip(got, want)) if g is not w),
                     min(len(got), len(want)))
        raise Mistake(f"MLP.parameters() should list the network's own Values in the lecture's "
                      "order (layer 0's neurons first, each neuron's weights then its bias); "
                      f"yours lists {len(got)} and differs from position {first} on. Optimizers "
                      "and saved models rely on this order.")


@checks("MLP(3, [4, 4, 1]) forward on the lecture's x = [2.0, 3.0, -1.0], for given weights")
def _forward(learner):
    mlp = make(learner, "MLP", 3, [4, 4, 1])
    layers = layers_of(mlp, "MLP(3, [4, 4, 1])")
    values = given_weights(layers)
    want = reference(layers, values, LECTURE_X)[0].data
    got = output_number(mlp(LECTURE_X), "MLP(3, [4, 4, 1])(x)")
    if not close(got, want):
        raise Mistake(f"MLP(3, [4, 4, 1])([2.0, 3.0, -1.0]) with every weight set: "
                      f"{pair(want, got)}. If the Layer check above passes, look at MLP: "
                      "feed each layer's outputs to the next, x = layer(x), and return the last.")


@checks("MLP backward: every parameter's grad, as micrograd's engine computes it")
def _backward(learner):
    mlp = make(learner, "MLP", 3, [4, 4, 1])
    layers = layers_of(mlp, "MLP(3, [4, 4, 1])")
    values = given_weights(layers)
    out, ref_params = reference(layers, values, LECTURE_X)
    out.backward()
    mlp(LECTURE_X).backward()
    for i, (p, r) in enumerate(zip(lecture_order(layers), ref_params)):
        got = number_of(p.grad, "a parameter's grad")
        if not close(got, r.grad):
            raise Mistake(f"after mlp(x).backward(), parameter {i} (lecture order) has grad: "
                          f"{pair(r.grad, got)}. If the forward check above passes, some "
                          "operation on the way is done on floats (.data) instead of Values, or a "
                          "grad is overwritten rather than accumulated.")
