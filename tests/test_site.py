"""`micrograd site OUT/`: the static site, built for real (Pyodide from the npm registry, cached),
served from 127.0.0.1 by the standard library's http.server, and driven in Debian's Chromium
with every request to any other host refused: the stepper's lecture graphs and the editor, and
an exercise checked wrong then right, with the command line's own feedback beside it.

Without a browser: the builder refuses a folder that is not a site, keeps what is not its own,
packs the package as it is; the worker's Python answers the same as the command line.
"""
import base64
import csv
import functools
import hashlib
import http.server
import json
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from micrograd.site import MARKER, SiteError, build_site
from micrograd.site import worker_api
from micrograd.site.lab_session import COMPILED_REFUSED
from micrograd.viz import stepper_data
from micrograd.lecture import lecture_neuron

ARTIFACTS = Path(__file__).parent / "artifacts"      # screenshots, kept for a person to see

ROOT = Path(__file__).parent.parent
SOLUTIONS = Path(__file__).parent / "exercise_solutions"

# The lecture's L expression with a made-up twist, as a learner types it into the editor.
SNIPPET = """from micrograd.engine import Value
a = Value(2.0, label="a")
b = Value(-3.0, label="b")
c = Value(10.0, label="c")
e = a * b; e.label = "e"
d = e + c; d.label = "d"
f = Value(-2.0, label="f")
L = (d * f).tanh(); L.label = "L"
print("L is", L.data)
"""


def snippet_grads():
    """The grads backward() gives the snippet's L, in the stepper's "%.4f"."""
    namespace = {}
    exec(SNIPPET, namespace)
    L = namespace["L"]
    L.backward()
    return sorted(f"grad {v.grad:.4f}" for v in L.topo())


def cli_feedback(code, tmp_path, name="value", *options):
    """`micrograd exercises check NAME NAME.py` on `code`: its printed feedback, with the file
    named as the page names it (NAME.py, not the temporary folder's whole path)."""
    folder = tmp_path / f"cli-{hashlib.sha256(code.encode()).hexdigest()[:8]}"
    folder.mkdir()
    path = folder / f"{name}.py"
    path.write_text(code, encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "micrograd", "exercises", "check", name,
                          str(path), *options], capture_output=True, text=True, timeout=120,
                         cwd=ROOT)
    return run.stdout.rstrip("\n").replace(str(path), f"{name}.py")


RIGHT = (SOLUTIONS / "value_lecture.py").read_text(encoding="utf-8")
WRONG = RIGHT.replace("self.grad += (1 - t**2) * out.grad", "self.grad += (1 - t) * out.grad")
assert WRONG != RIGHT


# ---------------------------------------------------------------------------------------------
# The builder
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site") / "out"
    done = build_site(out)
    return out, done


def test_the_site_holds_the_pages_pyodide_and_the_wheel(site):
    out, done = site
    for name in ("index.html", "stepper.html", "exercises.html", "lab.html", "lab/lab.js",
                 "lab/lab.css", "lab-site.js", "worker.js", "site.json",
                 "engine-client.js", "pyodide/pyodide.mjs", "pyodide/pyodide.asm.wasm",
                 "pyodide/python_stdlib.zip", "pyodide/pyodide-lock.json", done["wheel"]):
        assert (out / name).is_file(), name
    files = json.loads((out / MARKER).read_text())["files"]
    assert sorted(files) == sorted(p.relative_to(out).as_posix() for p in out.rglob("*")
                                   if p.is_file() and p.name != MARKER)
    assert done["bytes"] == sum((out / f).stat().st_size for f in files)
    assert done["bytes"] < 30e6, f"the site is {done['bytes'] / 1e6:.1f} MB"
    text = " ".join((out / p).read_text() for p in ("index.html", "stepper.html",
                                                    "exercises.html", "worker.js"))
    assert "http://" not in text and "https://" not in text and "cdn" not in text.lower()


def test_the_wheel_is_this_package_as_it_is(site):
    out, done = site
    with zipfile.ZipFile(out / done["wheel"]) as whl:
        names = whl.namelist()
        assert whl.read("micrograd/engine.py") == (ROOT / "micrograd/engine.py").read_bytes()
        stepper_js = (ROOT / "micrograd/viz/stepper.js").read_bytes()
        assert whl.read("micrograd/viz/stepper.js") == stepper_js
        assert not any("__pycache__" in n or n.startswith("micrograd/site/static/") for n in names)
        dist = next(n.split("/")[0] for n in names if n.endswith(".dist-info/WHEEL"))
        rows = list(csv.reader(whl.read(f"{dist}/RECORD").decode().splitlines()))
        assert sorted(r[0] for r in rows) == sorted(names)
        for name, digest, size in rows:
            if name.endswith("RECORD"):
                continue
            data = whl.read(name)
            want = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert (digest, int(size)) == (f"sha256={want}", len(data)), name


