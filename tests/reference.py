"""One helper that checks any expression against PyTorch in float64, forward and backward.

The expression is a plain Python function of its inputs. Values and torch tensors share the
operators and the methods tanh/exp/log/relu/sigmoid/abs, so the very same function runs on both.
PyTorch is imported unconditionally: in CI these tests must run, never skip.
"""
import math

import torch

from micrograd.engine import Value

RTOL = 1e-12


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
