"""micrograd MLP <-> PyTorch nn.Sequential, with the weights copied exactly.

    net = to_torch(model)        # nn.Sequential of float64 Linear + ReLU/Tanh/Sigmoid
    model = from_torch(net)      # back, bit for bit

Why: PyTorch is the reference the lecture checks micrograd against. With the same weights in
both, outputs and gradients can be compared directly, a model trained here can be used there,
and one trained there can be inspected here, down to the single scalar.
"""
import torch
from torch import nn

from micrograd.io import build_mlp

__all__ = ["to_torch", "from_torch"]

_TO_TORCH = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
_FROM_TORCH = {cls: name for name, cls in _TO_TORCH.items()}


def to_torch(mlp):
    """An nn.Sequential computing the same function as `mlp`, in float64: one nn.Linear per
    layer (row j of its weight is neuron j's w), each followed by its activation module unless
    the layer is linear. Does not touch torch's random state."""
    modules = []
    for i, layer in enumerate(mlp.layers):
        acts = {n.activation for n in layer.neurons}
        if len(acts) != 1:
            raise ValueError(f"layer {i} mixes activations {sorted(acts)}; a torch Linear layer "
                             f"is followed by one activation")
        act = acts.pop()
        linear = nn.utils.skip_init(nn.Linear, len(layer.neurons[0].w), len(layer.neurons),
                                    dtype=torch.float64)      # no random init to overwrite
        with torch.no_grad():
            linear.weight.copy_(torch.tensor([[w.data for w in n.w] for n in layer.neurons],
                                             dtype=torch.float64))
            linear.bias.copy_(torch.tensor([n.b.data for n in layer.neurons],
                                           dtype=torch.float64))
        modules.append(linear)
        if act != "linear":
            modules.append(_TO_TORCH[act]())
    return nn.Sequential(*modules)


def from_torch(module):
    """The micrograd MLP equal to `module`: an nn.Sequential of nn.Linear layers, each followed
    by at most one nn.ReLU/nn.Tanh/nn.Sigmoid (or a lone nn.Linear). Weights of any float dtype
    are converted to float64 exactly. Anything else is refused, naming the layer."""
    if type(module) is nn.Linear:
        module = nn.Sequential(module)
    if type(module) is not nn.Sequential:
        raise ValueError(f"from_torch needs an nn.Sequential of Linear and "
                         f"{'/'.join(c.__name__ for c in _FROM_TORCH)} layers, "
                         f"got {type(module).__name__}")
    spec, nin, after_linear = [], None, False
    for i, m in enumerate(module):
        if type(m) is nn.Linear:
            if spec and m.in_features != len(spec[-1][1]):
                raise ValueError(f"layer {i} ({m}) takes {m.in_features} inputs but the layer "
                                 f"before gives {len(spec[-1][1])}")
            nin = m.in_features if nin is None else nin
            w = m.weight.detach().to(torch.float64).tolist()
            b = [0.0] * m.out_features if m.bias is None else \
                m.bias.detach().to(torch.float64).tolist()
            spec.append(["linear", list(zip(w, b))])
            after_linear = True
        elif type(m) in _FROM_TORCH:
            if not after_linear:
                raise ValueError(f"layer {i} ({m}) must follow a Linear layer: micrograd applies "
                                 f"one activation per layer")
            spec[-1][0] = _FROM_TORCH[type(m)]
            after_linear = False
        else:
            raise ValueError(f"unsupported layer {i}: {m} ({type(m).__name__}); micrograd MLPs "
                             f"have Linear, {', '.join(c.__name__ for c in _FROM_TORCH)} only")
    if not spec:
        raise ValueError("from_torch got an empty nn.Sequential")
    return build_mlp(nin, spec)
