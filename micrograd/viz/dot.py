"""Draw a Value's graph with Graphviz, as in the lecture's `draw_dot`.

    from micrograd.viz import draw_dot
    draw_dot(L)                          # a graphviz.Digraph: shows itself in Jupyter
    draw_dot(loss)                       # big graphs: the 500 values nearest the root, and
                                         # a caption saying how many were left out
    draw_dot(loss, max_nodes=None)       # every value (Graphviz may take minutes)
    draw_dot(loss, collapse=True)        # one box per neuron (the default for 101-500 values)
    draw_dot(L, natural=True)            # in Jupyter: at its natural size, not fitted
    render(L, "L.svg")                   # or .png, .pdf, .dot; needs Graphviz's `dot` program

Every value is a record `{ label | data 2.0000 | grad 6.0000 }` and every operation a small node
of its own between the value and its inputs, exactly the lecture's picture. The DOT source is
written here, in plain Python (no recursion, node ids numbered in the engine's topological
order, so the same graph always gives the same text); the `graphviz` package only wraps it.
In Jupyter a drawing fits its output's width (an HTML wrapper around the SVG, which a click
toggles to its natural size, scrolling sideways); a graph of more than AUTO_COLLAPSE values
drawn whole is drawn with its neurons as boxes unless you pass collapse=False.
Which values make the picture (collapsing, max_nodes, max_depth) is micrograd.viz.units';
running Graphviz's `dot`, with a time limit and never left running, is micrograd.viz.rundot's.
"""
import base64
import math
import uuid
from pathlib import Path

from micrograd.viz.rundot import (INSTALL_HINT, RENDER_TIMEOUT, GraphvizNotFound, RenderTimeout,
                                  check_timeout, dot_available, run_dot)
from micrograd.viz.units import count_hidden, select, unit_of, units

__all__ = ["draw_dot", "dot_source", "render", "dot_available", "GraphvizNotFound",
           "RenderTimeout", "INSTALL_HINT", "FORMATS", "MAX_NODES", "RENDER_TIMEOUT",
           "AUTO_COLLAPSE", "fitted_html"]

FMT = "%.4f"
FORMATS = ("svg", "png", "pdf", "dot")
MAX_NODES = 500           # draw_dot's default: Graphviz lays this out in a few seconds
# Past this many values a graph drawn value by value is wider than any screen (notebook 03's
# one forward pass of MLP(3, [4, 4, 1]), 125 values, is 8,500 px wide): draw_dot's default
# then folds each neuron into one box (about a quarter of the width).
AUTO_COLLAPSE = 100


# ---------------------------------------------------------------------------------------------
# Escaping: a label renders as typed, whatever characters it holds.
# ---------------------------------------------------------------------------------------------
_RECORD_SPECIAL = {"\\": "\\\\", '"': '\\"', "{": "\\{", "}": "\\}", "|": "\\|",
                   "<": "\\<", ">": "\\>", "&": "&amp;", "\n": "\\n"}


def _one_line_breaks(text):
    return str(text).replace("\r\n", "\n").replace("\r", "\n")


# Graphviz refuses a quoted string over 16,384 bytes ("longer than 16384?"); a label's text is
# cut well before that (a record holds its data and grad too), and says it was cut.
MAX_FIELD_BYTES = 8000


def _clipped(pieces, text, marker):
    """Join escaped pieces, stopping (with a mark naming the full length) before the output
    passes MAX_FIELD_BYTES."""
    size = 0
    for k, piece in enumerate(pieces):
        size += len(piece) if piece.isascii() else len(piece.encode("utf-8", "surrogatepass"))
        if size > MAX_FIELD_BYTES:
            return "".join(pieces[:k]) + marker(f"… ({len(text):,} characters in all)")
    return "".join(pieces)


def escape_record(text):
    """Text for one field of a record label: `| { } < >` and the quote and backslash are
    escaped, a newline becomes a line break, `&` becomes `&amp;`. Non-ASCII characters are
    written as character references, because Graphviz's record parser drops a space that
    follows a multi-byte character ("é x" would show as "éx"). Past MAX_FIELD_BYTES the text
    is cut, with a mark."""
    out = []
    prev_astral = False
    text = _one_line_breaks(text)
    for ch in text:
        o = ord(ch)
        if ch in _RECORD_SPECIAL:
            out.append(_RECORD_SPECIAL[ch])
        elif o < 32 or o == 127:
            out.append(" ")
        elif o < 128:
            out.append("&#32;" if ch == " " and prev_astral else ch)
        elif o <= 0xFFFF:
            out.append(f"&#{o};")
        else:                    # Graphviz 2.4x garbles references above U+FFFF: keep them raw
            out.append(ch)
        prev_astral = o > 0xFFFF
    return _clipped(out, text, escape_record)


