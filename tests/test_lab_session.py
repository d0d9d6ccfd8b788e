"""The one run control of both labs (micrograd.lab.runs, micrograd.lab.session): the site's
stepping gives the numbers of one fit(...) call, setting for setting; its Play, Pause, Step and
Reset follow the same rules as the threaded lab's; its plain-Python numbers (inputs, pictures)
are numpy's; and the site's tanh, exp, log and ** are glibc's to the bit.

No browser here: tests/test_site.py drives the site's lab in Chromium.
"""
import math
import platform
import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from micrograd import primitives
from micrograd.lab import settings as lab_settings
from micrograd.lab.session import NUMPY, RequestError, Session
from micrograd.lab.settings import parse_settings
from micrograd.site import libm
from micrograd.site.lab_session import COMPILED_REFUSED, LabSession
from micrograd.train import TrainingDiverged, fit


def train_through(lab):
    """What the site's worker does, in CPython: advance() until the run waits for the page."""
    while lab.advance() is not None:
        pass


def one_fit_call(doc):
    """The run `doc` asks for, as one fit(...) call on micrograd lab's own data: its curves (or
    the TrainingDiverged it raised, and the curves until then)."""
    s = parse_settings(doc)
    X_tr, X_te, y_tr, y_te = NUMPY.data(s)
    F_tr, F_te = NUMPY.features(s, X_tr), None if X_te is None else NUMPY.features(s, X_te)
    model = lab_settings.make_model(s)
    error = None
    try:
        h = fit(model, F_tr, y_tr, **lab_settings.fit_arguments(s), progress=False,
                X_val=F_te, y_val=y_te, eval_every=1)
    except TrainingDiverged as e:
        h, error = e.history, e
    curves = {"loss": h.loss, "accuracy": h.accuracy, "test_loss": h.val_loss,
              "test_accuracy": h.val_accuracy}
    return curves, error


RUNS = [
    {"seed": 3, "steps": 12, "batch_size": 64},
    {"seed": 1, "steps": 10, "optimizer": "momentum", "lr": 0.1, "batch_size": 32,
     "schedule": "cosine", "activation": "tanh", "loss": "mse"},
    {"seed": 7, "steps": 10, "optimizer": "adam", "lr": 0.02, "batch_size": 50,
     "schedule": "step", "activation": "sigmoid", "loss": "bce", "layers": [8, 8]},
    {"seed": 2, "steps": 8, "dataset": "spiral", "loss": "cross_entropy", "lr": 0.3,
     "samples": 120, "layers": [12], "features": list(lab_settings.FEATURES)},
    {"seed": 5, "steps": 8, "dataset": "xor", "test_fraction": 0.0, "layers": [6],
     "points": [[0.5, 0.5, 0], [-0.4, 0.7, 1]], "features": ["x1", "x2", "x1x2"]},
    {"seed": 11, "steps": 6, "dataset": "blobs", "loss": "mse", "optimizer": "adam",
     "lr": 0.05, "samples": 90, "batch_size": 7, "activation": "tanh"},
    {"seed": 0, "steps": 6, "dataset": "circles", "features": ["x1sq", "x2sq"], "layers": [4],
     "batch_size": 500},
]


@pytest.mark.parametrize("doc", RUNS, ids=lambda d: f"{d.get('dataset', 'moons')}-"
                                                    f"{d.get('optimizer', 'sgd')}-{d['seed']}")
def test_the_sites_steps_are_one_fit_calls_numbers(doc):
    """One fit call a step, with the optimizer, the schedule and the batches kept from call to
    call: every loss and accuracy, on the training batch and the test set, is one fit call's."""
    lab = LabSession()
    assert lab.request("POST", "/api/settings", {}, doc) == (200, {"ok": True})
    lab.control("play", 0)
    train_through(lab)
    state = lab.state()
    want, error = one_fit_call(doc)
    assert error is None
    assert (state["status"], state["step"]) == ("done", doc["steps"])
    assert state["curves"] == want
    assert len(state["curves"]["loss"]) == doc["steps"]


