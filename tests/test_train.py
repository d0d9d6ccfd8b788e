"""micrograd.train: the demo's numbers bit for bit, labels per loss, stopping, evaluation."""
import math
import os
import random
import signal
import sys

import numpy as np
import pytest

from micrograd import losses, optim
from micrograd.engine import Value
from micrograd.nn import MLP
from micrograd.train import (History, TrainingDiverged, class_labels, evaluate, fit,
                             loss_targets, n_outputs, output_size, predict, predict_scores)

# The notebook's printed losses (karpathy/micrograd demo.ipynb), steps 0-3.
DEMO_LOSSES = [0.8958441028683222, 1.723590533697202, 0.7429006313851131, 0.7705641260584202]
DEMO_ACCURACY = [0.50, 0.81, 0.77, 0.82]


def demo_setup():
    from sklearn.datasets import make_moons
    np.random.seed(1337)
    random.seed(1337)
    X, y = make_moons(n_samples=100, noise=0.1)
    return X, y, MLP(2, [16, 16, 1])


def notebook_loop(model, X, y, steps):
    """The demo notebook's cells, verbatim (y in -1/+1)."""
    y = y * 2 - 1
    out = []
    for k in range(steps):
        inputs = [list(map(Value, xrow)) for xrow in X]
        scores = list(map(model, inputs))
        losses_ = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores)]
        data_loss = sum(losses_) * (1.0 / len(losses_))
        alpha = 1e-4
        reg_loss = alpha * sum((p * p for p in model.parameters()))
        total_loss = data_loss + reg_loss
        accuracy = [(yi > 0) == (scorei.data > 0) for yi, scorei in zip(y, scores)]
        out.append((total_loss.data, sum(accuracy) / len(accuracy)))
        model.zero_grad()
        total_loss.backward()
        learning_rate = 1.0 - 0.9 * k / 100
        for p in model.parameters():
            p.data -= learning_rate * p.grad
    return out


def weights(model):
    return [p.data for p in model.parameters()]


def demo_fit(model, X, y, steps, **kw):
    kw.setdefault("progress", False)
    return fit(model, X, y, loss="hinge", optimizer="sgd", lr=1.0,
               schedule=optim.linear_decay(1.0, 0.1, 100), steps=steps, alpha=1e-4, **kw)


# ---------------------------------------------------------------------------------------------
# the demo, exactly
# ---------------------------------------------------------------------------------------------
def test_fit_reproduces_the_demo_notebook_losses_exactly():
    X, y, model = demo_setup()
    h = demo_fit(model, X, y, steps=4)
    assert h.loss == DEMO_LOSSES                       # exact float equality, not approx
    assert h.accuracy == DEMO_ACCURACY
    assert h.lr == [1.0 - 0.9 * k / 100 for k in range(4)]
    assert not h.interrupted and h.stopped_reason is None and h.steps == 4


@pytest.mark.slow
def test_fit_is_the_notebook_loop_bit_for_bit_weights_too():
    X, y, model = demo_setup()
    h = demo_fit(model, X, y, steps=12)
    X2, y2, reference = demo_setup()
    ref = notebook_loop(reference, X2, y2, 12)
    assert [(l, a) for l, a in zip(h.loss, h.accuracy)] == ref
    assert weights(model) == weights(reference)


def test_string_schedule_linear_goes_to_a_tenth_over_the_run():
    X, y, model = demo_setup()
    h = fit(model, X, y, loss="hinge", lr=1.0, schedule="linear", steps=4, progress=False)
    assert h.lr == [optim.linear_decay(1.0, 0.1, 4)(k) for k in range(4)]
    assert h.lr[0] == 1.0 and h.loss[0] == DEMO_LOSSES[0]


def test_plus_minus_one_labels_give_the_same_run():
    X, y, m1 = demo_setup()
    h1 = demo_fit(m1, X, y, steps=3)
    X, y, m2 = demo_setup()
    h2 = demo_fit(m2, X, y * 2 - 1, steps=3)
    assert h1.loss == h2.loss and weights(m1) == weights(m2)


