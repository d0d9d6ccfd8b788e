"""micrograd.gpt.compiled: microgpt's training step compiled once for every document, against
the eager micrograd.gpt (itself bit for bit microgpt, tests/test_gpt.py): the same losses,
weights and Adam state at full precision (==), on the C and the numpy backends; the engine's
`take` op it rests on; `micrograd gpt train --compiled`. Every random draw is seeded."""
import math
import os
import pathlib
import random
import subprocess
import sys

import numpy as np
import pytest

import micrograd
from micrograd import data, gpt, optim
from micrograd.compiler import CompileError
from micrograd.compiler.cbuild import find_compiler
from micrograd.engine import OPS, Value
from micrograd.gpt.model import take
from micrograd.gpt import compiled as gptc
from micrograd.gpt import modelfile
from helpers.processes import ctrl_c_after

ROOT = pathlib.Path(__file__).resolve().parents[1]
BACKENDS = ["numpy", pytest.param("c", marks=pytest.mark.skipif(
    find_compiler() is None, reason="no C compiler"))]


def setup(docs=None, seed=42, **config):
    """micrograd.gpt as microgpt sets it up: shuffle with the seed's rng, then the weights."""
    rng = random.Random(seed)
    docs = data.names() if docs is None else list(docs)
    rng.shuffle(docs)
    tok = gpt.CharTokenizer.from_documents(docs)
    return gpt.GPT(gpt.GPTConfig(tok.vocab_size, **config), rng), tok, docs


def eager_run(steps, docs=None, total=1000, **config):
    model, tok, docs = setup(docs, **config)
    opt = gpt.MicroGPTAdam(model.parameters(), steps=total)
    losses = [gpt.train_step(model, opt, tok.encode(docs[k % len(docs)])) for k in range(steps)]
    return model, opt, losses


def compiled_run(steps, backend, docs=None, total=1000, positions=None, gate=None, **config):
    model, tok, docs = setup(docs, **config)
    opt = gpt.MicroGPTAdam(model.parameters(), steps=total)
    trainer = gptc.CompiledTrainer(model, opt, positions=positions, backend=backend)
    if gate is not None:            # when "auto" leaves numpy for C (Program.c_gate)
        trainer.c_gate = gate
    losses = [trainer(tok.encode(docs[k % len(docs)])) for k in range(steps)]
    trainer.sync()
    return model, opt, losses, trainer


@pytest.fixture(scope="module")
def eager24():
    return eager_run(24)


# ---------------------------------------------------------------------------------------------
# the engine's take op
# ---------------------------------------------------------------------------------------------
def test_take_is_a_row_of_the_op_table_picking_by_a_node():
    table = [Value(x) for x in (0.5, -2.0, 7.25)]
    i = Value(1)
    out = take(i, table)
    assert out.data == -2.0 and out._op == "take" and out._rule is OPS["take"]
    assert out._prev == (i, *table)
    (out * 3.0).backward()
    assert [t.grad for t in table] == [0, 3.0, 0] and i.grad == 0
    assert OPS["take"].forward(2.0, 1.0, 2.0, 3.0) == 3.0    # the row alone, on floats


@pytest.mark.parametrize("index", [3, -1, 1.5, math.nan, math.inf])
def test_take_refuses_an_index_outside_the_table_in_one_line(index):
    with pytest.raises(IndexError, match=r"^take: index .* is not a position of a table of 3$"):
        take(Value(index), [Value(1.0), Value(2.0), Value(3.0)])


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_compiled_take_picks_by_its_input_without_tracing_again(backend):
    """The index is an input of the program: one trace serves every index, forward (the
    entry) and backward (a scatter-add into the entry taken), eager's numbers."""
    table = [Value(x) for x in (0.25, -1.5, 3.0, 8.0)]
    f = micrograd.compile(lambda i, j: take(i, table) * take(j, table) + take(i, table),
                          backend=backend)
    for i, j in [(0, 1), (2, 2), (3, 0), (1, 3)]:
        for t in table:
            t.grad = 0.0
        out = f(float(i), float(j))
        out.backward()
        got = [t.grad for t in table]
        for t in table:
            t.grad = 0.0
        want = take(Value(i), table) * take(Value(j), table) + take(Value(i), table)
        want.backward()
        assert out.data == want.data and got == [t.grad for t in table], (i, j)
    assert f.trace_count == 1 and f.stats()[0]["backend"] == backend


