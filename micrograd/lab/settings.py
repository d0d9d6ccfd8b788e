"""A lab run's settings: what the page may ask for, checked; the data and the model they give;
and the same run written out as a `fit(...)` call and a `micrograd train` command line.

Everything a run does follows from its Settings, in the order `micrograd train` does it: the
dataset from `seed`, a stratified train/test split from `seed`, `random.seed(seed)` then the
MLP, then `fit(..., seed=seed)`. So the page, the Python snippet and the command line give the
same numbers. The learner's own points (clicked onto the plane) join the training set.
"""
import json
import math
import random
from dataclasses import asdict, dataclass, field
from numbers import Integral, Real

from micrograd import trig
from micrograd.labels import LOSS_NAMES
from micrograd.nn import HIDDEN_ACTIVATIONS, MLP
from micrograd.train import output_size

__all__ = ["Settings", "SettingsError", "parse_settings", "load_data", "make_model",
           "fit_arguments", "reproduce", "make_xor", "step_work", "check_speed",
           "parse_json", "DATASETS", "DATASET_NOISE", "LIMITS", "FEATURES", "featurize",
           "features_of"]

DATASETS = ("moons", "circles", "spiral", "blobs", "xor")
DATASET_NOISE = {"moons": 0.1, "circles": 0.1, "spiral": 0.2, "blobs": 1.0, "xor": 0.1}
DATASET_CLASSES = {"moons": 2, "circles": 2, "spiral": 3, "blobs": 3, "xor": 2}
ACTIVATIONS = HIDDEN_ACTIVATIONS
LOSSES = LOSS_NAMES
OPTIMIZERS = ("sgd", "momentum", "adam")
SCHEDULES = ("constant", "linear", "cosine", "step")
MOMENTUM = 0.9                 # what the "momentum" optimizer means: SGD(momentum=0.9)
# The network's inputs, as TF Playground offers them: id -> (the name drawn, the formula
# on the points' columns a = x1, b = x2, as the Python snippet writes it too). sin is
# micrograd.trig's, correctly rounded: the same bits here and in the static site.
FEATURES = {"x1": ("x1", "a"), "x2": ("x2", "b"), "x1sq": ("x1²", "a ** 2"),
            "x2sq": ("x2²", "b ** 2"), "x1x2": ("x1·x2", "a * b"),
            "sinx1": ("sin x1", "sines(a)"), "sinx2": ("sin x2", "sines(b)")}

# The bounds keep one step of the scalar engine under about a second. A step costs about 0.5 to
# 0.8 microseconds of one core per weight per data point it touches (measured here, CPU time of
# the training thread: 6 layers of 32 on 600 + 100 points 1.7-2.0 s, 6 of 16 on 700 points
# 0.6-0.7 s, 6 of 32 on 184 + 46 points 0.5-0.65 s), so "step_work" bounds weights x points at
# 1.2 million: about a second, 6 layers of 32 on up to 220 points or [16, 16] on all 700.
# With `compiled`, the first step traces and compiles, about 1 microsecond per weight-use (6 of
# 32 on 230 points: 1.25 s; on 90: 0.52 s), and a cancel cannot stop the compile half of it: so
# "compiled_work" is half as much, 0.6 million, about 0.6 s of compiling.
LIMITS = {"layers": 6, "neurons": 32, "samples": (10, 500), "noise": (0.0, 3.0),
          "test_fraction": (0.0, 0.5), "seed": (0, 2**31 - 1), "lr": (1e-6, 10.0),
          "steps": (1, 5000), "batch_size": (1, 500), "alpha": (0.0, 1.0), "own_points": 200,
          "coordinate": 1e3, "step_work": 1_200_000, "compiled_work": 600_000,
          "speed": (0.1, 1000.0)}


class SettingsError(ValueError):
    """A setting the lab cannot use; the message names it and says what is allowed."""


