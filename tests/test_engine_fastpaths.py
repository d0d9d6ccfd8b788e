"""The rows' generated paths (micrograd.fastpaths) against the generic ones that call the row
(micrograd.op): the same nodes, the same bits, the same errors, for every row of the table read
from engine.OPS, on ints, floats, zeros, infinities and NaNs; a row replaced at run time, or one
that cannot be read on symbols, is still followed."""
import math
import random
import struct

import pytest

from micrograd import fastpaths
from micrograd import primitives as P
from micrograd.engine import LINEAR, OPS, Op, Value, linear, pow_op

NUMBERS = [0, 1, -2, 3, 0.0, -0.0, 0.5, -1.75, 2.5e-310, 1e300, -1e300, 710.0,
           float("inf"), float("-inf"), float("nan"), True]


def bits(x):
    return (type(x), struct.pack("<d", x) if isinstance(x, float) else x)


def outcome(fn, *args):
    """What fn(*args) did: its result, or its error's type and words."""
    try:
        return "ok", fn(*args)
    except Exception as e:
        return "error", (type(e), str(e))


def fast_rows():
    rows = [r for r in OPS.values()] + [pow_op(2), pow_op(-1)]
    return [r for r in rows if r.chain != r._chain]


def test_the_tables_rows_have_generated_paths():
    made = {r.name: (r.unary != r._unary, r.binary != r._binary) for r in fast_rows()}
    assert {n for n, (u, b) in made.items() if u} == {"exp", "tanh", "ReLU", "log", "abs",
                                                       "sigmoid", "**2", "**-1"}
    assert {n for n, (u, b) in made.items() if b} == {"+", "*", "**", "/"}
    assert {r.name for r in fast_rows()} == set(OPS) | {"**2", "**-1"}   # every chain


def made(path, xs):
    """The node path(*inputs) made: its number, grad, op, row, label, and whether its inputs
    are the Values given, in order."""
    ins = [Value(x) for x in xs]
    v = path(*ins)
    return (bits(v.data), v.grad, v._op, v._rule, v.label,
            len(v._prev) == len(ins) and all(a is b for a, b in zip(v._prev, ins)))


MANY_INPUTS = (LINEAR, OPS["max"], OPS["take"])     # rows of any number of inputs


@pytest.mark.parametrize("row", [r for r in fast_rows() if r not in MANY_INPUTS],
                         ids=lambda r: r.name)
def test_generated_forward_and_backward_are_the_rows_bit_for_bit(row):
    """Every pair (or single) of NUMBERS: the node made, the gradients added into the inputs
    (from a grad of 1, 0.5 and -3), or the error raised, are the generic path's exactly."""
    n = 1 if row.unary != row._unary or row.binary == row._binary else 2
    combos = [(x,) for x in NUMBERS] if n == 1 else [(x, y) for x in NUMBERS for y in NUMBERS]
    fast, slow = (row.unary, row._unary) if n == 1 else (row.binary, row._binary)
    checked = 0
    for xs in combos:
        got, want = outcome(made, fast, xs), outcome(made, slow, xs)
        assert got == want, xs
        if got[0] != "ok":
            continue
        for g in (1, 0.5, -3):
            results = []
            for chain in (row.chain, row._chain):
                ins = [Value(x) for x in xs]
                ins[0].grad = 0.25
                v = slow(*ins)
                v.grad = g
                r = outcome(chain, v)
                results.append((r[0], r[1] if r[0] == "error" else None,
                                [bits(x.grad) for x in ins]))
            assert results[0] == results[1], (xs, g)
            checked += 1
    assert checked > 10


