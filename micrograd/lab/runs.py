"""Run control: one training run at a time, on one thread, stopped at once when it is replaced.

A run is trained by `micrograd.train.fit` itself, so the page shows exactly the numbers a
`fit(...)` call with the same settings gives. fit's callback, called after every step, is where
the page gets its say: it publishes a snapshot (weights, grads, curves), then waits as long as
the page wants (paused, or pacing the play speed), or returns True to end the run.

A session has at most one training thread, the Trainer's, for its whole life: it trains the
current run while the page wants steps, and when the run ends or is replaced it picks up the
next. A new run (a setting changed, Reset, a point added) does not wait for the old one's step
to finish: the old run is cancelled, and the step notices within a layer of one data point's
forward pass or one data point's backward pass, because fit trains a thin wrapper of the model
(`_Cancellable`) that checks between layers, and ends every data point's output in a
`checkpoint` node (the identity: its grad passes through as is, times 1.0, so the numbers are
fit's) whose derivative checks too. The cancelled step's graph is dropped with its exception.
The one part no check reaches is micrograd.compile's compile of the traced step (the trace
itself is checked); settings.LIMITS["compiled_work"] keeps it to about half a second of a core.

One lock, the session's condition, guards all of this; the trainer takes it only between
steps (in the callback) and at a run's start and end, so requests never wait for a step.
"""
import threading
import time

import numpy as np

from micrograd import io
from micrograd.engine import Op
from micrograd.lab import settings as lab_settings
from micrograd.train import TrainingDiverged, fit
from micrograd.viz import plots

__all__ = ["Run", "Trainer", "Cancelled"]

ENDED = ("done", "diverged", "error")


class Cancelled(Exception):
    """The run was told to stop (replaced by a new one, or the session closing)."""


class Run:
    """One training run: its settings, data and model, and what the page has seen of it."""

    def __init__(self, run_id, settings, model=None, model_file=None):
        self.id = run_id
        self.settings = settings
        self.X_train, self.X_test, self.y_train, self.y_test = lab_settings.load_data(settings)
        # the network's inputs (the chosen features of the points; the page shows the points)
        self.F_train = lab_settings.featurize(settings, self.X_train)
        self.F_test = None if self.X_test is None else \
            lab_settings.featurize(settings, self.X_test)
        self.model = model if model is not None else lab_settings.make_model(settings)
        self.model_file = model_file
        self.initial_doc = io.to_dict(self.model) if model_file else None   # for Reset
        self.view_model = io.from_dict(io.to_dict(self.model))   # snapshots are drawn with it
        self.curves = {"loss": [], "accuracy": [], "test_loss": [], "test_accuracy": []}
        self.step = 0
        self.status, self.message = "ready", ""
        self.playing, self.budget, self.stop, self.thread = False, 0, False, None
        self.started = False           # the trainer has taken it up (a run trains once)
        self.step_began, self.step_seconds = None, None     # how long the engine takes
        self.stepping = False          # the engine is in the middle of a step
        self.version, self.view = 0, None
        self.publish(self.model)
        lo, hi = self._bounds()
        self.bounds = [lo[0], hi[0], lo[1], hi[1]]

    def _bounds(self):
        """A square around the dataset's points with a margin (the learner's own points do
        not move it: the plane stays put while one clicks)."""
        X = self.X_train[:len(self.X_train) - len(self.settings.points)]
        if self.X_test is not None:
            X = np.concatenate([X, self.X_test])
        lo, hi = X.min(axis=0), X.max(axis=0)
        half = max(float(max(hi - lo)) / 2 * 1.15, 0.5)
        mid = (lo + hi) / 2
        return mid - half, mid + half

    def publish(self, model):
        params = model.parameters()
        self.weights = plots.get_weights(model)
        self.grads = [p.grad for p in params]
        self.version += 1

    def check(self):
        """Raise Cancelled if this run has been told to stop (called inside a step)."""
        if self.stop:
            raise Cancelled


def _identity(x):
    return x


class _Cancellable:
    """The run's model as fit sees it: the same layers and parameters, a check for a cancel
    before every layer, and (eagerly) a checkpoint node after every data point's outputs, so
    that the backward pass checks too, once per data point."""

    def __init__(self, run, checkpoints):
        self.model, self.layers, self.check = run.model, run.model.layers, run.check
        self.checkpoint = Op("checkpoint", forward=_identity,
                             local_grads=self._through_grad) if checkpoints else None

    def _through_grad(self, out, x):
        self.check()
        return (1.0,)

    def __call__(self, x):
        x = list(x)
        for layer in self.layers:
            self.check()
            x = layer.forward(x)
        if self.checkpoint is not None:
            x = [self.checkpoint.unary(v) for v in x]
        return x[0] if len(x) == 1 else x

    def parameters(self):
        return self.model.parameters()

    def zero_grad(self):
        self.model.zero_grad()


