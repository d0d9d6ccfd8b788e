"""`micrograd predict`: a saved model's scores and classes for some inputs."""
import csv
import math

from micrograd.cli.common import CLIError, numbers_arg, open_regular


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


MAX_CSV_LINE = 1 << 20        # characters; a row of numbers is far shorter
MAX_CSV_ROWS = 1_000_000


def _read_csv(path):
    """[(where, row), ...]: every row of numbers, with 'FILE line N' to name it in errors.
    Bounded: a line over MAX_CSV_LINE characters (a line-less file) or more than
    MAX_CSV_ROWS rows is refused rather than read into memory."""
    rows = []
    with open_regular(path, "a CSV file", newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(_bounded_lines(f, path))
        try:
            for rec in reader:
                i = reader.line_num
                if not rec or not "".join(rec).strip() or rec[0].lstrip().startswith("#"):
                    continue
                try:
                    vals = [float(v) for v in rec]
                except ValueError:
                    if not rows and (i == 1 or all(_is_header(v) for v in rec)):
                        continue                      # a header row
                    raise CLIError(f"{path} line {i}: not a row of numbers: "
                                   f"{_clip(','.join(rec))}") from None
                if not all(math.isfinite(v) for v in vals):
                    raise CLIError(f"{path} line {i}: holds a non-finite number")
                if len(rows) == MAX_CSV_ROWS:
                    raise CLIError(f"{path} holds more than {MAX_CSV_ROWS} rows; split it")
                rows.append((f"{path} line {i}", vals))
        except csv.Error as e:                      # e.g. a field over csv's 131,072 limit
            raise CLIError(f"{path} line {reader.line_num}: {e}") from None
        except UnicodeDecodeError as e:             # decoded a chunk at a time: no line
            raise CLIError(f"{path} is not UTF-8 text ({e.reason})") from None
    if not rows:
        raise CLIError(f"{path} holds no rows of numbers")
    return rows


def _bounded_lines(f, path):
    for i, line in enumerate(iter(lambda: f.readline(MAX_CSV_LINE + 1), ""), 1):
        if len(line) > MAX_CSV_LINE:
            raise CLIError(f"{path} line {i} is longer than {MAX_CSV_LINE} characters; "
                           "not a CSV file of numbers")
        yield line


def _clip(text, n=80):
    return repr(text if len(text) <= n else text[:n - 3] + "...")


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
    if not args.input and not args.data_csv:
        raise CLIError("give --input X1,X2,... or --data-csv FILE")
    model, meta = _load(args.model)
    rows = [(f"--input {s}", numbers_arg(s, "--input")) for s in args.input]
    if args.data_csv:
        rows += _read_csv(args.data_csv)
    nin = len(model.layers[0].neurons[0].w)
    for _, r in rows:
        if len(r) != nin:
            raise CLIError(f"the model takes {nin} features per example, got {len(r)} "
                           f"({','.join(f'{v:g}' for v in r)})")
    loss = meta.get("loss")
    scores = [_finite_scores(model, where, r) for where, r in rows]
    for (_, r), s in zip(rows, scores):
        shown = ",".join(f"{v:g}" for v in r)
        if isinstance(s, list):
            k = max(range(len(s)), key=s.__getitem__)
            if loss == "cross_entropy":
                print(f"{shown}\tclass {k}\tp={_softmax(s)[k]:.4f}")
            else:
                print(f"{shown}\tclass {k}\tscores " + " ".join(f"{v:g}" for v in s))
        else:
            print(f"{shown}\tclass {int(s > 0)}\tscore {s:+g}")
    return 0


def _finite_scores(model, where, row):
    """The model's output for one row; an output that is not a finite number is an error
    naming the row (a class read off a NaN would be a silent wrong answer)."""
    from micrograd.train import predict_scores
    try:
        s = predict_scores(model, [row])[0]
    except OverflowError:
        s = math.inf
    bad = [v for v in (s if isinstance(s, list) else [s]) if not math.isfinite(v)]
    if bad:
        raise CLIError(f"{where}: the model's output is {bad[0]}, not a finite number "
                       "(the inputs are too large for it); no class to predict")
    return s
