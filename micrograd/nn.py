"""The neural-net library from the lecture: Module, Neuron, Layer, MLP.

Defaults are the original micrograd's, so that `random.seed(1337); MLP(2, [16, 16, 1])` draws
exactly the same initial weights: ReLU hidden layers, a linear output, biases starting at zero.
`activation='tanh'` builds the lecture's own network instead: tanh on every layer and biases
drawn at random, like the weights.
"""
import random
from numbers import Integral

from micrograd.engine import Value, linear

__all__ = ["Module", "Neuron", "Layer", "MLP", "ACTIVATIONS"]

# name -> how a neuron squashes its weighted sum
ACTIVATIONS = {
    "relu": Value.relu,
    "tanh": Value.tanh,
    "sigmoid": Value.sigmoid,
    "linear": None,
}
HIDDEN_ACTIVATIONS = tuple(name for name, squash in ACTIVATIONS.items() if squash)  # CLI, lab


def _check_activation(name):
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
    return name


def _check_size(what, n):
    if isinstance(n, bool) or not isinstance(n, Integral) or n < 1:
        raise ValueError(f"{what} must be a positive integer, got {n!r}")
    return int(n)


class Module:

    def zero_grad(self):
        for p in self.parameters():
            p.grad = 0

    def parameters(self):
        return []

    def summary(self):
        """One line, however big: MLP(2 → 16 → 16 → 1, relu, 337 parameters)."""
        return repr(self)

    # Notebooks show the summary; print() and repr() show the original's text.
    def _repr_pretty_(self, p, cycle):
        p.text(self.summary())

    def _repr_html_(self):
        import html
        return f"<code>{html.escape(self.summary())}</code>"


class Neuron(Module):
    """w . x + b, then the activation. `nonlin=False` makes it linear (the original's flag).

    `fused=True` computes w . x + b as one graph node (same number, same order of additions,
    many times faster); `fused=False` builds the lecture's graph, a * and a + node per input."""

    def __init__(self, nin, nonlin=True, activation="relu", random_bias=None, fused=False):
        nin = _check_size("Neuron(nin)", nin)
        self.activation = _check_activation(activation) if nonlin else "linear"
        self.w = [Value(random.uniform(-1, 1)) for _ in range(nin)]
        # The original starts biases at 0 (ReLU nets); the lecture draws them like the weights.
        if random_bias is None:
            random_bias = activation != "relu"
        self.b = Value(random.uniform(-1, 1) if random_bias else 0)
        self.fused = fused

    @property
    def nonlin(self):
        """The original's flag, read from the activation so the two cannot disagree."""
        return self.activation != "linear"

    def __call__(self, x):
        if not hasattr(x, "__len__"):
            raise TypeError(f"{self!r} takes a list of {len(self.w)} inputs, got {x!r}")
        if len(x) != len(self.w):       # the original's zip would silently drop the extra
            raise ValueError(f"{self!r} expects {len(self.w)} inputs, got {len(x)}")
        if self.fused:
            act = linear(self.w, x, self.b)
        else:
            act = self.b                # the original's sum(w*x for ..., b), spelled out
            for wi, xi in zip(self.w, x):
                act = act + wi * xi
        squash = ACTIVATIONS[self.activation]
        return squash(act) if squash else act

    def parameters(self):
        return self.w + [self.b]

    def __repr__(self):
        """The original's: ReLUNeuron(2), LinearNeuron(16)."""
        kind = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "linear": "Linear"}
        return f"{kind[self.activation]}Neuron({len(self.w)})"

    _repr_pretty_ = Module._repr_pretty_     # IPython takes the most specific of the two


class Layer(Module):
    """`nout` neurons reading the same inputs."""

    def __init__(self, nin, nout, **kwargs):
        _check_size("Layer(nout)", nout)
        self.neurons = [Neuron(nin, **kwargs) for _ in range(nout)]

    def __call__(self, x):
        out = self.forward(x)
        return out[0] if len(out) == 1 else out   # the original's convenience for one neuron

    def forward(self, x):
        """Always a list, even for one neuron (what MLP chains, so [16, 1, 1] works)."""
        return [n(x) for n in self.neurons]

    def parameters(self):
        return [p for n in self.neurons for p in n.parameters()]

    def __repr__(self):
        """The original's: Layer of [ReLUNeuron(2), ReLUNeuron(2)]."""
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"

    _repr_pretty_ = Module._repr_pretty_

    def summary(self):
        """One line, however wide: Layer(2 → 16, relu, 48 parameters)."""
        first = self.neurons[0]
        fused = ", fused" if first.fused else ""
        return (f"Layer({len(first.w)} → {len(self.neurons)}, {first.activation}, "
                f"{len(self.parameters())} parameters{fused})")


class MLP(Module):
    """Layers in a row. Hidden layers use `activation`; the last layer uses `output_activation`,
    which defaults to linear for ReLU nets (the original) and to `activation` otherwise (the
    lecture's all-tanh net)."""

    def __init__(self, nin, nouts, activation="relu", output_activation=None, random_bias=None,
                 fused=False):
        nin = _check_size("MLP(nin)", nin)
        sizes = list(nouts) if hasattr(nouts, "__iter__") else []   # a generator reads once
        if not sizes:
            raise ValueError(f"MLP(nouts) must be a non-empty list of layer sizes, got {nouts!r}")
        nouts = sizes
        _check_activation(activation)
        if output_activation is None:
            output_activation = "linear" if activation == "relu" else activation
        _check_activation(output_activation)
        sz = [nin] + nouts
        self.layers = [
            Layer(sz[i], sz[i + 1],
                  activation=activation if i != len(nouts) - 1 else output_activation,
                  random_bias=random_bias if random_bias is not None else activation != "relu",
                  fused=fused)
            for i in range(len(nouts))
        ]

    def __call__(self, x):
        x = list(x)
        for layer in self.layers:
            x = layer.forward(x)
        return x[0] if len(x) == 1 else x

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]

    def __repr__(self):
        """The original's: MLP of [Layer of [ReLUNeuron(2), ...], Layer of [...]]."""
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"

    _repr_pretty_ = Module._repr_pretty_

    def summary(self):
        """One line, however deep: MLP(2 → 16 → 16 → 1, relu, 337 parameters). The output
        layer's activation is named only where it is not the default for `activation`."""
        neurons = [layer.neurons[0] for layer in self.layers]
        sizes = " → ".join(str(n) for n in [len(neurons[0].w)] + [len(l.neurons) for l in self.layers])
        hidden, out = neurons[0].activation, neurons[-1].activation
        if len(neurons) == 1:
            kind = out
        else:
            default_out = "linear" if hidden == "relu" else hidden
            kind = hidden + ("" if out == default_out else f", {out} output")
        fused = ", fused" if neurons[0].fused else ""
        return f"MLP({sizes}, {kind}, {len(self.parameters())} parameters{fused})"
