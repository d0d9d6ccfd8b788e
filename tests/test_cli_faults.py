"""The command line under faults (issue 22): nothing wrong reported as right, every fault named.

Non-finite metrics, paths that are not regular files, Ctrl-C at any moment (real subprocesses,
real SIGINTs), and full disks (a fault-injecting write, and a real 64 KiB tmpfs where mounting is
allowed)."""
import errno
import json
import os
import pathlib
import select
import signal
import subprocess
import sys
import time

import pytest

from helpers.processes import ctrl_c_once_running
from micrograd.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[1]


def one_line_error(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert "Traceback" not in err
    return lines[0]


def write_model(path, layers, meta=None):
    """A model file with exactly these weights: layers = [(activation, [[w..., b], ...])]."""
    doc = {"format": "micrograd.mlp", "version": 1, "nin": len(layers[0][1][0]) - 1,
           "layers": [{"activation": act, "neurons": [{"w": n[:-1], "b": n[-1]} for n in ns]}
                      for act, ns in layers], "meta": meta or {}}
    path.write_text(json.dumps(doc))
    return str(path)


MOONS = {"dataset": "moons", "samples": 40, "noise": 0.1, "seed": 0, "loss": "hinge"}


# ---------------------------------------------------------------------------------------------
# 1. metrics from numbers that are not numbers are refused
# ---------------------------------------------------------------------------------------------
def test_eval_refuses_a_model_whose_outputs_are_not_finite(tmp_path, capsys):
    """1e308 weights: w·x overflows to inf in both hidden units, inf - inf is NaN. It used to
    print 'hinge loss nan, accuracy 63.0%' and exit 0."""
    model = write_model(tmp_path / "m.json", [("relu", [[1e308, 1e308, 0.0], [1e308, 1e308, 0.0]]),
                                              ("linear", [[1.0, -1.0, 0.0]])], MOONS)
    assert main(["eval", "--model", model]) == 1
    cap = capsys.readouterr()
    assert cap.out == ""
    line = one_line_error(cap.err)
    assert line.startswith("micrograd: error: moons (all) row ")
    assert ": the model's output is nan, not a finite number (weights too large?); no loss or " \
        "accuracy to report" in line


def test_eval_names_the_meta_noise_that_made_the_data_non_finite(tmp_path, capsys):
    """meta noise 1e308: the data itself overflows; it used to print 'nan, 50.0%'."""
    model = write_model(tmp_path / "m.json", [("linear", [[1.0, -1.0, 0.0]])],
                        dict(MOONS, noise=1e308))
    assert main(["eval", "--model", model]) == 1
    line = one_line_error(capsys.readouterr().err)
    assert line.startswith("micrograd: error: moons (all) row ")
    assert "(the data is made with its meta 'noise' 1e+308: far too much noise); no loss or " \
        "accuracy to report" in line
    assert main(["eval", "--model", model, "--noise", "1e308"]) == 1
    assert "the data is made with --noise 1e+308: far too much noise" in \
        one_line_error(capsys.readouterr().err)
    assert main(["eval", "--model", model, "--noise", "0.1"]) == 0       # the flag wins
    assert "hinge loss " in capsys.readouterr().out


def test_eval_refuses_a_loss_that_is_not_finite(tmp_path, capsys):
    """Scores of +-1e300 are finite; their squared error is not."""
    model = write_model(tmp_path / "m.json", [("linear", [[1e300, 0.0, 0.0]])],
                        dict(MOONS, loss="mse"))
    assert main(["eval", "--model", model]) == 1
    assert one_line_error(capsys.readouterr().err) == (
        "micrograd: error: moons (all): the mse loss is inf, not a finite number; no loss or "
        "accuracy to report")


def test_train_refuses_a_held_out_report_from_non_finite_data(tmp_path, capsys):
    """--noise 1e308: data that overflows; training diverges or the report is refused, never
    a NaN accuracy."""
    out = tmp_path / "run"
    code = main(["train", "--noise", "1e308", "--steps", "2", "--no-progress", "--no-plots",
                 "--out", str(out)])
    assert code == 1
    line = one_line_error(capsys.readouterr().err)
    assert "nan" not in line.split("error:")[0]
    assert "--noise 1e+308" in line or "training diverged" in line, line


def test_the_metric_guard_passes_finite_numbers_through_unchanged():
    from micrograd.cli.common import finite_metrics
    from micrograd.nn import MLP
    from micrograd.train import evaluate
    import random
    random.seed(3)
    model = MLP(2, [4, 1], fused=True)
    X, y = [[0.5, -1.0], [2.0, 0.25], [-1.5, 1.0]], [0, 1, 1]
    assert finite_metrics(model, X, y, "hinge", "X") == evaluate(model, X, y, "hinge")


# ---------------------------------------------------------------------------------------------
# 3. paths that are not regular files are named as such (and never block on a FIFO)
# ---------------------------------------------------------------------------------------------
def run_cli(*args, timeout=120):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "micrograd", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_exercises_check_names_a_fifo_and_a_directory(tmp_path):
    fifo = tmp_path / "value.py"
    os.mkfifo(fifo)
    proc = run_cli("exercises", "check", "value", fifo, timeout=60)
    assert proc.returncode == 1
    assert one_line_error(proc.stderr) == \
        f"micrograd: error: {fifo} is a FIFO (a named pipe), not a Python file"
    folder = tmp_path / "folder.py"
    folder.mkdir()
    proc = run_cli("exercises", "check", "value", folder)
    assert proc.returncode == 1
    assert one_line_error(proc.stderr) == \
        f"micrograd: error: {folder}: a directory, not a Python file"
    proc = run_cli("exercises", "check", "value", tmp_path / "nope.py")
    assert one_line_error(proc.stderr) == f"micrograd: error: {tmp_path / 'nope.py'}: no such file"


def test_predict_names_a_csv_that_is_a_fifo_or_a_directory(tmp_path):
    model = write_model(tmp_path / "m.json", [("linear", [[1.0, 1.0, 0.0]])])
    fifo = tmp_path / "rows.csv"
    os.mkfifo(fifo)
    proc = run_cli("predict", "--model", model, "--data-csv", fifo, timeout=60)  # used to hang
    assert proc.returncode == 1
    assert one_line_error(proc.stderr) == \
        f"micrograd: error: {fifo} is a FIFO (a named pipe), not a CSV file"
    assert main(["predict", "--model", model, "--data-csv", str(tmp_path)]) == 1


def test_predict_names_a_csv_folder(tmp_path, capsys):
    model = write_model(tmp_path / "m.json", [("linear", [[1.0, 1.0, 0.0]])])
    assert main(["predict", "--model", model, "--data-csv", str(tmp_path)]) == 1
    assert one_line_error(capsys.readouterr().err) == \
        f"micrograd: error: {tmp_path} is a directory, not a CSV file"
    assert main(["predict", "--model", str(tmp_path), "--input", "1,2"]) == 1
    assert one_line_error(capsys.readouterr().err) == \
        f"micrograd: error: {tmp_path}: Is a directory"


# ---------------------------------------------------------------------------------------------
# 4. Ctrl-C at any moment: one line, exit status 130, nothing lost (real processes, real SIGINTs)
# ---------------------------------------------------------------------------------------------
def start_cli(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "micrograd", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("delay", [0.0, 0.01, 0.02, 0.04, 0.07, 0.1, 0.15, 0.25, 0.4, 0.8])
def test_one_ctrl_c_at_any_moment_is_one_line_and_130(tmp_path, delay):
    """From micrograd's first line (its imports: a press in the first 0.1 s used to print a
    KeyboardInterrupt traceback, and a press inside a C extension's import to end with exit
    status -2) through the data, the model and training. The clock starts when the first
    module of micrograd.cli is imported (-X importtime says so on stderr): the command's own
    code is running. Before that a Ctrl-C lands in Python's start-up or in runpy, before any
    line of micrograd's __main__ (which installs the handler, then imports the rest)."""
    code, out, err = ctrl_c_once_running(["train", "--steps", "100000", "--no-progress",
                                          "--no-plots", "--out", tmp_path / "run"], delay)
    assert code == 130, err
    line = one_line_error(err)
    assert line == "micrograd: error: interrupted" or line.startswith("interrupted after "), line
    if line.startswith("interrupted after "):              # training had begun: model kept
        from micrograd import io
        assert io.load_model(tmp_path / "run" / "model.json", with_meta=True)[1]["interrupted"]


def test_a_press_a_c_extension_turned_into_an_import_error_is_still_an_interrupt(monkeypatch,
                                                                                  capsys):
    """numpy's C extension, imported while Ctrl-C is pressed, reports the KeyboardInterrupt as
    its own ImportError ('PyCapsule_Import could not import module "datetime"', seen in CI): the
    command says it was interrupted (130), not that the install is broken. An ImportError with
    no press before it is still reported as one."""
    import micrograd.cli as cli
    from micrograd.cli import evaluate

    def import_hit_by_a_press(args):
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            raise ImportError('PyCapsule_Import could not import module "datetime"') from None

    def import_broken(args):
        raise ImportError("No module named 'matplotlib'")

    for func, code, line in [(import_hit_by_a_press, 130, "micrograd: error: interrupted"),
                             (import_broken, 1, "micrograd: error: No module named 'matplotlib'")]:
        monkeypatch.setattr(evaluate, "run", func)
        assert cli.main(["eval", "--model", "m.json"]) == code
        assert capsys.readouterr().err.startswith(line)


def test_a_press_python_dropped_before_training_still_stops_it():
    """A KeyboardInterrupt raised inside a __del__ or a weakref callback is dropped by Python
    ('Exception ignored in'): a press during the imports or the setup could vanish, and training
    would then run to its end. The press FirstPress saw still counts once training's CtrlC
    takes over, so fit stops after its first step and the model is saved."""
    from micrograd.cli import FirstPress
    from micrograd.cli.common import CtrlC
    first = FirstPress()
    old = signal.signal(signal.SIGINT, first)
    try:
        with pytest.raises(KeyboardInterrupt):
            first(signal.SIGINT, None)             # raised, and (say) dropped by a __del__
        with CtrlC() as ctrl_c:
            assert ctrl_c.presses == 1
        signal.signal(signal.SIGINT, FirstPress())  # a handler that saw no press adds none
        with CtrlC() as fresh_command:
            assert fresh_command.presses == 0
    finally:
        signal.signal(signal.SIGINT, old)


def test_a_ctrl_c_python_drops_in_a_del_is_delivered_again():
    """A KeyboardInterrupt raised in a __del__ (or importlib's module-lock weakref callback, as
    seen under load) is dropped by Python: micrograd's unraisable hook says nothing and delivers
    the press again to the running code, through FirstPress's grace."""
    from micrograd.__main__ import _dropped
    from micrograd.cli import FirstPress

    class Dropper:
        def __del__(self):
            raise KeyboardInterrupt

    first = FirstPress()
    old, hook = signal.signal(signal.SIGINT, first), sys.unraisablehook
    try:
        with pytest.raises(KeyboardInterrupt):
            first(signal.SIGINT, None)             # the press, as its handler raises it...
        sys.unraisablehook = _dropped
        with pytest.raises(KeyboardInterrupt):
            Dropper()                              # ...dropped in a __del__, and delivered again
            time.sleep(2)                          # within the grace: only the re-delivery raises
    finally:
        sys.unraisablehook = hook
        signal.signal(signal.SIGINT, old)


def test_every_command_takes_a_ctrl_c_the_same_way(tmp_path):
    """eval, predict and the exercises, a press at several moments from their imports on:
    either the command had finished (status 0) or it is one line and 130; never a traceback."""
    model = write_model(tmp_path / "m.json", [("linear", [[1.0, -1.0, 0.0]])], MOONS)
    commands = [["eval", "--model", model], ["predict", "--model", model, "--input", "1,2"],
                ["exercises", "check", "topo", ROOT / "tests/exercise_solutions/topo_lecture.py"],
                ["exercises", "list"]]
    seen = set()
    for command in commands:
        for delay in (0.0, 0.05, 0.2):
            code, out, err = ctrl_c_once_running(command, delay)
            assert code in (0, 130), (command, delay, code, err)
            if code == 130:
                assert one_line_error(err) == "micrograd: error: interrupted", command
            else:
                assert err == "" and out, (command, delay)
            seen.add(code)
    assert 130 in seen


def test_presses_while_the_first_is_handled_are_ignored_then_one_stops_again(monkeypatch):
    """A second press must not cut short the handling of the first (nor escape it: exit
    status -2); but Python drops a KeyboardInterrupt raised inside a __del__, so a press after
    the grace period stops the command again rather than being ignored for ever."""
    import micrograd.cli as cli
    from micrograd.cli.common import CtrlC
    clock = [100.0]
    monkeypatch.setattr(cli.time, "monotonic", lambda: clock[0])
    for handler in (cli.FirstPress(), CtrlC()):
        handler._deferring = False                     # CtrlC: the model is saved
        with pytest.raises(KeyboardInterrupt):
            handler(signal.SIGINT, None)
        clock[0] += handler.GRACE / 2
        handler(signal.SIGINT, None)                    # ignored: the first is being handled
        clock[0] += handler.GRACE
        with pytest.raises(KeyboardInterrupt):
            handler(signal.SIGINT, None)                # the first was lost: stop now


@pytest.mark.parametrize("command", [["train", "--dataset", "circles", "--steps", "100000"],
                                     ["demo", "--steps", "100000", "--gif-every", "1"]])
def test_a_burst_of_ctrl_c_presses_still_exits_130_with_the_model_written(tmp_path, command):
    """Ctrl-C pressed again and again, 30 ms apart, until the process is gone: it used to end
    with exit status -2 (the signal itself) in 11 of 12 trials, the model safe every time."""
    out = tmp_path / "run"
    proc = start_cli(*command, "--out", out, *(["--print-every", "1"] if command[0] == "demo"
                                               else ["--no-progress"]))
    # training has begun once the data is made: train prints its header then, the demo its
    # first step (the output folder comes earlier, before the data: not a sign)
    begun, seen, deadline = b"step 0 " if command[0] == "demo" else b"train: ", b"", \
        time.monotonic() + 60
    while begun not in seen and time.monotonic() < deadline:
        if select.select([proc.stdout], [], [], 1.0)[0]:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
    assert begun in seen, seen
    time.sleep(0.5)
    presses = 0
    while proc.poll() is None and presses < 400:
        proc.send_signal(signal.SIGINT)
        presses += 1
        time.sleep(0.03)
    out_text, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (presses, err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert presses > 1
    from micrograd import io
    model, meta = io.load_model(out / "model.json", with_meta=True)
    assert meta["interrupted"] is True
    assert not [n for n in os.listdir(out) if n.startswith(".")]      # no temp file left


# ---------------------------------------------------------------------------------------------
# 5. a full disk names the file, and says what was and was not written
# ---------------------------------------------------------------------------------------------
NO_SPACE = os.strerror(errno.ENOSPC)


def failing_json(after=20):
    """io's json module, but dump() writes `after` characters and then finds the disk full: a
    fault-injecting write, as a full disk does it (part of the file, then ENOSPC)."""
    import types

    def dump(doc, f, **kwargs):
        f.write(json.dumps(doc, **kwargs)[:after])
        f.flush()
        raise OSError(errno.ENOSPC, NO_SPACE)
    return types.SimpleNamespace(dump=dump, dumps=json.dumps, loads=json.loads)


def test_save_model_names_its_file_on_a_full_disk(tmp_path, monkeypatch):
    """io.save_model's OSError used to name no file ('[Errno 28] No space left on device')."""
    from micrograd import io
    from micrograd.nn import MLP
    monkeypatch.setattr(io, "json", failing_json())
    path = tmp_path / "model.json"
    with pytest.raises(OSError) as e:
        io.save_model(MLP(2, [3, 1]), path)
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(path)
    assert str(e.value) == f"[Errno 28] {NO_SPACE}: '{path}'"
    assert os.listdir(tmp_path) == []


def test_a_full_disk_at_the_model_names_it_and_keeps_the_old_one(tmp_path, capsys, monkeypatch):
    from micrograd import io
    out = tmp_path / "run"
    assert main(["train", "--steps", "2", "--no-progress", "--no-plots", "--out", str(out)]) == 0
    before = (out / "model.json").read_bytes()
    capsys.readouterr()
    monkeypatch.setattr(io, "json", failing_json())
    assert main(["train", "--steps", "3", "--no-progress", "--out", str(out)]) == 1
    assert one_line_error(capsys.readouterr().err) == (
        f"micrograd: error: cannot write {out / 'model.json'}: {NO_SPACE}; the trained model "
        "was not saved; the model.json there before is kept as it was")
    assert (out / "model.json").read_bytes() == before
    assert sorted(os.listdir(out)) == ["model.json"]               # no temp file, no plots


def test_a_full_disk_at_the_first_model_says_nothing_was_written(tmp_path, capsys,
                                                                  monkeypatch):
    from micrograd import io
    monkeypatch.setattr(io, "json", failing_json())
    out = tmp_path / "run"
    assert main(["demo", "--steps", "2", "--no-gif", "--out", str(out)]) == 1
    assert one_line_error(capsys.readouterr().err) == (
        f"micrograd: error: cannot write {out / 'model.json'}: {NO_SPACE}; the trained model "
        "was not saved; nothing was written")
    assert os.listdir(out) == []


def test_a_full_disk_at_the_evaluation_keeps_the_model(tmp_path, capsys, monkeypatch):
    """The first save lands; the re-save with the loss and accuracy finds the disk full."""
    from micrograd import io
    real = io.json
    calls = []

    def dump(doc, f, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            return failing_json().dump(doc, f, **kwargs)
        return real.dump(doc, f, **kwargs)
    import types
    monkeypatch.setattr(io, "json", types.SimpleNamespace(dump=dump, dumps=json.dumps,
                                                          loads=json.loads))
    out = tmp_path / "run"
    assert main(["train", "--steps", "2", "--no-progress", "--out", str(out)]) == 1
    assert one_line_error(capsys.readouterr().err) == (
        f"micrograd: error: cannot write {out / 'model.json'}: {NO_SPACE}; it holds the "
        "trained model, without its loss and accuracy")
    model, meta = io.load_model(out / "model.json", with_meta=True)
    assert meta["steps"] == 2 and meta["train_accuracy"] is None
    assert sorted(os.listdir(out)) == ["model.json"]


def test_a_full_disk_at_a_plot_says_what_was_written(tmp_path, capsys, monkeypatch):
    from micrograd.viz import plots
    real = plots.plot_history

    def full(history, path):
        real(history, path)
        with open(path, "ab") as f:
            f.write(b"\0" * 10)
        raise OSError(errno.ENOSPC, NO_SPACE)
    monkeypatch.setattr(plots, "plot_history", full)
    out = tmp_path / "run"
    assert main(["train", "--steps", "2", "--no-progress", "--gif", "--out", str(out)]) == 1
    assert one_line_error(capsys.readouterr().err) == (
        f"micrograd: error: cannot write {out / 'history.png'}: {NO_SPACE}; wrote "
        f"{out / 'model.json'}, {out / 'decision_boundary.png'}; not written: history.png, "
        "training.gif")
    assert sorted(os.listdir(out)) == ["decision_boundary.png", "model.json"]
    from micrograd import io
    assert io.load_model(out / "model.json", with_meta=True)[1]["train_accuracy"] is not None


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 32 KiB tmpfs (root only; skipped where mounting is not allowed: the fault-injecting
    tests above cover the same code everywhere)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32k", "tmpfs", str(disk)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def test_a_real_full_disk_during_train(tiny_disk):
    """The issue's run: it said 'micrograd: error: [Errno 28] No space left on device'."""
    out = tiny_disk / "run"
    proc = run_cli("train", "--steps", "2", "--no-progress", "--out", out)
    assert proc.returncode == 1
    assert one_line_error(proc.stderr) == (
        f"micrograd: error: cannot write {out / 'decision_boundary.png'}: {NO_SPACE}; wrote "
        f"{out / 'model.json'}; not written: decision_boundary.png, history.png")
    from micrograd import io
    assert io.load_model(out / "model.json", with_meta=True)[1]["steps"] == 2
    assert sorted(os.listdir(out)) == ["model.json"]
    before = (out / "model.json").read_bytes()
    proc = run_cli("train", "--steps", "2", "--layers", "64,64", "--no-progress",
                   "--out", out)                       # a model.json too big for the disk
    assert proc.returncode == 1
    assert one_line_error(proc.stderr) == (
        f"micrograd: error: cannot write {out / 'model.json'}: {NO_SPACE}; the trained model "
        "was not saved; the model.json there before is kept as it was")
    assert (out / "model.json").read_bytes() == before
    assert sorted(os.listdir(out)) == ["model.json"]
