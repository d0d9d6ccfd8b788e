"""A compiled function shared by threads (issue 9.7), and division's derivative (issue 9.5).

Calls are serialized by a lock (each returns its own numbers); a Result whose buffers another
thread's call has reused raises instead of answering with that call's gradients; a fused step's
forward() and apply() must come from one thread.
"""
import math
import operator
import re
import threading

import pytest

import micrograd
from micrograd import optim
from micrograd.engine import Value


def _run_threads(targets):
    errors = []

    def wrap(fn):
        def run():
            try:
                fn()
            except Exception as e:              # pragma: no cover (reported below)
                errors.append(e)
        return run
    threads = [threading.Thread(target=wrap(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def _expression(w):
    def f(xs):
        acc = Value(0.0)
        for x in xs:                          # deep enough that a call takes a while
            x = x if isinstance(x, Value) else Value(x)
            acc = (acc + w * x).tanh() * 1.5 + x.exp() / (1.0 + x * x)
        return acc
    return f


def test_two_threads_each_get_their_own_numbers():
    w = Value(0.7)
    f = _expression(w)
    cfn = micrograd.compile(f)
    inputs = {k: [0.01 * k + 0.001 * j for j in range(300)] for k in range(2)}
    want = {k: f(xs).data for k, xs in inputs.items()}      # eager, on plain floats
    cfn(inputs[0])                            # trace once, before the race
    got = {0: [], 1: []}

    def worker(k):
        def run():
            for _ in range(200):
                got[k].append(cfn(inputs[k]).data)
        return run
    _run_threads([worker(0), worker(1)])
    assert set(got[0]) == {want[0]} and set(got[1]) == {want[1]}


def test_a_result_whose_buffers_another_thread_reused_refuses_backward():
    w = Value(0.7)
    cfn = micrograd.compile(_expression(w))
    r_main = cfn([0.1, 0.2])
    box = {}
    _run_threads([lambda: box.setdefault("other", cfn([0.3, 0.4]))])
    with pytest.raises(RuntimeError, match="in this thread or another"):
        r_main.backward()
    w.grad = 0.0
    box["other"].backward()                   # the latest call's result still works
    eager_w = Value(0.7)
    _expression(eager_w)([Value(0.3), Value(0.4)]).backward()
    assert w.grad == eager_w.grad


def test_threads_calling_backward_get_eagers_gradients():
    """Call and backward from two threads, each pair under the user's own lock: with the
    compiled function's lock, nothing of one thread's call leaks into the other's."""
    w = Value(0.7)
    f = _expression(w)
    cfn = micrograd.compile(f)
    user_lock = threading.Lock()
    want = {}
    for k in range(2):
        e = Value(0.7)
        _expression(e)([Value(0.1 * (k + 1)), Value(0.05)]).backward()
        want[k] = e.grad
    got = {0: set(), 1: set()}

    def worker(k):
        def run():
            for _ in range(100):
                with user_lock:
                    w.grad = 0.0
                    cfn([0.1 * (k + 1), 0.05]).backward()
                    got[k].add(w.grad)
        return run
    _run_threads([worker(0), worker(1)])
    assert got == {0: {want[0]}, 1: {want[1]}}


def test_fused_step_from_two_threads_is_some_order_of_eager_steps():
    """Two threads each taking 50 steps of one fused step: 100 steps of SGD, each one whole
    (the loss is a plain function of w, so the order of the threads does not matter)."""
    w = Value(3.0)
    opt = optim.SGD([w], lr=0.01)
    step = micrograd.compile(lambda x: (w * x - 1.0) ** 2, optimizer=opt)
    step(2.0)
    _run_threads([lambda: [step(2.0) for _ in range(50)] for _ in range(2)])
    step.sync()
    e = Value(3.0)
    eopt = optim.SGD([e], lr=0.01)
    for _ in range(101):
        e.grad = 0.0
        ((e * 2.0 - 1.0) ** 2).backward()
        eopt.step()
    assert w.data == e.data


def test_apply_after_another_threads_forward_raises():
    w = Value(3.0)
    opt = optim.SGD([w], lr=0.1)
    step = micrograd.compile(lambda x: (w * x) ** 2, optimizer=opt)
    step.forward(1.0)
    _run_threads([lambda: step.forward(2.0)])           # the deterministic interleaving
    with pytest.raises(RuntimeError, match="forward\\(\\) called by another thread"):
        step.apply()
    step.sync()
    assert w.data == 3.0                                  # nothing was applied


# ---- division: the lecture's a * b**-1, and a.div(b) (d/db = -out/b) ---------------------------
def _div_grads(compiled, a, b, div=operator.truediv):
    x, y = Value(a), Value(b)
    if compiled:
        micrograd.compile(lambda: div(x, y))().backward()
    else:
        div(x, y).backward()
    return x.grad, y.grad


@pytest.mark.parametrize("a, b", [(1e-170, 1e-170), (1e200, 1e200), (3.0, -7.0), (0.0, 2.0)])
def test_division_gradient_is_eagers(a, b):
    try:
        want = _div_grads(False, a, b)
    except ValueError as e:                    # b**-1's derivative -1 * b**-2 overflows at 1e-170
        with pytest.raises(ValueError, match=re.escape(str(e).split("(")[0].strip())):
            _div_grads(True, a, b)
        return
    assert _div_grads(True, a, b) == want


@pytest.mark.parametrize("a, b, db", [(1e-170, 1e-170, -1e170), (1e200, 1e200, -1e-200),
                                      (3.0, -7.0, -(3.0 / -7.0) / -7.0)])
def test_compiled_division_gradient_is_minus_out_over_b(a, b, db):
    assert _div_grads(False, a, b, Value.div) == (1.0 / b, db)
    assert _div_grads(True, a, b, Value.div) == (1.0 / b, db)
    assert math.isfinite(_div_grads(True, a, b, Value.div)[1])
