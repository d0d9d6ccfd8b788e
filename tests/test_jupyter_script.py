"""`bash scripts/jupyter.sh`, the docs' Jupyter route: JupyterLab starts as root and as an
ordinary user, on copies of the notebooks in out/notebooks/ that a second run never overwrites,
and the clone's `git status` stays clean.

The script runs in a throwaway clone (its files, the notebooks, .gitignore, in a fresh git
repository) with setup.sh replaced by a stub: setup.sh has its own tests (test_setup.py), and
this one must not install into the shared environment.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOBODY = 65534
pytestmark = pytest.mark.notebook     # JupyterLab servers


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def clone():
    # Under /tmp and open to all: the same clone is used by an ordinary user below.
    path = Path(tempfile.mkdtemp(prefix="micrograd-jupyter-", dir="/tmp"))
    try:
        (path / "scripts").mkdir()
        for name in ("jupyter.sh", "env.sh"):
            shutil.copy(ROOT / "scripts" / name, path / "scripts" / name)
        (path / "scripts" / "setup.sh").write_text("echo \"setup.sh $*\" >> setup.log\n")
        shutil.copytree(ROOT / "notebooks", path / "notebooks",
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        shutil.copy(ROOT / ".gitignore", path / ".gitignore")
        (path / ".gitignore").write_text((path / ".gitignore").read_text() +
                                       "setup.log\nhome/\njupyter.log\n")   # this test's own
        git = ["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@t"]
        subprocess.run([*git, "init", "-q"], check=True)
        subprocess.run([*git, "add", "-A"], check=True)
        subprocess.run([*git, "commit", "-qm", "clone"], check=True)
        subprocess.run(["chmod", "-R", "a+rwX", str(path)], check=True)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def start_jupyter(clone):
    """Run the script until JupyterLab answers; return (its log, whether it answered)."""
    port, home = free_port(), clone / "home"
    home.mkdir(exist_ok=True)
    os.chmod(home, 0o777)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "VIRTUAL_ENV": sys.prefix,
           "PYTHONPATH": str(ROOT), "JUPYTER_RUNTIME_DIR": str(home / "runtime")}
    cmd = ["bash", "scripts/jupyter.sh", "--no-browser", f"--port={port}",
           "--ServerApp.token=t0k", "--ServerApp.port_retries=0"]
    log = open(clone / "jupyter.log", "w+")
    proc = subprocess.Popen(cmd, cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    answered = False
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None and not answered:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token=t0k",
                                            timeout=2) as r:
                    answered = json.load(r)["started"] is not None
            except OSError:
                time.sleep(0.5)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    log.seek(0)
    return log.read(), answered


def git_status(clone):
    return subprocess.run(["git", "-C", str(clone), "-c", f"safe.directory={clone}", "status",
                           "--porcelain"], capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="runs the script as root and as another user")
def test_the_jupyter_route_works_as_root_and_as_a_user_and_leaves_git_clean(clone):
    text, answered = start_jupyter(clone)
    assert answered, text
    assert (clone / "setup.log").read_text() == "setup.sh jupyter\n"
    names = sorted(p.name for p in (clone / "notebooks").glob("*.ipynb"))
    copies = clone / "out" / "notebooks"
    assert sorted(p.name for p in copies.glob("*.ipynb")) == names
    assert git_status(clone) == ""

    mine = copies / names[0]                  # the learner's work is never overwritten
    mine.write_text(mine.read_text() + "\n")
    edited = mine.read_text()
    # As an ordinary user: this machine's environment lives in root's home, out of a user's
    # reach, so a stand-in Python records what the script asks of it instead.
    venv = clone / "home" / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$HOME/argv"\n')
    (venv / "bin" / "python").chmod(0o755)
    subprocess.run(["chmod", "-R", "a+rwX", str(clone)], check=True)
    run = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                          "bash", "scripts/jupyter.sh", "--no-browser"], cwd=clone,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(clone / "home"),
                              "VIRTUAL_ENV": str(venv)}, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    assert (clone / "home" / "argv").read_text().split("\n")[:-1] == [
        "-m", "jupyterlab", "--notebook-dir=out/notebooks", "--no-browser"]
    assert mine.read_text() == edited
    assert git_status(clone) == ""
