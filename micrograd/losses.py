"""Loss functions, built from the engine's own operations.

Every loss is an ordinary expression of `Value` operations, so `loss.backward()` needs no
special rule and a tracing compiler can record and replay it. For that reason none of them
looks at `.data` to decide *which* operations to build or which numbers to use: even the max
shift of softmax cross-entropy is a graph node (the engine's "max" op, whose local derivatives
are 0, as the shift cancels), so a replay recomputes it from the new logits.

All losses are means over the batch, as PyTorch's default `reduction='mean'`. Predictions may
be a list of Values or a single Value; targets and labels are plain numbers.
"""
from numbers import Integral, Real

from micrograd.engine import MAX, Value

__all__ = ["mse", "hinge", "bce_with_logits", "softmax_cross_entropy", "l2", "accuracy",
           "LOSSES"]


def _as_list(xs, what):
    """One prediction or a list of them -> list (a lone Value or number is a batch of one)."""
    if isinstance(xs, (Value, Real)):
        return [xs]
    xs = list(xs)
    if not xs:
        raise ValueError(f"{what}: empty batch")
    return xs


def _pair(preds, targets, what):
    """Predictions as Values (a plain number becomes a constant leaf) and their targets."""
    preds, targets = _as_list(preds, what), _as_list(targets, what)
    if len(preds) != len(targets):
        raise ValueError(f"{what}: {len(preds)} predictions but {len(targets)} targets")
    return [p if isinstance(p, Value) else Value(p) for p in preds], targets


def _label(y, allowed, what, i):
    """A label must be a number from `allowed`; anything else is named in the error. A label
    may also be a Value holding such a number (a compiled step receives its labels as inputs)."""
    v = y.data if isinstance(y, Value) else y
    if isinstance(v, bool) or not isinstance(v, Real) or v not in allowed:
        shown = " or ".join(repr(a) for a in allowed)
        raise ValueError(f"{what}: labels must be {shown}, got {y!r} at index {i}")
    return y if isinstance(y, Value) else float(y)


def mse(preds, targets):
    """Mean squared error, mean((p - t)**2): regression, and the lecture's first loss."""
    preds, targets = _pair(preds, targets, "mse")
    return sum((p - t) ** 2 for p, t in zip(preds, targets)) / len(preds)


def hinge(scores, labels):
    """The SVM max-margin loss of the original micrograd demo, mean(relu(1 - y*s)), y in {-1, +1}.

    Written exactly as the demo writes it, so that the numbers are bit for bit the demo's."""
    scores, labels = _pair(scores, labels, "hinge")
    ys = [_label(y, (-1, 1), "hinge", i) for i, y in enumerate(labels)]
    losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(ys, scores)]
    return sum(losses) * (1.0 / len(losses))


def bce_with_logits(logits, labels):
    """Binary cross-entropy on raw scores z (no sigmoid first), labels in {0, 1}.

    Uses relu(z) - z*y + log(1 + exp(-|z|)): the same number as -y log s(z) - (1-y) log(1-s(z)),
    but exp only ever sees a non-positive argument, so a logit of 1000 neither overflows nor
    takes log(0). -|z| is spelled z - 2*relu(z) (the same float): relu and abs each take the
    derivative 0 at their kink, which would make the gradient at z = 0 come out 0 - y instead of
    sigmoid(0) - y = 0.5 - y; sharing one relu keeps the two kinks consistent."""
    logits, labels = _pair(logits, labels, "bce_with_logits")
    ys = [_label(y, (0, 1), "bce_with_logits", i) for i, y in enumerate(labels)]
    losses = []
    for z, y in zip(logits, ys):
        r = z.relu()
        losses.append(r - z * y + (1 + (z - 2 * r).exp()).log())
    return sum(losses) / len(losses)


