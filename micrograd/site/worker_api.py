"""What the site's Web Worker asks of micrograd, running in Pyodide: one `handle(kind, args)`.

The page never sees Python: it posts {kind, args} to the worker, the worker calls
`handle(kind, json_text)` and posts back its JSON text, {"ok": true, "result": ...} or
{"ok": false, "error": "one line"}. The same functions run in CPython too (the tests compare
them with the command line there), so nothing here may need more than the standard library
and micrograd's pure-Python parts (engine, nn, viz.stepper, exercises).

  lecture   {name}          the stepper page of a lecture graph ("expr", "neuron", "mlp")
  run       {code}          run a learner's snippet; its Values, what it printed, and the
                            stepper page of one Value (the one with the largest graph)
  value     {name}          the stepper page of another Value of the last snippet
  exercises {}              the exercises: name and summary, in order
  starter   {name}          an exercise's starter file
  check     {name, code}    the exercise's checks on the learner's code: the same feedback text
                            as `micrograd exercises check`; the page runs the same in steps,
                            check_begin, check_step per check, check_report, so that its time
                            limit can name the check that did not finish
"""
import contextlib
import io
import json
import math
import os
import sys
import tempfile
import traceback

from micrograd.engine import Value

__all__ = ["handle", "SNIPPET"]

SNIPPET = "<your code>"          # the file name a snippet's traceback shows
OUTPUT_KEPT = 20_000             # characters of printed output sent back to the page


class Refused(ValueError):
    """A request the page should not have sent (an unknown name): one line back."""


def _printed(buffer):
    text = buffer.getvalue()
    return text if len(text) <= OUTPUT_KEPT else "…\n" + text[-OUTPUT_KEPT:]


def _number(x):
    return x if isinstance(x, float) and math.isfinite(x) else repr(x)


def _stepper(root, title):
    from micrograd.viz.stepper import stepper_html
    return stepper_html(root, title=title)


# ---------------------------------------------------------------------------------------------
# The stepper: the lecture's graphs, and any Value a learner's snippet makes
# ---------------------------------------------------------------------------------------------
def lecture(name):
    from micrograd.lecture import EXAMPLES
    if name not in EXAMPLES:
        raise Refused(f"no lecture graph called {name!r}; choose one of {', '.join(EXAMPLES)}")
    make, title = EXAMPLES[name]
    return {"name": name, "title": title, "html": _stepper(make(), title)}


_last = {}                 # the last snippet's Values by name (for "value")


def _snippet_error(exc, code):
    """The learner's error as they read it: type and message, then only their own lines."""
    if isinstance(exc, SyntaxError) and exc.filename == SNIPPET:
        where = f" (line {exc.lineno})" if exc.lineno else ""
        lines = [f"your code does not parse: {exc.msg}{where}"]
        if exc.text:
            lines.append("    " + exc.text.strip())
        return "\n".join(lines)
    source = code.splitlines()
    lines = [f"{type(exc).__name__}" + (f": {exc}" if str(exc) else "")]
    for f in traceback.extract_tb(exc.__traceback__):
        if f.filename == SNIPPET and f.lineno and f.lineno <= len(source):
            lines.append(f"  line {f.lineno}: {source[f.lineno - 1].strip()}")
    return "\n".join(lines)


def run(code):
    """Run a learner's snippet in a fresh namespace; every top-level name bound to a Value is
    offered to the stepper, the one with the largest graph first (the lecture's L, a loss)."""
    from micrograd.viz.stepper import MAX_NODES
    if not isinstance(code, str):
        raise Refused("code must be text")
    namespace = {"__name__": "__main__"}
    printed = io.StringIO()
    error = None
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        try:
            exec(compile(code, SNIPPET, "exec"), namespace)
        except BaseException as e:          # their exception, SystemExit, even exit()
            error = _snippet_error(e, code)
    values = {k: v for k, v in namespace.items() if isinstance(v, Value) and not k.startswith("_")}
    _last.clear()
    _last.update(values)
    sizes = {k: len(v.topo()) for k, v in values.items()}
    listed = [{"name": k, "nodes": sizes[k], "data": _number(values[k].data)} for k in values]
    fits = [k for k in values if sizes[k] <= MAX_NODES]
    chosen = max(fits, key=lambda k: sizes[k], default=None)    # the first of the largest
    out = {"output": _printed(printed), "error": error, "values": listed, "chosen": chosen,
           "html": None, "note": None}
    if chosen is not None:
        try:
            out["html"] = _stepper(values[chosen], f"backward() from {chosen}")
        except ValueError as e:             # a nan or inf the page's JSON cannot carry
            out["note"] = f"the stepper cannot show {chosen}: {e}"
    elif values:
        out["note"] = (f"every Value has more than {MAX_NODES:,} nodes in its graph; the stepper "
                       f"shows at most {MAX_NODES:,}")
    elif error is None:
        out["note"] = ("your code made no Value at the top level: assign one to a name "
                       "(L = d * f) to step through its graph")
    return out