@dataclass
class Settings:
    dataset: str = "moons"
    noise: float = 0.1
    samples: int = 200
    test_fraction: float = 0.2
    seed: int = 0
    layers: list = field(default_factory=lambda: [16, 16])
    activation: str = "relu"
    loss: str = "hinge"
    optimizer: str = "sgd"
    lr: float = 1.0
    schedule: str = "linear"
    steps: int = 300
    batch_size: int = None         # None: the whole training set every step (the demo)
    alpha: float = 1e-4
    compiled: bool = False         # trace the step with micrograd.compile (the same numbers)
    points: list = field(default_factory=list)     # the learner's own [x1, x2, class] rows
    features: list = field(default_factory=lambda: ["x1", "x2"])   # ids of FEATURES

    def to_dict(self):
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# Checking what the page sent
# ---------------------------------------------------------------------------------------------
def _choice(name, v, choices):
    if not isinstance(v, str) or v not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}; got {_show(v)}")
    return v


def _int(name, v, low, high):
    if isinstance(v, bool) or not isinstance(v, Integral) or not low <= v <= high:
        raise SettingsError(f"{name} must be a whole number from {low} to {high}; got {_show(v)}")
    return int(v)


def _float(name, v, low, high):
    if isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(v) \
            or not low <= v <= high:
        raise SettingsError(f"{name} must be a number from {low:g} to {high:g}; got {_show(v)}")
    return float(v)


def _bool(name, v):
    if not isinstance(v, bool):
        raise SettingsError(f"{name} must be true or false; got {_show(v)}")
    return v


def _show(v):
    s = repr(v)
    return s if len(s) <= 40 else s[:37] + "..."


def _layers(v):
    if not isinstance(v, list):
        raise SettingsError(f"layers must be a list of hidden layer sizes; got {_show(v)}")
    if len(v) > LIMITS["layers"]:
        raise SettingsError(f"at most {LIMITS['layers']} hidden layers (a scalar engine gets "
                            f"slow beyond); got {len(v)}")
    for i, n in enumerate(v):
        if isinstance(n, bool) or not isinstance(n, Integral) or not 1 <= n <= LIMITS["neurons"]:
            raise SettingsError(f"hidden layer {i + 1} must have 1 to {LIMITS['neurons']} "
                                f"neurons; got {_show(n)}")
    return [int(n) for n in v]


def check_speed(v):
    """A play speed in steps per second: 0 (as fast as the engine goes) or within the limits."""
    low, high = LIMITS["speed"]
    if isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(v) \
            or not (v == 0 or low <= v <= high):
        raise SettingsError(f"'speed' must be a number of steps per second from {low:g} to "
                            f"{high:g}, or 0 for as fast as possible; got {_show(v)}")
    return float(v)


def parse_json(raw):
    """A request body's JSON, strictly: UTF-8, no NaN or Infinity, no key given twice (which
    of two values a reader keeps differs from reader to reader). ValueError says what is wrong,
    in one line."""
    def no_constant(name):
        raise ValueError(f"{name} is not a number JSON allows")

    def no_duplicates(pairs):
        doc = {}
        for k, v in pairs:
            if k in doc:
                raise ValueError(f"the key {_show(k)} appears twice")
            doc[k] = v
        return doc
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=no_constant,
                          object_pairs_hook=no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ValueError(" ".join(str(e).split())[:120]) from None


def _points(v, classes=2):
    if not isinstance(v, list):
        raise SettingsError(f"points must be a list of [x1, x2, class] rows; got {_show(v)}")
    if len(v) > LIMITS["own_points"]:
        raise SettingsError(f"at most {LIMITS['own_points']} points of your own; got {len(v)}")
    big = LIMITS["coordinate"]
    rows = []
    for i, p in enumerate(v):
        if not isinstance(p, list) or len(p) != 3:
            raise SettingsError(f"points[{i}] must be [x1, x2, class]; got {_show(p)}")
        x1 = _float(f"points[{i}] x1", p[0], -big, big)
        x2 = _float(f"points[{i}] x2", p[1], -big, big)
        rows.append([x1, x2, _int(f"points[{i}] class", p[2], 0, classes - 1)])
    return rows


