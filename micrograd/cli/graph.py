"""`micrograd graph`: draw a graph after backward(), or write its backprop stepper page.

The command-line module adds this subcommand with `add_parser(subparsers)` and runs it with
`args.func(args)` (which is `run`). Examples:

    micrograd graph neuron -o neuron.svg
    micrograd graph expr -f html -o expr.html
    micrograd graph --expr "(a*b + c).tanh()" --set a=2 --set b=-3 --set c=10 -o out.svg
    micrograd graph --expr "e = a*b; d = e + c; L = d*f" --set a=2 --set b=-3 --set c=10 \\
        --set f=-2 -f dot -o -

An expression is built by micrograd.cli.expression, which parses it and never runs it.
"""
import argparse
import sys
import tempfile
from pathlib import Path

from micrograd.cli.expression import ALLOWED, ExprError, build_expression, parse_sets

__all__ = ["add_parser", "run", "build_expression", "ExprError"]

OUTPUT_FORMATS = ("svg", "png", "dot", "html")


# ---------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------
_EPILOG = """\
examples:
  micrograd graph neuron -o neuron.svg
  micrograd graph expr -f png -o expr.png
  micrograd graph neuron -f html -o neuron.html     # step through backward() in a browser
  micrograd graph mlp --collapse neurons -o mlp.svg
  micrograd graph --expr "(a*b + c).tanh()" --set a=2 --set b=-3 --set c=10 -o out.svg
  micrograd graph --expr "e = a*b; d = e + c; L = d*f" \\
      --set a=2 --set b=-3 --set c=10 --set f=-2 -f dot -o -

examples to draw:
  expr     L = (a*b + c) * f with a=2, b=-3, c=10, f=-2 (the lecture's first graph)
  neuron   o = tanh(x1*w1 + x2*w2 + b), the lecture's neuron (o = 0.7071)
  mlp      the loss of MLP(3, [4, 4, 1]) (tanh, unfused) on the lecture's four examples

An expression may use """ + ALLOWED + """ (as functions, tanh(x), or methods, x.tanh()).
It is parsed and checked, never run as Python. svg and png need Graphviz's `dot` program;
dot and html (the stepper, one self-contained page) do not."""


def add_parser(subparsers):
    """Add the `graph` subcommand to an argparse subparsers object; returns its parser."""
    p = subparsers.add_parser(
        "graph", help="draw a graph after backward() (svg/png/dot) or write its backprop stepper",
        description="Draw the graph of one of the lecture's examples, or of an expression you "
                    "type, after backward(): every value with its data and grad, as in the "
                    "lecture's draw_dot. Or write the stepper (-f html): one page that runs "
                    "backward() one node at a time.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("example", nargs="?", choices=("expr", "neuron", "mlp"),
                   help="which lecture example to draw (default: expr, unless --expr is given)")
    p.add_argument("-e", "--expr", metavar="EXPRESSION",
                   help='an expression over named inputs, e.g. "(a*b + c).tanh()"; '
                        'statements "e = a*b; L = e + c" name the nodes')
    p.add_argument("-s", "--set", dest="set", action="append", default=[], metavar="NAME=NUMBER",
                   help="the value of an input of --expr (repeat for each input)")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="where to write ('-' for standard output; default: <example>.<format>)")
    p.add_argument("-f", "--format", choices=OUTPUT_FORMATS,
                   help="svg, png, dot or html (default: from the output's suffix, else svg)")
    p.add_argument("--rankdir", choices=("LR", "TB", "RL", "BT"), default="LR",
                   help="direction of the drawing (default LR, left to right)")
    p.add_argument("--max-nodes", type=int, metavar="N",
                   help="draw at most N values, nearest the root first (default 500, as "
                        "draw_dot; the html stepper always shows the whole graph)")
    p.add_argument("--max-depth", type=int, metavar="D",
                   help="draw only values at most D operations from the root")
    p.add_argument("--collapse", choices=("none", "neurons", "chains"), default="none",
                   help="draw each neuron as one box (neurons), or fold every value used once "
                        "into its user (chains)")
    p.add_argument("--no-backward", action="store_true",
                   help="draw the forward pass only (grads stay 0)")
    p.set_defaults(func=run)
    return p


def _error(msg, code):
    msg = " ".join(str(msg).split())
    print(f"micrograd graph: error: {msg}", file=sys.stderr)
    return code


