"""A model's weights as plain numbers: snapshots, and the forward pass on many points at once.

Several front ends need these (the plots, the lab, the CLI's GIF snapshots), so they live here,
below all of them. numpy is imported only by `numpy_forward`.
"""
from micrograd.engine import OPS
from micrograd.nn import ACTIVATIONS

__all__ = ["get_weights", "set_weights", "numpy_forward"]


def get_weights(model):
    """All parameters' values, in model.parameters() order (a snapshot for later)."""
    return [p.data for p in model.parameters()]


def set_weights(model, weights):
    """Put a snapshot from get_weights back (the same architecture's)."""
    params = model.parameters()
    if len(params) != len(weights):
        raise ValueError(f"the model has {len(params)} parameters, the snapshot {len(weights)}")
    for p, w in zip(params, weights):
        p.data = float(w)


def _numpy_activations():
    """nn.ACTIVATIONS, each the engine's own row run on a numpy array (one rule per op: the
    primitives give a plain array numpy's exp/tanh/where)."""
    rows = {"relu": OPS["ReLU"].forward, "tanh": OPS["tanh"].forward,
            "sigmoid": OPS["sigmoid"].forward, "linear": lambda a: a}
    return {name: rows[name] for name in ACTIVATIONS}


def numpy_forward(model, pts):
    """An nn.MLP's forward pass on many points at once, with numpy (a picture needs tens of
    thousands of evaluations): `pts` is an (n, nin) array, the result the (n, nout) array of
    the last layer's outputs. Give it the first few layers (any object with `.layers`) to get
    the hidden neurons' outputs instead. None if the model is not a plain MLP of known
    activations. The numbers are numpy's float64 matrix products, equal to the engine's up to
    rounding (not bit for bit: a picture does not need that, training does)."""
    import numpy as np
    acts = _numpy_activations()
    try:
        a = pts
        for layer in model.layers:
            neurons = layer.neurons
            W = np.array([[w.data for w in n.w] for n in neurons], dtype=float)
            b = np.array([n.b.data for n in neurons], dtype=float)
            if W.shape[1] != a.shape[1]:
                return None
            fs = {n.activation for n in neurons}
            if len(fs) != 1 or not fs <= acts.keys():
                return None
            with np.errstate(all="ignore"):
                a = acts[fs.pop()](a @ W.T + b)
        return a
    except (AttributeError, TypeError):
        return None
