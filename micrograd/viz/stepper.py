"""The backprop stepper: one self-contained HTML page that runs backward() one node at a time.

    from micrograd.viz import write_stepper
    from micrograd.lecture import lecture_neuron
    write_stepper(lecture_neuron(), "neuron.html")      # open it in any browser, from disk

The page shows the graph with every value's data. "Step" (or the right arrow key) applies the
chain rule at the next node in reverse topological order, the order backward() uses: the node
is highlighted, and the panel shows its operation, its local derivative(s) and the product it
adds into each input's grad. "Back", "Reset", "Play" undo, restart and animate. A second panel
checks every leaf's gradient the lecture's way: nudge the leaf by h, re-evaluate, rise over run
(within a budget of work, nearest the root first; see micrograd.viz.nudge).

Everything the page shows is computed here, in Python, and embedded as JSON: the layout (a
layered left-to-right layout, micrograd.viz.layout: no Graphviz, no network), every grad after
every step (a replay of the engine's chain rule with the same float operations in the same
order, so the last state equals backward()'s grads exactly), and the numerical check. The page
renders all text with textContent: labels cannot inject markup or script, and its
Content-Security-Policy admits only its own script and style, by their SHA-256 hashes.

The page fits its window: wide, the explanation sits beside the graph; under 1100 px it moves
below and the graph is zoomed to the width (its smallest text kept at 8 px or more). Inside an
iframe the page is as tall as its content and posts {type: "micrograd-stepper:height",
height: <px>} to its parent whenever that changes, for the embedder to size the iframe by.
The formulas come from the engine's op table (Op.formula, Op.derivatives); a node without a
label is named by its formula over its inputs' names ("x1·w1").
"""
import json
import re
from importlib import resources
from pathlib import Path

from micrograd.engine import Op, backpropagate, grad, local_grads
from micrograd.viz.layout import CARD_H, layered_layout
from micrograd.viz.nudge import NUDGE_BUDGET, nudge_check, nudge_checks
from micrograd.viz.web import csp_hash, inline_module

__all__ = ["stepper_data", "stepper_html", "stepper_page", "stepper_check", "write_stepper",
           "stepper_csp", "stepper_sources", "MAX_NODES", "WINDOW_NODES"]

FMT = "%.4f"
MAX_NODES = 3000
# Up to this many nodes the page draws every node at once (the lecture's graphs, a lab point's
# loss on the lab's default network: 988); a bigger graph draws the nodes near the view, as
# the pane scrolls, so that a Step's work in the browser does not grow with the graph.
WINDOW_NODES = 1500
# card sizes (pixels; the layout's gaps are micrograd.viz.layout's)
MIN_CARD_W = 112
MAX_CARD_W = 240
MONO_W = 7.3          # 12px monospace, per character
LABEL_W = 8.6         # 13px bold sans, per character (a generous estimate)


def _fmt(x):
    return FMT % x


def _ref(name):
    """A name as it reads inside a formula: 'x1*w1 + x2*w2' becomes '(x1*w1 + x2*w2)';
    a plain name, a call such as 'tanh(…)₂' or a parenthesised whole stays as it is."""
    call = re.fullmatch(r"[\w.]+(\(.*\))[₀-₉]*", name)
    if re.fullmatch(r"[#\w\[\].]+", name) or _wrapped(name) or (call and _wrapped(call.group(1))):
        return name
    return f"({name})"


# ---------------------------------------------------------------------------------------------
# Names, and what each operation does in words (from the engine's op table)
# ---------------------------------------------------------------------------------------------
NAME_MAX = 24          # longest name made up for an unnamed node (a label is kept whole)
_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def _fill(template, refs, out):
    """An op table's text ("{a} · {b}") with the inputs' names; '' if it does not fit them.
    Inside a call's own parentheses ("tanh({a})") a name needs none of its own."""
    keys = {"out": out}
    for key, ref in zip("ab", refs):
        keys[key] = ref
        if f"({{{key}}})" in template:
            keys[key + "_bare"] = ref[1:-1] if _wrapped(ref) else ref
            template = template.replace(f"({{{key}}})", f"({{{key}_bare}})")
    try:
        return template.format_map(keys)
    except (KeyError, IndexError, ValueError, AttributeError):
        return ""


