"""The `micrograd` command: the original demo, training, prediction, evaluation.

    micrograd demo                      the micrograd demo notebook, end to end, with pictures
    micrograd train --dataset digits    train an MLP on a toy dataset, save model + plots
    micrograd predict --model M --input 0.5,-0.2
    micrograd eval --model M
    micrograd graph ...                 draw an expression's graph (micrograd.viz)

Every subcommand has --help. Errors are one line on stderr and a non-zero exit status:
2 for a malformed command line, 1 for anything else (a missing or invalid file, a dataset that
does not exist, a training run that diverged); 130 when Ctrl-C stopped a training run (the model
trained so far and its plots are still written).
"""
import argparse
import csv
import math
import os
import random
import re
import sys
import time

__all__ = ["main", "build_parser"]

DATASET_NAMES = "moons, circles, spiral, blobs, digits"
EXIT_INTERRUPTED = 130
AUTO_BATCH_ABOVE = 1000      # train: full batch up to this many training examples, else 32


class CLIError(Exception):
    """A problem to report as one line, exit status 1."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (usage goes with --help, not with errors)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# ---------------------------------------------------------------------------------------------
# argument types: each rejects a bad value with a one-line message
# ---------------------------------------------------------------------------------------------
def _int(low):
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


def _float(low=None, strict=False, high=None):
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


def _layers(s):
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


def _numbers(s, what):
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
# the parser
# ---------------------------------------------------------------------------------------------
def build_parser():
    from micrograd import __version__
    parser = _Parser(
        prog="micrograd",
        description="A scalar autograd engine and a tiny neural-net library: train, look, "
                    "predict.",
        epilog="Run 'micrograd COMMAND --help' for a command's options.")
    parser.add_argument("--version", action="version", version=f"micrograd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "demo", help="the original micrograd demo: an MLP learns the two moons",
        description="The micrograd demo notebook, exactly: 100 moons (noise 0.1, seed 1337), "
                    "MLP(2, [16, 16, 1]), hinge loss + 1e-4 L2, full-batch SGD with "
                    "lr = 1.0 - 0.9*k/100. Writes decision_boundary.png, history.png, "
                    "training.gif and model.json into --out.")
    p.add_argument("--out", default=os.path.join("out", "demo"), metavar="DIR",
                   help="output folder (default: out/demo)")
    p.add_argument("--steps", type=_int(1), default=100, help="training steps (default: 100)")
    p.add_argument("--no-gif", action="store_true", help="skip the animation (faster)")
    p.add_argument("--gif-every", type=_int(1), default=5, metavar="N",
                   help="one animation frame every N steps (default: 5)")
    p.add_argument("--print-every", type=_int(0), default=10, metavar="N",
                   help="print the notebook's 'step k loss ..., accuracy ..%%' line every N "
                        "steps (default: 10); 0 shows a progress bar instead")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "train", help="train an MLP on a toy dataset",
        description="Train an MLP on a dataset, report training and held-out accuracy, and "
                    "write model.json, history.png and (for 2-D data) decision_boundary.png "
                    "into --out. The output layer is sized from the loss and the number of "
                    "classes. Ctrl-C stops after the current step and still saves.")
    p.add_argument("--dataset", default="moons", metavar="NAME",
                   help=f"one of {DATASET_NAMES} (default: moons)")
    p.add_argument("--samples", type=_int(1), default=None, metavar="N",
                   help="number of samples (default: the dataset's; digits: all 1797)")
    p.add_argument("--noise", type=_float(0.0), default=None,
                   help="dataset noise (blobs: cluster std; default: the dataset's)")
    p.add_argument("--seed", type=_int(0), default=0,
                   help="seed for the data, the split, the initial weights and the batches "
                        "(default: 0)")
    p.add_argument("--test-fraction", type=_float(0.0, high=1.0), default=0.2, metavar="F",
                   help="share of the data held out for testing, 0 for none (default: 0.2)")
    p.add_argument("--layers", type=_layers, default=[16, 16], metavar="SIZES",
                   help="hidden layer sizes, comma separated (default: 16,16)")
    p.add_argument("--activation", default="relu", choices=("relu", "tanh", "sigmoid"),
                   help="hidden-layer activation (default: relu); the output layer is linear")
    p.add_argument("--loss", default=None, choices=("hinge", "bce", "cross_entropy", "mse"),
                   help="default: hinge for two classes, cross_entropy for more")
    p.add_argument("--optimizer", default="sgd", choices=("sgd", "adam"),
                   help="default: sgd")
    p.add_argument("--lr", type=_float(0.0, strict=True), default=None,
                   help="learning rate (default: sgd 1.0 with hinge, as the demo, 0.05 with "
                        "mse, 0.3 with bce and cross_entropy; adam 0.01)")
    p.add_argument("--momentum", type=_float(0.0, high=1.0), default=0.0,
                   help="SGD momentum (default: 0)")
    p.add_argument("--schedule", default="linear", choices=("constant", "linear", "cosine", "step"),
                   help="learning-rate schedule: linear goes down to lr/10 as in the demo, "
                        "cosine to 0, step halves it every quarter (default: linear)")
    p.add_argument("--steps", type=_int(1), default=100,
                   help="optimizer steps (default: 100)")
    p.add_argument("--batch-size", type=_int(1), default=None, metavar="N",
                   help="mini-batch size (default: the whole training set every step, or "
                        f"32 if it has more than {AUTO_BATCH_ABOVE} examples)")
    p.add_argument("--alpha", type=_float(0.0), default=1e-4,
                   help="L2 regularisation strength (default: 1e-4, as the demo)")
    p.add_argument("--out", default=os.path.join("out", "train"), metavar="DIR",
                   help="output folder (default: out/train)")
    p.add_argument("--gif", action="store_true",
                   help="also write training.gif (2-D data only)")
    p.add_argument("--no-plots", action="store_true", help="write model.json only")
    p.add_argument("--compiled", action="store_true",
                   help="trace the training step once with micrograd.compile, replay it fast")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "predict", help="a saved model's scores and classes for some inputs",
        description="Print a saved model's output and predicted class for each input: "
                    "--input takes one example (repeat it for more), --data-csv a file with "
                    "one example per row ('#' comments and a header row are skipped).")
    p.add_argument("--model", required=True, metavar="FILE", help="a model.json")
    p.add_argument("--input", action="append", default=[], metavar="X1,X2,...",
                   help="one example's features, comma separated (repeatable)")
    p.add_argument("--data-csv", metavar="FILE", help="a CSV file of examples")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser(
        "eval", help="a saved model's loss and accuracy on a dataset",
        description="Evaluate a saved model on a dataset. Options left out are taken from "
                    "the model file's metadata (the data it was trained on), so "
                    "'micrograd eval --model out/demo/model.json' re-checks the demo.")
    p.add_argument("--model", required=True, metavar="FILE", help="a model.json")
    p.add_argument("--dataset", default=None, metavar="NAME", help=f"one of {DATASET_NAMES}")
    p.add_argument("--samples", type=_int(1), default=None, metavar="N")
    p.add_argument("--noise", type=_float(0.0), default=None)
    p.add_argument("--seed", type=_int(0), default=None)
    p.add_argument("--loss", default=None, choices=("hinge", "bce", "cross_entropy", "mse"),
                   help="default: the one the model was trained with")
    p.add_argument("--split", default="all", choices=("all", "train", "test"),
                   help="evaluate on the whole dataset, or on the training/held-out part of "
                        "the split 'micrograd train' made (default: all)")
    p.set_defaults(func=cmd_eval)

    from micrograd.viz import graph_command       # stdlib-only until it draws
    graph_command.add_parser(sub)
    return parser


# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------
def _error(msg):
    msg = " ".join(str(msg).split())
    print(f"micrograd: error: {msg}", file=sys.stderr)


def _glue_negative_inputs(argv):
    """'--input -1,0.5' would read as an unknown option -1,0.5: make it '--input=-1,0.5'."""
    out, i = [], 0
    while i < len(argv):
        a = argv[i]
        if a == "--input" and i + 1 < len(argv) and re.match(r"-\.?\d", argv[i + 1]):
            out.append(f"--input={argv[i + 1]}")
            i += 2
        else:
            out.append(a)
            i += 1
    return out


def main(argv=None):
    parser = build_parser()
    argv = _glue_negative_inputs(list(sys.argv[1:] if argv is None else argv))
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:          # --help, --version, usage errors: argparse has printed
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    from micrograd.train import TrainingDiverged
    try:
        return args.func(args) or 0
    except TrainingDiverged as e:
        _error(f"training diverged: {e}; try a smaller --lr")
        return 1
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except OSError as e:
        if e.filename is not None and e.strerror:
            _error(f"{e.filename}: {e.strerror}")
        else:
            _error(e)
        return 1
    except ImportError as e:
        hint = "" if "micrograd.compiler" in str(e) else \
            " (pip install 'micrograd[all]' for plots, datasets and progress bars)"
        _error(f"{e}{hint}")
        return 1
    except (ValueError, CLIError, ArithmeticError) as e:
        _error(e)
        return 1


# ---------------------------------------------------------------------------------------------
# helpers shared by the commands
# ---------------------------------------------------------------------------------------------
def _describe(model):
    sizes = [len(layer.neurons) for layer in model.layers]
    nin = len(model.layers[0].neurons[0].w)
    return f"MLP({nin}, {sizes})", len(model.parameters())


def _snapshotter(model, every, total):
    from micrograd.viz.plots import get_weights
    snaps = [(0, get_weights(model))]

    def take(k, model, history):
        done = k + 1
        if done % every == 0 or done == total:
            snaps.append((done, get_weights(model)))
    return snaps, take


def _chain(*callbacks):
    callbacks = [c for c in callbacks if c is not None]

    def callback(k, model, history):
        stop = False
        for c in callbacks:
            stop = (c(k, model, history) is True) or stop
        return stop
    return callback


def _write_outputs(out, model, meta, X, y, history, snapshots=None, plots=True):
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


def _say_interrupted(history, total):
    print(f"interrupted after {history.steps} of {total} steps: keeping the model as it is "
          "and writing it and its plots", file=sys.stderr)


def _mkdir(out):
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise CLIError(f"cannot create the output folder {out}: {e.strerror}") from None


# ---------------------------------------------------------------------------------------------
# demo
# ---------------------------------------------------------------------------------------------
def cmd_demo(args):
    import numpy as np

    from micrograd import __version__, data, optim
    from micrograd.nn import MLP
    from micrograd.train import fit

    _mkdir(args.out)
    # The notebook, cell for cell.
    np.random.seed(1337)
    random.seed(1337)
    X, y = data.make_moons(n_samples=100, noise=0.1)
    model = MLP(2, [16, 16, 1])
    name, n_params = _describe(model)
    print(f"micrograd demo: {name}, {n_params} parameters, on 100 moons; hinge loss + 1e-4 L2, "
          f"full-batch SGD, lr = 1.0 - 0.9*k/100, {args.steps} steps")

    def show(k, model, history):
        if args.print_every and (k % args.print_every == 0 or k == args.steps - 1):
            print(f"step {k} loss {history.loss[-1]}, accuracy {history.accuracy[-1] * 100}%",
                  flush=True)

    snapshots, snap = (None, None) if args.no_gif else \
        _snapshotter(model, args.gif_every, args.steps)
    history = fit(model, X, y, loss="hinge", optimizer="sgd", lr=1.0,
                  schedule=optim.linear_decay(1.0, 0.1, 100), steps=args.steps, alpha=1e-4,
                  progress=not args.print_every, callback=_chain(show, snap))
    if history.interrupted:
        _say_interrupted(history, args.steps)
    from micrograd.train import evaluate
    _, acc = evaluate(model, X, y, "hinge")
    meta = {"command": "demo", "dataset": "moons", "samples": 100, "noise": 0.1, "seed": 1337,
            "test_fraction": 0.0, "loss": "hinge", "alpha": 1e-4, "classes": 2,
            "optimizer": "sgd", "schedule": "1.0 - 0.9*k/100", "steps": history.steps,
            "final_loss": history.final_loss, "train_accuracy": acc,
            "interrupted": history.interrupted, "micrograd": __version__}
    t0 = time.perf_counter()
    written = _write_outputs(args.out, model, meta, X, y, history, snapshots)
    t_files = time.perf_counter() - t0
    if history.steps:
        print(f"final loss {history.final_loss:.6f}, accuracy {acc:.1%} after "
              f"{history.steps} steps ({history.seconds:.1f} s training, "
              f"{t_files:.1f} s writing files)")
    print("wrote " + ", ".join(written))
    return EXIT_INTERRUPTED if history.interrupted else 0


# ---------------------------------------------------------------------------------------------
# train
# ---------------------------------------------------------------------------------------------
def cmd_train(args):
    from micrograd import __version__, data
    from micrograd.nn import MLP
    from micrograd.train import evaluate, fit, output_size

    if args.dataset == "digits" and args.noise is not None:
        raise CLIError("--noise does not apply to digits (the images are what they are)")
    try:
        X, y = data.load_dataset(args.dataset, n_samples=args.samples, noise=args.noise,
                                 seed=args.seed)
    except ValueError as e:          # the library names its arguments; say the flags instead
        raise CLIError(str(e).replace("n_samples", "--samples")) from None
    classes = data.n_classes(y)
    loss = args.loss or ("hinge" if classes == 2 else "cross_entropy")
    n_out = output_size(loss, classes)
    if args.test_fraction > 0:
        try:
            X_tr, X_te, y_tr, y_te = data.train_test_split(X, y, args.test_fraction,
                                                           seed=args.seed, stratify=True)
        except ValueError as e:
            raise CLIError(f"--test-fraction {args.test_fraction} of --samples {len(y)}: "
                           f"too few samples to hold some out of every class ({e})") from None
    else:
        X_tr, X_te, y_tr, y_te = X, None, y, None
    if args.gif and X.shape[1] != 2:
        raise CLIError(f"--gif needs 2-D data; {args.dataset} has {X.shape[1]} features")
    lr = args.lr
    if lr is None:          # the demo's 1.0 for hinge; softer for the losses that need it
        lr = 0.01 if args.optimizer == "adam" else {"hinge": 1.0, "mse": 0.05}.get(loss, 0.3)
    batch_size = args.batch_size
    if batch_size is None and len(y_tr) > AUTO_BATCH_ABOVE:
        batch_size = 32     # full batches of thousands of examples are slow on scalars
    options = {"momentum": args.momentum} if args.optimizer == "sgd" else {}
    if args.momentum and args.optimizer != "sgd":
        raise CLIError("--momentum is for --optimizer sgd")
    _mkdir(args.out)

    random.seed(args.seed)
    model = MLP(X.shape[1], args.layers + [n_out], activation=args.activation,
                output_activation="linear")
    name, n_params = _describe(model)
    held = f", {len(y_te)} held out" if y_te is not None else ""
    batch = f"batches of {batch_size}" if batch_size else "full batch"
    print(f"train: {args.dataset}, {len(y)} samples ({len(y_tr)} for training{held}), "
          f"{classes} classes; {name} {args.activation}, {n_params} parameters; {loss} loss; "
          f"{args.optimizer} lr {lr:g} ({args.schedule}), {args.steps} steps, {batch}")

    snapshots, snap = (None, None)
    if args.gif and not args.no_plots:
        snapshots, snap = _snapshotter(model, max(1, args.steps // 20), args.steps)
    history = fit(model, X_tr, y_tr, loss=loss, optimizer=args.optimizer, lr=lr,
                  schedule=args.schedule, steps=args.steps, batch_size=batch_size,
                  alpha=args.alpha, seed=args.seed, progress=not args.no_progress,
                  callback=snap, compiled=args.compiled, X_val=X_te, y_val=y_te,
                  optimizer_options=options)
    if history.interrupted:
        _say_interrupted(history, args.steps)
    train_loss, train_acc = evaluate(model, X_tr, y_tr, loss)
    test_loss, test_acc = evaluate(model, X_te, y_te, loss) if y_te is not None else (None, None)
    meta = {"command": "train", "dataset": args.dataset, "samples": len(y),
            "noise": args.noise, "seed": args.seed, "test_fraction": args.test_fraction,
            "train_samples": len(y_tr), "test_samples": 0 if y_te is None else len(y_te),
            "classes": classes, "loss": loss, "layers": args.layers,
            "activation": args.activation, "optimizer": args.optimizer, "lr": lr,
            "momentum": args.momentum, "schedule": args.schedule, "steps": history.steps,
            "batch_size": batch_size, "alpha": args.alpha,
            "train_loss": train_loss, "train_accuracy": train_acc,
            "test_loss": test_loss, "test_accuracy": test_acc,
            "interrupted": history.interrupted, "seconds": round(history.seconds, 3),
            "micrograd": __version__}
    written = _write_outputs(args.out, model, meta, X_tr, y_tr, history, snapshots,
                             plots=not args.no_plots)
    line = f"{history.steps} steps in {history.seconds:.1f} s: training data loss (no L2) " \
           f"{train_loss:.4f}, " \
           f"training accuracy {train_acc:.1%}"
    if test_acc is not None:
        line += f", held-out accuracy {test_acc:.1%}"
    print(line)
    print("wrote " + ", ".join(written))
    return EXIT_INTERRUPTED if history.interrupted else 0


# ---------------------------------------------------------------------------------------------
# predict / eval
# ---------------------------------------------------------------------------------------------
def _load(path):
    from micrograd import io
    return io.load_model(path, with_meta=True)


def _read_csv(path):
    rows = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        for i, rec in enumerate(csv.reader(f), 1):
            if not rec or not "".join(rec).strip() or rec[0].lstrip().startswith("#"):
                continue
            try:
                vals = [float(v) for v in rec]
            except ValueError:
                if not rows and i == 1 or not rows and all(_is_header(v) for v in rec):
                    continue                      # a header row
                raise CLIError(f"{path} line {i}: not a row of numbers: {','.join(rec)!r}") \
                    from None
            if not all(math.isfinite(v) for v in vals):
                raise CLIError(f"{path} line {i}: holds a non-finite number")
            rows.append(vals)
    if not rows:
        raise CLIError(f"{path} holds no rows of numbers")
    return rows


def _is_header(v):
    try:
        float(v)
        return False
    except ValueError:
        return True


def _softmax(zs):
    m = max(zs)
    e = [math.exp(z - m) for z in zs]
    s = sum(e)
    return [v / s for v in e]


def cmd_predict(args):
    from micrograd.train import predict_scores

    if not args.input and not args.data_csv:
        raise CLIError("give --input X1,X2,... or --data-csv FILE")
    model, meta = _load(args.model)
    rows = [_numbers(s, "--input") for s in args.input]
    if args.data_csv:
        rows += _read_csv(args.data_csv)
    nin = len(model.layers[0].neurons[0].w)
    for r in rows:
        if len(r) != nin:
            raise CLIError(f"the model takes {nin} features per example, got {len(r)} "
                           f"({','.join(f'{v:g}' for v in r)})")
    loss = meta.get("loss")
    for r, s in zip(rows, predict_scores(model, rows)):
        shown = ",".join(f"{v:g}" for v in r)
        if isinstance(s, list):
            k = max(range(len(s)), key=s.__getitem__)
            if loss == "cross_entropy":
                print(f"{shown}\tclass {k}\tp={_softmax(s)[k]:.4f}")
            else:
                print(f"{shown}\tclass {k}\tscores " + " ".join(f"{v:.4f}" for v in s))
        else:
            print(f"{shown}\tclass {int(s > 0)}\tscore {s:+.6f}")
    return 0


def cmd_eval(args):
    from micrograd import data
    from micrograd.train import evaluate, n_outputs

    model, meta = _load(args.model)
    dataset = args.dataset or meta.get("dataset")
    if not dataset:
        raise CLIError(f"{args.model} does not say which dataset it was trained on; "
                       "give --dataset")
    same = dataset == meta.get("dataset")

    def pick(value, key, default=None):
        if value is not None:
            return value
        return meta.get(key, default) if same else default

    samples, noise, seed = pick(args.samples, "samples"), pick(args.noise, "noise"), \
        pick(args.seed, "seed", 0)
    loss = args.loss or meta.get("loss") or ("hinge" if n_outputs(model) == 1
                                             else "cross_entropy")
    X, y = data.load_dataset(dataset, n_samples=samples, noise=noise, seed=seed)
    part = "all"
    if args.split != "all":
        fraction = meta.get("test_fraction") if same else None
        if not fraction:
            raise CLIError(f"--split {args.split}: {args.model} records no train/test split "
                           f"of {dataset}")
        X_tr, X_te, y_tr, y_te = data.train_test_split(X, y, fraction, seed=seed, stratify=True)
        X, y = (X_tr, y_tr) if args.split == "train" else (X_te, y_te)
        part = "training part" if args.split == "train" else "held-out part"
    nin = len(model.layers[0].neurons[0].w)
    if X.shape[1] != nin:
        raise CLIError(f"the model takes {nin} features, {dataset} has {X.shape[1]}")
    value, acc = evaluate(model, X, y, loss)
    print(f"{dataset} ({part}, {len(y)} samples, seed {seed}): {loss} loss {value:.6f}, "
          f"accuracy {acc:.1%}")
    return 0