class Trainer:
    """The session's one training thread and the current run's pacing (see the module doc).
    Every public method is called with the session's condition `cond` held."""

    def __init__(self, cond, name="micrograd-lab-trainer"):
        self._cond = cond
        self._name = name
        self._thread = None
        self._closed = self._left = False
        self.run = None
        self.speed = 0.0                 # steps per second; 0: as fast as the engine goes

    # -- what the session asks for --------------------------------------------------------------
    def replace(self, run):
        """Make `run` the current run; the old one is cancelled (its step stops within a
        layer) and, if it was playing, the new one plays."""
        old = self.run
        playing = bool(old and old.playing)
        if old is not None:
            old.stop, old.playing = True, False
        self.run = run
        if playing:
            self.play()
        self._cond.notify_all()

    def play(self):
        run = self.run
        if run.status in ("ready", "paused", "playing"):
            run.playing = True
            run.status = "playing"
            self._wake()

    def pause(self):
        run = self.run
        run.playing = False
        if run.status == "playing":
            run.status = "paused"
        self._cond.notify_all()

    def step(self):
        """One more step, then wait."""
        run = self.run
        run.playing = False
        run.budget += 1
        run.status = "paused"
        self._wake()

    def close(self, wait=True, timeout=10):
        """Cancel the run and end the thread (wait=True: until it has ended)."""
        self._closed = True
        if self.run is not None:
            self.run.stop, self.run.playing = True, False
        self._cond.notify_all()
        thread = self._thread
        if wait and thread is not None and thread is not threading.current_thread():
            if self._cond.wait_for(lambda: self._left, timeout=timeout):
                thread.join(timeout)              # it holds nothing now: only returning is left

    # -- the thread -----------------------------------------------------------------------------
    def _wake(self):
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, daemon=True, name=self._name)
            self._thread.start()
        self._cond.notify_all()

    def _wanted(self):
        run = self.run
        return self._closed or (not run.started and not run.stop and
                                (run.playing or run.budget > 0))

    def _loop(self):
        while True:
            with self._cond:
                self._cond.wait_for(self._wanted)
                if self._closed:
                    self._left = True             # what close() waits for
                    self._cond.notify_all()
                    return
                run = self.run
                run.started, run.thread = True, threading.current_thread()
                run.step_began, run.stepping = time.monotonic(), True
            self._train(run)

    def _train(self, run):
        s = run.settings
        model = _Cancellable(run, checkpoints=not s.compiled)
        try:
            fit(model, run.F_train, run.y_train, **lab_settings.fit_arguments(s),
                progress=False, callback=lambda k, _, h: self._after_step(run, k, h),
                X_val=run.F_test, y_val=run.y_test, eval_every=1)
            end = ("done", f"finished: {s.steps} steps")
        except Cancelled:
            end = None
        except TrainingDiverged as e:
            end = ("diverged", f"training diverged: {e}; try a smaller learning rate")
        except Exception as e:           # shown on the page; the server keeps running
            end = ("error", f"training stopped: {type(e).__name__}: {e}")
        with self._cond:
            if end is not None and not run.stop:
                run.status, run.message = end
            run.playing = run.stepping = False
            run.thread = None
            self._cond.notify_all()

    def _after_step(self, run, k, history):
        """fit's callback: publish step k, then wait until the page wants the next step."""
        with self._cond:
            run.stepping = False
            run.step_seconds = time.monotonic() - run.step_began
            c = run.curves
            c["loss"].append(history.loss[-1])
            c["accuracy"].append(history.accuracy[-1])
            if history.val_step and history.val_step[-1] == k:
                c["test_loss"].append(history.val_loss[-1])
                c["test_accuracy"].append(history.val_accuracy[-1])
            run.step = k + 1
            run.publish(run.model)
            run.budget = max(0, run.budget - 1)
            published = time.monotonic()
            while not run.stop:
                if run.playing:           # the speed may change while it waits: read it anew
                    left = published + (1.0 / self.speed if self.speed else 0.0) - \
                        time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                elif run.budget > 0:
                    break
                else:
                    run.status = "paused"
                    self._cond.wait()
            run.stepping = not run.stop
            run.step_began = time.monotonic()
            return True if run.stop else None