def test_a_run_that_diverges_says_so_at_the_step_fit_names():
    doc = {"lr": 10.0, "loss": "mse", "steps": 40, "schedule": "constant"}
    lab = LabSession()
    lab.apply_settings(doc)
    lab.control("play", 0)
    train_through(lab)
    state = lab.state()
    want, error = one_fit_call(doc)
    assert str(error) == "loss became inf at step 5"
    assert (state["status"], state["step"]) == ("diverged", 5)
    assert state["message"] == f"training diverged: {error}; try a smaller learning rate"
    assert state["curves"] == want


def test_step_play_pause_and_reset_act_between_two_steps(monkeypatch):
    """On the run control's own clock, moved 0.1 ms a reading: the pace's waits are what the
    speed says, whatever the machine's load (a stall of half a second between two lines
    would otherwise look like a pace that has run out)."""
    from types import SimpleNamespace
    from micrograd.lab import runs
    clock = [1000.0]

    def monotonic():
        clock[0] += 1e-4
        return clock[0]
    monkeypatch.setattr(runs, "time", SimpleNamespace(monotonic=monotonic))
    lab = LabSession()
    lab.apply_settings({"steps": 20, "batch_size": 16, "layers": [4]})
    assert lab.advance() is None and lab.state()["step"] == 0     # nothing asked yet
    lab.control("step")
    assert lab.advance() is None                                # one step, then it waits
    s = lab.state()
    assert (s["step"], s["status"], s["playing"]) == (1, "paused", False)
    lab.control("step")
    lab.control("step")
    train_through(lab)
    assert lab.state()["step"] == 3
    lab.control("play", 2.0)                     # two steps a second, from the last step's end
    wait = lab.advance()
    assert lab.state()["step"] == 3 and 0 < wait <= 0.5
    lab.control("speed", 0)                                     # flat out: a chunk of one step
    assert lab.advance(seconds=0) == 0 and lab.state()["step"] == 4
    lab.control("speed", 2.0)
    assert 0 < lab.advance() <= 0.5 and lab.state()["step"] == 4
    lab.control("pause")
    assert lab.advance() is None and lab.state()["status"] == "paused"
    lab.control("speed", 0)
    lab.control("play")
    lab.advance(seconds=0)                                      # a chunk of one step
    assert lab.state()["step"] == 5
    run = lab.state()["run"]
    lab.control("reset")                                        # a fresh run, still playing
    s = lab.state()
    assert (s["run"], s["step"], s["playing"]) == (run + 1, 0, True)
    train_through(lab)
    s = lab.state()
    assert (s["status"], s["step"]) == ("done", 20)
    with pytest.raises(RequestError, match=r"the run has ended \(finished: 20 steps\); press "
                                           r"Reset to start again"):
        lab.control("play")


def test_the_last_step_ends_the_run_as_the_threaded_lab_does():
    """Stepped one by one, the last step leaves the run paused (fit has not returned); the next
    step ends it: as in micrograd lab."""
    lab = LabSession()
    lab.apply_settings({"steps": 2, "layers": [2], "samples": 20})
    for _ in range(2):
        lab.control("step")
        train_through(lab)
    assert (lab.state()["step"], lab.state()["status"]) == (2, "paused")
    lab.control("step")
    train_through(lab)
    assert (lab.state()["step"], lab.state()["status"]) == (2, "done")
    theirs = Session(parse_settings({"steps": 2, "layers": [2], "samples": 20}))
    try:
        for k in (1, 2):
            theirs.control("step")
            deadline = time.monotonic() + 60                    # a hang guard, not a timing
            while (lambda s: s["step"] < k or s["stepping"])(theirs.state()):
                assert time.monotonic() < deadline
                time.sleep(0.02)
        assert theirs.state()["step"] == 2 and theirs.state()["status"] == "paused"
        assert theirs.state()["curves"] == lab.state()["curves"]
    finally:
        theirs.close()