def escape_text(text):
    """Text for an ordinary (non-record) label, or any quoted DOT string."""
    out = []
    text = _one_line_breaks(text)
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "&":
            out.append("&amp;")
        elif ch == "\n":
            out.append("\\n")
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(" ")
        else:
            out.append(ch)
    return _clipped(out, text, escape_text)


def _fmt(x):
    """The lecture's %.4f for ordinary numbers; %.4g where %.4f would mislead: a magnitude
    under 1e-4 (5e-05 is not 0.0000) or from 1e7 up (1e300 is not a 301-digit box)."""
    if x != 0 and math.isfinite(x) and not 1e-4 <= abs(x) < 1e7:
        return "%.4g" % x
    return FMT % x


# ---------------------------------------------------------------------------------------------
# DOT
# ---------------------------------------------------------------------------------------------
def _attrs(d):
    """key=value pairs, each side quoted and escaped unless it is a plain word: no key or value
    can close the bracket and start statements of its own."""
    return " ".join(f"{_quoted(k)}={_quoted(v)}" for k, v in d.items())


def _quoted(v):
    return str(v) if _plain(v) else f'"{escape_text(v)}"'


def _plain(v):
    s = str(v)
    return s.replace("_", "a").replace(".", "0").isalnum() and s.isascii()


def _body(root, max_nodes, max_depth, collapse, auto_note=False):
    topo, index, by_out = units(root, collapse)
    order, shown, cut = select(root, index, by_out, max_nodes, max_depth)
    counts, n_hidden = count_hidden(order, shown, index, by_out) if cut else ({}, 0)
    lines = []
    if auto_note and not n_hidden:
        lines.append(f'\tlabel="{escape_text(_auto_caption(len(topo)))}" labelloc=t '
                     f'fontsize=16 fontcolor=gray25\n')
    for u in sorted(order, key=lambda u: u.index):
        v, uid = u.out, f"n{u.index}"
        data, grad = _fmt(v.data), _fmt(v.grad)
        if u.members is None:
            label = f"{{ {escape_record(v.label)} | data {data} | grad {grad} }}"
            lines.append(f'\t{uid} [label="{label}" shape=record]\n')
            head = uid
            if v._op:
                head = f"{uid}_op"
                lines.append(f'\t{head} [label="{escape_text(v._op)}"]\n')
                lines.append(f"\t{head} -> {uid}\n")
        else:
            label = (f"{{ {escape_record(v.label)} | {escape_record(u.title)} | "
                     f"data {data} | grad {grad} }}")
            lines.append(f'\t{uid} [label="{label}" shape=Mrecord style=filled '
                         f'fillcolor="#fff6d5"]\n')
            head = uid
        for c in u.inputs:
            cu = unit_of(c, index, by_out)
            if cu.out in shown:
                lines.append(f"\tn{cu.index} -> {head}\n")
        if u.out in counts:
            n = counts[u.out]
            more = f"{uid}_more"
            text = f"… {n:,} more" if n else "…"
            lines.append(f'\t{more} [label="{escape_text(text)}" shape=box style="dashed,rounded" '
                         f'color=gray50 fontcolor=gray30]\n')
            lines.append(f"\t{more} -> {head} [style=dashed color=gray50]\n")
    if n_hidden:
        what = "boxes" if collapse else "values"
        caption = (f"showing {len(order):,} of {len(order) + n_hidden:,} {what}; pass "
                   f"{' or '.join(f'{limit}=...' for limit in cut)} to see more")
        lines.append(f'\tlabel="{escape_text(caption)}" labelloc=t fontsize=16 '
                     f'fontcolor=gray25\n')
    return lines


def _auto_caption(n_values):
    return f"{n_values:,} values, each neuron drawn as one box; pass collapse=False to see " \
           f"every value"


