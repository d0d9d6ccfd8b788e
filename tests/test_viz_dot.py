"""draw_dot / dot_source / render: the lecture's pictures, escaping, big graphs, missing `dot`.

Graphviz's `dot` program and the graphviz package are required here (scripts/setup.sh installs
both): the SVG and PNG tests render for real.
"""
import inspect
import re
import struct
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import graphviz
import pytest

from micrograd.engine import Op, Value
from micrograd.nn import MLP
from micrograd.viz import (GraphvizNotFound, INSTALL_HINT, dot_available, dot_source, draw_dot,
                           render)
from micrograd.viz.dot import RenderTimeout
from micrograd.lecture import (lecture_expression, lecture_mlp_loss, lecture_neuron,
                                   moons_loss)
from helpers.dot import heavy_dot

SVG_NS = "{http://www.w3.org/2000/svg}"

EXPRESSION_DOT = """\
digraph {
\tgraph [rankdir=LR]
\tn0 [label="{ a | data 2.0000 | grad 6.0000 }" shape=record]
\tn1 [label="{ b | data -3.0000 | grad -4.0000 }" shape=record]
\tn2 [label="{ e | data -6.0000 | grad -2.0000 }" shape=record]
\tn2_op [label="*"]
\tn2_op -> n2
\tn0 -> n2_op
\tn1 -> n2_op
\tn3 [label="{ c | data 10.0000 | grad -2.0000 }" shape=record]
\tn4 [label="{ d | data 4.0000 | grad -2.0000 }" shape=record]
\tn4_op [label="+"]
\tn4_op -> n4
\tn2 -> n4_op
\tn3 -> n4_op
\tn5 [label="{ f | data -2.0000 | grad 4.0000 }" shape=record]
\tn6 [label="{ L | data -8.0000 | grad 1.0000 }" shape=record]
\tn6_op [label="*"]
\tn6_op -> n6
\tn4 -> n6_op
\tn5 -> n6_op
}
"""


def svg_texts(svg):
    """Every <text> of an SVG, as the reader sees it (XML entities decoded)."""
    root = ET.fromstring(svg)
    return [(t.text or "").strip() for t in root.iter(SVG_NS + "text")]


def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def records(source):
    return re.findall(r'label="\{ (.*?) \| data (\S+) \| grad (\S+) \}" shape=record', source)


def edges(source):
    return re.findall(r"^\t(\w+) -> (\w+)", source, flags=re.M)


# ---------------------------------------------------------------------------------------------
# The lecture's graphs
# ---------------------------------------------------------------------------------------------
def test_expression_graph_is_the_lectures_picture_exactly():
    dot = draw_dot(lecture_expression(backward=True))
    assert isinstance(dot, graphviz.Digraph)
    assert dot.format == "svg"
    assert dot.source == EXPRESSION_DOT
    assert dot_source(lecture_expression(backward=True)) == EXPRESSION_DOT


def test_expression_before_backward_has_zero_grads():
    source = dot_source(lecture_expression())
    assert [r[2] for r in records(source)] == ["0.0000"] * 7
    assert [r[1] for r in records(source)] == ["2.0000", "-3.0000", "-6.0000", "10.0000",
                                                "4.0000", "-2.0000", "-8.0000"]


def test_neuron_graph_nodes_edges_and_numbers():
    o = lecture_neuron(backward=True)
    source = draw_dot(o).source
    got = {label: (data, grad) for label, data, grad in records(source)}
    assert got == {
        "x1": ("2.0000", "-1.5000"), "w1": ("-3.0000", "1.0000"),
        "x2": ("0.0000", "0.5000"), "w2": ("1.0000", "0.0000"),
        "x1*w1": ("-6.0000", "0.5000"), "x2*w2": ("0.0000", "0.5000"),
        "x1*w1 + x2*w2": ("-6.0000", "0.5000"), "b": ("6.8814", "0.5000"),
        "n": ("0.8814", "0.5000"), "o": ("0.7071", "1.0000"),
    }
    ops = re.findall(r'^\t(n\d+_op) \[label="(.*?)"\]', source, flags=re.M)
    assert sorted(op for _, op in ops) == ["*", "*", "+", "+", "tanh"]
    es = edges(source)
    # one edge op -> value per operation, one edge child -> op per input
    assert len(es) == 5 + (2 + 2 + 2 + 2 + 1)
    topo = o.topo()
    for i, v in enumerate(topo):
        if v._op:
            assert (f"n{i}_op", f"n{i}") in es
            for c in v._prev:
                assert (f"n{topo.index(c)}", f"n{i}_op") in es


