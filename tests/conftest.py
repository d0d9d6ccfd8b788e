import os
import signal
import sys

# The tests import the package from this checkout even when it is not installed.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

# Ctrl-C is part of what the tests check (in this process and in `micrograd` subprocesses). A
# shell that starts its background jobs with SIGINT ignored would pass that on to every child
# and make those tests meaningless: give SIGINT back its Python default (children then start
# with the system default, since exec resets handled signals but keeps ignored ones).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
