"""Draw a Value's graph with Graphviz, as in the lecture's `draw_dot`.

    from micrograd.viz import draw_dot
    draw_dot(L)                          # a graphviz.Digraph: shows itself in Jupyter
    draw_dot(loss)                       # big graphs: the 500 values nearest the root, and
                                         # a caption saying how many were left out
    draw_dot(loss, max_nodes=None)       # every value (Graphviz may take minutes)
    draw_dot(loss, collapse=True)        # one box per neuron
    render(L, "L.svg")                   # or .png, .pdf, .dot; needs Graphviz's `dot` program

Every value is a record `{ label | data 2.0000 | grad 6.0000 }` and every operation a small node
of its own between the value and its inputs, exactly the lecture's picture. The DOT source is
written here, in plain Python (no recursion, node ids numbered in the engine's topological
order, so the same graph always gives the same text); the `graphviz` package only wraps it.
Graphviz's `dot` is run here too, with a time limit, and killed (never left running) when the
limit passes or the call is interrupted.
"""
import math
import os
import shutil
import signal
import subprocess
import sys
from collections import deque
from pathlib import Path

__all__ = ["draw_dot", "dot_source", "render", "dot_available", "GraphvizNotFound",
           "RenderTimeout", "INSTALL_HINT", "FORMATS", "MAX_NODES", "RENDER_TIMEOUT"]

FMT = "%.4f"
FORMATS = ("svg", "png", "pdf", "dot")
INSTALL_HINT = ("Graphviz's `dot` program was not found on PATH; install Graphviz "
                "(`apt-get install graphviz` on Debian/Ubuntu, `brew install graphviz` on macOS) "
                "or write the DOT source instead (format 'dot')")
ACTIVATIONS = ("tanh", "ReLU", "sigmoid")
COLLAPSE_MODES = (False, True, "neurons", "chains")
MAX_NODES = 500           # draw_dot's default: Graphviz lays this out in a few seconds
RENDER_TIMEOUT = 60.0     # seconds `dot` may run before it is killed


class GraphvizNotFound(RuntimeError):
    """Graphviz's `dot` program is not installed (or not on PATH)."""


class RenderTimeout(RuntimeError):
    """Graphviz's `dot` ran past its time limit (and was killed)."""


def dot_available():
    return shutil.which("dot") is not None


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
# The graph as drawing units: a value (with its op node), or a collapsed group of values.
# ---------------------------------------------------------------------------------------------
class _Unit:
    __slots__ = ("index", "out", "inputs", "members", "title", "n_hidden_params")

    def __init__(self, index, out, inputs, members=None, title=None, n_hidden_params=0):
        self.index = index                  # topological index of the output value
        self.out = out                      # the Value whose data/grad the unit shows
        self.inputs = inputs                # Values feeding it (their units are its inputs)
        self.members = members              # None for a plain value; else the Values inside
        self.title = title                  # for a group: what it computes
        self.n_hidden_params = n_hidden_params


def _uses(topo):
    """How many times each value appears as an input anywhere in the graph."""
    uses = {}
    for v in topo:
        for c in v._prev:
            uses[c] = uses.get(c, 0) + 1
    return uses


def _is_leaf(v):
    return not v._prev


def _split_product(p):
    """(weight, input) of a product w*x in an unfused neuron: the leaf factor is the weight
    (nn.Neuron writes w*x; the lecture writes x1*w1 with both leaves: a label starting with
    'w' decides, else the first factor)."""
    a, b = p._prev
    if _is_leaf(a) and not _is_leaf(b):
        return a, b
    if _is_leaf(b) and not _is_leaf(a):
        return b, a
    if _is_leaf(a) and _is_leaf(b):
        if b.label.startswith("w") and not a.label.startswith("w"):
            return b, a
        return a, b
    return None, None


def _neuron_core(core, uses, taken, index):
    """If `core` is a neuron's weighted sum, (members, inputs, n_inputs, n_params); else None.

    Fused: a 'w·x+b' node. Unfused: a tree of '+' nodes, each used once, whose terms are
    products w*x (each used once) and at most one leaf bias. Leaf weights and biases are
    folded into the box (n_params of them); the other inputs stay edges."""
    if core in taken:
        return None
    if core._op == "w·x+b":
        inputs, hidden = [], 0
        for i, c in enumerate(core._prev):
            if (i == 0 or i % 2 == 1) and _is_leaf(c):
                hidden += 1
            else:
                inputs.append(c)
        return [core], inputs, (len(core._prev) - 1) // 2, hidden
    if core._op != "+" or len(core._prev) != 2:
        return None
    members, products, bias, stack = [], [], [], [core]
    while stack:
        node = stack.pop()
        members.append(node)
        for c in node._prev:
            if uses.get(c) == 1 and c not in taken and len(c._prev) == 2 and c._op == "+":
                stack.append(c)
            elif (uses.get(c) == 1 and c not in taken and len(c._prev) == 2 and c._op == "*"
                    and _split_product(c)[0] is not None):
                products.append(c)
            elif _is_leaf(c) and not bias:
                bias.append(c)
            else:
                return None
    if not products:
        return None
    products.sort(key=index.__getitem__)
    inputs = [_split_product(p)[1] for p in products]
    return members + products, inputs, len(products), len(products) + len(bias)


