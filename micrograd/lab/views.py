"""What the page is shown of a run: the decision boundary, every hidden neuron's heat map and
the network's weights and grads, all from the last published snapshot, with numpy (via
micrograd.viz.plots' vectorised forward pass), cached per snapshot version. Numbers JSON cannot
carry (a diverged run's inf and NaN) are sent as null.
"""
import base64
import math
from types import SimpleNamespace

import numpy as np

from micrograd.lab.settings import FEATURES, featurize
from micrograd.viz import plots

__all__ = ["view", "network", "finite_list", "BOUNDARY_GRID", "NEURON_GRID"]

BOUNDARY_GRID = 64        # the decision boundary is evaluated on 64 x 64 points
NEURON_GRID = 24          # each hidden neuron on 24 x 24


def _bytes(a):
    """Values in [-1, 1] as base64 bytes 0..255 (what the page paints)."""
    q = np.clip(np.rint((np.asarray(a, dtype=np.float64) + 1) * 127.5), 0, 255)
    return base64.b64encode(q.astype(np.uint8).tobytes()).decode("ascii")


def _grid(bounds, n):
    x0, x1, y0, y1 = bounds
    xs = x0 + (np.arange(n) + 0.5) * (x1 - x0) / n
    ys = y1 - (np.arange(n) + 0.5) * (y1 - y0) / n           # row 0 at the top
    xx, yy = np.meshgrid(xs, ys)
    return np.column_stack([xx.ravel(), yy.ravel()])


def finite_list(values):
    return [v if math.isfinite(v) else None for v in map(float, values)]


def view(run):
    """Heat maps and the network at the last published step (cached per version)."""
    if run.view is not None and run.view["version"] == run.version:
        return run.view
    model = run.view_model
    plots.set_weights(model, run.weights)
    with np.errstate(all="ignore"):
        Z = plots.numpy_forward(model, featurize(run.settings, _grid(run.bounds, BOUNDARY_GRID)))
        inputs = featurize(run.settings, _grid(run.bounds, NEURON_GRID))
        pts = inputs
        hidden = [plots.numpy_forward(SimpleNamespace(layers=model.layers[:i + 1]), pts)
                  for i in range(len(model.layers) - 1)]
    if Z.shape[1] == 1:                      # one score: its sign is the class
        cls = (Z[:, 0] > 0).astype(float)
        strength = np.abs(np.tanh(Z[:, 0]))
    else:                                    # K scores: the argmax, and how sure it is
        p = np.exp(Z - Z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        cls = p.argmax(axis=1).astype(float)
        k = Z.shape[1]
        strength = (p.max(axis=1) - 1 / k) / (1 - 1 / k)
    strength = np.nan_to_num(strength)
    neurons = []
    for A in hidden:
        for j in range(A.shape[1]):
            a = np.nan_to_num(A[:, j], posinf=0.0, neginf=0.0)
            top = float(np.max(np.abs(a)))
            neurons.append({"img": _bytes(a / top if top > 0 else a),
                            "range": [float(a.min()), float(a.max())]})
    features = []                            # each input over the plane, as the neurons are
    for j in range(inputs.shape[1]):
        a = inputs[:, j]
        top = float(np.max(np.abs(a)))
        features.append({"img": _bytes(a / top if top > 0 else a)})
    run.view = {"version": run.version, "step": run.step, "inputs": features,
                "boundary": {"n": BOUNDARY_GRID, "cls": _bytes(cls * 2 / 255 - 1),
                             "strength": _bytes(strength * 2 - 1)},
                "neurons": {"n": NEURON_GRID, "maps": neurons},
                "network": network(run)}
    return run.view

def network(run):
    """Layer sizes and every weight and grad, per layer as [neuron][input..., bias]."""
    sizes = [len(run.settings.features)] + [len(layer.neurons) for layer in run.view_model.layers]
    w, g, i = [], [], 0
    for nin, nout in zip(sizes, sizes[1:]):
        n = nout * (nin + 1)
        w.append(finite_list(run.weights[i:i + n]))
        g.append(finite_list(run.grads[i:i + n]))
        i += n
    acts = [layer.neurons[0].activation for layer in run.view_model.layers]
    return {"sizes": sizes, "activations": acts, "weights": w, "grads": g,
            "features": [FEATURES[f][0] for f in run.settings.features]}
