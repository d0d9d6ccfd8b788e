"""The backprop stepper: its data (a replay of backward() that ends exactly at the engine's
grads), its page (self-contained, no markup from labels), and the page driven in a real
headless Chromium with Playwright (scripts/setup.sh dev installs chromium and playwright)."""
import json
import random
import re
import time
from pathlib import Path

import pytest

from micrograd.engine import Value
from micrograd.viz import stepper_data, stepper_html, write_stepper
from micrograd.lecture import lecture_expression, lecture_mlp_loss, lecture_neuron
from helpers.stepper import IN_VIEW, decay_chain, replay

ASSETS = Path(__file__).parent.parent / "micrograd" / "viz"


def engine_grads(build):
    """%.4f and exact grads that backward() gives on a fresh copy of the graph."""
    root = build()
    root.backward()
    return [v.grad for v in root.topo()]


def random_graph(seed):
    """A graph with shared nodes, a+a, constants and every unary op, to replay."""
    rng = random.Random(seed)
    xs = [Value(rng.uniform(0.5, 2.0), label=f"x{i}") for i in range(4)]
    pool = list(xs)
    for _ in range(25):
        a, b = rng.choice(pool), rng.choice(pool)
        op = rng.choice(["+", "-", "*", "/", "pow", "tanh", "exp", "relu", "sigmoid", "twice",
                         "const", "abs", "neg"])
        v = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
             "/": lambda: a / (b * b + 1), "pow": lambda: (a * a + 0.5) ** 1.5,
             "tanh": lambda: a.tanh(), "exp": lambda: (a * 0.1).exp(), "relu": lambda: a.relu(),
             "sigmoid": lambda: a.sigmoid(), "twice": lambda: a + a, "const": lambda: 2 * a + 1,
             "abs": lambda: abs(a), "neg": lambda: -a}[op]()
        pool.append(v)
    out = pool[-1]
    for v in pool[-6:-1]:
        out = out + v
    return out


# ---------------------------------------------------------------------------------------------
# The data
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("build", [lecture_expression, lecture_neuron, lecture_mlp_loss,
                                   lambda: random_graph(1), lambda: random_graph(2),
                                   lambda: random_graph(3)])
def test_replay_ends_exactly_at_the_engines_grads(build):
    data = stepper_data(build())
    expected = engine_grads(build)
    assert data["finalFull"] == [repr(g) for g in expected]        # bit for bit
    assert data["final"] == ["%.4f" % g for g in expected]
    assert replay(data, len(data["steps"])) == data["final"]


def test_steps_follow_the_engines_order():
    root = lecture_mlp_loss()
    topo = root.topo()
    data = stepper_data(root)
    order = [s["node"] for s in data["steps"]]
    assert data["steps"][0]["kind"] == "seed" and order[0] == len(topo) - 1
    assert order[1:] == [i for i in range(len(topo) - 1, -1, -1) if topo[i]._prev]


def test_stepper_does_not_touch_the_graph():
    o = lecture_neuron()
    before = [(v.data, v.grad, v.label) for v in o.topo()]
    stepper_html(o)
    assert [(v.data, v.grad, v.label) for v in o.topo()] == before
    o.backward()
    o.backward()                       # leaves now hold twice the gradient: the page still
    data = stepper_data(o)             # shows one backward() from zero
    assert data["final"] == ["%.4f" % g for g in engine_grads(lecture_neuron)]


def test_neuron_steps_explain_the_chain_rule():
    data = stepper_data(lecture_neuron())
    names = [n["name"] for n in data["nodes"]]
    steps = {names[s["node"]]: s for s in data["steps"] if s["kind"] == "chain"}
    tanh = steps["o"]
    assert tanh["op"] == "tanh" and tanh["forward"] == "o = tanh(n)"
    (term,) = tanh["terms"]
    assert term["formula"] == "1 - o²" and term["local"] == "0.5000"
    assert (term["product"], term["before"], term["after"]) == ("0.5000", "0.0000", "0.5000")
    mul = steps["x1*w1"]
    assert mul["forward"] == "(x1*w1) = x1 · w1"            # the engine's OPS["*"].formula
    assert [(t["formula"], t["local"], t["after"]) for t in mul["terms"]] == [
        ("w1", "-3.0000", "-1.5000"), ("x1", "2.0000", "1.0000")]


