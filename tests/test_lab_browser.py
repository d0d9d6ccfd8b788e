"""micrograd lab in Debian's Chromium, through Playwright, against a server the test starts:
what a learner does (play, change the network, click a point, add points, save and load) and
what the page then shows. Screenshots go to tests/artifacts/."""
import json
import threading
import time

import pytest

from micrograd.lab.server import make_server
from test_stepper import ARTIFACTS, browser  # noqa: F401 - the stepper tests' Chromium


@pytest.fixture
def server():
    srv = make_server()
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    yield srv
    srv.shutdown()
    srv.stop()


class Lab:
    """The lab page open in Chromium, recording console errors and failed requests."""

    def __init__(self, browser, server, width=1280, height=720):
        self.context = browser.new_context(viewport={"width": width, "height": height},
                                           accept_downloads=True)
        self.page = self.context.new_page()
        self.errors = []
        self.reloading = False
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("requestfailed", self._failed)
        self.page.goto(server.url)
        self.wait_until("window.lab && lab.view && lab.view.boundaryImage")

    def _failed(self, request):
        # A reload aborts the request in flight (the page's poll may be one): only that, and
        # only while reloading, is not an error; any other failure is.
        if self.reloading and request.failure == "net::ERR_ABORTED" and "/api/" in request.url:
            return
        self.errors.append(f"failed: {request.url} ({request.failure})")

    def reload(self, ready):
        """Reload the page and wait until `ready` holds on the new one."""
        self.reloading = True
        try:
            self.page.reload()
            self.wait_until(ready)
        finally:
            self.reloading = False

    def js(self, expr):
        return self.page.evaluate(f"() => {expr}")

    def wait_until(self, condition, timeout=30.0):
        """Poll a JS condition (the page's CSP forbids eval, so no wait_for_function)."""
        deadline = time.monotonic() + timeout
        while not self.js(condition):
            assert time.monotonic() < deadline, f"timed out waiting for {condition}; " \
                                                f"status {self.text('#status')!r}"
            self.page.wait_for_timeout(50)

    def change(self, action):
        """Do something that starts a new run on the server, and wait until the page has it."""
        run = self.js("lab.run")
        action()
        self.wait_until(f"lab.run > {run} && lab.pending === 0")

    def text(self, selector):
        return self.page.text_content(selector)

    def plane(self):
        return self.js("document.getElementById('plane').toDataURL()")

    def click_data(self, x, y):
        """Click the plane at data coordinates (x, y)."""
        px, py = self.js(f"(() => {{ const r = document.getElementById('plane')"
                         f".getBoundingClientRect(); const [a, b] = toPixel({x}, {y}, r.width, "
                         f"r.height); return [r.left + a, r.top + b]; }})()")
        self.page.mouse.click(px, py)

    def close(self):
        self.context.close()


