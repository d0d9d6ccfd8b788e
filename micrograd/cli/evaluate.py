"""`micrograd eval`: a saved model's loss and accuracy on a dataset."""
from micrograd.cli.common import DATASET_NAMES, CLIError, float_arg, int_arg
from micrograd.cli.predict import _load


def add_parser(subparsers):
    p = subparsers.add_parser(
        "eval", help="a saved model's loss and accuracy on a dataset",
        description="Evaluate a saved model on a dataset. Options left out are taken from "
                    "the model file's metadata (the data it was trained on), so "
                    "'micrograd eval --model out/demo/model.json' re-checks the demo.")
    p.add_argument("--model", required=True, metavar="FILE", help="a model.json")
    p.add_argument("--dataset", default=None, metavar="NAME", help=f"one of {DATASET_NAMES}")
    p.add_argument("--samples", type=int_arg(1), default=None, metavar="N")
    p.add_argument("--noise", type=float_arg(0.0), default=None)
    p.add_argument("--seed", type=int_arg(0), default=None)
    p.add_argument("--loss", default=None, choices=("hinge", "bce", "cross_entropy", "mse"),
                   help="default: the one the model was trained with")
    p.add_argument("--split", default="all", choices=("all", "train", "test"),
                   help="evaluate on the whole dataset, or on the training/held-out part of "
                        "the split 'micrograd train' made (default: all)")
    p.set_defaults(func=run)
    return p


def run(args):
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