# ---------------------------------------------------------------------------------------------
# labels and targets per loss
# ---------------------------------------------------------------------------------------------
def test_class_labels():
    assert class_labels([0, 1, 1]) == [0, 1, 1]
    assert class_labels(np.array([-1, 1, 1])) == [0, 1, 1]
    assert class_labels([2.0, 0.0]) == [2, 0]
    with pytest.raises(ValueError, match="class numbers"):
        class_labels([0.5, 1])
    with pytest.raises(ValueError):
        class_labels([-2, 1])


def test_targets_per_loss():
    labels = [0, 1, 1, 0]
    assert loss_targets("hinge", labels, 1) == [-1.0, 1.0, 1.0, -1.0]
    assert loss_targets("mse", labels, 1) == [-1.0, 1.0, 1.0, -1.0]
    assert loss_targets("bce", labels, 1) == [0.0, 1.0, 1.0, 0.0]
    assert loss_targets("cross_entropy", labels, 2) == labels
    assert loss_targets("mse", [2, 0], 3) == [[-1.0, -1.0, 1.0], [1.0, -1.0, -1.0]]
    with pytest.raises(ValueError, match="single output"):
        loss_targets("hinge", labels, 2)
    with pytest.raises(ValueError, match="one output per class"):
        loss_targets("cross_entropy", labels, 1)
    with pytest.raises(ValueError, match="two classes"):
        loss_targets("bce", [0, 1, 2], 1)
    with pytest.raises(ValueError, match="unknown loss"):
        loss_targets("l1", labels, 1)


def test_output_size():
    assert output_size("hinge", 2) == 1
    assert output_size("bce", 2) == 1
    assert output_size("mse", 2) == 1
    assert output_size("mse", 4) == 4
    assert output_size("cross_entropy", 2) == 2
    assert output_size("cross_entropy", 10) == 10
    with pytest.raises(ValueError, match="cross_entropy"):
        output_size("hinge", 3)


def three_blobs(n=60):
    from micrograd.data import make_blobs
    return make_blobs(n_samples=n, centers=3, random_state=0)


@pytest.mark.parametrize("loss,nout", [("hinge", 1), ("bce", 1), ("mse", 1),
                                       ("cross_entropy", 2)])
def test_every_loss_learns_moons(loss, nout):
    from micrograd.data import make_moons
    X, y = make_moons(60, noise=0.1, random_state=0)
    random.seed(0)
    model = MLP(2, [8, 8, nout])
    h = fit(model, X, y, loss=loss, optimizer="adam", lr=0.05, steps=40, progress=False)
    assert h.steps == 40 and h.accuracy[-1] >= 0.85
    assert h.loss[-1] < h.loss[0]
    # the loss fit reports is the library's loss + L2, computed on the same scores
    _, acc = evaluate(model, X, y, loss)
    assert acc >= 0.85


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_multiclass(loss):
    X, y = three_blobs()
    random.seed(1)
    model = MLP(2, [8, 3])
    h = fit(model, X, y, loss=loss, optimizer="adam", lr=0.05, steps=60, progress=False)
    assert h.accuracy[-1] >= 0.8           # three overlapping blobs: chance is 1/3
    assert set(predict(model, X)) <= {0, 1, 2}
    assert all(len(s) == 3 for s in predict_scores(model, X))


def test_binary_loss_on_three_classes_is_refused():
    X, y = three_blobs()
    with pytest.raises(ValueError, match="labels go up to 2"):
        fit(MLP(2, [4, 1]), X, y, loss="hinge", steps=1, progress=False)
    with pytest.raises(ValueError, match="single output"):
        fit(MLP(2, [4, 3]), X, y, loss="hinge", steps=1, progress=False)


# ---------------------------------------------------------------------------------------------
# arguments
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,match", [
    ({"steps": 0}, "steps must be a positive integer"),
    ({"steps": -5}, "steps must be a positive integer"),
    ({"steps": 2.5}, "steps must be a positive integer"),
    ({"batch_size": 0}, "batch_size"),
    ({"alpha": -1.0}, "alpha"),
    ({"alpha": float("nan")}, "alpha"),
    ({"loss": "l1"}, "unknown loss"),
    ({"optimizer": "rmsprop"}, "unknown optimizer"),
    ({"schedule": "exp"}, "unknown schedule"),
    ({"lr": -1.0}, "lr"),
])
def test_bad_arguments(kwargs, match):
    X, y = [[0.0, 1.0], [1.0, 0.0]], [0, 1]
    with pytest.raises(ValueError, match=match):
        fit(MLP(2, [2, 1]), X, y, progress=False, **kwargs)


