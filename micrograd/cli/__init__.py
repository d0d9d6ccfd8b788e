"""The `micrograd` command: the original demo, training, prediction, evaluation.

    micrograd demo                      the micrograd demo notebook, end to end, with pictures
    micrograd train --dataset digits    train an MLP on a toy dataset, save model + plots
    micrograd predict --model M --input 0.5,-0.2
    micrograd eval --model M
    micrograd graph ...                 draw an expression's graph (micrograd.viz)
    micrograd lab                       train live in the browser (a local page)
    micrograd exercises list|start|check  write micrograd yourself, with feedback
    micrograd site OUT/                 the lab, stepper and exercises as a static site

Every subcommand has --help. Errors are one line on stderr and a non-zero exit status:
2 for a malformed command line, 1 for anything else (a missing or invalid file, a dataset that
does not exist, a training run that diverged); 130 when Ctrl-C stopped a training run (the model
trained so far is still written, first; a second Ctrl-C skips only its plots).
"""
import re
import sys

from micrograd.cli import demo, evaluate, exercises, lab, predict, site, train
from micrograd.cli.common import EXIT_INTERRUPTED, CLIError, Parser

__all__ = ["main", "build_parser"]

# One module per subcommand, each with add_parser(subparsers) and run(args).
SUBCOMMANDS = [demo, train, predict, evaluate, lab, exercises, site]


def build_parser():
    from micrograd import __version__
    from micrograd.viz import graph_command       # stdlib-only until it draws
    parser = Parser(
        prog="micrograd",
        description="A scalar autograd engine and a tiny neural-net library: train, look, "
                    "predict.",
        epilog="Run 'micrograd COMMAND --help' for a command's options.")
    parser.add_argument("--version", action="version", version=f"micrograd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in SUBCOMMANDS:
        command.add_parser(sub)
    graph_command.add_parser(sub)
    return parser


def _error(msg):
    msg = " ".join(str(msg).split())
    print(f"micrograd: error: {msg}", file=sys.stderr)


def _glue_negative_inputs(argv):
    """'--input -1,0.5' would read as an unknown option -1,0.5: make it '--input=-1,0.5'."""
    out, i = [], 0
    while i < len(argv):
        a = argv[i]
        if a == "--input" and i + 1 < len(argv) and re.match(r"-\.?\d", argv[i + 1]):
            out.append(f"--input={argv[i + 1]}")
            i += 2
        else:
            out.append(a)
            i += 1
    return out


def main(argv=None):
    parser = build_parser()
    argv = _glue_negative_inputs(list(sys.argv[1:] if argv is None else argv))
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:          # --help, --version, usage errors: argparse has printed
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    from micrograd.train import TrainingDiverged
    try:
        return args.func(args) or 0
    except TrainingDiverged as e:
        _error(f"training diverged: {e}; try a smaller --lr")
        return 1
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except OSError as e:
        if e.filename is not None and e.strerror:
            _error(f"{e.filename}: {e.strerror}")
        else:
            _error(e)
        return 1
    except ImportError as e:
        hint = "" if "micrograd.compiler" in str(e) else \
            " (pip install 'micrograd[all]' for plots, datasets and progress bars)"
        _error(f"{e}{hint}")
        return 1
    except (ValueError, CLIError, ArithmeticError) as e:
        _error(e)
        return 1
