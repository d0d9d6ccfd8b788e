"""Code written for the original micrograd 0.1.0 builds the same graphs on ours.

The original runs from PyPI in a virtualenv of its own (bench/.venv-original, made on first use
by bench/run.py's ensure_original, reused by the benchmark; the first run needs PyPI). Each case
of tests/original_graphs.py is built and backpropagated on both; the graphs are compared node by
node: op, label, children (the edges), data and grad.

Nodes are matched by structure, not by address: a leaf by its data and label, any other node by
its op and the set of its children (the original's `_prev` is a set, so `a * a` has one edge
there, and the lecture's trace draws one). Data must be equal, bit for bit; grads too where no
node sums more than two terms, else to 1e-12 relative, because the original's order of adding
up a shared node's gradient follows its set's order (memory addresses).

`-`, unary minus and `/` build the original's graphs (`a + b*-1`, `a*-1`, `a * b**-1`), so
every graph here is compared as it is built. So are the printouts (`facts`): the reprs of a
Value, a Neuron, a Layer and an MLP, the types of an int Value's data and grad, a fresh bias,
and the bits of a few divisions.
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
    return OG.run_all(types.SimpleNamespace(Value=Value, Neuron=nn.Neuron, Layer=nn.Layer,
                                            MLP=nn.MLP))


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


def assert_same_graph(ours_nodes, original_nodes, data_rtol=0.0, grad_rtol=RTOL):
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
            assert g == tg or abs(g - tg) <= grad_rtol * abs(tg), (name, g, tg)


def ops(nodes):
    return collections.Counter(n["op"] for n in nodes if n["op"])


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


def test_readme_expression_is_the_originals_graph(ours, originals):
    mine, theirs = ours["test_more_ops"]["nodes"], originals["test_more_ops"]["nodes"]
    assert len(mine) == len(theirs) == 39                      # as the README says
    assert ops(mine) == ops(theirs) and ops(mine)["**-1"] == 1 and "/" not in ops(mine)
    assert_same_graph(mine, theirs)


def test_the_lectures_tanh_through_exp_is_the_lectures_graph(ours, originals):
    mine, theirs = ours["lecture_neuron_exp"]["nodes"], originals["lecture_neuron_exp"]["nodes"]
    assert len(mine) == len(theirs) == 18                      # as drawn in the lecture
    assert ops(mine) == ops(theirs) == {"*": 4, "+": 4, "exp": 1, "**-1": 1}
    assert_same_graph(mine, theirs, grad_rtol=0.0)             # every node, bit for bit


def test_a_division_heavy_expression_has_the_originals_bits(ours, originals):
    mine, theirs = ours["division_heavy"]["nodes"], originals["division_heavy"]["nodes"]
    assert ops(mine) == ops(theirs) and ops(mine)["**-1"] >= 10
    assert_same_graph(mine, theirs, grad_rtol=0.0)             # data and grads, bit for bit


@pytest.mark.parametrize("fact", ["repr Value(3)", "repr Value(1.0)", "repr after backward",
                                  "repr Neuron", "repr Layer", "repr MLP", "print MLP",
                                  "type Value(3).data", "type Value(3).grad", "an int graph",
                                  "10.0 / Value(3.0)", "Value(10.0) / 3.0",
                                  "Value(1.0) / Value(3.0)", "Neuron(2).b.data",
                                  "Neuron(2).b.data type"])
def test_what_the_original_prints(ours, originals, fact):
    assert ours["facts"][fact] == originals["facts"][fact]


def test_the_facts_are_what_the_issue_says(originals):
    facts = originals["facts"]
    assert facts["10.0 / Value(3.0)"] == "3.333333333333333"      # not ...35 (one rounding)
    assert facts["repr Value(3)"] == "Value(data=3, grad=0)"
    assert facts["Neuron(2).b.data"] == "0"
    assert facts["repr MLP"].startswith("MLP of [Layer of [ReLUNeuron(2), ")


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
