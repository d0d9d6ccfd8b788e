"""Running a learner's file against an exercise's checks, in a child process that can be stopped.

The parent (`run`) starts `python -m micrograd.exercises.child NAME FILE EVENTS`, waits at most
`timeout` seconds, and kills it if it is still running (a loop that never ends). The child imports
the learner's file, runs each check and writes one JSON line per event to EVENTS as it goes, so
that even a killed child leaves behind which check it was in. Whatever the learner's code prints
goes to a file of its own, never into the feedback.
"""
import errno
import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field

DEFAULT_TIMEOUT = 20.0
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUTPUT_KEPT = 100_000      # bytes of what the learner's code printed that Result.output keeps
SHOWN_IN_FULL = 3          # failures shown with their whole feedback; the rest by title


@dataclass
class Outcome:
    """One check: its title, 'pass' / 'fail' / 'error' (the learner's code raised) / 'timeout',
    and its feedback (for a pass, an explanation worth reading, or '')."""
    title: str
    status: str
    message: str = ""

    @property
    def passed(self):
        return self.status == "pass"


@dataclass
class Result:
    """What `check(name, path)` found: every check's Outcome, or `fatal` when the file could not
    even be imported. `passed` is True when every check passed; `feedback` is the text the
    command prints."""
    exercise: str
    path: str
    outcomes: list = field(default_factory=list)
    fatal: str = ""
    not_run: list = field(default_factory=list)    # titles of checks a time limit cut off
    output: str = ""         # what the learner's code printed (not part of the feedback)

    @property
    def passed(self):
        return not self.fatal and bool(self.outcomes) and all(o.passed for o in self.outcomes)

    @property
    def failures(self):
        return [o for o in self.outcomes if not o.passed]

    def outcome(self, title):
        """The Outcome of the check whose title starts with `title`."""
        for o in self.outcomes:
            if o.title.startswith(title):
                return o
        raise KeyError(f"no check titled {title!r} in exercise {self.exercise!r}")

    @property
    def feedback(self):
        lines = [f"Checking exercise '{self.exercise}' against {self.path}",
                 "(your own code: the checker imports your file and runs it)", ""]
        if self.fatal and not self.outcomes:
            return "\n".join(lines + [_indent(self.fatal, "  "), "", "No checks ran."])
        shown = 0
        for o in self.outcomes:
            mark = {"pass": "ok", "fail": "FAIL", "error": "ERROR", "timeout": "STOPPED"}[o.status]
            lines.append(f"  {mark:<7} {o.title}")
            if o.message and (o.passed or shown < SHOWN_IN_FULL):
                lines.append(_indent(o.message, " " * 10))
            elif o.message:
                lines.append(_indent(o.message.splitlines()[0], " " * 10))
            shown += not o.passed
        n, bad = len(self.outcomes) + len(self.not_run), len(self.failures) + len(self.not_run)
        lines.append("")
        if self.fatal:                  # the process ended part way: say so, after what ran
            return "\n".join(lines + [_indent(self.fatal, "  "), "",
                                      f"{len(self.outcomes)} checks ran before that."])
        if self.not_run:
            lines.append(_indent(f"{len(self.not_run)} more checks did not run: "
                                 + ", ".join(f"'{t}'" for t in self.not_run) + ".", ""))
        if bad:
            lines.append(f"{n - bad} of {n} checks pass. Start with the first one that does not: "
                         "later ones often follow from it.")
        else:
            lines.append(f"All {n} checks pass.")
        return "\n".join(lines)

    def __str__(self):
        return self.feedback


def _indent(text, by, width=100):
    """Indent every line; wrap the prose ones (code lines start with a space: kept as they are)."""
    out = []
    for line in text.splitlines():
        if line and not line[0].isspace() and len(by + line) > width:
            out += textwrap.wrap(line, width, initial_indent=by, subsequent_indent=by,
                                 break_on_hyphens=False, break_long_words=False)
        else:
            out.append(by + line if line else line)
    return "\n".join(out)


def learner_file(path):
    """Refuse, naming it as what it is, a path that is not a regular file: the child would wait
    forever on a FIFO, and a folder or a device is no Python file."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, "no such file", str(path)) from None
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "a directory, not a Python file", str(path))
    if not stat.S_ISREG(mode):
        kind = next((k for test, k in [(stat.S_ISFIFO, "a FIFO (a named pipe)"),
                                       (stat.S_ISCHR, "a character device"),
                                       (stat.S_ISBLK, "a block device"),
                                       (stat.S_ISSOCK, "a socket")] if test(mode)),
                    "not a regular file")
        raise ValueError(f"{path} is {kind}, not a Python file")


def run(name, path, timeout=DEFAULT_TIMEOUT):
    """Check the learner's file `path` against exercise `name`; returns a Result."""
    path = os.path.abspath(path)
    with tempfile.TemporaryDirectory(prefix="micrograd-exercise-") as tmp:
        events, printed = os.path.join(tmp, "events.jsonl"), os.path.join(tmp, "output.txt")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (PACKAGE_PARENT, os.environ.get("PYTHONPATH")) if p))
        with open(printed, "wb") as out:
            child = subprocess.Popen(
                [sys.executable, "-m", "micrograd.exercises.child", name, path, events],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                start_new_session=True)        # its own process group, so it can be stopped
            try:
                child.wait(timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:               # also on Ctrl-C: the child has a session of its own
                if child.poll() is None:
                    os.killpg(child.pid, signal.SIGKILL)
                    child.wait()
        with open(printed, "rb") as f:         # the last 100 kB: a loop may print gigabytes
            f.seek(max(0, os.path.getsize(printed) - OUTPUT_KEPT))
            output = f.read().decode("utf-8", errors="replace")
        return _result(name, path, _read_events(events), output, timed_out, timeout,
                       child.returncode)


def _read_events(path):
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.endswith("\n")]
    except FileNotFoundError:
        return []


def _result(name, path, events, output, timed_out, timeout, returncode):
    from micrograd.exercises import EXERCISES
    result = Result(name, path, output=output)
    running, finished = None, False
    for e in events:
        if "fatal" in e:
            result.fatal = e["fatal"]
        elif "start" in e:
            running = e["start"]
        elif "status" in e:
            result.outcomes.append(Outcome(e["title"], e["status"], e["message"]))
            running = None
        elif "end" in e:
            finished = True
    if finished or result.fatal:        # done (a thread of theirs may have kept it alive)
        return result
    where = (f"while running the check '{running}'" if running else
             "while importing your file" if not result.outcomes else "after the last check")
    if timed_out:
        message = (f"stopped after {timeout:g} seconds {where}: your code did not finish. "
                   f"Does a loop never end? {EXERCISES[name].TIMEOUT_HINT}")
        if running:
            result.outcomes.append(Outcome(running, "timeout", message))
            titles = [title for title, _ in EXERCISES[name].CHECKS]
            result.not_run = titles[titles.index(running) + 1:]
        else:
            result.fatal = message
    else:
        tail = "\n".join(output.strip().splitlines()[-5:])
        result.fatal = (f"your code ended the checker's process {where} (exit status "
                        f"{returncode})" + (f"; its last output:\n{tail}" if tail else "")
                        + "\nDoes your file call os._exit()?")
    return result
