"""Code written for the original micrograd 0.1.0 builds the same graphs on ours.

The original runs from PyPI in a virtualenv of its own (bench/.venv-original, made on first use
by bench/run.py's ensure_original, reused by the benchmark; the first run needs PyPI). Each case
of tests/original_graphs.py is built and backpropagated on both; the graphs are compared node by
node: op, label, children (the edges), data and grad.

Nodes are matched by structure, not by address: a leaf by its data and label, any other node by
its op and the set of its children (the original's `_prev` is a set, so `a * a` has one edge
there, and the lecture's trace draws one). Data must be equal; grads to 1e-12 relative, because
the original's order of adding up a shared node's gradient follows its set's order (memory
addresses).

The one documented difference: `-`, unary minus and `/` are ops of their own here (exact: one
rounding), where the original builds them from others (`a + b*-1`, `a*-1`, `a * b**-1`). The
graphs that use them are compared after rewriting ours into the original's form, with data to
1e-12 relative (a / b and a * (1/b) differ in the last bit).
"""
import collections
import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import types

import pytest

import original_graphs as OG
from micrograd import nn
from micrograd.engine import Value

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RTOL = 1e-12
pytestmark = pytest.mark.slow     # the first run makes the original's virtualenv, from PyPI


def original_python():
    """bench's virtualenv with micrograd 0.1.0 (made if missing), plus graphviz for draw_dot."""
    spec = importlib.util.spec_from_file_location("bench_run", os.path.join(ROOT, "bench", "run.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    py = bench.ensure_original()
    env = bench.clean_env()
    if subprocess.run([py, "-c", "import graphviz"], env=env, capture_output=True).returncode:
        subprocess.run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "graphviz"], check=True, env=env)
    return py, env


