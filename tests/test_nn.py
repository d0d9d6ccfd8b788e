"""nn: the original's signatures, defaults and weights; the lecture's network; PyTorch parity."""
import random

import pytest
import torch

from micrograd.engine import Value
from micrograd.nn import MLP, Layer, Module, Neuron

XS = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
YS = [1.0, -1.0, -1.0, 1.0]


def test_default_mlp_draws_the_originals_weights_in_the_originals_order():
    random.seed(1337)
    model = MLP(2, [16, 16, 1])
    random.seed(1337)
    expected = []
    for nin, nout in [(2, 16), (16, 16), (16, 1)]:
        for _ in range(nout):
            expected += [random.uniform(-1, 1) for _ in range(nin)] + [0.0]   # biases start at 0
    assert [p.data for p in model.parameters()] == expected
    assert len(model.parameters()) == 337


def test_lecture_network_draws_random_biases_and_uses_tanh_everywhere():
    random.seed(0)
    model = MLP(3, [4, 4, 1], activation="tanh")
    random.seed(0)
    expected = [random.uniform(-1, 1) for _ in range(4 * 4 + 4 * 5 + 5)]
    assert [p.data for p in model.parameters()] == expected
    assert all(n.activation == "tanh" for layer in model.layers for n in layer.neurons)
    assert -1 < model(XS[0]).data < 1


def test_reprs_are_the_originals():
    random.seed(0)
    assert repr(Neuron(2)) == "ReLUNeuron(2)"
    assert repr(Neuron(2, nonlin=False)) == "LinearNeuron(2)"
    assert repr(Layer(2, 2)) == "Layer of [ReLUNeuron(2), ReLUNeuron(2)]"
    assert repr(MLP(2, [2, 1])) == ("MLP of [Layer of [ReLUNeuron(2), ReLUNeuron(2)], "
                                    "Layer of [LinearNeuron(2)]]")
    assert str(MLP(2, [16, 16, 1])) == repr(MLP(2, [16, 16, 1]))


def test_summaries_are_one_line_and_what_notebooks_show():
    random.seed(0)
    assert MLP(2, [16, 16, 1]).summary() == "MLP(2 → 16 → 16 → 1, relu, 337 parameters)"
    assert MLP(3, [4, 4, 1], activation="tanh").summary() == (
        "MLP(3 → 4 → 4 → 1, tanh, 41 parameters)")
    assert MLP(3, [1], activation="tanh").summary() == "MLP(3 → 1, tanh, 4 parameters)"
    assert MLP(2, [8, 1], output_activation="sigmoid", fused=True).summary() == (
        "MLP(2 → 8 → 1, relu, sigmoid output, 33 parameters, fused)")
    assert Layer(2, 16).summary() == "Layer(2 → 16, relu, 48 parameters)"
    assert MLP(2, [16, 16, 1]).layers[-1].summary() == "Layer(16 → 1, linear, 17 parameters)"
    assert Neuron(3).summary() == "ReLUNeuron(3)"
    model = MLP(2, [16, 16, 1])
    assert model._repr_html_() == "<code>MLP(2 → 16 → 16 → 1, relu, 337 parameters)</code>"
    from IPython.lib.pretty import pretty          # what IPython and Jupyter print
    assert pretty(model) == "MLP(2 → 16 → 16 → 1, relu, 337 parameters)"


def test_a_fresh_bias_is_the_int_zero_as_in_the_original():
    n = Neuron(2)
    assert n.b.data == 0 and type(n.b.data) is int and type(n.b.grad) is int
    n([1.0, 2.0]).backward()
    n.zero_grad()
    assert [type(p.grad) for p in n.parameters()] == [int] * 3


def test_hidden_layer_of_one_neuron_works():
    random.seed(1)
    model = MLP(2, [16, 1, 1])          # the original fails here: a Layer returns a bare Value
    out = model([0.5, -0.25])
    assert isinstance(out, Value)
    out.backward()
    assert any(p.grad != 0.0 for p in model.parameters())


def test_layer_of_one_neuron_returns_a_value_like_the_original():
    random.seed(1)
    assert isinstance(Layer(3, 1)([1.0, 2.0, 3.0]), Value)
    assert len(Layer(3, 2)([1.0, 2.0, 3.0])) == 2


def test_zero_grad_and_parameters():
    random.seed(2)
    model = MLP(3, [4, 1])
    model(XS[0]).backward()
    assert any(p.grad for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())
    assert Module().parameters() == []