def test_node_ids_follow_topological_order_and_output_is_deterministic():
    a = dot_source(lecture_mlp_loss(backward=True))
    b = dot_source(lecture_mlp_loss(backward=True))
    assert a == b
    n = len(lecture_mlp_loss().topo())
    assert len(records(a)) == n
    ids = [int(m) for m in re.findall(r"^\tn(\d+) \[", a, flags=re.M)]
    assert ids == list(range(n))


def test_a_value_used_twice_by_one_op_draws_two_edges():
    a = Value(3.0, label="a")
    y = a + a
    y.label = "y"
    y.backward()
    source = dot_source(y)
    assert edges(source).count(("n0", "n1_op")) == 2
    assert ("a", "3.0000", "2.0000") in records(source)


def test_format_and_rankdir_and_extra_attributes():
    dot = draw_dot(lecture_expression(), format="png", rankdir="TB",
                   node_attr={"fontname": "Helvetica"}, graph_attr={"bgcolor": "white"})
    assert dot.format == "png"
    assert "rankdir=TB" in dot.source and "bgcolor=white" in dot.source
    assert "fontname=Helvetica" in dot.source
    with pytest.raises(ValueError, match="rankdir"):
        draw_dot(lecture_expression(), rankdir="sideways")


def test_bad_options_are_refused_by_name():
    L = lecture_expression()
    with pytest.raises(ValueError, match="collapse"):
        dot_source(L, collapse="everything")
    with pytest.raises(ValueError, match="max_nodes"):
        dot_source(L, max_nodes=0)
    with pytest.raises(ValueError, match="max_depth"):
        dot_source(L, max_depth=-1)
    with pytest.raises(ValueError, match="max_nodes"):
        dot_source(L, max_nodes=2.5)


# ---------------------------------------------------------------------------------------------
# Escaping: labels render as typed
# ---------------------------------------------------------------------------------------------
NASTY = ['a|b', '{c}', '<d>', 'say "hi"', 'back\\slash', 'x\\ny', '\\l\\N', 'a & b', '&amp;',
         'é x', '∑ q', '<img src=x onerror=alert(1)>', 'end\\']


def _graph_with_labels(labels):
    vals = [Value(float(i), label=s) for i, s in enumerate(labels)]
    out = vals[0]
    for v in vals[1:]:
        out = out + v
    out.label = "out"
    return out


def test_special_characters_are_escaped_in_the_dot_source():
    source = dot_source(_graph_with_labels(['a|b{c}<d>"e"\\f', "line1\nline2", "é x"]))
    assert r'{ a\|b\{c\}\<d\>\"e\"\\f | data' in source
    assert r"{ line1\nline2 | data" in source
    assert "{ &#233; x | data" in source
    # every record still has exactly three fields: no unescaped | or braces leak through
    for label in re.findall(r'label="(\{.*?\})" shape=record', source):
        assert len(re.findall(r"(?<!\\)\|", label)) == 2


def test_op_names_are_escaped_too():
    weird = Op('say "x"\\', lambda a: a, lambda out, a: (1.0,))
    y = weird(Value(1.0, label="a"))
    source = dot_source(y)
    assert r'[label="say \"x\"\\"]' in source


def test_special_characters_render_as_typed(tmp_path):
    labels = NASTY + ["line1\nline2"]
    out = render(_graph_with_labels(labels), tmp_path / "nasty.svg")
    texts = svg_texts(out.read_text(encoding="utf-8"))
    for label in NASTY:
        assert label in texts, (label, texts)
    i = texts.index("line1")
    assert texts[i + 1] == "line2"


# ---------------------------------------------------------------------------------------------
# Rendering with Graphviz
# ---------------------------------------------------------------------------------------------
def test_render_svg_parses_and_shows_the_labels(tmp_path):
    path = render(lecture_neuron(backward=True), tmp_path / "neuron.svg")
    svg = path.read_text(encoding="utf-8")
    texts = svg_texts(svg)
    for t in ["x1", "w1", "x1*w1 + x2*w2", "o", "tanh", "data 0.7071", "grad -1.5000",
              "grad 1.0000", "data 6.8814"]:
        assert t in texts
    assert ET.fromstring(svg).tag == SVG_NS + "svg"


def test_render_png_is_a_sensible_png(tmp_path):
    path = render(lecture_expression(backward=True), tmp_path / "L.png")
    data = path.read_bytes()
    w, h = png_size(data)
    assert 400 < w < 3000 and 80 < h < 1500
    # the graphviz package's own path works too (what Jupyter uses)
    w2, h2 = png_size(draw_dot(lecture_expression(backward=True)).pipe(format="png"))
    assert (w2, h2) == (w, h)


