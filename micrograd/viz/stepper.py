"""The backprop stepper: one self-contained HTML page that runs backward() one node at a time.

    from micrograd.viz import write_stepper
    from micrograd.viz.lecture import lecture_neuron
    write_stepper(lecture_neuron(), "neuron.html")      # open it in any browser, from disk

The page shows the graph with every value's data. "Step" (or the right arrow key) applies the
chain rule at the next node in reverse topological order, the order backward() uses: the node
is highlighted, and the panel shows its operation, its local derivative(s) and the product it
adds into each input's grad. "Back", "Reset", "Play" undo, restart and animate. A second panel
checks every leaf's gradient the lecture's way: nudge the leaf by h, re-evaluate, rise over run.

Everything the page shows is computed here, in Python, and embedded as JSON: the layout (a
layered left-to-right layout, so neither Graphviz nor a network is needed), every grad after
every step (a replay of the engine's chain rule with the same float operations in the same
order, so the last state equals backward()'s grads exactly), and the numerical check. The page
renders all text with textContent: labels cannot inject markup or script.
"""
import json
import math
import re
from importlib import resources
from pathlib import Path

from micrograd.engine import Op

__all__ = ["stepper_data", "stepper_html", "write_stepper", "MAX_NODES"]

FMT = "%.4f"
MAX_NODES = 3000

# layout constants (pixels)
CARD_H = 62
ROW_GAP = 22
COL_GAP = 56
OP_GAP = 18
MARGIN = 24
MIN_CARD_W = 112
MAX_CARD_W = 240
MONO_W = 7.3          # 12px monospace, per character
LABEL_W = 8.6         # 13px bold sans, per character (a generous estimate)


def _fmt(x):
    return FMT % x


def _ref(name):
    """A name as it reads inside a formula: 'x1*w1 + x2*w2' becomes '(x1*w1 + x2*w2)'."""
    return name if re.fullmatch(r"[#\w\[\].]+", name) else f"({name})"


# ---------------------------------------------------------------------------------------------
# What each operation does, in words, for the explanation panel
# ---------------------------------------------------------------------------------------------
def _forward_text(op, out, names):
    if op in ("+", "-", "*", "/", "**") and len(names) == 2:
        return f"{out} = {names[0]} {op} {names[1]}"
    if op.startswith("**") and len(names) == 1:
        return f"{out} = {names[0]}**{op[2:]}"
    if op == "neg" and len(names) == 1:
        return f"{out} = -{names[0]}"
    if op == "w·x+b":
        terms = [f"{names[i]}·{names[i + 1]}" for i in range(1, len(names) - 1, 2)]
        if len(terms) > 4:
            terms = terms[:3] + [f"… ({len(terms)} terms)"]
        return f"{out} = " + " + ".join([names[0]] + terms)
    return f"{out} = {op}({', '.join(names)})"


def _local_formulas(op, out, names):
    """Symbolic d(out)/d(input_i) for the known operations ('' where there is none to show)."""
    n = len(names)
    if op == "+" and n == 2:
        return ["1", "1"]
    if op == "-" and n == 2:
        return ["1", "-1"]
    if op == "*" and n == 2:
        return [names[1], names[0]]
    if op == "/" and n == 2:
        return [f"1/{names[1]}", f"-{names[0]}/{names[1]}²"]
    if op == "**" and n == 2:
        return [f"{names[1]}·{names[0]}^({names[1]}-1)", f"{out}·ln({names[0]})"]
    if op.startswith("**") and n == 1:
        k = op[2:]
        if k == "2":
            return [f"2·{names[0]}"]
        return [f"{k}·{names[0]}^({k}-1)"]
    if n == 1:
        a = names[0]
        return [{"neg": "-1", "exp": f"exp({a}) = {out}", "log": f"1/{a}",
                 "tanh": f"1 - {out}²", "ReLU": f"1 if {a} > 0 else 0",
                 "abs": f"sign({a})", "sigmoid": f"{out}·(1 - {out})"}.get(op, "")]
    if op == "w·x+b":
        f = ["1"]
        for i in range(1, n - 1, 2):
            f += [names[i + 1], names[i]]
        return f + [""] * (n - len(f))
    return [""] * n


