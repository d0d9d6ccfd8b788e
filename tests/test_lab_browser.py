"""micrograd lab in Debian's Chromium, through Playwright, against a server the test starts:
what a learner does (play, change the network, click a point, add points, save and load) and
what the page then shows. Screenshots go to tests/artifacts/."""
import json
import threading
import time

import pytest

from micrograd.lab.server import make_server
from micrograd.lab.session import Session


class Lab:
    """The lab page open in Chromium, recording console errors and failed requests."""

    def __init__(self, browser, server, width=1280, height=720, url_end=""):
        self.context = browser.new_context(viewport={"width": width, "height": height},
                                           accept_downloads=True)
        self.page = self.context.new_page()
        self.errors = []
        self.reloading = False
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("requestfailed", self._failed)
        self.page.goto(server.url + url_end)
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
                         f".getBoundingClientRect(); const [a, b] = lab.toPixel({x}, {y}, r.width, "
                         f"r.height); return [r.left + a, r.top + b]; }})()")
        self.page.mouse.click(px, py)

    def close(self):
        self.context.close()


def test_play_trains_moons_to_95_percent_and_the_views_follow(browser, server, artifacts):
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
    lab.page.screenshot(path=str(artifacts / "lab-1280x720.png"))
    lab.page.check("input[name=edges][value=grads]")   # the gradient view draws too
    lab.page.set_viewport_size({"width": 900, "height": 1000})
    lab.page.wait_for_timeout(300)
    lab.page.screenshot(path=str(artifacts / "lab-900.png"), full_page=True)
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


# ---------------------------------------------------------------------------------------------
# A lab for a room (issue 20)
# ---------------------------------------------------------------------------------------------
def start_server(session=None):
    srv = make_server(session=session)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    return srv


def stop_server(srv):
    srv.shutdown()
    srv.stop()


# every element whose text a room reads: the bar, the panels' titles, the controls, the legends
READABLE = ("[...document.querySelectorAll('h1, h2, button, label, select, input, #counter, "
            "#status, #acc-text, #click-mode span, #legend span, #net-legend span, .hint')]"
            ".filter(e => e.getClientRects().length && e.textContent.trim() !== '' || "
            "e.tagName === 'INPUT' || e.tagName === 'SELECT')"
            ".filter(e => e.getClientRects().length)"
            ".map(e => [e.id || e.tagName + ':' + e.textContent.trim().slice(0, 20), "
            "parseFloat(getComputedStyle(e).fontSize)])")


@pytest.mark.browser
def test_presentation_mode_at_1920_by_1080_has_20px_text_and_big_charts(browser, server, artifacts):
    lab = Lab(browser, server, width=1920, height=1080)
    # plain, at 1920: the layout uses the width (the charts grow beyond 150 px)
    plain_chart = lab.js("document.getElementById('loss-chart').getBoundingClientRect().height")
    assert plain_chart >= 230
    assert lab.js("document.documentElement.scrollWidth") <= 1920
    assert min(size for _, size in lab.js(READABLE)) < 20          # a desk, not a room
    lab.page.screenshot(path=str(artifacts / "lab-1920.png"))
    lab.close()

    lab = Lab(browser, server, width=1920, height=1080, url_end="&present=1")
    assert lab.js("document.body.classList.contains('present')") is True
    assert lab.page.get_attribute("#present", "aria-pressed") == "true"
    sizes = lab.js(READABLE)
    assert len(sizes) > 40
    small = [(name, size) for name, size in sizes if size < 20]
    assert small == [], small
    assert lab.js("lab.fontScale(11)") * 11 == 20                      # the canvases' text too
    chart = lab.js("document.getElementById('loss-chart').getBoundingClientRect()")
    plane = lab.js("document.getElementById('plane').getBoundingClientRect()")
    assert chart["height"] >= 230 and plane["width"] >= 600
    assert lab.js("document.documentElement.scrollWidth") <= 1920
    lab.page.click("#step")
    lab.wait_until("lab.step === 1")
    lab.page.screenshot(path=str(artifacts / "lab-1920-present.png"))
    # the button turns it off again, and the link says which
    lab.page.click("#present")
    assert lab.js("document.body.classList.contains('present')") is False
    assert "present=1" not in lab.js("location.hash")
    lab.page.keyboard.press("p")
    assert lab.js("location.hash").endswith("&present=1")
    assert lab.errors == []
    lab.close()