def softmax_cross_entropy(logits, labels):
    """Cross-entropy of softmax(logits) against the labels, mean over the batch.

    `logits` is a batch: one list of K Values per example (a single example's flat list with
    a single int label also works). A label is a class number, or, as in PyTorch, a row of K
    target probabilities (a one-hot row gives the same loss; a compiled step passes its labels
    this way, as inputs). Each row is log-sum-exp'd after subtracting its largest logit, a "max"
    node of the graph (derivative 0: the shift cancels), so logits of 1e3 give a finite loss
    and the right gradients, and a compiled replay shifts by the new row's max."""
    rows = list(logits)
    if not isinstance(labels, (list, tuple)) and rows and isinstance(rows[0], (Value, Real)):
        rows, labels = [rows], [labels]          # one example, not a batch
    labels = list(labels)
    if not rows:
        raise ValueError("softmax_cross_entropy: empty batch")
    if len(rows) != len(labels):
        raise ValueError(f"softmax_cross_entropy: {len(rows)} rows of logits "
                         f"but {len(labels)} labels")
    losses = []
    for i, (row, y) in enumerate(zip(rows, labels)):
        row = list(row)
        if not row:
            raise ValueError(f"softmax_cross_entropy: row {i} has no logits")
        m = MAX(*row)                            # the shift: a node, recomputed by a replay
        shifted = [z - m for z in row]
        lse = sum(s.exp() for s in shifted).log()
        if isinstance(y, (list, tuple)):         # target probabilities: sum_k t_k (lse - s_k)
            if len(y) != len(row):
                raise ValueError(f"softmax_cross_entropy: target row {i} has {len(y)} "
                                 f"entries for {len(row)} logits")
            losses.append(sum(t * (lse - s) for t, s in zip(y, shifted)))
            continue
        if isinstance(y, bool) or not isinstance(y, Integral) or not 0 <= y < len(row):
            raise ValueError(f"softmax_cross_entropy: label at index {i} must be an int in "
                             f"[0, {len(row)}) or a row of {len(row)} probabilities, "
                             f"got {y!r}")
        losses.append(lse - shifted[int(y)])
    return sum(losses) / len(losses)


def l2(parameters, alpha):
    """alpha * sum(p*p): the demo's L2 regularisation, same expression, same floats."""
    if isinstance(alpha, bool) or not isinstance(alpha, Real) or not alpha >= 0:
        raise ValueError(f"l2: alpha must be a number >= 0, got {alpha!r}")
    reg = alpha * sum((p * p for p in parameters))
    return reg if isinstance(reg, Value) else Value(reg)


LOSSES = {
    "mse": mse,
    "hinge": hinge,
    "bce": bce_with_logits,
    "cross_entropy": softmax_cross_entropy,
}


def accuracy(scores_or_logits, labels, loss_name):
    """Fraction of correct predictions, read the way the loss `loss_name` reads its outputs.

    hinge: sign of the score vs sign of the label; bce: logit > 0 vs label == 1;
    cross_entropy: argmax of each row vs the label (first maximum wins, as numpy/torch)."""
    if loss_name not in LOSSES:
        raise ValueError(f"unknown loss {loss_name!r}; choose one of {', '.join(LOSSES)}")
    if loss_name == "mse":
        raise ValueError("accuracy is not defined for 'mse' (a regression loss)")
    labels = list(labels)
    if loss_name == "cross_entropy":
        preds = [[float(z) for z in row] for row in scores_or_logits]
        guess = [max(range(len(r)), key=r.__getitem__) for r in preds]
    else:
        preds = [float(s) for s in _as_list(scores_or_logits, "accuracy")]
        guess = [s > 0 for s in preds]
        labels = [y > 0 if loss_name == "hinge" else y == 1 for y in labels]
    if len(preds) != len(labels) or not labels:
        raise ValueError(f"accuracy: {len(preds)} predictions but {len(labels)} labels")
    return sum(g == y for g, y in zip(guess, labels)) / len(labels)
