"""The C backend of micrograd.compile (issue 14): generated C, built by the system's compiler.

Both backends must give eager's numbers bit for bit; without a compiler the numpy backend takes
over by itself (and says so in stats()); the kernel cache never loads a file someone else could
have written.
"""
import math
import os
import random
import stat

import numpy as np
import pytest

import micrograd
from micrograd import optim
from micrograd.compiler import CompileError, cbuild, cgen
from micrograd.data import make_moons
from micrograd.engine import MAX, Op, Value, linear
from micrograd.nn import MLP


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh private kernel cache."""
    d = tmp_path / "kernels"
    monkeypatch.setenv("MICROGRAD_CACHE_DIR", str(d))
    return d


def _backend(cfn):
    return [s["backend"] for s in cfn.stats()]


# ---- every operation the C kernels know, both backends, against eager --------------------
W = [Value(0.7), Value(-1.3), Value(0.25), Value(2.0)]


def every_op(xs):
    a, b, c, d = xs
    p, q, r, s = W
    h = linear([p, q], [a, b], r)                      # a fused neuron
    lec = sum((wi * xi for wi, xi in zip(W, xs)), s)   # one written the lecture's way
    m = MAX(a * p, b, c * q)
    terms = [(h - m).exp(), (lec * 0.1).tanh(), (a * q).sigmoid(), (abs(b * r) + 1.0).log(),
             (c * s).relu(), -(d / (p + 3.0)), abs(a - q)]
    return sum(terms[1:], terms[0]) - terms[2] * terms[3] + m


POINTS = [[0.3, -2.0, 1.5, 0.75], [0.0, -0.0, 4.0, -1.0], [-3.0, 0.5, -0.0, 2.5],
          [10.0, 20.0, -30.0, 1e-300]]


def _eager(xs):
    for p in W:
        p.grad = 0.0
    out = every_op([Value(x) for x in xs])
    out.backward()
    return out.data, [p.grad for p in W]


@pytest.mark.parametrize("backend", ["c", "numpy"])
def test_every_op_is_eagers_on_both_backends(cache, backend):
    cfn = micrograd.compile(every_op, backend=backend)
    for xs in POINTS:
        want = _eager(xs)
        for p in W:
            p.grad = 0.0
        out = cfn(xs)
        out.backward()
        assert (out.data, [p.grad for p in W]) == want, xs
    assert _backend(cfn) == [backend]


@pytest.mark.parametrize("backend", ["c", "numpy"])
def test_a_batch_of_special_numbers_on_both_backends(cache, backend):
    """One program over a batch: NaN, infinities, signed zeros, subnormals flow as in eager."""
    specials = [0.0, -0.0, 5e-324, -1e300, float("inf"), float("-inf"), float("nan"), 3.5]
    rng = random.Random(7)
    rows = [[rng.choice(specials) for _ in range(3)] for _ in range(12)]
    w = Value(0.5)

    def f(rows):
        return [((x * w + y).relu() - abs(z) + MAX(x, y, z) * -y).tanh() + (x - y) * z
                for x, y, z in rows]
    cfn = micrograd.compile(f, backend=backend)
    outs = cfn(rows)
    want = f([[Value(x) for x in r] for r in rows])
    for got, exp in zip(outs, want):
        assert got.data == exp.data or (math.isnan(got.data) and math.isnan(exp.data))


def _w1(backend, steps):
    X, y = make_moons(n_samples=100, noise=0.1, random_state=1337)
    y = [2 * int(v) - 1 for v in y]
    random.seed(1337)
    model = MLP(2, [16, 16, 1], fused=True)
    opt = optim.SGD(model.parameters(), lr=1.0)

    def loss(X, y):
        scores = [model(row) for row in X]
        losses = [(1 + -yi * si).relu() for yi, si in zip(y, scores)]
        return sum(losses) * (1.0 / len(losses)) + 1e-4 * sum(p * p for p in model.parameters())
    losses = []
    if backend is None:                                   # eager
        rows = [[Value(a) for a in r] for r in X.tolist()]
        for k in range(steps):
            total = loss(rows, y)
            model.zero_grad()
            total.backward()
            opt.lr = 1.0 - 0.9 * k / 100
            opt.step()
            losses.append(total.data)
        return losses, [p.data for p in model.parameters()], None
    step = micrograd.compile(loss, optimizer=opt, backend=backend)
    Xa, ya = np.asarray(X), np.asarray(y, dtype=float)
    for k in range(steps):
        opt.lr = 1.0 - 0.9 * k / 100
        losses.append(step(Xa, ya).data)
    step.sync()
    return losses, [p.data for p in model.parameters()], step


def test_fused_step_on_c_and_numpy_is_eager_over_100_steps():
    """In the user's kernel cache, not a fresh one (as tests/test_compiler.py): this fused step is
    the same C program on every run, built once (4 s of the C compiler) and then loaded; the
    builds themselves are checked above and below on fresh caches."""
    eager_losses, eager_w, _ = _w1(None, 100)
    for backend in ("c", "numpy"):
        losses, weights, step = _w1(backend, 100)
        assert losses == eager_losses, backend
        assert weights == eager_w, backend
        assert _backend(step) == [backend]


@pytest.mark.parametrize("name, fn, ok, bad", [
    ("exp overflow", lambda x, p: (x * p).exp(), 1.0, 1000.0),
    ("log of 0", lambda x, p: (x * p).log(), 1.0, 0.0),
    ("division by zero", lambda x, p: p / (x - 1.0), 2.0, 1.0),
])
def test_c_kernel_errors_are_eagers_errors(cache, name, fn, ok, bad):
    p = Value(1.5)
    cfn = micrograd.compile(lambda x: fn(x, p), backend="c")
    assert cfn(ok).data == fn(Value(ok), p).data
    with pytest.raises(Exception) as want:
        fn(Value(bad), p)
    with pytest.raises(type(want.value)) as got:
        cfn(bad)
    assert str(got.value) == str(want.value)
    assert cfn(ok).data == fn(Value(ok), p).data            # and it goes on working


# ---- choosing the backend -------------------------------------------------------------------
def _hide_compiler(monkeypatch, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("CC", raising=False)


def test_without_a_compiler_numpy_takes_over_with_the_same_numbers(cache, monkeypatch,
                                                                   tmp_path):
    with_c, w_c, step_c = _w1("auto", 5)
    assert _backend(step_c) == ["c"]
    _hide_compiler(monkeypatch, tmp_path)
    assert cbuild.find_compiler() is None
    without, w_n, step_n = _w1("auto", 5)
    assert (without, w_n) == (with_c, w_c)
    (info,) = step_n.stats()
    assert info["backend"] == "numpy"
    assert info["backend_note"] == "no C compiler found (cc, gcc or $CC on PATH)"
    with pytest.raises(CompileError, match="backend='c' is not available: no C compiler"):
        micrograd.compile(lambda x: x * 2.0, backend="c")(1.0)


def test_ops_without_a_c_kernel_and_big_programs_stay_on_numpy(cache):
    """A row that calls math.* itself has no C kernel: numpy, element by element, and why."""
    cube = Op("cube", lambda a: math.pow(a, 3), lambda out, a: (3 * math.pow(a, 2),))
    sq = micrograd.compile(lambda x: cube(x) + 1.0)
    assert sq(3.0).data == 28.0
    assert sq.stats()[0]["backend"] == "numpy"
    assert sq.stats()[0]["backend_note"] == (
        "no C kernel for op 'cube': float() or a math.* function of an input (write the row "
        "with arithmetic, comparisons and micrograd.primitives' exp/log/tanh/where)")
    deep = micrograd.compile(lambda x: _chain(x, cgen.MAX_GROUPS + 1))
    assert deep(0.5).data == _chain(Value(0.5), cgen.MAX_GROUPS + 1).data
    assert "more than 64" in deep.stats()[0]["backend_note"]
    rough = micrograd.compile(lambda x: x * 2.0, exact=False)
    rough(1.0)
    assert rough.stats()[0]["backend"] == "numpy"


def _chain(x, n):
    for _ in range(n):
        x = (x * 0.9).tanh()
    return x


def test_backend_must_be_known():
    with pytest.raises(ValueError, match="backend must be one of 'auto', 'c', 'numpy', got 'gpu'"):
        micrograd.compile(lambda x: x, backend="gpu")


# ---- the kernel cache ----------------------------------------------------------------------
def _program_source():
    w = Value(0.5)
    cfn = micrograd.compile(lambda x: (x * w).tanh(), backend="c")
    cfn(1.0)
    prog = next(iter(cfn._cache.values()))
    return cgen.forward_source(prog.groups)[0], cfn


def test_kernels_are_cached_privately_and_reused(cache, monkeypatch):
    src = _program_source()[0]
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o700
    libs = sorted(p.name for p in cache.iterdir())
    assert libs and all(n.startswith("mg_") and n.endswith(".so") for n in libs)

    def no_build(*a):
        raise AssertionError("the cached library was built again")
    monkeypatch.setattr(cbuild, "_build", no_build)
    again = _program_source()[0]                  # a new compiled function, the same program
    assert again == src
    assert sorted(p.name for p in cache.iterdir()) == libs


def test_a_library_others_could_have_written_is_never_loaded(cache):
    src, _ = _program_source()
    path = cbuild.library_path(src)[2]
    os.unlink(path)
    with open(path, "wb") as f:
        f.write(b"not a library: loading this would fail")
    if os.getuid() == 0:
        os.chown(path, 4242, -1)                  # someone else's file
    else:                                         # pragma: no cover (CI runs as root)
        os.chmod(path, 0o666)
    _program_source()                             # rebuilt, not loaded
    st = os.lstat(path)
    assert st.st_uid == os.getuid() and not st.st_mode & 0o022


def test_a_cache_directory_open_to_others_is_not_used(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    monkeypatch.setenv("MICROGRAD_CACHE_DIR", str(shared))
    src, cfn = _program_source()
    assert cfn.stats()[0]["backend"] == "c"
    assert list(shared.iterdir()) == []
    _, folder, _ = cbuild.library_path(src)
    assert folder != str(shared) and stat.S_IMODE(os.stat(folder).st_mode) == 0o700