def test_play_trains_moons_to_95_percent_and_the_views_follow(browser, server):
    lab = Lab(browser, server)
    assert lab.text("#counter") == "step 0 / 300"
    assert lab.text("#status") == "ready"
    assert lab.js("lab.view.network.sizes") == [2, 16, 16, 1]
    assert lab.js("document.querySelectorAll('#neurons canvas.neuron').length") == 32
    before = lab.plane()
    lab.page.click("#play")
    lab.wait_until("lab.step >= 5")
    # a reload mid-training: it carries on
    lab.reload("window.lab && lab.view && lab.view.boundaryImage && lab.step >= 5")
    assert lab.js("lab.playing") is True
    lab.wait_until("lab.step >= 30 && lab.curves.test_accuracy[lab.step - 1] >= 0.95",
                   timeout=120)
    assert lab.js("lab.curves.loss.length") == lab.js("lab.step")
    assert lab.text("#play") == "❚❚ Pause"
    lab.page.click("#play")
    lab.wait_until("lab.status === 'paused' && !lab.stepping && lab.pending === 0")
    assert lab.js("lab.curves.test_accuracy[lab.step - 1]") >= 0.95
    loss = lab.js("lab.curves.loss")
    assert loss[-1] < 0.5 * loss[0]                    # the loss curve fell
    step = lab.js("lab.step")
    assert lab.text("#counter") == f"step {step} / 300" and step == len(loss)
    test_acc = lab.js("lab.curves.test_accuracy")[-1]
    assert lab.text("#acc-text").endswith(f"test {round(test_acc * 100)}%")
    assert lab.plane() != before                       # the boundary moved
    for i in range(0, 160, 7):                         # a point the model still gets a loss on
        x, y, _ = lab.js(f"lab.data.train[{i}]")
        lab.click_data(x, y)
        lab.wait_until(f"lab.point !== null && lab.point.index === {i}")
        if lab.js("lab.point.loss") > 0:
            break
    lab.page.screenshot(path=str(ARTIFACTS / "lab-1280x720.png"))
    lab.page.check("input[name=edges][value=grads]")   # the gradient view draws too
    lab.page.set_viewport_size({"width": 900, "height": 1000})
    lab.page.wait_for_timeout(300)
    lab.page.screenshot(path=str(ARTIFACTS / "lab-900.png"), full_page=True)
    # at 900 px nothing spills sideways
    assert lab.js("document.documentElement.scrollWidth") <= 900
    # and a layer of 16 neurons' maps is one row, not 15 and a straggler
    tops = lab.js("[...document.querySelectorAll('.neuron-row')[0]"
                  ".querySelectorAll('canvas.neuron')].map(c => c.offsetTop)")
    assert len(tops) == 16 and len(set(tops)) == 1, tops
    assert lab.errors == []
    lab.close()


def test_changing_the_architecture_and_reset_retrain(browser, server):
    lab = Lab(browser, server)
    lab.page.click("#layers .layer:nth-child(1) button[title='one neuron fewer']")
    lab.wait_until("lab.view.network.sizes[1] === 15")
    lab.page.click("#add-layer")
    lab.wait_until("lab.view.network.sizes.length === 5")
    assert lab.js("lab.view.network.sizes") == [2, 15, 16, 16, 1]
    assert lab.js("document.querySelectorAll('#neurons canvas.neuron').length") == 47
    lab.change(lambda: lab.page.select_option("#activation", "tanh"))
    assert lab.js("lab.view.network.activations") == ["tanh"] * 3 + ["linear"]
    lab.page.click("#step")
    lab.page.click("#step")
    lab.wait_until("lab.step === 2")
    first = lab.js("lab.curves.loss")
    run = lab.js("lab.run")
    lab.page.click("#reset")
    lab.wait_until(f"lab.run === {run + 1} && lab.step === 0")
    assert lab.text("#counter") == "step 0 / 300"
    lab.page.click("#step")
    lab.page.click("#step")
    lab.wait_until("lab.step === 2")
    assert lab.js("lab.curves.loss") == first          # the same seed: the same run again
    # past the bounds: a clear message, and the run is untouched
    for _ in range(3):
        lab.page.click("#add-layer")
    lab.wait_until("lab.settings.layers.length === 6")
    lab.page.click("#add-layer")
    lab.wait_until("!document.getElementById('message').hidden")
    assert lab.text("#message") == "at most 6 hidden layers (a scalar engine gets slow " \
                                   "beyond); got 7"
    assert lab.js("lab.settings.layers.length") == 6
    lab.page.fill("#lr", "-3")
    lab.page.press("#lr", "Enter")
    lab.wait_until("document.getElementById('message').textContent.startsWith('lr ')")
    assert lab.text("#message") == "lr must be a number from 1e-06 to 10; got -3"
    assert lab.errors == ["Failed to load resource: the server responded with a status of "
                          "400 (Bad Request)"] * 2           # the two refusals, and nothing else
    lab.close()


