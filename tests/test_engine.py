"""The engine: every op against PyTorch, the lecture's facts, backward's semantics, bad input."""
import gc
import math
import random
import tracemalloc

import pytest
import torch

import micrograd.lecture

from micrograd.engine import OPS, Op, Value, linear, no_grad, topological_order
from exercise_solutions.topo_lecture import build_topo
from reference import BINARY, BINARY_POINTS, POINTS, UNARY, assert_matches_torch, run_torch

# ---------------------------------------------------------------------------------------------
# Every op and every reflected form (reference.UNARY, BINARY), forward and local derivative,
# against PyTorch (float64). The same lambda runs on Values and on tensors.
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("x", POINTS)
def test_unary_ops_match_torch(name, x):
    assert_matches_torch(UNARY[name], x)


@pytest.mark.parametrize("x", [0.1, 1.0, 2.5, 100.0])
def test_log_matches_torch(x):
    assert_matches_torch(lambda a: a.log(), x)
    assert_matches_torch(lambda a: a ** 0.5, x)


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("a, b", BINARY_POINTS)
def test_binary_ops_match_torch(name, a, b):
    assert_matches_torch(BINARY[name], a, b)


def test_power_of_negative_base_with_integer_exponent_matches_torch():
    assert_matches_torch(lambda a: a ** 3, -1.7)
    assert_matches_torch(lambda a: a ** -2, -1.7)


def test_relu_keeps_nan_like_torch():
    out, _ = run_torch(lambda t: t.relu(), [math.nan])
    assert math.isnan(out) and math.isnan(Value(math.nan).relu().data)


def test_constant_power_zero_has_zero_derivative_everywhere():
    assert_matches_torch(lambda a: a ** 0 + a, 0.0)
    assert_matches_torch(lambda a, b: a ** b + a, 0.0, 0.0)


def test_values_may_be_subclassed_as_in_the_original():
    class Named(Value):
        pass
    a = Named(2.0)
    out = a * 2 + Value(1.0) - a
    out.backward()
    assert out.data == 3.0 and a.grad == 1.0


def test_huge_integers_are_kept_as_the_original_does_and_named_when_they_overflow():
    big = Value(10 ** 400)
    assert big.data == 10 ** 400 and (big * 2).data == 2 * 10 ** 400
    with pytest.raises(OverflowError, match=r"^\*: no finite real result for an integer of "
                                            r"about 400 digits, 1\.5 "):
        big * 1.5


def test_relu_at_zero_has_zero_gradient_like_torch():
    assert_matches_torch(lambda a: a.relu(), 0.0)
    assert_matches_torch(lambda a: abs(a), 0.0)


def test_sigmoid_is_stable_for_large_inputs():
    for x in (-800.0, 800.0):
        assert_matches_torch(lambda a: a.sigmoid(), x)


# The original micrograd's two test expressions and its README expression.
def original_sanity(x):
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    return h + q + q * x


def original_more_ops(a, b):
    c = a + b
    d = a * b + b ** 3
    c = c + c + 1
    c = c + 1 + c + (-a)
    d = d + d * 2 + (b + a).relu()
    d = d + 3 * d + (b - a).relu()
    e = c - d
    f = e ** 2
    g = f / 2.0
    g = g + 10.0 / f
    return g


def test_original_sanity_check_matches_torch():
    assert_matches_torch(original_sanity, -4.0)


def test_readme_expression_numbers():
    g, (a_grad, b_grad) = assert_matches_torch(original_more_ops, -4.0, 2.0)
    assert f"{g:.4f}" == "24.7041"
    assert f"{a_grad:.4f}" == "138.8338"
    assert f"{b_grad:.4f}" == "645.5773"


def test_in_place_operators_build_the_same_graph():
    # The original's README writes c += c + 1; Values have no __iadd__, so it rebinds.
    a, b = Value(-4.0), Value(2.0)
    c = a + b
    c += c + 1
    c.backward()
    assert c.data == -3.0 and a.grad == 2.0 and b.grad == 2.0