@pytest.fixture(scope="module")
def originals():
    py, env = original_python()
    r = subprocess.run([py, os.path.join(ROOT, "tests", "original_graphs.py")], env=env,
                       cwd=os.path.join(ROOT, "tests"), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def ours():
    return OG.run_all(types.SimpleNamespace(Value=Value, Neuron=nn.Neuron, MLP=nn.MLP))


# ---------------------------------------------------------------------------------------------
# Matching two graphs
# ---------------------------------------------------------------------------------------------
def structure(nodes):
    """{node id: structural key}: a digest of the op, label and the set of the children's keys
    (a leaf's: its label and data), so equal structure gives equal keys in any process."""
    by_id = {n["id"]: n for n in nodes}
    keys = {}
    stack = [(nodes[0]["id"], False)]
    while stack:                                   # children first, without recursion
        nid, ready = stack.pop()
        if nid in keys:
            continue
        n = by_id[nid]
        if not ready:
            stack.append((nid, True))
            stack.extend((c, False) for c in n["children"] if c not in keys)
            continue
        if n["children"]:
            kids = ",".join(sorted({keys[c] for c in n["children"]}))
            text = f"{n['op']}[{n['label']}]({kids})"
        else:
            text = f"leaf[{n['label']}]{n['data']!r}"
        keys[nid] = f"{n['op'] or 'leaf'}:{hashlib.sha1(text.encode()).hexdigest()[:12]}"
    return keys


def summary(nodes):
    """Per structural key: the sorted (data, grad) of its nodes; and the edges between keys."""
    keys = structure(nodes)
    values = collections.defaultdict(list)
    edges = set()
    for n in nodes:
        values[keys[n["id"]]].append((n["data"], n["grad"]))
        edges.update((keys[c], keys[n["id"]]) for c in n["children"])
    return {k: sorted(v) for k, v in values.items()}, edges


def assert_same_graph(ours_nodes, original_nodes, data_rtol=0.0):
    ours_v, ours_e = summary(ours_nodes)
    theirs_v, theirs_e = summary(original_nodes)
    assert len(ours_nodes) == len(original_nodes)
    only_ours, only_theirs = set(ours_v) - set(theirs_v), set(theirs_v) - set(ours_v)
    assert not only_ours and not only_theirs, (sorted(only_ours)[:5], sorted(only_theirs)[:5])
    assert ours_e == theirs_e
    for name, mine in ours_v.items():
        theirs = theirs_v[name]
        assert len(mine) == len(theirs), name
        for (d, g), (td, tg) in zip(mine, theirs):
            assert d == td or abs(d - td) <= data_rtol * abs(td), (name, d, td)
            assert g == tg or abs(g - tg) <= RTOL * abs(tg), (name, g, tg)


def ops(nodes):
    return collections.Counter(n["op"] for n in nodes if n["op"])


# ---------------------------------------------------------------------------------------------
# Ours written the original's way: -, neg and / rewritten as the original builds them
# ---------------------------------------------------------------------------------------------
def as_the_original_builds(nodes):
    """The original's __sub__/__rsub__/__neg__/__truediv__/__rtruediv__, applied to our graph:
    a - b -> a + b*-1 (a - 2.0 -> a + leaf -2.0), -a -> a*-1, a / b -> a * b**-1
    (a / 2.0 -> a * leaf 0.5). Grads of the nodes this adds are what its backward gives them."""
    by_id = {n["id"]: n for n in nodes}
    out, dropped = [], set()

    def add(op, data, grad, children=(), tag=""):
        n = {"id": f"{len(out)}:{tag}", "op": op, "label": "", "data": data, "grad": grad,
             "children": list(children), "user": False}
        out.append(n)
        return n["id"]

    def const(n):
        return not n["children"] and not n["user"]

    for n in nodes:
        op, g = n["op"], n["grad"]
        kids = [by_id[c] for c in n["children"]]
        n = dict(n)
        if op == "neg":
            x, = kids
            n.update(op="*", children=[x["id"], add("", -1.0, x["data"] * g)])
        elif op == "-":
            x, y = kids
            if const(y):
                dropped.add(y["id"])
                n.update(op="+", children=[x["id"], add("", -y["data"], g)])
            else:
                m = add("*", -y["data"], g, [y["id"], add("", -1.0, y["data"] * g)])
                n.update(op="+", children=[x["id"], m])
        elif op == "/":
            x, y = kids
            if const(y):
                dropped.add(y["id"])
                n.update(op="*", children=[x["id"], add("", y["data"] ** -1, x["data"] * g)])
            else:
                p = add("**-1", y["data"] ** -1, x["data"] * g, [y["id"]])
                n.update(op="*", children=[x["id"], p])
                if const(x):            # 10.0 / f: the leaf 10.0 gets p * out.grad
                    dropped.add(x["id"])
                    n["children"][0] = add("", x["data"], y["data"] ** -1 * g)
        out.append(n)
    return [n for n in out if n["id"] not in dropped]


# ---------------------------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------------------------
def test_the_trace_graph_neuron_is_the_originals(ours, originals):
    mine, theirs = ours["trace_graph_neuron"]["nodes"], originals["trace_graph_neuron"]["nodes"]
    assert len(theirs) == 10 and ops(theirs) == {"*": 2, "+": 2, "ReLU": 1}
    assert len(mine) == 10 and ops(mine) == {"*": 2, "+": 2, "ReLU": 1}
    assert_same_graph(mine, theirs)


@pytest.mark.parametrize("case", ["test_sanity_check", "lecture_neuron"])
def test_expressions_build_the_originals_graph(ours, originals, case):
    assert_same_graph(ours[case]["nodes"], originals[case]["nodes"])


def test_readme_expression_differs_only_by_the_documented_ops(ours, originals):
    mine, theirs = ours["test_more_ops"]["nodes"], originals["test_more_ops"]["nodes"]
    assert ops(mine)["-"] == 2 and ops(mine)["neg"] == 1 and ops(mine)["/"] == 2
    assert (len(mine), len(theirs)) == (33, 39)                # as the README says
    with pytest.raises(AssertionError):
        assert_same_graph(mine, theirs, data_rtol=RTOL)       # as built, they differ...
    assert_same_graph(as_the_original_builds(mine), theirs, data_rtol=RTOL)   # ...by those


def test_the_demo_loss_is_the_originals_graph(ours, originals):
    mine, theirs = ours["demo_loss"]["nodes"], originals["demo_loss"]["nodes"]
    assert len(mine) == len(theirs) == 65_818
    assert ops(mine) == ops(theirs)
    assert_same_graph(mine, theirs)


def canonical_picture(case, graph):
    """The lecture's draw_dot source with every node's address replaced by its structure."""
    keys = structure(graph["nodes"])
    swap = lambda m: keys[m.group(1)] if m.group(1) in keys else m.group(0)
    lines = re.sub(r"(?<![\d.])(\d{5,})(?![\d.])", swap, graph["dot"]).splitlines()
    return collections.Counter(lines)


@pytest.mark.parametrize("case", sorted(OG.DRAWN))
def test_the_lectures_draw_dot_draws_the_same_picture(ours, originals, case):
    mine, theirs = canonical_picture(case, ours[case]), canonical_picture(case, originals[case])
    assert sum(mine.values()) > 10
    assert mine == theirs
