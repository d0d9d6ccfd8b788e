"""micrograd <-> PyTorch: same outputs, same gradients, exact round trips, clear refusals."""
import os
import random
import subprocess
import sys

import pytest
import torch
from torch import nn

from micrograd.bridge.torch import from_torch, to_torch
from micrograd.losses import mse
from micrograd.nn import MLP
from reference import close

X = [[0.5, -1.0, 2.0], [1.5, 0.3, -0.7], [-0.2, 0.8, 0.1], [2.0, -1.5, 0.4]]
Y = [1.0, -0.5, 0.25, 2.0]
NETS = {
    "relu": dict(nouts=[8, 8, 1]),
    "tanh": dict(nouts=[4, 4, 1], activation="tanh"),
    "sigmoid": dict(nouts=[5, 2], activation="sigmoid", output_activation="linear"),
    "16-1-1": dict(nouts=[16, 1, 1]),
}


def make(kind, seed=5):
    random.seed(seed)
    return MLP(3, **NETS[kind])


def as_list(out):
    return [v.data for v in (out if isinstance(out, list) else [out])]


@pytest.mark.parametrize("kind", list(NETS))
def test_same_outputs_and_gradients(kind):
    model = make(kind)
    net = to_torch(model)
    assert all(p.dtype == torch.float64 for p in net.parameters())
    outs = [model(x) for x in X]
    touts = net(torch.tensor(X, dtype=torch.float64))
    for ours, theirs in zip(outs, touts.tolist()):
        assert all(close(a, b) for a, b in zip(as_list(ours), theirs)), (ours, theirs)

    loss = mse([o if not isinstance(o, list) else o[0] for o in outs], Y)
    loss.backward()
    tloss = nn.functional.mse_loss(touts[:, 0], torch.tensor(Y, dtype=torch.float64))
    tloss.backward()
    assert close(loss.data, tloss.item())
    linears = [m for m in net if isinstance(m, nn.Linear)]
    for layer, lin in zip(model.layers, linears):
        for j, n in enumerate(layer.neurons):
            for k, w in enumerate(n.w):
                assert close(w.grad, lin.weight.grad[j, k].item()), (j, k)
            assert close(n.b.grad, lin.bias.grad[j].item()), j


@pytest.mark.parametrize("kind", list(NETS))
def test_round_trip_is_exact(kind):
    model = make(kind)
    back = from_torch(to_torch(model))
    assert [p.data for p in back.parameters()] == [p.data for p in model.parameters()]
    assert [[n.activation for n in layer.neurons] for layer in back.layers] == \
           [[n.activation for n in layer.neurons] for layer in model.layers]
    for x in X:
        assert as_list(back(x)) == as_list(model(x))


def test_torch_net_round_trip_and_float32():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 4), nn.ReLU(),
                        nn.Linear(4, 2), nn.Sigmoid())           # float32, mixed activations
    model = from_torch(net)
    assert [n.activation for n in (layer.neurons[0] for layer in model.layers)] == \
           ["tanh", "relu", "sigmoid"]
    again = to_torch(model)
    for a, b in zip(net.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a.double(), b)                        # float32 -> float64 is exact
    assert [type(m) for m in again] == [type(m) for m in net]


def test_lone_linear_and_no_bias():
    lin = nn.Linear(2, 3, bias=False, dtype=torch.float64)
    model = from_torch(lin)
    assert [n.b.data for n in model.layers[0].neurons] == [0.0, 0.0, 0.0]
    assert [[w.data for w in n.w] for n in model.layers[0].neurons] == lin.weight.tolist()
    assert model.layers[0].neurons[0].activation == "linear"


def test_to_torch_leaves_both_random_states_alone():
    model = make("relu")
    state, py_state = torch.get_rng_state(), random.getstate()
    to_torch(model)
    from_torch(to_torch(model))
    assert torch.equal(state, torch.get_rng_state()) and py_state == random.getstate()


@pytest.mark.parametrize("module, message", [
    (nn.Sequential(nn.Linear(2, 3), nn.LeakyReLU(), nn.Linear(3, 1)),
     "unsupported layer 1: LeakyReLU"),
    (nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.5)), "unsupported layer 1: Dropout"),
    (nn.Sequential(nn.Sequential(nn.Linear(2, 1))), "unsupported layer 0: Sequential"),
    (nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Tanh()), r"layer 2 \(Tanh\(\)\) must follow"),
    (nn.Sequential(nn.ReLU(), nn.Linear(2, 3)), r"layer 0 \(ReLU\(\)\) must follow"),
    (nn.Sequential(nn.Linear(2, 3), nn.Linear(4, 1)), "layer 1 .* takes 4 inputs but the "
                                                      "layer before gives 3"),
    (nn.Sequential(), "empty"),
    (nn.Conv1d(1, 1, 3), "got Conv1d"),
    (nn.LazyLinear(3), "got LazyLinear"),
])
def test_unsupported_modules_are_named(module, message):
    with pytest.raises(ValueError, match=message):
        from_torch(module)


def test_importing_the_bridge_package_does_not_import_torch():
    root = os.path.join(os.path.dirname(__file__), "..")
    code = "import sys, micrograd.bridge; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)
