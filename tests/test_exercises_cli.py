"""`micrograd exercises list|start|check` through the real command line, and the mistakes module
run as `python -m micrograd.exercises.mistakes`."""
import pathlib
import subprocess
import sys

import pytest
import torch

from micrograd import exercises
from micrograd.exercises import mistakes

SOLUTIONS = pathlib.Path(__file__).parent / "exercise_solutions"


def micrograd(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "micrograd", "exercises", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=120)


def test_list_prints_one_exercise_per_line_name_first():
    run = micrograd("list")
    assert run.returncode == 0 and run.stderr == ""
    lines = run.stdout.splitlines()
    assert [line.split()[0] for line in lines] == list(exercises.EXERCISES)
    for line, (name, module) in zip(lines, exercises.EXERCISES.items()):
        assert line.split(None, 1)[1] == module.SUMMARY
        assert module.SUMMARY.endswith(".") and module.SUMMARY.count(". ") == 0   # one sentence


def test_start_writes_a_starter_and_never_overwrites(tmp_path):
    run = micrograd("start", "topo", cwd=tmp_path)
    assert run.returncode == 0
    assert run.stdout == ("wrote topo.py: fill in its TODOs, then run\n"
                          "    micrograd exercises check topo topo.py\n")
    assert (tmp_path / "topo.py").read_text() == exercises.EXERCISES["topo"].STARTER
    (tmp_path / "topo.py").write_text("my work\n")
    again = micrograd("start", "topo", cwd=tmp_path)
    assert again.returncode == 1
    assert again.stderr == ("micrograd: error: topo.py already exists; not overwriting it "
                            "(give another FILE)\n")
    assert (tmp_path / "topo.py").read_text() == "my work\n"
    named = micrograd("start", "value", "mine.py", cwd=tmp_path)
    assert named.returncode == 0 and (tmp_path / "mine.py").exists()


def test_check_says_it_runs_your_own_code():
    run = micrograd("check", "--help")
    assert run.returncode == 0
    help_text = " ".join(run.stdout.split())
    assert "FILE is your own code: the checker imports it and runs it" in help_text


@pytest.mark.parametrize("name, file", [("value", "value"), ("mlp", "mlp"),
                                        ("training", "training")])
def test_check_exits_0_when_every_check_passes(name, file):
    run = micrograd("check", name, SOLUTIONS / f"{file}_lecture.py")
    assert run.returncode == 0, run.stdout
    assert run.stdout.rstrip().endswith(f"All {len(exercises.EXERCISES[name].CHECKS)} checks pass.")
    assert run.stderr == ""


def test_check_exits_1_with_feedback_and_no_traceback(tmp_path):
    text = (SOLUTIONS / "value_lecture.py").read_text()
    path = tmp_path / "value.py"
    path.write_text(text.replace("self.grad += (1 - t**2) * out.grad",
                                 "self.grad += (1 - t**2) / 0"))
    run = micrograd("check", "value", path)
    assert run.returncode == 1
    assert "Traceback" not in run.stdout + run.stderr
    assert "  ERROR   'tanh': out = a.tanh()" in run.stdout
    assert "your code raised ZeroDivisionError: float division by zero" in run.stdout
    assert f'File "{path}", line' in run.stdout


def test_check_stops_a_loop_that_never_ends(tmp_path):
    path = tmp_path / "topo.py"
    path.write_text("def build_topo(root):\n    while True:\n        pass\n")
    run = micrograd("check", "topo", path, "--timeout", "2")
    assert run.returncode == 1
    assert ("stopped after 2 seconds while running the check 'build_topo: the lecture's L"
            in " ".join(run.stdout.split()))


def test_check_errors_are_one_line(tmp_path):
    missing = micrograd("check", "value", tmp_path / "nope.py")
    assert missing.returncode == 1
    assert missing.stderr == f"micrograd: error: {tmp_path / 'nope.py'}: no such file\n"
    unknown = micrograd("check", "values", tmp_path / "nope.py")
    assert unknown.returncode == 2 and len(unknown.stderr.splitlines()) == 1
    assert "invalid choice: 'values'" in unknown.stderr
    bad = micrograd("check", "value", SOLUTIONS / "value_lecture.py", "--timeout", "0")
    assert bad.returncode == 2 and "must be > 0" in bad.stderr


# ---------------------------------------------------------------------------------------------
# the mistakes made visible
# ---------------------------------------------------------------------------------------------
def _torch_shared_a_grad():
    a = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(-3.0, dtype=torch.float64, requires_grad=True)
    e = a * b
    d = e + a
    (d * e).backward()
    return a.grad.item()


def test_each_mistake_shows_the_wrong_number_beside_the_right_one():
    overwrite, no_sort, no_zero = mistakes.demos()
    assert (overwrite.right, overwrite.wrong) == (2.0, 1.0)
    assert no_sort.right == _torch_shared_a_grad() == 24.0
    assert no_sort.wrong == 54.0
    assert no_zero.right != pytest.approx(no_zero.wrong)


def test_no_zero_grad_shows_the_sum_of_the_steps_gradients():
    """Without zero_grad the grad at step 3 is the sum of the three steps' own gradients."""
    from micrograd.exercises.training import XS, YS, lecture_model
    model, total = lecture_model(), 0.0
    for _ in range(3):
        loss = sum((model(x) - y) ** 2 for x, y in zip(XS, YS))
        before = [p.grad for p in model.parameters()]
        loss.backward()
        total += model.parameters()[0].grad - before[0]     # this step's own gradient
        for p in model.parameters():
            p.data += -0.05 * p.grad
    assert mistakes.no_zero_grad().wrong == pytest.approx(total, rel=1e-12)


def test_the_mistakes_module_runs_and_draws(tmp_path):
    from micrograd.viz import dot_available
    run = subprocess.run([sys.executable, "-m", "micrograd.exercises.mistakes",
                          "--draw", str(tmp_path)], capture_output=True, text=True, timeout=120)
    if not dot_available():
        assert run.returncode == 1 and "Graphviz" in run.stderr
        return
    assert run.returncode == 0, run.stderr
    assert "a.grad:  right 2.0   wrong 1.0" in run.stdout
    assert "a.grad:  right 24.0   wrong 54.0" in run.stdout
    wrong = (tmp_path / "mistake-1-wrong.svg").read_text()
    right = (tmp_path / "mistake-1-right.svg").read_text()
    assert "grad 1.0000" in wrong and "grad 2.0000" in right
    assert "grad 54.0000" in (tmp_path / "mistake-2-wrong.svg").read_text()


def test_mistakes_is_an_exercises_subcommand(capsys):
    from micrograd.cli import main
    assert main(["exercises", "mistakes"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1. = instead of += (gradients must accumulate: use +=)\n")
    assert "a.grad:  right 2.0   wrong 1.0" in out and "a.grad:  right 24.0   wrong 54.0" in out
    assert "3. no zero_grad" in out


def test_mistakes_draw_without_dot_is_one_line(tmp_path, capsys, monkeypatch):
    import micrograd.viz
    from micrograd.cli import main
    monkeypatch.setattr(micrograd.viz, "dot_available", lambda: False)
    assert main(["exercises", "mistakes", "--draw", str(tmp_path / "d")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("micrograd: error: drawing needs Graphviz's dot program: ")
    assert err.count("\n") == 1 and not (tmp_path / "d").exists()