@pytest.mark.browser
def test_a_shared_link_opens_the_same_run_with_the_same_numbers(browser):
    first = start_server()
    try:
        lab = Lab(browser, first)
        lab.change(lambda: lab.page.select_option("#dataset", "circles"))
        lab.change(lambda: (lab.page.fill("#seed", "7"), lab.page.press("#seed", "Enter")))
        lab.change(lambda: lab.page.click("#layers .layer:nth-child(1) button[title='remove "
                                          "this layer']"))
        lab.change(lambda: lab.page.select_option("#optimizer", "adam"))
        lab.change(lambda: (lab.page.fill("#lr", "0.05"), lab.page.press("#lr", "Enter")))
        lab.change(lambda: lab.page.select_option("#activation", "tanh"))
        for _ in range(4):
            lab.page.click("#step")
        lab.wait_until("lab.step === 4")
        losses = lab.js("lab.curves.loss")
        link = lab.js("location.hash")
        settings = lab.js("lab.settings")
        assert "dataset=circles" in link and "seed=7" in link and "layers=16&" in link
        assert "optimizer=adam" in link and "lr=0.05" in link and "activation=tanh" in link
        assert lab.errors == []
        lab.close()
    finally:
        stop_server(first)
    # another lab, started fresh (the defaults: moons, seed 0, [16, 16]), opened by the link
    second = start_server()
    try:
        assert second.session.run.settings.dataset == "moons"
        lab = Lab(browser, second, url_end=link)
        lab.wait_until("lab.settings.dataset === 'circles' && lab.run > 1 && lab.pending === 0")
        assert lab.js("lab.settings") == settings
        assert lab.page.input_value("#dataset") == "circles"
        for _ in range(4):
            lab.page.click("#step")
        lab.wait_until("lab.step === 4")
        assert lab.js("lab.curves.loss") == losses                 # the same numbers
        assert lab.js("location.hash") == link
        assert lab.errors == []
        lab.close()
    finally:
        stop_server(second)


@pytest.mark.browser
def test_the_clicked_points_stepper_is_inline_and_follows_training(browser, server, artifacts):
    lab = Lab(browser, server, width=1440, height=900)
    lab.page.click("#step")
    lab.wait_until("lab.step === 1")
    for i in range(0, 160, 3):                         # a point with a loss, so grads flow
        x, y, _ = lab.js(f"lab.data.train[{i}]")
        lab.click_data(x, y)
        lab.wait_until(f"lab.point !== null && lab.point.index === {i}")
        if lab.js("lab.point.loss") > 0:
            break
    assert lab.js("document.getElementById('zero-loss-hint')") is None
    frame_el = lab.page.wait_for_selector("#point-stepper")
    frame = frame_el.content_frame()
    frame.wait_for_selector("#step")
    assert frame.text_content("#title") == f"backward() through the loss of train point #{i} " \
                                           f"at step 1"
    assert frame.evaluate("document.querySelectorAll('.node').length") == lab.js("lab.point.nodes")
    box = frame_el.bounding_box()
    panel = lab.page.locator("#point-panel").bounding_box()
    assert panel["x"] <= box["x"] and box["x"] + box["width"] <= panel["x"] + panel["width"]
    # the stepper reports its height and the frame takes it: nothing scrolls inside it
    lab.wait_until("Math.abs(document.getElementById('point-stepper').getBoundingClientRect()"
                   ".height - (lab.stepperHeight || 0)) <= 2")
    frame.click("#step")
    assert frame.text_content("#counter").startswith("step 1 /")
    # training runs: the point's numbers and its graph follow, every few steps
    lab.page.evaluate("() => { document.getElementById('speed').value = 2; "
                      "document.getElementById('speed').dispatchEvent(new Event('change')); }")
    lab.page.click("#play")
    lab.wait_until("lab.point.step >= 11", timeout=60)
    lab.wait_until("!document.getElementById('point-stepper').dataset.loading")
    frame = lab.page.query_selector("#point-stepper").content_frame()
    frame.wait_for_selector("#title")
    step = lab.js("lab.point.step")
    lab.wait_until(f"document.getElementById('point-stepper').contentDocument"
                   f".getElementById('title').textContent.endsWith('at step {step}')")
    assert lab.text(".point-summary").endswith(f"(weights of step {step}).")
    lab.page.click("#play")
    lab.wait_until("lab.status === 'paused' && lab.pending === 0")
    lab.page.screenshot(path=str(artifacts / "lab-1440-inline-stepper.png"), full_page=True)
    assert lab.errors == []
    lab.close()