@pytest.mark.parametrize("k", [1, 3, 8])
def test_generated_steps_of_rows_with_many_inputs_are_the_rows(k):
    rng = random.Random(k)
    for row in MANY_INPUTS:
        for _ in range(20):
            xs = [rng.choice(NUMBERS[:12]) for _ in range(2 * k + 1)]
            if row is OPS["take"]:                        # an index, then the table
                xs[0] = rng.randrange(2 * k)
            g = rng.choice([1, -0.5, 3.25])
            results = []
            for chain in (row.chain, row._chain):
                ins = [Value(x) for x in xs]
                v = row(*ins)
                v.grad = g
                r = outcome(chain, v)
                results.append((r[0], [bits(x.grad) for x in ins]))
            assert results[0] == results[1], (row.name, xs)


def test_a_shared_input_gets_both_contributions_in_order():
    x = Value(3.0)
    y = x * x + linear([x, x], [x, Value(2)], x)
    y.backward()
    assert x.grad == 2 * 3.0 + 1 + 3.0 + 3.0 + 2


def test_linear_follows_a_replaced_row(monkeypatch):
    w, x = [Value(2.0), Value(-1.0)], [Value(0.5), Value(4.0)]
    assert linear(w, x, 1).data == 1 + 2.0 * 0.5 + -1.0 * 4.0
    monkeypatch.setattr(LINEAR, "forward", lambda b, *wx: 10 * b)
    assert linear(w, x, 1).data == 10


def test_a_row_that_cannot_be_read_on_symbols_keeps_the_generic_paths():
    """math.exp on an input cannot be written down as a line: the row runs as written."""
    row = Op("myexp", lambda a: math.exp(a), lambda out, a: (out,))
    row.speed_up()
    assert row.unary == row._unary and row.chain != row._chain      # its derivative can
    x = Value(1.5)
    y = row.unary(x)
    y.backward()
    assert (y.data, x.grad) == (math.exp(1.5), math.exp(1.5))
    made = fastpaths.generate(Op("if", lambda a: a if a > 0 else 0, lambda out, a: (1,)),
                              Value, None, None)
    assert "unary" not in made and "chain" in made


def test_a_replaced_row_gets_new_generated_paths(monkeypatch):
    """...and the operators that are its paths (Value.relu, Value.__radd__) follow it."""
    relu, add = OPS["ReLU"], OPS["+"]
    before = relu.unary
    assert Value.relu is before and Value.__add__ is add.binary
    monkeypatch.setattr(relu, "forward", lambda a: P.where(a < 0, 0.01 * a, a))
    monkeypatch.setattr(add, "forward", lambda a, b: a + 2 * b)
    assert relu.unary is not before and Value.relu is relu.unary
    assert Value(-2.0).relu().data == -0.02
    assert (Value(1.0) + 10).data == 21 and (10 + Value(1.0)).data == 12
    monkeypatch.setattr(add, "forward", lambda a, b: a + b if a > 0 else b)   # not readable
    assert Value.__add__(Value(-1.0), 5).data == 5 and (5 + Value(-1.0)).data == 4.0
    monkeypatch.undo()
    assert Value(-2.0).relu().data == 0 and (10 + Value(1.0)).data == 11
    assert Value.__add__ is add.binary and add.binary != add._binary


def test_an_operator_kept_before_a_row_is_replaced_follows_the_new_row(monkeypatch):
    """nn keeps Value.relu in its table of activations: it must not keep the old row's code."""
    from micrograd.nn import ACTIVATIONS
    kept_relu, kept_add = ACTIVATIONS["relu"], Value.__add__
    monkeypatch.setattr(OPS["ReLU"], "forward", lambda a: P.where(a < 0, 0.5 * a, a))
    monkeypatch.setattr(OPS["+"], "forward", lambda a, b: a - b)
    assert kept_relu(Value(-2.0)).data == -1.0 and kept_add(Value(1.0), 3).data == -2.0
    monkeypatch.undo()
    assert kept_relu(Value(-2.0)).data == 0 and kept_add(Value(1.0), 3).data == 4.0


