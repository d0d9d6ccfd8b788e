"""Exercises with automatic feedback: build micrograd yourself, and have your code checked.

    micrograd exercises list                  the exercises, one line each
    micrograd exercises start value           writes value.py: signatures and TODOs to fill in
    micrograd exercises check value value.py  runs the checks on your file, says what is wrong

    >>> from micrograd import exercises
    >>> result = exercises.check("value", "value.py")     # doctest: +SKIP
    >>> result.passed, print(result.feedback)             # doctest: +SKIP

Each exercise is a module here with a SUMMARY (one sentence), a STARTER (the file `start` writes:
no solutions in it), its CHECKS (see checking.py) and a TIMEOUT_HINT. The learner's file is their
own code: `check` imports it in a child process, which is stopped after `timeout` seconds.
"""

from micrograd.exercises import custom_op, mlp, neuron, topo, training, value
from micrograd.exercises.runner import (DEFAULT_TIMEOUT, CheckerError, Outcome, Result,
                                        learner_file, run)

__all__ = ["EXERCISES", "check", "start", "Result", "Outcome", "CheckerError",
           "DEFAULT_TIMEOUT"]

EXERCISES = {m.NAME: m for m in (value, topo, neuron, mlp, training, custom_op)}


def exercise(name):
    """The exercise module called `name`, or a ValueError listing the ones there are."""
    if name not in EXERCISES:
        raise ValueError(f"no exercise called {name!r}; choose one of {', '.join(EXERCISES)}")
    return EXERCISES[name]


def check(name, path, timeout=DEFAULT_TIMEOUT):
    """Import the learner's file `path` (their own code, run in a child process stopped after
    `timeout` seconds), run exercise `name`'s checks on it, and return a Result: `.passed`,
    `.outcomes` (one per check) and `.feedback` (what `micrograd exercises check` prints)."""
    exercise(name)
    learner_file(path)
    if not str(path).endswith(".py"):
        raise ValueError(f"{path}: the file to check must be a Python file ending in .py")
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    return run(name, path, timeout)


def start(name, path=None):
    """Write exercise `name`'s starter file (default NAME.py) and return its path; never
    overwrites: an existing file is a FileExistsError."""
    starter = exercise(name).STARTER
    path = path or f"{name}.py"
    with open(path, "x", encoding="utf-8") as f:      # 'x': fails if the file exists
        f.write(starter)
    return path