def test_render_accepts_digraph_or_dot_text_and_takes_format_from_suffix(tmp_path):
    L = lecture_expression(backward=True)
    assert render(draw_dot(L), tmp_path / "a.svg").read_text().lstrip().startswith("<?xml")
    assert render(dot_source(L), tmp_path / "b.out", format="svg").read_text().count("<svg") == 1
    assert render(L, tmp_path / "c.dot").read_text() == EXPRESSION_DOT
    assert render(L, tmp_path / "d.pdf").read_bytes()[:5] == b"%PDF-"
    with pytest.raises(ValueError, match="format"):
        render(L, tmp_path / "e.jpeg")
    with pytest.raises(TypeError):
        render(42, tmp_path / "f.svg")


def test_jupyter_display_is_svg():
    bundle = draw_dot(lecture_expression(backward=True))._repr_mimebundle_()
    assert "<svg" in bundle["image/svg+xml"]


def test_missing_dot_program(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))        # an empty directory: no `dot` anywhere
    assert not dot_available()
    L = lecture_expression(backward=True)
    dot = draw_dot(L)                                  # still builds the graph and its source
    assert dot.source == EXPRESSION_DOT
    with pytest.raises(GraphvizNotFound) as err:
        render(L, tmp_path / "L.svg")
    msg = str(err.value)
    assert "\n" not in msg
    assert "apt-get install graphviz" in msg and "brew install graphviz" in msg
    assert msg == INSTALL_HINT
    assert not (tmp_path / "L.svg").exists()
    assert render(L, tmp_path / "L.dot").read_text() == EXPRESSION_DOT   # dot needs no Graphviz
    bundle = dot._repr_mimebundle_()                    # Jupyter: the hint, not a traceback
    assert set(bundle) == {"text/plain"} and "apt-get install graphviz" in bundle["text/plain"]


# ---------------------------------------------------------------------------------------------
# Limits and collapsing
# ---------------------------------------------------------------------------------------------
def _more_counts(source):
    return [int(n.replace(",", "")) for n in re.findall(r'label="… ([\d,]+) more"', source)]


def test_max_depth_shows_the_nodes_near_the_root_and_a_placeholder():
    source = dot_source(lecture_neuron(backward=True), max_depth=2)
    assert {r[0] for r in records(source)} == {"o", "n", "x1*w1 + x2*w2", "b"}
    assert _more_counts(source) == [6]
    assert 'label="showing 4 of 10 values; pass max_depth=... to see more" labelloc=t' in source
    # the placeholder feeds the op node whose inputs are cut off
    assert re.search(r"\tn6_more -> n6_op \[style=dashed", source)


def test_max_depth_zero_is_the_root_alone():
    source = dot_source(lecture_expression(backward=True), max_depth=0)
    assert [r[0] for r in records(source)] == ["L"]
    assert _more_counts(source) == [6]


def test_no_placeholder_when_nothing_is_cut():
    L = lecture_expression(backward=True)
    assert dot_source(L, max_nodes=7) == EXPRESSION_DOT
    assert dot_source(L, max_depth=3) == EXPRESSION_DOT


def test_max_nodes_keeps_the_nearest_and_counts_add_up():
    loss = lecture_mlp_loss(backward=True)
    n = len(loss.topo())
    source = dot_source(loss, max_nodes=25)
    assert len(records(source)) == 25
    assert sum(_more_counts(source)) == n - 25
    assert f"showing 25 of {n:,} values; pass max_nodes=... to see more" in source
    assert ("loss", "6.0054", "1.0000") in records(source)


@pytest.fixture(scope="module")
def big_loss():
    """The original demo's loss with the lecture's unfused neurons: about 65,000 nodes."""
    loss = moons_loss(fused=False)
    loss.backward()
    return loss


def _shallow_recursion_limit(extra=60):
    """Context: allow only `extra` frames beyond the current depth (proves no recursion)."""
    class Limit:
        def __enter__(self):
            self.old = sys.getrecursionlimit()
            sys.setrecursionlimit(len(inspect.stack(0)) + extra)

        def __exit__(self, *exc):
            sys.setrecursionlimit(self.old)
    return Limit()


def test_big_graph_draws_whole_without_recursion(big_loss):
    topo = big_loss.topo()          # (no timed assertion here: a busy machine is no failure)
    assert len(topo) > 60_000
    with _shallow_recursion_limit():
        source = dot_source(big_loss, max_nodes=None)
    assert source.count("shape=record") == len(topo)


