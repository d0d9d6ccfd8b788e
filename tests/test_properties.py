"""Property-based tests: random expression graphs against PyTorch and against numerical gradients."""
import math

from hypothesis import given, settings

from micrograd.gradcheck import analytic_grad, numerical_grad
from reference import close, run_ours, run_torch
from strategies import programs, run_program


@settings(max_examples=300, deadline=None)
@given(programs())
def test_random_graphs_match_torch(program):
    xs, steps = program
    f = lambda *v: run_program(steps, *v)
    ours, our_grads = run_ours(f, xs)
    theirs, their_grads = run_torch(f, xs)
    assert close(ours, theirs, rtol=1e-12, atol=1e-300)
    for g, t in zip(our_grads, their_grads):
        assert close(g, t, rtol=1e-10, atol=1e-12), (steps, xs, our_grads, their_grads)


@settings(max_examples=200, deadline=None)
@given(programs(smooth=True))
def test_random_smooth_graphs_match_numerical_gradients(program):
    xs, steps = program
    f = lambda *v: run_program(steps, *v)
    analytic = analytic_grad(f, xs)
    numeric = numerical_grad(f, xs, h=1e-6)
    for a, n in zip(analytic, numeric):
        assert math.isclose(a, n, rel_tol=1e-5, abs_tol=1e-6), (steps, xs, analytic, numeric)