@pytest.mark.parametrize("bad, message", [
    (lambda: Neuron(0), r"Neuron\(nin\) must be a positive integer, got 0"),
    (lambda: MLP(2, []), r"MLP\(nouts\) must be a non-empty list"),
    (lambda: MLP(2, 3), r"MLP\(nouts\) must be a non-empty list"),
    (lambda: MLP(2, [4, 0]), r"Layer\(nout\) must be a positive integer, got 0"),
    (lambda: MLP(2, [4], activation="swish"), r"unknown activation 'swish'; choose one of"),
    (lambda: MLP(2, [4], activation=["relu"]), r"unknown activation \['relu'\]"),
    (lambda: MLP(2, None), r"MLP\(nouts\) must be a non-empty list of layer sizes, got None"),
    (lambda: MLP(2, (n for n in [])), r"MLP\(nouts\) must be a non-empty list"),
])
def test_bad_construction_is_refused_by_name(bad, message):
    with pytest.raises(ValueError, match=message):
        bad()


def test_sizes_may_be_numpy_integers_and_generators():
    import numpy as np
    random.seed(0)
    model = MLP(np.int64(2), (n for n in np.array([16, 1])))
    assert model.summary() == "MLP(2 → 16 → 1, relu, 65 parameters)" and len(model.layers) == 2
    assert isinstance(model([1.0, 2.0]), Value)


def test_a_neuron_needs_a_list_of_inputs():
    random.seed(0)
    with pytest.raises(TypeError, match=r"ReLUNeuron\(2\) takes a list of 2 inputs, got 5"):
        Neuron(2)(5)


def test_wrong_number_of_inputs_is_refused():
    random.seed(0)
    with pytest.raises(ValueError, match=r"ReLUNeuron\(3\) expects 3 inputs, got 2"):
        MLP(3, [4, 1])([1.0, 2.0])


def to_torch_params(model):
    """The MLP's weights as float64 leaf tensors, layer by layer: (W, b, activation)."""
    layers = []
    for layer in model.layers:
        W = torch.tensor([[w.data for w in n.w] for n in layer.neurons], dtype=torch.float64,
                         requires_grad=True)
        b = torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64,
                         requires_grad=True)
        layers.append((W, b, layer.neurons[0].activation))
    return layers


def torch_forward(layers, x):
    acts = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
            "linear": lambda t: t}
    for W, b, act in layers:
        x = acts[act](W @ x + b)
    return x


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("fused", [True, False])
def test_mlp_mse_loss_and_gradients_match_torch(activation, fused):
    random.seed(42)
    model = MLP(3, [4, 4, 1], activation=activation, fused=fused)
    loss = sum(((model(x) - y) ** 2 for x, y in zip(XS, YS)), Value(0.0))
    loss.backward()

    layers = to_torch_params(model)
    t_loss = sum((torch_forward(layers, torch.tensor(x, dtype=torch.float64)) - y) ** 2
                 for x, y in zip(XS, YS))
    t_loss.sum().backward()
    assert loss.data == pytest.approx(t_loss.item(), rel=1e-12)
    ours = [p.grad for p in model.parameters()]
    theirs = []
    for W, b, _ in layers:
        for i in range(W.shape[0]):
            theirs += W.grad[i].tolist() + [b.grad[i].item()]
    assert ours == pytest.approx(theirs, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_fused_and_lecture_graphs_give_the_same_numbers_bit_for_bit(activation):
    def run(fused):
        random.seed(7)
        model = MLP(3, [4, 4, 1], activation=activation, fused=fused)
        xs = [[Value(x) for x in row] for row in XS]
        loss = sum(((model(x) - y) ** 2 for x, y in zip(xs, YS)), Value(0.0))
        loss.backward()
        return (loss.data, [p.grad for p in model.parameters()],
                [v.grad for row in xs for v in row], len(loss.topo()))
    fused, lecture = run(True), run(False)
    assert fused[:3] == lecture[:3]
    assert fused[3] < lecture[3]


def test_the_default_is_the_lectures_graph():
    random.seed(0)
    n = Neuron(2)
    out = n([Value(1.0), Value(-2.0)])
    assert [v._op for v in out.topo() if v._op] == ["*", "+", "*", "+", "ReLU"]
    assert len(out.topo()) == 10
    assert not MLP(2, [3, 1]).layers[0].neurons[0].fused


def test_lecture_training_loop_drives_loss_down():
    random.seed(1337)
    model = MLP(3, [4, 4, 1], activation="tanh")
    for _ in range(50):
        loss = sum(((model(x) - y) ** 2 for x, y in zip(XS, YS)), Value(0.0))
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data += -0.1 * p.grad
    assert loss.data < 0.05
