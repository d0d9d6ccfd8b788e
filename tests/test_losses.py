"""Losses: PyTorch float64 is the oracle, forward and gradients, to 1e-12 relative."""
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from micrograd.engine import Value
from micrograd.losses import (LOSSES, accuracy, bce_with_logits, hinge, l2, mse,
                              softmax_cross_entropy)
from reference import close

FAST = settings(max_examples=60, deadline=None)
floats = st.floats(-30, 30, allow_nan=False, allow_infinity=False)


def ours(loss_fn, xs, labels):
    """Loss and d loss / d x for every x, from micrograd."""
    vs = [Value(x) for x in xs]
    loss = loss_fn(vs, labels)
    loss.backward()
    return loss.data, [v.grad for v in vs]


def theirs(torch_fn, xs, labels):
    t = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
    loss = torch_fn(t, torch.tensor(labels, dtype=torch.float64))
    loss.backward()
    return loss.item(), t.grad.tolist()


def assert_same(a, b, rtol=1e-12, atol=0.0):
    (la, ga), (lb, gb) = a, b
    assert close(la, lb, rtol, atol), f"loss: ours {la!r}, torch {lb!r}"
    for i, (x, y) in enumerate(zip(ga, gb)):
        assert close(x, y, rtol, atol), f"grad {i}: ours {x!r}, torch {y!r}"


def torch_hinge(s, y):
    return torch.relu(1 - y * s).mean()


# ---- mse ---------------------------------------------------------------------------------
@FAST
@given(st.lists(st.tuples(floats, floats), min_size=1, max_size=8))
def test_mse_matches_torch(pairs):
    preds, targets = [p for p, _ in pairs], [t for _, t in pairs]
    assert_same(ours(mse, preds, targets), theirs(F.mse_loss, preds, targets))


def test_mse_single_value_and_exact_number():
    p = Value(3.0)
    loss = mse(p, 1.5)
    loss.backward()
    assert (loss.data, p.grad) == (2.25, 3.0)
    assert mse([Value(1.0), Value(2.0)], [0.0, 0.0]).data == 2.5


# ---- hinge -------------------------------------------------------------------------------
@FAST
@given(st.lists(st.tuples(floats, st.sampled_from([-1, 1])), min_size=1, max_size=8))
def test_hinge_matches_torch(pairs):
    scores, labels = [s for s, _ in pairs], [y for _, y in pairs]
    assert_same(ours(hinge, scores, labels), theirs(torch_hinge, scores, labels))


@FAST
@given(st.lists(st.tuples(floats, st.sampled_from([-1, 1])), min_size=1, max_size=12))
def test_hinge_is_the_demo_expression_bit_for_bit(pairs):
    scores = [Value(s) for s, _ in pairs]
    yb = [y for _, y in pairs]
    losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(yb, scores)]   # the demo
    data_loss = sum(losses) * (1.0 / len(losses))
    data_loss.backward()
    demo_grads = [s.grad for s in scores]
    for s in scores:
        s.grad = 0.0
    loss = hinge(scores, yb)
    loss.backward()
    assert loss.data == data_loss.data
    assert [s.grad for s in scores] == demo_grads


def test_hinge_accepts_numpy_labels_like_the_demo():
    import numpy as np
    y = np.array([1, 0, 1]) * 2 - 1
    expected = sum([1 + -0.3, 1 + 0.2, 1 + 2.0]) * (1.0 / 3)
    assert hinge([Value(0.3), Value(0.2), Value(-2.0)], y).data == expected


# ---- bce ---------------------------------------------------------------------------------
@FAST
@given(st.lists(st.tuples(floats, st.sampled_from([0, 1])), min_size=1, max_size=8))
def test_bce_matches_torch(pairs):
    logits, labels = [z for z, _ in pairs], [y for _, y in pairs]
    # For a confident right answer the loss and gradient are tiny and both sides cancel:
    # torch's gradient is sigmoid(z) - y, its loss subtracts ~|z| from ~|z| (error ~ulp(30)),
    # and ours adds exp(-|z|) to 1 before the log (there is no log1p primitive). Relative
    # agreement is then meaningless, so a small absolute tolerance stands next to 1e-12.
    assert_same(ours(bce_with_logits, logits, labels),
                theirs(F.binary_cross_entropy_with_logits, logits, labels), atol=1e-14)


