"""The exercise checker under faults (issue 22): output it caps, processes it ends, a verdict the
learner's code cannot forge, and its own failures named as its own."""
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from micrograd import exercises
from micrograd.exercises import runner

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "tests" / "exercise_solutions"
N_VALUE = len(exercises.EXERCISES["value"].CHECKS)


def learner(tmp_path, code, name="mine.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(code))
    return path


def alive(pid):
    """True while `pid` runs (a zombie has ended: it only waits to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def gone_soon(pid, within=3.0):
    deadline = time.monotonic() + within
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


# ---------------------------------------------------------------------------------------------
# output: read through a pipe, capped, never on disk
# ---------------------------------------------------------------------------------------------
def test_a_print_loop_is_capped_and_nothing_is_written_to_disk(tmp_path, monkeypatch):
    """It used to write 4.8 GB to the temp folder in 4 s."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    path = learner(tmp_path, """\
        import sys
        while True:
            sys.stdout.write("x" * 65535)
        """)
    result = exercises.check("value", path, timeout=2)
    assert result.fatal.startswith("stopped after 2 seconds while importing your file")
    assert result.output == "x" * runner.OUTPUT_KEPT
    assert result.output_dropped > 0                      # counted, then dropped
    assert os.listdir(tmp) == []
    assert "xxxxx" not in result.feedback


def test_a_crash_quotes_a_few_clipped_lines_of_output(tmp_path):
    """A crash used to quote five 64 KB lines."""
    path = learner(tmp_path, """\
        import os, sys
        for i in range(8):
            print(str(i) * 65536)
        sys.stdout.flush()
        os._exit(4)
        """)
    result = exercises.check("value", path)
    assert result.fatal.startswith("your code ended the checker's process while importing your "
                                   "file (exit status 4); its last output:\n")
    quoted = result.fatal.splitlines()[1:-1]
    assert [line[0] for line in quoted] == list("34567")
    assert all(len(line) == runner.TAIL_WIDTH + len(" [...]") for line in quoted)
    assert result.fatal.endswith("Does your file call os._exit()?")


def test_the_cli_says_how_much_output_was_dropped(tmp_path):
    path = learner(tmp_path, (SOLUTIONS / "topo_lecture.py").read_text()
                   + "\nimport sys\nsys.stdout.write('y' * 3_000_000)\n", "topo.py")
    proc = subprocess.run([sys.executable, "-m", "micrograd", "exercises", "check", "topo", path],
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout
    assert "yyy" not in proc.stdout
    assert proc.stdout.rstrip().endswith(
        f"(your code printed {3_000_000 - runner.OUTPUT_KEPT} bytes more than the checker "
        f"keeps, {runner.OUTPUT_KEPT} bytes: they were counted and dropped)")


# ---------------------------------------------------------------------------------------------
# processes: the learner's whole tree ends with the check
# ---------------------------------------------------------------------------------------------
DETACHED = textwrap.dedent("""\
    import os, time
    if os.fork() == 0:                      # a grandchild that leaves the process group
        os.setsid()
        if os.fork() == 0:                  # and its own child, orphaned at once
            with open({pidfile!r}, "w") as f:
                f.write(str(os.getpid()))
            time.sleep(120)
        os._exit(0)
    time.sleep(0.5)
    """)
LOOP = "while True:\n    pass\n"


@pytest.mark.parametrize("how", ["the check ends", "the time limit"])
def test_a_detached_grandchild_does_not_outlive_the_check(tmp_path, how):
    """setsid and a double fork: it used to run on 40 s after the checker had exited."""
    pidfile = tmp_path / "pid"
    code = DETACHED.format(pidfile=str(pidfile))
    if how == "the time limit":
        code += LOOP
    path = learner(tmp_path, code)
    exercises.check("value", path, timeout=3)
    pid = int(pidfile.read_text())
    assert gone_soon(pid), f"process {pid} outlived the check"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL])
def test_when_the_checker_ends_so_do_the_learners_processes(tmp_path, signum):
    """Ctrl-C: one line, exit status 130, everything the learner's code started is ended. kill
    -9: the checker cannot clean up, but its supervisor sees it go and does."""
    pidfile = tmp_path / "pid"
    path = learner(tmp_path, DETACHED.format(pidfile=str(pidfile))
                   + "with open(__file__ + '.child', 'w') as f:\n    f.write(str(os.getpid()))\n"
                   + LOOP)
    proc = subprocess.Popen([sys.executable, "-m", "micrograd", "exercises", "check", "value",
                             path], env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    child = pathlib.Path(str(path) + ".child")
    deadline = time.monotonic() + 60
    while not (pidfile.exists() and pidfile.read_text() and child.exists() and
               child.read_text()):
        assert time.monotonic() < deadline, "the learner's code never ran"
        time.sleep(0.05)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    if signum == signal.SIGINT:
        assert proc.returncode == 130
        assert err == "micrograd: error: interrupted\n"
    for pid in (int(pidfile.read_text()), int(child.read_text())):
        assert gone_soon(pid), f"process {pid} outlived the checker"


# ---------------------------------------------------------------------------------------------
# the verdict: the learner's code cannot write it
# ---------------------------------------------------------------------------------------------
WRONG_MUL = (SOLUTIONS / "value_lecture.py").read_text().replace(
    "self.grad += other.data * out.grad", "self.grad += out.grad")


def test_forged_pass_events_and_os_exit_do_not_pass(tmp_path):
    """The issue's forgery: pass events for every check written to the checker's channel, then
    os._exit(0). It used to get 'All 27 checks pass' and exit 0."""
    path = learner(tmp_path, """\
        import json, os, sys
        from micrograd.exercises import EXERCISES
        fd = int(sys.argv[2])                    # the events pipe the child was handed
        lines = [{"child": "started"}]
        for title, _ in EXERCISES["value"].CHECKS:
            lines += [{"start": title}, {"title": title, "status": "pass", "message": ""}]
        lines += [{"answers": []}, {"end": True}]
        os.write(fd, "".join(json.dumps(e) + "\\n" for e in lines).encode())
        os._exit(0)
        """)
    result = exercises.check("value", path)
    assert not result.passed
    assert f"All {N_VALUE} checks pass." not in result.feedback
    assert result.feedback.endswith(f"0 of {N_VALUE} checks pass: the checker could not "
                                    "confirm them.")
    assert result.unverified.startswith("The checker re-checked your code on fresh random "
                                        "cases and its numbers differ from micrograd's engine")


def test_replacing_the_checks_does_not_pass_a_wrong_value(tmp_path):
    """The other forgery: value.CHECKS swapped for checks that do nothing."""
    assert "self.grad += out.grad" in WRONG_MUL
    path = learner(tmp_path, WRONG_MUL + textwrap.dedent("""
        from micrograd.exercises import value
        value.CHECKS[:] = [(title, lambda learner: None) for title, _ in value.CHECKS]
        """))
    result = exercises.check("value", path)
    assert not result.passed
    assert [o.status for o in result.outcomes] == ["pass"] * N_VALUE      # what it claimed
    assert ".grad: expected " in result.unverified
    assert result.feedback.endswith("the checker could not confirm them.")


def test_fewer_checks_than_the_exercise_has_do_not_pass(tmp_path):
    path = learner(tmp_path, (SOLUTIONS / "value_lecture.py").read_text() + textwrap.dedent("""
        from micrograd.exercises import value
        del value.CHECKS[3:]
        """))
    result = exercises.check("value", path)
    assert not result.passed and len(result.outcomes) == 3
    assert result.unverified.startswith("The reports from the process that ran your code do "
                                        "not follow the checker's list of checks")


def test_the_re_check_uses_fresh_cases_every_run(monkeypatch):
    seeds = []
    real = runner.secrets.randbits
    monkeypatch.setattr(runner.secrets, "randbits", lambda k: seeds.append(real(k)) or seeds[-1])
    for _ in range(2):
        assert exercises.check("custom_op", SOLUTIONS / "custom_op_lecture.py").passed
    assert len(seeds) == 2 and seeds[0] != seeds[1]
    from micrograd.exercises import verify
    assert verify.challenge("value", seeds[0]) != verify.challenge("value", seeds[1])


@pytest.mark.parametrize("name, solution", [("value", "value"), ("topo", "topo"),
                                            ("neuron", "mlp"), ("mlp", "mlp"),
                                            ("training", "training"),
                                            ("custom_op", "custom_op")])
def test_the_re_check_agrees_with_the_lecture_and_catches_a_wrong_number(name, solution):
    """Each exercise's challenge, answered in-process by the lecture's solution, verifies; one
    number off by 1e-3 does not."""
    import importlib.util
    from micrograd.exercises import verify
    spec_ = importlib.util.spec_from_file_location(f"sol_{name}",
                                                   SOLUTIONS / f"{solution}_lecture.py")
    module = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(module)
    for seed in (1, 2, 3):
        spec = verify.challenge(name, seed)
        got = verify.answers(name, module, spec)
        assert verify.verify(name, spec, got) is None
        got[-1][1] += 1e-3
        assert verify.verify(name, spec, got).startswith(got[-1][0] + ": expected ")


# ---------------------------------------------------------------------------------------------
# the checker's own failures are named as its own
# ---------------------------------------------------------------------------------------------
def test_a_checker_that_cannot_start_says_so(monkeypatch):
    monkeypatch.setattr(runner.sys, "executable", "/nonexistent/python3")
    with pytest.raises(exercises.CheckerError, match=r"^the checker could not start its process "
                                                     r"\(/nonexistent/python3\): No such file"):
        exercises.check("value", SOLUTIONS / "value_lecture.py")


def test_a_checker_that_dies_before_the_learners_code_says_so(monkeypatch, capsys):
    monkeypatch.setattr(runner, "CHILD_MODULE", "micrograd.exercises.no_such_module")
    from micrograd.cli import main
    assert main(["exercises", "check", "value", str(SOLUTIONS / "value_lecture.py")]) == 1
    cap = capsys.readouterr()
    assert cap.out == ""
    assert cap.err.startswith("micrograd: error: the checker's own process failed before it ran "
                              "any of your code (exit status 1): ")
    assert "No module named micrograd.exercises.no_such_module" in cap.err
    assert cap.err.endswith("; your file was not checked\n") and cap.err.count("\n") == 1
    assert "os._exit" not in cap.err


def test_an_unusable_temp_folder_does_not_matter(tmp_path, monkeypatch):
    """On a full temp folder the report used to blame the learner ('Does your file call
    os._exit()?'): the checker no longer writes anything there."""
    monkeypatch.setenv("TMPDIR", str(tmp_path / "no" / "such" / "folder"))
    result = exercises.check("topo", SOLUTIONS / "topo_lecture.py")
    assert result.passed, result.feedback