def value(name):
    if name not in _last:
        raise Refused(f"the last run made no Value called {name!r}")
    return {"name": name, "html": _stepper(_last[name], f"backward() from {name}")}


# ---------------------------------------------------------------------------------------------
# The exercises: the checker's own child and result, run in this process
# ---------------------------------------------------------------------------------------------
def exercises():
    from micrograd.exercises import EXERCISES
    return [{"name": name, "summary": m.SUMMARY, "titles": [t for t, _ in m.CHECKS]}
            for name, m in EXERCISES.items()]


def starter(name):
    from micrograd.exercises import exercise
    return {"name": name, "code": exercise(name).STARTER}


_checking = {}          # the check under way: its learner module, events and printed output


def check_begin(name, code):
    """Import the learner's `code` as NAME.py (in a folder of its own), as the checker's child
    does; returns the events so far (a fatal one if the import failed) and the checks' titles.
    The page then runs the checks one by one (check_step), so that a check still running when
    the time limit comes is known to it, as the command line knows it."""
    from micrograd.exercises import child, exercise
    from micrograd.exercises.checking import learner_error
    ex = exercise(name)
    if not isinstance(code, str):
        raise Refused("code must be text")
    _check_cleanup()
    folder = tempfile.mkdtemp(prefix="micrograd-exercise-")
    path = os.path.join(folder, f"{name}.py")
    with open(path, "w", encoding="utf-8") as f:
        f.write(code)
    state = _checking.update(name=name, folder=folder, printed=io.StringIO(), events=[],
                             module=None) or _checking
    sys.path.insert(0, folder)                 # so that their own helper modules import
    with _captured(state["printed"]):
        try:
            state["module"] = child._import_file(path)
        except BaseException as e:             # SyntaxError, their exception, even exit()
            state["events"].append({"fatal": "importing your file failed: "
                                             + learner_error(e, folder)})
    return {"events": state["events"], "titles": [t for t, _ in ex.CHECKS],
            "output": _printed(state["printed"])}


def check_step(index):
    """Run check number `index` on the module check_begin imported: its events."""
    from micrograd.exercises import EXERCISES
    from micrograd.exercises.checking import Mistake, learner_error
    state = _checking
    if state.get("module") is None:
        raise Refused("no exercise is being checked (check_begin first)")
    checks = EXERCISES[state["name"]].CHECKS
    if not isinstance(index, int) or not 0 <= index < len(checks):
        raise Refused(f"there is no check number {index!r}")
    title, fn = checks[index]
    events = [{"start": title}]
    with _captured(state["printed"]):
        try:
            note = fn(state["module"])
        except Mistake as m:
            events.append({"title": title, "status": "fail", "message": str(m)})
        except BaseException as e:
            events.append({"title": title, "status": "error",
                           "message": learner_error(e, state["folder"])})
        else:
            events.append({"title": title, "status": "pass", "message": note or ""})
    state["events"] += events
    return {"events": events, "output": _printed(state["printed"])}


def check_report(name, events, output="", timed_out=False, timeout=None):
    """The feedback `micrograd exercises check` prints for these events (the file named
    NAME.py), with the checker's own words when the time limit stopped it. As on the command
    line, "All N checks pass" also needs the checker's re-check: a fresh random challenge that
    the learner's code answers with raw numbers, verified here against micrograd's engine."""
    import secrets

    from micrograd.exercises import exercise, runner, verify
    from micrograd.exercises.checking import learner_error
    exercise(name)
    if not all(isinstance(e, dict) for e in events):
        _check_cleanup()
        raise Refused("events must be a list of objects")
    spec = verify.challenge(name, secrets.randbits(64))
    events = [{"child": "started"}] + list(events)
    passed = all(e.get("status") == "pass" for e in events if "status" in e)
    if not timed_out and passed and _checking.get("module") is not None:
        events.append({"start": "the checker's re-check"})
        printed = _checking["printed"]
        with _captured(printed):
            try:
                events.append({"answers": verify.answers(name, _checking["module"], spec)})
            except BaseException as e:
                events.append({"answers_error": learner_error(e, _checking["folder"])})
        output = _printed(printed)
    _check_cleanup()
    events += [] if timed_out else [{"end": True}]
    result = runner._result(name, f"{name}.py", _Recorded(events, output), bool(timed_out),
                            runner.DEFAULT_TIMEOUT if timeout is None else timeout, 0, spec)
    return {"name": name, "passed": result.passed, "feedback": result.feedback,
            "output": result.output,
            "outcomes": [{"title": o.title, "status": o.status} for o in result.outcomes]}


