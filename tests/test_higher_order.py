"""Gradients of gradients: micrograd.grad(..., create_graph=True) against
torch.autograd.grad(..., create_graph=True) in float64, to any order."""
import math

import pytest
from hypothesis import given, settings

import micrograd
from micrograd.engine import Op, Value, grad
from micrograd.gradcheck import GradcheckError, gradgradcheck
from reference import (BINARY, BINARY_POINTS, POINTS, UNARY, assert_partials_match_torch,
                       close)
from strategies import floors, programs, run_program

SMOOTH = {
    "log": (lambda a: a.log(), [0.1, 1.0, 2.5, 100.0]),
    "sqrt": (lambda a: a ** 0.5, [0.1, 1.0, 2.5]),
    "pow of values": (lambda a: a ** (a * 0.5 + 1), [0.3, 1.0, 2.5]),
}


# ---------------------------------------------------------------------------------------------
# Every op and reflected form: second and third derivatives
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("x", POINTS)
def test_third_derivatives_of_every_unary_op_match_torch(name, x):
    assert_partials_match_torch(UNARY[name], x, order=3)


@pytest.mark.parametrize("name", SMOOTH)
def test_third_derivatives_on_positive_domains_match_torch(name):
    fn, points = SMOOTH[name]
    for x in points:
        assert_partials_match_torch(fn, x, order=3)


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("a, b", BINARY_POINTS)
def test_third_derivatives_of_every_binary_op_match_torch(name, a, b):
    assert_partials_match_torch(BINARY[name], a, b, order=3)


def test_fourth_order_on_a_composite_matches_torch():
    f = lambda x, y: (x * y).tanh() * (x / y).exp() + (x * x + 1).log() ** y.sigmoid() - 2 ** x
    d = assert_partials_match_torch(f, 0.4, 1.3, order=4)
    assert len(d) == 2 + 4 + 8 + 16


def test_non_smooth_points_follow_torch():
    assert_partials_match_torch(lambda a: a.relu() * a, 0.0, order=3)      # relu'' = 0
    assert_partials_match_torch(lambda a: abs(a) * a, 0.0, order=3)        # abs'(0) = 0
    assert_partials_match_torch(lambda a: a ** 0 + a * a, 0.0, order=3)    # x ** 0 is flat
    assert_partials_match_torch(lambda a, b: a ** b, 1.5, 0.0, order=2)


# ---------------------------------------------------------------------------------------------
# Hessians, Newton's method, and .backward() through a derivative
# ---------------------------------------------------------------------------------------------
def hessian(f, xs):
    leaves = [Value(x) for x in xs]
    first = grad(f(*leaves), leaves, create_graph=True)
    return [[h.data for h in grad(g, leaves)] for g in first]


def test_hessian_of_rosenbrock_at_the_classic_start():
    rosenbrock = lambda x, y: (1 - x) ** 2 + 100 * (y - x ** 2) ** 2
    assert hessian(rosenbrock, [-1.2, 1.0]) == [[1330.0, 480.0], [480.0, 200.0]]


@pytest.mark.parametrize("f, xs", [
    (lambda x, y, z: x * y * z + (x - z).tanh() * y.exp(), [0.3, -0.8, 1.1]),
    (lambda x, y: (x * x + y * y + 1).log() / (x.sigmoid() + 1), [1.5, -0.4]),
])
def test_hessians_match_torch(f, xs):
    import torch
    theirs = torch.autograd.functional.hessian(
        lambda t: f(*t), torch.tensor(xs, dtype=torch.float64))
    ours = hessian(f, xs)
    for i in range(len(xs)):
        for j in range(len(xs)):
            assert close(ours[i][j], theirs[i][j].item(), rtol=1e-10, atol=1e-12)


def test_newtons_method_finds_the_square_root_of_two():
    x = 1.0
    for _ in range(6):
        v = Value(x)
        f = v ** 3 / 3 - 2 * v                   # f' = x² - 2, f'' = 2x
        d1, = grad(f, [v], create_graph=True)
        d2, = grad(d1, [v])
        x -= d1.data / d2.data
    assert abs(x - math.sqrt(2)) <= 1e-15        # 1.4142135623730951, to the last bit or so


def test_backward_through_a_derivative_gives_the_second_derivative():
    x = Value(0.5)
    d1, = micrograd.grad(x.tanh(), [x], create_graph=True)
    d1.backward()
    t = math.tanh(0.5)
    assert x.grad == pytest.approx(-2 * t * (1 - t * t), rel=1e-15)
    assert d1._op and d1._prev                          # a graph, drawable with draw_dot