def test_bad_data():
    with pytest.raises(ValueError, match="2 rows but y has 3"):
        fit(MLP(2, [1]), [[0, 1], [1, 0]], [0, 1, 1], progress=False)
    with pytest.raises(ValueError, match="takes 3 inputs but X has 2"):
        fit(MLP(3, [1]), [[0, 1], [1, 0]], [0, 1], progress=False)
    with pytest.raises(ValueError, match="no training data"):
        fit(MLP(2, [1]), [], [], progress=False)
    with pytest.raises(ValueError, match="2-D"):
        fit(MLP(2, [1]), [0.0, 1.0], [0, 1], progress=False)


# ---------------------------------------------------------------------------------------------
# mini-batches, schedules, optimizers, validation
# ---------------------------------------------------------------------------------------------
def test_minibatches_are_seeded():
    from micrograd.data import make_moons
    X, y = make_moons(40, noise=0.1, random_state=0)

    def run(seed):
        random.seed(0)
        model = MLP(2, [4, 1])
        h = fit(model, X, y, batch_size=8, steps=12, seed=seed, lr=0.1, progress=False)
        return h.loss, weights(model)

    assert run(3) == run(3)
    assert run(3)[0] != run(4)[0]


def test_minibatch_epochs_cover_every_sample():
    from micrograd.train import _batch_indices
    gen = _batch_indices(10, 4, seed=0)
    epoch = [next(gen) for _ in range(3)]
    assert [len(b) for b in epoch] == [4, 4, 2]
    assert sorted(i for b in epoch for i in b) == list(range(10))
    assert next(_batch_indices(10, None, 0)) is None
    assert next(_batch_indices(10, 10, 0)) is None


@pytest.mark.parametrize("schedule", ["constant", "linear", "cosine", "step",
                                      lambda k: 0.1 / (1 + k)])