def _features(v):
    if not isinstance(v, list) or not v or not all(isinstance(f, str) for f in v):
        raise SettingsError(f"features must be a non-empty list of {', '.join(FEATURES)}; "
                            f"got {_show(v)}")
    for f in v:
        if f not in FEATURES:
            raise SettingsError(f"features: {_show(f)} is not one of {', '.join(FEATURES)}")
    if len(set(v)) != len(v):
        raise SettingsError(f"features: each at most once; got {_show(v)}")
    return [f for f in FEATURES if f in v]               # in the table's order


def featurize(s, X, picture=False):
    """The network's inputs for points X (n x 2): one column per feature of `s`. Their sin is
    micrograd.trig's (correctly rounded, as in the site), but for a picture's grid (thousands
    of points, where numpy's np.sin is 300 times faster and a last bit does not show)."""
    import numpy as np                # here, as in load_data: the site's Python has no numpy
    X = np.asarray(X, dtype=np.float64)
    a, b = X[:, 0], X[:, 1]
    sin = np.sin if picture else (lambda v: np.array(trig.sines(v.tolist()), dtype=np.float64))
    cols = {"x1": a, "x2": b, "x1sq": a ** 2, "x2sq": b ** 2, "x1x2": a * b}
    cols.update({f: sin(v) for f, v in (("sinx1", a), ("sinx2", b)) if f in s.features})
    return np.column_stack([cols[f] for f in s.features])


def features_of(s, rows, sin=trig.sin):
    """featurize in plain Python, as lists (the site, whose Python has no numpy): the same
    numbers, each column computed as numpy computes it (its `a ** 2` is a * a; `sin` is
    micrograd.trig's; a picture's grid may pass the C library's math.sin)."""
    cols = {"x1": lambda a, b: a, "x2": lambda a, b: b, "x1sq": lambda a, b: a * a,
            "x2sq": lambda a, b: b * b, "x1x2": lambda a, b: a * b,
            "sinx1": lambda a, b: sin(a), "sinx2": lambda a, b: sin(b)}
    chosen = [cols[f] for f in s.features]
    return [[f(float(a), float(b)) for f in chosen] for a, b in rows]


def parse_settings(doc, base=None):
    """Settings from a JSON object (the page's, or a model file's meta): every field checked,
    absent fields taken from `base` (default: the defaults), unknown fields refused."""
    if not isinstance(doc, dict):
        raise SettingsError(f"settings must be a JSON object; got {type(doc).__name__}")
    base = base or Settings()
    unknown = sorted(set(doc) - set(Settings.__dataclass_fields__))
    if unknown:
        raise SettingsError(f"unknown setting {unknown[0]!r}")
    d = {**base.to_dict(), **doc}
    batch = d["batch_size"]
    dataset = _choice("dataset", d["dataset"], DATASETS)
    s = Settings(
        dataset=_choice("dataset", d["dataset"], DATASETS),
        noise=_float("noise", d["noise"], *LIMITS["noise"]),
        samples=_int("samples", d["samples"], *LIMITS["samples"]),
        test_fraction=_float("test_fraction", d["test_fraction"], *LIMITS["test_fraction"]),
        seed=_int("seed", d["seed"], *LIMITS["seed"]),
        layers=_layers(d["layers"]),
        activation=_choice("activation", d["activation"], ACTIVATIONS),
        loss=_choice("loss", d["loss"], LOSSES),
        optimizer=_choice("optimizer", d["optimizer"], OPTIMIZERS),
        lr=_float("lr", d["lr"], *LIMITS["lr"]),
        schedule=_choice("schedule", d["schedule"], SCHEDULES),
        steps=_int("steps", d["steps"], *LIMITS["steps"]),
        batch_size=None if batch is None else _int("batch_size", batch, *LIMITS["batch_size"]),
        alpha=_float("alpha", d["alpha"], *LIMITS["alpha"]),
        compiled=_bool("compiled", d["compiled"]),
        points=_points(d["points"], DATASET_CLASSES[dataset]),
        features=_features(d["features"]))
    try:                                   # the loss must suit the number of classes
        output_size(s.loss, DATASET_CLASSES[s.dataset])
    except ValueError as e:
        raise SettingsError(f"{s.dataset} has {DATASET_CLASSES[s.dataset]} classes: {e}") \
            from None
    weights, points = step_work(s)
    most = LIMITS["compiled_work" if s.compiled else "step_work"]
    if weights * points > most:
        raise SettingsError(f"{weights:,} weights on {points:,} points a step is "
                            f"{weights * points / 1e6:.2f} million weight uses; the lab allows "
                            f"{most / 1e6:g} million{' compiled' if s.compiled else ''} (about "
                            f"a second a step): use fewer points, a smaller batch, or fewer "
                            f"layers or neurons")
    return s


