"""The `micrograd` command: the original demo, training, prediction, evaluation.

    micrograd demo                      the micrograd demo notebook, end to end, with pictures
    micrograd train --dataset digits    train an MLP on a toy dataset, save model + plots
    micrograd predict --model M --input 0.5,-0.2
    micrograd eval --model M
    micrograd graph ...                 draw an expression's graph (micrograd.viz)
    micrograd lab                       train live in the browser (a local page)
    micrograd exercises list|start|check|mistakes  write micrograd yourself, with feedback
    micrograd gpt train|sample          microgpt: a tiny GPT trained on names, new names
    micrograd site OUT/                 the lab, stepper and exercises as a static site

Every subcommand has --help. Errors are one line on stderr and a non-zero exit status:
2 for a malformed command line, 1 for anything else (a missing or invalid file, a dataset that
does not exist, a training run that diverged); 130 when Ctrl-C stopped a command, at any moment
(a training run's model is still written, first; a second Ctrl-C skips only its plots; presses
while the first is being handled are ignored, so the exit status stays 130).
"""
import re
import signal
import sys
import threading
import time

from micrograd.cli import demo, evaluate, exercises, gpt, graph, lab, predict, site, train
from micrograd.cli.common import EXIT_INTERRUPTED, CLIError, Parser

__all__ = ["main", "build_parser"]

# One module per subcommand, each with add_parser(subparsers) and run(args).
SUBCOMMANDS = [demo, train, predict, evaluate, lab, exercises, graph, gpt, site]


def build_parser():
    from micrograd import __version__
    parser = Parser(
        prog="micrograd",
        description="A scalar autograd engine and a tiny neural-net library: train, look, "
                    "predict.",
        epilog="Run 'micrograd COMMAND --help' for a command's options.")
    parser.add_argument("--version", action="version", version=f"micrograd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in SUBCOMMANDS:
        command.add_parser(sub)
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


class FirstPress:
    """The command's SIGINT handler: a press raises KeyboardInterrupt, and presses in the
    GRACE seconds after it are ignored, as the first is being handled (one raised inside that
    handling, say in a `finally:` that stops a child process, would cut the cleanup short, or
    escape as a traceback or exit status -2). After GRACE a press raises again: Python drops a
    KeyboardInterrupt raised inside a __del__ or a weakref callback ('Exception ignored in'),
    and the command must still stop on the next press."""
    GRACE = 2.0

    def __init__(self):
        self.at = None

    def forget(self):
        """The last press was dropped by Python and is being delivered again: no grace."""
        self.at = None

    @property
    def pressed(self):
        """A press came. If the command is still running, Python dropped its KeyboardInterrupt
        (cli.common.CtrlC counts it then, so that training stops after its first step)."""
        return self.at is not None

    def __call__(self, signum, frame):
        now = time.monotonic()
        if self.at is None or now - self.at > self.GRACE:
            self.at = now
            raise KeyboardInterrupt


def main(argv=None):
    """The `micrograd` command; returns its exit status. Called without argv (as the command),
    it leaves Ctrl-C ignored on return, as the process is about to exit with that status;
    called with argv (from Python), it restores the caller's SIGINT handler."""
    guard = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, FirstPress()) if guard else None
    if previous is None:               # a handler set outside Python: restore Python's own
        previous = signal.default_int_handler
    try:
        try:
            return _main(argv)
        except KeyboardInterrupt:
            if guard:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
            _error("interrupted")
            return EXIT_INTERRUPTED
    finally:
        if guard:
            signal.signal(signal.SIGINT, signal.SIG_IGN if argv is None else previous)


def _main(argv):
    parser = build_parser()
    argv = _glue_negative_inputs(list(sys.argv[1:] if argv is None else argv))
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:          # --help, --version, usage errors: argparse has printed
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    from micrograd.train import TrainingDiverged
    try:
        try:
            return args.func(args) or 0
        except Exception as e:
            if getattr(signal.getsignal(signal.SIGINT), "pressed", False):
                # Ctrl-C was pressed, and a C extension being imported turned its
                # KeyboardInterrupt into an error of its own (numpy: "PyCapsule_Import could not
                # import module"): the press is what happened, not a broken install.
                raise KeyboardInterrupt from e
            raise
    except TrainingDiverged as e:
        _error(f"training diverged: {e}; try a smaller --lr")
        return 1
    except OSError as e:
        if e.filename is not None and e.strerror:
            _error(f"{e.filename}: {e.strerror}")
        else:
            _error(e)
        return 1
    except ImportError as e:
        hint = "" if "micrograd.compiler" in str(e) else \
            " (pip install -e '.[all]' in micrograd's clone: plots, datasets, progress bars)"
        _error(f"{e}{hint}")
        return 1
    except (ValueError, CLIError, ArithmeticError) as e:
        _error(e)
        return 1
