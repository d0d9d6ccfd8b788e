"""Running Graphviz's `dot`: found on PATH, given a time limit, killed on any interruption, and
on Linux killed with the Python process that started it, so no `dot` is ever left running.
"""
import os
import shutil
import signal
import subprocess
import sys

__all__ = ["run_dot", "dot_available", "check_timeout", "GraphvizNotFound", "RenderTimeout",
           "INSTALL_HINT", "RENDER_TIMEOUT"]

INSTALL_HINT = ("Graphviz's `dot` program was not found on PATH; install Graphviz "
                "(`apt-get install graphviz` on Debian/Ubuntu, `brew install graphviz` on macOS) "
                "or write the DOT source instead (format 'dot')")
RENDER_TIMEOUT = 60.0     # seconds `dot` may run before it is killed


class GraphvizNotFound(RuntimeError):
    """Graphviz's `dot` program is not installed (or not on PATH)."""


class RenderTimeout(RuntimeError):
    """Graphviz's `dot` ran past its time limit (and was killed)."""


def dot_available():
    return shutil.which("dot") is not None


def check_timeout(timeout):
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds or None, got {timeout!r}")


def _stop(proc):
    """Kill `dot` and reap it: nothing is left running, not even a zombie (nor open pipes)."""
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        try:
            pipe.close()
        except OSError:             # stdin's unwritten buffer, with no reader left
            pass


def _dies_with_us():
    """preexec_fn for `dot` on Linux: the kernel kills it if this process dies first (a
    Jupyter kernel restarted mid-render, kill -9), so no `dot` is ever orphaned."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGKILL)      # PR_SET_PDEATHSIG = 1


def run_dot(source, fmt, timeout=RENDER_TIMEOUT, path=None):
    """Run Graphviz's `dot -T<fmt>` on DOT text; returns its output (or writes it to `path`
    and returns b""). `dot` is killed when `timeout` seconds pass (RenderTimeout, one line)
    and on any interruption, KeyboardInterrupt included (which is then re-raised)."""
    check_timeout(timeout)
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizNotFound(INSTALL_HINT)
    command = [exe, f"-T{fmt}"] + (["-o", os.fspath(path)] if path is not None else [])
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=_dies_with_us())
    try:
        out, err = proc.communicate(source.encode("utf-8", "replace"), timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(proc)
        n = source.count("\n")
        raise RenderTimeout(f"dot -T{fmt} was stopped after {timeout:g} s ({n:,} lines of DOT); "
                            f"draw fewer values (max_nodes=..., max_depth=..., collapse=True) "
                            f"or pass a longer timeout=...") from None
    except BaseException:
        _stop(proc)
        raise
    if proc.returncode != 0:
        msg = err.decode("utf-8", "replace").strip().splitlines()
        raise RuntimeError(f"dot -T{fmt} failed (exit {proc.returncode})"
                           + (f": {msg[0]}" if msg else ""))
    return out