@pytest.mark.browser
def test_a_point_beyond_the_margin_says_why_its_grads_are_zero(browser):
    session = Session()
    srv = start_server(session)
    try:
        lab = Lab(browser, srv, url_end="#steps=40")
        lab.wait_until("lab.settings.steps === 40 && lab.pending === 0")
        lab.page.click("#play")
        lab.wait_until("lab.status === 'done'", timeout=120)
        for i in range(0, 160):
            x, y, _ = lab.js(f"lab.data.train[{i}]")
            lab.click_data(x, y)
            lab.wait_until(f"lab.point !== null && lab.point.index === {i}")
            if lab.js("lab.point.loss") == 0:
                break
        assert lab.js("lab.point.loss") == 0
        assert lab.text("#zero-loss-hint") == (
            "This point is classified beyond the margin: its hinge loss is 0, so no gradient "
            "flows back from it, and every grad below is 0. Click a point near the boundary, "
            "or one on the wrong side, to see backprop at work.")
        grads = lab.page.eval_on_selector_all(".point-layer td:nth-child(3)",
                                              "els => els.map(e => e.textContent)")
        assert set(grads) == {"0.0000"}
        # Play after the end starts the run again from step 0 (and says so)
        assert lab.text("#play") == "↻ Play again"
        assert lab.page.get_attribute("#play", "title").startswith("The run has ended: start "
                                                                   "it again from step 0")
        assert not lab.js("document.getElementById('play').disabled")
        losses = lab.js("lab.curves.loss")
        run = lab.js("lab.run")
        lab.page.click("#play")
        lab.wait_until(f"lab.run === {run + 1} && lab.playing")
        lab.wait_until("lab.status === 'done'", timeout=120)
        assert lab.js("lab.curves.loss") == losses                 # the same run again
        assert lab.errors == []
        lab.close()
    finally:
        stop_server(srv)


@pytest.mark.browser
def test_three_classes_get_a_third_add_button_and_weights_their_own_colours(browser, server):
    lab = Lab(browser, server)
    assert not lab.page.is_visible("#add2-label")
    lab.change(lambda: lab.page.select_option("#dataset", "spiral"))
    assert lab.page.is_visible("#add2-label")
    n = lab.js("lab.data.train.length")
    lab.page.check("input[name=mode][value=add2]")
    lab.click_data(0.1, 0.2)
    lab.wait_until(f"lab.data.train.length === {n + 1}")
    assert lab.js(f"lab.data.train[{n}][2]") == 2
    assert lab.js("lab.settings.points") == [[lab.js(f"lab.data.train[{n}][0]"),
                                              lab.js(f"lab.data.train[{n}][1]"), 2]]
    # back to two classes: the class-2 point goes with the third button
    lab.change(lambda: lab.page.select_option("#dataset", "moons"))
    assert lab.js("lab.settings.points") == []
    assert not lab.page.is_visible("#add2-label")
    assert lab.js("document.querySelector('input[name=mode]:checked').value") == "inspect"
    # the network's edges: weight signs in colours no class has
    classes = {tuple(c) for c in lab.js("lab.colors.classes")}
    hexrgb = lambda h: tuple(int(h[i:i + 2], 16) for i in (1, 3, 5))
    assert hexrgb(lab.js("lab.colors.pos")) not in classes and hexrgb(lab.js("lab.colors.neg")) not in classes
    edge_pixels = lab.js("""(() => {
        const c = document.getElementById('net'), g = c.getContext('2d');
        const d = g.getImageData(0, 0, c.width, c.height).data, seen = new Set();
        for (let i = 0; i < d.length; i += 4) if (d[i + 3] === 255) seen.add(`${d[i]},${d[i+1]},${d[i+2]}`);
        return [...seen]; })()""")
    assert "106,61,154" in edge_pixels or "194,24,91" in edge_pixels
    assert lab.errors == []
    lab.close()


