"""Optimizers step for step against torch.optim on the same MLP and loss, to 1e-12 relative."""
import math
import random

import pytest
import torch

from micrograd.engine import Value
from micrograd.losses import mse
from micrograd.nn import MLP
from micrograd.optim import (OPTIMIZERS, SCHEDULES, SGD, Adam, constant, cosine, linear_decay,
                             step_decay)
from reference import close

X = [[0.5, -1.0, 2.0], [1.5, 0.3, -0.7], [-0.2, 0.8, 0.1], [2.0, -1.5, 0.4], [0.0, 1.0, -1.0]]
Y = [1.0, -0.5, 0.25, 2.0, -1.0]


def twin_models(seed=7):
    """The same tanh MLP in micrograd and in torch (float64), weights copied by hand."""
    random.seed(seed)
    model = MLP(3, [4, 4, 1], activation="tanh", output_activation="linear")
    linears = []
    for layer in model.layers:
        lin = torch.nn.Linear(len(layer.neurons[0].w), len(layer.neurons), dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.tensor([[w.data for w in n.w] for n in layer.neurons],
                                           dtype=torch.float64))
            lin.bias.copy_(torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64))
        linears.append(lin)
    net = torch.nn.Sequential(linears[0], torch.nn.Tanh(), linears[1], torch.nn.Tanh(),
                              linears[2])
    return model, net


def flat_params(model, net):
    """Our parameters and torch's, in the same order."""
    ours = [p.data for p in model.parameters()]
    theirs = []
    for lin in (m for m in net if isinstance(m, torch.nn.Linear)):
        for w_row, b in zip(lin.weight.tolist(), lin.bias.tolist()):
            theirs += w_row + [b]
    return ours, theirs


def run_both(make_ours, make_theirs, steps=10, schedule=None):
    model, net = twin_models()
    opt, topt = make_ours(model.parameters()), make_theirs(net.parameters())
    xt, yt = torch.tensor(X, dtype=torch.float64), torch.tensor(Y, dtype=torch.float64)
    for k in range(steps):
        if schedule is not None:
            opt.lr = schedule(k)
            for group in topt.param_groups:
                group["lr"] = schedule(k)
        opt.zero_grad()
        loss = mse([model(x) for x in X], Y)
        loss.backward()
        opt.step()

        topt.zero_grad()
        tloss = torch.nn.functional.mse_loss(net(xt).squeeze(1), yt)
        tloss.backward()
        topt.step()

        assert close(loss.data, tloss.item()), f"step {k}: loss {loss.data} vs {tloss.item()}"
        ours, theirs = flat_params(model, net)
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert close(a, b), f"step {k}, parameter {i}: ours {a!r}, torch {b!r}"
    start, _ = flat_params(*twin_models())
    assert max(abs(a - b) for a, b in zip(ours, start)) > 1e-3    # the run really moved


@pytest.mark.parametrize("kwargs", [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9, weight_decay=1e-2),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.05, momentum=0.5, dampening=0.3, weight_decay=0.1),
])
def test_sgd_matches_torch(kwargs):
    run_both(lambda ps: SGD(ps, **kwargs),
             lambda ps: torch.optim.SGD(ps, foreach=False, **kwargs))


@pytest.mark.parametrize("kwargs", [
    dict(lr=0.01),
    dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-2),
])
def test_adam_matches_torch(kwargs):
    run_both(lambda ps: Adam(ps, **kwargs),
             lambda ps: torch.optim.Adam(ps, foreach=False, **kwargs))


def test_adam_with_a_schedule_matches_torch():
    run_both(lambda ps: Adam(ps, lr=0.05), lambda ps: torch.optim.Adam(ps, foreach=False),
             steps=12, schedule=cosine(0.05, 0.001, 12))


def test_plain_sgd_is_the_lecture_update_bit_for_bit():
    random.seed(3)
    a, b = MLP(3, [4, 1]), None
    random.seed(3)
    b = MLP(3, [4, 1])
    for model in (a, b):
        mse([model(x) for x in X], Y).backward()
    SGD(a.parameters(), lr=0.1).step()
    for p in b.parameters():
        p.data += -0.1 * p.grad
    assert [p.data for p in a.parameters()] == [p.data for p in b.parameters()]


def test_zero_grad_and_lr():
    p = Value(1.0)
    p.grad = 3.0
    opt = SGD([p], lr=0.5)
    opt.zero_grad()
    assert p.grad == 0.0
    opt.lr = 0.25
    p.grad = 2.0
    opt.step()
    assert p.data == 0.5 and opt.lr == 0.25 and opt.params == [p]


# ---- schedules ---------------------------------------------------------------------------
def test_linear_decay_is_the_demo_schedule_bit_for_bit():
    sched = linear_decay(1.0, 0.1, 100)
    for k in range(100):
        assert sched(k) == 1.0 - 0.9 * k / 100, k
    assert sched(100) == sched(1000)                      # held at the end


