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
import time

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


def save_model_file(out, model, meta, update=False):
    """Write model.json into `out` (atomically: a failed save leaves the file that was there).
    An OSError (a full disk, say) becomes one line naming the file and what it now holds.
    `update`: the model was saved already, and this adds its evaluation to the meta."""
    from micrograd import io
    path = os.path.join(out, MODEL_FILE)
    existed = os.path.exists(path)
    try:
        io.save_model(model, path, meta=meta)
    except OSError as e:
        if update:
            kept = "it holds the trained model, without its loss and accuracy"
        elif existed:
            kept = "the trained model was not saved; the model.json there before is kept as it was"
        else:
            kept = "the trained model was not saved; nothing was written"
        raise CLIError(f"cannot write {path}: {reason(e)}; {kept}") from None
    return path


def reason(e):
    """An OSError's own words, without its errno number or file name: 'No space left on
    device'."""
    return e.strerror or str(e) or type(e).__name__


def write_plots(out, model, X, y, history, snapshots=None, written=None):
    """decision_boundary.png (2-D), history.png, training.gif (if snapshots), each written to
    a temp file and renamed, so a Ctrl-C mid-plot leaves no half picture; `written` grows as
    each file lands. An OSError (a full disk) stops at that file with one line naming it, what
    was written and what was not."""
    from micrograd.viz import plots as P
    from micrograd.weights import get_weights
    written = [] if written is None else written
    two_d = X is not None and X.shape[1] == 2
    plots = []
    if two_d:
        plots.append(("decision_boundary.png",
                      lambda p: P.plot_decision_boundary(model, X, y, p)))
    if history.steps:
        plots.append(("history.png", lambda p: P.plot_history(history, p)))
    if snapshots and two_d:
        def gif(p):
            if snapshots[-1][0] != history.steps:          # interrupted between two snapshots
                snapshots.append((history.steps, get_weights(model)))
            P.animate_decision_boundary(snapshots, X, y, p, model=model)
        plots.append(("training.gif", gif))
    for i, (name, write) in enumerate(plots):
        path = os.path.join(out, name)
        try:
            written.append(_atomic(path, write))
        except OSError as e:
            raise CLIError(f"cannot write {path}: {reason(e)}; wrote {', '.join(written)}; not "
                           f"written: {', '.join(n for n, _ in plots[i:])}") from None
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
    in the same way. Presses in the 2 s after a KeyboardInterrupt was raised are ignored
    (another, raised while the first is being handled, could cut that short or end the process
    with exit status -2); after that a press raises again, in case Python dropped the first
    (see cli.FirstPress); on the way out of the block the rest are ignored."""
    defers_ctrl_c = True

    GRACE = 2.0

    def __init__(self):
        self.presses = 0
        self.raised = False
        self._raised_at = None
        self._deferring = True
        self._old = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self)
            if getattr(self._old, "pressed", False):   # cli.FirstPress raised, and yet we run:
                self.presses += 1                      # Python dropped it; it still counts
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, signal.SIG_IGN if self.raised else self._old)

    def __call__(self, signum, frame):
        self.presses += 1
        if not self._deferring:
            self._raise()

    def forget(self):
        """The last KeyboardInterrupt was dropped by Python and the press comes again (see
        micrograd.__main__): no grace for it."""
        self._raised_at = None
        self.presses = max(self.presses - 1, 0)    # the press is the same, counted once

    def _raise(self):
        now = time.monotonic()
        if self._raised_at is None or now - self._raised_at > self.GRACE:
            self.raised, self._raised_at = True, now
            raise KeyboardInterrupt

    def saved(self, history):
        self._deferring = False
        if self.presses > (1 if history.interrupted else 0):
            self._raise()

    @contextlib.contextmanager
    def deferred(self):
        presses, self._deferring = self.presses, True
        try:
            yield
        finally:
            self._deferring = False
        if self.presses > presses:
            self._raise()


def say_interrupted(history, total):
    print(f"interrupted after {history.steps} of {total} steps: keeping the model as it is "
          "and writing it, then its plots (Ctrl-C again skips the plots, never the model)",
          file=sys.stderr)


def say_stopped(written):
    print(f"interrupted: wrote {', '.join(written)}; skipped the rest", file=sys.stderr)


def open_regular(path, what, **kwargs):
    """open(path, "r", **kwargs), refused in one line when `path` is not a regular file: a FIFO
    would block the command until something writes to it, a folder or a device is no `what`."""
    import stat
    try:      # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except IsADirectoryError:
        raise CLIError(f"{path} is a directory, not {what}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise CLIError(f"{path} is {file_kind(mode)}, not {what}")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return open(fd, "r", **kwargs)
    except BaseException:
        os.close(fd)
        raise


def file_kind(mode):
    """'a directory', 'a FIFO', ... for a file mode that is not a regular file's."""
    import stat
    for test, kind in [(stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (a named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")]:
        if test(mode):
            return kind
    return "not a regular file"


def make_out_dir(out):
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise CLIError(f"cannot create the output folder {out}: {e.strerror}") from None


# ---------------------------------------------------------------------------------------------
# metrics: never reported from numbers that are not numbers
# ---------------------------------------------------------------------------------------------
def finite_metrics(model, X, y, loss, data_name, noise_source=None):
    """(loss, accuracy) of `model` on (X, y), exactly as train.evaluate computes them, or a
    one-line CLIError naming what is not finite: the data, a row whose output is not a number,
    or the loss. `noise_source` names where the dataset's noise came from ('--noise 1e308',
    "its meta 'noise' 1e308"): data far beyond the toy datasets' scale is blamed on it. An
    accuracy read off NaN scores would be a wrong answer reported as right (NaN > 0 is False:
    every NaN row counts as class 0)."""
    import numpy as np

    from micrograd.train import evaluate
    X = np.asarray(X, dtype=float)
    huge = noise_source is not None and X.size and not np.abs(X).max() < HUGE_DATA
    cause = f" (the data is made with {noise_source}: far too much noise)" if huge else ""
    if not np.isfinite(X).all():
        row = int(np.argwhere(~np.isfinite(X))[0][0])
        raise CLIError(f"{data_name} row {row + 1} holds a non-finite number{cause}; no loss "
                       "or accuracy to report")
    watched = _Watched(model)          # one pass: evaluate's own scores, looked at after
    try:
        value, acc = evaluate(watched, X, y, loss)
    except OverflowError:              # in a row's forward pass, or in the loss
        value, acc = math.inf, None
        if len(watched.outputs) < len(X):
            watched.outputs.append(math.inf)
    for i, out in enumerate(watched.outputs):
        bad = [getattr(v, "data", v) for v in (out if isinstance(out, (list, tuple)) else [out])
               if not math.isfinite(getattr(v, "data", v))]
        if bad:
            shown = ", ".join(f"{v:g}" for v in X[i][:3]) + (", ..." if len(X[i]) > 3 else "")
            raise CLIError(f"{data_name} row {i + 1} ({shown}): the model's output is {bad[0]}, "
                           f"not a finite number{cause or ' (weights too large?)'}; no loss or "
                           "accuracy to report")
    if not math.isfinite(value):
        raise CLIError(f"{data_name}: the {loss} loss is {value}, not a finite number{cause}; "
                       "no loss or accuracy to report")
    return value, acc


class _Watched:
    """The model, keeping every output it gives (evaluate reads `.layers` for its size)."""

    def __init__(self, model):
        self.model, self.layers, self.outputs = model, model.layers, []

    def __call__(self, row):
        out = self.model(row)
        self.outputs.append(out)
        return out


HUGE_DATA = 1e6      # the toy datasets' features are within +-20 (digits: 0..16)
