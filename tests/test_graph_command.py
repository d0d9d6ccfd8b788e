"""`micrograd graph`: the subcommand's parser and run(), driven through an argparse parser of our
own (the top-level CLI lives elsewhere), in process and in a subprocess; and the safe
expression parser."""
import argparse
import math
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from micrograd.engine import Value
from micrograd.cli import graph as graph_command
from micrograd.cli.expression import ExprError, build_expression

ROOT = Path(__file__).parent.parent


def parser():
    p = argparse.ArgumentParser(prog="micrograd")
    sub = p.add_subparsers(dest="command", required=True)
    graph_command.add_parser(sub)
    return p


def run(*argv):
    args = parser().parse_args(["graph", *argv])
    return args.func(args)


def records(source):
    return {m[0]: (m[1], m[2]) for m in
            re.findall(r'label="\{ (.*?) \| data (\S+) \| grad (\S+) \}" shape=record', source)}


def one_line_error(capsys):
    err = capsys.readouterr().err
    assert err.startswith("micrograd graph: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


# ---------------------------------------------------------------------------------------------
# The parser
# ---------------------------------------------------------------------------------------------
def test_add_parser_wires_run_and_has_help(capsys):
    p = parser()
    args = p.parse_args(["graph", "neuron"])
    assert args.func is graph_command.run
    with pytest.raises(SystemExit) as e:
        p.parse_args(["graph", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for word in ("neuron", "--expr", "--set", "html", "tanh exp log relu sigmoid abs"):
        assert word in out


# ---------------------------------------------------------------------------------------------
# The lecture's examples
# ---------------------------------------------------------------------------------------------
def test_expr_example_as_dot(tmp_path, capsys):
    out = tmp_path / "expr.dot"
    assert run("expr", "-o", str(out)) == 0
    assert "wrote" in capsys.readouterr().out
    got = records(out.read_text())
    assert got == {"a": ("2.0000", "6.0000"), "b": ("-3.0000", "-4.0000"),
                   "e": ("-6.0000", "-2.0000"), "c": ("10.0000", "-2.0000"),
                   "d": ("4.0000", "-2.0000"), "f": ("-2.0000", "4.0000"),
                   "L": ("-8.0000", "1.0000")}


def test_neuron_example_as_svg(tmp_path):
    out = tmp_path / "neuron.svg"
    assert run("neuron", "-o", str(out)) == 0
    texts = [t.text for t in ET.parse(out).iter("{http://www.w3.org/2000/svg}text")]
    for t in ("x1*w1 + x2*w2", "data 0.7071", "grad -1.5000", "grad 0.5000", "tanh"):
        assert t in texts


def test_mlp_example_as_png_collapsed(tmp_path):
    out = tmp_path / "mlp.png"
    assert run("mlp", "--collapse", "neurons", "-o", str(out)) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_default_example_and_default_output_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run("-f", "dot") == 0
    assert "L" in records((tmp_path / "expr.dot").read_text())


def test_html_stepper(tmp_path):
    out = tmp_path / "neuron.html"
    assert run("neuron", "-o", str(out)) == 0
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") and 'id="stepper-data"' in html


def test_limits_and_no_backward(tmp_path):
    out = tmp_path / "n.dot"
    assert run("neuron", "--max-depth", "1", "--rankdir", "TB", "-o", str(out)) == 0
    source = out.read_text()
    assert set(records(source)) == {"o", "n"} and "rankdir=TB" in source
    assert run("neuron", "--no-backward", "-o", str(out)) == 0
    assert {g for _, g in records(out.read_text()).values()} == {"0.0000"}


# ---------------------------------------------------------------------------------------------
# Expressions
# ---------------------------------------------------------------------------------------------
def test_expression_from_the_command_line(tmp_path):
    out = tmp_path / "out.dot"
    assert run("--expr", "(a*b + c).tanh()", "--set", "a=2", "--set", "b=-3", "--set", "c=10",
               "-o", str(out)) == 0
    got = records(out.read_text())
    t = math.tanh(4.0)
    assert got["a"] == ("2.0000", "%.4f" % (-3 * (1 - t * t)))
    assert got["c"][1] == "%.4f" % (1 - t * t)
    assert got["a*b"] == ("-6.0000", "%.4f" % (1 - t * t))
    assert got["(a*b + c).tanh()"] == ("%.4f" % t, "1.0000")


def test_expression_statements_name_the_nodes_like_the_lecture(tmp_path):
    out = tmp_path / "L.dot"
    assert run("--expr", "e = a*b; d = e + c; L = d*f", "-s", "a=2", "-s", "b=-3", "-s", "c=10",
               "-s", "f=-2", "-o", str(out)) == 0
    from micrograd.viz import dot_source
    from micrograd.lecture import lecture_expression
    assert out.read_text() == dot_source(lecture_expression(backward=True))


@pytest.mark.parametrize("text, expected", [
    ("a + b", 5.0), ("a - b", -1.0), ("a * b", 6.0), ("a / b", 2 / 3), ("a ** 2", 4.0),
    ("a ** b", 8.0), ("2 ** a", 4.0), ("-a", -2.0), ("-3 * a", -6.0), ("+a * 1", 2.0),
    ("tanh(a)", math.tanh(2)), ("a.tanh()", math.tanh(2)), ("exp(a)", math.exp(2)),
    ("a.exp()", math.exp(2)), ("log(b)", math.log(3)), ("b.log()", math.log(3)),
    ("relu(-a)", 0.0), ("(a - b).relu()", 0.0), ("sigmoid(a)", 1 / (1 + math.exp(-2))),
    ("a.sigmoid()", 1 / (1 + math.exp(-2))), ("abs(a - b)", 1.0), ("1e-3 * a", 0.002),
    ("x = a*b\ny = x + a\ny * 2", 16.0),
])
def test_build_expression_computes_and_backpropagates_like_the_engine(text, expected):
    out = build_expression(text, {"a": 2, "b": 3.0})
    assert out.data == pytest.approx(expected)
    out.backward()
    g = {v.label: v.grad for v in out.topo() if v.label in ("a", "b")}
    # the same expression written directly
    a, b = Value(2.0), Value(3.0)
    env = {"a": a, "b": b, "tanh": Value.tanh, "exp": Value.exp, "log": Value.log,
           "relu": Value.relu, "sigmoid": Value.sigmoid, "abs": abs}
    lines = text.replace("+a", "a").split("\n")
    for line in lines[:-1]:
        name, expr = line.split("=", 1)
        env[name.strip()] = eval(expr, {}, env)     # our own fixed test strings
    direct = eval(lines[-1], {}, env)
    direct.backward()
    if "a" in g:
        assert g["a"] == a.grad
    if "b" in g:
        assert g["b"] == b.grad


def test_square_is_the_lectures_pow2_node():
    out = build_expression("a**2", {"a": 3})
    assert out._op == "**2"


UNSAFE = [
    "__import__('os')", "__import__('os').system('touch PWNED')", "a.__class__",
    "a.__class__.__mro__", "a.grad", "a.data", "a._prev", "a.tanh.__globals__",
    "lambda: a", "(lambda: 1)()", "[x for x in (1, 2)]", "(x for x in (1,))", "{1: a}",
    "{a}", "[a]", "(a, a)", "open('/etc/passwd')", "eval('1')", "exec('1')",
    "getattr(a, 'data')", "print(a)", "type(a)", "a[0]", "a[0:1]", "'x'", "b'x'", "1j", "True",
    "None", "...", "a if a else a", "a and a", "a or a", "not a", "a < a", "a == a", "a @ a",
    "a // a", "a % a", "a << 1", "a | a", "~a", "f'{a}'", "import os", "del a", "a += 1",
    "a: int = 1", "x = y = a", "x, y = a, a", "a.tanh(1)", "tanh(a, a)", "tanh()",
    "tanh(x=a)", "tanh(*[a])", "a.relu(1)", "a.backward()", "a.zero_grad()", "q + a",
    "tanh", "exp + a", "(yield a)", "a := 1", "a; a", "if a: a", "for i in a: a",
    "while a: a", "def f(): a", "class C: a", "assert a", "raise a", "global a",
    "with a: a", "try: a\nexcept: a", "10**400 * a", "9**9**9*a", "log(a - a)", "",
    "   ", "a +", "(" * 300 + "a" + ")" * 300, "-" * 500 + "a", "a+" * 3000 + "a",
    "a = 1", "__a = 1\n__a",
]


@pytest.mark.parametrize("text", UNSAFE)
def test_unsafe_or_bad_expressions_are_refused_with_one_line(text, tmp_path, capsys,
                                                            monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out.dot"
    assert run(f"--expr={text}", "--set", "a=2", "-o", str(out)) == 2
    err = one_line_error(capsys)
    assert len(err) < 400
    assert not out.exists()
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("text", ["__import__('os')", "a.__class__", "lambda: a",
                                  "open('x')", "a.grad", "'s'"])
def test_build_expression_raises_expr_error(text):
    with pytest.raises(ExprError):
        build_expression(text, {"a": 1.0})


@pytest.mark.parametrize("sets", [["a"], ["a=x"], ["1a=2"], ["tanh=1"], ["a=1", "a=2"],
                                  ["a=1", "z=2"], ["__class__=1"], ["for=1"]])
def test_bad_set_values_are_refused(sets, tmp_path, capsys):
    argv = ["--expr", "a * 2"]
    for s in sets:
        argv += ["--set", s]
    assert run(*argv, "-o", str(tmp_path / "o.dot")) == 2
    one_line_error(capsys)


def test_usage_mistakes_are_one_line_errors(tmp_path, capsys):
    assert run("neuron", "--expr", "a", "-s", "a=1", "-o", str(tmp_path / "x.dot")) == 2
    one_line_error(capsys)
    assert run("neuron", "-s", "a=1", "-o", str(tmp_path / "x.dot")) == 2
    one_line_error(capsys)
    assert run("neuron", "-o", str(tmp_path / "x.jpeg")) == 2
    one_line_error(capsys)
    assert run("neuron", "-f", "html", "--max-nodes", "3", "-o", str(tmp_path / "x.html")) == 2
    one_line_error(capsys)
    assert run("neuron", "--max-nodes", "0", "-o", str(tmp_path / "x.dot")) == 2
    one_line_error(capsys)
    assert run("neuron", "-o", str(tmp_path / "no" / "such" / "dir.dot")) == 1
    one_line_error(capsys)


def test_missing_dot_program(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))          # an empty directory: no `dot`
    assert run("neuron", "-o", str(tmp_path / "n.png")) == 1
    err = one_line_error(capsys)
    assert "apt-get install graphviz" in err and "brew install graphviz" in err
    assert not (tmp_path / "n.png").exists()
    # dot and html need no Graphviz
    assert run("neuron", "-o", str(tmp_path / "n.dot")) == 0
    assert run("neuron", "-o", str(tmp_path / "n.html")) == 0


# ---------------------------------------------------------------------------------------------
# In a subprocess, as a user would run it
# ---------------------------------------------------------------------------------------------
SCRIPT = """\
import argparse, sys
from micrograd.cli import graph as graph_command
p = argparse.ArgumentParser(prog="micrograd")
sub = p.add_subparsers(dest="command", required=True)
graph_command.add_parser(sub)
args = p.parse_args(sys.argv[1:])
sys.exit(args.func(args))
"""


def subprocess_run(*argv, **kw):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.update(kw.pop("env", {}))
    return subprocess.run([sys.executable, "-c", SCRIPT, "graph", *argv], capture_output=True,
                          text=True, env=env, timeout=120, **kw)


def test_subprocess_writes_dot_to_stdout(tmp_path):
    p = subprocess_run("--expr", "e = a*b; d = e + c; L = d*f", "-s", "a=2", "-s", "b=-3",
                       "-s", "c=10", "-s", "f=-2", "-f", "dot", "-o", "-", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("digraph {")
    assert records(p.stdout)["a"] == ("2.0000", "6.0000")
    assert list(tmp_path.iterdir()) == []


def test_subprocess_png_to_a_file(tmp_path):
    p = subprocess_run("neuron", "-o", "n.png", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "n.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert p.stdout.strip() == "wrote n.png (png, 10 nodes)"
    p = subprocess_run("mlp", "--max-nodes", "20", "-f", "dot", "-o", "m.dot", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "wrote m.dot (dot, 370 nodes in the graph, drawn within your limits)"


def test_subprocess_refuses_code_without_a_traceback(tmp_path):
    p = subprocess_run("--expr", "__import__('os').system('touch PWNED')", "-o", "x.svg",
                       cwd=tmp_path)
    assert p.returncode == 2
    assert p.stdout == ""
    assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
    assert "not allowed" in p.stderr
    assert list(tmp_path.iterdir()) == []


def test_subprocess_without_dot(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    p = subprocess_run("expr", "-o", "L.svg", cwd=tmp_path, env={"PATH": str(bin_dir)})
    assert p.returncode == 1
    assert p.stderr.count("\n") == 1 and "apt-get install graphviz" in p.stderr
