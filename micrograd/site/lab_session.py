"""The lab in the site: micrograd.lab.session's own Session behind the lab page's /api/ requests,
with what differs in the browser given to it:

  - the numbers in plain Python (Pyodide has no numpy): the data from micrograd.site.lab_data
    (numpy's and scikit-learn's floats), the network's inputs from settings.features_of, the
    pictures from views.python_view (the inputs' sin is micrograd.trig's, as micrograd lab's;
    the pictures' grid takes this Python's math.sin, as micrograd lab's takes numpy's);
  - the training stepped by the worker's message loop (runs.SteppedTrainer): `advance()` runs
    whole steps for a short while and says when it wants to be called again, and the page's
    requests (Pause, Reset) are answered in between;
  - `request(method, path, query, body)`: the lab server's routes, answered with the same JSON.

The compiled step is refused: it runs micrograd.compile's numpy backend, and the site has no
numpy (docs/site.md says why).
"""
import re

from micrograd.lab import views
from micrograd.lab.runs import SteppedTrainer
from micrograd.lab.session import RequestError, Session
from micrograd.lab.settings import SettingsError, check_speed, features_of
from micrograd.site import lab_data

__all__ = ["LabSession", "RequestError", "SITE"]

COMPILED_REFUSED = ("the compiled step needs numpy, which the site's Python does not have: "
                    "run `micrograd lab` for it")


class _SiteNumbers:
    """The numbers of micrograd.lab.session.NUMPY, without numpy."""

    @staticmethod
    def data(s):
        try:
            return lab_data.lab_data(s.dataset, s.samples, s.noise, s.seed, s.test_fraction,
                                     s.points)
        except ValueError as e:
            raise SettingsError(f"a test fraction of {s.test_fraction:g} of {s.samples} "
                                f"points leaves a side empty ({e})") from None

    @staticmethod
    def features(s, rows):
        return features_of(s, rows)                # sin: micrograd.trig's, as micrograd lab's

    @staticmethod
    def view(run, fresh=True):
        return views.python_view(run, fresh)       # the grid's sin: math's (a picture)

    @staticmethod
    def check(s):
        if s.compiled:
            raise SettingsError(COMPILED_REFUSED)


SITE = _SiteNumbers()


class LabSession(Session):
    """The lab's Session with the site's numbers and stepping (see the module doc)."""

    def __init__(self, settings=None):
        super().__init__(settings, numbers=SITE, trainer=SteppedTrainer, served=False)

    def advance(self, seconds=0.05):
        """Train for about `seconds`; then the seconds until it wants to be called again (0:
        as soon as the page's requests are answered), or None: not until a request."""
        with self._cond:
            return self._trainer.advance(seconds)

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
            action = field("action", (str,), "one of play, pause, step, speed, reset")
            speed = body.get("speed")
            self.control(action, None if speed is None else check_speed(speed))
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
            text = body if isinstance(body, str) else ""
            self.load_model_bytes(text.encode("utf-8"), name or "model.json")
            return {"ok": True}
        raise RequestError(f"the site's lab has no {method} {path}")