# ---------------------------------------------------------------------------------------------
# Layout: layered, left to right, the root at the right (as Graphviz's rankdir=LR draws it)
# ---------------------------------------------------------------------------------------------
def _isotonic(targets):
    """Nondecreasing sequence closest (least squares) to `targets`: pool adjacent violators."""
    blocks = []                                   # [sum, count]
    for t in targets:
        blocks.append([t, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            s, c = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += c
    out = []
    for s, c in blocks:
        out += [s / c] * c
    return out


def _layout(topo, kids, card_w, op_w):
    n = len(topo)
    parents = [[] for _ in range(n)]
    for i in range(n):
        for c in kids[i]:
            parents[c].append(i)
    # column: longest distance from the root, mirrored (leaves drift right, next to their use)
    dist = [0] * n
    for i in range(n - 1, -1, -1):                # parents before children
        for c in kids[i]:
            if dist[c] < dist[i] + 1:
                dist[c] = dist[i] + 1
    depth = max(dist)
    col = [depth - d for d in dist]
    # first order in each column: depth-first from the root, inputs in order (first on top)
    pre, seen, stack = [0] * n, [False] * n, [n - 1]
    k = 0
    while stack:
        i = stack.pop()
        if seen[i]:
            continue
        seen[i] = True
        pre[i] = k
        k += 1
        stack.extend(reversed(kids[i]))
    cols = [[] for _ in range(depth + 1)]
    for i in sorted(range(n), key=pre.__getitem__):
        cols[col[i]].append(i)
    slot = CARD_H + ROW_GAP
    y = [0.0] * n

    def stack_column(c):
        m = len(cols[c])
        for r, i in enumerate(cols[c]):
            y[i] = (r - (m - 1) / 2) * slot

    for c in range(len(cols)):
        stack_column(c)

    def neighbours(i, which):
        if which == "parents":
            return parents[i]
        if which == "kids":
            return kids[i]
        return parents[i] + list(kids[i])

    def sweep(order_cols, which, reorder):
        for c in order_cols:
            ids = cols[c]
            targets = []
            for i in ids:
                nb = neighbours(i, which)
                targets.append(sum(y[j] for j in nb) / len(nb) if nb else y[i])
            if reorder:
                ranked = sorted(range(len(ids)), key=lambda r: (targets[r], r))
                cols[c] = ids = [ids[r] for r in ranked]
                targets = [targets[r] for r in ranked]
                stack_column(c)
            else:
                z = _isotonic([t - r * slot for r, t in enumerate(targets)])
                for r, i in enumerate(ids):
                    y[i] = z[r] + r * slot

    right_to_left = list(range(len(cols) - 2, -1, -1))
    left_to_right = list(range(1, len(cols)))
    for _ in range(4):                            # crossing reduction: barycenters
        sweep(right_to_left, "parents", True)
        sweep(left_to_right, "kids", True)
    for _ in range(6):                            # then positions: near the neighbours' mean
        sweep(right_to_left, "parents", False)
        sweep(left_to_right, "kids", False)
        sweep(range(len(cols)), "both", False)
    # x: columns side by side; each card has its op pill on its left
    xs = [0.0] * n
    x = MARGIN
    for c in range(len(cols)):
        ids = cols[c]
        pill = max((op_w[i] for i in ids if op_w[i]), default=0)
        left = x + (pill + OP_GAP if pill else 0)
        for i in ids:
            xs[i] = left
        x = left + max(card_w[i] for i in ids) + COL_GAP
    top = min(y) - CARD_H / 2
    ys = [yi - top - CARD_H / 2 + MARGIN for yi in y]
    width = x - COL_GAP + MARGIN
    height = max(ys) + CARD_H + MARGIN
    return xs, ys, width, height


# ---------------------------------------------------------------------------------------------
# The data the page shows
# ---------------------------------------------------------------------------------------------
def _evaluate(topo, kids, rules, data, leaf, value):
    """Every node's data with the leaf set to `value`, recomputed with each node's Op forward,
    in topological order (the original graph is not touched)."""
    d = list(data)
    d[leaf] = value
    for i, rule in enumerate(rules):
        if rule is not None:
            d[i] = rule.forward(*[d[c] for c in kids[i]])
    return d[-1]


def stepper_data(root, h=1e-6, max_nodes=MAX_NODES, title=None):
    """Everything the stepper page shows, as a JSON-ready dict (see the module doc)."""
    topo = root.topo()
    n = len(topo)
    if n > max_nodes:
        raise ValueError(f"the graph has {n:,} nodes; the stepper shows at most {max_nodes:,} "
                         f"(pass max_nodes=... to allow more, or draw it with draw_dot(max_nodes="
                         f"..., collapse=True))")
    index = {v: i for i, v in enumerate(topo)}
    kids = [[index[c] for c in v._prev] for v in topo]
    rules = []
    for i, v in enumerate(topo):
        rule = v._rule
        if rule is not None and not isinstance(rule, Op):
            raise ValueError(f"node #{i} ({v._op or 'leaf'}{', ' + repr(v.label) if v.label else ''}) "
                             f"has a hand-written _backward; the stepper needs nodes made by "
                             f"the engine's operations")
        rules.append(rule if v._prev else None)
    names = [v.label if v.label else f"#{i}" for i, v in enumerate(topo)]
    refs = [_ref(name) for name in names]
    root_name = refs[-1]

    # Replay backward(): the same float operations in the same order as the engine.
    grads = [0.0] * n
    zero = _fmt(0.0)
    steps = []
    grads[-1] += 1.0
    steps.append({"node": n - 1, "kind": "seed", "outGrad": _fmt(grads[-1]),
                  "terms": [{"child": n - 1, "before": zero, "after": _fmt(grads[-1]),
                             "beforeFull": repr(0.0), "afterFull": repr(grads[-1])}]})
    touched = [[] for _ in range(n)]              # steps that change each node's grad
    touched[-1].append(0)
    for i in range(n - 1, -1, -1):
        v, rule = topo[i], rules[i]
        if rule is None:
            continue
        xs = [topo[c].data for c in kids[i]]
        try:
            local = list(rule.local_grads(v.data, *xs))
        except (ValueError, ZeroDivisionError, OverflowError) as e:
            raise ValueError(f"backward through {v._op} at node #{i}: the derivative at "
                             f"{', '.join(map(repr, xs))} is not finite ({e})") from None
        child_names = [refs[c] for c in kids[i]]
        formulas = _local_formulas(v._op, refs[i], child_names)
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
                      "forward": _forward_text(v._op, refs[i], child_names),
                      "terms": terms})

    # The lecture's check: nudge each leaf by h and watch the root move.
    data = [v.data for v in topo]
    checks = []
    for i, v in enumerate(topo):
        if v._prev:
            continue
        try:
            up = _evaluate(topo, kids, rules, data, i, v.data + h)
            down = _evaluate(topo, kids, rules, data, i, v.data - h)
            numeric = (up - down) / (2 * h)
            if not math.isfinite(numeric):
                numeric = None
        except (ValueError, ZeroDivisionError, OverflowError):
            numeric = None
        g = grads[i]
        ok = numeric is not None and math.isfinite(g) and abs(numeric - g) <= 1e-4 + 1e-3 * abs(g)
        checks.append({"node": i, "numeric": "n/a" if numeric is None else _fmt(numeric),
                       "numericFull": "n/a" if numeric is None else repr(numeric),
                       "grad": _fmt(g), "ok": ok,
                       "lastStep": touched[i][-1] if touched[i] else -1})

    # Sizes and layout.
    card_w, op_w = [], []
    for i, v in enumerate(topo):
        texts = [len(f"data {_fmt(v.data)}"), len(f"grad {zero}")]
        texts += [len("grad " + t["after"]) for s in touched[i] for t in steps[s]["terms"]
                  if t["child"] == i]
        w = max(max(texts) * MONO_W + 20, len(names[i]) * LABEL_W + 26, MIN_CARD_W)
        card_w.append(round(min(w, MAX_CARD_W)))
        op_w.append(round(max(30, len(v._op) * 7.5 + 16)) if v._op else 0)
    xs, ys, width, height = _layout(topo, kids, card_w, op_w)
    nodes = []
    for i, v in enumerate(topo):
        nodes.append({"label": v.label, "name": names[i], "ref": refs[i], "op": v._op, "leaf": not v._prev,
                      "data": _fmt(v.data), "dataFull": repr(v.data), "kids": kids[i],
                      "x": round(xs[i], 1), "y": round(ys[i], 1), "w": card_w[i], "h": CARD_H,
                      "opw": op_w[i]})
    final = [_fmt(g) for g in grads]
    return {"title": title or f"backward() through {root_name}", "root": n - 1,
            "rootName": root_name, "zero": zero, "h": repr(h), "nodes": nodes, "steps": steps,
            "checks": checks, "final": final, "finalFull": [repr(g) for g in grads],
            "width": round(width), "height": round(height), "format": FMT}


