"""The lab in the site: micrograd.lab.session's answers, from one thread and without numpy.

The lab's page (micrograd/lab/static, unchanged) asks the same /api/... questions; the site's
page hands them to the worker, and `request(method, path, query, body)` answers them with the
same JSON the lab's server sends. What differs is underneath:

  - the data comes from micrograd.site.lab_data (numpy's and scikit-learn's numbers, in pure
    Python), the settings, the model and the `fit(...)` call from micrograd.lab.settings, so a
    run trains exactly as `micrograd lab` trains it;
  - there are no threads: `fit` runs inside `train()`, and its callback gives the browser's
    event loop a turn after every step (`wait`, which the worker makes a JavaScript Promise
    awaited through Pyodide's run_sync), so the page's requests (Pause, Reset) are answered
    between two steps;
  - the heat maps are evaluated in plain Python (a 64 x 64 grid, and 24 x 24 per neuron).
"""
import base64
import math
import re
import secrets
import time
from collections import OrderedDict

from micrograd import io
from micrograd.engine import Value
from micrograd.lab import settings as lab_settings
from micrograd.lab.settings import Settings, SettingsError, parse_settings
from micrograd.site import lab_data
from micrograd.train import TrainingDiverged, fit, loss_function, loss_targets

__all__ = ["LabSession", "RequestError"]

BOUNDARY_GRID = 64
NEURON_GRID = 24
STEPPER_PAGES = 8
MAX_MODEL_BYTES = 2 * 1024 * 1024     # micrograd.lab.session's


class RequestError(ValueError):
    """A request the lab refuses (400, this message)."""


def _finite_list(values):
    return [v if math.isfinite(v) else None for v in map(float, values)]


def _bytes(values):
    """Values in [-1, 1] as base64 bytes 0..255 (numpy's rint: half to even, as round())."""
    out = bytearray()
    for v in values:
        q = (v + 1) * 127.5
        out.append(0 if not q > 0 else 255 if q >= 255 else int(round(q)))
    return base64.b64encode(bytes(out)).decode("ascii")


def _grid(bounds, n):
    x0, x1, y0, y1 = bounds
    xs = [x0 + (i + 0.5) * (x1 - x0) / n for i in range(n)]
    ys = [y1 - (i + 0.5) * (y1 - y0) / n for i in range(n)]
    return [(x, y) for y in ys for x in xs]


def _act(name, z):
    if name == "relu":
        return z if z > 0 else 0.0
    if name == "tanh":
        return math.tanh(z)
    if name == "sigmoid":
        return 1 / (1 + math.exp(-z)) if z > -700 else 0.0
    return z


def _layer_outputs(weights, sizes, acts, pts):
    """Every layer's outputs at every point: out[layer][point] = [neuron values]."""
    out, i, current = [], 0, [list(p) for p in pts]
    for li, (nin, nout) in enumerate(zip(sizes, sizes[1:])):
        rows = [weights[i + j * (nin + 1): i + (j + 1) * (nin + 1)] for j in range(nout)]
        i += nout * (nin + 1)
        act = acts[li]
        current = [[_act(act, sum(w * x for w, x in zip(r, p)) + r[nin]) for r in rows]
                   for p in current]
        out.append(current)
    return out


class _Run:
    def __init__(self, run_id, settings, model=None, model_file=None):
        s = settings
        self.id, self.settings = run_id, s
        self.X_train, self.X_test, self.y_train, self.y_test = lab_data.lab_data(
            s.dataset, s.samples, s.noise, s.seed, s.test_fraction, s.points)
        self.model = model if model is not None else lab_settings.make_model(s)
        self.model_file = model_file
        self.initial_doc = io.to_dict(self.model) if model_file else None
        self.view_model = io.from_dict(io.to_dict(self.model))
        self.curves = {"loss": [], "accuracy": [], "test_loss": [], "test_accuracy": []}
        self.step = 0
        self.status, self.message = "ready", ""
        self.playing, self.budget, self.stop, self.training = False, 0, False, False
        self.step_began, self.step_seconds, self.stepping = None, None, False
        self.version, self.view, self.view_made, self.view_cost = 0, None, 0.0, 0.0
        self.publish(self.model)
        own = len(s.points)
        X = self.X_train[:len(self.X_train) - own] + (self.X_test or [])
        lo = [min(p[c] for p in X) for c in (0, 1)]
        hi = [max(p[c] for p in X) for c in (0, 1)]
        half = max(max(hi[0] - lo[0], hi[1] - lo[1]) / 2 * 1.15, 0.5)
        mid = [(lo[c] + hi[c]) / 2 for c in (0, 1)]
        self.bounds = [mid[0] - half, mid[0] + half, mid[1] - half, mid[1] + half]

    def publish(self, model):
        params = model.parameters()
        self.weights = [p.data for p in params]
        self.grads = [p.grad for p in params]
        self.version += 1


