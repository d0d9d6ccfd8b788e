"""fit's callbacks: functions and Callback objects, their start/due/end, and a compiled fit
writing the weights back only for the steps a callback is due."""
import random

import pytest

from micrograd.callbacks import Callback, as_callbacks
from micrograd.nn import MLP
from micrograd.train import fit

X = [[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]
Y = [0, 1, 1, 0]


class Recorder(Callback):
    def __init__(self, every):
        self.every, self.seen = every, []

    def start(self, model, history):
        self.seen.append(("start", history.steps))

    def due(self, k):
        return k % self.every == 0

    def __call__(self, k, model, history):
        self.seen.append((k, history.steps, [p.data for p in model.parameters()]))

    def end(self, model, history):
        self.seen.append(("end", history.steps))


def weights(model):
    return [p.data for p in model.parameters()]


def test_a_callback_object_hears_start_its_steps_and_end_with_current_weights():
    random.seed(0)
    model, snapshots = MLP(2, [4, 1]), []
    rec = Recorder(every=3)
    fit(model, X, Y, steps=7, lr=0.1, progress=False, callbacks=[rec],
        callback=lambda k, m, h: snapshots.append(weights(m)))
    assert [s[:2] for s in rec.seen] == [("start", 0), (0, 1), (3, 4), (6, 7), ("end", 7)]
    assert [s[2] for s in rec.seen[1:4]] == [snapshots[0], snapshots[3], snapshots[6]]


def test_compiled_fit_syncs_the_weights_for_a_due_callback_and_trains_the_same():
    random.seed(0)
    eager, rec_e = MLP(2, [4, 1]), Recorder(every=2)
    h1 = fit(eager, X, Y, steps=6, lr=0.1, progress=False, callbacks=[rec_e])
    random.seed(0)
    compiled, rec_c = MLP(2, [4, 1]), Recorder(every=2)
    h2 = fit(compiled, X, Y, steps=6, lr=0.1, progress=False, callbacks=[rec_c], compiled=True)
    assert h1.loss == h2.loss and weights(eager) == weights(compiled)
    assert rec_e.seen == rec_c.seen                   # the same weights at steps 0, 2, 4


def test_every_callback_runs_before_any_one_stops_training():
    calls = []

    def a(k, model, history):
        calls.append(("a", k))
        return k == 1

    def b(k, model, history):
        calls.append(("b", k))

    random.seed(0)
    h = fit(MLP(2, [2, 1]), X, Y, steps=5, progress=False, callbacks=[a, b])
    assert calls == [("a", 0), ("b", 0), ("a", 1), ("b", 1)]
    assert h.steps == 2 and h.stopped_reason == "stopped by the callback after step 1"


def test_end_runs_after_ctrl_c_too():
    rec = Recorder(every=1)

    def ctrl_c(k, model, history):
        if k == 2:
            raise KeyboardInterrupt

    random.seed(0)
    h = fit(MLP(2, [2, 1]), X, Y, steps=5, progress=False, callbacks=[rec, ctrl_c])
    assert h.interrupted and rec.seen[-1] == ("end", 3)


def test_a_callback_that_is_not_callable_is_refused_by_name():
    with pytest.raises(ValueError, match=r"^a callback must be a function \(k, model, history\) "
                                         r"or a Callback, got 3$"):
        fit(MLP(2, [2, 1]), X, Y, steps=2, progress=False, callbacks=[3])
    assert as_callbacks(None) == []


@pytest.mark.parametrize("every", [0, -1, 2.5, True])
def test_a_live_picture_needs_a_whole_number_of_steps(every):
    from micrograd.viz.notebook import LivePicture
    with pytest.raises(ValueError, match=rf"^every must be a number of steps >= 1, got {every!r}$"):
        LivePicture(MLP(2, [2, 1]), X, Y, every=every)


def test_one_callback_object_needs_no_list():
    rec = Recorder(every=2)
    random.seed(0)
    fit(MLP(2, [2, 1]), X, Y, steps=3, progress=False, callbacks=rec)
    assert [s[:2] for s in rec.seen] == [("start", 0), (0, 1), (2, 3), ("end", 3)]