def _auto_collapse(root, collapse, max_nodes):
    """(collapse, whether draw_dot chose it): None folds neurons past AUTO_COLLAPSE values,
    when the graph has neurons to fold and would be drawn whole; a graph over max_nodes gets
    the bounded drawing of the values nearest its root, as before."""
    if collapse is not None:
        return collapse, False
    topo = root.topo()
    if len(topo) <= AUTO_COLLAPSE or (max_nodes is not None and len(topo) > max_nodes):
        return False, False
    neurons = units(root, True)[2]
    return (True, True) if neurons else (False, False)


def _check_root(root):
    from micrograd.engine import Value
    if not isinstance(root, Value):
        hint = (" (a model with several outputs gives a list: draw one of them, or a loss)"
                if isinstance(root, (list, tuple)) else "")
        raise TypeError(f"draw_dot: expected the Value at the root of a graph, got "
                        f"{type(root).__name__}{hint}")


def dot_source(root, rankdir="LR", max_nodes=MAX_NODES, max_depth=None, collapse=False,
               graph_attr=None, node_attr=None, edge_attr=None):
    """The DOT text of `draw_dot(root, ...)`, without needing the graphviz package."""
    _check_root(root)
    head = ["digraph {\n", f"\tgraph [{_attrs({'rankdir': rankdir, **(graph_attr or {})})}]\n"]
    if node_attr:
        head.append(f"\tnode [{_attrs(node_attr)}]\n")
    if edge_attr:
        head.append(f"\tedge [{_attrs(edge_attr)}]\n")
    return "".join(head + _body(root, max_nodes, max_depth, collapse) + ["}\n"])


_DRAWING_CLASS = None


def _drawing_class():
    """graphviz.Digraph that, in Jupyter without `dot`, shows the install hint and its source
    instead of a traceback."""
    global _DRAWING_CLASS
    if _DRAWING_CLASS is None:
        try:
            import graphviz
        except ImportError:
            raise ImportError("draw_dot needs the graphviz package: pip install graphviz "
                              "(or .[viz] in micrograd's clone); dot_source() gives the DOT "
                              "text without it") from None

        class Drawing(graphviz.Digraph):
            timeout = RENDER_TIMEOUT
            natural = False

            def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
                if not dot_available():
                    return {"text/plain": INSTALL_HINT + "\n\n" + self.source}
                try:
                    bundle = super()._repr_mimebundle_(include, exclude, **kwargs)
                except RenderTimeout as e:
                    return {"text/plain": str(e)}
                svg = bundle.get("image/svg+xml")
                if svg and (include is None or "text/html" in include) \
                        and not (exclude and "text/html" in exclude):
                    bundle["text/html"] = fitted_html(svg, self.natural)
                return bundle

            def pipe(self, format=None, renderer=None, formatter=None, neato_no_op=None,
                     quiet=False, *, engine=None, encoding=None):
                """As graphviz's pipe, through our `dot` runner (a time limit, and `dot`
                killed on timeout or interrupt) unless you ask for another engine or renderer."""
                if renderer or formatter or neato_no_op or (engine or self.engine) != "dot":
                    return super().pipe(format, renderer, formatter, neato_no_op, quiet,
                                        engine=engine, encoding=encoding)
                data = run_dot(self.source, format or self.format, timeout=self.timeout)
                return data.decode(encoding) if encoding else data

        Drawing.__name__ = Drawing.__qualname__ = "Digraph"
        _DRAWING_CLASS = Drawing
    return _DRAWING_CLASS


def fitted_html(svg, natural=False):
    """The SVG as a notebook output that fits its width: an <img> at most 100% wide (its text
    scales with it), a click toggles its natural size (scrolling sideways); natural=True
    starts there. A notebook that is not trusted strips the style and the image, and shows
    the line saying to run the cell (Jupyter shows no untrusted SVG either)."""
    uid = f"micrograd-graph-{uuid.uuid4().hex[:12]}"
    src = "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
    checked = " checked" if natural else ""
    return (f'<div id="{uid}" class="micrograd-graph">'
            f'<style>#{uid} .micrograd-untrusted {{display: none}}'
            f'#{uid} .micrograd-fit {{overflow-x: auto}}'
            f'#{uid} input {{display: none}}'
            f'#{uid} img {{display: block; max-width: 100%; height: auto; cursor: zoom-in}}'
            f'#{uid} input:checked + label img {{max-width: none; cursor: zoom-out}}</style>'
            f'<p class="micrograd-untrusted">The graph is hidden because this notebook is not '
            f'trusted. Run the cell to see it.</p>'
            f'<div class="micrograd-fit"><input type="checkbox" id="{uid}-natural"{checked}>'
            f'<label for="{uid}-natural" title="click: natural size / fit the width">'
            f'<img alt="the computation graph" src="{src}"></label></div></div>')