def _wrapped(ref):
    """Whether `ref` is one parenthesised whole: "(a + b)" is, "(a) + (b)" is not."""
    if not (ref.startswith("(") and ref.endswith(")")):
        return False
    depth = 0
    for k, ch in enumerate(ref):
        depth += (ch == "(") - (ch == ")")
        if depth == 0 and k < len(ref) - 1:
            return False
    return True


def _formula(rule, refs):
    """What the node computes, from its inputs' names: "x1 · w1", "tanh(n)", "b + w0·x0 + …"."""
    if rule.name == "w·x+b":
        terms = [f"{refs[i]}·{refs[i + 1]}" for i in range(1, len(refs) - 1, 2)]
        if len(terms) > 4:
            terms = terms[:3] + [f"… ({len(terms)} terms)"]
        return " + ".join([refs[0]] + terms)
    text = _fill(rule.formula, refs, "") if len(refs) <= 2 else ""
    return text or f"{rule.name}({', '.join(refs)})"


def _derivatives(rule, refs, out):
    """Symbolic d(out)/d(input_i) for every input ('' where the op table has none)."""
    if rule.name == "w·x+b":
        return ["1"] + [refs[i + 1 if i % 2 else i - 1] for i in range(1, len(refs))]
    texts = [_fill(t, refs, out) for t in rule.derivatives] if len(refs) <= 2 else []
    return (texts + [""] * len(refs))[:len(refs)]


def _made_up_name(rule, refs):
    """A readable name for an unnamed node: its formula over its inputs' names ("x1·w1"),
    with the longest input names elided ("(x1·w1 + x2·w2)·…") until it is short."""
    refs = list(refs)
    while True:
        name = _formula(rule, refs).replace(" · ", "·")
        longest = max(range(len(refs)), key=lambda k: len(refs[k]), default=None)
        if len(name) <= NAME_MAX or longest is None or refs[longest] == "…":
            break
        refs[longest] = "…"
    return name if len(name) <= NAME_MAX else f"{rule.name}(…)"


def _number(x):
    """A constant's name: the number itself, as short as it reads."""
    return "%g" % x


def _label(v):
    """A node's label as text: a label that is not a string (a number, say) reads as str() of
    it; None is no label."""
    return v.label if isinstance(v.label, str) else "" if v.label is None else str(v.label)


def _names(topo, kids, rules):
    """Each node's name: its label (made a string), else a made-up one; made-up names that
    repeat get a subscript (the second "tanh(…)" is "tanh(…)₂")."""
    names, refs, seen = [], [], {}
    for i, v in enumerate(topo):
        label = _label(v)
        if label:
            name = label
        elif rules[i] is None:
            name = _number(v.data) if not v._prev else f"{v._op or 'op'}(…)"
        else:
            name = _made_up_name(rules[i], [refs[c] for c in kids[i]])
        if not label:
            count = seen[name] = seen.get(name, 0) + 1
            if count > 1:
                name += str(count).translate(_SUBSCRIPTS)
        names.append(name)
        refs.append(_ref(name))
    return names, refs


# ---------------------------------------------------------------------------------------------
# The data the page shows
# ---------------------------------------------------------------------------------------------
def _rules(topo):
    """The Op that made each node (None for a leaf); a hand-written _backward is refused."""
    rules = []
    for i, v in enumerate(topo):
        rule = v._rule
        if rule is not None and not isinstance(rule, Op):
            label = f", {str(v.label)!r}" if v.label else ""
            raise ValueError(f"node #{i} ({v._op or 'leaf'}{label}) has a hand-written "
                             f"_backward; the stepper needs nodes made by the engine's operations")
        rules.append(rule if v._prev else None)
    return rules


