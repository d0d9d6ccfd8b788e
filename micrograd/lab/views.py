"""What the page is shown of a run: the decision boundary, every hidden neuron's heat map, each
input over the plane, and the network's weights and grads, all from the last published snapshot,
cached per snapshot version. Numbers JSON cannot carry (a diverged run's inf and NaN) are sent
as null.

Two ways to the same pictures: `view` with numpy (micrograd.weights' vectorised forward pass),
for `micrograd lab`; `python_view` in plain Python, for the site, whose Python has no numpy. The
pictures are bytes 0..255, so the two agree but for a rare last-bit rounding at a byte's edge.
"""
import base64
import math
from types import SimpleNamespace

from micrograd.lab.settings import FEATURES, featurize, features_of
from micrograd.weights import set_weights

__all__ = ["view", "python_view", "network", "finite_list", "BOUNDARY_GRID", "NEURON_GRID"]

BOUNDARY_GRID = 64        # the decision boundary is evaluated on 64 x 64 points
NEURON_GRID = 24          # each hidden neuron on 24 x 24


def _bytes(a):
    """Values in [-1, 1] as base64 bytes 0..255 (what the page paints)."""
    import numpy as np
    q = np.clip(np.rint((np.asarray(a, dtype=np.float64) + 1) * 127.5), 0, 255)
    return base64.b64encode(q.astype(np.uint8).tobytes()).decode("ascii")


def _grid(bounds, n):
    import numpy as np
    x0, x1, y0, y1 = bounds
    xs = x0 + (np.arange(n) + 0.5) * (x1 - x0) / n
    ys = y1 - (np.arange(n) + 0.5) * (y1 - y0) / n           # row 0 at the top
    xx, yy = np.meshgrid(xs, ys)
    return np.column_stack([xx.ravel(), yy.ravel()])


def finite_list(values):
    return [v if math.isfinite(v) else None for v in map(float, values)]


def view(run):
    """Heat maps and the network at the last published step (cached per version)."""
    import numpy as np

    from micrograd.weights import numpy_forward
    if run.view is not None and run.view["version"] == run.version:
        return run.view
    model = run.view_model
    set_weights(model, run.weights)
    with np.errstate(all="ignore"):
        Z = numpy_forward(model, featurize(run.settings, _grid(run.bounds, BOUNDARY_GRID),
                                           picture=True))
        inputs = featurize(run.settings, _grid(run.bounds, NEURON_GRID), picture=True)
        pts = inputs
        hidden = [numpy_forward(SimpleNamespace(layers=model.layers[:i + 1]), pts)
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


# ---------------------------------------------------------------------------------------------
# The same pictures in plain Python (the site)
# ---------------------------------------------------------------------------------------------
def _python_bytes(values):
    """_bytes without numpy: numpy's rint rounds half to even, as round() does."""
    out = bytearray()
    for v in values:
        q = (v + 1) * 127.5
        out.append(0 if not q > 0 else 255 if q >= 255 else int(round(q)))
    return base64.b64encode(bytes(out)).decode("ascii")


def _python_grid(bounds, n):
    x0, x1, y0, y1 = bounds
    xs = [x0 + (i + 0.5) * (x1 - x0) / n for i in range(n)]
    ys = [y1 - (i + 0.5) * (y1 - y0) / n for i in range(n)]
    return [[x, y] for y in ys for x in xs]


def _act(name, z):                   # the engine's rows, on one number (nn.ACTIVATIONS)
    if name == "relu":
        return z if z > 0 else 0.0
    if name == "tanh":
        return math.tanh(z)
    if name == "sigmoid":
        e = math.exp(-abs(z))
        return 1 / (1 + e) if z >= 0 else e / (1 + e)
    return z


def _layer_outputs(weights, sizes, acts, pts):
    """Every layer's outputs at every point: out[layer][point] = [neuron values]."""
    out, i, current = [], 0, pts
    for li, (nin, nout) in enumerate(zip(sizes, sizes[1:])):
        rows = [weights[i + j * (nin + 1): i + (j + 1) * (nin + 1)] for j in range(nout)]
        i += nout * (nin + 1)
        act = acts[li]
        current = [[_act(act, sum(w * x for w, x in zip(r, p)) + r[nin]) for r in rows]
                   for p in current]
        out.append(current)
    return out


def python_view(run, fresh=True, sin=math.sin):
    """`view` in plain Python. It takes a good part of a second in the browser, so while the
    run plays (fresh=False) a new one is made only once training has had four times that long
    since the last; meanwhile the page keeps the one it has."""
    import time
    if run.view is not None and (run.view["version"] == run.version or not fresh and
                                 time.monotonic() - run.view_made < 4 * run.view_cost):
        return run.view
    began = time.monotonic()
    layers = run.view_model.layers
    sizes = [len(run.settings.features)] + [len(layer.neurons) for layer in layers]
    acts = [layer.neurons[0].activation for layer in layers]
    Z = _layer_outputs(run.weights, sizes, acts,
                       features_of(run.settings, _python_grid(run.bounds, BOUNDARY_GRID), sin))[-1]
    inputs = features_of(run.settings, _python_grid(run.bounds, NEURON_GRID), sin)
    hidden = _layer_outputs(run.weights, sizes[:-1], acts[:-1], inputs) if len(sizes) > 2 else []
    cls, strength = [], []
    for z in Z:
        if len(z) == 1:
            cls.append(1.0 if z[0] > 0 else 0.0)
            strength.append(abs(math.tanh(z[0])))
        else:
            top = max(z)
            p = [math.exp(v - top) if math.isfinite(v - top) else 0.0 for v in z]
            total = sum(p) or 1.0
            p = [v / total for v in p]
            best = max(range(len(p)), key=p.__getitem__)
            cls.append(float(best))
            k = len(z)
            strength.append((p[best] - 1 / k) / (1 - 1 / k))
    strength = [v if math.isfinite(v) else 0.0 for v in strength]
    neurons = []
    for A in hidden:
        for j in range(len(A[0])):
            a = [row[j] if math.isfinite(row[j]) else 0.0 for row in A]
            neurons.append({"img": _python_bytes(_scaled(a)), "range": [min(a), max(a)]})
    features = [{"img": _python_bytes(_scaled([p[j] for p in inputs]))}
                for j in range(len(run.settings.features))]
    run.view = {"version": run.version, "step": run.step, "inputs": features,
                "boundary": {"n": BOUNDARY_GRID,
                             "cls": _python_bytes([c * 2 / 255 - 1 for c in cls]),
                             "strength": _python_bytes([v * 2 - 1 for v in strength])},
                "neurons": {"n": NEURON_GRID, "maps": neurons},
                "network": network(run)}
    run.view_made = time.monotonic()
    run.view_cost = run.view_made - began
    return run.view


def _scaled(a):
    top = max(abs(v) for v in a)
    return [v / top for v in a] if top > 0 else a
