"""The lab's training session: one run at a time, trained by `fit` itself in a thread.

The run's model is trained by `micrograd.train.fit`, so the page shows exactly the numbers a
`fit(...)` call with the same settings gives. Its callback, called after every step, is where
the page gets its say: it publishes a snapshot (weights, grads, curves), then waits as long as
the page wants (paused, or pacing the play speed), or returns True to end the run (Reset).

One lock, `_cond`, guards all session state; every method of Session takes it. The trainer
takes it only inside the callback, between steps, so the page's requests never wait for a step
to finish. Nothing else needs guarding: the trainer's model is its own (the page sees the
snapshot), a point's graph is built on a copy, and the engine's grad mode is per thread, so
the trainer's `no_grad` evaluation does not reach a request's thread.

The trainer's model is fused (`fused=True`: one node per neuron's w . x + b, the same numbers
as the lecture's graph, several times faster); nobody sees its graph. A point's graph, which
the learner opens in the stepper, is the lecture's: a * and a + node per input.

Everything the page is shown (heat maps, the network) comes from the snapshot, with numpy, via
micrograd.viz.plots' vectorised forward pass.
"""
import base64
import math
import os
import secrets
import tempfile
import threading
import time
from collections import OrderedDict
from types import SimpleNamespace

import numpy as np

from micrograd import io
from micrograd.engine import Value
from micrograd.lab import settings as lab_settings
from micrograd.lab.settings import Settings, SettingsError, parse_settings
from micrograd.train import TrainingDiverged, fit, loss_function, loss_targets
from micrograd.viz import plots

__all__ = ["Session", "RequestError", "BOUNDARY_GRID", "NEURON_GRID", "MAX_MODEL_BYTES"]

BOUNDARY_GRID = 64        # the decision boundary is evaluated on 64 x 64 points
NEURON_GRID = 24          # each hidden neuron on 24 x 24
MAX_MODEL_BYTES = 2 * 1024 * 1024     # a 6 x 32 model file is about 150 kB
STEPPER_PAGES = 8         # the last few inspected points keep their stepper page


class RequestError(ValueError):
    """A request the session refuses (the server answers 400 with this message)."""


class _Run:
    """One training run: its settings, data and model, what the page has seen of it."""

    def __init__(self, run_id, settings, model=None, model_file=None):
        self.id = run_id
        self.settings = settings
        self.X_train, self.X_test, self.y_train, self.y_test = lab_settings.load_data(settings)
        self.model = model if model is not None else lab_settings.make_model(settings)
        self.model_file = model_file
        self.initial_doc = io.to_dict(self.model) if model_file else None   # for Reset
        self.view_model = io.from_dict(io.to_dict(self.model))   # snapshots are drawn with it
        self.curves = {"loss": [], "accuracy": [], "test_loss": [], "test_accuracy": []}
        self.step = 0
        self.status, self.message = "ready", ""
        self.playing, self.budget, self.stop, self.thread = False, 0, False, None
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


def _bytes(a):
    """Values in [-1, 1] as base64 bytes 0..255 (what the page paints)."""
    q = np.clip(np.rint((np.asarray(a, dtype=np.float64) + 1) * 127.5), 0, 255)
    return base64.b64encode(q.astype(np.uint8).tobytes()).decode("ascii")


def _grid(bounds, n):
    x0, x1, y0, y1 = bounds
    xs = x0 + (np.arange(n) + 0.5) * (x1 - x0) / n
    ys = y1 - (np.arange(n) + 0.5) * (y1 - y0) / n           # row 0 at the top
    xx, yy = np.meshgrid(xs, ys)
    return np.column_stack([xx.ravel(), yy.ravel()])


def _finite_list(values):
    return [v if math.isfinite(v) else None for v in map(float, values)]


