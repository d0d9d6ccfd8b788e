"""The lecture notebooks (notebooks/*.ipynb), executed top to bottom in a fresh Jupyter kernel
with nbclient, and what they show: the numbers, and the pictures' MIME types (image/svg+xml for
draw_dot, image/png for the plots, text/html for the stepper). Also, in a real kernel: plots
display once with and without pyplot, fit(live=...) updates one output in place, and
show_stepper's HTML and text; and the executed notebook exported by nbconvert, in Chromium: the
stepper's iframe as tall as its page."""
import base64
import html
import random
import re
import time
from pathlib import Path

import pytest

from micrograd.nn import MLP
from micrograd.viz import show_stepper, stepper_data, stepper_html
from micrograd.lecture import lecture_expression, lecture_mlp_loss, lecture_neuron
from helpers.stepper import IN_VIEW

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ["01_derivatives_and_backprop", "02_neuron", "03_mlp_training", "04_moons_live",
         "05_microgpt"]
WIDGET = "application/vnd.jupyter.widget-view+json"
# nbformat and nbclient are imported where they are used: nbformat's import (jsonschema's format
# checkers) takes seconds, which collecting the suite (and a run that leaves these tests out)
# should not pay.


def execute(nb, cwd):
    """Run every cell in a fresh python3 kernel (the test's PYTHONPATH is inherited)."""
    from nbclient import NotebookClient
    NotebookClient(nb, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def run_notebook(name, tmp_path):
    import nbformat
    return execute(nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4), tmp_path)


def run_cells(sources, tmp_path):
    import nbformat
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    return execute(nb, tmp_path).cells


def code_cell(nb, start):
    """The one code cell whose source starts with `start`."""
    found = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith(start)]
    assert len(found) == 1, (start, len(found))
    return found[0]


def printed(cell):
    return "".join(o.text for o in cell.outputs if o.output_type == "stream")


def result(cell):
    (out,) = [o for o in cell.outputs if o.output_type == "execute_result"]
    return out.data


def pictures(cell):
    """The MIME type of each picture the cell shows, in order."""
    kinds = ("image/svg+xml", "image/png", "text/html")
    return [k for o in cell.outputs for k in o.get("data", {}) if k in kinds]


# draw_dot's output: the SVG, and the HTML that fits it to the output's width (the same SVG)
GRAPH = ["image/svg+xml", "text/html"]


def fitted_svg(data):
    """The SVG inside a draw_dot output's HTML wrapper (checked to be the bundle's SVG)."""
    src = re.search(r'<img alt="the computation graph" src="data:image/svg\+xml;base64,'
                    r'([A-Za-z0-9+/=]+)">', data["text/html"]).group(1)
    svg = base64.b64decode(src).decode("utf-8")
    assert svg == data["image/svg+xml"]
    return svg


def svg_values(svg):
    """{label: (data, grad)} of the value boxes in a draw_dot SVG."""
    boxes = {}
    for group in re.findall(r'<g id="node\d+" class="node">(.*?)</g>', svg, re.S):
        texts = [html.unescape(t) for t in re.findall(r"<text[^>]*>(.*?)</text>", group)]
        if len(texts) == 3 and texts[2].startswith("grad "):
            boxes[texts[0]] = (texts[1], texts[2])
    return boxes


def test_notebooks_ship_without_outputs():
    import nbformat
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == NAMES
    for name in NAMES:
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code and all(c.outputs == [] and c.execution_count is None for c in code)
        assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
        # the package only: no engine of their own, nothing imported but micrograd (and random,
        # and torch for the side-by-side check)
        source = "\n".join(c.source for c in code)
        assert not re.search(r"^\s*class ", source, re.M)
        imported = set(re.findall(r"^\s*(?:from|import) (\w+)", source, re.M))
        assert imported <= {"micrograd", "random", "torch"}, imported