# ---------------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------------
_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                 "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _script_json(obj):
    """JSON that is safe inside <script type="application/json">: no `<`, `>` or `&` at all,
    so no label can close the script element or start markup."""
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return "".join(_JSON_ESCAPES.get(ch, ch) for ch in text)


def _asset(name):
    return resources.files("micrograd.viz").joinpath(name).read_text(encoding="utf-8")


def stepper_html(root, title=None, h=1e-6, max_nodes=MAX_NODES):
    """The stepper page for `root` as one HTML string (inline CSS, JS and data; no network).
    `root` is any Value made by the engine's operations; its graph is not modified (whether
    or not backward() has been called on it, the page replays one backward() from zero)."""
    data = stepper_data(root, h=h, max_nodes=max_nodes, title=title)
    page = _asset("stepper.html")
    page = page.replace("/*@CSS@*/", _asset("stepper.css"), 1)
    page = page.replace("/*@JS@*/", _asset("stepper.js"), 1)
    before, marker, after = page.partition("@DATA@")
    if not marker:
        raise RuntimeError("stepper.html has no @DATA@ marker")
    return before + _script_json(data) + after


def write_stepper(root, path, title=None, h=1e-6, max_nodes=MAX_NODES):
    """Write the stepper page for `root` to `path` (open it in a browser); returns the Path."""
    path = Path(path)
    path.write_text(stepper_html(root, title=title, h=h, max_nodes=max_nodes), encoding="utf-8")
    return path