def _groups_neurons(topo, uses, index):
    groups, taken = [], set()
    for v in reversed(topo):                # parents first: a neuron is found from its top
        if v in taken:
            continue
        act = None
        found = None
        if v._op in ACTIVATIONS and len(v._prev) == 1 and uses.get(v._prev[0]) == 1:
            found = _neuron_core(v._prev[0], uses, taken, index)
            if found:
                act = v
        if found is None:
            found = _neuron_core(v, uses, taken, index)
        if found is None:
            continue
        members, inputs, n_in, hidden = found
        title = "w·x+b" if act is None else f"{act._op}(w·x+b)"
        title += f" · {n_in} input{'s' if n_in != 1 else ''}"
        if act is not None:
            members = [act] + members
        taken.update(members)
        groups.append((members[0], members, _dedupe(inputs), title, hidden))
    return groups


def _groups_chains(topo, uses, index):
    """Fold every intermediate value used exactly once into the value that uses it."""
    owner = {}
    groups = {}
    for v in reversed(topo):                # parents first
        if not v._prev:
            continue
        if uses.get(v) == 1 and v in owner:
            top = owner[v]
        else:
            top = v
            groups[v] = [v]
        for c in v._prev:
            if c._prev and uses.get(c) == 1:
                owner[c] = top
                groups[top].append(c)
    out = []
    for top, members in groups.items():
        if len(members) < 2:
            continue
        inside = set(members)
        inputs = _dedupe([c for m in members for c in m._prev if c not in inside])
        counts = {}
        for m in members:
            counts[m._op] = counts.get(m._op, 0) + 1
        ops = ", ".join(op if n == 1 else f"{n}×{op}" for op, n in counts.items())
        out.append((top, members, inputs, f"{len(members)} ops: {ops}", 0))
    return out


def _dedupe(values):
    seen, out = set(), []
    for v in values:
        if v not in seen:
            seen.add(v)
            out.append(v)
    return out


def _units(root, collapse):
    """All drawing units reachable from the root, keyed by their output value."""
    if collapse is None:
        collapse = False
    if not any(collapse is m or (isinstance(m, str) and collapse == m) for m in COLLAPSE_MODES):
        raise ValueError(f"collapse must be one of False, True, 'neurons', 'chains'; "
                         f"got {collapse!r}")
    topo = root.topo()
    index = {v: i for i, v in enumerate(topo)}
    groups = []
    if collapse:
        uses = _uses(topo)
        groups = (_groups_chains if collapse == "chains" else _groups_neurons)(topo, uses, index)
    by_out = {}
    for top, members, inputs, title, hidden in groups:
        by_out[top] = _Unit(index[top], top, inputs, members, title, hidden)
    return topo, index, by_out


def _unit_of(v, index, by_out):
    u = by_out.get(v)
    if u is None:
        u = by_out[v] = _Unit(index[v], v, v._prev)
    return u


def _select(root, index, by_out, max_nodes, max_depth):
    """Breadth-first from the root: the units to draw, in order, and each one's depth."""
    for name, lim in (("max_nodes", max_nodes), ("max_depth", max_depth)):
        if lim is not None and (isinstance(lim, bool) or not isinstance(lim, int) or lim < 0):
            raise ValueError(f"{name} must be a non-negative integer or None, got {lim!r}")
    if max_nodes == 0:
        raise ValueError("max_nodes must be at least 1 (the root)")
    first = _unit_of(root, index, by_out)
    shown = {first.out: 0}
    order = [first]
    queue = deque([first])
    cut = set()                             # which limits left something out
    while queue:
        u = queue.popleft()
        d = shown[u.out]
        if max_depth is not None and d >= max_depth:
            if u.inputs:
                cut.add("max_depth")
            continue
        for c in u.inputs:
            cu = _unit_of(c, index, by_out)
            if cu.out in shown:
                continue
            if max_nodes is not None and len(order) >= max_nodes:
                cut.add("max_nodes")
                break
            shown[cu.out] = d + 1
            order.append(cu)
            queue.append(cu)
    return order, shown, sorted(cut, reverse=True)


