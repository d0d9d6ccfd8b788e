"""Labels, and what each loss makes of them: `fit`'s and `evaluate`'s shared bookkeeping.

Labels are class numbers 0..K-1 (what micrograd.data gives); {-1, +1} is accepted for binary
problems too. Each loss gets the targets it wants: hinge and binary mse get -1/+1, bce gets
0/1, cross_entropy gets the class numbers (and needs a model with K outputs), mse with K > 2
classes gets one-hot -1/+1 rows. Whatever the loss, a single-output model predicts class 1 when
its score is > 0, and a K-output model predicts the argmax.
"""
from numbers import Real

from micrograd import losses
from micrograd.engine import Value, no_grad

__all__ = ["LOSS_NAMES", "class_labels", "n_outputs", "output_size", "loss_targets",
           "loss_function"]

LOSS_NAMES = ("hinge", "bce", "cross_entropy", "mse")
BINARY_LOSSES = ("hinge", "bce")


def _tolist(a):
    return a.tolist() if hasattr(a, "tolist") else list(a)


def _rows(X):
    """X (numpy array or nested lists) -> list of lists of Python floats."""
    rows = _tolist(X)
    if rows and not isinstance(rows[0], (list, tuple)):
        raise ValueError("X must be 2-D: one row of features per example")
    out = []
    for i, row in enumerate(rows):
        try:
            out.append([float(v) for v in row])
        except (TypeError, ValueError):
            raise ValueError(f"X row {i} is not a row of numbers: {row!r}") from None
    return out


def class_labels(y):
    """Labels -> list of ints 0..K-1. Binary labels given as {-1, +1} become {0, 1}."""
    ys = _tolist(y)
    for i, v in enumerate(ys):
        if isinstance(v, bool) or not isinstance(v, Real) or v != int(v):
            raise ValueError(f"labels must be class numbers, got {v!r} at index {i}")
    ys = [int(v) for v in ys]
    if ys and min(ys) == -1 and set(ys) <= {-1, 1}:
        return [(v + 1) // 2 for v in ys]
    if ys and min(ys) < 0:
        raise ValueError(f"labels must be 0..K-1 (or -1/+1), got {min(ys)}")
    return ys


def n_outputs(model):
    """How many numbers the model outputs per example."""
    layers = getattr(model, "layers", None)
    if layers:
        last = layers[-1]
        neurons = getattr(last, "neurons", None)
        if neurons is not None:
            return len(neurons)
    nin = _n_inputs(model)
    if nin is None:
        raise ValueError("cannot tell how many outputs the model has")
    with no_grad():
        out = model([0.0] * nin)
    return 1 if isinstance(out, Value) else len(out)


def _n_inputs(model):
    try:
        return len(model.layers[0].neurons[0].w)
    except (AttributeError, IndexError, TypeError):
        return None


def output_size(loss, n_classes):
    """The size of the output layer that `loss` needs for `n_classes` classes."""
    _check_loss(loss)
    if n_classes < 2:
        raise ValueError(f"need at least 2 classes, got {n_classes}")
    if loss in BINARY_LOSSES:
        if n_classes != 2:
            raise ValueError(f"loss {loss!r} is for two classes, the data has {n_classes}; "
                             "use cross_entropy (or mse)")
        return 1
    if loss == "mse":
        return 1 if n_classes == 2 else n_classes
    return n_classes


def _check_loss(loss):
    if loss not in LOSS_NAMES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSS_NAMES)}")
    return loss


def loss_targets(loss, labels, n_out):
    """Class numbers -> the targets `loss` wants, for a model with `n_out` outputs."""
    _check_loss(loss)
    if n_out == 1:
        if labels and max(labels) > 1:
            raise ValueError(f"a model with one output can only separate two classes, "
                             f"the labels go up to {max(labels)}")
        if loss == "cross_entropy":
            raise ValueError("cross_entropy needs a model with one output per class (>= 2)")
        if loss == "bce":
            return [float(v) for v in labels]
        return [1.0 if v == 1 else -1.0 for v in labels]          # hinge, mse: -1/+1
    if loss in BINARY_LOSSES:
        raise ValueError(f"loss {loss!r} needs a model with a single output, "
                         f"this one has {n_out}")
    if labels and max(labels) >= n_out:
        raise ValueError(f"the model has {n_out} outputs but the labels go up to {max(labels)}")
    if loss == "cross_entropy":
        return list(labels)
    return [[1.0 if k == v else -1.0 for k in range(n_out)] for v in labels]   # mse one-hot


def loss_function(loss):
    """(name, fn): the loss `fit` minimises for the name `loss` (one of LOSS_NAMES).
    `fn(scores, targets)` takes a list of per-example scores (a Value, or a list of K Values)
    and `loss_targets(name, labels, K)` and returns the mean loss as one Value. mse with K
    outputs counts every output as one prediction."""
    _check_loss(loss)
    if loss != "mse":
        return loss, losses.LOSSES[loss]

    def mse(preds, targets):             # K outputs: every output is a prediction
        if preds and not isinstance(preds[0], Value):
            preds = [p for row in preds for p in row]
            targets = [t for row in targets for t in row]
        return losses.mse(preds, targets)
    return loss, mse


def _accuracy(scores, labels):
    """Share of examples whose predicted class (score > 0, or argmax) is the label."""
    return sum(_class_of(s) == y for s, y in zip(scores, labels)) / len(labels)


def _class_of(score):
    if isinstance(score, (list, tuple)):
        vals = [float(s.data if hasattr(s, "data") else s) for s in score]
        return max(range(len(vals)), key=vals.__getitem__)
    return int(float(score.data if hasattr(score, "data") else score) > 0)