class LabSession:
    """The lab's state for one page; `wait(seconds)` gives the event loop a turn (the worker's
    Promise, through run_sync; None, as in CPython's tests, does not wait), `wait_wake()`
    sleeps until the next request."""

    def __init__(self, wait=None, wait_wake=None):
        self._wait = wait or (lambda seconds: None)
        self._wait_wake = wait_wake or (lambda: None)
        self._run_ids = 0
        self._steppers = OrderedDict()
        self.speed = 0.0
        self.run = None
        self._new_run(Settings())

    # -- runs ---------------------------------------------------------------------------------
    def _new_run(self, settings, model=None, model_file=None):
        old = self.run
        playing = bool(old and old.playing)
        run = _Run(self._run_ids + 1, settings, model, model_file)
        if old is not None:
            old.stop, old.playing = True, False
        self._run_ids += 1
        self.run = run
        if playing:
            self._play(run)

    def _play(self, run):
        if run.status in ("ready", "paused", "playing"):
            run.playing = True
            run.status = "playing"

    def trainer_wanted(self):
        """Whether the current run wants `train()` called (playing or a step asked for, and
        nobody training it yet)."""
        run = self.run
        return (run.playing or run.budget > 0) and not run.training and \
            run.status in ("ready", "paused", "playing")

    def train(self):
        """Train the current run with fit(...), stepping as the page asks, until it ends or is
        replaced. The worker calls it when trainer_wanted() says so."""
        run = self.run
        run.training = True
        s = run.settings
        run.step_began, run.stepping = time.monotonic(), True
        try:
            fit(run.model, run.X_train, run.y_train, **lab_settings.fit_arguments(s),
                progress=False, callback=lambda k, model, h: self._after_step(run, k, h),
                X_val=run.X_test, y_val=run.y_test, eval_every=1)
            end = ("done", f"finished: {s.steps} steps")
        except TrainingDiverged as e:
            end = ("diverged", f"training diverged: {e}; try a smaller learning rate")
        except Exception as e:
            end = ("error", f"training stopped: {type(e).__name__}: {e}")
        if not run.stop:
            run.status, run.message = end
        run.playing = run.stepping = run.training = False

    def _after_step(self, run, k, history):
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
        self._wait(0)                       # the page's requests get their turn after every step
        while not run.stop:
            if run.playing:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._wait(min(left, 0.25))
            elif run.budget > 0:
                break
            else:
                run.status = "paused"
                self._wait_wake()
        run.stepping = not run.stop
        run.step_began = time.monotonic()
        return True if run.stop else None

    # -- the page's requests ------------------------------------------------------------------
    def apply_settings(self, doc):
        s = parse_settings(doc, base=self.run.settings)
        if s.features != ["x1", "x2"]:       # (the lab computes them with numpy)
            raise SettingsError("input features beyond x1, x2 need numpy, which the site's "
                                "Python does not have: run `micrograd lab` for them")
        if s.compiled:
            raise SettingsError("the compiled step needs numpy, which the site's Python does "
                                "not have: run `micrograd lab` for it")
        try:
            self._new_run(s)
        except SettingsError:
            raise
        except ValueError as e:
            raise SettingsError(str(e)) from None

    def control(self, action, speed=None):
        if action not in ("play", "pause", "step", "speed", "reset"):
            raise RequestError(f"unknown action {action!r}; use play, pause, step, speed or "
                               f"reset")
        run = self.run
        if action in ("play", "step") and run.status in ("done", "diverged", "error"):
            raise RequestError(f"the run has ended ({run.message}); press Reset to start again")
        if speed is not None:
            self.speed = float(speed)
        if action == "play":
            self._play(run)
        elif action == "pause":
            run.playing = False
            if run.status == "playing":
                run.status = "paused"
        elif action == "step":
            run.playing = False
            run.budget += 1
            run.status = "paused"
        elif action == "reset":
            model, name = (None, None) if run.model_file is None else \
                (io.from_dict(run.initial_doc, fused=True), run.model_file)
            self._new_run(run.settings, model, name)

    def state(self, run_id=None, since=0, have=None):
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
            view = self._view(run, fresh=new or not run.playing)
            if new or view["version"] != have:
                out["view"] = view
        return out

    def _data(self, run):
        rows = lambda X, y: [] if X is None else [[round(a, 5), round(b, 5), int(c)]
                                                  for (a, b), c in zip(X, y)]
        return {"train": rows(run.X_train, run.y_train), "test": rows(run.X_test, run.y_test),
                "own_from": len(run.X_train) - len(run.settings.points), "bounds": run.bounds,
                "classes": lab_settings.DATASET_CLASSES[run.settings.dataset],
                "model_file": run.model_file, "noise_defaults": lab_settings.DATASET_NOISE,
                "dataset_classes": lab_settings.DATASET_CLASSES}

    def _view(self, run, fresh=True):
        """Heat maps and the network at the last published step. Plain Python takes a good
        part of a second for the maps, so while playing a view is made again only once the
        training has had three times that long (the page meanwhile keeps the last one)."""
        if run.view is not None and run.view["version"] == run.version:
            return run.view
        if not fresh and run.view is not None and \
                time.monotonic() - run.view_made < 4 * run.view_cost:
            return run.view
        began = time.monotonic()
        layers = run.view_model.layers
        sizes = [2] + [len(layer.neurons) for layer in layers]
        acts = [layer.neurons[0].activation for layer in layers]
        Z = _layer_outputs(run.weights, sizes, acts, _grid(run.bounds, BOUNDARY_GRID))[-1]
        hidden = _layer_outputs(run.weights, sizes[:-1], acts[:-1],
                                _grid(run.bounds, NEURON_GRID)) if len(sizes) > 2 else []
        cls, strength = [], []
        for z in Z:
            if len(z) == 1:
                cls.append(1.0 if z[0] > 0 else 0.0)
                strength.append(abs(math.tanh(z[0])))
            else:
                top = max(z)
                p = [math.exp(v - top) if math.isfinite(v - top) else 0.0 for v in z]
                total = sum(p) or 1.0
                p = [v / total for v in p]
                best = max(range(len(p)), key=p.__getitem__)
                cls.append(float(best))
                k = len(z)
                strength.append((p[best] - 1 / k) / (1 - 1 / k))
        strength = [0.0 if not math.isfinite(v) else v for v in strength]
        neurons = []
        for A in hidden:
            for j in range(len(A[0])):
                a = [row[j] if math.isfinite(row[j]) else 0.0 for row in A]
                top = max(abs(v) for v in a)
                neurons.append({"img": _bytes([v / top for v in a] if top > 0 else a),
                                "range": [min(a), max(a)]})
        run.view = {"version": run.version, "step": run.step,
                    "boundary": {"n": BOUNDARY_GRID, "cls": _bytes([c * 2 / 255 - 1 for c in cls]),
                                 "strength": _bytes([v * 2 - 1 for v in strength])},
                    "neurons": {"n": NEURON_GRID, "maps": neurons},
                    "network": self._network(run, sizes, acts)}
        run.view_made = time.monotonic()
        run.view_cost = run.view_made - began
        return run.view

    @staticmethod
    def _network(run, sizes, acts):
        w, g, i = [], [], 0
        for nin, nout in zip(sizes, sizes[1:]):
            n = nout * (nin + 1)
            w.append(_finite_list(run.weights[i:i + n]))
            g.append(_finite_list(run.grads[i:i + n]))
            i += n
        return {"sizes": sizes, "activations": acts, "weights": w, "grads": g,
                "features": ["x1", "x2"]}

    def add_point(self, x1, x2, label):
        self.apply_settings({"points": self.run.settings.points + [[x1, x2, label]]})

    def remove_point(self, index):
        points = list(self.run.settings.points)
        if not 0 <= index < len(points):
            raise RequestError(f"there is no point of yours number {index}; you have "
                               f"{len(points)}")
        del points[index]
        self.apply_settings({"points": points})

    def inspect(self, which, index):
        from micrograd.viz.stepper import MAX_NODES
        run = self.run
        X, y = (run.X_train, run.y_train) if which == "train" else (run.X_test, run.y_test)
        if which not in ("train", "test") or X is None:
            raise RequestError(f"no {which!r} set to pick a point from")
        if not 0 <= index < len(X):
            raise RequestError(f"the {which} set has {len(X)} points; there is no point {index}")
        model = self._labelled_copy(run)
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
        name, loss_fn = loss_function(run.settings.loss)
        loss = loss_fn([scores], loss_targets(name, [label], len(a)))
        loss.label = "loss"
        loss.backward()
        n_nodes = len(loss.topo())
        stepper, stepper_error = None, None
        if n_nodes > MAX_NODES:
            stepper_error = (f"this point's graph has {n_nodes:,} nodes; the stepper shows at "
                             f"most {MAX_NODES:,}: use fewer or narrower layers")
        else:
            stepper = secrets.token_urlsafe(9)
            self._steppers[stepper] = (loss, f"backward() through the loss of {which} point "
                                             f"#{index} at step {run.step}")
            while len(self._steppers) > STEPPER_PAGES:
                self._steppers.popitem(last=False)
        layers = [{"name": f"hidden {i + 1} ({model.layers[i].neurons[0].activation})"
                   if i < len(outs) - 1 else "output",
                   "data": [v.data for v in vs], "grad": [v.grad for v in vs]}
                  for i, vs in enumerate(outs)]
        predicted = int(a[0].data > 0) if len(a) == 1 else max(range(len(a)),
                                                                key=lambda k: a[k].data)
        return {"which": which, "index": index, "x": [v.data for v in x],
                "inputs": [v.data for v in x], "input_names": ["x1", "x2"],
                "x_grad": [v.grad for v in x], "label": label, "predicted": predicted,
                "loss": loss.data, "loss_name": name, "step": run.step, "layers": layers,
                "nodes": n_nodes, "stepper": stepper, "stepper_error": stepper_error}

    @staticmethod
    def _labelled_copy(run):
        params = run.view_model.parameters()
        for p, w in zip(params, run.weights):
            p.data = w
        model = io.from_dict(io.to_dict(run.view_model), fused=False)
        for li, layer in enumerate(model.layers):
            for j, n in enumerate(layer.neurons):
                for i, w in enumerate(n.w):
                    w.label = f"w{li + 1}.{j + 1}.{i + 1}"
                n.b.label = f"b{li + 1}.{j + 1}"
        return model

    def stepper_page(self, page_id):
        from micrograd.viz.stepper import stepper_html
        if page_id not in self._steppers:
            raise RequestError("that stepper page is gone (the lab keeps the last few)")
        root, title = self._steppers[page_id]
        return stepper_html(root, title=title)

    def model_document(self):
        run = self.run
        for p, w in zip(run.view_model.parameters(), run.weights):
            p.data = w
        meta = {"lab": run.settings.to_dict(), "step": run.step, "made_by": "micrograd lab"}
        return f"lab-{run.settings.dataset}-step{run.step}.json", \
            io.to_dict(run.view_model, meta=meta)

    # -- the HTTP-shaped entry -----------------------------------------------------------------
    def request(self, method, path, query, body):
        """(status, JSON-ready answer) for the lab page's request, as micrograd.lab.server
        answers it."""
        try:
            return 200, self._route(method, path, query, body)
        except (RequestError, SettingsError) as e:
            return 400, {"error": " ".join(str(e).split())}

    def _route(self, method, path, query, body):
        def field(name, kinds, what):
            v = body.get(name) if isinstance(body, dict) else None
            if isinstance(v, bool) and bool not in kinds or not isinstance(v, kinds):
                raise RequestError(f"{name!r} must be {what}")
            return v

        if (method, path) == ("GET", "/api/state"):
            def number(name):
                v = query.get(name, "")
                return int(v) if v.lstrip("-").isdigit() else None
            return self.state(number("run"), number("since") or 0, number("have"))
        if (method, path) == ("POST", "/api/settings"):
            if not isinstance(body, dict):
                raise RequestError("the body must be a JSON object")
            self.apply_settings(body)
            return {"ok": True}
        if (method, path) == ("POST", "/api/control"):
            action = field("action", (str,), "a string")
            speed = body.get("speed")
            if speed is not None and (isinstance(speed, bool) or not isinstance(speed, (int, float))
                                      or not 0 <= speed <= 1000):
                raise RequestError("'speed' must be a number of steps per second (0: max)")
            self.control(action, speed)
            return {"ok": True}
        if (method, path) == ("POST", "/api/points"):
            if isinstance(body, dict) and "add" in body:
                p = body["add"]
                if not isinstance(p, list) or len(p) != 3:
                    raise RequestError("'add' must be [x1, x2, class]")
                self.add_point(*p)
            elif isinstance(body, dict) and "remove" in body:
                self.remove_point(field("remove", (int,), "a whole number"))
            else:
                raise RequestError("give 'add': [x1, x2, class] or 'remove': index")
            return {"ok": True}
        if (method, path) == ("POST", "/api/inspect"):
            return self.inspect(field("which", (str,), "'train' or 'test'"),
                                field("index", (int,), "a whole number"))
        if (method, path) == ("GET", "/api/model"):
            name, doc = self.model_document()
            return {"name": name, "document": doc}
        if (method, path) == ("POST", "/api/model"):
            name = re.sub(r"[^\w.\- ]", "_", query.get("name") or "model.json")[:80]
            self.load_model_text(body if isinstance(body, str) else "", name or "model.json")
            return {"ok": True}
        raise RequestError(f"the site's lab has no {method} {path}")

    def load_model_text(self, text, name):
        """A run from a model file's text, checked by io.load_model (as the lab does)."""
        import os
        import tempfile

        raw = text.encode("utf-8")
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
        self._new_run(self._settings_for(model, meta, name), model, name)

    def _settings_for(self, model, meta, name):
        """The lab's rules for a loaded model (micrograd.lab.session, which needs numpy)."""
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
        try:
            s = parse_settings({**saved, **arch}, base=self.run.settings)
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