_SUFFIXES = {".svg": "svg", ".png": "png", ".dot": "dot", ".gv": "dot", ".html": "html",
             ".htm": "html"}


def _resolve_format(args):
    fmt = getattr(args, "format", None)
    out = getattr(args, "output", None)
    if fmt is None and out and out != "-":
        suffix = Path(out).suffix.lower()
        if suffix and suffix not in _SUFFIXES:
            raise ExprError(f"cannot tell the format from {out!r}; give -f "
                            f"{'/'.join(OUTPUT_FORMATS)}")
        fmt = _SUFFIXES.get(suffix)
    return fmt or "svg"


def _build(args):
    from micrograd.lecture import EXAMPLES
    expr, example = getattr(args, "expr", None), getattr(args, "example", None)
    sets = getattr(args, "set", None) or []
    if expr is not None and example is not None:
        raise ExprError(f"give an example ({example}) or --expr, not both")
    if expr is None:
        if sets:
            raise ExprError("--set gives values to the inputs of --expr; there is no --expr")
        example = example or "expr"
        return EXAMPLES[example][0](), example
    values = parse_sets(sets)
    root = build_expression(expr, values)
    used = {v.label for v in root.topo() if not v._prev}
    unused = [name for name in values if name not in used]
    if unused:
        raise ExprError(f"--set {unused[0]} is not used by the expression")
    return root, "graph"


def run(args):
    """Run `micrograd graph` with parsed arguments; returns the exit code (0 on success, 2 for
    bad input, 1 when something else fails, such as Graphviz's `dot` missing). Errors are one
    line on stderr, never a traceback."""
    from micrograd.viz.dot import MAX_NODES, GraphvizNotFound, RenderTimeout, dot_source, render
    from micrograd.viz.stepper import stepper_html
    try:
        fmt = _resolve_format(args)
        collapse = {"none": False, None: False, "neurons": "neurons",
                    "chains": "chains"}[getattr(args, "collapse", None)]
        max_nodes, max_depth = getattr(args, "max_nodes", None), getattr(args, "max_depth", None)
        for flag, n in (("--max-nodes", max_nodes), ("--max-depth", max_depth)):
            if n is not None and n < (1 if flag == "--max-nodes" else 0):
                raise ExprError(f"{flag} must be at least {1 if flag == '--max-nodes' else 0}")
        if fmt == "html" and (collapse or max_nodes is not None or max_depth is not None):
            raise ExprError("--max-nodes, --max-depth and --collapse shape drawings; the html "
                            "stepper always shows the whole graph")
        root, name = _build(args)
    except ExprError as e:
        return _error(e, 2)
    except (ValueError, OverflowError, ZeroDivisionError) as e:
        return _error(e, 2)
    except RecursionError:
        return _error("expression nested too deeply", 2)
    try:
        if not getattr(args, "no_backward", False):
            root.backward()
        out = getattr(args, "output", None) or f"{name}.{fmt}"
        n = len(root.topo())
        options = dict(rankdir=getattr(args, "rankdir", "LR") or "LR",
                       max_nodes=MAX_NODES if max_nodes is None else max_nodes,
                       max_depth=max_depth, collapse=collapse)
        if fmt == "html":
            payload = stepper_html(root).encode("utf-8")
        elif fmt == "dot":
            payload = dot_source(root, **options).encode("utf-8")
        else:
            with tempfile.TemporaryDirectory() as tmp:
                tmp_path = Path(tmp) / f"graph.{fmt}"
                render(dot_source(root, **options), tmp_path, format=fmt)
                payload = tmp_path.read_bytes()
        if out == "-":
            sys.stdout.flush()
            sys.stdout.buffer.write(payload)
            sys.stdout.buffer.flush()
        else:
            Path(out).write_bytes(payload)
            limited = (collapse or max_nodes is not None or max_depth is not None
                       or n > MAX_NODES)
            shown = " in the graph, drawn within your limits" if limited and fmt != "html" else ""
            print(f"wrote {out} ({fmt}, {n:,} node{'s' if n != 1 else ''}{shown})")
        return 0
    except (GraphvizNotFound, RenderTimeout) as e:
        return _error(e, 1)
    except (ValueError, OverflowError, ZeroDivisionError) as e:
        return _error(e, 2)
    except (OSError, RuntimeError, MemoryError) as e:
        return _error(e, 1)