def test_the_notebook_extra_is_in_all_and_the_test_tools_in_dev():
    import tomllib
    pyproject = NOTEBOOKS.parent / "pyproject.toml"
    extras = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
    names = {k: {re.match(r"[\w-]+", r).group() for r in v} for k, v in extras.items()}
    assert names["notebook"] == {"ipykernel", "ipywidgets"}
    assert "notebook" in re.search(r"\[(.*)\]", extras["all"][0]).group(1).split(",")
    assert {"nbclient", "nbformat", "jupyterlab", "playwright"} <= names["dev"]


@pytest.mark.notebook
def test_derivatives_and_manual_backprop(tmp_path):
    nb = run_notebook("01_derivatives_and_backprop", tmp_path)
    assert result(code_cell(nb, "def f(x)"))["text/plain"] == "20.0"
    assert printed(code_cell(nb, "h = 0.001")) == (
        "x = 3.0000   slope = 14.0030\nx = -3.0000   slope = -21.9970\n"
        "x = 0.6667   slope = 0.0030\n")
    assert printed(code_cell(nb, "h = 0.0001\na, b, c")) == \
        "dd/da = -3.0000\ndd/db = 2.0000\ndd/dc = 1.0000\n"
    # the original's repr, as micrograd 0.1.0 prints it (no label; a fresh grad is the int 0)
    assert result(code_cell(nb, "from micrograd import Value"))["text/plain"] == \
        "Value(data=-8.0, grad=0)"
    # draw_dot after every manual step: an SVG whose grads fill in from L back to the leaves
    L = lecture_expression(backward=True)
    final = {v.label: v.grad for v in L.topo()}
    steps = [("draw_dot(L)", ""), ("L.grad = 1.0", "L"), ("d.grad = f.data", "Ldf"),
             ("c.grad = d.grad", "Ldfce"), ("a.grad = e.grad", "Ldfceab")]
    for start, filled in steps:
        cell = code_cell(nb, start)
        assert pictures(cell) == GRAPH
        shown = svg_values(fitted_svg(result(cell)))
        assert shown == {v.label: (f"data {v.data:.4f}",
                                   f"grad {final[v.label] if v.label in filled else 0.0:.4f}")
                         for v in L.topo()}, start
    assert printed(code_cell(nb, "def L_of")) == "".join(
        f"dL/d{n}: by nudging {final[n]:.4f}   by backprop {final[n]:.4f}\n" for n in "abcf")
    assert printed(code_cell(nb, "a2, b2, c2, f2")) == \
        "{'a': 6.0, 'b': -4.0, 'c': -2.0, 'f': 4.0}\n"
    assert printed(code_cell(nb, "step = 0.01")) == "-7.286496\n"          # the lecture's


@pytest.mark.notebook
def test_neuron_stepper_and_pytorch(tmp_path):
    nb = run_notebook("02_neuron", tmp_path)
    grads = "{'x1': -1.5, 'w1': 1.0, 'x2': 0.5, 'w2': 0.0, 'b': 0.5}\n"
    assert pictures(code_cell(nb, "from micrograd import Value")) == GRAPH
    assert printed(code_cell(nb, "o.grad = 1.0")) == "n.grad = 0.5000\n"
    assert "grad 0.5000" in result(code_cell(nb, "o.grad = 1.0"))["image/svg+xml"]
    assert pictures(code_cell(nb, "v['n']._backward()")) == GRAPH
    by_hand = code_cell(nb, "v['x1w1']._backward()")
    assert printed(by_hand) == grads and pictures(by_hand) == GRAPH
    assert printed(code_cell(nb, "o, v = neuron()\no.backward()")) == grads

    stepper = code_cell(nb, "show_stepper(")
    assert pictures(stepper) == ["text/html"]
    page = re.search(r'srcdoc="([^"]*)"', result(stepper)["text/html"]).group(1)
    assert html.unescape(page) == stepper_html(lecture_neuron(),
                                               title="o = tanh(x1*w1 + x2*w2 + b)")
    assert "run the cell to see the stepper" in result(stepper)["text/plain"]

    exp_cell = code_cell(nb, "x1, x2 = Value(2.0")
    assert printed(exp_cell) == "o = 0.7071 {'x1': -1.5, 'w1': 1.0, 'x2': 0.5, 'w2': 0.0}\n"
    assert pictures(exp_cell) == GRAPH
    assert "exp" in result(exp_cell)["image/svg+xml"]
    rows = printed(code_cell(nb, "import torch")).splitlines()
    assert rows[1].split() == ["o", "0.707107", "0.707107"]
    assert [r.split() for r in rows[2:]] == [["x1", "-1.500000", "-1.500000"],
                                             ["w1", "1.000000", "1.000000"],
                                             ["x2", "0.500000", "0.500000"],
                                             ["w2", "0.000000", "0.000000"]]