def test_schedules_set_the_lr_of_each_step(schedule):
    X, y = [[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], [0, 1, 1]
    h = fit(MLP(2, [3, 1]), X, y, lr=0.1, schedule=schedule, steps=8, progress=False)
    assert len(h.lr) == 8 and h.lr[0] == pytest.approx(0.1)
    if schedule != "constant":
        assert h.lr[-1] < h.lr[0]


def test_sgd_with_momentum_and_an_optimizer_object():
    X, y = [[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], [0, 1, 1]
    random.seed(0)
    m = MLP(2, [3, 1])
    h = fit(m, X, y, optimizer="sgd", lr=0.1, steps=5, optimizer_options={"momentum": 0.9},
            progress=False)
    assert h.steps == 5
    opt = optim.Adam(m.parameters(), lr=0.01)
    h = fit(m, X, y, optimizer=opt, lr=0.02, steps=3, progress=False)
    assert opt.t == 3 and h.lr == [0.02] * 3


def test_validation_history():
    from micrograd.data import make_moons
    X, y = make_moons(50, noise=0.1, random_state=0)
    Xv, yv = make_moons(20, noise=0.1, random_state=1)
    random.seed(0)
    h = fit(MLP(2, [8, 1]), X, y, steps=10, lr=0.5, X_val=Xv, y_val=yv, eval_every=4,
            progress=False)
    assert h.val_step == [3, 7, 9]
    assert len(h.val_loss) == len(h.val_accuracy) == 3
    assert all(0 <= a <= 1 for a in h.val_accuracy)


def test_progress_bar_shows_step_loss_and_accuracy(capsys):
    X, y = [[0.0, 1.0], [1.0, 0.0]], [0, 1]
    fit(MLP(2, [2, 1]), X, y, steps=3, lr=0.1, progress=True)
    err = capsys.readouterr().err
    assert "3/3" in err and "loss=" in err and "acc=" in err


def test_fit_ends_with_a_one_line_summary_after_the_bar(capsys):
    X, y = [[0.0, 1.0], [1.0, 0.0]], [0, 1]
    h = fit(MLP(2, [2, 1]), X, y, steps=3, lr=0.1, progress=True)
    out, err = capsys.readouterr()
    last = err.rstrip("\n").split("\n")[-1]
    assert last == (f"fit took {h.seconds:.1f} s: 3 steps, final loss {h.loss[-1]:.4g}, "
                    f"accuracy {h.accuracy[-1]:.1%}")
    assert err.index("3/3") < err.index("fit took") and out == ""
    fit(MLP(2, [2, 1]), X, y, steps=3, lr=0.1, progress=False)
    assert capsys.readouterr() == ("", "")                  # no bar, no summary


def test_history_prints_one_line():
    h = History(loss=[1.0, 0.123456], accuracy=[0.5, 0.75], lr=[0.1, 0.1])
    assert repr(h) == str(h) == "History(2 steps, final loss 0.1235, accuracy 75.0%)"
    h.val_accuracy = [0.625]
    h.stopped_reason = "interrupted after 2 of 100 steps"
    assert repr(h) == ("History(2 steps, final loss 0.1235, accuracy 75.0%, held-out accuracy "
                       "62.5%; interrupted after 2 of 100 steps)")
    assert repr(History()) == "History(no steps)"
    assert repr(History(loss=[2.0] * 1000, accuracy=[1.0] * 1000)) == \
        "History(1000 steps, final loss 2, accuracy 100.0%)"


def test_live_outside_a_notebook_trains_with_a_warning():
    X, y = [[0.0, 1.0], [1.0, 0.0]], [0, 1]
    random.seed(0)
    with pytest.warns(UserWarning, match=r"^fit\(live=...\) draws only in a Jupyter notebook; "
                                         r"training without pictures"):
        h = fit(MLP(2, [2, 1]), X, y, steps=3, lr=0.1, progress=False, live=True)
    random.seed(0)
    assert h.loss == fit(MLP(2, [2, 1]), X, y, steps=3, lr=0.1, progress=False).loss


@pytest.mark.parametrize("live", [0, -2, 2.5, "yes"])
def test_bad_live_is_refused(live):
    with pytest.raises(ValueError, match=f"live must be True, False or a number of steps >= 1, "
                                         f"got {live!r}"):
        fit(MLP(2, [2, 1]), [[0.0, 1.0]], [1], steps=3, progress=False, live=live)


# ---------------------------------------------------------------------------------------------
# stopping: Ctrl-C, callbacks, divergence
# ---------------------------------------------------------------------------------------------
def test_keyboard_interrupt_keeps_the_model_and_returns_the_history():
    X, y, model = demo_setup()

    def ctrl_c_at_step_5(k, model, history):
        if k == 5:
            raise KeyboardInterrupt

    h = demo_fit(model, X, y, steps=100, callback=ctrl_c_at_step_5)
    assert h.interrupted
    assert h.steps == 6 and "interrupted after 6 of 100 steps" in h.stopped_reason
    X2, y2, reference = demo_setup()
    demo_fit(reference, X2, y2, steps=6)
    assert weights(model) == weights(reference)        # 6 complete updates, kept


def test_sigint_stops_after_the_current_step():
    """A real Ctrl-C (SIGINT) during a step lets the step finish, then stops."""
    X, y, model = demo_setup()

    def press_ctrl_c(k, model, history):
        if k == 2:
            os.kill(os.getpid(), signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)
    h = demo_fit(model, X, y, steps=50, callback=press_ctrl_c)
    assert h.interrupted and h.steps == 3
    assert signal.getsignal(signal.SIGINT) is before       # the handler is put back
    X2, y2, reference = demo_setup()
    demo_fit(reference, X2, y2, steps=3)
    assert weights(model) == weights(reference)


def test_callback_can_stop_training():
    X, y, model = demo_setup()
    seen = []

    def cb(k, model, history):
        seen.append((k, history.steps))
        return k == 2

    h = demo_fit(model, X, y, steps=10, callback=cb)
    assert seen == [(0, 1), (1, 2), (2, 3)]
    assert h.steps == 3 and not h.interrupted and "callback" in h.stopped_reason


@pytest.mark.slow
def test_nan_loss_stops_with_the_step_in_the_message(monkeypatch):
    real_hinge = losses.LOSSES["hinge"]
    calls = []

    def hinge_that_breaks(scores, labels):
        calls.append(1)
        out = real_hinge(scores, labels)
        return out * float("nan") if len(calls) == 18 else out

    monkeypatch.setitem(losses.LOSSES, "hinge", hinge_that_breaks)
    X, y, model = demo_setup()
    with pytest.raises(TrainingDiverged, match=r"^loss became nan at step 17$") as info:
        demo_fit(model, X, y, steps=30)
    assert info.value.step == 17 and info.value.history.steps == 17
    assert all(math.isfinite(w) for w in weights(model))    # the bad step did not update


def test_huge_learning_rate_diverges_cleanly():
    X, y, model = demo_setup()
    with pytest.raises(TrainingDiverged, match=r"loss became (nan|inf) at step \d+"):
        fit(model, X, y, lr=1e6, steps=50, progress=False)


def test_overflow_inside_the_loss_is_divergence_too():
    X, y, model = demo_setup()
    with pytest.raises(TrainingDiverged, match=r"loss became inf at step \d+"):
        fit(model, X, y, loss="mse", lr=1e6, steps=50, progress=False)


# ---------------------------------------------------------------------------------------------
# evaluate / predict
# ---------------------------------------------------------------------------------------------
def test_evaluate_matches_the_training_loss_and_builds_no_graph():
    X, y, model = demo_setup()
    h = demo_fit(model, X, y, steps=3)
    X2, y2, fresh = demo_setup()                    # same initial weights as step 0
    loss0, acc0 = evaluate(fresh, X2, y2, "hinge")
    reg = 1e-4 * sum(p.data * p.data for p in fresh.parameters())
    assert loss0 + reg == pytest.approx(h.loss[0], rel=1e-12)
    assert acc0 == h.accuracy[0]
    assert isinstance(loss0, float)
    with pytest.raises(ValueError, match="no data"):
        evaluate(model, [], [], "hinge")


@pytest.mark.slow
def test_predict_matches_scores():
    X, y, model = demo_setup()
    demo_fit(model, X, y, steps=20)
    scores = predict_scores(model, X)
    assert all(isinstance(s, float) for s in scores)
    assert predict(model, X) == [int(s > 0) for s in scores]
    assert n_outputs(model) == 1


def test_history_helpers():
    h = History(loss=[1.0, 0.5], accuracy=[0.5, 1.0], lr=[0.1, 0.1])
    assert h.steps == 2 and h.final_loss == 0.5 and h.final_accuracy == 1.0
    d = h.to_dict()
    assert d["loss"] == [1.0, 0.5] and d["interrupted"] is False
    assert History().final_loss is None


# ---------------------------------------------------------------------------------------------
# compiled training (micrograd.compiler, written separately)
# ---------------------------------------------------------------------------------------------
def test_compiled_training_matches_eager():
    X, y, model = demo_setup()
    h = demo_fit(model, X, y, steps=12, compiled=True)
    assert h.loss[:4] == DEMO_LOSSES and h.accuracy[:4] == DEMO_ACCURACY
    X2, y2, eager = demo_setup()
    h2 = demo_fit(eager, X2, y2, steps=12)
    assert h.loss == h2.loss and weights(model) == weights(eager)     # bit for bit


def test_compiled_training_says_why_without_the_compiler(monkeypatch):
    from micrograd.train import CompilerUnavailable
    monkeypatch.setitem(sys.modules, "micrograd.compiler", None)     # as if numpy were missing
    X, y, model = demo_setup()
    with pytest.raises(CompilerUnavailable, match="micrograd.compiler"):
        demo_fit(model, X, y, steps=2, compiled=True)


def test_compiled_minibatch_cross_entropy_matches_eager():
    X, y = three_blobs(50)
    runs = []
    for compiled in (False, True):
        random.seed(3)
        model = MLP(2, [6, 3])
        h = fit(model, X, y, loss="cross_entropy", optimizer="adam", lr=0.05, steps=12,
                batch_size=16, compiled=compiled, progress=False)     # batches of 16,16,16,2
        runs.append((h, weights(model)))
    (h1, w1), (h2, w2) = runs
    assert h1.accuracy == h2.accuracy
    assert h2.loss == pytest.approx(h1.loss, rel=1e-12)
    assert w2 == pytest.approx(w1, rel=1e-9, abs=1e-12)
