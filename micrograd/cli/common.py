"""What the subcommands share: one-line errors, argument types, writing the outputs."""
import argparse
import math
import os
import sys

DATASET_NAMES = "moons, circles, spiral, blobs, digits"
EXIT_INTERRUPTED = 130
AUTO_BATCH_ABOVE = 1000      # train: full batch up to this many training examples, else 32


class CLIError(Exception):
    """A problem to report as one line, exit status 1."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (usage goes with --help, not with errors)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# ---------------------------------------------------------------------------------------------
# argument types: each rejects a bad value with a one-line message
# ---------------------------------------------------------------------------------------------
def int_arg(low):
    def parse(s):
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {s!r}") from None
        if v < low:
            kind = "a positive integer" if low == 1 else f"an integer >= {low}"
            raise argparse.ArgumentTypeError(f"must be {kind}, got {s}")
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
    from micrograd.viz.plots import get_weights
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


def write_outputs(out, model, meta, X, y, history, snapshots=None, plots=True):
    """model.json, history.png, decision_boundary.png (2-D), training.gif (if snapshots)."""
    from micrograd import io
    written = []
    path = os.path.join(out, "model.json")
    io.save_model(model, path, meta=meta)
    written.append(path)
    if not plots:
        return written
    from micrograd.viz import plots as P
    if X is not None and X.shape[1] == 2:
        path = os.path.join(out, "decision_boundary.png")
        P.plot_decision_boundary(model, X, y, path)
        written.append(path)
    if history.steps:
        path = os.path.join(out, "history.png")
        P.plot_history(history, path)
        written.append(path)
    if snapshots and X is not None and X.shape[1] == 2:
        if snapshots[-1][0] != history.steps:          # interrupted between two snapshots
            snapshots.append((history.steps, P.get_weights(model)))
        path = os.path.join(out, "training.gif")
        P.animate_decision_boundary(snapshots, X, y, path, model=model)
        written.append(path)
    return written


def say_interrupted(history, total):
    print(f"interrupted after {history.steps} of {total} steps: keeping the model as it is "
          "and writing it and its plots", file=sys.stderr)


def make_out_dir(out):
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise CLIError(f"cannot create the output folder {out}: {e.strerror}") from None