# ---------------------------------------------------------------------------------------------
# The lecture's facts
# ---------------------------------------------------------------------------------------------
def lecture_expression():
    """The lecture's L = (a*b + c) * f, and its nodes in the order a, b, c, e, d, f, L."""
    L = micrograd.lecture.lecture_expression()
    nodes = {v.label: v for v in L.topo()}
    return tuple(nodes[k] for k in "abcedfL")


def test_lecture_expression_gradients():
    a, b, c, e, d, f, L = lecture_expression()
    L.backward()
    assert L.data == -8.0
    assert (a.grad, b.grad, c.grad, e.grad, d.grad, f.grad, L.grad) == (6.0, -4.0, -2.0, -2.0,
                                                                         -2.0, 4.0, 1.0)


def test_derivative_by_nudging_matches_backward():
    h = 0.0001
    *_, L1 = lecture_expression()
    a = Value(2.0 + h)
    L2 = (a * Value(-3.0) + Value(10.0)) * Value(-2.0)
    assert (L2.data - L1.data) / h == pytest.approx(6.0, abs=1e-6)


def lecture_neuron(tanh_via_exp=False):
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    x1w1 = x1 * w1; x1w1.label = "x1*w1"
    x2w2 = x2 * w2; x2w2.label = "x2*w2"
    x1w1x2w2 = x1w1 + x2w2; x1w1x2w2.label = "x1*w1 + x2*w2"
    n = x1w1x2w2 + b; n.label = "n"
    if tanh_via_exp:
        e = (2 * n).exp()
        o = (e - 1) / (e + 1)
    else:
        o = n.tanh()
    o.label = "o"
    return (x1, x2, w1, w2, b, x1w1, x2w2, x1w1x2w2, n), o


@pytest.mark.parametrize("tanh_via_exp", [False, True])
def test_lecture_neuron(tanh_via_exp):
    (x1, x2, w1, w2, *_), o = lecture_neuron(tanh_via_exp)
    o.backward()
    assert o.data == pytest.approx(0.7071, abs=1e-4)
    assert x1.grad == pytest.approx(-1.5, abs=1e-12)
    assert w1.grad == pytest.approx(1.0, abs=1e-12)
    assert x2.grad == pytest.approx(0.5, abs=1e-12)
    assert w2.grad == 0.0


def test_manual_backward_steps_as_in_the_lecture():
    (x1, x2, w1, w2, b, x1w1, x2w2, x1w1x2w2, n), o = lecture_neuron()
    o.grad = 1.0
    o._backward()
    assert n.grad == pytest.approx(0.5, abs=1e-12)
    n._backward()
    assert (x1w1x2w2.grad, b.grad) == (n.grad, n.grad)
    x1w1x2w2._backward()
    assert (x1w1.grad, x2w2.grad) == (n.grad, n.grad)
    x2w2._backward()
    x1w1._backward()
    g = n.grad                           # 1 - tanh(n)**2, which is 0.5 up to rounding
    assert (x1.grad, w1.grad, x2.grad, w2.grad) == (-3.0 * g, 2.0 * g, 1.0 * g, 0.0 * g)
    b._backward()   # a leaf's step does nothing
    assert b.grad == n.grad


def test_lecture_style_custom_backward_closure_is_honoured():
    # Someone who watched the lecture defines an op the lecture's way, with a closure.
    def cube(x):
        out = Value(x.data ** 3, (x,), "cube")

        def _backward():
            x.grad += 3 * x.data ** 2 * out.grad
        out._backward = _backward
        return out

    x = Value(2.0)
    y = cube(x) * 2
    y.backward()
    assert x.grad == 24.0


