"""The `micrograd` command: demo, train, predict, eval, and one-line errors for bad input.

The real command is run as `python -m micrograd ...` (works without installing the package);
the many small cases call `micrograd.cli.main(argv)` in-process, which is the same code.
"""
import json
import os
import pathlib
import re
import select
import signal
import subprocess
import sys
import time

import pytest

from micrograd.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"


def run_cli(*args, cwd=None, timeout=300):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "micrograd", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=timeout)


def assert_png(path):
    data = pathlib.Path(path).read_bytes()
    assert data[:8] == PNG, f"{path} is not a PNG"
    assert len(data) > 10_000, f"{path} is suspiciously small ({len(data)} bytes)"


def one_line_error(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert "Traceback" not in err
    assert lines[0].startswith("micrograd")
    return lines[0]


# ---------------------------------------------------------------------------------------------
# micrograd demo: the whole notebook, once, through the real command
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    # one frame every 10 steps, not 5: the animation's frames are most of the command's time,
    # and the numbers and files checked here are the same
    out = tmp_path_factory.mktemp("demo") / "out"
    return run_cli("demo", "--out", out, "--print-every", "1", "--gif-every", "10"), out


def test_demo_runs_the_notebook_exactly(demo):
    proc, out = demo
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    # the notebook's own printout, digit for digit
    assert "step 0 loss 0.8958441028683222, accuracy 50.0%" in lines
    assert "step 1 loss 1.723590533697202, accuracy 81.0%" in lines
    assert "step 2 loss 0.7429006313851131, accuracy 77.0%" in lines
    assert "step 3 loss 0.7705641260584202, accuracy 82.0%" in lines
    assert sum(line.startswith("step ") for line in lines) == 100
    assert re.search(r"^step 99 loss 0\.0109\d+, accuracy 100\.0%$", proc.stdout, re.M)
    # the closing line measures both numbers on the final weights (the ones saved), and says so
    from micrograd.io import load_model
    from micrograd.train import evaluate
    model = load_model(out / "model.json")
    X, y = _demo_moons()
    data_loss, acc = evaluate(model, X, y, "hinge")
    loss = data_loss + 1e-4 * sum(p.data * p.data for p in model.parameters())
    assert re.search(rf"^after 100 steps: loss {loss:.6f} \(hinge \+ L2\), accuracy "
                     rf"{acc:.1%}, both on the final weights \(\d+\.\d s training\)$",
                     proc.stdout, re.M)
    assert acc == 1.0 and "final loss" not in proc.stdout
    assert "wrote" in proc.stdout and "Traceback" not in proc.stderr


def _demo_moons():
    import numpy as np

    from micrograd import data
    # the demo seeds numpy's global state with 1337: the same stream, without touching it here
    return data.make_moons(n_samples=100, noise=0.1, random_state=np.random.RandomState(1337))


def test_demo_writes_pictures_and_a_model(demo):
    proc, out = demo
    assert_png(out / "decision_boundary.png")
    assert_png(out / "history.png")
    gif = (out / "training.gif").read_bytes()
    assert gif[:6] == b"GIF89a" and len(gif) > 10_000
    from PIL import Image
    with Image.open(out / "training.gif") as im:
        assert im.n_frames >= 10


def test_demo_model_file_gives_the_same_accuracy(demo):
    proc, out = demo
    from micrograd import data, io
    from micrograd.train import evaluate
    model, meta = io.load_model(out / "model.json", with_meta=True)
    assert meta["dataset"] == "moons" and meta["loss"] == "hinge" and meta["classes"] == 2
    assert meta["train_accuracy"] == 1.0 and meta["steps"] == 100 and not meta["interrupted"]
    assert meta["final_loss"] == pytest.approx(0.010978370135492717, rel=1e-12)
    X, y = data.load_dataset("moons", n_samples=100, noise=0.1, seed=1337)   # the demo's data
    loss, acc = evaluate(model, X, y, "hinge")
    assert acc == 1.0


def test_eval_rechecks_the_demo_from_its_metadata(demo, capsys):
    proc, out = demo
    assert main(["eval", "--model", str(out / "model.json")]) == 0
    text = capsys.readouterr().out
    assert "moons" in text and "100 samples" in text and "accuracy 100.0%" in text


def test_predict_with_the_demo_model(demo, capsys, tmp_path):
    proc, out = demo
    from micrograd import io
    from micrograd.train import predict
    model = io.load_model(out / "model.json")
    assert main(["predict", "--model", str(out / "model.json"), "--input", "0.5,-0.2",
                 "--input", "-1,0.5"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    classes = predict(model, [[0.5, -0.2], [-1.0, 0.5]])
    assert lines[0].startswith("0.5,-0.2\tclass ") and f"class {classes[0]}" in lines[0]
    assert f"class {classes[1]}" in lines[1] and "score" in lines[1]

    csv_file = tmp_path / "points.csv"
    csv_file.write_text("x1,x2\n# a comment\n0.5,-0.2\n\n-1,0.5\n2.0,0.0\n")
    assert main(["predict", "--model", str(out / "model.json"), "--data-csv",
                 str(csv_file)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and f"class {classes[0]}" in lines[0]

    excel = tmp_path / "excel.csv"                # a UTF-8 byte-order mark, no header
    excel.write_bytes(b"\xef\xbb\xbf0.5,-0.2\n-1,0.5\n")
    assert main(["predict", "--model", str(out / "model.json"), "--data-csv", str(excel)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and f"class {classes[0]}" in lines[0]


# ---------------------------------------------------------------------------------------------
# micrograd train
# ---------------------------------------------------------------------------------------------
@pytest.mark.slow           # a training to an accuracy, and its GIF: about 6 s of CPU
def test_train_moons_end_to_end(tmp_path):
    # The fast tier still runs `train` through the real command (the Ctrl-C tests) and draws a
    # GIF (the demo's). 40 steps take a frame every 2 steps (--gif: steps // 20), 21 frames
    # where 30 steps take 31: drawing them is most of the command's time.
    out = tmp_path / "moons"
    proc = run_cli("train", "--dataset", "moons", "--steps", "40", "--out", out,
                   "--no-progress", "--gif")
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"40 steps in [\d.]+ s: training data loss \(no L2\) [\d.]+, "
                     r"training accuracy [\d.]+%, held-out accuracy [\d.]+%", proc.stdout)
    for name in ("decision_boundary.png", "history.png"):
        assert_png(out / name)
    assert (out / "training.gif").read_bytes()[:6] == b"GIF89a"
    meta = json.loads((out / "model.json").read_text())["meta"]
    assert meta["dataset"] == "moons" and meta["loss"] == "hinge" and meta["classes"] == 2
    assert meta["layers"] == [16, 16] and meta["steps"] == 40
    assert meta["train_accuracy"] >= 0.8 and meta["test_accuracy"] is not None


@pytest.mark.parametrize("extra", [
    ["--dataset", "circles", "--loss", "bce", "--optimizer", "adam", "--lr", "0.05"],
    ["--dataset", "moons", "--loss", "mse", "--batch-size", "16", "--momentum", "0.9",
     "--lr", "0.1"],
    ["--dataset", "blobs", "--layers", "8", "--schedule", "cosine", "--lr", "0.5"],
    ["--dataset", "spiral", "--loss", "mse", "--activation", "tanh", "--optimizer", "adam"],
    ["--dataset", "moons", "--layers", "", "--test-fraction", "0", "--alpha", "0"],
])
def test_train_options(tmp_path, capsys, extra):
    out = tmp_path / "run"
    assert main(["train", "--steps", "15", "--no-progress", "--samples", "60",
                 "--out", str(out), *extra]) == 0
    text = capsys.readouterr().out
    assert "15 steps in" in text
    meta = json.loads((out / "model.json").read_text())["meta"]
    assert meta["steps"] == 15
    assert (out / "decision_boundary.png").exists() and (out / "history.png").exists()


def test_train_multiclass_model_predicts_and_evaluates(tmp_path, capsys):
    out = tmp_path / "blobs"
    assert main(["train", "--dataset", "blobs", "--steps", "40", "--optimizer", "adam",
                 "--lr", "0.05", "--no-progress", "--no-plots", "--out", str(out)]) == 0
    capsys.readouterr()
    model_file = str(out / "model.json")
    meta = json.loads((out / "model.json").read_text())["meta"]
    assert meta["loss"] == "cross_entropy" and meta["classes"] == 3
    assert not (out / "history.png").exists()
    assert main(["predict", "--model", model_file, "--input", "0,0"]) == 0
    assert re.match(r"0,0\tclass [012]\tp=0\.\d{4}$", capsys.readouterr().out.strip())
    assert main(["eval", "--model", model_file, "--split", "test"]) == 0
    text = capsys.readouterr().out
    assert f"held-out part, {meta['test_samples']} samples" in text
    assert f"accuracy {100 * meta['test_accuracy']:.1f}%" in text
    assert main(["eval", "--model", model_file, "--dataset", "blobs", "--samples", "30",
                 "--seed", "5"]) == 0
    assert "30 samples, seed 5" in capsys.readouterr().out


@pytest.mark.slow
def test_digits_reaches_95_percent_held_out(tmp_path):
    """A 64-32-10 tanh MLP on 8x8 digits. Trained --compiled: the same model.json as eager's,
    bit for bit (only its "seconds" differ), in a seventh of the time."""
    out = tmp_path / "digits"
    proc = run_cli("train", "--dataset", "digits", "--layers", "32", "--activation", "tanh",
                   "--loss", "cross_entropy", "--optimizer", "adam", "--lr", "0.01",
                   "--batch-size", "16", "--steps", "1000", "--no-progress", "--compiled",
                   "--out", out)
    assert proc.returncode == 0, proc.stderr
    m = re.search(r"held-out accuracy ([\d.]+)%", proc.stdout)
    assert m and float(m.group(1)) >= 95.0, proc.stdout
    meta = json.loads((out / "model.json").read_text())["meta"]
    assert meta["classes"] == 10 and meta["test_accuracy"] >= 0.95
    assert_png(out / "history.png")
    assert not (out / "decision_boundary.png").exists()        # 64-D data: no boundary


def test_demo_and_train_build_fused_models_with_the_notebooks_numbers(tmp_path, capsys,
                                                                     monkeypatch):
    """They want speed and draw no graph: one node per neuron's w·x+b. The numbers are the
    lecture graph's, digit for digit, and so are predict's and eval's."""
    import micrograd.nn as nn
    from micrograd import data, io
    from micrograd.train import evaluate
    built = []

    class Recorded(nn.MLP):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append((kwargs.get("fused"), self))     # asked for, whatever nn's default

    monkeypatch.setattr(nn, "MLP", Recorded)
    assert main(["demo", "--steps", "4", "--print-every", "1", "--no-gif",
                 "--out", str(tmp_path / "demo")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:5] == ["step 0 loss 0.8958441028683222, accuracy 50.0%",
                          "step 1 loss 1.723590533697202, accuracy 81.0%",
                          "step 2 loss 0.7429006313851131, accuracy 77.0%",
                          "step 3 loss 0.7705641260584202, accuracy 82.0%"]
    assert main(["train", "--steps", "3", "--no-progress", "--no-plots",
                 "--out", str(tmp_path / "train")]) == 0
    capsys.readouterr()
    assert [asked for asked, _ in built] == [True, True]
    assert all(n.fused for _, m in built for layer in m.layers for n in layer.neurons)

    model_file = str(tmp_path / "demo" / "model.json")
    lecture = io.load_model(model_file, fused=False)
    X, y = data.load_dataset("moons", n_samples=100, noise=0.1, seed=1337)
    loss, acc = evaluate(lecture, X, y, "hinge")
    assert main(["eval", "--model", model_file]) == 0
    assert f"hinge loss {loss:.6f}, accuracy {acc:.1%}" in capsys.readouterr().out
    assert main(["predict", "--model", model_file, "--input", "0.5,-0.2"]) == 0
    score = lecture([0.5, -0.2]).data
    assert capsys.readouterr().out == f"0.5,-0.2\tclass {int(score > 0)}\tscore {score:+g}\n"


# ---------------------------------------------------------------------------------------------
# Ctrl-C
# ---------------------------------------------------------------------------------------------
def test_interrupted_training_still_saves(tmp_path, capsys, monkeypatch):
    """Ctrl-C at step 5 (simulated by the callback): exit 130, model and plots written."""
    import micrograd.train as train
    real_fit = train.fit

    def fit_interrupted_at_step_5(*args, **kwargs):
        inner = kwargs.get("callback")

        def callback(k, model, history):
            if inner:
                inner(k, model, history)
            if k == 5:
                raise KeyboardInterrupt
        kwargs["callback"] = callback
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(train, "fit", fit_interrupted_at_step_5)
    out = tmp_path / "run"
    assert main(["train", "--steps", "50", "--no-progress", "--out", str(out), "--gif"]) == 130
    cap = capsys.readouterr()
    assert "interrupted after 6 of 50 steps" in cap.err
    assert "6 steps in" in cap.out
    meta = json.loads((out / "model.json").read_text())["meta"]
    assert meta["interrupted"] is True and meta["steps"] == 6
    assert_png(out / "history.png")
    assert (out / "training.gif").exists()


class Running:
    """A real `micrograd` subprocess whose stderr is read as it comes (the progress bar)."""

    def __init__(self, *args):
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen([sys.executable, "-m", "micrograd", *map(str, args)],
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.err = b""

    def wait_for(self, needle, timeout=120):
        deadline = time.monotonic() + timeout
        fd = self.proc.stderr.fileno()
        while needle.encode() not in self.err and time.monotonic() < deadline:
            if not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
                break                                    # silent until the deadline
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            self.err += chunk
        if needle.encode() not in self.err:
            self.proc.kill()
            pytest.fail(f"no {needle!r} on stderr: {self.err.decode()[-2000:]}")

    def finish(self, timeout=120):
        try:
            out, err = self.proc.communicate(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        return self.proc.returncode, out.decode(), (self.err + err).decode()


def test_real_sigint_stops_training_and_saves(tmp_path):
    out = tmp_path / "run"
    run = Running("train", "--steps", "100000", "--out", out, "--no-plots")
    run.wait_for("loss=")                             # training has begun
    run.proc.send_signal(signal.SIGINT)
    code, stdout, stderr = run.finish()
    assert code == 130, stderr
    assert "Traceback" not in stderr and "interrupted after" in stderr
    meta = json.loads((out / "model.json").read_text())["meta"]
    assert meta["interrupted"] is True and 0 < meta["steps"] < 100000
    assert meta["train_accuracy"] is not None                   # evaluated, then saved again
    assert os.listdir(out) == ["model.json"]                    # no temp file left


def test_a_ctrl_c_before_training_begins_stops_after_the_first_step():
    """A real SIGINT while fit is still setting up (tracing, say): the CLI's handler holds it
    and fit, seeing it, stops after one step instead of training all of them."""
    from micrograd.cli.common import CtrlC
    from micrograd.nn import MLP
    from micrograd.train import fit
    model = MLP(2, [4, 1], fused=True)
    before = signal.getsignal(signal.SIGINT)
    with CtrlC() as ctrl_c:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.1)                              # the handler runs: counted, not raised
        assert ctrl_c.presses == 1
        history = fit(model, [[0.0, 1.0], [1.0, 0.0]], [0, 1], steps=50, progress=False)
    assert history.interrupted and history.steps == 1
    assert signal.getsignal(signal.SIGINT) is before


def test_a_ctrl_c_during_the_save_waits_for_it_then_skips_the_plots(tmp_path, capsys,
                                                                    monkeypatch):
    from micrograd import io
    real_save = io.save_model

    def save_with_a_ctrl_c(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)          # lands in the middle of the save
        time.sleep(0.1)
        real_save(*args, **kwargs)

    monkeypatch.setattr(io, "save_model", save_with_a_ctrl_c)
    out = tmp_path / "run"
    assert main(["train", "--steps", "5", "--no-progress", "--out", str(out)]) == 130
    cap = capsys.readouterr()
    assert cap.err == f"interrupted: wrote {out / 'model.json'}; skipped the rest\n"
    meta = json.loads((out / "model.json").read_text())["meta"]
    assert meta["steps"] == 5 and not meta["interrupted"] and meta["train_accuracy"] is None
    assert os.listdir(out) == ["model.json"]


def assert_saved_after_two_presses(out, code, stderr, steps):
    assert code == 130, stderr
    assert "Traceback" not in stderr
    assert f"interrupted: wrote {out / 'model.json'}" in stderr, stderr[-2000:]
    from micrograd import io
    model, meta = io.load_model(out / "model.json", with_meta=True)
    assert meta["interrupted"] is True and 0 < meta["steps"] < steps
    for name in os.listdir(out):                     # no temp file, no half-written picture
        assert not name.startswith("."), os.listdir(out)
        if name.endswith(".png"):
            assert_png(out / name)
    return meta


@pytest.mark.parametrize("second", ["when training has stopped", "0.3 s later"])
def test_ctrl_c_twice_during_train_still_writes_the_model(tmp_path, second):
    """The issue's run: digits, Ctrl-C, Ctrl-C again while it evaluates (which used to come
    before the save, and exit 130 with nothing written)."""
    out = tmp_path / "d"
    run = Running("train", "--dataset", "digits", "--layers", "16", "--steps", "100000",
                  "--out", out)
    run.wait_for("loss=")
    run.proc.send_signal(signal.SIGINT)
    if second == "0.3 s later":
        time.sleep(0.3)
    else:
        run.wait_for("interrupted after")
    run.proc.send_signal(signal.SIGINT)
    code, stdout, stderr = run.finish()
    assert_saved_after_two_presses(out, code, stderr, 100000)


def test_ctrl_c_twice_during_demo_still_writes_the_model(tmp_path):
    out = tmp_path / "demo"
    run = Running("demo", "--out", out, "--print-every", "0", "--gif-every", "1")
    run.wait_for("loss=")
    run.proc.send_signal(signal.SIGINT)
    run.wait_for("interrupted after")
    run.proc.send_signal(signal.SIGINT)
    code, stdout, stderr = run.finish()
    meta = assert_saved_after_two_presses(out, code, stderr, 100)
    assert meta["train_accuracy"] is None           # the second press skipped the evaluation


# ---------------------------------------------------------------------------------------------
# errors: one line on stderr, non-zero exit, never a traceback
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("files")
    (d / "notes.txt").write_text("this is not a model\n")
    (d / "other.json").write_text('{"format": "something else"}')
    (d / "bad.csv").write_text("1,2\n3,four\n")
    from micrograd import io
    from micrograd.nn import MLP
    io.save_model(MLP(2, [3, 1]), d / "model.json", meta={"loss": "hinge"})
    return d


BAD = [
    (["train", "--dataset", "nope"], 1, "unknown dataset 'nope'"),
    (["train", "--steps", "0"], 2, "--steps"),
    (["train", "--steps", "-3"], 2, "--steps"),
    (["train", "--steps", "ten"], 2, "--steps"),
    (["train", "--layers", "16,a"], 2, "--layers"),
    (["train", "--layers", "16,0"], 2, "--layers"),
    (["train", "--layers", "16,,16"], 2, "--layers"),
    (["train", "--lr", "0"], 2, "--lr"),
    (["train", "--lr", "nan"], 2, "--lr"),
    (["train", "--test-fraction", "1.5"], 2, "--test-fraction"),
    (["train", "--samples", "0"], 2, "--samples"),
    (["train", "--samples", "1000000000000"], 2,
     "--samples: must be at most 100000, got 1000000000000"),
    (["train", "--layers", "100000,100000"], 1,
     "--layers 100000,100000 makes 10000500001 parameters; at most 1000000"),
    (["train", "--seed", str(2**32)], 2, "--seed: must be at most 4294967295, got 4294967296"),
    (["eval", "--model", "{d}/model.json", "--dataset", "moons", "--samples", "10000000"], 2,
     "--samples: must be at most 100000"),
    (["train", "--noise", "-1"], 2, "--noise"),
    (["train", "--batch-size", "0"], 2, "--batch-size"),
    (["train", "--loss", "l1"], 2, "--loss"),
    (["train", "--optimizer", "momentum"], 2, "--optimizer"),
    (["train", "--dataset", "digits", "--loss", "hinge"], 1, "cross_entropy"),
    (["train", "--dataset", "digits", "--noise", "0.1"], 1, "--noise does not apply to digits"),
    (["train", "--dataset", "digits", "--gif"], 1, "--gif needs 2-D data"),
    (["train", "--optimizer", "adam", "--momentum", "0.5"], 1, "--momentum"),
    (["train", "--lr", "1e6", "--steps", "50"], 1, "training diverged: loss became"),
    (["demo", "--steps", "0"], 2, "--steps"),
    (["train", "--seed", "-1"], 2, "--seed: must be an integer >= 0, got -1"),
    (["train", "--dataset", "spiral", "--samples", "2"], 1, "--samples must be an integer >="),
    (["train", "--samples", "2", "--test-fraction", "0.5"], 1, "too few samples to hold some"),
    (["train", "--dataset", "blobs", "--loss", "mse", "--lr", "0.3", "--steps", "30"], 1,
     "training diverged: "),
    (["demo", "--bogus"], 2, "unrecognized arguments"),
    ([], 2, "required"),
    (["frobnicate"], 2, "invalid choice"),
    (["predict", "--model", "{d}/missing.json", "--input", "1,2"], 1, "No such file"),
    (["predict", "--model", "{d}/notes.txt", "--input", "1,2"], 1, "not a micrograd model"),
    (["predict", "--model", "{d}/other.json", "--input", "1,2"], 1, "not a micrograd model"),
    (["predict", "--input", "1,2"], 2, "required: --model"),
    (["predict", "--model", "{d}/model.json"], 1, "--input"),
    (["predict", "--model", "{d}/model.json", "--input", "1,2,3"], 1, "takes 2 features"),
    (["predict", "--model", "{d}/model.json", "--input", "a,b"], 1, "not a list of numbers"),
    (["predict", "--model", "{d}/model.json", "--data-csv", "{d}/bad.csv"], 1, "line 2"),
    (["predict", "--model", "{d}/model.json", "--data-csv", "{d}/none.csv"], 1, "No such"),
    (["eval", "--model", "{d}/notes.txt"], 1, "not a micrograd model"),
    (["eval", "--model", "{d}/model.json"], 1, "give --dataset"),
    (["eval", "--model", "{d}/model.json", "--dataset", "digits"], 1, "takes 2 features"),
    (["eval", "--model", "{d}/model.json", "--dataset", "moons", "--split", "test"], 1,
     "records no train/test split"),
    (["eval", "--model", "{d}/model.json", "--dataset", "zzz"], 1, "unknown dataset"),
]


@pytest.mark.parametrize("argv,code,needle", BAD, ids=[" ".join(a)[:50] for a, _, _ in BAD])
def test_bad_input_is_one_line_on_stderr(files, tmp_path, capsys, argv, code, needle):
    argv = [a.replace("{d}", str(files)) for a in argv]
    if argv and argv[0] in ("train", "demo"):
        argv += ["--out", str(tmp_path / "out")]
        if argv[0] == "train":
            argv += ["--no-progress"]
    assert main(argv) == code
    line = one_line_error(capsys.readouterr().err)
    assert needle in line, line


@pytest.mark.parametrize("argv", [
    ["train", "--dataset", "nope"],
    ["train", "--steps", "0"],
    ["predict", "--model", "{d}/notes.txt", "--input", "1,2"],
    ["eval", "--model", "{d}/missing.json"],
])
def test_bad_input_through_the_real_command(files, tmp_path, argv):
    argv = [a.replace("{d}", str(files)) for a in argv]
    proc = run_cli(*argv, cwd=tmp_path)
    assert proc.returncode != 0
    one_line_error(proc.stderr)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", [["train", "--no-progress"], ["demo", "--no-gif"]])
def test_an_unwritable_out_is_refused_before_training(tmp_path, capsys, command):
    from helpers.files import read_only
    blocked = tmp_path / "blocked"
    (blocked / "model.json").mkdir(parents=True)          # OUT/model.json is a folder
    assert main([*command, "--steps", "3", "--out", str(blocked)]) == 1
    cap = capsys.readouterr()
    assert cap.out == ""                                   # not a single step trained
    assert one_line_error(cap.err) == \
        f"micrograd: error: cannot write {blocked / 'model.json'}: it is a directory"

    ro = tmp_path / "ro"
    ro.mkdir()
    with read_only(ro):
        assert main([*command, "--steps", "3", "--out", str(ro)]) == 1
        cap = capsys.readouterr()
        assert cap.out == "" and os.listdir(ro) == []
        why = "Operation not permitted" if os.geteuid() == 0 else "Permission denied"
        assert one_line_error(cap.err) == \
            f"micrograd: error: cannot write into the output folder {ro}: {why}"


def write_model(path, layers, meta=None):
    """A model file with exactly these weights: layers = [(activation, [[w..., b], ...])]."""
    doc = {"format": "micrograd.mlp", "version": 1, "nin": len(layers[0][1][0]) - 1,
           "layers": [{"activation": act, "neurons": [{"w": n[:-1], "b": n[-1]} for n in ns]}
                      for act, ns in layers], "meta": meta or {}}
    path.write_text(json.dumps(doc))
    return str(path)


def test_predict_prints_scores_with_g(tmp_path, capsys):
    model = write_model(tmp_path / "m.json", [("linear", [[1e200, 1.0, 0.0]])])
    assert main(["predict", "--model", model, "--input", "1e-200,0.3",
                 "--input", "1e100,-2"]) == 0        # 1e300 in 6 digits, not 301
    assert capsys.readouterr().out.splitlines() == ["1e-200,0.3\tclass 1\tscore +1.3",
                                                    "1e+100,-2\tclass 1\tscore +1e+300"]
    three = write_model(tmp_path / "3.json", [("linear", [[1.0, 0.0, 0.0], [0.0, 1e-9, 0.0],
                                                          [-2.5, 0.0, 0.0]])], {"loss": "mse"})
    assert main(["predict", "--model", three, "--input", "2,3"]) == 0
    assert capsys.readouterr().out == "2,3\tclass 0\tscores 2 3e-09 -5\n"


def test_a_non_finite_output_is_an_error_naming_the_row(tmp_path, capsys):
    """1e308 + 1.7e308 overflows to inf in both hidden units; inf - inf is NaN: there is no
    class to read off it (it used to print 'class 0 score +nan' and exit 0)."""
    model = write_model(tmp_path / "m.json", [("relu", [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]]),
                                              ("linear", [[1.0, -1.0, 0.0]])])
    assert main(["predict", "--model", model, "--input=1e308,1.7e308"]) == 1
    cap = capsys.readouterr()
    assert cap.out == ""
    assert one_line_error(cap.err) == (
        "micrograd: error: --input 1e308,1.7e308: the model's output is nan, not a finite "
        "number (the inputs are too large for it); no class to predict")
    rows = tmp_path / "rows.csv"
    rows.write_text("x1,x2\n0.5,0.5\n1e308,1e308\n")
    assert main(["predict", "--model", model, "--data-csv", str(rows)]) == 1
    cap = capsys.readouterr()
    assert cap.out == ""                            # nothing printed for the good rows either
    assert f"error: {rows} line 3: the model's output is nan," in one_line_error(cap.err)
    linear = write_model(tmp_path / "l.json", [("linear", [[1.0, 1.0, 0.0]])])
    assert main(["predict", "--model", linear, "--input=1e308,1e308"]) == 1
    assert "--input 1e308,1e308: the model's output is inf," in \
        one_line_error(capsys.readouterr().err)


def test_csv_files_that_are_not_rows_of_numbers(tmp_path, capsys):
    model = write_model(tmp_path / "m.json", [("linear", [[1.0, 1.0, 0.0]])])
    cases = {
        "field.csv": ("1,2\n3,\"" + "9" * 140_000 + "\"\n",
                      "field.csv line 2: field larger than field limit (131072)"),
        "lineless.csv": ("1," * 600_000,             # 1.2 million characters, no newline
                         "lineless.csv line 1 is longer than 1048576 characters; not a CSV "
                         "file of numbers"),
        "latin1.csv": ("1,2\n# caf\xe9\n".encode("latin-1"),
                       "latin1.csv is not UTF-8 text (invalid continuation byte)"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        assert main(["predict", "--model", model, "--data-csv", str(path)]) == 1
        assert one_line_error(capsys.readouterr().err) == \
            f"micrograd: error: {tmp_path}/{message}"


META_ALL = "one of moons, circles, spiral, blobs, digits"
BAD_META = [
    ({"dataset": ["moons"]}, [], f"'dataset' is ['moons'], not {META_ALL}; give --dataset"),
    ({"dataset": 3}, [], f"'dataset' is 3, not {META_ALL}; give --dataset"),
    ({"dataset": "moons", "samples": 10**12}, [],
     "'samples' is 1000000000000, not an integer from 1 to 100000; give --samples"),
    ({"dataset": "moons", "samples": True}, [],
     "'samples' is True, not an integer from 1 to 100000; give --samples"),
    ({"dataset": "moons", "samples": 50.0}, [],
     "'samples' is 50.0, not an integer from 1 to 100000; give --samples"),
    ({"dataset": "moons", "seed": 2**40}, [],
     "'seed' is 1099511627776, not an integer from 0 to 4294967295; give --seed"),
    ({"dataset": "moons", "noise": "0.1"}, [],
     "'noise' is '0.1', not a number >= 0.0; give --noise"),
    ({"dataset": "moons", "noise": -1}, [], "'noise' is -1, not a number >= 0.0; give --noise"),
    ({"dataset": "moons", "loss": ["hinge"]}, [],
     "'loss' is ['hinge'], not one of hinge, bce, cross_entropy, mse; give --loss"),
    ({"dataset": "moons", "test_fraction": "0.2"}, ["--split", "test"],
     "'test_fraction' is '0.2', not a number >= 0.0 and < 1.0; give --split all"),
    ({"dataset": "moons", "test_fraction": 1.5}, ["--split", "train"],
     "'test_fraction' is 1.5, not a number >= 0.0 and < 1.0; give --split all"),
]


@pytest.mark.parametrize("meta,extra,problem", BAD_META, ids=[p[:30] for _, _, p in BAD_META])
def test_eval_checks_every_meta_field_it_uses(tmp_path, capsys, meta, extra, problem):
    model = write_model(tmp_path / "m.json", [("linear", [[1.0, -1.0, 0.0]])], meta)
    assert main(["eval", "--model", model, *extra]) == 1
    assert one_line_error(capsys.readouterr().err) == \
        f"micrograd: error: {model}: its meta {problem}"


def test_eval_flags_override_the_meta_they_replace(tmp_path, capsys):
    model = write_model(tmp_path / "m.json", [("linear", [[1.0, -1.0, 0.0]])],
                        {"dataset": "moons", "samples": True, "seed": -5, "noise": "x",
                         "loss": "hinge", "test_fraction": 0.25})
    assert main(["eval", "--model", model, "--samples", "40", "--seed", "3", "--noise", "0.1",
                 "--split", "test"]) == 0
    assert "moons (held-out part, 10 samples, seed 3): hinge loss " in capsys.readouterr().out


def test_a_fifo_as_model_is_refused_at_once(tmp_path):
    fifo = tmp_path / "model.json"
    os.mkfifo(fifo)
    proc = run_cli("predict", "--model", fifo, "--input", "1,2", timeout=60)   # used to hang
    assert proc.returncode == 1
    assert one_line_error(proc.stderr) == \
        f"micrograd: error: {fifo} is not a micrograd model file: not a regular file (a FIFO)"


def test_compiled_flag(tmp_path, capsys):
    code = main(["train", "--compiled", "--steps", "5", "--no-progress", "--no-plots",
                 "--out", str(tmp_path / "out")])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert "5 steps in" in cap.out


def test_compiled_flag_without_the_compiler_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "micrograd.compiler", None)     # as if numpy were missing
    code = main(["train", "--compiled", "--steps", "5", "--no-progress", "--no-plots",
                 "--out", str(tmp_path / "out")])
    assert code == 1
    assert "micrograd.compiler" in one_line_error(capsys.readouterr().err)


# ---------------------------------------------------------------------------------------------
# help
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv", [[], ["demo"], ["train"], ["predict"], ["eval"]])
def test_help(capsys, argv):
    assert main([*argv, "--help"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: micrograd")
    if not argv:
        for command in ("demo", "train", "predict", "eval"):
            assert command in text


def test_graph_subcommand_is_registered(capsys):
    assert main(["graph", "--help"]) == 0
    assert "usage: micrograd graph" in capsys.readouterr().out


def test_version(capsys):
    import micrograd
    assert main(["--version"]) == 0
    assert micrograd.__version__ in capsys.readouterr().out