def _graph(root, max_nodes):
    """(topo, index, kids, parents, rules): the graph as indices, the root last."""
    topo = root.topo()
    n = len(topo)
    if n > max_nodes:
        raise ValueError(f"the graph has {n:,} nodes; the stepper shows at most {max_nodes:,} "
                         f"(pass max_nodes=... to allow more, or draw it with draw_dot(max_nodes="
                         f"..., collapse=True))")
    index = {v: i for i, v in enumerate(topo)}
    kids = [[index[c] for c in v._prev] for v in topo]
    parents = [[] for _ in range(n)]
    for i, ks in enumerate(kids):
        for c in ks:
            parents[c].append(i)
    return topo, index, kids, parents, _rules(topo)


def stepper_data(root, h=1e-6, max_nodes=MAX_NODES, title=None, nudge_budget=NUDGE_BUDGET):
    """Everything the stepper page shows, as a JSON-ready dict (see the module doc).
    `nudge_budget`: node visits the nudge checks may spend; leaves past it come "pending"
    (stepper_check computes one)."""
    topo, index, kids, parents, rules = _graph(root, max_nodes)
    n = len(topo)
    names, refs = _names(topo, kids, rules)
    root_name = refs[-1]

    # Replay backward(): the engine's own loop and local derivatives, the same operations in
    # the same order, recorded step by step.
    grads = [0] * n
    zero = _fmt(0.0)
    steps = []
    grads[-1] += 1
    steps.append({"node": n - 1, "kind": "seed", "outGrad": _fmt(grads[-1]),
                  "terms": [{"child": n - 1, "before": zero, "after": _fmt(grads[-1]),
                             "beforeFull": repr(0), "afterFull": repr(grads[-1])}]})
    touched = [[] for _ in range(n)]              # steps that change each node's grad
    touched[-1].append(0)

    def replay(v, rule):
        i = index[v]
        if rules[i] is None:
            return
        local = local_grads(v, rule, [topo[c].data for c in kids[i]])
        child_refs = [refs[c] for c in kids[i]]
        formulas = _derivatives(rule, child_refs, refs[i])
        g = grads[i]
        terms = []
        for slot, (c, d) in enumerate(zip(kids[i], local)):
            before = grads[c]
            prod = d * g
            grads[c] += prod
            touched[c].append(len(steps))
            terms.append({"child": c, "slot": slot, "local": _fmt(d), "formula": formulas[slot],
                          "product": _fmt(prod), "before": _fmt(before), "after": _fmt(grads[c]),
                          "beforeFull": repr(before), "afterFull": repr(grads[c])})
        steps.append({"node": i, "kind": "chain", "op": v._op, "outGrad": _fmt(g),
                      "forward": f"{refs[i]} = {_formula(rule, child_refs)}",
                      "terms": terms})

    backpropagate(topo, replay)

    # The lecture's check: nudge each leaf by h and watch the root move (within a budget).
    checks, _ = nudge_checks(parents, kids, rules, [v.data for v in topo], grads, h,
                             nudge_budget, FMT)
    for c in checks:
        c["lastStep"] = touched[c["node"]][-1] if touched[c["node"]] else -1

    # Sizes and layout.
    card_w, op_w = [], []
    for i, v in enumerate(topo):
        texts = [len(f"data {_fmt(v.data)}"), len(f"grad {zero}")]
        texts += [len("grad " + t["after"]) for s in touched[i] for t in steps[s]["terms"]
                  if t["child"] == i]
        w = max(max(texts) * MONO_W + 20, len(names[i]) * LABEL_W + 26, MIN_CARD_W)
        card_w.append(round(min(w, MAX_CARD_W)))
        op_w.append(round(max(30, len(v._op) * 7.5 + 16)) if v._op else 0)
    xs, ys, width, height = layered_layout(kids, parents, card_w, op_w)
    nodes = []
    for i, v in enumerate(topo):
        label = _label(v)
        nodes.append({"label": label, "name": names[i], "ref": refs[i], "op": v._op,
                      "leaf": not v._prev, "data": _fmt(v.data), "dataFull": repr(v.data),
                      "kids": kids[i], "x": round(xs[i], 1), "y": round(ys[i], 1),
                      "w": card_w[i], "h": CARD_H, "opw": op_w[i]})
    final = [_fmt(g) for g in grads]
    return {"title": title or f"backward() through {root_name}", "root": n - 1,
            "rootName": root_name, "zero": zero, "h": repr(h), "nodes": nodes, "steps": steps,
            "checks": checks, "final": final, "finalFull": [repr(g) for g in grads],
            "width": round(width), "height": round(height), "format": FMT,
            "pendingChecks": sum(1 for c in checks if c.get("pending")),
            "windowed": n > WINDOW_NODES}