def test_gradients_accumulate_through_shared_nodes():
    a = Value(3.0)
    b = a + a
    b.backward()
    assert a.grad == 2.0
    a = Value(3.0)
    (a * a).backward()
    assert a.grad == 6.0
    a = Value(-2.0)
    b = a * 3.0
    c = a + b
    (b * c).backward()          # d/da of 3a * 4a = 24a
    assert a.grad == -48.0


def test_second_backward_adds_the_same_gradient_again():
    x = Value(2.0)
    z = (x * x) * 3
    z.backward()
    assert x.grad == 12.0
    z.backward()
    assert x.grad == 24.0                 # the original micrograd gives 36
    assert z.grad == 1.0                  # intermediate grads are reset, then visible


def test_every_node_grad_is_visible_after_backward():
    a, b, c, e, d, f, L = lecture_expression()
    L.backward()
    assert all(v.grad != 0.0 for v in (a, b, c, e, d, f, L))


def test_backward_on_a_leaf_seeds_one():
    a = Value(5.0)
    a.backward()
    assert a.grad == 1.0


@pytest.mark.slow                   # a million nodes: about 10 s on a 2-core machine
def test_deep_chain_of_a_million_nodes():
    x = Value(1.0)
    y = x
    for _ in range(1_000_000):
        y = y + 1e-6
    y.backward()
    assert x.grad == 1.0
    assert y.data == pytest.approx(2.0, rel=1e-9)


def test_sum_of_a_hundred_thousand_values():
    xs = [Value(float(i)) for i in range(100_000)]
    s = sum(xs)
    s.backward()
    assert s.data == sum(range(100_000))
    assert all(x.grad == 1.0 for x in xs)


def test_topological_order_is_deterministic():
    def names():
        *_, L = lecture_expression()
        return [v.label for v in L.topo()]
    assert names() == names() == ["a", "b", "e", "c", "d", "f", "L"]


def lecture_build_topo(*roots):
    """The lecture's recursive build_topo (the exercise's solution file), one root after
    another with one visited set: each root's order without the nodes an earlier one had."""
    return list(dict.fromkeys(node for root in roots for node in build_topo(root)))


@pytest.mark.parametrize("seed", range(5))
def test_the_walk_is_the_lectures_recursion_on_random_graphs(seed):
    # shared nodes, leaves met again, x * x, fused nodes of many inputs and several roots:
    # every case where the walk skips a visited input or pushes one that a sibling visits
    rnd = random.Random(seed)
    for _ in range(60):
        made = [Value(rnd.uniform(-1, 1)) for _ in range(rnd.randint(1, 5))]
        for _ in range(rnd.randint(1, 60)):
            pick, k = lambda: rnd.choice(made), rnd.random()
            if k < 0.4:
                made.append(pick() * pick())
            elif k < 0.7:
                made.append(pick() + pick())
            elif k < 0.85:
                made.append(pick().relu())
            else:
                n = rnd.randint(1, 4)
                made.append(linear([pick() for _ in range(n)], [pick() for _ in range(n)], pick()))
        roots = rnd.sample(made, rnd.randint(1, min(3, len(made))))
        assert topological_order(*roots) == lecture_build_topo(*roots)


def test_no_grad_builds_no_graph():
    a = Value(2.0)
    with no_grad():
        b = (a * 3).tanh() + 1
    assert b._prev == () and b._op == ""
    c = a * 3
    assert c._prev == (a, c._prev[1])        # back to building graphs afterwards


def test_no_grad_restores_state_after_an_exception():
    with pytest.raises(RuntimeError):
        with no_grad():
            raise RuntimeError
    assert (Value(1.0) * 2)._prev


def test_graph_is_freed_by_reference_counting_alone():
    gc.collect()
    gc.disable()
    try:
        x = Value(1.0)
        for _ in range(3):
            y = ((x * 2).tanh() + x.exp() ** 2) / 3
            y.backward()
            del y
        assert gc.collect() == 0, "a dropped graph left reference cycles behind"
    finally:
        gc.enable()


