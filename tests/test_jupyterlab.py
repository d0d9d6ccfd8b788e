"""show_stepper in a real JupyterLab, in Debian's Chromium through Playwright.

The test starts `jupyter lab` on 127.0.0.1 with a random token and a temporary root (and
temporary Jupyter config/data/runtime directories, so the notebook signature database is its
own), and stops it by its pid. A trusted (signed) notebook shows the stepper inline at the
page's own height (nothing scrolls inside the iframe), the lecture neuron's leaves and root in
view with text of 8 px or more, and its Step button works; an untrusted one shows only the note, and running the cell shows the
stepper. Screenshots at 900 and 1440 px wide go to tests/artifacts/."""
import copy
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from micrograd.viz import stepper_data
from micrograd.lecture import lecture_neuron
from helpers.stepper import IN_VIEW, replay

CELL = ("from micrograd.viz import show_stepper\n"
        "from micrograd.lecture import lecture_neuron\n"
        "show_stepper(lecture_neuron())")
NOTE = ("backward() through o: the backprop stepper is hidden because this notebook is not "
        "trusted. Run the cell to see the stepper.")
LIVE = ("import random\nfrom micrograd.data import load_dataset\nfrom micrograd.nn import MLP\n"
        "from micrograd.train import fit\n"
        "X, y = load_dataset('moons', n_samples=100, noise=0.1, seed=1337)\n"
        "random.seed(1337)\n"
        "history = fit(MLP(2, [16, 16, 1]), X, y, steps=60, compiled=True, live=20)")
NOTEBOOKS = Path(__file__).parent.parent / "notebooks"
LECTURE_NOTEBOOKS = ("01_derivatives_and_backprop", "02_neuron", "03_mlp_training")
pytestmark = pytest.mark.notebook     # a JupyterLab server and its kernels
SLOW = 180_000          # ms: JupyterLab's first load and a kernel start, on a busy machine


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid):
    """Pids of the processes whose parent is `pid` (the server's kernels), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def notebook(source):
    import nbformat
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    # imported here: nbformat's import takes seconds that collecting the fast tier should not pay
    import nbformat
    from nbclient import NotebookClient
    from nbformat.sign import NotebookNotary
    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    for d in ("root", "data", "config", "run"):
        (base / d).mkdir()
    # no news feed, no update check: JupyterLab stays offline and its toast off the screenshots
    settings = base / "config/lab/user-settings/@jupyterlab/apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}')
    env = dict(os.environ, JUPYTER_DATA_DIR=str(base / "data"),
               JUPYTER_CONFIG_DIR=str(base / "config"), JUPYTER_RUNTIME_DIR=str(base / "run"))

    # Executed here; one copy signed (trusted), one with other content and no signature.
    trusted = notebook(CELL)
    NotebookClient(trusted, timeout=120, kernel_name="python3").execute()
    untrusted = copy.deepcopy(trusted)
    untrusted.cells[0].source += "  # opened from a file"
    NotebookNotary(data_dir=str(base / "data")).sign(trusted)
    nbformat.write(trusted, root / "trusted.ipynb")
    nbformat.write(untrusted, root / "untrusted.ipynb")
    nbformat.write(notebook(LIVE), root / "live.ipynb")
    # the lecture's notebooks with their graphs, run here and signed (as a learner's run)
    for name in LECTURE_NOTEBOOKS:
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(root)}}).execute()
        NotebookNotary(data_dir=str(base / "data")).sign(nb)
        nbformat.write(nb, root / f"{name}.ipynb")

    port, token = free_port(), secrets.token_urlsafe(24)
    log = open(base / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={root}", "--allow-root", "--LabApp.extension_manager=readonly"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (base / "server.log").read_text()
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "jupyter lab did not start"
                time.sleep(0.5)
        yield {"url": url, "token": token, "root": root}
    finally:
        kernels = children(server.pid)
        server.send_signal(signal.SIGTERM)          # jupyter_server shuts its kernels down
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        deadline = time.monotonic() + 30
        while any(alive(k) for k in kernels) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = [k for k in kernels if alive(k)]
        for k in left:
            os.kill(k, signal.SIGKILL)
        assert not left, f"kernels left running after the server stopped: {left}"


def open_notebook_fresh(browser, lab, name, width=1440):
    """A new browser context on JupyterLab with only `name` open."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(f"{lab['url']}/lab/tree/{name}?reset&token={lab['token']}", timeout=SLOW)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=SLOW)
    return context, page


def open_notebook(browser, lab, name, width):
    context, page = open_notebook_fresh(browser, lab, name, width)
    page.wait_for_selector(".jp-OutputArea-output", timeout=SLOW)
    return context, page


def stepper_frame(page):
    frame = page.wait_for_selector(".jp-OutputArea-output iframe", timeout=SLOW).content_frame()
    frame.wait_for_selector("#step")
    return frame