def test_numerical_check_agrees_for_every_leaf():
    for build in (lecture_expression, lecture_neuron, lecture_mlp_loss):
        data = stepper_data(build())
        leaves = [i for i, n in enumerate(data["nodes"]) if n["leaf"]]
        assert [c["node"] for c in data["checks"]] == leaves
        assert all(c["ok"] for c in data["checks"]), build
    data = stepper_data(lecture_neuron())
    neuron = {data["nodes"][c["node"]]["name"]: c["numeric"] for c in data["checks"]}
    assert neuron == {"x1": "-1.5000", "w1": "1.0000", "x2": "0.5000", "w2": "0.0000",
                      "b": "0.5000"}


def test_numerical_check_flags_a_kink_and_a_domain_edge_instead_of_crashing():
    x = Value(0.0, label="x")             # relu at its kink: backprop says 0, the nudge 0.5
    z = Value(0.0, label="z")             # log(z + 1e-7) nudged down by h: no real result
    y = x.relu() + (z + 1e-7).log()
    checks = {c["node"]: c for c in stepper_data(y)["checks"]}
    names = [v.label for v in y.topo()]
    kink, edge = checks[names.index("x")], checks[names.index("z")]
    assert (kink["ok"], kink["numeric"], kink["grad"]) == (False, "0.5000", "0.0000")
    assert (edge["ok"], edge["numeric"]) == (False, "n/a")


def test_layout_keeps_cards_apart_and_children_left_of_parents():
    data = stepper_data(lecture_mlp_loss())
    nodes = data["nodes"]
    for i, n in enumerate(nodes):
        for c in n["kids"]:
            assert nodes[c]["x"] + nodes[c]["w"] < n["x"]
        assert 0 <= n["x"] and n["x"] + n["w"] <= data["width"]
        assert 0 <= n["y"] and n["y"] + n["h"] <= data["height"]
    by_column = {}
    for n in nodes:
        by_column.setdefault(n["x"], []).append(n["y"])
    for ys in by_column.values():
        ys.sort()
        assert all(b - a >= nodes[0]["h"] for a, b in zip(ys, ys[1:]))


def test_limits_and_hand_written_backward_are_refused():
    with pytest.raises(ValueError, match="at most 10"):
        stepper_data(lecture_mlp_loss(), max_nodes=10)
    a = Value(2.0)
    out = Value(4.0, (a,), "sq")
    out._backward = lambda: None
    with pytest.raises(ValueError, match="hand-written _backward"):
        stepper_data(out)


# ---------------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------------
XSS = "<img src=x onerror=alert(1)>"
XSS2 = "</script><script>alert(2)</script>"


def xss_graph():
    a = Value(2.0, label=XSS)
    b = Value(-3.0, label=XSS2)
    c = a * b
    c.label = "&amp; \"q\" 'q' \u2028"
    return c.tanh()


def test_page_is_self_contained_and_embeds_data_safely():
    html = stepper_html(xss_graph())
    assert html.startswith("<!doctype html>")
    assert html.count("<script") == 2 and "<script src" not in html and "<link" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "default-src 'none'" in html                     # CSP: no network at all
    block = re.search(r'<script type="application/json" id="stepper-data">(.*?)</script>',
                      html, re.S).group(1)
    assert "<" not in block and ">" not in block and "&" not in block
    assert "\\u003cimg src=x onerror=alert(1)\\u003e" in block
    data = json.loads(block)
    assert data["nodes"][0]["label"] == XSS and data["nodes"][1]["label"] == XSS2
    assert "alert(2)</script>" not in html


def test_page_script_never_parses_markup():
    js = (ASSETS / "stepper.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function", "DOMParser", "createContextualFragment"):
        assert sink not in js


def test_write_stepper(tmp_path):
    path = write_stepper(lecture_expression(), tmp_path / "expr.html", title="L = (a*b + c) * f")
    html = path.read_text(encoding="utf-8")
    assert json.loads(re.search(r'id="stepper-data">(.*?)</script>', html, re.S).group(1))[
        "title"] == "L = (a*b + c) * f"