# ---------------------------------------------------------------------------------------------
# the compiled training step
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_24_steps_of_microgpt_compiled_are_eagers_bit_for_bit(eager24, backend):
    """microgpt's configuration and seed: 24 documents of many lengths, one program (traced
    once), the same losses, weights and Adam state as eager at full precision."""
    model_e, opt_e, losses_e = eager24
    model_c, opt_c, losses_c, trainer = compiled_run(24, backend)
    _, tok, docs = setup()
    lengths = {len(d) for d in docs[:24]}
    assert len(lengths) >= 5, lengths                       # several sequence lengths
    assert losses_c == losses_e
    assert [p.data for p in model_c.parameters()] == [p.data for p in model_e.parameters()]
    assert opt_c.m == opt_e.m and opt_c.v == opt_e.v and opt_c.step_count == 24
    assert all(p.grad == 0.0 for p in model_c.parameters())  # as eager's step leaves them
    stats = trainer.stats()
    assert len(stats) == 1 and stats[0]["backend"] == backend     # one trace for all lengths


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_layers_cut_documents_and_a_second_program_for_a_longer_one(backend):
    """A 2-layer model whose context (6) is shorter than some documents (cut, as eager), traced
    for 4 positions first: a longer document traces once more, at the block size, and the two
    programs hand the parameters over; every loss and weight still eager's."""
    docs = ["ab", "abcdefghij", "cab", "bad", "a", "dcba", "abcdefg", "ca"] * 3
    config = dict(n_embd=8, n_head=2, n_layer=2, block_size=6)
    model_e, opt_e, losses_e = eager_run(22, docs, total=30, **config)
    model_c, opt_c, losses_c, trainer = compiled_run(22, backend, docs, total=30, positions=4,
                                                     **config)
    assert losses_c == losses_e
    assert [p.data for p in model_c.parameters()] == [p.data for p in model_e.parameters()]
    assert opt_c.m == opt_e.m and opt_c.v == opt_e.v
    assert sorted(trainer._steps) == [4, 6]


def test_the_fused_adam_without_a_c_compiler_gives_the_same_bits(monkeypatch, eager24):
    """No C compiler: the update runs in numpy, with Python's own ** for the two powers."""
    monkeypatch.setitem(gptc._KERNEL, "adam", None)
    model_e, opt_e, losses_e = eager24
    model_c, opt_c, losses_c, _ = compiled_run(24, "numpy")
    assert losses_c == losses_e
    assert [p.data for p in model_c.parameters()] == [p.data for p in model_e.parameters()]


def test_train_compiled_returns_eagers_losses_and_leaves_the_model_synced():
    docs = ["emma", "olivia", "ava", "isabella", "sophia", "mia"]
    model_e, tok, docs_e = setup(docs, n_embd=8, n_head=2)
    losses_e = gpt.train(model_e, tok, docs_e, steps=9)
    model_c, tok, docs_c = setup(docs, n_embd=8, n_head=2)
    losses_c = gpt.train(model_c, tok, docs_c, steps=9, compiled=True)
    assert losses_c == losses_e
    assert [p.data for p in model_c.parameters()] == [p.data for p in model_e.parameters()]


