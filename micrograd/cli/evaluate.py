"""`micrograd eval`: a saved model's loss and accuracy on a dataset."""
import math
from numbers import Real

from micrograd.cli.common import (DATASET_NAMES, MAX_SAMPLES, MAX_SEED, CLIError, float_arg,
                                  finite_metrics, int_arg)
from micrograd.cli.predict import _load


def add_parser(subparsers):
    p = subparsers.add_parser(
        "eval", help="a saved model's loss and accuracy on a dataset",
        description="Evaluate a saved model on a dataset. Options left out are taken from "
                    "the model file's metadata (the data it was trained on), so "
                    "'micrograd eval --model out/demo/model.json' re-checks the demo.")
    p.add_argument("--model", required=True, metavar="FILE", help="a model.json")
    p.add_argument("--dataset", default=None, metavar="NAME", help=f"one of {DATASET_NAMES}")
    p.add_argument("--samples", type=int_arg(1, MAX_SAMPLES), default=None, metavar="N")
    p.add_argument("--noise", type=float_arg(0.0), default=None)
    p.add_argument("--seed", type=int_arg(0, MAX_SEED), default=None)
    p.add_argument("--loss", default=None, choices=("hinge", "bce", "cross_entropy", "mse"),
                   help="default: the one the model was trained with")
    p.add_argument("--split", default="all", choices=("all", "train", "test"),
                   help="evaluate on the whole dataset, or on the training/held-out part of "
                        "the split 'micrograd train' made (default: all)")
    p.set_defaults(func=run)
    return p


def _integer(low, high):
    return (lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high,
            f"an integer from {low} to {high}")


def _number(low, high=math.inf):
    return (lambda v: isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v)
            and low <= v < high, f"a number >= {low}" + (f" and < {high}" if high < math.inf
                                                          else ""))


# The meta fields eval reads, and what each must be: the file is free-form input, and a value
# it holds must never become a traceback, an unbounded run or a silent stand-in (True as 1).
META_FIELDS = {
    "dataset": (lambda v: isinstance(v, str) and v in DATASET_NAMES.split(", "),
                f"one of {DATASET_NAMES}"),
    "samples": _integer(1, MAX_SAMPLES),
    "seed": _integer(0, MAX_SEED),
    "noise": _number(0.0),
    "test_fraction": _number(0.0, 1.0),
    "loss": (lambda v: v in ("hinge", "bce", "cross_entropy", "mse"),
             "one of hinge, bce, cross_entropy, mse"),
}


def _meta(meta, key, path, flag):
    """meta[key] (None if absent or null), refused in one line if it is not what eval needs."""
    value = meta.get(key)
    valid, what = META_FIELDS[key]
    if value is not None and not (isinstance(value, (str, int, float)) and valid(value)):
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise CLIError(f"{path}: its meta {key!r} is {shown}, not {what}; give {flag}")
    return value


def run(args):
    from micrograd import data
    from micrograd.train import n_outputs

    model, meta = _load(args.model)
    dataset = args.dataset or _meta(meta, "dataset", args.model, "--dataset")
    if not dataset:
        raise CLIError(f"{args.model} does not say which dataset it was trained on; "
                       "give --dataset")
    same = dataset == meta.get("dataset")

    def pick(value, key, default=None, flag=None):
        if value is not None or not same:
            return default if value is None else value
        found = _meta(meta, key, args.model, flag or f"--{key}")
        return default if found is None else found

    samples, noise, seed = pick(args.samples, "samples"), pick(args.noise, "noise"), \
        pick(args.seed, "seed", 0)
    loss = args.loss or _meta(meta, "loss", args.model, "--loss") or \
        ("hinge" if n_outputs(model) == 1 else "cross_entropy")
    X, y = data.load_dataset(dataset, n_samples=samples, noise=noise, seed=seed)
    part = "all"
    if args.split != "all":
        fraction = pick(None, "test_fraction", flag="--split all")
        if not fraction:
            raise CLIError(f"--split {args.split}: {args.model} records no train/test split "
                           f"of {dataset}")
        X_tr, X_te, y_tr, y_te = data.train_test_split(X, y, fraction, seed=seed, stratify=True)
        X, y = (X_tr, y_tr) if args.split == "train" else (X_te, y_te)
        part = "training part" if args.split == "train" else "held-out part"
    nin = len(model.layers[0].neurons[0].w)
    if X.shape[1] != nin:
        raise CLIError(f"the model takes {nin} features, {dataset} has {X.shape[1]}")
    noise_source = None if noise is None else \
        f"--noise {args.noise:g}" if args.noise is not None else f"its meta 'noise' {noise!r}"
    value, acc = finite_metrics(model, X, y, loss, f"{dataset} ({part})", noise_source)
    print(f"{dataset} ({part}, {len(y)} samples, seed {seed}): {loss} loss {value:.6f}, "
          f"accuracy {acc:.1%}")
    return 0