@pytest.mark.notebook
def test_mlp_and_the_training_loop(tmp_path):
    nb = run_notebook("03_mlp_training", tmp_path)
    # the same run, here: the lecture's loop with the notebook's seed
    random.seed(1337)
    n = MLP(3, [4, 4, 1], activation="tanh", fused=False)
    first = n([2.0, 3.0, -1.0])
    xs = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
    ys = [1.0, -1.0, -1.0, 1.0]
    lines = []
    for k in range(20):
        ypred = [n(x) for x in xs]
        loss = sum((yout - ygt) ** 2 for ygt, yout in zip(ys, ypred))
        n.zero_grad()
        loss.backward()
        for p in n.parameters():
            p.data += -0.1 * p.grad
        lines.append(f"{k} {loss.data}\n")

    made = code_cell(nb, "import random")
    assert printed(made) == "41 parameters\n"
    assert result(made)["text/plain"] == repr(first)
    drawn = code_cell(nb, "draw_dot(n(")
    assert pictures(drawn) == GRAPH
    # 126 values: drawn with each neuron as one box by default, and the caption says so
    assert "126 values, each neuron drawn as one box; pass collapse=False to see every " \
           "value" in fitted_svg(result(drawn))
    assert printed(code_cell(nb, "for k in range(20)")) == "".join(lines)
    assert float(lines[-1].split()[1]) < 0.05
    assert result(code_cell(nb, "[round(y.data"))["text/plain"] == \
        repr([round(y.data, 4) for y in ypred])


@pytest.mark.notebook
@pytest.mark.slow          # the demo's 100 steps twice: in the kernel (drawn live), then here
def test_moons_with_live_training(tmp_path):
    nb = run_notebook("04_moons_live", tmp_path)
    from micrograd.data import load_dataset
    from micrograd.train import fit
    X, y = load_dataset("moons", n_samples=100, noise=0.1, seed=1337)
    random.seed(1337)
    model = MLP(2, [16, 16, 1])
    history = fit(model, X, y, loss="hinge", lr=1.0, schedule="linear", steps=100,
                  compiled=True, progress=False)

    assert pictures(code_cell(nb, "import random")) == ["image/png"]
    live = code_cell(nb, "history = fit(")
    kinds = [(o.output_type, sorted(o.get("data", {}))) for o in live.outputs]
    assert kinds == [("display_data", [WIDGET, "text/plain"]),        # the tqdm bar, kept
                     ("display_data", ["image/png", "text/plain"]),   # one picture, redrawn
                     ("stream", [])]
    assert live.outputs[1].data["image/png"]                          # base64 of a PNG
    assert live.outputs[1].data["text/plain"] == (
            f"Trained {history.steps} steps: the last step's loss {history.loss[-1]:.4g}, "
            f"training accuracy {history.accuracy[-1]:.1%}")
    summary = printed(live)
    assert re.fullmatch(rf"fit took \d+\.\d s: {re.escape(history.summary())}\n", summary)
    assert history.summary() == "100 steps, final loss 0.01098, accuracy 100.0%"
    shown = [c for c in nb.cells if c.cell_type == "code" and c.source == "history"]
    assert result(shown[0])["text/plain"] == repr(history)
    assert pictures(code_cell(nb, "plot_decision_boundary(model, X, y)")) == ["image/png"]
    assert pictures(code_cell(nb, "plot_history(")) == ["image/png"]