def test_memory_per_node_is_at_most_300_bytes():
    x = Value(0.5)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    y = x
    n = 100_000
    for i in range(n // 2):
        y = (y * 1.0000001).tanh() if i % 2 else y + x
    y.backward()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    nodes = len(y.topo())
    assert nodes >= n // 2
    assert (after - before) / nodes <= 300


def test_ints_stay_ints_as_in_the_original():
    assert type(Value(3).data) is int and Value(3).grad == 0 and type(Value(3).grad) is int
    assert type((Value(1) + 2).data) is int and (Value(2) ** 3).data == 8
    y = Value(3) * Value(4) + 1
    y.backward()
    assert [type(v.grad) for v in y.topo()] == [int] * 5         # an int graph stays int
    import numpy as np                                            # numpy's become Python's
    assert type(Value(np.float64(2.5)).data) is float and type(Value(np.int64(2)).data) is int
    assert type((Value(1.0) * np.float64(2.0))._prev[1].data) is float


def test_comparisons_order_by_data():
    a, b = Value(1.0), Value(2.0)
    assert a < b and b > a and a <= 1 and b >= 2
    assert max([a, b]) is b
    assert a != Value(1.0)            # identity, so Values stay usable as graph nodes


def test_repr_is_the_originals_and_the_summary_has_the_label():
    assert repr(Value(2.0, label="a")) == "Value(data=2.0, grad=0)"
    assert repr(Value(-1.5)) == "Value(data=-1.5, grad=0)"
    assert Value(2.0, label="a").summary() == "Value(data=2.0, grad=0, label='a')"
    assert (Value(2.0) * 3).summary() == "Value(data=6.0, grad=0, op='*')"


# ---------------------------------------------------------------------------------------------
# A custom op: the lecture's closing example, the Legendre polynomial P3 as one lego block.
# ---------------------------------------------------------------------------------------------
P3 = Op("P3", forward=lambda x: 0.5 * (5 * x ** 3 - 3 * x),
        local_grads=lambda out, x: (0.5 * (15 * x ** 2 - 3),))


@pytest.mark.parametrize("x", [-0.9, 0.0, 0.4, 2.0])
def test_custom_legendre_op_matches_torch(x):
    def f(a):
        if isinstance(a, Value):
            return P3(a) * a
        return 0.5 * (5 * a ** 3 - 3 * a) * a
    assert_matches_torch(f, x)
    v = Value(x)
    assert P3(v)._op == "P3" and P3(v)._prev == (v,)


def test_custom_op_against_torch_autograd_function():
    class LegendreP3(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return 0.5 * (5 * x ** 3 - 3 * x)

        @staticmethod
        def backward(ctx, grad_output):
            x, = ctx.saved_tensors
            return grad_output * 1.5 * (5 * x ** 2 - 1)

    xs = (0.3, -1.2)
    t = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    (LegendreP3.apply(t[0]) * LegendreP3.apply(t[1]).tanh()).backward()
    v = [Value(x) for x in xs]
    (P3(v[0]) * P3(v[1]).tanh()).backward()
    for ours, theirs in zip(v, t):
        assert ours.grad == pytest.approx(theirs.grad.item(), rel=1e-12)


def test_custom_op_mixes_numbers_and_checks_its_result():
    hyp = Op("hypot", lambda a, b: math.hypot(a, b), lambda out, a, b: (a / out, b / out))
    h = hyp(3, Value(4.0))
    h.backward()
    assert h.data == 5.0 and h._prev[1].grad == 0.8
    bad = Op("bad", lambda a: "nope", lambda out, a: (1.0,))
    with pytest.raises(TypeError, match="bad .*result.*str"):
        bad(Value(1.0))


def test_custom_op_with_the_wrong_number_of_derivatives_is_named():
    half = Op("half", lambda a, b: a * b, lambda out, a, b: (b,))
    with pytest.raises(TypeError, match="half: local_grads gave 1 derivatives for 2 inputs"):
        half(Value(1.0), Value(2.0)).backward()


def test_fused_linear_equals_the_lectures_sum_bit_for_bit():
    import random
    random.seed(3)
    w = [Value(random.uniform(-1, 1)) for _ in range(7)]
    x = [random.uniform(-2, 2) for _ in range(7)]
    b = Value(0.37)
    fused = linear(w, x, b)
    plain = sum((wi * xi for wi, xi in zip(w, x)), b)
    assert fused.data == plain.data
    fused.tanh().backward()
    fused_grads = [p.grad for p in w + [b]]
    for p in w + [b]:
        p.grad = 0.0
    plain.tanh().backward()
    assert fused_grads == [p.grad for p in w + [b]]


def test_op_table_is_complete():
    # '-', unary minus and '/' are no rows: the original builds them from these ("/" is div()).
    assert set(OPS) == {"+", "*", "/", "**", "exp", "log", "tanh", "ReLU", "abs",
                        "sigmoid", "w·x+b", "max", "take"}


# ---------------------------------------------------------------------------------------------
# Bad input: a clear error naming the operation and the value.
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("data", ["a", None, [1.0], 1 + 2j])
def test_value_refuses_non_numbers(data):
    with pytest.raises(TypeError, match=r"Value\(data\): expected a real number, got"):
        Value(data)


def test_operations_refuse_non_numbers():
    with pytest.raises(TypeError, match=r"\+: expected a real number, got str 'x'"):
        Value(1.0) + "x"
    with pytest.raises(TypeError, match=r"\*: expected a real number, got NoneType"):
        None * Value(1.0)
    with pytest.raises(TypeError, match=r"\*\*: expected a real number, got str"):
        Value(2.0) ** "2"


@pytest.mark.parametrize("expr, kind, message", [
    (lambda: Value(0.0).log(), ValueError, r"log: no finite real result for 0\.0"),
    (lambda: Value(-1.0).log(), ValueError, r"log: no finite real result for -1\.0"),
    (lambda: Value(0.0) ** -1, ValueError, r"\*\*-1: no finite real result for 0\.0"),
    (lambda: Value(-8.0) ** (1 / 3), ValueError, r"\*\*0\.333.*-8\.0.*negative base"),
    (lambda: Value(-8.0) ** Value(0.5), ValueError, r"\*\*: .*-8\.0, 0\.5.*negative base"),
    (lambda: (-8.0) ** Value(0.5), ValueError, r"\*\*: .*-8\.0, 0\.5"),
    (lambda: Value(1000.0).exp(), OverflowError, r"exp: no finite real result for 1000\.0"),
    (lambda: Value(1.0) / 0, ValueError, r"/: no finite real result for 1\.0, 0 \(division"),
    (lambda: 1 / Value(0.0), ValueError, r"\*\*-1: no finite real result for 0\.0 \(0 to a"),
    (lambda: Value(1.0).div(0), ValueError, r"/: no finite real result for 1\.0, 0 \(division"),
])
def test_domain_errors_name_the_op_and_value(expr, kind, message):
    with pytest.raises(kind, match=message):
        expr()


def test_derivative_domain_error_in_backward_is_named():
    a = Value(0.0)
    y = a ** 0.5
    assert y.data == 0.0
    with pytest.raises(ValueError, match=r"backward through \*\*0\.5: the derivative at 0\.0"):
        y.backward()
    base = Value(-2.0)
    y = base ** Value(2.0)                  # fine forward; d/d(exponent) needs log(-2)
    assert y.data == 4.0
    with pytest.raises(ValueError, match=r"backward through \*\*"):
        y.backward()


def test_nan_and_inf_flow_through_as_in_torch():
    for x in (math.inf, -math.inf, math.nan):
        v = Value(x)
        out = (v * 2 + 1).tanh()
        theirs, _ = run_torch(lambda t: (t * 2 + 1).tanh(), [x])
        assert out.data == theirs or (math.isnan(out.data) and math.isnan(theirs))