class _Recorded:
    """The checker's two channels as runner._result reads them (events, the learner's output),
    recorded in this process: the site runs the checks in the worker, with no child process."""
    overflow, dropped = False, 0

    def __init__(self, events, output):
        self._events, self.output = events, str(output).encode("utf-8")

    def event_list(self):
        return self._events

    def tail(self):
        from micrograd.exercises.runner import TAIL_LINES, TAIL_WIDTH
        lines = [line for line in self.output.decode("utf-8").splitlines() if line.strip()]
        return [line[:TAIL_WIDTH] + (" [...]" if len(line) > TAIL_WIDTH else "")
                for line in lines[-TAIL_LINES:]]


def check(name, code):
    """Everything at once (what the tests compare with the command line): begin, every check,
    the report."""
    begun = check_begin(name, code)
    events = list(begun["events"])
    output = begun["output"]
    if not events:
        for i in range(len(begun["titles"])):
            step = check_step(i)
            events += step["events"]
            output = step["output"]
    return check_report(name, events, output)


@contextlib.contextmanager
def _captured(buffer):
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        yield


def _check_cleanup():
    import shutil
    folder = _checking.get("folder")
    sys.modules.pop("learner_solution", None)
    if folder:
        while folder in sys.path:
            sys.path.remove(folder)
        shutil.rmtree(folder, ignore_errors=True)
    _checking.clear()


HANDLERS = {"lecture": lecture, "run": run, "value": value, "exercises": exercises,
            "starter": starter, "check": check, "check_begin": check_begin,
            "check_step": check_step, "check_report": check_report}


def handle(kind, args_json):
    """One request from the page: JSON text in, JSON text out, never an exception."""
    try:
        if kind not in HANDLERS:
            raise Refused(f"unknown request {kind!r}")
        args = json.loads(args_json)
        if not isinstance(args, dict):
            raise Refused("the arguments must be a JSON object")
        try:
            result = HANDLERS[kind](**args)
        except TypeError as e:
            if "argument" in str(e) and e.__traceback__.tb_next is None:
                raise Refused(f"{kind}: {e}") from None
            raise
        return json.dumps({"ok": True, "result": result}, allow_nan=False)
    except Exception as e:
        text = str(e) if isinstance(e, ValueError) else f"{type(e).__name__}: {e}"
        return json.dumps({"ok": False, "error": " ".join(text.split())})


# ---------------------------------------------------------------------------------------------
# The lab: the lab page's /api/... requests, answered by a LabSession
# ---------------------------------------------------------------------------------------------
_lab = {}


@contextlib.contextmanager
def _glibc_numbers():
    """The lab's requests and training, in Pyodide: the engine computes tanh, exp, log and ** as
    glibc does (micrograd.site.libm), so that a run's numbers are `micrograd lab`'s. Only there:
    a learner's own code (snippets, exercises) computes with this Python's C library, and the
    exercises' checks compare it with the engine in this same process."""
    if sys.platform != "emscripten":
        yield
        return
    from micrograd.site import libm
    libm.install()
    try:
        yield
    finally:
        libm.uninstall()


def _lab_session():
    if "session" not in _lab:
        from micrograd.site.lab_session import LabSession
        _lab["session"] = LabSession()
    return _lab["session"]


def lab(method, path, query=None, body=None):
    """One request of the lab page: {"status", "body"} as the lab's server answers it, or
    {"status", "html"} for a point's stepper page."""
    with _glibc_numbers():
        return _lab_request(method, path, query, body)


def _lab_request(method, path, query, body):
    session = _lab_session()
    if method == "GET" and path.startswith("/stepper/"):
        try:
            return {"status": 200, "html": session.stepper_page(path[len("/stepper/"):])}
        except KeyError:
            return {"status": 404, "body": {"error": "this stepper page has expired: click the "
                                                     "point again"}}
        except ValueError as e:                # RequestError: the page cannot be made
            return {"status": 400, "body": {"error": str(e)}}
    status, answer = session.request(method, path, query or {}, body)
    return {"status": status, "body": answer}


def lab_advance():
    """The worker's loop, whenever the page's requests are answered: train the lab's run for a
    moment; milliseconds until it wants to be called again, or None (until the next request)."""
    if "session" not in _lab:
        return None
    with _glibc_numbers():
        seconds = _lab["session"].advance()
    return None if seconds is None else seconds * 1000


HANDLERS["lab"] = lab