def _count_hidden(order, shown, index, by_out):
    """For each shown unit with hidden inputs, how many hidden units it leads to (each hidden
    unit counted once, for the first shown unit that reaches it, so the counts add up)."""
    claimed = set()
    counts = {}
    for u in order:
        hidden_inputs = [c for c in u.inputs if _unit_of(c, index, by_out).out not in shown]
        if not hidden_inputs:
            continue
        n = 0
        stack = []
        for c in hidden_inputs:
            cu = _unit_of(c, index, by_out)
            if cu.out not in claimed:
                claimed.add(cu.out)
                stack.append(cu)
        while stack:
            h = stack.pop()
            n += 1
            for c in h.inputs:
                cu = _unit_of(c, index, by_out)
                if cu.out not in shown and cu.out not in claimed:
                    claimed.add(cu.out)
                    stack.append(cu)
        counts[u.out] = n
    return counts, len(claimed)


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


def _body(root, max_nodes, max_depth, collapse):
    topo, index, by_out = _units(root, collapse)
    order, shown, cut = _select(root, index, by_out, max_nodes, max_depth)
    counts, n_hidden = _count_hidden(order, shown, index, by_out) if cut else ({}, 0)
    lines = []
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
            cu = _unit_of(c, index, by_out)
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
                              "(or .[viz] in micrograd's clone); dot_source() gives the DOT text without it"
                              ) from None

        class Drawing(graphviz.Digraph):
            timeout = RENDER_TIMEOUT

            def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
                if not dot_available():
                    return {"text/plain": INSTALL_HINT + "\n\n" + self.source}
                try:
                    return super()._repr_mimebundle_(include, exclude, **kwargs)
                except RenderTimeout as e:
                    return {"text/plain": str(e)}

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


def draw_dot(root, format="svg", rankdir="LR", max_nodes=MAX_NODES, max_depth=None,
             collapse=False, graph_attr=None, node_attr=None, edge_attr=None,
             timeout=RENDER_TIMEOUT):
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
                is folded into the value that uses it.
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
    _check_timeout(timeout)
    body = _body(root, max_nodes, max_depth, collapse)
    drawing = Digraph(format=format, graph_attr={"rankdir": rankdir, **(graph_attr or {})},
                      node_attr=node_attr, edge_attr=edge_attr, body=body)
    drawing.timeout = timeout
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


def _check_timeout(timeout):
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds or None, got {timeout!r}")


def _stop(proc):
    """Kill `dot` and reap it: nothing is left running, not even a zombie (nor open pipes)."""
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        try:
            pipe.close()
        except OSError:             # stdin's unwritten buffer, with no reader left
            pass


def _dies_with_us():
    """preexec_fn for `dot` on Linux: the kernel kills it if this process dies first (a
    Jupyter kernel restarted mid-render, kill -9), so no `dot` is ever orphaned."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGKILL)      # PR_SET_PDEATHSIG = 1


def run_dot(source, fmt, timeout=RENDER_TIMEOUT, path=None):
    """Run Graphviz's `dot -T<fmt>` on DOT text; returns its output (or writes it to `path`
    and returns b""). `dot` is killed when `timeout` seconds pass (RenderTimeout, one line)
    and on any interruption, KeyboardInterrupt included (which is then re-raised)."""
    _check_timeout(timeout)
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizNotFound(INSTALL_HINT)
    command = [exe, f"-T{fmt}"] + (["-o", os.fspath(path)] if path is not None else [])
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=_dies_with_us())
    try:
        out, err = proc.communicate(source.encode("utf-8", "replace"), timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(proc)
        n = source.count("\n")
        raise RenderTimeout(f"dot -T{fmt} was stopped after {timeout:g} s ({n:,} lines of DOT); "
                            f"draw fewer values (max_nodes=..., max_depth=..., collapse=True) "
                            f"or pass a longer timeout=...") from None
    except BaseException:
        _stop(proc)
        raise
    if proc.returncode != 0:
        msg = err.decode("utf-8", "replace").strip().splitlines()
        raise RuntimeError(f"dot -T{fmt} failed (exit {proc.returncode})"
                           + (f": {msg[0]}" if msg else ""))
    return out


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
    _check_timeout(timeout)
    source = _source_of(graph, draw_options)
    if fmt == "dot":
        path.write_text(source, encoding="utf-8")
        return path
    run_dot(source, fmt, timeout=timeout, path=path)
    return path
