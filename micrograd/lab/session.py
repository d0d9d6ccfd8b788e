"""The lab's session: what the page may ask of the current run, answered under one lock. The
same session serves `micrograd lab` (its HTTP server, a training thread) and the lab in the
static site (micrograd.site.lab_session: the worker's message loop, Pyodide's one thread).

Run control (play, pause, step, a replaced run, the pace; the training thread or the site's
stepping) is in `runs`; what the page is shown of a run (heat maps, the network) in `views`.
Here: new settings, play/pause/step/reset, the learner's own points, the state the page polls,
one data point's forward and backward pass and its stepper page, and model files.

What differs between the two labs is given to the Session: its trainer (runs.ThreadedTrainer or
runs.SteppedTrainer), and its `numbers`, which make the data, the network's inputs and the
views: `NUMPY` here (numpy and scikit-learn, as `micrograd train` makes them), the site's in
plain Python (the same floats; tests/test_site.py compares them).

One lock, `_cond`, guards all session state; every method of Session takes it. The trainer takes
it only between steps, so the page's requests never wait for a step to finish. A point's graph
is built on a copy of the snapshot, and the engine's grad mode is per thread, so the trainer's
`no_grad` evaluation does not reach a request's thread.

The trainer's model is fused (`fused=True`: one node per neuron's w . x + b, the same numbers
as the lecture's graph, several times faster); nobody sees its graph. A point's graph, which
the learner opens in the stepper, is the lecture's: a * and a + node per input.
"""
import secrets
import threading
from collections import OrderedDict

from micrograd import io
from micrograd.engine import Value
from micrograd.lab import settings as lab_settings
from micrograd.lab import views
from micrograd.lab.runs import ENDED, Run, ThreadedTrainer
from micrograd.lab.settings import Settings, SettingsError, check_speed, parse_settings
from micrograd.train import loss_function, loss_targets
from micrograd.weights import set_weights

__all__ = ["Session", "RequestError", "NUMPY", "MAX_MODEL_BYTES", "BOUNDARY_GRID",
           "NEURON_GRID"]

BOUNDARY_GRID, NEURON_GRID = views.BOUNDARY_GRID, views.NEURON_GRID
# The largest model the lab trains (6 x 32) is about 150 kB as io writes it (indent=1): a
# model file may be 512 kB, and its layers and neurons are counted before any is built.
MAX_MODEL_BYTES = 512 * 1024
STEPPER_PAGES = 8         # the last few inspected points keep their stepper page


class RequestError(ValueError):
    """A request the session refuses (the server answers 400 with this message)."""


class _NumpyNumbers:
    """`micrograd lab`'s numbers: the data as `micrograd train` makes it (numpy, scikit-learn),
    the inputs and the pictures with numpy. Points and inputs are handed on as lists."""

    @staticmethod
    def data(s):
        X_tr, X_te, y_tr, y_te = lab_settings.load_data(s)
        return X_tr.tolist(), None if X_te is None else X_te.tolist(), y_tr.tolist(), \
            None if y_te is None else y_te.tolist()

    @staticmethod
    def features(s, rows):
        return lab_settings.featurize(s, rows).tolist()

    @staticmethod
    def view(run, fresh=True):
        return views.view(run)

    @staticmethod
    def check(s):
        """Settings these numbers cannot train raise SettingsError (here: none)."""


NUMPY = _NumpyNumbers()