@pytest.mark.parametrize("y", [0, 1])
def test_bce_gradient_at_the_kink(y):
    """At z = 0 the gradient is sigmoid(0) - y: relu and abs kinks must not both say 0."""
    assert ours(bce_with_logits, [0.0], [y]) == (math.log(2), [0.5 - y])


def test_bce_large_logits_are_finite():
    logits, labels = [1000.0, -1000.0, 1000.0, -1000.0], [1, 0, 0, 1]
    loss, grads = ours(bce_with_logits, logits, labels)
    assert loss == 500.0                                   # (0 + 0 + 1000 + 1000) / 4
    assert grads == [0.0, 0.0, 0.25, -0.25]


# ---- softmax cross-entropy ----------------------------------------------------------------
@st.composite
def batches(draw, scale=floats):
    k = draw(st.integers(2, 5))
    n = draw(st.integers(1, 4))
    rows = draw(st.lists(st.lists(scale, min_size=k, max_size=k), min_size=n, max_size=n))
    labels = draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n))
    return rows, labels


def ce_ours(rows, labels):
    vs = [[Value(z) for z in row] for row in rows]
    loss = softmax_cross_entropy(vs, labels)
    loss.backward()
    return loss.data, [v.grad for row in vs for v in row]


def ce_torch(rows, labels):
    t = torch.tensor(rows, dtype=torch.float64, requires_grad=True)
    loss = F.cross_entropy(t, torch.tensor(labels))
    loss.backward()
    return loss.item(), t.grad.flatten().tolist()


@FAST
@given(batches())
def test_cross_entropy_matches_torch(batch):
    # grads are softmax - onehot: the same cancellation as bce for a confident right answer
    assert_same(ce_ours(*batch), ce_torch(*batch), atol=1e-15)


@FAST
@given(batches(st.floats(-1e3, 1e3)))
def test_cross_entropy_huge_logits_finite_and_right(batch):
    loss, grads = ce_ours(*batch)
    assert math.isfinite(loss) and all(math.isfinite(g) for g in grads)
    assert_same((loss, grads), ce_torch(*batch), atol=1e-15)


def test_cross_entropy_1e3_exact():
    loss, grads = ce_ours([[1e3, 0.0, -1e3]], [1])
    assert loss == 1000.0                                  # log(1 + e^-1000 + e^-2000) = 0
    assert grads == [1.0, -1.0, 0.0]


def test_cross_entropy_single_example():
    row = [Value(1.0), Value(2.0), Value(0.5)]
    assert softmax_cross_entropy(row, 1).data == softmax_cross_entropy([row], [1]).data


@st.composite
def soft_batches(draw):
    rows, _ = draw(batches())
    k = len(rows[0])
    weights = draw(st.lists(st.lists(st.floats(0.01, 1), min_size=k, max_size=k),
                            min_size=len(rows), max_size=len(rows)))
    return rows, [[w / sum(ws) for w in ws] for ws in weights]


@FAST
@given(soft_batches())
def test_cross_entropy_with_probability_targets_matches_torch(batch):
    rows, targets = batch
    t = torch.tensor(rows, dtype=torch.float64, requires_grad=True)
    loss = F.cross_entropy(t, torch.tensor(targets, dtype=torch.float64))
    loss.backward()
    assert_same(ce_ours(rows, targets), (loss.item(), t.grad.flatten().tolist()), atol=1e-15)


@FAST
@given(batches())
def test_one_hot_rows_give_the_int_labels_loss_bit_for_bit(batch):
    rows, labels = batch
    k = len(rows[0])
    onehot = [[1.0 if j == y else 0.0 for j in range(k)] for y in labels]
    assert ce_ours(rows, onehot) == ce_ours(rows, labels)