@pytest.mark.browser
def test_the_served_stepper_computes_a_pending_check_when_its_row_is_clicked(browser):
    from helpers.stepper import decay_chain
    session = Session()
    root = decay_chain(600)                   # 2,401 nodes: its far leaves over the budget
    # (a point's graph from the lab's own networks stays within the budget: this one is put
    # where inspect puts a point's loss, under a page id of its own)
    with session._cond:
        session._steppers["deep-chain"] = (root, "a deep chain")
    srv = start_server(session)
    try:
        lab = Lab(browser, srv)
        page = lab.context.new_page()
        page.goto(srv.url.replace("/?token=", "/stepper/deep-chain?token="))
        page.wait_for_selector("#check-body tr")
        assert page.text_content("#check-intro").endswith("Click one's row to nudge it.")
        pending = page.eval_on_selector_all(
            "#check-body td.numeric", "els => els.map((e, i) => [i, e.textContent])"
            ".filter(([i, t]) => t === '…').map(([i]) => i)")
        assert pending
        row = page.locator("#check-body tr").nth(pending[-1])
        node = int(row.get_attribute("id")[len("check-"):])
        from micrograd.viz.stepper import stepper_check
        want = stepper_check(root, node)
        row.click()
        page.wait_for_function(f"() => document.querySelector('#check-{node} td.numeric')"
                               f".textContent !== 'checking…' && document.querySelector("
                               f"'#check-{node} td.numeric').textContent !== '…'")
        assert page.text_content(f"#check-{node} td.numeric") == want["numeric"]
        assert page.get_attribute(f"#check-{node} td.numeric", "title") == want["numericFull"]
        page.click("#end")                                   # backprop done: judged now
        assert page.text_content(f"#check-{node} td.mark") == ("✓" if want["ok"] else "✗")
        page.close()
        assert lab.errors == []
        lab.close()
    finally:
        stop_server(srv)


@pytest.mark.browser
def test_input_features_are_chosen_in_the_page_and_drawn_in_the_network(browser, server, artifacts):
    lab = Lab(browser, server, width=1440, height=900)
    assert lab.page.eval_on_selector_all("#features label", "els => els.map(e => "
                                         "e.textContent.trim())") == \
        ["x1", "x2", "x1²", "x2²", "x1·x2", "sin x1", "sin x2"]
    assert lab.page.is_checked("#feature-x1") and not lab.page.is_checked("#feature-sinx1")
    lab.change(lambda: lab.page.check("#feature-sinx1"))
    lab.change(lambda: lab.page.check("#feature-x1x2"))
    assert lab.js("lab.settings.features") == ["x1", "x2", "x1x2", "sinx1"]
    lab.wait_until("lab.view.network.sizes[0] === 4")
    assert lab.js("lab.view.network.features") == ["x1", "x2", "x1·x2", "sin x1"]
    assert lab.js("lab.view.inputImages.length") == 4
    assert "features=x1%2Cx2%2Cx1x2%2Csinx1" in lab.js("location.hash")
    lab.page.click("#step")
    lab.wait_until("lab.step === 1")
    x, y, _ = lab.js("lab.data.train[5]")
    lab.click_data(x, y)
    lab.wait_until("lab.point !== null")
    names = lab.page.eval_on_selector_all(".point-layer:nth-child(1) td:first-child",
                                          "els => els.map(e => e.textContent)")
    assert names == ["x1", "x2", "x1·x2", "sin x1"]
    lab.page.locator("#net-panel").screenshot(path=str(artifacts / "lab-features-network.png"))
    assert lab.errors == []
    lab.close()