def stepper_check(root, node, h=1e-6, max_nodes=MAX_NODES):
    """The nudge check of one leaf (its index in root.topo()), for a check the page left
    pending: {"node", "numeric", "numericFull", "grad", "ok"}. One nudge, linear in the graph."""
    topo, index, kids, parents, rules = _graph(root, max_nodes)
    if isinstance(node, bool) or not isinstance(node, int) or not 0 <= node < len(topo) \
            or kids[node]:
        raise ValueError(f"node {node!r} is not a leaf of this graph of {len(topo)} nodes")
    grads = {node: grad(root, [topo[node]])[0].data}       # backward()'s, the same float ops
    return nudge_check(parents, kids, rules, [v.data for v in topo], grads, node, h, FMT)


# ---------------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------------
def _script_json(obj):
    """JSON that is safe inside <script type="application/json">: no `<`, `>` or `&` at all,
    so no label can close the script element or start markup, and ASCII only (a lone
    surrogate, from a label decoded from a non-UTF-8 file name, is written as its escape)."""
    text = json.dumps(obj, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _asset(name):
    return resources.files("micrograd.viz").joinpath(name).read_text(encoding="utf-8")


def _inline_assets():
    """The page's one style and one module script, exactly as inlined (the CSP hashes these):
    stepper.js and the modules it imports, written as one by micrograd.viz.web."""
    return "\n" + _asset("stepper.css") + "\n", "\n" + inline_module("stepper.js") + "\n"


def stepper_sources():
    """(style, script): the CSP sources that admit the page's inline style and script, by
    their hashes. A page that shows the stepper in a srcdoc iframe (which keeps its parent's
    policy: the static site's) admits these two as well."""
    style, script = _inline_assets()
    return csp_hash(style), csp_hash(script)


def stepper_csp(served=False):
    """The stepper page's Content-Security-Policy: nothing but its own style and script, by
    their hashes. The page carries it in a meta tag; the lab also sends it as a header.
    served=True (the lab's page): it may also ask its own server for a pending nudge check."""
    style, script = stepper_sources()
    csp = f"default-src 'none'; style-src {style}; script-src {script}"
    return csp + "; connect-src 'self'" if served else csp


def stepper_html(root, title=None, h=1e-6, max_nodes=MAX_NODES, served=False):
    """The stepper page for `root` as one HTML string (inline CSS, JS and data; no network).
    `root` is any Value made by the engine's operations; its graph is not modified (whether
    or not backward() has been called on it, the page replays one backward() from zero).
    Its Content-Security-Policy allows nothing but its own style and script, by their hashes."""
    return stepper_page(stepper_data(root, h=h, max_nodes=max_nodes, title=title), served)


def stepper_page(data, served=False):
    """The stepper page for data already made by stepper_data (for a caller that reads the
    data too, such as show_stepper, so that it is made once). served=True: the lab serves it,
    and a click on a check left pending asks the lab's /api/check."""
    style, script = _inline_assets()
    csp = stepper_csp(served)
    page = _asset("stepper.html")
    for marker, text in (("@CSP@", csp), ("<style>@CSS@</style>", f"<style>{style}</style>"),
                         ('<script type="module">@JS@</script>',
                          f'<script type="module">{script}</script>')):
        if page.count(marker) != 1:
            raise RuntimeError(f"stepper.html needs exactly one {marker}")
        page = page.replace(marker, text)
    before, marker, after = page.partition("@DATA@")
    if not marker:
        raise RuntimeError("stepper.html has no @DATA@ marker")
    return before + _script_json(data) + after


def write_stepper(root, path, title=None, h=1e-6, max_nodes=MAX_NODES):
    """Write the stepper page for `root` to `path` (open it in a browser); returns the Path."""
    path = Path(path)
    path.write_text(stepper_html(root, title=title, h=h, max_nodes=max_nodes), encoding="utf-8")
    return path