@pytest.mark.notebook
@pytest.mark.slow          # microgpt's 150 training steps twice: in the kernel, then here
def test_microgpt(tmp_path):
    """The model from its pieces, one head's graph (SVG) and stepper (HTML), live training (one
    PNG redrawn in place), names: the numbers those of the same calls made here."""
    nb = run_notebook("05_microgpt", tmp_path)
    from micrograd import data, gpt
    docs = data.names()
    rng = random.Random(42)
    rng.shuffle(docs)
    tok = gpt.CharTokenizer.from_documents(docs)
    model = gpt.GPT(gpt.GPTConfig(tok.vocab_size), rng)

    first = code_cell(nb, "import random")
    assert printed(first).startswith(f"32033 names, e.g. {docs[:5]}\n")
    assert result(first)["text/plain"] == repr(model)
    head = code_cell(nb, "from micrograd.engine import Value")
    scope = {"random": random, "gpt": gpt}
    exec(head.source, scope)                                   # the same graph, built here
    assert printed(head) == f"{len(scope['out'].topo())} values in the graph\n"
    assert pictures(head) == GRAPH
    boxes = svg_values(fitted_svg(result(head)))
    assert {"head0[0]", "q[0]", "k0[1]", "v1[0]", "x1[3]", "wq[0][0]"} <= set(boxes)
    assert boxes["head0[0]"][1] == "grad 1.0000"
    assert pictures(code_cell(nb, "show_stepper(out)")) == ["text/html"]

    live = code_cell(nb, "from micrograd.viz.live_loss import LiveLoss")
    kinds = [(o.output_type, sorted(o.get("data", {}))) for o in live.outputs]
    assert kinds == [("display_data", ["image/png", "text/plain"]), ("stream", [])]
    losses = gpt.train(model, tok, docs, steps=150)
    assert live.outputs[0].data["text/plain"] == \
        f"training: 150 steps, last loss {losses[-1]:.4f}"
    assert printed(live) == (f"first loss {losses[0]:.4f}, mean of the last 50 "
                             f"{sum(losses[-50:]) / 50:.4f}\n")
    assert losses[0] == 3.3659669475848504               # microgpt's first loss ("3.3660")
    names = [gpt.sample(model, tok, rng, temperature=0.5) for _ in range(10)]
    assert printed(code_cell(nb, "for i in range(10)")) == "".join(f"{n}\n" for n in names)


# ---------------------------------------------------------------------------------------------
# In a kernel: the plots, live training
# ---------------------------------------------------------------------------------------------
@pytest.mark.notebook
def test_plots_show_once_with_or_without_pyplot_and_plt_show_shows_nothing(tmp_path):
    setup = ("import random, sys\nfrom micrograd.nn import MLP\nfrom micrograd.train import fit\n"
             "from micrograd.viz.plots import plot_history, plot_decision_boundary\n"
             "X = [[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]; y = [0, 1, 1, 0]\n"
             "random.seed(0); m = MLP(2, [4, 1])\n"
             "h = fit(m, X, y, steps=5, progress=False)\n"
             "print('matplotlib.pyplot' in sys.modules)")
    cells = run_cells([setup, "plot_history(h)",
                       "import matplotlib.pyplot as plt\nplot_history(h)",
                       "plot_decision_boundary(m, X, y)",
                       "plot_history(h); plt.show()",
                       "fig, ax = plt.subplots()\nplot_decision_boundary(m, X, y, ax=ax);"],
                      tmp_path)
    assert printed(cells[0]) == "False\n"                     # no pyplot at all, and still:
    assert pictures(cells[1]) == ["image/png"]
    assert pictures(cells[2]) == ["image/png"]                # pyplot's inline backend: once
    assert pictures(cells[3]) == ["image/png"]
    assert cells[4].outputs == []                             # as documented
    assert pictures(cells[5]) == ["image/png"]                # into pyplot's own axes: pyplot shows it