def test_create_graph_false_gives_leaves_and_the_same_numbers_as_backward():
    a, b = Value(1.3), Value(-0.4)
    out = (a * b).tanh() + a ** 3 / b
    ga, gb = grad(out, [a, b])
    assert ga._prev == () and gb._prev == ()
    out.backward()
    assert (ga.data, gb.data) == (a.grad, b.grad)


# ---------------------------------------------------------------------------------------------
# grad's contract
# ---------------------------------------------------------------------------------------------
def test_grad_leaves_every_grad_untouched():
    a, b = Value(0.7), Value(-1.1)
    mid = a * b + a.exp()
    out = mid.tanh() * b
    for v in out.topo():
        v.grad = 5.0
    first = grad(out, [a, b], create_graph=True)
    grad(first[0], [a, b])
    grad(out, [mid, a], grad_outputs=2.0)
    assert {v.grad for v in out.topo()} == {5.0}


def test_grad_outputs_seed_and_unused_inputs_give_zero():
    a, b, unused = Value(2.0), Value(3.0), Value(9.0)
    ga, gb, gu = grad(a * b, [a, b, unused], grad_outputs=0.5)
    assert (ga.data, gb.data, gu.data) == (1.5, 1.0, 0.0)
    seed = Value(4.0)
    ga, = grad(a * b, [a], grad_outputs=seed, create_graph=True)
    assert ga.data == 12.0 and grad(ga, [seed])[0].data == 3.0


def test_grad_of_an_intermediate_node_and_of_a_leaf():
    a = Value(3.0)
    mid = a * a
    out = mid + a
    gm, ga = grad(out, [mid, a])
    assert (gm.data, ga.data) == (1.0, 7.0)
    assert grad(a, [a])[0].data == 1.0


def test_grad_refuses_what_it_cannot_differentiate():
    with pytest.raises(TypeError, match="grad: output must be a Value, got float"):
        grad(1.0, [Value(1.0)])
    with pytest.raises(TypeError, match=r"grad: inputs\[1\] is float 2.0, not a Value"):
        grad(Value(1.0), [Value(1.0), 2.0])
    a = Value(2.0)
    out = Value(a.data * 2, (a,), "double")
    out._backward = lambda: None
    with pytest.raises(TypeError, match="op 'double'.*hand-written _backward"):
        grad(out, [a])


def test_a_float_only_custom_op_has_first_derivatives_and_a_named_error_on_the_second():
    sin = Op("sin", math.sin, lambda out, a: (math.cos(a),))
    x = Value(0.5)
    y = sin(x) * x
    y.backward()
    assert x.grad == math.cos(0.5) * 0.5 + math.sin(0.5)
    assert grad(y, [x])[0].data == x.grad
    with pytest.raises(TypeError, match="the derivative of 'sin' cannot be built from Values"):
        grad(y, [x], create_graph=True)


def test_a_custom_op_written_with_value_arithmetic_is_twice_differentiable():
    p3 = Op("P3", lambda x: 0.5 * (5 * x ** 3 - 3 * x), lambda out, x: (0.5 * (15 * x ** 2 - 3),))
    assert gradgradcheck(lambda a: p3(a) * a.tanh(), [0.7])
    x = Value(0.7)
    d1, = grad(p3(x), [x], create_graph=True)
    assert grad(d1, [x])[0].data == pytest.approx(15 * 0.7, rel=1e-15)


def test_gradgradcheck_catches_a_wrong_second_derivative():
    # Right as a number, wrong as a function: .data makes the derivative a constant.
    square = Op("square", lambda a: a * a, lambda out, a: (2 * getattr(a, "data", a),))
    f = lambda a, b: square(a) * b
    with pytest.raises(GradcheckError) as err:
        gradgradcheck(f, [Value(1.5, label="a"), 2.0])
    message = str(err.value)
    assert "d²/d(a) d(a): grad(create_graph=True) gives 0, numerical 4.0" in message
    assert "d(input 1) d(input 1)" not in message          # d²/db² = 0 is right
    assert gradgradcheck(lambda a, b: a * a * b, [1.5, 2.0])


# ---------------------------------------------------------------------------------------------
# Random graphs with shared subexpressions, to second order
# ---------------------------------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(programs(max_inputs=3, max_steps=8))
def test_random_graphs_second_derivatives_match_torch(program):
    xs, steps = program
    f = lambda *v: run_program(steps, *v)
    # relative, plus a floor of a few ulps of the magnitudes each derivative sums (strategies)
    assert_partials_match_torch(f, *xs, order=2, rtol=1e-10, atol=floors(f, xs, order=2))