def test_clicking_a_point_shows_its_graph_and_opens_its_stepper(browser, server):
    lab = Lab(browser, server)
    lab.page.click("#step")
    lab.wait_until("lab.step === 1")
    x, y, label = lab.js("lab.data.train[7]")
    lab.click_data(x, y)
    lab.wait_until("lab.point !== null")
    p = lab.js("lab.point")
    assert (p["which"], p["index"]) == ("train", 7)
    summary = lab.text(".point-summary")
    assert summary.startswith(f"train point #7 at ({x:.4f}, {y:.4f}), class {label};")
    assert summary.endswith("(weights of step 1).")
    heads = lab.page.eval_on_selector_all(".point-layer h3", "els => els.map(e => e.textContent)")
    assert heads == ["input", "hidden 1 (relu)", "hidden 2 (relu)", "output"]
    rows = lab.page.eval_on_selector_all(".point-layer:nth-child(2) tr",
                                         "els => els.map(e => e.textContent)")
    assert len(rows) == 17
    assert rows[1] == f"h1.1{p['layers'][0]['data'][0]:.4f}{p['layers'][0]['grad'][0]:.4f}"
    with lab.context.expect_page() as popup:
        lab.page.click("#open-stepper")
    stepper = popup.value
    stepper_errors = []
    stepper.on("console", lambda m: m.type == "error" and stepper_errors.append(m.text))
    stepper.wait_for_load_state()
    assert stepper.text_content("#title") == "backward() through the loss of train point #7 " \
                                             "at step 1"
    nodes = stepper.evaluate("() => document.querySelectorAll('.node').length")
    assert nodes == p["nodes"]
    stepper.click("#step")                               # its script runs under the hashed CSP
    assert stepper.text_content("#counter").startswith("step 1 /")
    assert stepper_errors == []
    stepper.close()
    assert lab.errors == []
    lab.close()


def test_clicking_on_the_plane_adds_a_point_and_removes_it(browser, server):
    lab = Lab(browser, server)
    n = lab.js("lab.data.train.length")
    before = lab.plane()
    lab.page.check("input[name=mode][value=add1]")
    lab.click_data(-0.5, -0.5)
    lab.wait_until(f"lab.data.train.length === {n + 1}")
    x, y, c = lab.js(f"lab.data.train[{n}]")
    assert c == 1 and abs(x + 0.5) < 0.02 and abs(y + 0.5) < 0.02
    assert lab.text("#own-count") == "1"
    assert lab.js("lab.data.own_from") == n
    assert lab.plane() != before
    assert "mine = np.array([[" in lab.text("#repro-python")
    assert lab.text("#repro-command") == "# no command line: micrograd train cannot add your " \
                                         "own points"
    lab.page.check("input[name=mode][value=remove]")
    lab.click_data(x, y)
    lab.wait_until(f"lab.data.train.length === {n}")
    assert lab.text("#own-count") == "0"
    assert lab.plane() == before
    assert lab.errors == []
    lab.close()


def test_save_then_load_restores_the_same_boundary(browser, server, tmp_path):
    lab = Lab(browser, server)
    lab.change(lambda: lab.page.select_option("#dataset", "circles"))
    for _ in range(3):
        lab.page.click("#step")
    lab.wait_until("lab.step === 3")
    saved = lab.plane()
    with lab.page.expect_download() as download:
        lab.page.click("#save")
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    assert path.name == "lab-circles-step3.json"
    doc = json.loads(path.read_text())
    assert doc["format"] == "micrograd.mlp" and doc["meta"]["lab"]["dataset"] == "circles"
    lab.change(lambda: lab.page.select_option("#dataset", "moons"))
    assert lab.plane() != saved
    run = lab.js("lab.run")
    lab.page.set_input_files("#load", str(path))
    lab.wait_until(f"lab.run === {run + 1}")
    assert lab.js("lab.settings.dataset") == "circles"
    assert lab.page.input_value("#dataset") == "circles"
    assert lab.plane() == saved                          # pixel for pixel
    assert "model = load_model('lab-circles-step3.json')" in lab.text("#repro-python")
    assert lab.errors == []
    lab.close()