def step_work(s):
    """(the model's weights, the data points one step touches: its batch, or the whole
    training set, plus the test set evaluated after it)."""
    sizes = [len(s.features)] + s.layers + [n_outputs(s)]
    weights = sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
    rows = s.samples + len(s.points)
    if s.batch_size is not None:
        test = math.ceil(s.samples * s.test_fraction)
        rows = min(rows, s.batch_size + test)
    return weights, rows


# ---------------------------------------------------------------------------------------------
# Data and model
# ---------------------------------------------------------------------------------------------
def make_xor(n_samples=100, noise=0.1, random_state=None):
    """XOR: points spread over [-1, 1]², class 1 where x1·x2 > 0 (the first and third
    quadrants), then Gaussian noise of standard deviation `noise` on the positions. Not
    linearly separable, and a single hidden layer of two or more neurons solves it."""
    import numpy as np
    from sklearn.utils import check_random_state
    rng = check_random_state(random_state)
    X = rng.uniform(-1.0, 1.0, size=(n_samples, 2))
    X += np.sign(X) * 0.05                    # a gap along the axes, as in TF Playground
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    X += rng.randn(n_samples, 2) * noise
    return X, y


def _dataset(s):
    from micrograd import data as datasets
    if s.dataset == "xor":
        return make_xor(s.samples, s.noise, s.seed)
    return datasets.load_dataset(s.dataset, n_samples=s.samples, noise=s.noise, seed=s.seed)


def load_data(s):
    """(X_train, X_test, y_train, y_test), as `micrograd train` splits them; the test set is
    None when test_fraction is 0. The learner's points are appended to the training set.
    (numpy and scikit-learn are imported here, not above: the static site's Python has neither,
    and uses the rest of this module with micrograd.site.lab_data's numbers.)"""
    import numpy as np

    from micrograd import data as datasets
    X, y = _dataset(s)
    try:
        X_tr, X_te, y_tr, y_te = datasets.holdout(X, y, s.test_fraction, s.seed)
    except ValueError as e:
        raise SettingsError(f"a test fraction of {s.test_fraction:g} of {s.samples} "
                            f"points leaves a side empty ({e})") from None
    if s.points:
        own = np.array(s.points, dtype=np.float64)
        X_tr = np.concatenate([X_tr, own[:, :2]])
        y_tr = np.concatenate([y_tr, own[:, 2].astype(np.int64)])
    return X_tr, X_te, y_tr, y_te


def n_outputs(s):
    return output_size(s.loss, DATASET_CLASSES[s.dataset])


def make_model(s):
    """The run's initial model: random.seed(seed), then the MLP `micrograd train` builds,
    fused (the same weights and numbers, a faster step: nobody sees the trainer's graph).
    Python's random state is restored afterwards (the lab shares the process)."""
    state = random.getstate()
    try:
        random.seed(s.seed)
        return MLP(len(s.features), s.layers + [n_outputs(s)], activation=s.activation,
                   output_activation="linear", fused=True)
    finally:
        random.setstate(state)


def fit_arguments(s):
    """The keyword arguments of the `fit` call this run makes (besides model and data)."""
    sgd = s.optimizer in ("sgd", "momentum")
    return {"loss": s.loss, "optimizer": "sgd" if sgd else "adam", "lr": s.lr,
            "schedule": s.schedule, "steps": s.steps, "batch_size": s.batch_size,
            "alpha": s.alpha, "seed": s.seed, "compiled": s.compiled,
            "optimizer_options": {"momentum": MOMENTUM} if s.optimizer == "momentum" else None}