@pytest.mark.notebook
def test_live_training_updates_one_output_in_place(tmp_path):
    cells = run_cells([
        "import random\nfrom micrograd.nn import MLP\nfrom micrograd.train import fit\n"
        "from micrograd.viz import notebook\n"
        "shown = []\nshow = notebook.LivePicture.show\n"
        "notebook.LivePicture.show = lambda self, h: (shown.append(h.steps), show(self, h))\n"
        "X = [[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]; y = [0, 1, 1, 0]\n"
        "random.seed(0)\nh = fit(MLP(2, [4, 1]), X, y, steps=12, live=5)",
        "print(shown)",
        "random.seed(0)\nh = fit(MLP(2, [4, 1]), X, y, steps=12, live=6, progress=False,"
        " compiled=True)\nprint(shown[4:])",
    ], tmp_path)
    outs = cells[0].outputs
    assert [sorted(o.get("data", {})) for o in outs[:2]] == [[WIDGET, "text/plain"],
                                                            ["image/png", "text/plain"]]
    assert outs[2].output_type == "stream" and outs[2].text.startswith("fit took ")
    assert len(outs) == 3
    assert printed(cells[1]) == "[1, 6, 11, 12]\n"            # after steps 0, 5, 10 and the end
    assert [o.output_type for o in cells[2].outputs] == ["display_data", "stream"]
    assert printed(cells[2]) == "[1, 7, 12]\n"       # compiled: the model is synced to draw


