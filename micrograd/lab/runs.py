"""Run control, the one state machine of both labs: `micrograd lab` (a training thread, HTTP)
and the lab in the static site (Pyodide's one thread, the worker's message loop).

A Run is settings -> data -> model -> steps: its curves and the snapshot (weights, grads) the
page is shown. A Trainer holds the current run and what the page asked of it: play, pause, one
more step, a new run in its place (Reset, a setting changed, a point added), and the play speed.
After every step it decides the same way in both labs (`_after`): go on at once, wait out the
pace, or wait to be told. Only how it waits differs:

  ThreadedTrainer   `micrograd lab`. One thread trains the run with one `micrograd.train.fit`
                    call, whose callback after every step publishes the snapshot and then waits
                    on the session's condition. A new run does not wait for the old one's step:
                    the old run is cancelled, and the step notices within a layer of one data
                    point's forward pass or one data point's backward pass, because fit trains
                    a thin wrapper of the model (`_Cancellable`) that checks between layers, and
                    ends every data point's output in a `checkpoint` node (the identity: its
                    grad passes through as is, times 1.0, so the numbers are fit's) whose
                    derivative checks too. The one part no check reaches is micrograd.compile's
                    compile of the traced step; settings.LIMITS["compiled_work"] keeps it to
                    about half a second of a core.
  SteppedTrainer    the site. Nothing can wait inside a step there (a worker has one thread, and
                    waiting inside Python would need WebAssembly's JSPI, which Firefox and
                    Safari do not have), so the worker's message loop calls `advance()`, which
                    runs whole steps for a short while and returns; the page's requests are
                    answered between two calls. The steps are `_Steps`: one fit call a step,
                    with everything fit keeps from step to step (the optimizer and its moments,
                    the schedule, the batches) kept across the calls, so the numbers are those
                    of the one fit call (tests/test_lab_session.py compares them).

One lock, the session's condition, guards all of this; the threaded trainer takes it only
between steps and at a run's start and end, so requests never wait for a step.
"""
import threading
import time

from micrograd import io
from micrograd.engine import Op
from micrograd.lab import settings as lab_settings
from micrograd.train import TrainingDiverged, fit, make_optimizer, make_schedule
from micrograd.weights import get_weights

__all__ = ["Run", "Trainer", "ThreadedTrainer", "SteppedTrainer", "Cancelled", "ENDED"]

ENDED = ("done", "diverged", "error")


class Cancelled(Exception):
    """The run was told to stop (replaced by a new one, or the session closing)."""


class Run:
    """One training run: its settings, data and model, and what the page has seen of it.
    `numbers` makes the data, the network's inputs and the views (numpy's in `micrograd lab`,
    plain Python's in the site: see micrograd.lab.session.NUMPY)."""

    def __init__(self, run_id, settings, numbers, model=None, model_file=None):
        self.id = run_id
        self.settings = settings
        # the points the page shows, as lists: [x1, x2] rows and int labels
        self.X_train, self.X_test, self.y_train, self.y_test = numbers.data(settings)
        # the network's inputs (the chosen features of the points)
        self.F_train = numbers.features(settings, self.X_train)
        self.F_test = None if self.X_test is None else numbers.features(settings, self.X_test)
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
        self.published = None          # when the last step was published (for the pace)
        self.fit_steps = None          # the site's _Steps, once it trains
        self.version, self.view, self.view_made, self.view_cost = 0, None, 0.0, 0.0
        self.publish(self.model)
        self.bounds = _bounds(self.X_train[:len(self.X_train) - len(settings.points)] +
                              (self.X_test or []))

    def publish(self, model):
        self.weights = get_weights(model)
        self.grads = [p.grad for p in model.parameters()]
        self.version += 1

    def check(self):
        """Raise Cancelled if this run has been told to stop (called inside a step)."""
        if self.stop:
            raise Cancelled


