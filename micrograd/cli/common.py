"""What the subcommands share: one-line errors, argument types, writing the outputs (the
model first, Ctrl-C deferred until it is on disk)."""
import argparse
import contextlib
import math
import os
import signal
import sys
import tempfile
import threading

DATASET_NAMES = "moons, circles, spiral, blobs, digits"
EXIT_INTERRUPTED = 130
AUTO_BATCH_ABOVE = 1000      # train: full batch up to this many training examples, else 32
MAX_SAMPLES = 100_000        # a dataset a scalar engine evaluates in seconds; more is a typo
MAX_SEED = 2**32 - 1         # numpy's (and so the datasets') largest seed


class CLIError(Exception):
    """A problem to report as one line, exit status 1."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (usage goes with --help, not with errors)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# ---------------------------------------------------------------------------------------------
# argument types: each rejects a bad value with a one-line message
# ---------------------------------------------------------------------------------------------
def int_arg(low, high=None):
    def parse(s):
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {s!r}") from None
        if v < low:
            kind = "a positive integer" if low == 1 else f"an integer >= {low}"
            raise argparse.ArgumentTypeError(f"must be {kind}, got {s}")
        if high is not None and v > high:
            raise argparse.ArgumentTypeError(f"must be at most {high}, got {s}")
        return v
    return parse


def float_arg(low=None, strict=False, high=None):
    def parse(s):
        try:
            v = float(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {s!r}") from None
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {s}")
        if low is not None and (v <= low if strict else v < low):
            raise argparse.ArgumentTypeError(f"must be {'>' if strict else '>='} {low}, got {s}")
        if high is not None and v >= high:
            raise argparse.ArgumentTypeError(f"must be < {high}, got {s}")
        return v
    return parse


def layers_arg(s):
    """'16,16' -> [16, 16]; '' or 'none' -> [] (no hidden layer: a linear model)."""
    if s.strip().lower() in ("", "none"):
        return []
    sizes = []
    for part in s.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 1:
            raise argparse.ArgumentTypeError(
                f"expected hidden layer sizes like 16,16 (positive integers), got {s!r}")
        sizes.append(int(part))
    return sizes


def numbers_arg(s, what):
    try:
        vals = [float(v) for v in s.replace(",", " ").split()]
    except ValueError:
        raise CLIError(f"{what} {s!r} is not a list of numbers") from None
    if not vals:
        raise CLIError(f"{what} is empty")
    if not all(math.isfinite(v) for v in vals):
        raise CLIError(f"{what} {s!r} holds a non-finite number")
    return vals


# ---------------------------------------------------------------------------------------------
# helpers shared by the commands
# ---------------------------------------------------------------------------------------------
def describe(model):
    sizes = [len(layer.neurons) for layer in model.layers]
    nin = len(model.layers[0].neurons[0].w)
    return f"MLP({nin}, {sizes})", len(model.parameters())


def snapshotter(model, every, total):
    from micrograd.weights import get_weights
    snaps = [(0, get_weights(model))]

    def take(k, model, history):
        done = k + 1
        if done % every == 0 or done == total:
            snaps.append((done, get_weights(model)))
    return snaps, take


def chain_callbacks(*callbacks):
    callbacks = [c for c in callbacks if c is not None]

    def callback(k, model, history):
        stop = False
        for c in callbacks:
            stop = (c(k, model, history) is True) or stop
        return stop
    return callback


# ---------------------------------------------------------------------------------------------
# the outputs of a training run: checked before training, the model saved first
# ---------------------------------------------------------------------------------------------
MODEL_FILE = "model.json"


def output_names(n_features, gif=False, plots=True):
    """The files a run writes into --out, the model first (boundaries are for 2-D data)."""
    if not plots:
        return [MODEL_FILE]
    boundary = ["decision_boundary.png"] if n_features == 2 else []
    return [MODEL_FILE, *boundary, "history.png", *(["training.gif"] if gif and boundary else [])]


def check_writable(out, names):
    """Before training: the folder exists (or is made), files can be created in it, and none
    of the outputs is a directory. Root ignores permission bits, so this tries for real."""
    make_out_dir(out)
    for name in names:
        path = os.path.join(out, name)
        if os.path.isdir(path):
            raise CLIError(f"cannot write {path}: it is a directory")
    try:
        fd, probe = tempfile.mkstemp(dir=out, prefix=".micrograd-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise CLIError(f"cannot write into the output folder {out}: {e.strerror}") from None


def save_model_file(out, model, meta):
    from micrograd import io
    path = os.path.join(out, MODEL_FILE)
    io.save_model(model, path, meta=meta)
    return path


def write_plots(out, model, X, y, history, snapshots=None, written=None):
    """decision_boundary.png (2-D), history.png, training.gif (if snapshots), each written to
    a temp file and renamed, so a Ctrl-C mid-plot leaves no half picture; `written` grows as
    each file lands."""
    from micrograd.viz import plots as P
    from micrograd.weights import get_weights
    written = [] if written is None else written
    if X is not None and X.shape[1] == 2:
        written.append(_atomic(os.path.join(out, "decision_boundary.png"),
                               lambda p: P.plot_decision_boundary(model, X, y, p)))
    if history.steps:
        written.append(_atomic(os.path.join(out, "history.png"),
                               lambda p: P.plot_history(history, p)))
    if snapshots and X is not None and X.shape[1] == 2:
        if snapshots[-1][0] != history.steps:          # interrupted between two snapshots
            snapshots.append((history.steps, get_weights(model)))
        written.append(_atomic(os.path.join(out, "training.gif"),
                               lambda p: P.animate_decision_boundary(snapshots, X, y, p,
                                                                     model=model)))
    return written


def _atomic(path, write):
    from micrograd import io
    tmp = io.temp_path(path, ext=os.path.splitext(path)[1])    # the extension: the format
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    io.remove_stale_temp_files(path, ext=os.path.splitext(path)[1])
    return path


class CtrlC:
    """Ctrl-C while a command trains and writes: what was learned is never lost.

    Inside `with CtrlC() as ctrl_c:` presses are counted, not raised, until `ctrl_c.saved()`
    says the model is on disk. `fit` sees `defers_ctrl_c` and stops after the current step on
    the first press (or after its first step, for a press while it was setting up); a second
    press no longer interrupts the step, as the model must be saved first. After saved(), a
    press interrupts at once, skipping the evaluation and the plots; saved() itself does so if
    there were presses beyond the one that stopped training. `deferred()` protects a re-save
    in the same way."""
    defers_ctrl_c = True

    def __init__(self):
        self.presses = 0
        self._deferring = True
        self._old = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self)
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)

    def __call__(self, signum, frame):
        self.presses += 1
        if not self._deferring:
            raise KeyboardInterrupt

    def saved(self, history):
        self._deferring = False
        if self.presses > (1 if history.interrupted else 0):
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def deferred(self):
        presses, self._deferring = self.presses, True
        try:
            yield
        finally:
            self._deferring = False
        if self.presses > presses:
            raise KeyboardInterrupt


def say_interrupted(history, total):
    print(f"interrupted after {history.steps} of {total} steps: keeping the model as it is "
          "and writing it, then its plots (Ctrl-C again skips the plots, never the model)",
          file=sys.stderr)


def say_stopped(written):
    print(f"interrupted: wrote {', '.join(written)}; skipped the rest", file=sys.stderr)


def make_out_dir(out):
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise CLIError(f"cannot create the output folder {out}: {e.strerror}") from None
