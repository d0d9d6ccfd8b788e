"""A training loop for micrograd models: `fit`, `evaluate`, `predict`.

`fit` is the original micrograd demo's loop made general. With its defaults (hinge loss, L2 of
1e-4, full-batch SGD) and the demo's schedule it does, step for step and bit for bit, what the
demo notebook does:

    inputs = [list(map(Value, xrow)) for xrow in X]
    scores = list(map(model, inputs))
    total_loss = hinge(scores, y) + l2(model.parameters(), 1e-4)
    model.zero_grad(); total_loss.backward()
    for p in model.parameters(): p.data -= learning_rate * p.grad

Labels and the targets each loss gets: see micrograd.labels. What runs between steps (logging,
snapshots, the live picture in a notebook) is a callback: see micrograd.callbacks.

Stopping: Ctrl-C stops after the current step and `fit` returns normally with
`history.interrupted = True` (the model keeps what it learned); a loss that becomes NaN or
infinite raises `TrainingDiverged`, whose message names the step.
"""
import math
import random
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from numbers import Integral, Real

from micrograd.callbacks import Callback, as_callbacks
from micrograd.engine import no_grad
from micrograd.labels import (LOSS_NAMES, _accuracy, _class_of, _n_inputs, _rows, class_labels,
                              loss_function, loss_targets, n_outputs, output_size)
from micrograd.losses import l2
from micrograd.progress import advance, print_summary, progress_bar

__all__ = ["fit", "evaluate", "predict", "predict_scores", "History", "TrainingDiverged",
           "CompilerUnavailable", "output_size", "n_outputs", "loss_targets", "class_labels",
           "make_schedule", "make_optimizer", "loss_function", "LOSS_NAMES", "Callback"]

class TrainingDiverged(ArithmeticError):
    """The loss became NaN or infinite. `.step` is the step, `.history` what ran before it."""

    def __init__(self, message, step=None, history=None):
        super().__init__(message)
        self.step = step
        self.history = history


class CompilerUnavailable(ImportError):
    """compiled=True, but micrograd.compiler cannot be imported."""


@dataclass(repr=False)
class History:
    """What `fit` saw, one entry per step (loss and accuracy are those of the step's batch,
    computed before that step's update; lr is the rate that step used)."""
    loss: list = field(default_factory=list)
    accuracy: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    val_step: list = field(default_factory=list)      # steps at which the validation set ran
    val_loss: list = field(default_factory=list)
    val_accuracy: list = field(default_factory=list)
    interrupted: bool = False
    stopped_reason: str = None     # None: all steps ran; else why training stopped early
    seconds: float = 0.0

    @property
    def steps(self):
        return len(self.loss)

    @property
    def final_loss(self):
        return self.loss[-1] if self.loss else None

    @property
    def final_accuracy(self):
        return self.accuracy[-1] if self.accuracy else None

    def to_dict(self):
        return asdict(self)

    def __repr__(self):
        return f"History({self.summary()})"

    def summary(self):
        """One line: '100 steps, final loss 0.0123, accuracy 100.0%' (and what stopped it)."""
        if not self.loss:
            return "no steps"
        text = f"{self.steps} step{'s' * (self.steps != 1)}, final loss {self.final_loss:.4g}"
        if self.final_accuracy is not None:
            text += f", accuracy {self.final_accuracy:.1%}"
        if self.val_accuracy:
            text += f", held-out accuracy {self.val_accuracy[-1]:.1%}"
        if self.stopped_reason:
            text += f"; {self.stopped_reason}"
        return text


# ---------------------------------------------------------------------------------------------
# Optimizers and schedules by name
# ---------------------------------------------------------------------------------------------
def make_optimizer(optimizer, params, lr, **options):
    """'sgd' / 'adam' (or an optimizer object, returned as is, its lr set to `lr`)."""
    from micrograd import optim
    if isinstance(optimizer, str):
        if optimizer not in optim.OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; "
                             f"choose one of {', '.join(optim.OPTIMIZERS)}")
        return optim.OPTIMIZERS[optimizer](params, lr=lr, **options)
    if not hasattr(optimizer, "step"):
        raise ValueError(f"optimizer must be a name or an optimizer, got {optimizer!r}")
    return optimizer