def _bounds(points):
    """A square around the dataset's points with a margin, as [x0, x1, y0, y1] (the learner's
    own points do not move it: the plane stays put while one clicks)."""
    lo = [min(p[c] for p in points) for c in (0, 1)]
    hi = [max(p[c] for p in points) for c in (0, 1)]
    half = max(max(hi[0] - lo[0], hi[1] - lo[1]) / 2 * 1.15, 0.5)
    mid = [(lo[c] + hi[c]) / 2 for c in (0, 1)]
    return [mid[0] - half, mid[0] + half, mid[1] - half, mid[1] + half]


class Trainer:
    """The current run and what the page asked of it; the rules both labs share. Every public
    method is called with the session's condition `cond` held."""

    def __init__(self, cond):
        self._cond = cond
        self.run = None
        self.speed = 0.0                 # steps per second; 0: as fast as the engine goes

    def replace(self, run):
        """Make `run` the current run; the old one is cancelled (a threaded step stops within a
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

    def close(self, wait=True):
        if self.run is not None:
            self.run.stop, self.run.playing = True, False
        self._cond.notify_all()

    def _wake(self):
        self._cond.notify_all()

    # -- the rules of a run, after each step -----------------------------------------------------
    def _wanted(self, run):
        """The run has not begun, and the page wants a step of it."""
        return not run.started and not run.stop and (run.playing or run.budget > 0)

    def _begin(self, run):
        run.started = True
        run.step_began, run.stepping = time.monotonic(), True

    def _record(self, run, k, history):
        """Step k is done: its numbers into the curves, the snapshot published."""
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
        run.published = time.monotonic()

    def _after(self, run):
        """What a run with a published step waits for: 0, the next step now; a number of
        seconds, the play speed's pace; None, the page (paused, or stopped)."""
        if run.stop:
            return None
        if run.playing:                  # the speed may change while it waits: read it anew
            return max(0.0, run.published + (1.0 / self.speed if self.speed else 0.0) -
                       time.monotonic())
        if run.budget > 0:
            return 0.0
        run.status = "paused"
        return None

    def _go_on(self, run):
        run.stepping = not run.stop
        run.step_began = time.monotonic()

    def _end(self, run, end):
        """The run has ended (`end`: (status, message)) or was cancelled (None)."""
        if end is not None and not run.stop:
            run.status, run.message = end
        run.playing = run.stepping = False
        run.thread = None
        self._cond.notify_all()


def _ending(run, error):
    """(status, message) for the exception that ended a run's training, or None: cancelled."""
    if isinstance(error, Cancelled):
        return None
    if isinstance(error, TrainingDiverged):
        return "diverged", f"training diverged: {error}; try a smaller learning rate"
    return "error", f"training stopped: {type(error).__name__}: {error}"


# ---------------------------------------------------------------------------------------------
# micrograd lab: a training thread, one fit call a run
# ---------------------------------------------------------------------------------------------
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


class ThreadedTrainer(Trainer):
    """`micrograd lab`'s: the session's one training thread, for its whole life. It trains the
    current run while the page wants steps, and when the run ends or is replaced it picks up
    the next."""

    def __init__(self, cond, name="micrograd-lab-trainer"):
        super().__init__(cond)
        self._name = name
        self._thread = None
        self._closed = self._left = False

    def close(self, wait=True, timeout=10):
        """Cancel the run and end the thread (wait=True: until it has ended)."""
        self._closed = True
        super().close()
        thread = self._thread
        if wait and thread is not None and thread is not threading.current_thread():
            if self._cond.wait_for(lambda: self._left, timeout=timeout):
                thread.join(timeout)              # it holds nothing now: only returning is left

    def _wake(self):
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, daemon=True, name=self._name)
            self._thread.start()
        self._cond.notify_all()

    def _loop(self):
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or self._wanted(self.run))
                if self._closed:
                    self._left = True             # what close() waits for
                    self._cond.notify_all()
                    return
                run = self.run
                self._begin(run)
                run.thread = threading.current_thread()
            self._train(run)

    def _train(self, run):
        s = run.settings
        model = _Cancellable(run, checkpoints=not s.compiled)
        try:
            fit(model, run.F_train, run.y_train, **lab_settings.fit_arguments(s),
                progress=False, callback=lambda k, _, h: self._after_step(run, k, h),
                X_val=run.F_test, y_val=run.y_test, eval_every=1)
            end = ("done", f"finished: {s.steps} steps")
        except Exception as e:           # shown on the page; the server keeps running
            end = _ending(run, e)
        with self._cond:
            self._end(run, end)

    def _after_step(self, run, k, history):
        """fit's callback: publish step k, then wait until the page wants the next step."""
        with self._cond:
            self._record(run, k, history)
            while (left := self._after(run)) != 0 and not run.stop:
                self._cond.wait(left)
            self._go_on(run)
            return True if run.stop else None


