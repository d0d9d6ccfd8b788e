"""The lab's HTTP side: the standard library's threading server, for one learner on one machine.

Who may talk to it:
  - it listens on 127.0.0.1 only;
  - every request carries the random token (`?token=` or the X-Lab-Token header), compared in
    constant time; the page gets it from its own URL;
  - the Host header must name this server (127.0.0.1:PORT or localhost:PORT), which defeats
    DNS rebinding; an Origin header, if sent, must be this server's, and a browser's
    `Sec-Fetch-Site: cross-site` is refused, which defeats cross-site requests;
  - a POST must say Content-Type: application/json (in UTF-8, if it names a charset) and give
    a Content-Length under the limit.
Every body is parsed as strict JSON (UTF-8, no NaN or Infinity, no key twice) and checked field
by field by the session; a bad one gets a 4xx and a one-line JSON error, and the server carries
on. Every answer is JSON a browser can parse: a number JSON cannot hold (a diverged run's inf or
NaN) is sent as null, with "nonfinite": true beside it. A closed tab is not an error: nothing is
printed. Connections are bounded in time (TIMEOUT seconds per read, for headers or a body that
never come) and the listen backlog is real (BACKLOG). Pages are served with a strict
Content-Security-Policy: only the package's own script and style run. docs/lab-server.md has
the limits.
"""
import json
import math
import re
import secrets
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from micrograd.lab.session import MAX_MODEL_BYTES, RequestError, Session
from micrograd.lab.settings import SettingsError, check_speed, parse_json
from micrograd.viz.stepper import stepper_csp
from micrograd.viz.web import SHARED, imports_with_query, module_text

__all__ = ["LabServer", "make_server", "MAX_BODY", "TIMEOUT", "BACKLOG"]

MAX_BODY = MAX_MODEL_BYTES           # the largest body: a model file being loaded
TIMEOUT = 10                         # seconds a connection may stay silent mid-request or idle
BACKLOG = 128                        # connections the kernel queues before the server takes them
GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)
JS = "text/javascript; charset=utf-8"
# the page's files: its style, its ES modules, and the module it shares with the stepper
STATIC = {"lab.css": "text/css; charset=utf-8", "lab.js": JS, "lab-api.js": JS,
          "lab-charts.js": JS, "lab-network.js": JS, "lab-controls.js": JS, "lab-point.js": JS,
          SHARED: JS}
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
            "img-src 'self' data:; frame-src 'self'; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'")