def test_labels_may_be_values_for_a_compiled_step():
    scores = [Value(0.3), Value(-1.2)]
    as_numbers = hinge(scores, [1, -1]).data
    assert hinge(scores, [Value(1.0), Value(-1.0)]).data == as_numbers
    assert (bce_with_logits(scores, [Value(1.0), Value(0.0)]).data
            == bce_with_logits(scores, [1, 0]).data)
    with pytest.raises(ValueError, match=r"labels must be -1 or 1, got Value\(data=0\.5"):
        hinge(scores, [Value(1.0), Value(0.5)])


# ---- l2 ----------------------------------------------------------------------------------
@FAST
@given(st.lists(floats, min_size=1, max_size=10), st.floats(0, 1))
def test_l2_is_the_demo_expression(ps, alpha):
    params = [Value(p) for p in ps]
    demo = alpha * sum((p * p for p in params))
    assert l2(params, alpha).data == demo.data
    reg = l2(params, alpha)
    reg.backward()
    t = torch.tensor(ps, dtype=torch.float64, requires_grad=True)
    (alpha * (t * t).sum()).backward()
    for p, g in zip(params, t.grad.tolist()):
        assert close(p.grad, g)


def test_l2_of_nothing_is_a_zero_value():
    assert isinstance(l2([], 1e-4), Value) and l2([], 1e-4).data == 0.0


# ---- bad input ---------------------------------------------------------------------------
@pytest.mark.parametrize("fn, labels, bad", [
    (hinge, [1, 0], "0"),
    (hinge, [1, 2], "2"),
    (hinge, [1, "1"], "'1'"),
    (bce_with_logits, [1, -1], "-1"),
    (bce_with_logits, [1, 0.5], "0.5"),
    (bce_with_logits, [True, 0], "True"),
])
def test_bad_binary_labels_are_named(fn, labels, bad):
    with pytest.raises(ValueError, match=f"got {bad} at index") as e:
        fn([Value(0.1), Value(0.2)], labels)
    assert fn.__name__ in str(e.value)


@pytest.mark.parametrize("label", [3, -1, 1.0, "0", None])
def test_bad_class_labels_are_named(label):
    with pytest.raises(ValueError, match=r"label at index 1 must be an int in \[0, 3\) or a row"):
        softmax_cross_entropy([[Value(0.0)] * 3] * 2, [0, label])


@pytest.mark.parametrize("fn", [mse, hinge, bce_with_logits])
def test_length_mismatch_and_empty(fn):
    with pytest.raises(ValueError, match="2 predictions but 1 targets"):
        fn([Value(1.0), Value(1.0)], [1])
    with pytest.raises(ValueError, match="empty batch"):
        fn([], [])
    with pytest.raises(ValueError, match="empty batch"):
        softmax_cross_entropy([], [])


# ---- accuracy and registry -----------------------------------------------------------------
def test_accuracy():
    s = [Value(0.5), Value(-0.2), Value(2.0), Value(-1.0)]
    assert accuracy(s, [1, -1, -1, -1], "hinge") == 0.75
    assert accuracy(s, [1, 0, 0, 1], "bce") == 0.5
    assert accuracy([[0.1, 0.9, 0.0], [2.0, 2.0, 1.0], [0, 0, 3]], [1, 1, 2],
                    "cross_entropy") == 2 / 3                # a tie goes to the first class
    with pytest.raises(ValueError, match="not defined for 'mse'"):
        accuracy(s, [1, 1, 1, 1], "mse")
    with pytest.raises(ValueError, match="unknown loss 'svm'"):
        accuracy(s, [1, 1, 1, 1], "svm")
    with pytest.raises(ValueError, match="4 predictions but 3 labels"):
        accuracy(s, [1, 1, 1], "hinge")


def test_registry():
    assert LOSSES == {"mse": mse, "hinge": hinge, "bce": bce_with_logits,
                      "cross_entropy": softmax_cross_entropy}


@pytest.mark.parametrize("alpha", [-1, float("nan"), "0.1", True])
def test_l2_refuses_a_bad_alpha(alpha):
    with pytest.raises(ValueError, match="l2: alpha must be a number >= 0"):
        l2([Value(1.0)], alpha)
