"""One helper that checks any expression against PyTorch in float64, forward and backward.

The expression is a plain Python function of its inputs. Values and torch tensors share the
operators and the methods tanh/exp/log/relu/sigmoid/abs, so the very same function runs on both.
PyTorch is imported unconditionally: in CI these tests must run, never skip.
"""
import math

import torch

from micrograd.engine import Value

RTOL = 1e-12

# Every operation and reflected form, written once for Values and tensors alike.
UNARY = {
    "neg": lambda a: -a,
    "exp": lambda a: a.exp(),
    "tanh": lambda a: a.tanh(),
    "relu": lambda a: a.relu(),
    "sigmoid": lambda a: a.sigmoid(),
    "abs": lambda a: abs(a),
    "square": lambda a: a ** 2,
    "cube": lambda a: a ** 3,
    "inverse": lambda a: a ** -1,
    "float power": lambda a: (a * a + 1) ** 1.5,
    "radd": lambda a: 2 + a,
    "rsub": lambda a: 1 - a,
    "rmul": lambda a: 2 * a,
    "rdiv": lambda a: 2 / a,
    "rpow": lambda a: 2 ** a,
    "add const": lambda a: a + 3.5,
    "sub const": lambda a: a - 3.5,
    "mul const": lambda a: a * -1.25,
    "div const": lambda a: a / 7,
}
POINTS = [-2.5, -0.7, -1e-3, 0.3, 1.0, 3.7]
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a ** b,
    "shared": lambda a, b: (a * b + a) * (b - a),
}
BINARY_POINTS = [(2.0, 3.0), (0.5, -1.5), (3.7, 0.25), (1.3, 2.0)]


def close(ours, theirs, rtol=RTOL, atol=0.0):
    if math.isnan(theirs):
        return math.isnan(ours)
    return abs(ours - theirs) <= atol + rtol * abs(theirs) or ours == theirs


def run_torch(fn, xs):
    leaves = [torch.tensor(float(x), dtype=torch.float64, requires_grad=True) for x in xs]
    out = fn(*leaves)
    out.backward()
    return out.item(), [0.0 if t.grad is None else t.grad.item() for t in leaves]


def run_ours(fn, xs):
    leaves = [Value(x) for x in xs]
    out = fn(*leaves)
    out.backward()
    return out.data, [v.grad for v in leaves]


def assert_matches_torch(fn, *xs, rtol=RTOL, atol=0.0):
    """fn(*xs) and d fn / d xs agree with PyTorch float64 to `rtol` relative."""
    ours, our_grads = run_ours(fn, xs)
    theirs, their_grads = run_torch(fn, xs)
    assert close(ours, theirs, rtol, atol), f"forward: ours {ours!r}, torch {theirs!r}"
    for i, (g, t) in enumerate(zip(our_grads, their_grads)):
        assert close(g, t, rtol, atol), f"d/dx{i} at {xs}: ours {g!r}, torch {t!r}"
    return ours, our_grads


# ---------------------------------------------------------------------------------------------
# Higher derivatives: every partial derivative up to some order, ours and PyTorch's.
# ---------------------------------------------------------------------------------------------
def partials(fn, xs, order, grad):
    """{(i,): df/dx_i, (i, j): d²f/dx_i dx_j, ...} up to `order`, each derivative taken by
    grad(y, leaves) -> list (create_graph=True); `leaves` made by the caller's engine."""
    leaves = grad.leaves(xs)
    level, out = {(): fn(*leaves)}, {}
    for _ in range(order):
        level = {idx + (i,): g for idx, y in level.items()
                 for i, g in enumerate(grad(y, leaves))}
        out.update(level)
    return {idx: grad.number(v) for idx, v in out.items()}


class _Ours:
    @staticmethod
    def leaves(xs):
        return [Value(x) for x in xs]

    def __call__(self, y, leaves):
        from micrograd.engine import grad
        return grad(y, leaves, create_graph=True)

    @staticmethod
    def number(v):
        return v.data


class _Torch:
    @staticmethod
    def leaves(xs):
        return [torch.tensor(float(x), dtype=torch.float64, requires_grad=True) for x in xs]

    def __call__(self, y, leaves):
        if not torch.is_tensor(y) or not y.requires_grad:     # a constant: derivatives are 0
            return [torch.zeros((), dtype=torch.float64) for _ in leaves]
        gs = torch.autograd.grad(y, leaves, create_graph=True, allow_unused=True)
        return [torch.zeros((), dtype=torch.float64) if g is None else g for g in gs]

    @staticmethod
    def number(v):
        return v.detach().item()


def assert_partials_match_torch(fn, *xs, order, rtol=1e-10, atol=1e-12):
    """Every derivative of fn up to `order` at xs agrees with torch.autograd.grad
    (create_graph=True, float64) to `rtol` relative plus `atol` (a number, or one per
    derivative: {(i,): ..., (i, j): ...} as strategies.floors gives)."""
    ours = partials(fn, xs, order, _Ours())
    theirs = partials(fn, xs, order, _Torch())
    for idx, t in theirs.items():
        a = atol[idx] if isinstance(atol, dict) else atol
        assert close(ours[idx], t, rtol, a), f"d{idx} at {xs}: ours {ours[idx]!r}, torch {t!r}"
    return ours