# ---------------------------------------------------------------------------------------------
# In a real browser
# ---------------------------------------------------------------------------------------------
class Page:
    """A stepper page open in Chromium, recording errors, dialogs and network requests."""

    def __init__(self, browser, root, tmp_path, name="page.html"):
        self.path = write_stepper(root, tmp_path / name)
        self.page = browser.new_page(viewport={"width": 1440, "height": 860})
        self.errors, self.dialogs, self.requests = [], [], []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(self.path.resolve().as_uri())
        self.n = self.page.evaluate("document.querySelectorAll('.node').length")

    def grads(self):
        return self.page.eval_on_selector_all(
            ".node .grad", "els => els.map(e => e.textContent)")

    def wait_until(self, condition, timeout=10.0):
        """Poll a JS condition (the page's CSP forbids eval, so no wait_for_function)."""
        deadline = time.monotonic() + timeout
        while not self.page.evaluate(f"() => {condition}"):
            assert time.monotonic() < deadline, f"timed out waiting for {condition}"
            self.page.wait_for_timeout(50)

    def counter(self):
        return self.page.text_content("#counter")

    def close(self):
        self.page.close()


def test_click_through_the_lectures_neuron(browser, tmp_path, artifacts):
    root = lecture_neuron()
    data = stepper_data(root)
    S = len(data["steps"])
    expected = ["grad %.4f" % g for g in engine_grads(lecture_neuron)]
    p = Page(browser, root, tmp_path)
    try:
        assert p.n == len(data["nodes"]) == 10
        assert p.counter() == f"step 0 / {S}"
        assert p.grads() == ["grad 0.0000"] * 10
        assert p.page.is_disabled("#back") and p.page.is_disabled("#reset")
        texts = p.page.eval_on_selector_all(".node .value", "els => els.map(e => e.textContent)")
        assert texts == ["data " + n["data"] for n in data["nodes"]]
        for k in range(1, S + 1):
            p.page.click("#step")
            assert p.counter() == f"step {k} / {S}"
            assert p.grads() == ["grad " + g for g in replay(data, k)]
            current = data["steps"][k - 1]["node"]
            assert p.page.get_attribute(f"#node-{current}", "class").split().count("current") == 1
            explain = p.page.text_content("#explain")
            if k > 1:
                step = data["steps"][k - 1]
                assert step["forward"] in explain
                for t in step["terms"]:
                    assert f"+= {t['local']} × {step['outGrad']} = {t['product']}" in explain
        assert p.grads() == expected                          # exactly backward()'s grads
        assert p.page.is_disabled("#step")
        assert "Done" in p.page.text_content("#explain")
        marks = p.page.eval_on_selector_all("#check-body .mark", "els => els.map(e => e.textContent)")
        assert marks == ["✓"] * 5
        numeric = p.page.eval_on_selector_all("#check-body .numeric",
                                              "els => els.map(e => e.textContent)")
        assert numeric == ["-1.5000", "1.0000", "0.5000", "0.0000", "0.5000"]

        p.page.click("#back")
        assert p.counter() == f"step {S - 1} / {S}"
        assert p.grads() == ["grad " + g for g in replay(data, S - 1)]
        p.page.click("#back")
        assert p.grads() == ["grad " + g for g in replay(data, S - 2)]
        p.page.click("#reset")
        assert p.counter() == f"step 0 / {S}"
        assert p.grads() == ["grad 0.0000"] * 10
        assert p.page.text_content("#check-body .mark") == ""

        p.page.keyboard.press("ArrowRight")
        p.page.keyboard.press("ArrowRight")
        assert p.counter() == f"step 2 / {S}"
        p.page.keyboard.press("ArrowLeft")
        assert p.counter() == f"step 1 / {S}"
        p.page.keyboard.press("End")
        assert p.grads() == expected
        p.page.keyboard.press("r")
        assert p.counter() == f"step 0 / {S}"

        p.page.select_option("#speed", "300")
        p.page.click("#play")
        assert p.page.text_content("#play").endswith("Pause")
        p.wait_until(f"window.microgradStepper.pos === {S}")
        assert p.grads() == expected
        p.wait_until("document.getElementById('play').textContent.endsWith('Play')")

        # clicking a node jumps to the step where it passes its gradient back
        n_index = [n["name"] for n in data["nodes"]].index("n")
        p.page.click(f"#node-{n_index}")
        assert p.page.evaluate("window.microgradStepper.pos") == [
            s["node"] for s in data["steps"]].index(n_index) + 1
        # clicking a leaf (no step of its own) points it out and keeps your place
        where = p.page.evaluate("window.microgradStepper.pos")
        p.page.click(f"#node-{[n['name'] for n in data['nodes']].index('x1')}")
        assert p.page.evaluate("window.microgradStepper.pos") == where

        # a picture for people: the lecture's neuron, halfway through
        p.page.keyboard.press("r")
        for _ in range(4):
            p.page.click("#step")
        p.page.wait_for_timeout(400)
        p.page.screenshot(path=str(artifacts / "stepper.png"))
        assert (artifacts / "stepper.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

        assert p.errors == [] and p.dialogs == []
        assert all(u.startswith("file:") for u in p.requests)
    finally:
        p.close()


def test_labels_cannot_inject_markup_or_script(browser, tmp_path):
    p = Page(browser, xss_graph(), tmp_path, "xss.html")
    try:
        p.page.click("#end")
        p.page.wait_for_timeout(200)
        assert p.dialogs == []
        assert p.page.query_selector_all("img") == []
        assert p.page.evaluate("document.scripts.length") == 2
        cells = p.page.eval_on_selector_all("#check-body tr td:first-child",
                                            "els => els.map(e => e.textContent)")
        assert cells == [XSS, XSS2]
        tips = p.page.eval_on_selector_all(".node title", "els => els.map(e => e.textContent)")
        assert tips[0].startswith(XSS) and tips[1].startswith(XSS2)
        assert XSS in p.page.text_content("#explain") or XSS2 in p.page.text_content("#explain")
        assert p.errors == []
    finally:
        p.close()


def test_the_mlp_loss_page_runs_to_the_end(browser, tmp_path):
    p = Page(browser, lecture_mlp_loss(), tmp_path, "mlp.html")
    try:
        p.page.click("#end")
        assert p.grads() == ["grad %.4f" % g for g in engine_grads(lecture_mlp_loss)]
        marks = p.page.eval_on_selector_all("#check-body .mark", "els => els.map(e => e.textContent)")
        assert marks and set(marks) == {"✓"}
        p.page.click("#zoom-in")
        p.page.click("#zoom-fit")
        assert p.errors == []
    finally:
        p.close()


# ---------------------------------------------------------------------------------------------
# Names and texts from the engine's op table
# ---------------------------------------------------------------------------------------------
def test_unnamed_nodes_are_named_by_their_op_and_inputs():
    x1, w1 = Value(2.0, label="x1"), Value(-3.0, label="w1")
    x2, w2 = Value(0.0, label="x2"), Value(1.0, label="w2")
    o = ((x1 * w1 + x2 * w2) + 6.88).tanh() * 2
    names = [n["name"] for n in stepper_data(o)["nodes"]]
    assert names == ["x1", "w1", "x1·w1", "x2", "w2", "x2·w2", "(x1·w1) + (x2·w2)", "6.88",
                     "… + 6.88", "tanh(… + 6.88)", "2", "tanh(… + 6.88)·2"]
    assert not any(re.fullmatch(r"#\d+", n) for n in names)


def test_made_up_names_are_short_and_repeats_get_a_subscript():
    data = stepper_data(lecture_mlp_loss())
    made_up = [n["name"] for n in data["nodes"] if not n["label"]]
    assert made_up and max(map(len, made_up)) <= 24 + 3
    assert "tanh(…)" in made_up and "tanh(…)₂" in made_up
    assert len(set(made_up)) == len(made_up)


def test_non_string_and_surrogate_labels_are_written(tmp_path):
    a = Value(2.0, label="\udcff")                 # a name decoded from a non-UTF-8 file name
    b = Value(3.0, label=7)                        # not a string at all
    path = write_stepper((a * b).tanh(), tmp_path / "odd.html")
    html = path.read_text(encoding="utf-8")
    block = re.search(r'id="stepper-data">(.*?)</script>', html, re.S).group(1)
    assert "\\udcff" in block
    data = json.loads(block)
    assert [n["name"] for n in data["nodes"][:2]] == ["\udcff", "7"]
    assert data["steps"][-1]["forward"].startswith("((\udcff)·7) = (\udcff) · 7")


def test_forward_and_derivative_texts_come_from_the_op_table():
    from micrograd.engine import OPS, Op
    a, b = Value(1.5, label="a"), Value(0.5, label="b")
    for name, op in OPS.items():
        if not op.formula:
            continue
        inputs = (a, b)[:len(op.derivatives)]
        out = op(*inputs)
        out.label = "y"
        step = stepper_data(out)["steps"][1]
        names = {"a": "a", "b": "b", "out": "y"}
        assert step["forward"] == "y = " + op.formula.format(**names), name
        assert [t["formula"] for t in step["terms"]] == [
            d.format(**names) for d in op.derivatives], name
    # an op of your own: its text where it has some, the call and no formula where not
    clip = Op("clip", lambda x: min(x, 1.0), lambda out, x: (1.0 if x < 1 else 0.0,),
              "min({a}, 1)", ("1 if {a} < 1 else 0",))
    mystery = Op("mystery", lambda x, y: x * y, lambda out, x, y: (y, x))
    step = stepper_data(clip(a))["steps"][1]
    assert step["forward"].endswith(" = min(a, 1)")
    assert step["terms"][0]["formula"] == "1 if a < 1 else 0"
    out = mystery(a, b)
    step = stepper_data(out)["steps"][1]
    assert step["forward"] == "mystery(a, b) = mystery(a, b)"
    assert [t["formula"] for t in step["terms"]] == ["", ""]


def test_the_n_ary_weighted_sum_is_spelled_out():
    from micrograd.engine import linear
    w = [Value(0.5, label="w0"), Value(-1.0, label="w1")]
    x = [Value(2.0, label="x0"), Value(3.0, label="x1")]
    out = linear(w, x, Value(0.25, label="b"))
    out.label = "z"
    step = stepper_data(out)["steps"][1]
    assert step["forward"] == "z = b + w0·x0 + w1·x1"
    assert [t["formula"] for t in step["terms"]] == ["1", "x0", "w0", "x1", "w1"]


# ---------------------------------------------------------------------------------------------
# The page fits: 900 px (a notebook's output) and 1440 px, standalone and in an iframe
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("width", [900, 1440])
def test_the_neuron_is_wholly_in_view_and_readable(browser, tmp_path, width, artifacts):
    path = write_stepper(lecture_neuron(), tmp_path / "neuron.html")
    page = browser.new_page(viewport={"width": width, "height": 760})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type in ("error", "warning") and errors.append(m.text))
    try:
        page.goto(path.resolve().as_uri())
        seen = page.evaluate(IN_VIEW)
        assert len(seen["boxes"]) == 6 and all(b["inside"] for b in seen["boxes"]), seen
        assert seen["smallest"] >= 8 and seen["smallestHtml"] >= 8
        assert seen["panelBelow"] == (width < 1100)             # the panel moves below
        assert seen["barHeight"] < 60                            # the toolbar does not wrap
        page.screenshot(path=str(artifacts / f"stepper-{width}.png"), full_page=True)
        assert errors == []                                      # no CSP violation either
    finally:
        page.close()


