"""`micrograd predict`: a saved model's scores and classes for some inputs."""
import csv
import math

from micrograd.cli.common import CLIError, numbers_arg


def add_parser(subparsers):
    p = subparsers.add_parser(
        "predict", help="a saved model's scores and classes for some inputs",
        description="Print a saved model's output and predicted class for each input: "
                    "--input takes one example (repeat it for more), --data-csv a file with "
                    "one example per row ('#' comments and a header row are skipped).")
    p.add_argument("--model", required=True, metavar="FILE", help="a model.json")
    p.add_argument("--input", action="append", default=[], metavar="X1,X2,...",
                   help="one example's features, comma separated (repeatable)")
    p.add_argument("--data-csv", metavar="FILE", help="a CSV file of examples")
    p.set_defaults(func=run)
    return p


def _load(path):
    """The model, fused: the commands never draw its graph, and the numbers are the same."""
    from micrograd import io
    return io.load_model(path, with_meta=True, fused=True)


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


def run(args):
    from micrograd.train import predict_scores

    if not args.input and not args.data_csv:
        raise CLIError("give --input X1,X2,... or --data-csv FILE")
    model, meta = _load(args.model)
    rows = [numbers_arg(s, "--input") for s in args.input]
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
