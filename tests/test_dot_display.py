"""draw_dot in Jupyter, without a kernel: the HTML that fits a drawing to its output's width
(the SVG inside it, a click for its natural size), and the default that folds the neurons of
a graph too wide to read. In a browser: tests/test_notebook_graphs.py."""
import base64
import random
import re

from micrograd.lecture import lecture_expression
from micrograd.nn import MLP
from micrograd.viz import draw_dot
from micrograd.viz.dot import AUTO_COLLAPSE, dot_source, fitted_html

IMG = re.compile(r'<img alt="the computation graph" src="data:image/svg\+xml;base64,'
                 r'([A-Za-z0-9+/=]+)">')


def notebook_03_graph():
    random.seed(1337)
    return MLP(3, [4, 4, 1])([2.0, 3.0, -1.0])


def test_the_html_holds_the_svg_fitted_to_the_width_and_a_toggle():
    bundle = draw_dot(lecture_expression(backward=True))._repr_mimebundle_()
    assert list(bundle) == ["image/svg+xml", "text/html"]
    out = bundle["text/html"]
    uid = re.match(r'<div id="(micrograd-graph-[0-9a-f]{12})" class="micrograd-graph">', out)[1]
    assert base64.b64decode(IMG.search(out)[1]).decode() == bundle["image/svg+xml"]
    assert f"#{uid} img {{display: block; max-width: 100%; height: auto; cursor: zoom-in}}" in out
    assert f"#{uid} input:checked + label img {{max-width: none; cursor: zoom-out}}" in out
    assert f'<input type="checkbox" id="{uid}-natural"><label for="{uid}-natural"' in out
    # untrusted, the sanitizer keeps only this line
    assert "<p class=\"micrograd-untrusted\">The graph is hidden because this notebook is " \
           "not trusted. Run the cell to see it.</p>" in out
    assert f"#{uid} .micrograd-untrusted {{display: none}}" in out
    # natural=True starts at the natural size; each drawing has its own ids
    natural = draw_dot(lecture_expression(), natural=True)._repr_mimebundle_()["text/html"]
    assert re.search(r'<input type="checkbox" id="micrograd-graph-[0-9a-f]{12}-natural" '
                     r'checked>', natural)
    assert natural[:40] != out[:40]
    assert draw_dot(lecture_expression())._repr_mimebundle_(
        exclude=["text/html"]).keys() == {"image/svg+xml"}


def test_fitted_html_escapes_nothing_into_markup():
    out = fitted_html('<svg><text>"</a><script>x</script></text></svg>')
    assert "<script>" not in out and base64.b64decode(IMG.search(out)[1]).startswith(b"<svg>")


def test_a_graph_past_auto_collapse_values_is_drawn_with_neuron_boxes_by_default():
    o = notebook_03_graph()
    n = len(o.topo())
    assert n == 125 > AUTO_COLLAPSE
    source = draw_dot(o).source
    caption = "125 values, each neuron drawn as one box; pass collapse=False to see every value"
    assert f'label="{caption}" labelloc=t' in source
    body = lambda text: text.split("\n", 2)[2]
    assert body(source).replace(f'\tlabel="{caption}" labelloc=t fontsize=16 '
                                f'fontcolor=gray25\n', "") == body(dot_source(o, collapse=True))
    assert source.count("shape=Mrecord") == 9                       # 4 + 4 + 1 neurons
    assert draw_dot(o, collapse=False).source == dot_source(o)      # every value, on request
    svg = draw_dot(o)._repr_mimebundle_()["image/svg+xml"]
    w, h = map(float, re.search(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"', svg).groups())
    wide, _ = map(float, re.search(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"', draw_dot(
        o, collapse=False)._repr_mimebundle_()["image/svg+xml"]).groups())
    assert w < wide / 3                                               # 1,531 pt, not 6,378


def test_small_graphs_and_graphs_without_neurons_are_drawn_value_by_value():
    L = lecture_expression()
    assert draw_dot(L).source == dot_source(L)
    from micrograd.engine import Value
    v = Value(1.0, label="v")
    for _ in range(60):                              # 121 values, no neuron among them
        v = (v * v).tanh()
    assert len(v.topo()) > AUTO_COLLAPSE and draw_dot(v).source == dot_source(v)