def settled_height(page, frame, seconds=10):
    """The iframe's height once it equals the page's own content height (the output's script
    sizes it by the page's message), or the last one seen."""
    iframe = page.locator(".jp-OutputArea-output iframe")
    deadline = time.monotonic() + seconds
    while True:
        want = frame.evaluate("window.microgradStepper.contentHeight()")
        got = iframe.bounding_box()["height"]
        if abs(want - got) <= 1 or time.monotonic() > deadline:
            return want, got
        page.wait_for_timeout(100)


def leaves_and_root_in_view(page, frame, data):
    """Every leaf's and the root's card, in page coordinates (through the frame), inside the
    iframe and inside the window: what a learner sees without scrolling anything."""
    box = page.locator(".jp-OutputArea-output iframe").bounding_box()
    view = page.viewport_size
    out = []
    for i, n in enumerate(data["nodes"]):
        if n["leaf"] or i == data["root"]:
            r = frame.locator(f"#node-{i}").bounding_box()
            out.append(box["x"] <= r["x"] and r["x"] + r["width"] <= box["x"] + box["width"]
                       and box["y"] <= r["y"] and r["y"] + r["height"] <= box["y"] + box["height"]
                       and r["x"] >= 0 and r["x"] + r["width"] <= view["width"]
                       and r["y"] >= 0 and r["y"] + r["height"] <= view["height"])
    return out