class Session:
    """The lab's state: the current run and the learner's settings (thread-safe). `numbers`
    and `trainer` are what differ in the site (see the module doc); `served`: a point's stepper
    page may ask the lab's server for a pending nudge check."""

    def __init__(self, settings=None, numbers=NUMPY, trainer=ThreadedTrainer, served=True):
        self._cond = threading.Condition()
        self._numbers, self._served = numbers, served
        self._trainer = trainer(self._cond)
        self._run_ids = 0
        self._steppers = OrderedDict()       # page id -> (the loss's root, title)
        self._pages = {}                     # page id -> its HTML, made once
        self._build_lock = threading.Lock()  # one point's graph or stepper page made at a time
        with self._cond:
            self._new_run(settings or Settings())

    @property
    def run(self):
        return self._trainer.run

    @property
    def speed(self):
        return self._trainer.speed

    def _new_run(self, settings, model=None, model_file=None):
        """Start a fresh run; the old one is cancelled within a layer of its step."""
        self._numbers.check(settings)
        run = Run(self._run_ids + 1, settings, self._numbers, model, model_file)   # may refuse
        self._run_ids += 1
        self._trainer.replace(run)

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
        if speed is not None:
            speed = check_speed(speed)
        with self._cond:
            run = self.run
            if action in ("play", "step") and run.status in ENDED:
                raise RequestError(f"the run has ended ({run.message}); press Reset to start "
                                   f"again")
            if speed is not None:
                self._trainer.speed = speed
            if action == "play":
                self._trainer.play()
            elif action == "pause":
                self._trainer.pause()
            elif action == "step":
                self._trainer.step()
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
                   "curves": {k: views.finite_list(v[since:]) for k, v in run.curves.items()}}
            if new:
                out["data"] = self._data(run)
                out["reproduce"] = lab_settings.reproduce(run.settings, run.model_file)
            if new or have != run.version:
                view = self._numbers.view(run, fresh=new or not run.playing)
                if new or view["version"] != have:     # the site may keep an older one
                    out["view"] = view
            return out

    def _data(self, run):
        n_own = len(run.settings.points)
        rows = lambda X, y: [] if X is None else [[round(a, 5), round(b, 5), int(c)]
                                                  for (a, b), c in zip(X, y)]
        return {"train": rows(run.X_train, run.y_train), "test": rows(run.X_test, run.y_test),
                "own_from": len(run.X_train) - n_own, "bounds": run.bounds,
                "classes": lab_settings.DATASET_CLASSES[run.settings.dataset],
                "model_file": run.model_file, "noise_defaults": lab_settings.DATASET_NOISE,
                "dataset_classes": lab_settings.DATASET_CLASSES}

    # -- one data point, all the way down --------------------------------------------------------
    def inspect(self, which, index):
        """The forward pass of one data point at the current weights, every neuron's data and
        grad after that point's backward, and a stepper page for its loss. The session's lock
        is held only to copy the snapshot; the graph is built under the build lock (a crowd of
        requests builds one graph at a time, not all side by side)."""
        with self._build_lock:
            return self._inspect(which, index)

    def _inspect(self, which, index):
        from micrograd.viz.stepper import MAX_NODES
        with self._cond:
            run = self.run
            X, y = (run.X_train, run.y_train) if which == "train" else (run.X_test, run.y_test)
            if which not in ("train", "test") or X is None:
                raise RequestError(f"no {which!r} set to pick a point from")
            if not 0 <= index < len(X):
                raise RequestError(f"the {which} set has {len(X)} points; there is no point "
                                   f"{index}")
            set_weights(run.view_model, run.weights)
            doc, step, s = io.to_dict(run.view_model), run.step, run.settings
            point, label = [float(v) for v in X[index]], int(y[index])
        model = _labelled_model(doc)
        names = [lab_settings.FEATURES[f][0] for f in s.features]
        inputs = self._numbers.features(s, [point])[0]
        x = [Value(v, label=name) for v, name in zip(inputs, names)]
        try:
            outs, a = [], x
            for li, layer in enumerate(model.layers):
                a = layer.forward(a)
                for j, v in enumerate(a):
                    v.label = f"h{li + 1}.{j + 1}" if li < len(model.layers) - 1 else \
                        f"out{j + 1}" if len(a) > 1 else "score"
                outs.append(a)
            name, loss_fn = loss_function(s.loss)
            loss = loss_fn([a[0] if len(a) == 1 else a], loss_targets(name, [label], len(a)))
            loss.label = "loss"
            loss.backward()
        except (ValueError, OverflowError, ZeroDivisionError) as e:
            raise RequestError(f"this point's forward or backward pass has no finite result "
                               f"at these weights ({e}); the run may have diverged: press "
                               f"Reset") from None
        n_nodes = len(loss.topo())
        stepper, stepper_error = None, None
        if n_nodes > MAX_NODES:
            stepper_error = (f"this point's graph has {n_nodes:,} nodes; the stepper "
                             f"shows at most {MAX_NODES:,}: use fewer or narrower layers")
        else:
            stepper = secrets.token_urlsafe(9)
            title = f"backward() through the loss of {which} point #{index} at step {step}"
            with self._cond:
                self._steppers[stepper] = (loss, title)
                while len(self._steppers) > STEPPER_PAGES:
                    gone, _ = self._steppers.popitem(last=False)
                    self._pages.pop(gone, None)
        layers = [{"name": f"hidden {i + 1} ({model.layers[i].neurons[0].activation})"
                   if i < len(outs) - 1 else "output",
                   "data": [v.data for v in vs], "grad": [v.grad for v in vs]}
                  for i, vs in enumerate(outs)]
        predicted = int(a[0].data > 0) if len(a) == 1 else \
            max(range(len(a)), key=lambda k: a[k].data)
        return {"which": which, "index": index, "x": point, "inputs": [v.data for v in x],
                "input_names": names, "x_grad": [v.grad for v in x], "label": label,
                "predicted": predicted,
                "loss": loss.data, "loss_name": name, "step": step, "layers": layers,
                "nodes": n_nodes, "stepper": stepper, "stepper_error": stepper_error}

    def _stepper_root(self, page_id):
        with self._cond:
            if page_id not in self._steppers:
                raise KeyError(page_id)
            return self._steppers[page_id]

    def stepper_page(self, page_id):
        """The stepper page of an inspected point, made once (and one at a time: a burst of
        requests for pages does not make them side by side)."""
        from micrograd.viz.stepper import stepper_html
        with self._build_lock:
            page = self._pages.get(page_id)
            if page is None:
                root, title = self._stepper_root(page_id)
                try:
                    page = stepper_html(root, title=title, served=self._served)
                except ValueError as e:
                    raise RequestError(f"this point's stepper page cannot be made: {e}") \
                        from None
                with self._cond:
                    if page_id in self._steppers:
                        self._pages[page_id] = page
            return page

    def stepper_check(self, page_id, node):
        """A nudge check the stepper page left pending (over its budget): one leaf's."""
        from micrograd.viz.stepper import stepper_check
        root, _ = self._stepper_root(page_id)
        try:
            return stepper_check(root, node)
        except ValueError as e:
            raise RequestError(str(e)) from None

    # -- model files ---------------------------------------------------------------------------
    def model_document(self):
        """(file name, the JSON document) of the model at the last step, in io's format."""
        with self._cond:
            run = self.run
            set_weights(run.view_model, run.weights)
            meta = {"lab": run.settings.to_dict(), "step": run.step, "made_by": "micrograd lab"}
            return f"lab-{run.settings.dataset}-step{run.step}.json", \
                io.to_dict(run.view_model, meta=meta)

    def load_model_bytes(self, raw, name="model.json"):
        """Start a run from a model file's bytes: at most MAX_MODEL_BYTES, strict JSON, its
        layers and neurons counted against the lab's limits before any is built, then checked
        by io; the file's lab settings (if it has them) come with it."""
        if len(raw) > MAX_MODEL_BYTES:
            raise RequestError(f"{name} is larger than {MAX_MODEL_BYTES} bytes (the lab's "
                               f"largest model is about 150 kB)")
        try:
            doc = lab_settings.parse_json(raw)
        except ValueError as e:
            raise RequestError(f"{name} is not a micrograd model file: not valid JSON ({e})") \
                from None
        _check_model_size(doc, name)
        try:
            model = io.from_dict(doc, source=name, fused=True)
        except io.ModelFileError as e:
            raise RequestError(str(e)) from None
        meta = doc.get("meta") if isinstance(doc.get("meta"), dict) else {}
        with self._cond:
            s = self._settings_for(model, meta, name)
            self._new_run(s, model, name)
            return self.run.id

    def _settings_for(self, model, meta, name):
        layers = model.layers
        nin = len(layers[0].neurons[0].w)
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
        if "features" not in saved and nin == 2:      # a file from before features: x1, x2
            arch["features"] = ["x1", "x2"]
        base = self.run.settings
        try:
            s = parse_settings({**saved, **arch}, base=base)
            self._numbers.check(s)
        except SettingsError as e:
            raise RequestError(f"{name}: {e}") from None
        if nin != len(s.features):
            chosen = "" if s.features == ["x1", "x2"] else \
                f" ({', '.join(lab_settings.FEATURES[f][0] for f in s.features)})"
            raise RequestError(f"{name}: the lab draws models of {len(s.features)} "
                               f"inputs{chosen}; this one takes {nin}")
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
        """Cancel the run and end the training thread (wait=True: until it has ended, which
        is within a layer of the step under way)."""
        with self._cond:
            self._trainer.close(wait)