def test_your_own_row_sped_up_gives_the_same_bits_through_its_call():
    """The tour's P3: P3(x) and backward, before and after P3.speed_up(), bit for bit."""
    def run(op):
        xs = [Value(x) for x in (0.4, -1.3, 2, 0.0)]
        ys = [op(x) * x for x in xs] + [op(3)]
        for y in ys[:-1]:
            y.backward()
        return [bits(y.data) for y in ys] + [bits(x.grad) for x in xs]

    P3 = Op("P3", forward=lambda x: 0.5 * (5 * x**3 - 3 * x),
            local_grads=lambda out, x: (0.5 * (15 * x**2 - 3),))
    before = run(P3)
    P3.speed_up()
    assert P3.unary != P3._unary and P3.chain != P3._chain
    assert run(P3) == before


def generic_backward(root):
    """backward() by the engine's loop with a step that calls each row's own chain."""
    from micrograd.engine import _chain_rule, backpropagate, topological_order
    topo = topological_order(root)
    for v in topo:
        if v._a is not None:
            v.grad = 0
    root.grad += 1
    backpropagate(topo, lambda v, rule: _chain_rule(v, rule))


def random_graph(rng):
    """Leaves, then ops of every kind drawn from them and from the nodes made, a closure of
    the lecture's kind among them; the last node is the root."""
    made = [Value(rng.choice([rng.uniform(-2, 2), rng.randint(-3, 3)])) for _ in range(4)]
    for _ in range(40):
        a, b = rng.choice(made), rng.choice(made)
        made.append(rng.choice([lambda: a + b, lambda: a * b, lambda: a - b, lambda: a / 2.5,
                                lambda: a.tanh(), lambda: a.relu(), lambda: a ** 2,
                                lambda: 3 * a, lambda: linear([a, b], [b, a], 0.5)])())
    out = made[-1] + made[-2] * made[-3]
    return made, out


@pytest.mark.parametrize("seed", range(5))
def test_backwards_loop_written_out_is_the_generic_loop_bit_for_bit(seed):
    """fastpaths.backward (the loop with + and * in place) against engine.backpropagate with
    a step that calls every row's chain: the same grads, bit for bit, on every node."""
    for k in range(20):
        runs = []
        for loop in ("written out", "generic"):
            made, out = random_graph(random.Random(seed * 100 + k))
            out.backward() if loop == "written out" else generic_backward(out)
            runs.append([bits(v.grad) for v in made + [out]])
        assert runs[0] == runs[1], (seed, k)


def test_backwards_loop_follows_a_replaced_row_of_its_own(monkeypatch):
    x, y = Value(2.0), Value(3.0)
    (x * y + x).backward()
    assert (x.grad, y.grad) == (4.0, 2.0)
    monkeypatch.setattr(OPS["+"], "local_grads", lambda out, a, b: (2, 10))
    monkeypatch.setattr(OPS["*"], "local_grads", lambda out, a, b: (b * b, 1))
    x, y = Value(2.0), Value(3.0)
    (x * y + x).backward()         # d/dx = 2*9 + 10 (the new rows), d/dy = 2*1
    assert (x.grad, y.grad) == (28.0, 2.0)
    monkeypatch.setattr(OPS["+"], "local_grads", lambda out, a, b: (1, 1) if a > 0 else (0, 0))
    x, y = Value(2.0), Value(3.0)  # not readable on symbols: its own generic chain is called
    (x * y + x).backward()
    assert (x.grad, y.grad) == (10.0, 1)      # 9 + 1 and 1, by the rows as they are now
    monkeypatch.undo()
    x, y = Value(2.0), Value(3.0)
    (x * y + x).backward()
    assert (x.grad, y.grad) == (4.0, 2.0)


def test_backwards_loop_names_a_failing_step_as_the_rows_own_chain_does():
    for op in ("+", "*"):
        errors = []
        for loop in ("written out", "generic"):
            a, b = Value(2.0), Value(3.0)
            out = a + b if op == "+" else a * b
            a.grad = "not a number"
            with pytest.raises(TypeError) as e:
                out.backward() if loop == "written out" else generic_backward(out)
            errors.append(str(e.value))
        assert errors[0] == errors[1] and f"backward through {op}" in errors[0]