class Session:
    """The lab's state: the current run and the learner's settings (thread-safe)."""

    def __init__(self, settings=None):
        self._cond = threading.Condition()
        self._run_ids = 0
        self._steppers = OrderedDict()
        self.speed = 0.0                 # steps per second; 0: as fast as the engine goes
        with self._cond:
            self._new_run(settings or Settings())

    # -- runs ---------------------------------------------------------------------------------
    def _new_run(self, settings, model=None, model_file=None):
        """Start a fresh run. The old one is told to stop and left to finish its step on its
        own model (a step at the bounds takes seconds; the page should not wait for it)."""
        old = getattr(self, "run", None)
        playing = bool(old and old.playing)
        run = _Run(self._run_ids + 1, settings, model, model_file)   # may refuse the settings
        if old is not None:
            self._stop(old, wait=False)
        self._run_ids += 1
        self.run = run
        if playing:
            self._play(self.run)

    def _stop(self, run, wait=True):
        run.stop, run.playing = True, False
        self._cond.notify_all()
        if wait:
            self._cond.wait_for(lambda: run.thread is None or not run.thread.is_alive(),
                                timeout=30)

    def _start(self, run):
        if run.thread is None and run.status == "ready":
            run.thread = threading.Thread(target=self._train, args=(run,), daemon=True,
                                          name=f"micrograd-lab-run-{run.id}")
            run.thread.start()

    def _play(self, run):
        if run.status in ("ready", "paused", "playing"):
            run.playing = True
            self._start(run)
            run.status = "playing"
            self._cond.notify_all()

    def _train(self, run):
        s = run.settings
        with self._cond:
            run.step_began = time.monotonic()
            run.stepping = True
        try:
            fit(run.model, run.X_train, run.y_train, **lab_settings.fit_arguments(s),
                progress=False, callback=lambda k, model, h: self._after_step(run, k, h),
                X_val=run.X_test, y_val=run.y_test, eval_every=1)
            end = ("done", f"finished: {s.steps} steps")
        except TrainingDiverged as e:
            end = ("diverged", f"training diverged: {e}; try a smaller learning rate")
        except Exception as e:           # shown on the page; the server keeps running
            end = ("error", f"training stopped: {type(e).__name__}: {e}")
        with self._cond:
            if not run.stop:
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
            deadline = time.monotonic() + (1.0 / self.speed if self.speed else 0.0)
            while not run.stop:
                if run.playing:
                    left = deadline - time.monotonic()
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

    # -- what the page asks for ----------------------------------------------------------------
    def apply_settings(self, doc):
        """New settings (a partial or whole JSON object): a fresh run with them."""
        with self._cond:
            s = parse_settings(doc, base=self.run.settings)
            try:
                self._new_run(s)
            except SettingsError:
                raise
            except ValueError as e:
                raise SettingsError(str(e)) from None

    def control(self, action, speed=None):
        """play / pause / step / reset, or only set the speed (steps per second, 0: flat out)."""
        if action not in ("play", "pause", "step", "speed", "reset"):
            raise RequestError(f"unknown action {action!r}; use play, pause, step, speed or "
                               f"reset")
        with self._cond:
            run = self.run
            if action in ("play", "step") and run.status in ("done", "diverged", "error"):
                raise RequestError(f"the run has ended ({run.message}); press Reset to start "
                                   f"again")
            if speed is not None:
                self.speed = float(speed)
            if action == "play":
                self._play(run)
            elif action == "pause":
                run.playing = False
                if run.status == "playing":
                    run.status = "paused"
            elif action == "step":                  # one more step, then wait
                run.playing = False
                run.budget += 1
                self._start(run)
                run.status = "paused"
            elif action == "reset":
                self._new_run(run.settings, *self._loaded_model(run))
            self._cond.notify_all()

    def _loaded_model(self, run):
        """Reset of a run that began from a model file: back to that file's weights."""
        if run.model_file is None:
            return None, None
        return io.from_dict(run.initial_doc, fused=True), run.model_file

    def add_point(self, x1, x2, label):
        with self._cond:
            s = self.run.settings
            self.apply_settings({"points": s.points + [[x1, x2, label]]})

    def remove_point(self, index):
        with self._cond:
            points = list(self.run.settings.points)
            if not 0 <= index < len(points):
                raise RequestError(f"there is no point of yours number {index}; "
                                   f"you have {len(points)}")
            del points[index]
            self.apply_settings({"points": points})

    # -- the state the page polls -----------------------------------------------------------------
    def state(self, run_id=None, since=0, have=None):
        """Everything the page needs since it last asked: the run (data and settings only when
        the run is new to it), the curves from index `since`, the views unless it `have`s this
        version already."""
        with self._cond:
            run = self.run
            new = run_id != run.id
            since = 0 if new else min(since, run.step)
            out = {"run": run.id, "step": run.step, "steps": run.settings.steps,
                   "status": run.status, "message": run.message, "playing": run.playing,
                   "speed": self.speed, "version": run.version, "since": since,
                   "step_seconds": run.step_seconds, "stepping": run.stepping,
                   "settings": run.settings.to_dict(),
                   "curves": {k: _finite_list(v[since:]) for k, v in run.curves.items()}}
            if new:
                out["data"] = self._data(run)
                out["reproduce"] = lab_settings.reproduce(run.settings, run.model_file)
            if new or have != run.version:
                out["view"] = self._view(run)
            return out

    def _data(self, run):
        n_own = len(run.settings.points)
        rows = lambda X, y: [] if X is None else [[round(a, 5), round(b, 5), int(c)]
                                                  for (a, b), c in zip(X.tolist(), y.tolist())]
        return {"train": rows(run.X_train, run.y_train), "test": rows(run.X_test, run.y_test),
                "own_from": len(run.X_train) - n_own, "bounds": run.bounds,
                "classes": lab_settings.DATASET_CLASSES[run.settings.dataset],
                "model_file": run.model_file, "noise_defaults": lab_settings.DATASET_NOISE,
                "dataset_classes": lab_settings.DATASET_CLASSES}

    def _view(self, run):
        """Heat maps and the network at the last published step (cached per version)."""
        if run.view is not None and run.view["version"] == run.version:
            return run.view
        model = run.view_model
        plots.set_weights(model, run.weights)
        with np.errstate(all="ignore"):
            Z = plots.numpy_forward(model, _grid(run.bounds, BOUNDARY_GRID))
            pts = _grid(run.bounds, NEURON_GRID)
            hidden = [plots.numpy_forward(SimpleNamespace(layers=model.layers[:i + 1]), pts)
                      for i in range(len(model.layers) - 1)]
        if Z.shape[1] == 1:                      # one score: its sign is the class
            cls = (Z[:, 0] > 0).astype(float)
            strength = np.abs(np.tanh(Z[:, 0]))
        else:                                    # K scores: the argmax, and how sure it is
            p = np.exp(Z - Z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            cls = p.argmax(axis=1).astype(float)
            k = Z.shape[1]
            strength = (p.max(axis=1) - 1 / k) / (1 - 1 / k)
        strength = np.nan_to_num(strength)
        neurons = []
        for A in hidden:
            for j in range(A.shape[1]):
                a = np.nan_to_num(A[:, j], posinf=0.0, neginf=0.0)
                top = float(np.max(np.abs(a)))
                neurons.append({"img": _bytes(a / top if top > 0 else a),
                                "range": [float(a.min()), float(a.max())]})
        run.view = {"version": run.version, "step": run.step,
                    "boundary": {"n": BOUNDARY_GRID, "cls": _bytes(cls * 2 / 255 - 1),
                                 "strength": _bytes(strength * 2 - 1)},
                    "neurons": {"n": NEURON_GRID, "maps": neurons},
                    "network": self._network(run)}
        return run.view

    @staticmethod
    def _network(run):
        """Layer sizes and every weight and grad, per layer as [neuron][input..., bias]."""
        sizes = [2] + [len(layer.neurons) for layer in run.view_model.layers]
        w, g, i = [], [], 0
        for nin, nout in zip(sizes, sizes[1:]):
            n = nout * (nin + 1)
            w.append(_finite_list(run.weights[i:i + n]))
            g.append(_finite_list(run.grads[i:i + n]))
            i += n
        acts = [layer.neurons[0].activation for layer in run.view_model.layers]
        return {"sizes": sizes, "activations": acts, "weights": w, "grads": g}

    # -- one data point, all the way down --------------------------------------------------------
    def inspect(self, which, index):
        """The forward pass of one data point at the current weights, every neuron's data and
        grad after that point's backward, and a stepper page for its loss."""
        from micrograd.viz.stepper import MAX_NODES
        with self._cond:
            run = self.run
            X, y = (run.X_train, run.y_train) if which == "train" else (run.X_test, run.y_test)
            if which not in ("train", "test") or X is None:
                raise RequestError(f"no {which!r} set to pick a point from")
            if not 0 <= index < len(X):
                raise RequestError(f"the {which} set has {len(X)} points; there is no point "
                                   f"{index}")
            model = self._labelled_copy(run)
            s = run.settings
            x = [Value(float(v), label=f"x{i + 1}") for i, v in enumerate(X[index])]
            label = int(y[index])
            outs, a = [], x
            for li, layer in enumerate(model.layers):
                a = layer.forward(a)
                for j, v in enumerate(a):
                    v.label = f"h{li + 1}.{j + 1}" if li < len(model.layers) - 1 else \
                        f"out{j + 1}" if len(a) > 1 else "score"
                outs.append(a)
            scores = a[0] if len(a) == 1 else a
            name, loss_fn = loss_function(s.loss)
            target = loss_targets(name, [label], len(a))
            loss = loss_fn([scores], target)
            loss.label = "loss"
            loss.backward()
            n_nodes = len(loss.topo())
            stepper, stepper_error = None, None
            if n_nodes > MAX_NODES:
                stepper_error = (f"this point's graph has {n_nodes:,} nodes; the stepper "
                                 f"shows at most {MAX_NODES:,}: use fewer or narrower layers")
            else:
                stepper = secrets.token_urlsafe(9)
                title = f"backward() through the loss of {which} point #{index} " \
                        f"at step {run.step}"
                self._steppers[stepper] = (loss, title)
                while len(self._steppers) > STEPPER_PAGES:
                    self._steppers.popitem(last=False)
            layers = [{"name": f"hidden {i + 1} ({model.layers[i].neurons[0].activation})"
                       if i < len(outs) - 1 else "output",
                       "data": [v.data for v in vs], "grad": [v.grad for v in vs]}
                      for i, vs in enumerate(outs)]
            predicted = int(a[0].data > 0) if len(a) == 1 else \
                max(range(len(a)), key=lambda k: a[k].data)
            return {"which": which, "index": index, "x": [v.data for v in x],
                    "x_grad": [v.grad for v in x], "label": label, "predicted": predicted,
                    "loss": loss.data, "loss_name": name, "step": run.step, "layers": layers,
                    "nodes": n_nodes, "stepper": stepper, "stepper_error": stepper_error}

    @staticmethod
    def _labelled_copy(run):
        """A copy of the model at the snapshot's weights, each parameter named for the
        stepper: w2.3.1 is layer 2, neuron 3, input 1. Its graph is the lecture's (a * and a
        + node per input, not one fused node): the one the learner has seen drawn."""
        plots.set_weights(run.view_model, run.weights)
        model = io.from_dict(io.to_dict(run.view_model), fused=False)
        for li, layer in enumerate(model.layers):
            for j, n in enumerate(layer.neurons):
                for i, w in enumerate(n.w):
                    w.label = f"w{li + 1}.{j + 1}.{i + 1}"
                n.b.label = f"b{li + 1}.{j + 1}"
        return model

    def stepper_page(self, page_id):
        from micrograd.viz.stepper import stepper_html
        with self._cond:
            if page_id not in self._steppers:
                raise KeyError(page_id)
            root, title = self._steppers[page_id]
        return stepper_html(root, title=title)

    # -- model files ---------------------------------------------------------------------------
    def model_document(self):
        """(file name, the JSON document) of the model at the last step, in io's format."""
        with self._cond:
            run = self.run
            plots.set_weights(run.view_model, run.weights)
            meta = {"lab": run.settings.to_dict(), "step": run.step, "made_by": "micrograd lab"}
            return f"lab-{run.settings.dataset}-step{run.step}.json", \
                io.to_dict(run.view_model, meta=meta)

    def load_model_bytes(self, raw, name="model.json"):
        """Start a run from a model file's bytes, checked by io.load_model; the file's lab
        settings (if it has them) come with it."""
        if len(raw) > MAX_MODEL_BYTES:
            raise RequestError(f"{name} is larger than {MAX_MODEL_BYTES} bytes")
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.json")
            with open(path, "wb") as f:
                f.write(raw)
            try:
                model, meta = io.load_model(path, with_meta=True, fused=True)
            except io.ModelFileError as e:
                raise RequestError(str(e).replace(path, name)) from None
        with self._cond:
            s = self._settings_for(model, meta, name)
            self._new_run(s, model, name)
            return self.run.id

    def _settings_for(self, model, meta, name):
        layers = model.layers
        if len(layers[0].neurons[0].w) != 2:
            raise RequestError(f"{name}: the lab draws models of 2 inputs; this one takes "
                               f"{len(layers[0].neurons[0].w)}")
        if layers[-1].neurons[0].activation != "linear":
            raise RequestError(f"{name}: the lab's models have a linear output layer; this "
                               f"one's is {layers[-1].neurons[0].activation}")
        acts = {layer.neurons[0].activation for layer in layers[:-1]}
        if len(acts) > 1:
            raise RequestError(f"{name}: its hidden layers mix activations {sorted(acts)}")
        arch = {"layers": [len(layer.neurons) for layer in layers[:-1]]}
        if acts:
            arch["activation"] = acts.pop()
        saved = meta.get("lab") if isinstance(meta.get("lab"), dict) else {}
        base = self.run.settings
        try:
            s = parse_settings({**saved, **arch}, base=base)
        except SettingsError as e:
            raise RequestError(f"{name}: {e}") from None
        n_out = len(layers[-1].neurons)
        if lab_settings.n_outputs(s) != n_out:
            for loss in (("hinge",) if n_out == 1 else ("cross_entropy",)):
                try:
                    s = parse_settings({"loss": loss}, base=s)
                except SettingsError:
                    pass
            if lab_settings.n_outputs(s) != n_out:
                raise RequestError(f"{name}: the model has {n_out} outputs, but {s.dataset} "
                                   f"with {s.loss} needs {lab_settings.n_outputs(s)}")
        return s

    def close(self, wait=True):
        """End the run. wait=False does not wait for the step under way (the server, on
        its way out, leaves that to the daemon thread's end)."""
        with self._cond:
            self._stop(self.run, wait)