HOST = """<!doctype html><meta charset="utf-8"><body style="margin:0">
<p id="heights"></p>
<iframe id="f" src="{src}" style="width:{width}px;height:150px;border:0;display:block"></iframe>
<script>
addEventListener("message", e => {{
  if (e.data && e.data.type === "micrograd-stepper:height") {{
    document.getElementById("f").style.height = e.data.height + "px";
    document.getElementById("heights").textContent += e.data.height + " ";
  }}
}});
</script>"""


@pytest.mark.parametrize("width", [900, 1440])
def test_in_an_iframe_the_page_is_as_tall_as_its_content(browser, tmp_path, width, artifacts):
    write_stepper(lecture_neuron(), tmp_path / "neuron.html")
    (tmp_path / "host.html").write_text(HOST.format(src="neuron.html", width=width))
    page = browser.new_page(viewport={"width": width + 40, "height": 700})
    try:
        page.goto((tmp_path / "host.html").resolve().as_uri())
        frame = page.frame_locator("#f")
        frame.locator("#step").click()
        inner = page.frames[1]
        deadline = time.monotonic() + 10
        while True:
            want = inner.evaluate("window.microgradStepper.contentHeight()")
            got = page.evaluate("document.getElementById('f').getBoundingClientRect().height")
            if abs(want - got) <= 1 or time.monotonic() > deadline:
                break
            page.wait_for_timeout(50)
        assert abs(want - got) <= 1 and want > 400
        # all of it shows: no scrolling inside the frame, the graph's pane follows the graph
        assert inner.evaluate("document.scrollingElement.scrollHeight <= innerHeight + 1")
        pane, svg = inner.evaluate("""[document.getElementById('graph-pane').clientHeight,
                                       document.getElementById('graph').getBoundingClientRect().height]""")
        if width < 1100:
            assert svg <= pane <= svg + 40
        else:                            # the panel beside the graph needs a little room
            assert svg <= pane <= max(svg + 40, 560)
        seen = inner.evaluate(IN_VIEW)
        assert all(b["inside"] for b in seen["boxes"]) and seen["smallest"] >= 8
        page.screenshot(path=str(artifacts / f"stepper-iframe-{width}.png"), full_page=True)
    finally:
        page.close()