def test_live_picture_titles_say_the_step_reached_then_trained():
    import random

    from micrograd.nn import MLP
    from micrograd.train import fit
    from micrograd.viz import notebook
    X = [[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]
    y = [0, 1, 1, 0]
    pictures = []
    live = notebook.LivePicture(MLP(2, [4, 1]), X, y, every=5, steps=12)
    live.start = lambda model, history: setattr(live, "handle", type(
        "Handle", (), {"update": lambda self, p: pictures.append(p)})())
    random.seed(0)
    live.model = MLP(2, [4, 1])
    h = fit(live.model, X, y, steps=12, progress=False, callbacks=[live])
    titles = [repr(p) for p in pictures]
    at = lambda k: (f"loss {h.loss[k]:.4g}, training accuracy {h.accuracy[k]:.1%}")
    assert titles == [f"Training, step 1 of 12: {at(0)}", f"Training, step 6 of 12: {at(5)}",
                      f"Training, step 11 of 12: {at(10)}",
                      f"Trained 12 steps: the last step's {at(11)}"]
    assert not any("final" in t for t in titles)
    assert all(p.png[:8] == b"\x89PNG\r\n\x1a\n" for p in pictures)


def test_live_training_first_frame_has_a_step_axis_and_a_visible_point():
    import random

    from micrograd.nn import MLP
    from micrograd.train import fit
    from micrograd.viz.plots import plot_training
    X = [[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]
    y = [0, 1, 1, 0]
    random.seed(0)
    model = MLP(2, [4, 1])
    h = fit(model, X, y, steps=1, progress=False)
    fig = plot_training(model, X, y, h, steps=40)
    loss_ax, acc_ax = fig.axes[1], fig.axes[2]
    assert loss_ax.get_xlim()[1] >= 39 and acc_ax.get_xlim()[1] >= 39
    assert loss_ax.get_ylim() == (0, 1.2 * h.loss[0])
    line = loss_ax.get_lines()[0]
    assert list(line.get_ydata()) == [h.loss[0]] and line.get_marker() == "o"


def test_live_true_draws_ten_times_a_run():
    from micrograd.viz.notebook import live_every
    assert [live_every(True, n) for n in (5, 10, 100, 1000)] == [1, 1, 10, 100]
    assert live_every(7, 100) == 7 and live_every(False, 100) is None


# ---------------------------------------------------------------------------------------------
# show_stepper, without a kernel
# ---------------------------------------------------------------------------------------------
def test_show_stepper_is_the_page_in_a_sandboxed_iframe_with_an_untrusted_note():
    view = show_stepper(lecture_neuron())
    out = view._repr_html_()
    assert out.count("<iframe") == 1 and 'sandbox="allow-scripts"' in out
    assert html.unescape(re.search(r'srcdoc="([^"]*)"', out).group(1)) == \
        stepper_html(lecture_neuron()) == view.page
    note = re.search(r'<p class="micrograd-untrusted">(.*?)</p>', out).group(1)
    assert note == ("backward() through o: the backprop stepper is hidden because this "
                    "notebook is not trusted. Run the cell to see the stepper.")
    assert re.search(rf"<style>#{view.id} \.micrograd-untrusted {{display: none}}</style>", out)
    assert repr(view) == (
        "<backprop stepper: backward() through o; 10 values, 6 steps. In Jupyter, run the cell "
        "to see the stepper; elsewhere, write_stepper(root, 'page.html') and open the file>")
    assert show_stepper(lecture_neuron()).id != view.id       # two on a page don't clash


def test_show_stepper_height_follows_the_graph_and_then_the_page():
    from micrograd.viz import notebook
    small, neuron, big = (show_stepper(g()) for g in (lecture_expression, lecture_neuron,
                                                      lecture_mlp_loss))
    assert small.height < neuron.height < big.height
    # before the page reports its height: toolbar + graph pane (capped) + the panel below
    chrome = notebook.TOOLBAR_PX + 24 + notebook.PANEL_BELOW_PX
    assert neuron.height == stepper_data(lecture_neuron())["height"] + chrome
    assert big.height == notebook.TOOLBAR_PX + notebook.PANE_MAX_PX + notebook.PANEL_BELOW_PX
    out = neuron._repr_html_()
    assert f"height: {neuron.height}px" in out
    # then a script follows the page's own height message, from its own iframe only
    script = re.search(r"<script>(.*?)</script></div>$", out, re.S).group(1)
    assert f'document.querySelector("#{neuron.id} iframe")' in script
    assert "e.source !== frame.contentWindow" in script
    assert '"micrograd-stepper:height"' in script
    fixed = show_stepper(lecture_neuron(), height=300)
    assert fixed.height == 300 and "<script>" not in fixed._repr_html_()   # as asked, fixed


@pytest.mark.parametrize("height", [50, 2.5, "tall", True])
def test_show_stepper_refuses_a_bad_height(height):
    with pytest.raises(ValueError, match=f"height must be a whole number of pixels >= 100, "
                                         f"got {re.escape(repr(height))}"):
        show_stepper(lecture_neuron(), height=height)


def test_show_stepper_escapes_labels():
    from micrograd.engine import Value
    x = Value(1.0, label='"><script>alert(1)</script>')
    out = show_stepper(x.tanh(), title='<b>"t"</b>')._repr_html_()
    # the one script is show_stepper's own height listener; the label's stays text
    assert out.count("<script>") == 1 and out.endswith("})();</script></div>")
    assert 'title="&lt;b&gt;&quot;t&quot;&lt;/b&gt;"' in out


# ---------------------------------------------------------------------------------------------
# An executed notebook, saved and exported (nbclient + nbconvert), in Chromium
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The stepper cell run by nbclient, exported by nbconvert with its classic and its lab
    template (what a saved notebook's outputs look like outside a server)."""
    import nbformat
    from nbconvert import HTMLExporter
    tmp = tmp_path_factory.mktemp("exported")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from micrograd.viz import show_stepper\nfrom micrograd.lecture import "
        "lecture_neuron\nshow_stepper(lecture_neuron())"), nbformat.v4.new_code_cell(
        "from micrograd.viz import draw_dot\ndraw_dot(lecture_neuron())")])
    execute(nb, tmp)
    pages = {}
    for template in ("classic", "lab"):
        body, _ = HTMLExporter(template_name=template).from_notebook_node(nb)
        pages[template] = tmp / f"{template}.html"
        pages[template].write_text(body, encoding="utf-8")
    return pages