class _Refused(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _asset(name):
    if name == SHARED:                   # ui.js lives with the stepper, in micrograd.viz
        return module_text(name).encode("utf-8")
    return resources.files("micrograd.lab").joinpath("static", name).read_bytes()


def _stepper_csp():
    """The stepper page's own CSP (its one style and script, by hash), sent as a header too."""
    return (f"{stepper_csp(served=True)}; img-src data:; base-uri 'none'; form-action 'none'; "
            f"frame-ancestors 'self'")   # the lab page shows it inline


def _json_body(raw):
    try:
        return parse_json(raw)
    except ValueError as e:
        raise _Refused(400, f"the body is not valid JSON ({e})") from None


def _finite(obj):
    """(obj with every non-finite float made None, whether there was one)."""
    found = False

    def walk(x):
        nonlocal found
        if isinstance(x, float) and not math.isfinite(x):
            found = True
            return None
        if isinstance(x, dict):
            return {k: walk(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [walk(v) for v in x]
        return x
    return walk(obj), found


def _field(doc, name, kinds, what):
    if not isinstance(doc, dict):
        raise _Refused(400, f"the body must be a JSON object, got {type(doc).__name__}")
    v = doc.get(name)
    if isinstance(v, bool) and bool not in kinds or not isinstance(v, kinds):
        raise _Refused(400, f"{name!r} must be {what}, got {json.dumps(v)[:40]}")
    return v


class _Handler(BaseHTTPRequestHandler):
    server_version = "micrograd-lab"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = TIMEOUT                  # socket timeout: a request that stalls is dropped

    # -- plumbing -------------------------------------------------------------------------------
    def log_message(self, format, *args):       # a quiet server: the terminal shows the URL
        pass

    def _send(self, status, body, content_type, headers=(), frame="DENY"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")     # the URL carries the token
        self.send_header("X-Frame-Options", frame)     # only the stepper: SAMEORIGIN
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj, status=200, headers=()):
        try:
            text = json.dumps(obj, allow_nan=False, separators=(",", ":"))
        except ValueError:                     # inf or NaN somewhere: null, and say so
            obj, _ = _finite(obj)
            if isinstance(obj, dict):
                obj["nonfinite"] = True
            text = json.dumps(obj, allow_nan=False, separators=(",", ":"))
        self._send(status, text.encode(), "application/json", headers)

    def _error(self, status, message):
        self._json({"error": " ".join(str(message).split())}, status)

    def send_error(self, code, message=None, explain=None):
        """What http.server sends for a request it cannot parse: JSON too, one line."""
        self.close_connection = True
        try:
            self._error(code, message or HTTPStatus(code).phrase)
        except OSError:
            pass

    def _check_caller(self):
        port = self.server.server_address[1]
        hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
        if self.headers.get("Host", "") not in hosts:
            raise _Refused(403, "this server answers only to 127.0.0.1 and localhost on its own "
                                "port (a foreign Host header was refused)")
        origin = self.headers.get("Origin")
        if origin is not None and origin not in {f"http://{h}" for h in hosts}:
            raise _Refused(403, "cross-origin requests are refused")
        if self.headers.get("Sec-Fetch-Site", "same-origin") == "cross-site":
            raise _Refused(403, "cross-site requests are refused")
        query = parse_qs(urlsplit(self.path).query)
        token = self.headers.get("X-Lab-Token") or (query.get("token") or [""])[0]
        if not secrets.compare_digest(token.encode(), self.server.token.encode()):
            raise _Refused(403, "missing or wrong token: open the URL micrograd lab printed")
        return query

    def _body(self):
        ctype, *params = [p.strip().lower()
                          for p in self.headers.get("Content-Type", "").split(";")]
        if ctype != "application/json":
            raise _Refused(415, "the body must be sent as Content-Type: application/json")
        for p in params:
            key, _, value = p.partition("=")
            if key.strip() == "charset" and value.strip().strip('"') not in ("utf-8", "utf8"):
                raise _Refused(415, f"the body must be UTF-8 JSON; got charset "
                                    f"{value.strip()[:20]!r}")
        length = self.headers.get("Content-Length")
        if length is None or not re.fullmatch(r"[0-9]{1,12}", length):
            raise _Refused(411, "a Content-Length is required")
        if int(length) > MAX_BODY:
            raise _Refused(413, f"the body is larger than {MAX_BODY} bytes")
        return self.rfile.read(int(length))

    def _handle(self, method):
        try:
            query = self._check_caller()
            path = urlsplit(self.path).path
            route = self.ROUTES.get((method, path))
            if route is None and method == "GET" and path.startswith("/stepper/"):
                route = _Handler.stepper
            if route is None:
                raise _Refused(404 if method == "GET" else 405, f"no such page: {method} {path}")
            body = self._body() if method == "POST" else None
            route(self, query, body)
        except GONE:                                 # the tab closed, or the client stalled
            self.close_connection = True
        except _Refused as e:
            if method != "GET":
                self.close_connection = True     # its body may be unread: end the connection
            self._answer_error(e.status, e)
        except (SettingsError, RequestError) as e:
            self._answer_error(400, e)
        except Exception as e:                       # a bug: say so, keep serving
            self._answer_error(500, f"internal error: {type(e).__name__}: {e}")

    def _answer_error(self, status, message):
        try:
            self._error(status, message)
        except GONE:
            self.close_connection = True

    def do_GET(self):
        self._handle("GET")

    def do_HEAD(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    do_DELETE = do_PATCH = do_PUT

    # -- routes ----------------------------------------------------------------------------------
    def index(self, query, body):
        page = _asset("index.html").decode("utf-8").replace("@TOKEN@", self.server.token)
        self._send(200, page.encode("utf-8"), "text/html; charset=utf-8",
                   [("Content-Security-Policy", PAGE_CSP)])

    def static(self, query, body):
        name = urlsplit(self.path).path.rsplit("/", 1)[-1]
        body = _asset(name)
        if name.endswith(".js"):         # a module's imports of its siblings carry the token
            body = imports_with_query(body.decode("utf-8"),
                                      f"token={self.server.token}").encode("utf-8")
        self._send(200, body, STATIC[name])

    def state(self, query, body):
        def number(name, default):
            v = (query.get(name) or [""])[0]
            if v == "":
                return default
            if not v.isdigit() or len(v) > 12:
                raise _Refused(400, f"{name} must be a whole number >= 0, got {v[:20]!r}")
            return int(v)
        self._json(self.server.session.state(number("run", None), number("since", 0),
                                             number("have", None)))

    def settings(self, query, body):
        self.server.session.apply_settings(_json_body(body))
        self._json({"ok": True})

    def control(self, query, body):
        doc = _json_body(body)
        action = _field(doc, "action", (str,), "one of play, pause, step, speed, reset")
        speed = doc.get("speed")
        if speed is not None:
            speed = check_speed(speed)
        self.server.session.control(action, speed)
        self._json({"ok": True})

    def points(self, query, body):
        doc = _json_body(body)
        if isinstance(doc, dict) and "remove" in doc:
            self.server.session.remove_point(_field(doc, "remove", (int,), "a point number"))
        else:
            point = _field(doc, "add", (list,), "[x1, x2, class]")
            if len(point) != 3:
                raise _Refused(400, "'add' must be [x1, x2, class]")
            self.server.session.add_point(*point)
        self._json({"ok": True})

    def inspect(self, query, body):
        doc = _json_body(body)
        which = _field(doc, "which", (str,), '"train" or "test"')
        index = _field(doc, "index", (int,), "a point number")
        self._json(self.server.session.inspect(which, index))

    def stepper(self, query, body):
        page_id = urlsplit(self.path).path[len("/stepper/"):]
        try:
            page = self.server.session.stepper_page(page_id)
        except KeyError:
            raise _Refused(404, "this stepper page has expired: click the point again") from None
        self._send(200, page.encode("utf-8"), "text/html; charset=utf-8",
                   [("Content-Security-Policy", _stepper_csp())], frame="SAMEORIGIN")

    def check(self, query, body):
        """A nudge check the stepper page left pending: {"stepper": page id, "node": leaf}."""
        doc = _json_body(body)
        page_id = _field(doc, "stepper", (str,), "a stepper page's id")
        node = _field(doc, "node", (int,), "a leaf's node number")
        try:
            self._json(self.server.session.stepper_check(page_id, node))
        except KeyError:
            raise _Refused(404, "this stepper page has expired: click the point again") from None

    def save_model(self, query, body):
        name, doc = self.server.session.model_document()
        text = json.dumps(doc, allow_nan=False, indent=1) + "\n"
        self._send(200, text.encode("utf-8"), "application/json",
                   [("Content-Disposition", f'attachment; filename="{name}"')])

    def load_model(self, query, body):
        name = (query.get("name") or ["model.json"])[0]
        name = re.sub(r"[^\w.\- ]", "_", name)[:80] or "model.json"
        self.server.session.load_model_bytes(body, name)
        self._json({"ok": True})

    ROUTES = {("GET", "/"): index, **dict.fromkeys([("GET", f"/static/{n}") for n in STATIC], static),
              ("GET", "/api/state"): state,
              ("POST", "/api/settings"): settings, ("POST", "/api/control"): control,
              ("POST", "/api/points"): points, ("POST", "/api/inspect"): inspect,
              ("POST", "/api/check"): check,
              ("GET", "/api/model"): save_model, ("POST", "/api/model"): load_model}


class LabServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = BACKLOG

    def __init__(self, port=0, session=None, token=None):
        self.token = token or secrets.token_urlsafe(24)
        self.session = session or Session()
        super().__init__(("127.0.0.1", port), _Handler)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/?token={self.token}"

    def handle_error(self, request, client_address):
        """A connection that fails outside a handler: a closed tab is nothing to report; any
        other failure is one line, not a traceback (the terminal may be on a projector)."""
        error = sys.exc_info()[1]
        if not isinstance(error, GONE):
            print(f"micrograd lab: a request failed: {type(error).__name__}: {error}",
                  file=sys.stderr, flush=True)

    def stop(self):
        self.session.close(wait=False)
        self.server_close()


def make_server(port=0, session=None):
    """A LabServer bound to 127.0.0.1:port (0: a free port); call serve_forever()."""
    return LabServer(port, session)


def serve(port=0, open_browser=True, out=sys.stdout):
    """Run the lab until Ctrl-C. Prints the URL (with its token) on one line."""
    server = make_server(port)
    print(f"micrograd lab: {server.url}  (Ctrl-C stops it)", file=out, flush=True)
    if open_browser:
        import webbrowser
        threading.Thread(target=webbrowser.open, args=(server.url,), daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    print("micrograd lab: stopped", file=out, flush=True)
    return 0