def torch_schedule(make, steps, lr):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = make(opt)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_cosine_matches_torch():
    ours = [cosine(0.3, 0.01, 40)(k) for k in range(41)]
    theirs = torch_schedule(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(
        o, T_max=40, eta_min=0.01), 41, 0.3)
    assert ours[0] == 0.3 and ours[40] == 0.01
    assert all(close(a, b) for a, b in zip(ours, theirs)), (ours, theirs)


def test_step_decay_matches_torch():
    ours = [step_decay(0.5, 0.3, 7)(k) for k in range(30)]
    theirs = torch_schedule(lambda o: torch.optim.lr_scheduler.StepLR(o, 7, gamma=0.3), 30, 0.5)
    assert ours[6] == 0.5 and ours[7] == 0.5 * 0.3
    assert all(close(a, b) for a, b in zip(ours, theirs)), (ours, theirs)


def test_constant_and_registries():
    assert [constant(0.3)(k) for k in (0, 5, 10**6)] == [0.3] * 3
    assert SCHEDULES == {"constant": constant, "linear": linear_decay, "step": step_decay,
                         "cosine": cosine}
    assert OPTIMIZERS == {"sgd": SGD, "adam": Adam}


# ---- bad hyperparameters -------------------------------------------------------------------
@pytest.mark.parametrize("make, name", [
    (lambda ps: SGD(ps, lr=-0.1), "lr"),
    (lambda ps: SGD(ps, lr=math.nan), "lr"),
    (lambda ps: SGD(ps, momentum=1.0), "momentum"),
    (lambda ps: SGD(ps, momentum=-0.1), "momentum"),
    (lambda ps: SGD(ps, weight_decay=-1), "weight_decay"),
    (lambda ps: SGD(ps, nesterov=True), "nesterov"),
    (lambda ps: Adam(ps, lr="fast"), "lr"),
    (lambda ps: Adam(ps, betas=(1.0, 0.999)), r"betas\[0\]"),
    (lambda ps: Adam(ps, betas=(0.9, -0.5)), r"betas\[1\]"),
    (lambda ps: Adam(ps, betas=(0.9,)), "betas"),
    (lambda ps: Adam(ps, eps=-1e-8), "eps"),
    (lambda ps: SGD([]), "empty parameter list"),
    (lambda ps: SGD([1.0]), r"params\[0\] is a float"),
    (lambda ps: SGD(ps + ps), "more than once"),
])
def test_bad_hyperparameters_are_named(make, name):
    with pytest.raises(ValueError, match=name):
        make([Value(1.0)])


def test_setting_a_bad_lr_is_refused():
    opt = Adam([Value(1.0)])
    with pytest.raises(ValueError, match="lr must be"):
        opt.lr = -1e-3


@pytest.mark.parametrize("make, name", [
    (lambda: linear_decay(1.0, 0.1, 0), "total_steps"),
    (lambda: cosine(1.0, -0.1, 10), "lr_end"),
    (lambda: step_decay(1.0, 0.5, 2.5), "every"),
    (lambda: constant(-1), "lr"),
])
def test_bad_schedules_are_named(make, name):
    with pytest.raises(ValueError, match=name):
        make()


def test_the_demo_training_loop_bit_for_bit():
    """The original demo's loop (hinge + L2, lr = 1.0 - 0.9*k/100, plain SGD) written out by
    hand, and the same loop from losses/optim: identical parameters after every step."""
    from micrograd.data import as_rows, make_moons
    from micrograd.losses import hinge, l2
    Xn, yn = make_moons(n_samples=30, noise=0.1, random_state=1337)
    yn = yn * 2 - 1
    rows = as_rows(Xn)
    random.seed(1337)
    demo = MLP(2, [16, 16, 1])
    random.seed(1337)
    ours = MLP(2, [16, 16, 1])
    opt, sched = SGD(ours.parameters()), linear_decay(1.0, 0.1, 100)
    for k in range(3):
        scores = list(map(demo, rows))                               # the demo, verbatim
        losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(yn, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg_loss = 1e-4 * sum((p * p for p in demo.parameters()))
        total = data_loss + reg_loss
        demo.zero_grad()
        total.backward()
        learning_rate = 1.0 - 0.9 * k / 100
        for p in demo.parameters():
            p.data -= learning_rate * p.grad

        loss = hinge([ours(x) for x in rows], yn) + l2(ours.parameters(), 1e-4)
        opt.zero_grad()
        loss.backward()
        opt.lr = sched(k)
        opt.step()
        assert loss.data == total.data
        assert [p.data for p in ours.parameters()] == [p.data for p in demo.parameters()]