@pytest.mark.parametrize("width", [1440, 900])
def test_a_trusted_notebook_shows_the_stepper_inline_and_it_steps(browser, lab, width,
                                                                  artifacts):
    data = stepper_data(lecture_neuron())
    S = len(data["steps"])
    context, page = open_notebook(browser, lab, "trusted.ipynb", width)
    try:
        frame = stepper_frame(page)
        assert not page.locator(".jp-OutputArea-output .micrograd-untrusted").is_visible()
        if width < 1000:                   # a laptop: the file browser folded away
            page.click(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
            page.wait_for_timeout(500)
            assert page.locator(".jp-OutputArea-output iframe").bounding_box()["width"] >= 650
        box = page.locator(".jp-OutputArea-output iframe").bounding_box()
        area = page.locator(".jp-OutputArea-output").first.bounding_box()
        assert area["width"] - 24 <= box["width"] <= area["width"]    # the output's width
        # the iframe is as tall as the page in it: nothing scrolls inside it
        want, got = settled_height(page, frame)
        assert abs(want - got) <= 1, (want, got)
        assert frame.evaluate("document.scrollingElement.scrollHeight <= innerHeight + 1")
        page.screenshot(path=str(artifacts / f"jupyterlab-stepper-{width}-load.png"))
        # on load: the neuron from its leaves to its root in view, its text readable
        assert len(leaves_and_root_in_view(page, frame, data)) == 6
        assert all(leaves_and_root_in_view(page, frame, data)), frame.evaluate(IN_VIEW)
        seen = frame.evaluate(IN_VIEW)
        assert seen["smallest"] >= 8 and seen["smallestHtml"] >= 8, seen
        assert seen["panelBelow"] == (box["width"] < 1100)       # the panel moves below
        assert frame.text_content("#counter") == f"step 0 / {S}"
        assert frame.eval_on_selector_all(".node .grad", "els => els.map(e => e.textContent)") \
            == ["grad 0.0000"] * len(data["nodes"])
        for _ in range(3):
            frame.click("#step")
        assert frame.text_content("#counter") == f"step 3 / {S}"
        assert frame.eval_on_selector_all(".node .grad", "els => els.map(e => e.textContent)") \
            == ["grad " + g for g in replay(data, 3)]
        step = data["steps"][2]                              # the third step: x1*w1 + x2*w2
        assert step["forward"] in frame.text_content("#explain")
        want, got = settled_height(page, frame)              # still no scrollbar inside
        assert abs(want - got) <= 1, (want, got)
        page.wait_for_timeout(300)
        shot = artifacts / f"jupyterlab-stepper-{width}.png"
        page.screenshot(path=str(shot))
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        context.close()


def test_an_untrusted_notebook_says_to_run_the_cell_and_running_it_shows_the_stepper(
        browser, lab, artifacts):
    context, page = open_notebook(browser, lab, "untrusted.ipynb", 1440)
    try:
        output = page.locator(".jp-OutputArea-output").first
        assert page.locator(".jp-OutputArea-output iframe").count() == 0
        assert output.inner_text().strip() == NOTE
        # what the note says: run the cell (JupyterLab starts the notebook's kernel)
        run_first_cell(page)
        try:
            frame = stepper_frame(page)
        except Exception:
            page.screenshot(path=str(artifacts / "jupyterlab-run-failed.png"))
            raise
        assert re.fullmatch(r"step 0 / \d+", frame.text_content("#counter"))
        assert not page.locator(".jp-OutputArea-output .micrograd-untrusted").is_visible()
    finally:
        context.close()


def run_first_cell(page):
    page.wait_for_selector(".jp-StatusBar-Widget:has-text('Python 3 (ipykernel) | Idle')",
                           timeout=SLOW)
    page.click(".jp-Cell .jp-InputArea-editor")
    page.keyboard.press("Shift+Enter")


def test_live_training_redraws_one_picture_under_the_progress_bar(browser, lab, artifacts):
    context, page = open_notebook_fresh(browser, lab, "live.ipynb")
    try:
        run_first_cell(page)
        outputs = page.locator(".jp-Cell").first.locator(".jp-OutputArea-output")
        pictures, deadline = set(), time.monotonic() + SLOW / 1000
        while "fit took" not in (outputs.last.inner_text() if outputs.count() else ""):
            assert time.monotonic() < deadline, "training did not finish"
            for img in outputs.locator("img").all():
                pictures.add(img.get_attribute("src"))
            assert outputs.locator("img").count() <= 1           # one picture, redrawn
            page.wait_for_timeout(100)
        pictures.add(outputs.locator("img").first.get_attribute("src"))
        assert len(pictures) >= 2                                # it changed as it trained
        assert outputs.count() == 3
        bar = outputs.nth(0)
        assert bar.locator(".widget-hprogress, .jupyter-widgets.widget-hprogress").count() == 1
        assert "60/60" in bar.inner_text()                       # the bar stays, complete
        assert re.fullmatch(r"fit took \d+\.\d s: 60 steps, final loss [\d.e-]+, accuracy "
                            r"[\d.]+%", outputs.nth(2).inner_text().strip())
        page.screenshot(path=str(artifacts / "jupyterlab-live.png"))
    finally:
        context.close()


# ---------------------------------------------------------------------------------------------
# draw_dot's pictures fit their output (issue 20)
# ---------------------------------------------------------------------------------------------
GRAPHS = """() => [...document.querySelectorAll('.jp-OutputArea-output')]
  .filter(o => o.querySelector('img[alt="the computation graph"]'))
  .map(o => { const r = o.getBoundingClientRect();
              const i = o.querySelector('img[alt="the computation graph"]').getBoundingClientRect();
              return {out: [r.left, r.right], img: [i.left, i.right, i.width, i.height],
                      natural: o.querySelector('img[alt="the computation graph"]').naturalWidth,
                      window: innerWidth}; })"""


def graph_boxes(page, n):
    """Every draw_dot picture's box against its output's, each scrolled into view first
    (JupyterLab renders cells as they come into view)."""
    cells = page.locator(".jp-Cell:has(img[alt='the computation graph'])")
    page.wait_for_function(f"() => document.querySelectorAll("
                           f"'img[alt=\"the computation graph\"]').length >= {n}",
                           timeout=SLOW)
    for k in range(cells.count()):
        cells.nth(k).scroll_into_view_if_needed()
        page.wait_for_timeout(50)
    return page.evaluate(GRAPHS)


@pytest.mark.browser
@pytest.mark.parametrize("name,n", [("01_derivatives_and_backprop", 5), ("02_neuron", 5),
                                    ("03_mlp_training", 1)])
@pytest.mark.parametrize("width", [1440, 900])
def test_the_lecture_graphs_fit_their_output(browser, lab, name, n, width, artifacts):
    """At 1440 px, and at 900 px with the file browser open (an output about 450 px wide):
    every graph wholly inside its output, as wide as it fits; a click shows its natural
    size (scrolling inside the output), another fits it again."""
    context, page = open_notebook(browser, lab, f"{name}.ipynb", width)
    try:
        boxes = graph_boxes(page, n)
        assert len(boxes) >= n
        for b in boxes:
            left, right = b["out"]
            il, ir, iw, ih = b["img"]
            assert left - 0.5 <= il and ir <= right + 0.5, b            # within the output
            assert ir <= b["window"] and ih > 0, b                      # and the window
            # as wide as the output allows (less its 20 px padding), never past its own size
            assert min(b["natural"], right - left - 24) - 1 <= iw <= b["natural"] + 0.5, b
        widths = [b["out"][1] - b["out"][0] for b in boxes]
        if width == 900:
            assert max(widths) < 520                 # the narrow output the issue measured
        page.screenshot(path=str(artifacts / f"jupyterlab-{name[:2]}-graphs-{width}.png"))
        # natural size on a click, fitted again on the next
        img = page.locator("img[alt='the computation graph']").first
        img.scroll_into_view_if_needed()
        fitted = img.bounding_box()["width"]
        natural = img.evaluate("i => i.naturalWidth")
        img.click()
        page.wait_for_timeout(100)
        assert img.bounding_box()["width"] == pytest.approx(natural, abs=1)
        img.click(position={"x": 5, "y": 5})
        page.wait_for_timeout(100)
        assert img.bounding_box()["width"] == pytest.approx(fitted, abs=1)
    finally:
        context.close()