def draw_dot(root, format="svg", rankdir="LR", max_nodes=MAX_NODES, max_depth=None,
             collapse=None, graph_attr=None, node_attr=None, edge_attr=None,
             timeout=RENDER_TIMEOUT, natural=False):
    """The graph of `root` as a `graphviz.Digraph`, drawn as in the lecture.

    format      what Digraph.render()/pipe() produce: 'svg', 'png', 'pdf'
    rankdir     'LR' (left to right, the lecture's), 'TB', 'RL' or 'BT'
    max_depth   draw only values at most this many operations away from the root
    max_nodes   draw at most this many values (500 unless you say), the ones nearest the root
                first; cut-off inputs show as a dashed "… N more" box, and a caption at the
                top says "showing 500 of 65,818 values; pass max_nodes=... to see more".
                None draws every value.
    collapse    False: every value. True or 'neurons': each neuron (a fused 'w·x+b' node, or
                the unfused chain of * and + nodes, with its activation) is one box; its leaf
                weights and bias are folded into it. 'chains': every value used exactly once
                is folded into the value that uses it. None (the default): False up to
                AUTO_COLLAPSE (100) values; past it 'neurons' (a caption says so) if the
                graph has neurons and is drawn whole (within max_nodes)
    natural     in Jupyter, show the drawing at its natural size (default: fitted to the
                output's width; a click on it toggles)
    graph_attr, node_attr, edge_attr   extra Graphviz attributes
    timeout     seconds Graphviz's `dot` may run when the drawing is shown or piped (None: no
                limit); past it `dot` is killed and RenderTimeout raised (in Jupyter the
                output says so instead)

    Node ids are n<i>, with i the value's position in root.topo(): the same graph always gives
    the same DOT text. The graph is walked without recursion, so the 65,000-node graph of the
    moons demo draws in a second (its 500 values nearest the loss, by default).
    """
    _check_root(root)
    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"rankdir must be 'LR', 'TB', 'RL' or 'BT', got {rankdir!r}")
    Digraph = _drawing_class()
    check_timeout(timeout)
    collapse, auto = _auto_collapse(root, collapse, max_nodes)
    body = _body(root, max_nodes, max_depth, collapse, auto_note=auto)
    drawing = Digraph(format=format, graph_attr={"rankdir": rankdir, **(graph_attr or {})},
                      node_attr=node_attr, edge_attr=edge_attr, body=body)
    drawing.timeout = timeout
    drawing.natural = bool(natural)
    return drawing


# ---------------------------------------------------------------------------------------------
# Rendering through Graphviz's `dot` program
# ---------------------------------------------------------------------------------------------
def _source_of(graph, draw_options):
    if isinstance(graph, str):
        return graph
    source = getattr(graph, "source", None)
    if isinstance(source, str):
        return source
    if hasattr(graph, "_prev") and hasattr(graph, "data"):
        return dot_source(graph, **draw_options)
    raise TypeError(f"render: expected a Value, a graphviz graph or DOT text, "
                    f"got {type(graph).__name__}")


def render(graph, path, format=None, timeout=RENDER_TIMEOUT, **draw_options):
    """Write `graph` (a Value, a Digraph from draw_dot, or DOT text) to `path` as svg, png, pdf
    or dot. The format comes from `format`, else from the file's suffix, else svg. A Value is
    drawn as draw_dot draws it (draw_options: max_nodes, collapse, ...). Every format but dot
    needs Graphviz's `dot` program; without it this raises GraphvizNotFound, whose one-line
    message says how to install it. `dot` gets `timeout` seconds (None: no limit), then it
    is killed and RenderTimeout raised; it is killed on Ctrl-C too. Returns the path."""
    path = Path(path)
    fmt = (format or path.suffix.lstrip(".") or "svg").lower()
    if fmt == "gv":
        fmt = "dot"
    if fmt not in FORMATS:
        raise ValueError(f"render: unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    check_timeout(timeout)
    source = _source_of(graph, draw_options)
    if fmt == "dot":
        path.write_text(source, encoding="utf-8")
        return path
    run_dot(source, fmt, timeout=timeout, path=path)
    return path