@pytest.mark.notebook                      # `exported` runs the cell in a kernel
@pytest.mark.parametrize("template", ["classic", "lab"])
@pytest.mark.parametrize("width", [900, 1440])
def test_an_exported_notebook_shows_the_whole_stepper_at_its_height(browser, exported,
                                                                    template, width, artifacts):
    page = browser.new_page(viewport={"width": width, "height": 900})
    try:
        page.goto(exported[template].resolve().as_uri())
        iframe = page.wait_for_selector("iframe")
        frame = iframe.content_frame()
        frame.wait_for_selector("#step")
        deadline = time.monotonic() + 10
        while True:                        # the output's script sizes it by the page's message
            want = frame.evaluate("window.microgradStepper.contentHeight()")
            got = iframe.bounding_box()["height"]
            if abs(want - got) <= 1 or time.monotonic() > deadline:
                break
            page.wait_for_timeout(50)
        assert abs(want - got) <= 1, (want, got)
        assert frame.evaluate("document.scrollingElement.scrollHeight <= innerHeight + 1")
        seen = frame.evaluate(IN_VIEW)
        assert len(seen["boxes"]) == 6 and seen["smallest"] >= 8 <= seen["smallestHtml"], seen
        output = iframe.bounding_box()["width"]
        if output >= 700:                  # JupyterLab's output at a 900 px window, or wider
            assert all(b["inside"] for b in seen["boxes"]), (output, seen)
        else:      # the classic template's 620 px: 8 px text needs more, so the root shows
            assert seen["boxes"][-1]["inside"], seen     # and the pane scrolls to the leaves
            assert frame.evaluate("(p => p.scrollWidth > p.clientWidth)"
                                  "(document.getElementById('graph-pane'))")
        page.screenshot(path=str(artifacts / f"exported-{template}-stepper-{width}.png"))
    finally:
        page.close()


@pytest.mark.notebook                      # `exported` runs the cell in a kernel
@pytest.mark.parametrize("template", ["classic", "lab"])
@pytest.mark.parametrize("width", [560, 1440])
def test_an_exported_notebooks_graph_fits_its_output(browser, exported, template, width, artifacts):
    """draw_dot's picture in the classic and the lab template: within its output's width at
    1440 px and in a narrow window (an output of about 450 px), its natural size on a click."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    try:
        page.goto(exported[template].resolve().as_uri(), wait_until="networkidle")
        img = page.wait_for_selector("img[alt='the computation graph']")
        img.scroll_into_view_if_needed()
        out, box, natural = img.evaluate("""i => {
            const o = i.closest('.output_subarea, .jp-OutputArea-output').getBoundingClientRect();
            const r = i.getBoundingClientRect();
            return [[o.left, o.right], [r.left, r.right, r.width], i.naturalWidth]; }""")
        assert out[0] - 0.5 <= box[0] and box[1] <= out[1] + 0.5, (out, box)
        assert box[1] <= width
        assert box[2] < natural                   # the lecture's neuron: wider than any output
        if width < 1000:
            assert out[1] - out[0] < 520
        page.screenshot(path=str(artifacts / f"exported-{template}-graph-{width}.png"))
        img.click()
        # the page may still lay itself out after load on a busy machine: wait for the change
        # the click makes (a checkbox's CSS), then measure it
        page.wait_for_function("([i, n]) => Math.abs(i.getBoundingClientRect().width - n) <= 1",
                               arg=[img, natural], timeout=10_000)
        assert img.evaluate("i => i.getBoundingClientRect().width") == pytest.approx(natural, abs=1)
    finally:
        page.close()