def _labelled_model(doc):
    """The model of an io document, each parameter named for the stepper: w2.3.1 is layer 2,
    neuron 3, input 1. Its graph is the lecture's (a * and a + node per input, not one fused
    node): the one the learner has seen drawn."""
    model = io.from_dict(doc, fused=False)
    for li, layer in enumerate(model.layers):
        for j, n in enumerate(layer.neurons):
            for i, w in enumerate(n.w):
                w.label = f"w{li + 1}.{j + 1}.{i + 1}"
            n.b.label = f"b{li + 1}.{j + 1}"
    return model


def _check_model_size(doc, name):
    """Refuse a model bigger than the lab trains from its outline alone, before io builds a
    neuron of it: LIMITS' hidden layers of LIMITS' neurons, and an output per class at most."""
    limits = lab_settings.LIMITS
    layers = doc.get("layers") if isinstance(doc, dict) else None
    if not isinstance(layers, list) or not layers:
        return                                         # io names what is wrong
    hidden, out = layers[:-1], layers[-1]
    if len(hidden) > limits["layers"]:
        raise RequestError(f"{name}: at most {limits['layers']} hidden layers (a scalar engine "
                           f"gets slow beyond); got {len(hidden)}")
    size = lambda layer: len(layer["neurons"]) if isinstance(layer, dict) and \
        isinstance(layer.get("neurons"), list) else 0
    for i, layer in enumerate(hidden):
        if size(layer) > limits["neurons"]:
            raise RequestError(f"{name}: hidden layer {i + 1} must have 1 to "
                               f"{limits['neurons']} neurons; got {size(layer):,}")
    most = max(lab_settings.DATASET_CLASSES.values())
    if size(out) > most:
        raise RequestError(f"{name}: the output layer has {size(out):,} neurons; the lab's "
                           f"models have at most {most} (one per class)")