# ---------------------------------------------------------------------------------------------
# The site: whole steps while the worker's loop lets it
# ---------------------------------------------------------------------------------------------
class _Steps:
    """A run's fit, one step a call, with the numbers of one fit(...) call: what fit keeps from
    step to step is kept here (the optimizer, so its momentum or Adam's moments; the schedule;
    the stream of batches), and each call is fit(steps=1) on that step's batch at that step's
    learning rate."""

    def __init__(self, run):
        from micrograd.train import _batch_indices       # fit's own batches, seed for seed
        s, kw = run.settings, lab_settings.fit_arguments(run.settings)
        self.run, self.k = run, 0
        self.optimizer = make_optimizer(kw["optimizer"], run.model.parameters(), s.lr,
                                        **(kw["optimizer_options"] or {}))
        self.lr_at = make_schedule(s.schedule, s.lr, s.steps)
        self.batches = _batch_indices(len(run.F_train), s.batch_size, s.seed)

    def step(self):
        """Step k: (k, its History)."""
        run, k, s = self.run, self.k, self.run.settings
        idx = next(self.batches)
        X, y = (run.F_train, run.y_train) if idx is None else \
            ([run.F_train[i] for i in idx], [run.y_train[i] for i in idx])
        lr = self.lr_at(k)
        try:
            history = fit(run.model, X, y, loss=s.loss, optimizer=self.optimizer, lr=lr,
                          schedule=lambda _: lr, steps=1, alpha=s.alpha, progress=False,
                          X_val=run.F_test, y_val=run.y_test, eval_every=1)
        except TrainingDiverged as e:       # fit counts this step as its 0th: say which it is
            raise TrainingDiverged(str(e).replace(" at step 0", f" at step {k}", 1), k,
                                   e.history) from None
        history.val_step = [k] * len(history.val_step)
        self.k += 1
        return k, history


class SteppedTrainer(Trainer):
    """The site's: `advance()` is called by the worker's message loop whenever it may train."""

    def advance(self, seconds=0.05):
        """Whole steps of the current run for about `seconds` (at least one, if one is due);
        then how long until it wants to be called again: 0, at once (the page's requests are
        answered first); a number of seconds, the play speed's pace; None, not until the
        page asks for something."""
        began = time.monotonic()
        while True:
            run = self.run
            if run.status in ENDED or run.stop:
                return None
            if not run.started:
                if not self._wanted(run):
                    return None
                self._begin(run)
            else:
                left = self._after(run)
                if left != 0:
                    return left
                self._go_on(run)
                if run.step == run.settings.steps:       # as fit returns after its last step
                    self._end(run, ("done", f"finished: {run.settings.steps} steps"))
                    return None
            try:
                if run.fit_steps is None:
                    run.fit_steps = _Steps(run)
                k, history = run.fit_steps.step()
            except Exception as e:           # shown on the page; the worker keeps answering
                self._end(run, _ending(run, e))
                return None
            self._record(run, k, history)
            if time.monotonic() - began >= seconds:
                return self._after(run)