def test_big_graph_with_max_nodes_renders(big_loss, tmp_path):
    n = len(big_loss.topo())
    dot = draw_dot(big_loss, max_nodes=120)
    assert len(records(dot.source)) == 120
    assert sum(_more_counts(dot.source)) == n - 120
    assert f"showing 120 of {n:,} values; pass max_nodes=... to see more" in dot.source
    svg = render(dot, tmp_path / "big.svg").read_text(encoding="utf-8")
    texts = svg_texts(svg)
    assert any(t.startswith("… ") and t.endswith(" more") for t in texts)
    assert "loss" in texts


def test_collapse_neurons_on_the_lecture_neuron():
    source = dot_source(lecture_neuron(backward=True), collapse=True)
    assert source.count("shape=Mrecord") == 1
    assert "{ o | tanh(w&#183;x+b) &#183; 2 inputs | data 0.7071 | grad 1.0000 }" in source
    # the weights and the bias are inside the box; the inputs x1, x2 feed it
    assert {r[0] for r in records(source)} == {"x1", "x2"}
    assert sorted(edges(source)) == [("n0", "n9"), ("n3", "n9")]


def test_collapsed_box_renders_its_text(tmp_path):
    path = render(lecture_neuron(backward=True), tmp_path / "c.svg", collapse=True)
    assert "tanh(w·x+b) · 2 inputs" in svg_texts(path.read_text(encoding="utf-8"))


def test_collapse_gives_the_same_picture_for_fused_and_unfused_neurons():
    unfused = dot_source(lecture_mlp_loss(backward=True, fused=False), collapse=True)
    fused = dot_source(lecture_mlp_loss(backward=True, fused=True), collapse=True)
    assert unfused.count("shape=Mrecord") == fused.count("shape=Mrecord") == 4 * 9
    assert len(edges(unfused)) == len(edges(fused))
    assert ("loss", "6.0054", "1.0000") in records(unfused)


def test_collapse_on_a_fused_mlp_needs_far_fewer_nodes(big_loss):
    full = len(big_loss.topo())
    source = dot_source(big_loss, collapse="neurons", max_nodes=None)
    boxes = source.count("shape=Mrecord") + source.count("shape=record")
    assert boxes < full / 10
    assert source.count("shape=Mrecord") >= 100 * 33          # 33 neurons per example


def test_collapse_chains_folds_values_used_once():
    source = dot_source(lecture_neuron(backward=True), collapse="chains")
    assert source.count("shape=Mrecord") == 1
    assert "5 ops" in source                                   # tanh, 2 x +, 2 x *
    assert {r[0] for r in records(source)} == {"x1", "x2", "w1", "w2", "b"}


def test_collapse_with_limits():
    source = dot_source(lecture_mlp_loss(backward=True), collapse=True, max_depth=3)
    assert "… " in source and "showing" in source


def test_fused_neuron_graph_draws_the_fused_op():
    loss = MLP(2, [2, 1], fused=True)([1.0, 2.0])
    loss.backward()
    source = dot_source(loss)
    assert '[label="w·x+b"]' in source


def test_draw_dot_refuses_a_list_with_a_hint():
    import pytest
    from micrograd.viz import draw_dot
    with pytest.raises(TypeError, match=r"draw_dot: expected the Value .* got list \(a model"):
        draw_dot([Value(1.0), Value(2.0)])


# ---------------------------------------------------------------------------------------------
# Bounded by default; `dot` has a time limit and is never left running
# ---------------------------------------------------------------------------------------------
def test_the_demo_loss_is_drawn_bounded_by_default_with_a_caption_at_the_top(big_loss, tmp_path):
    n = len(big_loss.topo())
    assert n == 65_818
    dot = draw_dot(big_loss)                         # no options: what a learner types first
    assert len(records(dot.source)) == 500
    assert sum(_more_counts(dot.source)) == n - 500
    caption = "showing 500 of 65,818 values; pass max_nodes=... to see more"
    assert f'label="{caption}" labelloc=t' in dot.source
    svg = dot.pipe(format="svg", encoding="utf-8")   # through our runner, with its time limit
    texts = svg_texts(svg)
    assert caption in texts and "loss" in texts
    collapsed = dot_source(big_loss, collapse=True)
    assert "showing 500 of " in collapsed and " boxes; pass max_nodes=... to see more" in collapsed
    assert dot_source(big_loss, max_nodes=None).count("shape=record") == n