def test_bad_input_to_the_compiled_step_is_one_line():
    model, tok, docs = setup(["ab", "ba"], n_embd=4, n_head=2, block_size=4)
    opt = gpt.MicroGPTAdam(model.parameters())
    with pytest.raises(TypeError, match="CompiledTrainer needs a MicroGPTAdam, got SGD"):
        gptc.CompiledTrainer(model, optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(ValueError, match="positions must be an integer from 1 to the block "
                                         "size 4, got 5"):
        gptc.CompiledTrainer(model, opt, positions=5)
    trainer = gptc.CompiledTrainer(model, opt, backend="numpy")
    with pytest.raises(ValueError, match=r"token ids must be whole numbers from 0 to 2"):
        trainer([tok.BOS, 7, tok.BOS])
    with pytest.raises(ValueError, match="a document needs at least two tokens"):
        trainer([tok.BOS])


# ---------------------------------------------------------------------------------------------
# micrograd gpt train --compiled
# ---------------------------------------------------------------------------------------------
def micrograd_cli(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "micrograd", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=300)


def test_train_compiled_saves_the_model_eager_saves_and_shows_the_loss(tmp_path):
    runs = {}
    for flag in ("", "--compiled"):
        out = tmp_path / (flag or "eager")
        r = micrograd_cli("gpt", "train", "--steps", "6", "--out", out, *filter(None, [flag]))
        assert r.returncode == 0, r.stderr
        runs[flag] = (r, modelfile.load_gpt(out / "model.json", with_meta=True))
    (r_e, (m_e, tok_e, meta_e)), (r_c, (m_c, tok_c, meta_c)) = runs[""], runs["--compiled"]
    assert [p.data for p in m_c.parameters()] == [p.data for p in m_e.parameters()]
    assert tok_c.uchars == tok_e.uchars and m_c.config == m_e.config
    assert meta_c["final_loss"] == meta_e["final_loss"] and meta_c["compiled"] is True
    assert "loss=" in r_c.stderr and "6/6" in r_c.stderr          # the progress bar's loss
    assert "Traceback" not in r_c.stderr


def test_train_compiled_prints_eagers_log_lines(tmp_path):
    docs = tmp_path / "words.txt"
    docs.write_text("apple\nbanana\ncherry\ndate\n")
    small = ["--data", docs, "--steps", "5", "--no-progress", "--n-embd", "4", "--n-head",
             "2", "--block-size", "5", "--seed", "3"]
    logs = []
    for flag in ([], ["--compiled"]):
        r = micrograd_cli("gpt", "train", "--out", tmp_path / str(len(flag)), *small, *flag)
        assert r.returncode == 0, r.stderr
        logs.append([line for line in r.stdout.splitlines() if line.startswith("step")])
    assert len(logs[0]) == 5 and logs[1] == logs[0]


def test_the_compiled_snippet_of_docs_gpt_md_runs_and_matches_eager():
    """docs/gpt.md's CompiledTrainer example (4 steps instead of 1000), on the setup of its
    first example: eager's losses and weights."""
    import re
    text = (ROOT / "docs" / "gpt.md").read_text()
    snippet = re.findall(r"```python\n(.*?)```", text, re.S)[1]
    assert "CompiledTrainer" in snippet and "range(1000)" in snippet
    model, tok, docs = setup()
    scope = {"gpt": gpt, "model": model, "tok": tok, "docs": docs}
    exec(snippet.replace("range(1000)", "range(4)"), scope)
    model_e, opt_e, losses_e = eager_run(4)
    assert scope["loss"] == losses_e[-1]
    assert [p.data for p in model.parameters()] == [p.data for p in model_e.parameters()]


def after(calls):
    """A c_gate that keeps a program on numpy for its first `calls` calls, then switches."""
    seen = []

    def gate(prog):
        seen.append(prog.gen)
        return len(seen) > calls
    return gate


@pytest.mark.parametrize("numpy_calls", [0, 2])
def test_a_c_compiler_that_fails_leaves_auto_on_numpy_with_the_same_bits(tmp_path, monkeypatch,
                                                                          eager24, numpy_calls):
    """A compiler that is found but fails (its builds run in the background): "auto" goes on
    in numpy with eager's numbers, whether it finds out at once or after some numpy steps;
    backend="c" refuses in one line."""
    monkeypatch.setenv("CC", "/bin/false")
    monkeypatch.setenv("MICROGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(gptc, "_KERNEL", {})
    model_e, opt_e, losses_e = eager24
    model_c, opt_c, losses_c, trainer = compiled_run(3, "auto", gate=after(numpy_calls))
    assert losses_c == losses_e[:3]
    assert [s["backend"] for s in trainer.stats()] == ["numpy"]
    with pytest.raises(CompileError, match=r"^backend='c' is not available: the C "
                                                     r"compiler /bin/false failed"):
        compiled_run(1, "c")


def test_ctrl_c_during_compiled_training_saves_the_trained_weights(tmp_path):
    """A real SIGINT once the progress bar shows a loss: exit 130 and the model written with
    the weights trained so far (synced back from the compiled step, not the initial ones)."""
    out = tmp_path / "run"
    code, err = ctrl_c_after(["gpt", "train", "--compiled", "--steps", "10000000", "--out", out],
                             times=2)
    assert code == 130, err
    assert "Traceback" not in err and "interrupted after" in err
    model, tok, meta = modelfile.load_gpt(out / "model.json", with_meta=True)
    assert meta["interrupted"] is True and meta["compiled"] is True and meta["steps"] > 1
    initial, _, _ = setup()
    assert all(math.isfinite(p.data) for p in model.parameters())
    moved = sum(p.data != q.data for p, q in zip(model.parameters(), initial.parameters()))
    assert moved > len(initial.parameters()) // 2


def test_a_diverging_compiled_run_is_the_same_one_line_error_as_eager(tmp_path, capsys):
    from micrograd.cli import main
    errs = []
    for flag in ([], ["--compiled"]):
        args = ["gpt", "train", "--lr", "1e300", "--steps", "3", "--no-progress", "--out",
                str(tmp_path / str(len(flag))), *flag]
        assert main(args) == 1
        errs.append(capsys.readouterr().err)
    assert errs[1] == errs[0] and errs[0].count("\n") == 1
    assert "training diverged: loss became nan at step 3; try a smaller --lr" in errs[0]


@pytest.mark.skipif(find_compiler() is None, reason="no C compiler")
@pytest.mark.parametrize("numpy_calls", [1, 5, 23, 24])
def test_auto_runs_numpy_while_c_builds_and_switches_bit_for_bit(tmp_path, monkeypatch,
                                                                 eager24, numpy_calls):
    """"auto" does not wait for the C compiler: the first steps run on numpy while it builds,
    then the program switches to C at a step boundary (forced here after `numpy_calls` calls,
    in a fresh kernel cache, so that it really builds): eager's losses, weights and Adam state
    through the switch, at full precision. (24 of 24: it never switches.)"""
    monkeypatch.setenv("MICROGRAD_CACHE_DIR", str(tmp_path))
    model_e, opt_e, losses_e = eager24
    model_c, opt_c, losses_c, trainer = compiled_run(24, "auto", gate=after(numpy_calls))
    assert losses_c == losses_e
    assert [p.data for p in model_c.parameters()] == [p.data for p in model_e.parameters()]
    assert opt_c.m == opt_e.m and opt_c.v == opt_e.v and opt_c.step_count == 24
    (stats,) = trainer.stats()
    assert stats["backend"] == "c"
    if numpy_calls < 24:
        assert stats["c_from_call"] == numpy_calls + 1
    else:
        assert "c_from_call" not in stats


@pytest.mark.skipif(find_compiler() is None, reason="no C compiler")
def test_auto_switches_by_itself_once_its_builds_end_with_eagers_bits(tmp_path, monkeypatch,
                                                                      eager24):
    """The default gate: numpy until the builds (watched without waiting) are done, whenever
    that is; then C. The numbers do not depend on when."""
    monkeypatch.setenv("MICROGRAD_CACHE_DIR", str(tmp_path))
    model_e, opt_e, losses_e = eager24
    model_c, opt_c, losses_c, trainer = compiled_run(24, "auto")
    assert losses_c == losses_e
    assert [p.data for p in model_c.parameters()] == [p.data for p in model_e.parameters()]
    assert opt_c.m == opt_e.m and opt_c.v == opt_e.v
    step = trainer._steps[trainer.positions]
    (prog,) = step._cache.values()
    while not prog.c_built():            # the builds end (no time limit: no timed assertion)
        import time
        time.sleep(0.01)
    model_c2, _, losses_c2, _ = compiled_run(2, "auto")     # now cached: C from call 1
    assert losses_c2 == losses_e[:2]


def test_a_background_build_is_watched_without_waiting(tmp_path, monkeypatch):
    """cbuild: done() polls a background build of two translation units (and starts their
    link); the library then loads and runs. A failing compiler is done, and says why."""
    import time
    from micrograd.compiler import cbuild
    if find_compiler() is None:
        pytest.skip("no C compiler")
    monkeypatch.setenv("MICROGRAD_CACHE_DIR", str(tmp_path))
    src = ("int twice(const double *x, double *y) { y[0] = 2.0 * x[0]; return 0; }"
           + cbuild.UNIT_MARK + "int thrice(const double *x, double *y) "
           "{ y[0] = 3.0 * x[0]; return 0; }")
    build = cbuild.start(src, quick=True)
    assert build is not None and len(build.objects) == 2
    while not build.done():
        time.sleep(0.005)
    fns = cbuild.load(src, {"twice": 2, "thrice": 2}, quick=True, build=build)
    x, y = np.array([1.5]), np.zeros(1)
    assert fns["thrice"](x.ctypes.data, y.ctypes.data) == 0 and y[0] == 4.5
    assert cbuild.start(src, quick=True) is None                # cached now
    monkeypatch.setenv("CC", "/bin/false")
    bad = cbuild.start(src + "\n/* another */", quick=True)
    while not bad.done():
        time.sleep(0.005)
    with pytest.raises(cbuild.CUnavailable, match=r"^the C compiler /bin/false failed: \?$"):
        bad.wait(raise_errors=True)


@pytest.mark.parametrize("built, building, processors, want", [
    (True, 0, 2, True),          # built: C
    (False, 3, 2, True),         # two processors, three compilers: wait for them
    (False, 3, 4, False),        # a processor to spare: numpy meanwhile
    (False, 1, 2, False),        # the last compiler on one processor, Python on the other
    (False, 1, 1, True),         # one processor, a compiler on it: wait
])
def test_auto_runs_numpy_meanwhile_only_with_a_processor_to_spare(monkeypatch, built, building,
                                                                  processors, want):
    class Prog:
        def c_built(self):
            return built

        def c_building(self):
            return building
    monkeypatch.setattr(gptc, "_processors", lambda: processors)
    assert gptc.numpy_meanwhile(Prog()) is want


@pytest.mark.skipif(find_compiler() is None, reason="no C compiler")
def test_the_c_adams_squares_and_roots_are_pythons_pow_bit_for_bit(tmp_path, monkeypatch):
    """The C update computes x ** 2 and x ** 0.5 as x * x and sqrt(x) where libm's pow cannot
    differ from them, and calls pow elsewhere: over 400,000 seeded numbers of every scale, the
    powers of two and their neighbours, and where x * x and sqrt really differ from Python's **
    (hundreds of them here), it gives Python's bits."""
    monkeypatch.setenv("MICROGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(gptc, "_KERNEL", {})
    assert gptc._adam_kernel() is not None
    powers = gptc._KERNEL["powers"]
    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, 400_000) * 10.0 ** rng.uniform(-15, 3, 400_000)
    twos = 2.0 ** np.arange(-80, 20)
    x = np.concatenate([x, twos, np.nextafter(twos, 0), np.nextafter(twos, 1e9), -twos,
                        [0.0, -0.0, 1.0, 1e-300, 5e-324, 1e-160, 1e150, math.inf, math.nan]])
    sq, rt, n = np.empty_like(x), np.empty_like(x), np.array([float(len(x))])
    powers(x.ctypes.data, n.ctypes.data, sq.ctypes.data, rt.ctypes.data)
    xs = x.tolist()
    want_sq = [v ** 2 for v in xs]
    assert sum(v ** 2 != v * v for v in xs) > 100          # the slow path is needed, and met
    assert [repr(v) for v in sq.tolist()] == [repr(v) for v in want_sq]
    roots = [(v ** 0.5, r) for v, r in zip(xs, rt.tolist()) if not v < 0]
    assert sum(v ** 0.5 != math.sqrt(v) for v in xs if 0 <= v < math.inf) > 100
    assert [repr(a) for a, _ in roots] == [repr(b) for _, b in roots]