@pytest.mark.browser
def test_in_a_450px_output_the_whole_neuron_shows_and_no_gap_above_the_check(browser, tmp_path, artifacts):
    """JupyterLab at 900 px with its file browser open leaves about 450 px for an output:
    there the page shows the whole graph (leaves and root inside the frame's width; + zooms
    in), and the explanation is as tall as its text (no empty band above "Check by nudging")."""
    write_stepper(lecture_neuron(), tmp_path / "neuron.html")
    (tmp_path / "host.html").write_text(HOST.format(src="neuron.html", width=450))
    page = browser.new_page(viewport={"width": 490, "height": 2000})
    try:
        page.goto((tmp_path / "host.html").resolve().as_uri())
        page.frame_locator("#f").locator("#step").wait_for()
        inner = page.frames[1]
        frame_box = page.locator("#f").bounding_box()
        data = json.loads(inner.text_content("#stepper-data"))
        for i, n in enumerate(data["nodes"]):
            if n["leaf"] or i == data["root"]:
                r = inner.locator(f"#node-{i}").bounding_box()
                assert frame_box["x"] <= r["x"] and r["x"] + r["width"] <= \
                    frame_box["x"] + frame_box["width"], (i, r)
        scale = inner.evaluate("window.microgradStepper.scale()")
        assert 0.4 <= scale < 0.5
        gap = inner.evaluate("""(() => {
            const kids = [...document.getElementById('explain').children];
            const last = Math.max(...kids.map(e => e.getBoundingClientRect().bottom));
            return document.getElementById('check').getBoundingClientRect().top - last; })()""")
        assert 0 <= gap <= 24, gap                          # the panel's own 14 px gap
        page.screenshot(path=str(artifacts / "stepper-iframe-450.png"), full_page=True)
        inner.click("#zoom-in")                             # readable on demand
        assert inner.evaluate("window.microgradStepper.scale()") > scale
    finally:
        page.close()