def test_the_compiled_step_is_refused_in_one_line():
    lab = LabSession()
    assert lab.request("POST", "/api/settings", {}, {"compiled": True}) == \
        (400, {"error": COMPILED_REFUSED})
    assert COMPILED_REFUSED == ("the compiled step needs numpy, which the site's Python does "
                                "not have: run `micrograd lab` for it")
    theirs = Session()
    try:
        theirs.apply_settings({"compiled": True, "steps": 3, "layers": [3]})
        name, doc = theirs.model_document()
    finally:
        theirs.close()
    import json
    assert lab.request("POST", "/api/model", {"name": name}, json.dumps(doc)) == \
        (400, {"error": f"{name}: {COMPILED_REFUSED}"})
    assert lab.state()["settings"]["compiled"] is False


# ---------------------------------------------------------------------------------------------
# The site's numbers without numpy
# ---------------------------------------------------------------------------------------------
def test_the_inputs_in_plain_python_are_numpys():
    r = random.Random(4)
    rows = [[r.uniform(-30, 30), r.gauss(0, 2)] for _ in range(5000)] + [[0.0, -0.0], [1e-300, 7.5]]
    s = parse_settings({"features": list(lab_settings.FEATURES)})
    assert lab_settings.features_of(s, rows) == lab_settings.featurize(s, rows).tolist()
    s = parse_settings({"features": ["x2", "x1x2"]})
    assert lab_settings.features_of(s, rows) == lab_settings.featurize(s, rows).tolist()


@pytest.mark.parametrize("doc", [{}, {"dataset": "spiral", "layers": [5, 3], "seed": 4,
                                      "loss": "cross_entropy",
                                      "features": ["x1", "x2", "sinx1", "x2sq"]},
                                 {"dataset": "blobs", "activation": "tanh", "loss": "mse"}])
def test_the_pictures_in_plain_python_are_numpys(doc):
    """At the first step the two labs draw the same bytes (later, a sum in another order may
    put a pixel one byte over: numpy's matrix product is not the engine's sum)."""
    lab, theirs = LabSession(), Session()
    try:
        lab.apply_settings(doc)
        theirs.apply_settings(doc)
        mine, want = lab.state()["view"], theirs.state()["view"]
        for key in ("boundary", "inputs", "network"):
            assert mine[key] == want[key], key
        assert [m["img"] for m in mine["neurons"]["maps"]] == \
            [m["img"] for m in want["neurons"]["maps"]]
        for m, w in zip(mine["neurons"]["maps"], want["neurons"]["maps"]):
            assert m["range"] == pytest.approx(w["range"], rel=1e-12, abs=1e-15)
    finally:
        theirs.close()


# ---------------------------------------------------------------------------------------------
# glibc's tanh and exp, for the engine in Pyodide
# ---------------------------------------------------------------------------------------------
GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
needs_glibc = pytest.mark.skipif(not GLIBC, reason="compares with glibc's math.tanh and math.exp")


