"""`python -m micrograd ...` is the `micrograd` command."""
import _thread
import os
import signal
import sys
import threading


def _interrupted(signum, frame):
    _interrupted.pressed = True
    raise KeyboardInterrupt


_interrupted.pressed = False


def _dropped(info, default=sys.unraisablehook):
    """Python drops an exception raised inside a __del__ or a weakref callback ('Exception
    ignored in'; importlib's module locks have such a callback), and a Ctrl-C that lands there
    would vanish: the command would run on. Deliver that press again, a moment later, to the
    code the command is running; the handler's grace for presses in quick succession must not
    swallow it (forget)."""
    if not issubclass(info.exc_type, KeyboardInterrupt):
        return default(info)
    forget = getattr(signal.getsignal(signal.SIGINT), "forget", None)
    if forget is not None:
        forget()
    threading.Timer(0.05, _thread.interrupt_main).start()


def entry():
    """The command, with Ctrl-C handled from before its imports (they take a while): one line
    and exit status 130 at any moment, never a traceback."""
    sys.unraisablehook = _dropped
    try:
        signal.signal(signal.SIGINT, _interrupted)
        try:
            from micrograd.cli import main
        except ImportError:
            if _interrupted.pressed:       # a C extension's import turned the press into this
                raise KeyboardInterrupt from None
            raise
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # one Ctrl-C ends it; more are ignored
        print("micrograd: error: interrupted", file=sys.stderr)
        code = 130
    else:
        code = main()
    if code == 130:
        # A KeyboardInterrupt that passed through code a C extension ran while being imported
        # (PyRun_String) leaves CPython's "unhandled Ctrl-C" flag set even though it was
        # handled, and the interpreter would then end by killing itself with SIGINT (exit
        # status -2). Everything is written and closed by now: leave with the status we chose.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):          # a closed pipe: nothing more to say
                pass
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(entry())