def test_csp_allows_only_the_pages_own_script_by_its_hash():
    import base64
    import hashlib
    html = stepper_html(lecture_expression())
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', html).group(1)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    script = re.search(r'<script type="module">(.*?)</script>', html, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp
    style = re.search(r"<style>(.*?)</style>", html, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in csp


def test_an_injected_inline_script_does_not_run(browser, tmp_path):
    """The hash admits the page's script and nothing else: a script added to the page (as a
    careless embedder or an injection would) is blocked."""
    html = stepper_html(lecture_expression()).replace(
        "</body>", "<script>document.title = 'injected'</script></body>")
    path = tmp_path / "injected.html"
    path.write_text(html, encoding="utf-8")
    page = browser.new_page()
    try:
        page.goto(path.resolve().as_uri())
        assert page.evaluate("window.microgradStepper.steps") == 4        # ours runs
        assert page.title() != "injected"                                 # theirs does not
    finally:
        page.close()


# ---------------------------------------------------------------------------------------------
# Proportional to what changes: the same numbers as the whole-graph computation
# ---------------------------------------------------------------------------------------------
def whole_graph_nudge(root, leaf, h):
    """The nudge check the simple way: every node recomputed with the leaf moved by h."""
    topo = root.topo()
    index = {v: i for i, v in enumerate(topo)}

    def evaluate(x):
        d = [v.data for v in topo]
        d[leaf] = x
        for i, v in enumerate(topo):
            if v._prev and v._rule is not None:     # a hand-made node keeps its data
                d[i] = v._rule.forward(*[d[index[c]] for c in v._prev])
        return d[-1]
    x = topo[leaf].data
    return (evaluate(x + h) - evaluate(x - h)) / (2 * h)


@pytest.mark.parametrize("build", [lecture_neuron, lecture_mlp_loss, lambda: random_graph(4),
                                   lambda: random_graph(5)])
def test_the_nudge_check_recomputes_only_what_changes_with_the_same_numbers(build):
    root = build()
    data = stepper_data(root)
    for c in data["checks"]:
        assert c["numericFull"] == repr(whole_graph_nudge(root, c["node"], 1e-6))


def test_the_layout_of_the_neuron_is_as_before():
    nodes = stepper_data(lecture_neuron())["nodes"]
    assert [(n["name"], n["x"], n["y"], n["w"]) for n in nodes] == [
        ("x1", 24, 24.0, 112), ("w1", 24, 108.0, 112), ("x1*w1", 240, 94.0, 112),
        ("x2", 24, 192.0, 112), ("w2", 24, 276.0, 112), ("x2*w2", 240, 206.0, 112),
        ("x1*w1 + x2*w2", 456, 136.0, 138), ("b", 456, 220.0, 112), ("n", 698, 182.7, 112),
        ("o", 930, 182.7, 112)]


def test_steps_back_and_forth_redraw_exactly_what_changed(browser, tmp_path):
    """A Step redraws only the nodes it touches: after any walk, the page shows exactly what
    a full redraw would (the replayed grads, one current node, its inputs marked)."""
    root = lecture_mlp_loss()
    data = stepper_data(root)
    p = Page(browser, root, tmp_path, "walk.html")
    try:
        rng = random.Random(7)
        for _ in range(12):
            for _ in range(rng.randint(1, 25)):
                p.page.keyboard.press(rng.choice(["ArrowRight", "ArrowRight", "ArrowLeft"]))
            pos = p.page.evaluate("window.microgradStepper.pos")
            assert p.grads() == ["grad " + g for g in replay(data, pos)]
            classes = p.page.eval_on_selector_all(
                ".node", "els => els.map(e => e.getAttribute('class'))")
            current = [i for i, c in enumerate(classes) if "current" in c.split()]
            children = {i for i, c in enumerate(classes) if "child" in c.split()}
            if pos == 0:
                assert current == [] and children == set()
            else:
                step = data["steps"][pos - 1]
                assert current == [step["node"]]
                assert children == ({t["child"] for t in step["terms"]} - {step["node"]}
                                    if step["kind"] == "chain" else set())
        p.page.keyboard.press("End")
        assert p.grads() == ["grad %.4f" % g for g in engine_grads(lecture_mlp_loss)]
        assert p.errors == []
    finally:
        p.close()


def test_fit_shows_a_big_graph_whole(browser, tmp_path):
    p = Page(browser, lecture_mlp_loss(), tmp_path, "fit.html")
    try:
        p.page.keyboard.press("0")
        svg, pane = p.page.evaluate("""[document.getElementById('graph').getBoundingClientRect(),
            document.getElementById('graph-pane').getBoundingClientRect()].map(
            r => [r.left, r.top, r.right, r.bottom])""")
        assert p.page.evaluate("window.microgradStepper.scale()") < 0.35   # the old floor
        assert pane[0] <= svg[0] and pane[1] <= svg[1]
        assert svg[2] <= pane[2] and svg[3] <= pane[3]
    finally:
        p.close()


def test_a_node_without_an_op_and_a_none_label():
    a = Value(2.0)
    a.label = None                                 # no label, not the text "None"
    sq = Value(4.0, (a,), "sq")                    # made by hand, no Op (and no _backward)
    data = stepper_data(sq * 1.0)
    assert [n["name"] for n in data["nodes"]] == ["2", "sq(…)", "1", "sq(…)·1"]
    assert [c["numericFull"] for c in data["checks"]] == [
        repr(0.0), repr(whole_graph_nudge(sq * 1.0, 2, 1e-6))]


# ---------------------------------------------------------------------------------------------
# Linear in the graph: the nudge checks stop at a budget of work, the rest on request
# ---------------------------------------------------------------------------------------------
def count_forwards(monkeypatch):
    """Count every op's forward evaluation (what a nudge costs, per node it recomputes)."""
    from micrograd.engine import OPS
    calls = [0]
    for op in set(OPS.values()):
        def counted(*xs, _f=op.forward):
            calls[0] += 1
            return _f(*xs)
        monkeypatch.setattr(op, "forward", counted)
    return calls


def test_a_deep_chains_page_is_built_with_linear_work(monkeypatch):
    from micrograd.viz.nudge import NUDGE_BUDGET
    roots = {n: decay_chain(n) for n in (1500, 3000)}       # 6k and 12k nodes
    calls = count_forwards(monkeypatch)
    work = {}
    for n, root in roots.items():
        calls[0] = 0
        data = stepper_data(root, max_nodes=20_000)
        work[n] = calls[0]
        assert len(data["nodes"]) == 4 * n + 1
        # every leaf has a row; the nearest the root are computed, the rest wait for a request
        assert len(data["checks"]) == 2 * n + 1
        pending = [c for c in data["checks"] if c.get("pending")]
        assert data["pendingChecks"] == len(pending) and 0 < len(pending) < 2 * n + 1
        assert all((c["numeric"], c["ok"]) == ("", False) for c in pending)
        # two forward evaluations per node visit, at most the budget of visits
        assert work[n] <= 2 * NUDGE_BUDGET
    # (checking every leaf up front was quadratic: 18 million visits for the 12k-node chain)
    monkeypatch.undo()
    root = roots[1500]
    data = stepper_data(root, max_nodes=20_000)
    near = [c for c in data["checks"] if not c.get("pending")]
    assert data["nodes"][near[-1]["node"]]["label"] == "w1499"       # the last step's w
    for c in near[-3:]:
        assert c["ok"] and c["numericFull"] == repr(whole_graph_nudge(root, c["node"], 1e-6))


def test_a_pending_check_is_computed_on_request_with_one_forward_pass(monkeypatch):
    from micrograd.viz.stepper import stepper_check
    root = decay_chain(1500)
    far = next(i for i, v in enumerate(root.topo()) if v.label == "w0")   # the longest cone
    calls = count_forwards(monkeypatch)
    row = stepper_check(root, far, max_nodes=20_000)
    assert calls[0] <= 2 * (4 * 1500 + 1)                      # at most one pass, both ways
    monkeypatch.undo()
    expected = whole_graph_nudge(root, far, 1e-6)
    assert row["numericFull"] == repr(expected) and row["ok"]
    assert row["grad"] == "%.4f" % 0.999 ** 1499
    with pytest.raises(ValueError, match="node 2 is not a leaf"):
        stepper_check(lecture_neuron(), 2)                        # x1*w1


def test_the_page_shows_checks_over_its_budget_as_not_nudged(browser, tmp_path, artifacts):
    """A leaf the budget did not reach shows "…" and no verdict (not a false ✗); the intro
    says why; the leaves that were nudged are judged as before."""
    from micrograd.viz.stepper import stepper_page
    data = stepper_data(lecture_neuron(), nudge_budget=3)
    assert data["pendingChecks"] == 4                # only b (next to n) fits 3 visits
    path = tmp_path / "budget.html"
    path.write_text(stepper_page(data), encoding="utf-8")
    page = browser.new_page(viewport={"width": 900, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(path.resolve().as_uri())
        page.keyboard.press("End")
        rows = page.eval_on_selector_all("#check-body tr", """rs => rs.map(r =>
            [...r.children].map(td => td.textContent))""")
        assert rows == [["x1", "2.0000", "…", "-1.5000", ""], ["w1", "-3.0000", "…", "1.0000", ""],
                        ["x2", "0.0000", "…", "0.5000", ""], ["w2", "1.0000", "…", "0.0000", ""],
                        ["b", "6.8814", "0.5000", "0.5000", "✓"]]
        intro = page.text_content("#check-intro")
        assert "4 leaves farthest from o were not nudged up front (…)" in intro
        page.locator("#check").screenshot(path=str(artifacts / "stepper-checks-budget-900.png"))
        assert errors == []
    finally:
        page.close()


def test_no_budget_checks_every_leaf_and_the_visits_are_counted():
    from micrograd.viz.nudge import nudge_checks
    from micrograd.viz.stepper import _graph
    root = decay_chain(100)
    data = stepper_data(root, nudge_budget=None)
    assert data["pendingChecks"] == 0 and all(c["ok"] for c in data["checks"])
    topo, _, kids, parents, rules = _graph(root, 10_000)
    grads = [0.0] * len(topo)
    _, spent = nudge_checks(parents, kids, rules, [v.data for v in topo], grads, 1e-6, None)
    # v0's cone is every * and + node; step k's 0.999 feeds its *, w_k its +
    cones = [2 * 100] + [2 * (100 - k) for k in range(100)] + \
        [2 * (100 - k) - 1 for k in range(100)]
    assert spent == sum(cones)
    _, spent = nudge_checks(parents, kids, rules, [v.data for v in topo], grads, 1e-6, 500)
    assert spent == 500