def _inputs(seed, n):
    r = random.Random(seed)
    return ([r.uniform(-25, 25) for _ in range(n)] + [r.gauss(0, 1) for _ in range(n)] +
            [r.uniform(-1e-3, 1e-3) for _ in range(n // 4)] + [r.uniform(-0.6, 0.6) for _ in
                                                                range(n)] +
            [0.0, -0.0, 2.0 ** -56, -(2.0 ** -56), 22.0, -22.0, 1.0, -1.0, math.inf, -math.inf])


@needs_glibc
def test_tanh_and_expm1_are_glibcs_bit_for_bit():
    xs = _inputs(1, 6000)
    assert [libm.tanh(x).hex() for x in xs] == [math.tanh(x).hex() for x in xs]
    assert math.isnan(libm.tanh(math.nan))
    ys = xs[:-2] + [random.Random(2).uniform(-700, 709) for _ in range(3000)]
    for edge in (math.log(2) / 2, 1.5 * math.log(2), 56 * math.log(2), 2.0 ** -54, 0.25):
        for side in (edge, -edge):                  # fdlibm's branch points, to the last bit
            y = side
            for _ in range(4):
                y = math.nextafter(y, 0.0)
            for _ in range(8):
                ys.append(y)
                y = math.nextafter(y, math.copysign(math.inf, side))
    assert [libm.expm1(x).hex() for x in ys] == [math.expm1(x).hex() for x in ys]


@needs_glibc
def test_exp_is_glibcs_bit_for_bit():
    r = random.Random(3)
    xs = _inputs(4, 6000) + [-r.uniform(0, 745.2) for _ in range(6000)] + \
        [r.uniform(512, 709.78) for _ in range(1000)] + [-745.1, -745.2, -1000.0, 709.7] + \
        [r.uniform(709.78, 709.782712893384) for _ in range(200)] + \
        [-r.uniform(744.0, 1023.0) for _ in range(2000)]
    assert [libm.exp(x).hex() for x in xs] == [math.exp(x).hex() for x in xs]
    with pytest.raises(OverflowError):
        libm.exp(710.0)


def _log_inputs(seed, n):
    """Positive doubles of every kind: any exponent, near 1 (glibc's separate polynomial, and
    its two ends), subnormals, powers of two and their neighbours, huge ones."""
    r = random.Random(seed)
    bits = [r.getrandbits(63) for _ in range(n)]
    xs = [x for x in (libm._double(b) for b in bits) if math.isfinite(x) and x > 0]
    xs += [1.0 + r.uniform(-0.07, 0.07) for _ in range(n)]
    xs += [1.0 + r.uniform(-1, 1) * 2.0 ** -r.randint(5, 52) for _ in range(n // 2)]
    xs += [libm._double(r.randrange(1, 1 << 52)) for _ in range(n // 2)]
    xs += [r.uniform(0.5, 2.0) * 2.0 ** r.randint(1000, 1023) for _ in range(n // 4)]
    xs += [math.exp(r.uniform(-20, 20)) for _ in range(n)]
    for e in range(-1074, 1024, 7):
        p = math.ldexp(1.0, e)
        xs += [p, math.nextafter(p, 0.0), math.nextafter(p, math.inf)]
    for edge in (1.0 - 2.0 ** -4, 1.0 + float.fromhex("0x1.09p-4"), 1.0):
        xs += [math.nextafter(edge, 0.0), edge, math.nextafter(edge, 2.0)]
    return [x for x in xs if x > 0] + [5e-324, 2.2250738585072014e-308, 1.7976931348623157e308]


@needs_glibc
def test_log_is_glibcs_bit_for_bit():
    """glibc's log (its FMA build; its table from glibc_log.json) on 50,000 and more arguments
    of every kind. (scripts/check_libm.py log 1000000 ran the same kinds on a million: 0 differ.)"""
    xs = _log_inputs(20261204, 12000)
    assert len(xs) > 50000
    assert [libm.log(x).hex() for x in xs] == [math.log(x).hex() for x in xs]
    assert libm.log(1.0) == 0.0 and math.copysign(1, libm.log(1.0)) == 1
    assert libm.log(math.inf) == math.inf and math.isnan(libm.log(math.nan))
    assert libm.log(7) == math.log(7) and libm.log(10 ** 400) == math.log(10 ** 400)
    assert libm.log(True) == 0.0
    for bad in (0.0, -1.0, -math.inf):
        with pytest.raises(ValueError, match="math domain error"):
            libm.log(bad)


@needs_glibc
@settings(derandomize=True, max_examples=2000)
@given(st.floats(min_value=5e-324, allow_infinity=False, allow_nan=False))
def test_log_is_glibcs_on_any_float(x):
    assert libm.log(x).hex() == math.log(x).hex()


@needs_glibc
@settings(derandomize=True, max_examples=2000)
@given(st.floats(min_value=0.9, max_value=1.1))
def test_log_near_1_is_glibcs_on_any_float(x):
    assert libm.log(x).hex() == math.log(x).hex()


LIBM_SO = "/lib/x86_64-linux-gnu/libm.so.6"


@pytest.mark.skipif(not (GLIBC and platform.machine() == "x86_64" and
                         __import__("os").path.exists(LIBM_SO)),
                    reason=f"reads glibc's log table from x86-64 glibc's {LIBM_SO}")
def test_the_log_table_is_the_one_in_this_machines_glibc():
    """glibc_log.json holds what read_glibc_log_data finds in libm.so.6 again: ln2 in two
    parts, both polynomials, and the 128 {invc, logc} pairs (as `python -m micrograd.site.libm`
    writes them)."""
    import json
    from importlib import resources
    stored = json.loads(resources.files("micrograd.site").joinpath("glibc_log.json").read_text())
    stored.pop("made_by")
    found = libm.read_glibc_log_data(LIBM_SO)
    assert stored == found
    assert len(found["tab"]) == 128 and len(found["poly"]) == 5 and len(found["poly1"]) == 11
    assert found["poly1"][0] == (-0.5).hex()
    for invc, logc in found["tab"]:          # logc = log(c) for c = 1/invc, to about 2^-45
        assert abs(float.fromhex(logc) + math.log(float.fromhex(invc))) < 2.0 ** -45


def test_a_library_without_glibcs_log_table_is_refused_in_one_line(tmp_path):
    fake = tmp_path / "libm.so"
    fake.write_bytes(b"\0" * 4096)
    with pytest.raises(ValueError, match=r"libm.so: found 0 tables like glibc's __log_data"):
        libm.read_glibc_log_data(str(fake))


@needs_glibc
@given(st.floats(allow_nan=False, min_value=-40.0, max_value=40.0))
def test_tanh_is_glibcs_on_any_float(x):
    assert libm.tanh(x).hex() == math.tanh(x).hex()


@needs_glibc
@given(st.floats(allow_nan=False, allow_infinity=False, max_value=709.0))
def test_exp_is_glibcs_on_any_float(x):
    assert libm.exp(x).hex() == math.exp(x).hex()


@needs_glibc
def test_power_is_glibcs_where_python_calls_pow():
    r = random.Random(6)
    pairs = [(r.uniform(-10, 10), 2) for _ in range(3000)] + \
        [(r.uniform(0, 2), 2.0) for _ in range(3000)] + [(r.uniform(0, 5), 0.5) for _ in range(2000)] + \
        [(0.999, float(t)) for t in range(1, 3001)] + [(0.9, float(t)) for t in range(1, 400)] + \
        [(r.lognormvariate(0, 4), r.uniform(-8, 8)) for _ in range(3000)] + \
        [(-2.5, 3.0), (-2.5, 2.0), (1e-310, 2.0), (1e150, 2.0), (2.0, 1e-70), (7, 2.0), (1.0, 0.3)]
    assert [libm.power(a, b).hex() for a, b in pairs] == [(a ** b).hex() for a, b in pairs]
    assert libm.power(3, 4) == 81 and type(libm.power(3, 4)) is int      # ints stay ints
    assert libm.power(-8.0, 1 / 3) == (-8.0) ** (1 / 3)                  # a complex number
    for a, b in ((0.0, -1.0), (1e300, 3.0)):
        with pytest.raises((ZeroDivisionError, OverflowError)) as theirs:
            a ** b
        with pytest.raises(type(theirs.value), match=str(theirs.value)):
            libm.power(a, b)


@needs_glibc
@given(st.floats(min_value=2.0 ** -1000, max_value=2.0 ** 1000),
       st.floats(min_value=-30.0, max_value=30.0))
def test_power_is_glibcs_on_any_floats(x, y):
    try:
        want = (x ** y).hex()
    except OverflowError:
        want = "OverflowError"
    try:
        got = libm.power(x, y).hex()
    except OverflowError:
        got = "OverflowError"
    assert got == want


@needs_glibc
def test_installed_adam_and_step_decay_take_their_powers_from_libm():
    """Adam's bias corrections (beta ** t: musl's pow rounds some of them differently from
    glibc's, the first at t = 348 for beta2 = 0.999) and step decay's gamma ** k go through
    optim.power, which libm.install swaps for glibc's: here the same bits over 1000 steps."""
    from micrograd import optim
    from micrograd.engine import Value

    def adam_run():
        rng = random.Random(3)
        params = [Value(rng.uniform(-1, 1)) for _ in range(3)]
        opt = optim.Adam(params, lr=0.01)
        decay = optim.step_decay(0.5, 0.9, 7)
        out = []
        for t in range(1000):
            for p in params:
                p.grad = math.sin(p.data * 3 + t)
            opt.step()
            out.append((tuple(p.data for p in params), decay(t)))
        return out

    want = adam_run()
    libm.install()
    try:
        assert optim.power is libm.power
        assert adam_run() == want
    finally:
        libm.uninstall()
    assert optim.power is pow


@needs_glibc
def test_installed_the_engines_tanh_exp_and_power_train_fits_numbers():
    """In Pyodide the worker gives the engine libm's tanh, exp and ** (libm.install); here,
    where they equal glibc's, runs with them installed are fit's numbers."""
    from micrograd import engine
    from micrograd.engine import OPS, Value
    pow_row, square = OPS["**"].forward, engine.pow_op(2).forward
    libm.install()
    try:
        assert primitives.math.tanh is libm.tanh and primitives.math.exp is libm.exp
        assert primitives.math.log is libm.log and OPS["**"].forward is libm.power
        assert isinstance(engine.pow_op(2).forward, libm._PowerBy)
        x = random.Random(8).uniform(0.5, 2)
        assert (Value(x) ** 2).data == x ** 2 and (Value(x) ** Value(2.0)).data == x ** 2.0
        assert Value(3.0).tanh().data == math.tanh(3.0)
        assert Value(0.95).log().data == math.log(0.95)
        for doc in ({"seed": 1, "steps": 4, "activation": "tanh", "loss": "mse",
                     "batch_size": 20},
                    {"seed": 2, "steps": 4, "activation": "sigmoid", "loss": "bce",
                     "layers": [6]},
                    {"seed": 3, "steps": 4, "dataset": "spiral", "loss": "cross_entropy",
                     "layers": [6]}):
            lab = LabSession()
            lab.apply_settings(doc)
            lab.control("play", 0)
            train_through(lab)
            got = lab.state()["curves"]
            libm.uninstall()
            want, _ = one_fit_call(doc)
            libm.install()
            assert got == want
    finally:
        libm.uninstall()
    assert primitives.math is math and OPS["**"].forward is pow_row
    assert engine.pow_op(2).forward is square


def test_the_snippet_of_a_run_with_sin_inputs_on_the_spiral_is_the_same_run():
    """The spiral's angles and the sin inputs are micrograd.trig's in the lab (the site's
    numbers); the Python snippet the lab shows imports that same sin, so it is the same run."""
    doc = {"seed": 5, "steps": 3, "dataset": "spiral", "loss": "cross_entropy", "samples": 60,
           "layers": [4], "test_fraction": 0.2, "features": ["x1", "x2", "sinx1", "sinx2"]}
    s = parse_settings(doc)
    python = lab_settings.reproduce(s)["python"]
    assert "from micrograd.trig import sines" in python and "sines(a), sines(b)" in python
    scope = {}
    exec(python.replace("steps=3", "steps=3, progress=False"), scope)
    want, _ = one_fit_call(doc)
    assert scope["history"].loss == want["loss"] and scope["history"].val_loss == want["test_loss"]
    X_tr = NUMPY.data(s)[0]
    from micrograd import trig
    assert [row[2:] for row in NUMPY.features(s, X_tr)] == \
        [[trig.sin(a), trig.sin(b)] for a, b in X_tr]