def make_schedule(schedule, lr, steps):
    """None/'constant' -> lr throughout; 'linear' -> lr down to lr/10 (the demo's with lr=1,
    steps=100); 'cosine' -> lr down to 0; 'step' -> halved every steps/4; or a callable k -> lr."""
    from micrograd import optim
    if schedule is None or schedule == "constant":
        return optim.constant(lr)
    if callable(schedule):
        return schedule
    if schedule == "linear":
        return optim.linear_decay(lr, lr * 0.1, steps)
    if schedule == "cosine":
        return optim.cosine(lr, 0.0, steps)
    if schedule == "step":
        return optim.step_decay(lr, 0.5, max(1, steps // 4))
    raise ValueError(f"unknown schedule {schedule!r}; choose one of constant, linear, cosine, step")


# ---------------------------------------------------------------------------------------------
# Ctrl-C: finish the step, then stop
# ---------------------------------------------------------------------------------------------
class _StopOnCtrlC:
    """While active, a first Ctrl-C only asks the loop to stop after the current step (so an
    update is never left half done); a second one interrupts at once, unless an outer handler
    defers Ctrl-C (`defers_ctrl_c`, the CLI's until the model is saved): it hears every press,
    and one it heard before training began (its `presses`) stops after the first step."""

    def __init__(self):
        self.requested = False
        self._old = None

    def __enter__(self):
        current = signal.getsignal(signal.SIGINT)
        if threading.current_thread() is threading.main_thread() and \
                (current is signal.default_int_handler or getattr(current, "defers_ctrl_c", 0)):
            self._old = signal.signal(signal.SIGINT, self._handle)
            self.requested = getattr(current, "presses", 0) > 0
        return self

    def _handle(self, signum, frame):
        if self._old is not signal.default_int_handler:
            self._old(signum, frame)
        elif self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def _batch_indices(n, batch_size, seed):
    """Forever: shuffled mini-batches of indices, epoch after epoch (None = full batch)."""
    if batch_size is None or batch_size >= n:
        while True:
            yield None
    rng = random.Random(seed)
    while True:
        order = list(range(n))
        rng.shuffle(order)
        for i in range(0, n, batch_size):
            yield order[i:i + batch_size]


def _positive_int(name, v):
    if isinstance(v, bool) or not isinstance(v, Integral) or v < 1:
        raise ValueError(f"{name} must be a positive integer, got {v!r}")
    return int(v)


# ---------------------------------------------------------------------------------------------
# fit
# ---------------------------------------------------------------------------------------------
def fit(model, X, y, loss="hinge", optimizer="sgd", lr=1.0, schedule=None, steps=100,
        batch_size=None, alpha=1e-4, seed=0, progress=True, callback=None, compiled=False,
        X_val=None, y_val=None, eval_every=None, optimizer_options=None, live=False,
        callbacks=()):
    """Train `model` on (X, y) for `steps` updates; return a `History`.

    loss       'hinge' | 'bce' | 'cross_entropy' | 'mse' (micrograd.labels: what each wants)
    optimizer  'sgd' | 'adam' or an optimizer object; optimizer_options go to its constructor
    lr         the learning rate (the start of the schedule)
    schedule   None/'constant' | 'linear' | 'cosine' | 'step' | a callable k -> lr
    batch_size None = full batch (the demo); else shuffled mini-batches, reshuffled every epoch
    alpha      L2 regularisation: loss + alpha * sum(p*p) (the demo's 1e-4; 0 turns it off)
    callback   callback(k, model, history) after step k's update; returning True stops
    callbacks  more of them: functions like `callback`, or micrograd.callbacks.Callback objects
    compiled   trace the step once with micrograd.compile and replay it; with a micrograd
               SGD or Adam, as a fused step (forward, backward and update in numpy; the
               model's Values are written back before every callback and evaluation, and at
               the end, however training ends)
    X_val, y_val  evaluated every `eval_every` steps (default steps/20) and after the last one
    live       in Jupyter, one picture redrawn in place as training goes (the decision boundary
               for 2-D data, the loss and accuracy curves): True for every steps/10 steps, or
               a number of steps. Outside a notebook it is ignored, with a warning. (It is
               micrograd.viz.notebook's LivePicture callback, added to `callbacks`.)

    With a progress bar, `fit` ends by printing one line: the steps, final loss and accuracy.
    """
    steps, batch_size, rows, labels = _checked(model, X, y, steps, batch_size, alpha)
    loss_name, loss_fn = loss_function(loss)
    n_out = n_outputs(model)
    targets = loss_targets(loss_name, labels, n_out)
    params = model.parameters()
    opt = make_optimizer(optimizer, params, lr, **(optimizer_options or {}))
    lr_at = make_schedule(schedule, lr, steps)
    if X_val is not None:
        val_rows, val_labels = _rows(X_val), class_labels(y_val)
        if eval_every is None:
            eval_every = max(1, steps // 20)

    def forward(Xb, Tb):                 # the demo's step: scores, data loss, L2
        scores = [model(list(x)) for x in Xb]
        total = loss_fn(scores, Tb)
        if alpha:
            total = total + l2(params, alpha)
        return total, scores

    step_fn, fused = forward, None
    if compiled:
        step_fn, fused = _compiled(forward, loss_name, n_out, opt)

    if callable(callbacks):             # one callback, not in a list
        callbacks = [callbacks]
    callbacks = as_callbacks(_live(live, model, X, y, steps), callback, *(callbacks or ()))
    history = History()
    batches = _batch_indices(len(rows), batch_size, seed)
    bar = progress_bar(steps, progress)
    for c in callbacks:
        c.start(model, history)
    start = time.perf_counter()
    k = 0
    try:
        with _StopOnCtrlC() as ctrl_c:
            for k in range(steps):
                idx = next(batches)
                if idx is None:
                    Xb, Tb, Lb = rows, targets, labels
                else:
                    Xb = [rows[i] for i in idx]
                    Tb = [targets[i] for i in idx]
                    Lb = [labels[i] for i in idx]
                lr_k = lr_at(k)
                opt.lr = lr_k
                loss_k, acc_k = _update(k, step_fn, fused, opt, Xb, Tb, Lb, history)
                history.lr.append(lr_k)
                if X_val is not None and ((k + 1) % eval_every == 0 or k == steps - 1):
                    _held_out(k, model, fused, val_rows, val_labels, loss_name, history)
                advance(bar, loss_k, acc_k, history.val_accuracy)
                if _callbacks_stop(k, callbacks, model, fused, history):
                    history.stopped_reason = f"stopped by the callback after step {k}"
                    break
                if ctrl_c.requested:
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        history.interrupted = True
        history.stopped_reason = f"interrupted after {history.steps} of {steps} steps"
    finally:
        if fused is not None:
            fused.sync()                        # however training ended
        history.seconds = time.perf_counter() - start
        if bar is not None:
            bar.close()
    for c in callbacks:
        c.end(model, history)                   # e.g. the last step's picture
    if bar is not None:
        print_summary(history)
    return history


def _checked(model, X, y, steps, batch_size, alpha):
    """fit's arguments checked, each with a one-line error: (steps, batch_size, rows, labels)."""
    steps = _positive_int("steps", steps)
    if batch_size is not None:
        batch_size = _positive_int("batch_size", batch_size)
    if isinstance(alpha, bool) or not isinstance(alpha, Real) or not alpha >= 0 \
            or not math.isfinite(alpha):
        raise ValueError(f"alpha (L2) must be a number >= 0, got {alpha!r}")
    rows, labels = _rows(X), class_labels(y)
    if not rows:
        raise ValueError("no training data")
    if len(rows) != len(labels):
        raise ValueError(f"X has {len(rows)} rows but y has {len(labels)} labels")
    nin = _n_inputs(model)
    if nin is not None and nin != len(rows[0]):
        raise ValueError(f"the model takes {nin} inputs but X has {len(rows[0])} features")
    return steps, batch_size, rows, labels


def _update(k, step_fn, fused, opt, Xb, Tb, Lb, history):
    """Step k: forward, backward, the optimizer's update; its loss and accuracy (the batch's,
    from before the update) recorded in `history` and returned. A NaN or inf loss or gradient
    raises TrainingDiverged naming the step."""
    try:
        total, scores = step_fn(Xb, Tb)
    except OverflowError as e:
        raise TrainingDiverged(f"loss became inf at step {k} ({e})", k, history) from None
    loss_k = float(total.data)
    if not math.isfinite(loss_k):
        raise TrainingDiverged(f"loss became {loss_k} at step {k}", k, history)
    acc_k = _accuracy(scores, Lb)
    try:
        if fused is not None:
            fused.apply()           # backward and update, in the fused step
        else:
            opt.zero_grad()
            total.backward()
            opt.step()
    except OverflowError as e:
        raise TrainingDiverged(f"gradient became inf at step {k} ({e})", k, history) from None
    history.loss.append(loss_k)
    history.accuracy.append(acc_k)
    return loss_k, acc_k


def _held_out(k, model, fused, rows, labels, loss_name, history):
    """Evaluate on the held-out set after step k, into `history`."""
    if fused is not None:
        fused.sync()                # the model's Values are stale until then
    try:
        vl, va = evaluate(model, rows, labels, loss_name)
    except (OverflowError, ValueError) as e:   # the model blew up on new data
        raise TrainingDiverged(f"held-out loss became inf at step {k} ({e})", k,
                               history) from None
    history.val_step.append(k)
    history.val_loss.append(vl)
    history.val_accuracy.append(va)


def _callbacks_stop(k, callbacks, model, fused, history):
    """Run the callbacks due after step k (the model synced first); True if one says stop.
    All of them run, then any may stop."""
    due = [c for c in callbacks if c.due(k)]
    if fused is not None and due:
        fused.sync()
    stop = False
    for c in due:
        stop = (c(k, model, history) is True) or stop
    return stop


def _live(live, model, X, y, steps):
    """fit's `live` argument -> the notebook's live-picture callback, or None. The one place
    training reaches up to the pictures, and only when asked: `import micrograd.train` loads
    nothing of micrograd.viz (tests/test_architecture.py keeps it so)."""
    if live is False or live is None:
        return None
    from micrograd.viz.notebook import live_picture
    return live_picture(live, model, X, y, steps)


def _compiled(forward, loss_name, n_out, opt):
    """micrograd.compile the whole step: (step, fused). The targets are arguments of the traced
    function (they change from batch to batch), so cross_entropy's class numbers go in as
    one-hot rows. With a micrograd SGD or Adam the step is fused (compile(forward,
    optimizer=opt)): step() runs its forward half, `fused.apply()` the backward and the
    update, `fused.sync()` writes the model and the optimizer back; else fused is None."""
    try:
        from micrograd.compiler import compile as mg_compile
        from micrograd.compiler.optimizers import fusable
    except ImportError as e:
        raise CompilerUnavailable(f"compiled training needs micrograd.compiler, which cannot "
                                  f"be imported ({e})") from None
    # traces once per batch shape, then replays
    fused = mg_compile(forward, optimizer=opt) if fusable(opt) else None
    run = fused.forward if fused is not None else mg_compile(forward)

    def step(Xb, Tb):
        if loss_name == "cross_entropy":
            Tb = [[1.0 if j == t else 0.0 for j in range(n_out)] for t in Tb]
        return run(Xb, Tb)
    return step, fused


# ---------------------------------------------------------------------------------------------
# evaluate / predict
# ---------------------------------------------------------------------------------------------
def predict_scores(model, X):
    """The model's raw output for every row of X: a float (one output) or a list of floats."""
    out = []
    with no_grad():
        for row in _rows(X):
            s = model(row)
            out.append([v.data for v in s] if isinstance(s, (list, tuple)) else s.data)
    return out


def predict(model, X):
    """The predicted class of every row of X: score > 0 -> 1 for a one-output model, else the
    argmax of the outputs."""
    return [_class_of(s) for s in predict_scores(model, X)]


def evaluate(model, X, y, loss="hinge"):
    """(mean data loss, accuracy) of the model on (X, y), without building a graph (no L2)."""
    rows, labels = _rows(X), class_labels(y)
    if not rows:
        raise ValueError("no data to evaluate on")
    if len(rows) != len(labels):
        raise ValueError(f"X has {len(rows)} rows but y has {len(labels)} labels")
    loss_name, loss_fn = loss_function(loss)
    targets = loss_targets(loss_name, labels, n_outputs(model))
    with no_grad():
        scores = [model(row) for row in rows]
        value = loss_fn(scores, targets)
    return float(value.data), _accuracy(scores, labels)