# ---------------------------------------------------------------------------------------------
# The same run, outside the lab
# ---------------------------------------------------------------------------------------------
def reproduce(s, model_file=None):
    """{"python": a script running this run's fit(...), "command": the `micrograd train` line
    or None, "note": why there is no command line, if there is none}. `model_file`: the run
    started from a loaded model file rather than from the seed."""
    kw = fit_arguments(s)
    if s.dataset == "xor":
        load = (f"from micrograd.lab.settings import make_xor\n"
                f"X, y = make_xor({s.samples}, noise={s.noise!r}, random_state={s.seed})")
    else:
        load = f"X, y = load_dataset({s.dataset!r}, n_samples={s.samples}, " \
               f"noise={s.noise!r}, seed={s.seed})"
    plain = s.features == ["x1", "x2"]
    lines = ["import random"] + (["import numpy as np"] if s.points or not plain else []) + [
             "from micrograd.data import load_dataset, train_test_split",
             "from micrograd.nn import MLP", "from micrograd.train import fit", "", load]
    feat = (lambda name: name) if plain else (lambda name: f"features({name})")
    if s.test_fraction > 0:
        lines.append(f"X_train, X_test, y_train, y_test = train_test_split(X, y, "
                     f"{s.test_fraction!r}, seed={s.seed}, stratify=True)")
        val = f"X_val={feat('X_test')}, y_val=y_test, eval_every=1"
    else:
        lines.append("X_train, y_train = X, y")
        val = ""
    if s.points:
        lines += [f"mine = np.array({s.points!r})      # the points you added",
                  "X_train = np.concatenate([X_train, mine[:, :2]])",
                  "y_train = np.concatenate([y_train, mine[:, 2].astype(np.int64)])"]
    if not plain:
        if any(f in ("sinx1", "sinx2") for f in s.features):
            lines.insert(lines.index("from micrograd.train import fit") + 1,
                         "from micrograd.trig import sines      # sin, correctly rounded")
        cols = ", ".join(FEATURES[f][1] for f in s.features)
        lines += [f"features = lambda X: (lambda a, b: np.column_stack([{cols}]))"
                  f"(X[:, 0], X[:, 1])      # the network's inputs"]
    if model_file:
        lines += ["from micrograd.io import load_model",
                  f"model = load_model({model_file!r})"]
    else:
        lines += [f"random.seed({s.seed})",
                  f"model = MLP({len(s.features)}, {s.layers + [n_outputs(s)]!r}, "
                  f"activation={s.activation!r}, "
                  f"output_activation='linear')"]
    args = [f"{k}={v!r}" for k, v in kw.items() if v is not None and v is not False]
    if val:
        args.append(val)
    lines.append(f"history = fit(model, {feat('X_train')}, y_train,\n              " +
                 ",\n              ".join(", ".join(args[i:i + 4]) for i in range(0, len(args), 4)) +
                 ")")
    python = "\n".join(lines)

    note = None
    if s.dataset == "xor":
        note = "micrograd train has no xor dataset"
    elif s.points:
        note = "micrograd train cannot add your own points"
    elif not plain:
        note = "micrograd train has no input features beyond x1, x2"
    elif model_file:
        note = "micrograd train starts from the seed, not from a model file"
    command = None
    if note is None:
        parts = ["micrograd train", f"--dataset {s.dataset}", f"--samples {s.samples}",
                 f"--noise {s.noise!r}", f"--seed {s.seed}", f"--test-fraction {s.test_fraction!r}",
                 f"--layers {','.join(map(str, s.layers)) or 'none'}",
                 f"--activation {s.activation}", f"--loss {s.loss}",
                 f"--optimizer {kw['optimizer']}", f"--lr {s.lr!r}", f"--schedule {s.schedule}",
                 f"--steps {s.steps}", f"--alpha {s.alpha!r}"]
        if s.optimizer == "momentum":
            parts.append(f"--momentum {MOMENTUM}")
        if s.compiled:
            parts.append("--compiled")
        if s.batch_size is not None:
            parts.append(f"--batch-size {s.batch_size}")
        command = " ".join(parts)
    return {"python": python, "command": command, "note": note}
