"""The training examples run as scripts and print the lecture's / the notebook's numbers."""
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run(script, *args, cwd=ROOT):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, str(ROOT / "examples" / script), *map(str, args)],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_lecture_mlp_reaches_a_small_loss():
    proc = run("04_lecture_mlp.py")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("MLP(3, [4, 4, 1]) with tanh, 41 parameters")
    assert "reached loss 0.00" in lines[-1] and "< 0.01" in lines[-1]
    losses = [float(line.split()[-1]) for line in lines if line.startswith("step")]
    assert losses[0] > 1 and losses[-1] < 0.01


@pytest.mark.slow
def test_moons_demo_prints_the_notebook_and_draws(tmp_path):
    proc = run("05_moons_demo.py", tmp_path / "boundary.png", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "number of parameters 337" in lines
    assert "step 0 loss 0.8958441028683222, accuracy 50.0%" in lines
    assert "step 1 loss 1.723590533697202, accuracy 81.0%" in lines
    assert "step 2 loss 0.7429006313851131, accuracy 77.0%" in lines
    assert "step 3 loss 0.7705641260584202, accuracy 82.0%" in lines
    assert "after 100 steps: loss 0.010978, accuracy 100%" in lines
    assert (tmp_path / "boundary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