def test_a_folder_that_is_not_a_site_is_refused_and_left_alone(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    with pytest.raises(SiteError, match=r"is not empty and is not a micrograd site"):
        build_site(mine)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(SiteError, match="exists and is not a folder"):
        build_site(a_file)
    run = subprocess.run([sys.executable, "-m", "micrograd", "site", str(mine)],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr == (f"micrograd: error: {mine} is not empty and is not a micrograd site "
                          f"(no {MARKER}); refusing to write into it: give a new or empty "
                          f"folder\n")


def test_a_rebuild_replaces_its_own_files_and_keeps_the_others(site, tmp_path):
    out = tmp_path / "again"
    build_site(out)
    (out / "CNAME").write_text("micrograd.example\n")
    (out / "pyodide" / "extra.txt").write_text("kept")
    files = json.loads((out / MARKER).read_text())["files"]
    files.append("old-page.html")                   # a page an older build wrote
    (out / "old-page.html").write_text("old")
    (out / MARKER).write_text(json.dumps({"files": files}))
    (out / "index.html").write_text("changed by hand")
    run = subprocess.run([sys.executable, "-m", "micrograd", "site", str(out)],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"wrote {out}: {len(files) - 1} files, ")
    assert (out / "CNAME").read_text() == "micrograd.example\n"
    assert (out / "pyodide" / "extra.txt").read_text() == "kept"
    assert not (out / "old-page.html").exists()
    assert (out / "index.html").read_text() == (site[0] / "index.html").read_text()
    assert not any(p.name.startswith(".building-") for p in out.iterdir())


# ---------------------------------------------------------------------------------------------
# The worker's Python, in CPython
# ---------------------------------------------------------------------------------------------
def call(kind, **args):
    return json.loads(worker_api.handle(kind, json.dumps(args)))


def test_the_worker_runs_a_snippet_and_offers_its_values():
    r = call("run", code=SNIPPET)
    assert r["ok"]
    got = r["result"]
    namespace = {}
    exec(SNIPPET.replace("print(", "said = ("), namespace)
    assert got["output"] == f"L is {namespace['L'].data}\n"
    assert [v["name"] for v in got["values"]] == ["a", "b", "c", "e", "d", "f", "L"]
    assert got["chosen"] == "L" and got["error"] is None
    assert '"title":"backward() from L"' in got["html"]
    assert call("value", name="e")["result"]["name"] == "e"
    assert call("value", name="zz") == {"ok": False,
                                        "error": "the last run made no Value called 'zz'"}


def test_the_worker_reports_a_learners_error_in_their_own_lines():
    got = call("run", code="from micrograd.engine import Value\nx = Value(1.0)\ny = 1 / 0\n")
    assert got["result"]["error"] == "ZeroDivisionError: division by zero\n  line 3: y = 1 / 0"
    assert got["result"]["values"][0]["name"] == "x"
    bad = call("run", code="x = (1\n")["result"]
    assert bad["error"] == "your code does not parse: '(' was never closed (line 1)\n    x = (1"
    assert call("nope") == {"ok": False, "error": "unknown request 'nope'"}
    assert call("lecture", name="zz")["error"] == \
        "no lecture graph called 'zz'; choose one of expr, neuron, mlp"


def test_the_worker_checks_an_exercise_like_the_command_line(tmp_path):
    for code, passed in ((WRONG, False), (RIGHT, True)):
        got = call("check", name="value", code=code)["result"]
        assert got["passed"] is passed
        assert got["feedback"] == cli_feedback(code, tmp_path)


# ---------------------------------------------------------------------------------------------
# In Chromium, served from 127.0.0.1, nothing else reachable
# ---------------------------------------------------------------------------------------------
class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served(site):
    out, _ = site
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                          functools.partial(_Quiet, directory=str(out)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/"
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def chromium(browser):
    """conftest's Chromium (one per module)."""
    return browser


class SitePage:
    """A page of the site in a fresh browser context: requests to any host but 127.0.0.1 are
    aborted and recorded, and so are page errors."""

    def __init__(self, chromium, url, width=1440, height=900, prefix=None):
        self.context = chromium.new_context(viewport={"width": width, "height": height})
        self.refused, self.errors = [], []
        self.prefix = prefix or {}           # file name -> code put before the site's own
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        began = time.monotonic()
        self.page.goto(url)
        self.wait_for_python()
        self.load_seconds = time.monotonic() - began

    def _route(self, route):
        host = urlsplit(route.request.url).hostname
        name = urlsplit(route.request.url).path.rsplit("/", 1)[-1]
        if host == "127.0.0.1" and name in self.prefix:
            response = route.fetch()
            route.fulfill(response=response, body=self.prefix[name] + response.text())
        elif host == "127.0.0.1" or route.request.url.startswith(("about:", "data:")):
            route.continue_()
        else:
            self.refused.append(route.request.url)
            route.abort()

    def wait_for_python(self, timeout=120):
        if self.page.query_selector("#engine-status") is None:      # the lab's own page
            self.wait_until("window.micrograd_engine && (micrograd_engine.state.ready || "
                            "micrograd_engine.state.failed)", timeout)
            assert self.page.evaluate("() => micrograd_engine.state.ready"), \
                self.page.evaluate("() => micrograd_engine.state.status")
            return
        self.wait_until("document.getElementById('engine-status').className !== 'loading'",
                        timeout)
        assert self.page.get_attribute("#engine-status", "class") == "ready", \
            self.page.text_content("#engine-status")

    def wait_until(self, condition, timeout=60):
        """Poll a JS condition (the pages' CSP forbids eval: no wait_for_function)."""
        deadline = time.monotonic() + timeout
        while not self.page.evaluate(f"() => {condition}"):
            assert time.monotonic() < deadline, f"timed out waiting for {condition}"
            self.page.wait_for_timeout(50)

    def frame_grads(self):
        frame = self.page.frame_locator("#stepper")
        frame.locator("#end").click()
        return sorted(frame.locator(".node .grad").all_text_contents())

    def shot(self, name, width):
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.set_viewport_size({"width": width, "height": 900})
        self.page.wait_for_timeout(300)
        self.page.screenshot(path=str(ARTIFACTS / f"site-{name}-{width}.png"))

    def close(self):
        assert self.refused == [], f"requests outside 127.0.0.1: {self.refused}"
        assert self.errors == []
        self.context.close()


@pytest.mark.browser
@pytest.mark.slow
def test_the_stepper_page_steps_the_lecture_graphs_and_a_learners_code(chromium, served, site):
    p = SitePage(chromium, served + "stepper.html")
    frame = p.page.frame_locator("#stepper")
    # the lecture's neuron, from its button: the grads backward() gives
    p.page.click("button[data-graph=neuron]")
    frame.locator("#counter").wait_for()
    o = lecture_neuron()
    o.backward()
    assert p.frame_grads() == sorted(f"grad {v.grad:.4f}" for v in o.topo())
    # the learner's snippet: what it printed, its Values, and its L's graph stepped to the end
    p.page.fill("#code", SNIPPET)
    p.page.click("#run")
    p.wait_until("document.getElementById('output').textContent.startsWith('L is')")
    assert p.page.text_content("#output") == call("run", code=SNIPPET)["result"]["output"].rstrip()
    assert p.page.eval_on_selector_all("#values option", "os => os.map(o => o.textContent)") == \
        ["a (1 node)", "b (1 node)", "c (1 node)", "e (3 nodes)", "d (5 nodes)", "f (1 node)",
         "L (8 nodes)"]
    assert frame.locator("#title").text_content() == "backward() from L"
    assert p.frame_grads() == snippet_grads()
    namespace = {}
    exec(SNIPPET, namespace)
    steps = len(stepper_data(namespace["L"])["steps"])
    assert frame.locator("#counter").text_content() == f"step {steps} / {steps}"
    # another Value of the same run
    p.page.select_option("#values", "d")
    p.wait_until("document.getElementById('stepper').srcdoc.includes('backward() from d')")
    assert frame.locator("#title").text_content() == "backward() from d"
    p.shot("stepper", 1440)
    p.shot("stepper", 900)
    _record_load(site, p.load_seconds)
    p.close()


@pytest.mark.browser
@pytest.mark.slow
def test_an_exercise_checked_wrong_then_right_shows_the_command_lines_feedback(
        chromium, served, tmp_path):
    p = SitePage(chromium, served + "exercises.html", width=900)
    p.wait_until("document.getElementById('code').value.includes('TODO')")
    assert p.page.text_content("#ex-name") == "value"
    for code, verdict in ((WRONG, "not yet"), (RIGHT, "every check passes")):
        p.page.fill("#code", code)
        p.page.click("#check")
        p.wait_until(f"document.getElementById('verdict').textContent === {json.dumps(verdict)}")
        assert p.page.text_content("#feedback") == cli_feedback(code, tmp_path)
        if verdict == "not yet":
            p.shot("exercises-wrong", 900)
    p.shot("exercises", 1440)
    # progress is the browser's: after a reload the code and the pass are still there
    p.page.reload()
    p.wait_for_python()
    p.wait_until("document.getElementById('code').value.length > 0")
    assert p.page.input_value("#code") == RIGHT
    assert p.page.text_content("#exercise-list button[data-name=value] .mark") == "✓ passes"
    p.close()


@pytest.mark.browser
@pytest.mark.slow
def test_a_check_that_never_ends_is_stopped_and_reported_as_the_command_line_does(
        chromium, served, tmp_path):
    code = "def build_topo(root):\n    while True:\n        pass\n"
    p = SitePage(chromium, served + "exercises.html?timeout=3", width=900)
    p.wait_until("document.getElementById('code').value.length > 0")
    p.page.click("#exercise-list button[data-name=topo]")
    p.wait_until("document.getElementById('ex-name').textContent === 'topo'")
    p.page.fill("#code", code)
    p.page.click("#check")
    p.wait_until("document.getElementById('verdict').textContent === 'stopped'", timeout=120)
    feedback = p.page.text_content("#feedback")
    assert feedback == cli_feedback(code, tmp_path, "topo", "--timeout", "3")
    assert "stopped after 3 seconds while running the check 'build_topo: the lecture's L" in \
        " ".join(feedback.split())
    p.wait_for_python()                             # a fresh worker, ready for the next check
    p.close()


@pytest.mark.browser
@pytest.mark.slow
def test_a_snippet_that_never_ends_is_stopped_and_python_restarts(chromium, served):
    p = SitePage(chromium, served + "stepper.html", width=900)
    p.page.fill("#code", "while True:\n    pass\n")
    p.page.click("#run")
    p.wait_until("!document.getElementById('stop').hidden")
    p.page.click("#stop")
    p.wait_until("document.getElementById('output').textContent.startsWith('stopped')")
    p.wait_for_python()
    p.page.fill("#code", SNIPPET)
    p.page.click("#run")
    p.wait_until("document.getElementById('output').textContent.startsWith('L is')")
    p.close()


def _record_load(site, seconds):
    """The first load's time and the site's size, for the report (not asserted: no timed
    assertions in tests)."""
    out, done = site
    ARTIFACTS.mkdir(exist_ok=True)
    note = {"first_load_seconds": round(seconds, 2), "site_bytes": done["bytes"],
            "site_files": done["files"]}
    (ARTIFACTS / "site-load.json").write_text(json.dumps(note, indent=1))
    print(f"\nsite: first load to Python ready {seconds:.1f} s, {done['bytes'] / 1e6:.1f} MB")


# ---------------------------------------------------------------------------------------------
# The lab's data without numpy: the same floats as numpy and scikit-learn
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 1337, 2**31 - 1, 2**40 + 3])
def test_the_pure_python_streams_are_numpys(seed):
    import numpy as np

    from micrograd.site import lab_data
    legacy, mine = np.random.RandomState(seed % 2**32), lab_data.RandomState(seed % 2**32)
    assert legacy.random_sample(7).tolist() == [mine.random_sample() for _ in range(7)]
    assert legacy.randn(9).tolist() == mine.randn(9)                  # odd: the cached one
    assert legacy.uniform(-3.0, 2.0, size=(4, 2)).tolist() == mine.uniform(-3.0, 2.0, 4, 2)
    order = np.arange(1000)
    legacy.shuffle(order)
    assert order.tolist() == mine.shuffle(list(range(1000)))
    rng, gen = np.random.default_rng(seed), lab_data.Generator(seed)
    assert rng.bit_generator.random_raw(5).tolist() == [gen.next64() for _ in range(5)]
    assert rng.permutation(300).tolist() == gen.permutation(300)
    assert rng.permutation(np.arange(5, 40)).tolist() == gen.permutation(range(5, 40))


@pytest.mark.parametrize("dataset", ["moons", "circles", "spiral", "blobs", "xor"])
def test_the_lab_data_is_the_python_labs_float_for_float(dataset):
    import itertools

    from micrograd.lab import settings as lab_settings
    from micrograd.site import lab_data
    loss = "cross_entropy" if dataset in ("spiral", "blobs") else "hinge"
    compared = 0
    for seed, samples, noise, test_fraction in itertools.product(
            (0, 7, 2**31 - 1), (10, 37, 200), (0.0, 0.1, 0.73), (0.0, 0.2, 0.5)):
        s = lab_settings.parse_settings({"dataset": dataset, "seed": seed, "samples": samples,
                                         "noise": noise, "test_fraction": test_fraction,
                                         "loss": loss, "points": [[0.5, -0.25, 1]]})
        want = lab_settings.load_data(s)
        got = lab_data.lab_data(s.dataset, s.samples, s.noise, s.seed, s.test_fraction,
                                s.points)
        assert list(got) == [None if a is None else a.tolist() for a in want], s
        compared += 1
    assert compared == 81


# ---------------------------------------------------------------------------------------------
# The lab: the same run as micrograd lab's
# ---------------------------------------------------------------------------------------------
LAB_SETTINGS = {"seed": 3, "steps": 50, "batch_size": 64}


def python_lab(settings, points=()):
    """micrograd lab's own Session (numpy, threads) run to the end of `settings`: its state,
    and its inspect() of each (which, index) in `points`."""
    from micrograd.lab.session import Session
    session = Session()
    try:
        session.apply_settings(settings)
        session.control("play", 0)
        deadline = time.monotonic() + 300
        while session.state()["status"] in ("playing", "ready"):
            assert time.monotonic() < deadline, "the Python lab did not finish"
            time.sleep(0.05)
        return session.state(), [session.inspect(*point) for point in points]
    finally:
        session.close()


def train_through(lab):
    """The site's worker loop, in CPython: advance() until the run waits for the page."""
    while lab.advance() is not None:
        pass


def test_the_sites_lab_session_answers_as_the_python_lab_does():
    from micrograd.lab.session import Session
    from micrograd.site.lab_session import LabSession
    mine = LabSession()
    assert mine.request("POST", "/api/settings", {}, LAB_SETTINGS) == (200, {"ok": True})
    theirs = Session()
    theirs.apply_settings(LAB_SETTINGS)
    a, b = mine.state(), theirs.state()
    assert a["data"] == b["data"] and a["reproduce"] == b["reproduce"]
    assert a["view"]["boundary"] == b["view"]["boundary"]
    assert a["view"]["network"] == b["view"]["network"]
    assert mine.request("POST", "/api/control", {}, {"action": "play", "speed": 0}) == \
        (200, {"ok": True})
    train_through(mine)
    points = [("train", 0), ("test", 7)]
    want, inspected = python_lab(LAB_SETTINGS, points)
    got = mine.state()
    assert (got["status"], got["step"]) == ("done", 50)
    assert got["curves"] == want["curves"]
    for point, theirs_point in zip(points, inspected):
        mine_point = mine.inspect(*point)
        assert {k: v for k, v in mine_point.items() if k != "stepper"} == \
            {k: v for k, v in theirs_point.items() if k != "stepper"}
    page = mine.stepper_page(mine_point["stepper"])
    assert "backward() through the loss of test point #7 at step 50" in page
    assert mine.request("POST", "/api/control", {}, {"action": "jump"}) == \
        (400, {"error": "unknown action 'jump'; use play, pause, step, speed or reset"})
    assert mine.request("POST", "/api/settings", {}, {"samples": 5}) == \
        (400, {"error": "samples must be a whole number from 10 to 500; got 5"})
    assert mine.request("POST", "/api/settings", {}, {"compiled": True}) == \
        (400, {"error": "the compiled step needs numpy, which the site's Python does not "
                        "have: run `micrograd lab` for it"})
    theirs.close()


@pytest.mark.browser
@pytest.mark.slow
def test_the_lab_page_trains_the_python_labs_numbers_and_pauses_and_resets_at_once(
        chromium, served):
    p = SitePage(chromium, served + "lab.html", width=1440)
    page = p.page
    p.wait_until("window.lab && lab.view && lab.view.boundaryImage && lab.pending === 0")
    run = page.evaluate("() => lab.run")
    for selector, value in (("#seed", "3"), ("#steps", "50"), ("#batch", "64")):
        page.fill(selector, value)
        page.dispatch_event(selector, "change")
    p.wait_until(f"lab.run > {run} && lab.pending === 0 && lab.settings.steps === 50 && "
                 f"lab.settings.seed === 3 && lab.settings.batch_size === 64")
    # Play, then Pause: the worker answers between two steps, so it stops after at most one
    page.click("#play")
    p.wait_until("lab.step >= 3")
    page.click("#play")                                   # now "❚❚ Pause"
    p.wait_until("lab.status === 'paused' && !lab.playing")
    paused_at = page.evaluate("() => lab.step")
    page.wait_for_timeout(1500)
    p.wait_until("lab.pending === 0")
    assert page.evaluate("() => lab.step") == paused_at
    # Reset: a fresh run at step 0, at once
    run = page.evaluate("() => lab.run")
    page.click("#reset")
    p.wait_until(f"lab.run > {run} && lab.step === 0 && lab.curves.loss.length === 0")
    # Play to the end: every curve equals the Python lab's for the same settings
    page.click("#play")
    p.wait_until("lab.status === 'done'", timeout=300)
    p.shot("lab", 1440)
    p.shot("lab", 900)
    got = page.evaluate("() => lab.curves")
    want, (point,) = python_lab(LAB_SETTINGS, [("train", 7)])
    assert len(got["loss"]) == 50
    assert got == want["curves"]
    # a point, all the way down, and its stepper page in a window of its own
    x, y, _ = page.evaluate("() => lab.data.train[7]")
    px, py = page.evaluate(f"() => {{ const r = document.getElementById('plane')"
                           f".getBoundingClientRect(); const [a, b] = lab.toPixel({x}, {y}, r.width, "
                           f"r.height); return [r.left + a, r.top + b]; }}")
    page.mouse.click(px, py)
    p.wait_until("lab.point !== null && lab.point.index === 7")
    mine = page.evaluate("() => lab.point")
    assert {k: v for k, v in mine.items() if k != "stepper"} == \
        {k: v for k, v in point.items() if k != "stepper"}
    with p.context.expect_page() as popup:
        page.click("#open-stepper")
    stepper = popup.value
    stepper.wait_for_load_state()
    stepper.wait_for_selector("#title")
    assert stepper.text_content("#title") == \
        "backward() through the loss of train point #7 at step 50"
    assert stepper.evaluate("() => document.querySelectorAll('.node').length") == mine["nodes"]
    stepper.click("#step")
    assert stepper.text_content("#counter").startswith("step 1 /")
    stepper.close()
    p.close()


# A browser without JavaScript Promise Integration (Firefox, Safari): the worker's WebAssembly
# has no Suspending or promising, as there. The lab does not need them.
NO_JSPI = ("delete WebAssembly.Suspending; delete WebAssembly.promising;\n"
           "if ('Suspending' in WebAssembly) throw new Error('JSPI is still here');\n")
TANH_SETTINGS = {"seed": 5, "steps": 30, "batch_size": 64, "activation": "tanh", "loss": "mse",
                 "lr": 0.1, "features": ["x1", "x2", "x1sq", "x1x2"]}


@pytest.mark.browser
@pytest.mark.slow
def test_a_tanh_run_with_features_is_the_python_labs_bit_for_bit_without_jspi(
        chromium, served):
    """tanh through the engine (glibc's, from micrograd.site.libm, in Pyodide), two more
    inputs chosen in the page, in a browser without JSPI: Play, Pause between two steps, Play
    to the end; every loss and accuracy is the Python lab's."""
    p = SitePage(chromium, served + "lab.html", width=900, prefix={"worker.js": NO_JSPI})
    page = p.page
    p.wait_until("window.lab && lab.view && lab.view.boundaryImage && lab.pending === 0")
    for selector, value in (("#activation", "tanh"), ("#loss", "mse")):
        page.select_option(selector, value)
        p.wait_until(f"lab.settings.{selector[1:]} === '{value}' && lab.pending === 0")
    for selector, value in (("#seed", "5"), ("#steps", "30"), ("#batch", "64"), ("#lr", "0.1")):
        page.fill(selector, value)
        page.dispatch_event(selector, "change")
        p.wait_until("lab.pending === 0")
    for feature in ("x1sq", "x1x2"):
        page.check(f"#feature-{feature}")
        p.wait_until(f"lab.settings.features.includes('{feature}') && lab.pending === 0")
    p.wait_until("lab.view && lab.view.inputs && lab.view.inputs.length === 4")
    assert page.evaluate("() => lab.settings") == {**page.evaluate("() => lab.settings"),
                                                   **TANH_SETTINGS}
    page.click("#play")
    p.wait_until("lab.step >= 2")
    page.click("#play")                                   # Pause
    p.wait_until("lab.status === 'paused' && !lab.playing && lab.pending === 0")
    paused_at = page.evaluate("() => lab.step")
    page.wait_for_timeout(1000)
    p.wait_until("lab.pending === 0")
    assert page.evaluate("() => lab.step") == paused_at
    page.click("#play")
    p.wait_until("lab.status === 'done'", timeout=300)
    got = page.evaluate("() => lab.curves")
    want, _ = python_lab(TANH_SETTINGS)
    assert len(got["loss"]) == 30
    # (Playwright hands a whole-valued JS number over as an int: the same double)
    assert {k: [None if v is None else float(v) for v in vs] for k, vs in got.items()} == \
        want["curves"]
    assert page.is_hidden("#message")                     # nothing alarming on the page
    p.shot("lab-tanh", 900)
    p.shot("lab-tanh", 1440)
    # the compiled step: refused in one line on the page, the run left as it was
    page.click("#compiled")                  # (the page puts the box back: not check())
    p.wait_until("!document.getElementById('message').hidden && lab.pending === 0")
    assert page.text_content("#message").strip() == COMPILED_REFUSED
    assert page.evaluate("() => [lab.settings.compiled, lab.status, lab.step]") == \
        [False, "done", 30]
    p.shot("lab-compiled-refused", 900)
    p.close()


# The runs whose numbers once depended on the C library's log, sin and cos (docs/site.md): the
# spiral (its angles), the sin inputs, bce and cross_entropy (a log per point). The first two
# part from the Python lab's within a few steps with Pyodide's own sin and cos (musl's).
LAST_BITS_RUNS = {
    "spiral-sin-cross-entropy": {
        "dataset": "spiral", "noise": 0.2, "loss": "cross_entropy", "seed": 4, "steps": 30,
        "lr": 0.3, "layers": [8], "batch_size": 64, "features": ["x1", "x2", "sinx1", "sinx2"]},
    "moons-sin-bce": {
        "dataset": "moons", "noise": 0.1, "loss": "bce", "seed": 6, "steps": 50, "samples": 400,
        "optimizer": "adam", "lr": 0.05, "activation": "tanh", "layers": [6],
        "batch_size": None, "features": ["x1", "x2", "sinx1"]},
}


def _link(settings):
    """The lab's own link to a run: every setting in the URL's hash (lab-controls.js)."""
    from urllib.parse import urlencode
    text = {k: (",".join(v) if k == "features" else ",".join(map(str, v)) if k == "layers" else
                "" if v is None else str(v)) for k, v in settings.items()}
    return "#" + urlencode(text)


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("name", list(LAST_BITS_RUNS))
def test_the_spiral_sin_inputs_bce_and_cross_entropy_are_the_python_labs_bit_for_bit(
        chromium, served, name):
    """A shared link opens the run; Play trains it to the end; every loss and accuracy, train
    and test, is the Python lab's for the same settings, to the bit."""
    settings = LAST_BITS_RUNS[name]
    p = SitePage(chromium, served + "lab.html" + _link(settings), width=1440)
    page = p.page
    wanted = json.dumps(settings)
    p.wait_until(f"window.lab && lab.view && lab.pending === 0 && lab.settings && "
                 f"Object.entries({wanted}).every(([k, v]) => "
                 f"JSON.stringify(lab.settings[k]) === JSON.stringify(v))")
    p.wait_until(f"lab.view.inputs && lab.view.inputs.length === {len(settings['features'])}")
    page.click("#play")
    p.wait_until("lab.status === 'done'", timeout=300)
    got = page.evaluate("() => lab.curves")
    want, _ = python_lab(settings)
    assert len(got["loss"]) == settings["steps"]
    # (Playwright hands a whole-valued JS number over as an int: the same double)
    assert {k: [None if v is None else float(v) for v in vs] for k, vs in got.items()} == \
        want["curves"]
    assert page.is_hidden("#message")
    p.shot(f"lab-{name}", 1440)
    p.shot(f"lab-{name}", 900)
    p.close()


# Node runs the site's own Pyodide with the site's wheel installed, the data file in DATA
NODE_PYODIDE = r"""
import { readFileSync } from "node:fs";
const [pyodideDir, out, data] = process.argv.slice(2);
const { loadPyodide } = await import(pyodideDir + "/pyodide.mjs");
const py = await loadPyodide({ indexURL: pyodideDir + "/" });
const site = JSON.parse(readFileSync(out + "/site.json", "utf8"));
const purelib = py.runPython("import sysconfig; sysconfig.get_path('purelib')");
py.unpackArchive(new Uint8Array(readFileSync(out + "/" + site.wheel)), "wheel",
                 { extractDir: purelib });
py.globals.set("DATA", readFileSync(data, "utf8"));
"""
NODE_LAB = NODE_PYODIDE + r"""
process.stdout.write(py.runPython(`
import json, sys
from micrograd.lab.settings import Settings
from micrograd.site.worker_api import lab, lab_advance      # what the worker calls
curves = []
for doc in json.loads(DATA):
    assert lab("POST", "/api/settings", body={**Settings().to_dict(), **doc})["status"] == 200
    assert lab("POST", "/api/control", body={"action": "play", "speed": 0})["status"] == 200
    while lab_advance() is not None:
        pass
    curves.append(lab("GET", "/api/state")["body"]["curves"])
json.dumps({"platform": sys.platform, "curves": curves})
`));
"""
PYODIDE_RUNS = [
    {"seed": 1, "steps": 25, "optimizer": "adam", "lr": 0.02, "batch_size": 50,
     "activation": "tanh", "loss": "mse"},
    {"seed": 7, "steps": 25, "activation": "sigmoid", "loss": "bce", "layers": [8, 8],
     "lr": 0.5},
    {"seed": 2, "steps": 20, "dataset": "spiral", "loss": "cross_entropy", "lr": 0.3,
     "layers": [12], "features": ["x1", "x2", "x1x2", "x2sq"]},
    *LAST_BITS_RUNS.values(),
]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js to run Pyodide")
def test_the_sites_python_in_pyodide_trains_the_python_labs_numbers(site, tmp_path):
    """The site's own Pyodide and wheel, under Node, through the worker's calls: tanh with
    Adam and mse (the engine's tanh and ** as glibc's), sigmoid with bce (exp, and log),
    softmax over three classes with features, the spiral with sin inputs, bce with a sin
    input; every loss and accuracy is micrograd lab's."""
    out, _ = site
    script, docs = tmp_path / "lab.mjs", tmp_path / "docs.json"
    script.write_text(NODE_LAB)
    docs.write_text(json.dumps(PYODIDE_RUNS))
    run = subprocess.run(["node", str(script), str(out / "pyodide"), str(out), str(docs)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    got = json.loads(run.stdout)
    assert got["platform"] == "emscripten"
    for doc, curves in zip(PYODIDE_RUNS, got["curves"]):
        want, _ = python_lab(doc)
        assert curves == want["curves"], doc


NODE_MATH = NODE_PYODIDE + r"""
process.stdout.write(py.runPython(`
import json, math, sys
from micrograd import trig
from micrograd.site import libm
doc = json.loads(DATA)
logs = [float.fromhex(x) for x in doc["log"]]
angles = [float.fromhex(x) for x in doc["trig"]]
json.dumps({"platform": sys.platform, "fma": hasattr(math, "fma"),
            "log": [libm.log(x).hex() for x in logs],
            "c_log": [math.log(x).hex() for x in logs],
            "sin": [trig.sin(x).hex() for x in angles], "cos": [trig.cos(x).hex() for x in angles],
            "c_sin": [math.sin(x).hex() for x in angles]})
`));
"""


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js to run Pyodide")
@pytest.mark.skipif(not (sys.platform == "linux" and __import__("platform").libc_ver()[0] ==
                         "glibc"), reason="compares with glibc's math.log")
def test_in_pyodide_log_is_glibcs_and_sin_cos_are_the_same_as_here(site, tmp_path):
    """The site's own Pyodide (musl, math.fma) and wheel, under Node: libm.log gives glibc's
    log here bit for bit (where Pyodide's own C library does not, on the same arguments), and
    micrograd.trig's sin and cos give the same bits as here (where musl's do not)."""
    import math
    import random

    from micrograd import trig
    out, _ = site
    r = random.Random(21)
    logs = [r.uniform(0, 3) for _ in range(20000)] + [math.exp(r.uniform(-700, 700))
                                                      for _ in range(20000)] + \
        [1 + r.uniform(-0.07, 0.07) for _ in range(20000)] + [r.uniform(0, 1e-308)
                                                              for _ in range(2000)]
    logs = [x for x in logs if x > 0]
    angles = [r.uniform(-15, 15) for _ in range(6000)]
    script, args = tmp_path / "math.mjs", tmp_path / "args.json"
    script.write_text(NODE_MATH)
    args.write_text(json.dumps({"log": [x.hex() for x in logs], "trig": [x.hex() for x in angles]}))
    run = subprocess.run(["node", str(script), str(out / "pyodide"), str(out), str(args)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    got = json.loads(run.stdout)
    assert (got["platform"], got["fma"]) == ("emscripten", True)
    assert got["log"] == [math.log(x).hex() for x in logs]
    assert got["c_log"] != got["log"]                    # musl's own: a few round otherwise
    assert got["sin"] == [trig.sin(x).hex() for x in angles]
    assert got["cos"] == [trig.cos(x).hex() for x in angles]
    assert got["c_sin"] != got["sin"]


def test_the_sites_sin_and_cos_are_glibcs_at_every_angle_of_the_moons_and_circles():
    """In Pyodide lab_data takes sin and cos from micrograd.site.libm: correctly rounded, but
    glibc's (numpy's here) where glibc rounds the other way, from its table."""
    import math

    from micrograd.site import lab_data, libm
    angles = libm.lab_angles()
    assert len(angles) == 29678          # n = 1 .. 250, both kinds of linspace
    assert [libm.sin(x) for x in angles] == [math.sin(x) for x in angles]
    assert [libm.cos(x) for x in angles] == [math.cos(x) for x in angles]
    assert libm.make_table() == {k: v for k, v in json.loads(
        (ROOT / "micrograd/site/glibc_sincos.json").read_text()).items() if k != "made_by"}
    import random
    r = random.Random(7)
    xs = [r.uniform(-40, 40) for _ in range(3000)]
    for x in xs:                         # correctly rounded: within half an ulp of the truth
        for mine, theirs in ((libm.correct_sin, math.sin), (libm.correct_cos, math.cos)):
            assert abs(mine(x) - theirs(x)) <= math.ulp(theirs(x))
    lab_data.sin, lab_data.cos = libm.sin, libm.cos           # as in Pyodide
    try:
        for seed in (0, 5):
            for n in (10, 77, 500):
                assert lab_data.make_moons(n, 0.1, seed) == _numpy_rows(
                    "moons", n, 0.1, seed)
                assert lab_data.make_circles(n, 0.1, random_state=seed) == _numpy_rows(
                    "circles", n, 0.1, seed)
    finally:
        lab_data.sin, lab_data.cos = math.sin, math.cos


def _numpy_rows(name, n, noise, seed):
    from micrograd import data
    X, y = data.load_dataset(name, n_samples=n, noise=noise, seed=seed)
    return X.tolist(), y.tolist()


def test_the_sites_lab_saves_a_model_and_loads_it_back():
    from micrograd.site.lab_session import LabSession
    lab = LabSession()
    lab.request("POST", "/api/settings", {}, {"steps": 3, "layers": [4], "seed": 2})
    lab.request("POST", "/api/control", {}, {"action": "play"})
    train_through(lab)
    status, saved = lab.request("GET", "/api/model", {}, None)
    assert status == 200 and saved["name"] == "lab-moons-step3.json"
    text = json.dumps(saved["document"])
    other = LabSession()
    assert other.request("POST", "/api/model", {"name": "mine.json"}, text) == (200, {"ok": True})
    state = other.state()
    assert state["data"]["model_file"] == "mine.json"
    assert state["settings"]["layers"] == [4] and state["settings"]["seed"] == 2
    assert state["view"]["network"]["weights"] == lab.state()["view"]["network"]["weights"]
    assert other.request("POST", "/api/model", {"name": "bad.json"}, "{nope") == (400, {
        "error": "bad.json is not a micrograd model file: not valid JSON (Expecting property "
                 "name enclosed in double quotes: line 1 column 2 (char 1))"})


def test_without_npm_or_a_cache_the_build_says_what_to_do_in_one_line(tmp_path):
    from micrograd.site import pyodide_dist
    env = {"PATH": str(tmp_path / "no-bin"), "MICROGRAD_CACHE": str(tmp_path / "cache"),
           "HOME": str(tmp_path)}
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "micrograd", "site", str(out)], env=env,
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr == (f"micrograd: error: npm is needed once to fetch pyodide@"
                          f"{pyodide_dist.VERSION} (apt-get install npm), or set "
                          f"MICROGRAD_PYODIDE_DIR to a folder with "
                          f"{', '.join(pyodide_dist.FILES)}\n")
    assert not out.exists()
    half = tmp_path / "half"
    half.mkdir()
    (half / "pyodide.mjs").write_text("")
    run = subprocess.run([sys.executable, "-m", "micrograd", "site", str(out)],
                         env={**env, "MICROGRAD_PYODIDE_DIR": str(half)},
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 1
    assert run.stderr == (f"micrograd: error: MICROGRAD_PYODIDE_DIR={half} lacks "
                          f"pyodide.asm.mjs, pyodide.asm.wasm, python_stdlib.zip, "
                          f"pyodide-lock.json\n")