def dot_children(pid):
    """Pids of the `dot` processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        if comm == "dot" and int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"


def test_render_stops_dot_at_its_timeout_with_a_one_line_error(tmp_path):
    import os
    with pytest.raises(RenderTimeout) as e:
        render(heavy_dot(), tmp_path / "heavy.svg", timeout=0.5)
    assert str(e.value) == ("dot -Tsvg was stopped after 0.5 s (40,002 lines of DOT); draw fewer "
                            "values (max_nodes=..., max_depth=..., collapse=True) or pass a longer "
                            "timeout=...")
    assert dot_children(os.getpid()) == []
    from micrograd.viz.dot import RENDER_TIMEOUT
    assert inspect.signature(render).parameters["timeout"].default == RENDER_TIMEOUT == 60


def test_a_drawing_that_takes_too_long_says_so_in_jupyter(big_loss):
    import os
    out = draw_dot(big_loss, max_nodes=None, timeout=0.5)._repr_mimebundle_()
    assert list(out) == ["text/plain"] and out["text/plain"].startswith(
        "dot -Tsvg was stopped after 0.5 s")
    assert dot_children(os.getpid()) == []


@pytest.mark.parametrize("how,signum", [("render", "SIGINT"), ("jupyter", "SIGINT"),
                                        ("jupyter", "SIGKILL")])
def test_an_interrupted_render_leaves_no_dot_running(tmp_path, how, signum):
    """Ctrl-C (to Python alone: dot does not see it), or the process killed outright (a
    Jupyter kernel restarted mid-render): either way `dot` does not outlive the render."""
    import os
    import signal
    import subprocess
    script = tmp_path / "interrupt.py"
    script.write_text(f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from helpers.dot import heavy_dot
from micrograd.viz.dot import render, _drawing_class
source = heavy_dot()
try:
    if {how!r} == "render":
        render(source, {str(tmp_path / "out.svg")!r}, timeout=None)
    else:
        drawing = _drawing_class()(body=source.splitlines(True)[1:-1])
        drawing.timeout = None
        drawing._repr_mimebundle_()
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
""")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")})
    try:
        deadline = time.monotonic() + 60
        while not dot_children(proc.pid):
            assert proc.poll() is None and time.monotonic() < deadline, "dot never started"
            time.sleep(0.05)
        (dot_pid,) = dot_children(proc.pid)
        time.sleep(0.3)
        os.kill(proc.pid, getattr(signal, signum))
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    if signum == "SIGINT":
        assert (proc.returncode, out) == (130, "interrupted\n")
    deadline = time.monotonic() + 5
    while alive(dot_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    orphan = alive(dot_pid)
    if orphan:
        os.kill(dot_pid, signal.SIGKILL)
    assert not orphan


# ---------------------------------------------------------------------------------------------
# Hostile attributes and huge labels
# ---------------------------------------------------------------------------------------------
EVIL_KEY = 'x" ] evil [label="hacked'


@pytest.mark.parametrize("where", ["graph_attr", "node_attr", "edge_attr"])
def test_attribute_keys_cannot_inject_statements(tmp_path, where):
    L = lecture_expression(backward=True)
    source = dot_source(L, **{where: {EVIL_KEY: "1", "color": "red"}})
    assert '"x\\" ] evil [label=\\"hacked"=1 color=red' in source
    svg = render(source, tmp_path / "attrs.svg").read_text(encoding="utf-8")
    texts = svg_texts(svg)
    assert not any("hacked" in t for t in texts)
    titles = [t.text for t in ET.fromstring(svg).iter(SVG_NS + "title")]
    assert "evil" not in titles
    assert len(records(source)) == 7


@pytest.mark.parametrize("text, n", [("x", 20_000), ("é", 16_000), ("|{}<>", 5_000)])
def test_a_label_too_long_for_graphviz_is_cut_with_a_mark(tmp_path, text, n):
    a = Value(2.0, label=text * n)
    b = a * 3.0
    b.label = "b"
    svg = render(b, tmp_path / "long.svg").read_text(encoding="utf-8")
    texts = svg_texts(svg)
    long = next(t for t in texts if t.startswith(text[:1]))
    assert long.endswith(f"… ({len(text) * n:,} characters in all)")
    assert long.startswith(text * 100)
    assert "b" in texts and "data 2.0000" in texts


def test_numbers_keep_the_lectures_look_unless_it_would_mislead():
    a = Value(1e300, label="huge")
    b = Value(3e-5, label="tiny")
    c = a * 0.0 + b * 2.0
    c.label = "c"
    c.backward()
    got = {r[0]: (r[1], r[2]) for r in records(dot_source(c))}
    assert got["huge"] == ("1e+300", "0.0000")              # not a 301-digit box
    assert got["tiny"] == ("3e-05", "2.0000")               # not 0.0000
    assert got["c"] == ("6e-05", "1.0000")
    assert records(dot_source(lecture_expression(backward=True)))[0] == ("a", "2.0000", "6.0000")
