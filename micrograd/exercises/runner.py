"""Running a learner's file against an exercise's checks, in a child process that can be stopped.

Three processes (see child.py): this one, the parent, which decides the verdict; a supervisor,
which runs no learner code and ends everything the learner's code started (its whole process
tree, detached grandchildren included) when the child ends, at the time limit, or when the parent
goes away; and the child, which imports the learner's file, runs each check and writes one JSON
line per event to a pipe as it goes, so that even a killed child leaves behind which check it
was in.

What the parent believes: the child runs the learner's code, so anything it reports could be
written by that code. The parent therefore takes the list of checks from its own copy of the
exercise, requires an outcome for each in order, and calls a run passed only when the child
also answers a random challenge with numbers the parent verifies itself (verify.py). Everything
else the child says (which check failed and why) is feedback: a learner can only fool it into
failing.

Whatever the learner's code prints goes through a pipe the parent reads as it comes: the first
OUTPUT_KEPT bytes are kept (never shown in the feedback), the rest counted and dropped; nothing
is written to disk. A failure of the checker itself (its process cannot start, or ends before
running any learner code) is a CheckerError, never blamed on the learner.
"""
import errno
import json
import os
import secrets
import select
import signal
import stat
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field

DEFAULT_TIMEOUT = 20.0
CHILD_MODULE = "micrograd.exercises.child"
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUTPUT_KEPT = 1 << 20      # bytes of what the learner's code printed that Result.output keeps
EVENTS_LIMIT = 16 << 20    # bytes of events the parent reads: a real run writes a few kB
TAIL_LINES, TAIL_WIDTH = 5, 200      # the learner's last output, quoted when their code crashes
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
    output: str = ""         # what the learner's code printed (its first OUTPUT_KEPT bytes)
    output_dropped: int = 0  # bytes it printed beyond those, counted and dropped
    unverified: str = ""     # why the checks' reports cannot be believed, if they cannot

    @property
    def passed(self):
        return not self.fatal and not self.unverified and bool(self.outcomes) and \
            all(o.passed for o in self.outcomes)

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
        if self.unverified and not bad:
            return "\n".join(lines + [_indent(self.unverified, ""), "",
                                      f"0 of {n} checks pass: the checker could not confirm "
                                      "them."])
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


class CheckerError(RuntimeError):
    """The checker itself failed (its process could not start, or died before it ran any of
    the learner's code): not the learner's doing."""


def run(name, path, timeout=DEFAULT_TIMEOUT):
    """Check the learner's file `path` against exercise `name`; returns a Result."""
    from micrograd.exercises import verify
    path = os.path.abspath(path)
    spec = verify.challenge(name, secrets.randbits(64))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (PACKAGE_PARENT, os.environ.get("PYTHONPATH")) if p))
    events_r, events_w = os.pipe()
    output_r, output_w = os.pipe()
    try:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", CHILD_MODULE, "supervise", str(events_w),
             name, path, json.dumps(spec)],
            stdin=subprocess.PIPE, stdout=output_w, stderr=output_w, env=env,
            pass_fds=(events_w,), start_new_session=True)   # Ctrl-C in the terminal: ours
    except OSError as e:
        for fd in (events_r, events_w, output_r, output_w):
            os.close(fd)
        raise CheckerError(f"the checker could not start its process ({sys.executable}): "
                           f"{e.strerror or e}") from None
    os.close(events_w)
    os.close(output_w)
    streams = _Streams(events_r, output_r)
    timed_out = False
    try:
        deadline = time.monotonic() + timeout
        while not streams.done() and not streams.ended():
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            streams.read(left)
    finally:                   # also on Ctrl-C: stop the supervisor, which ends the rest
        _stop(supervisor)
        streams.drain()
        streams.close()
    return _result(name, path, streams, timed_out, timeout, supervisor.returncode, spec)


def _stop(supervisor):
    """Ask the supervisor to end the child and everything below it; make sure it does."""
    if supervisor.poll() is None:
        try:
            supervisor.stdin.write(b"stop\n")
            supervisor.stdin.flush()
        except OSError:
            pass
        try:
            supervisor.wait(5)
        except subprocess.TimeoutExpired:
            pass
    try:
        supervisor.stdin.close()
    except OSError:
        pass
    try:                       # if the supervisor itself was killed: its group, at least
        os.killpg(supervisor.pid, signal.SIGKILL)
    except OSError:
        pass
    supervisor.wait()


class _Streams:
    """The two pipes from the child, read as they come: events (JSON lines, bounded) and the
    learner's output (the first OUTPUT_KEPT bytes kept, the rest counted)."""

    def __init__(self, events_fd, output_fd):
        self.fds = {events_fd: "events", output_fd: "output"}
        self.events, self.output, self.dropped = bytearray(), bytearray(), 0
        self.last_lines, self.line, self.line_length = [], b"", 0    # the tail, clipped
        self.overflow = False

    def done(self):
        return not self.fds

    def ended(self):
        """The child wrote its last event (a thread of the learner's may keep it alive)."""
        return self.events.endswith(b'{"end": true}\n')

    def read(self, timeout):
        ready = select.select(list(self.fds), [], [], timeout)[0]
        for fd in ready:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                os.close(fd)
                del self.fds[fd]
            elif self.fds[fd] == "events":
                if len(self.events) + len(chunk) > EVENTS_LIMIT:
                    self.overflow = True
                else:
                    self.events += chunk
            else:
                room = OUTPUT_KEPT - len(self.output)
                self.output += chunk[:room]
                self.dropped += max(0, len(chunk) - room)
                self._keep_tail(chunk)

    def _keep_tail(self, chunk):
        """The last TAIL_LINES lines, each cut to TAIL_WIDTH bytes as it streams past."""
        *ended, rest = chunk.split(b"\n")
        for piece in ended:
            self._extend(piece)
            self.last_lines = (self.last_lines + [(self.line, self.line_length)])[-TAIL_LINES:]
            self.line, self.line_length = b"", 0
        self._extend(rest)

    def _extend(self, piece):
        self.line += piece[:max(0, TAIL_WIDTH - len(self.line))]
        self.line_length += len(piece)

    def tail(self):
        lines = self.last_lines + ([(self.line, self.line_length)] if self.line_length else [])
        return [line.decode("utf-8", errors="replace")
                + (" [...]" if length > len(line) else "")
                for line, length in lines[-TAIL_LINES:] if line.strip()]

    def drain(self):
        """What is left in the pipes once everything that writes to them is gone."""
        deadline = time.monotonic() + 2
        while self.fds and time.monotonic() < deadline:
            self.read(0.1)

    def close(self):
        for fd in self.fds:
            os.close(fd)
        self.fds = {}

    def event_list(self):
        out = []
        for line in bytes(self.events).split(b"\n")[:-1]:     # a cut-off last line: dropped
            try:
                event = json.loads(line.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                continue
            if isinstance(event, dict):
                out.append(event)
        return out


def _result(name, path, streams, timed_out, timeout, status, spec):
    from micrograd.exercises import EXERCISES, verify
    output = bytes(streams.output).decode("utf-8", errors="replace")
    result = Result(name, path, output=output, output_dropped=streams.dropped)
    events = streams.event_list()
    if not any(e.get("child") == "started" for e in events):
        if timed_out:
            raise CheckerError(f"the checker's own process did not start within {timeout:g} "
                               "seconds (is the machine very busy?)")
        raise CheckerError("the checker's own process failed before it ran any of your code "
                           f"(exit status {status})" + _tail(streams, ": "))
    titles = [title for title, _ in EXERCISES[name].CHECKS]
    running, finished, answers, answers_error, misordered = None, False, None, None, False
    for e in events:
        if "fatal" in e:
            result.fatal = str(e["fatal"])
        elif "start" in e:
            running = e["start"]
        elif "status" in e:
            expected = titles[len(result.outcomes)] if len(result.outcomes) < len(titles) \
                else None
            if e.get("title") != expected or e["status"] not in ("pass", "fail", "error"):
                misordered = True
                break
            result.outcomes.append(Outcome(expected, e["status"], str(e.get("message", ""))))
            running = None
        elif "answers" in e:
            answers = e["answers"]
        elif "answers_error" in e:
            answers_error = str(e["answers_error"])
        elif "end" in e:
            finished = True
    all_reported = len(result.outcomes) == len(titles)
    if misordered or streams.overflow or (finished and not result.fatal and not all_reported):
        result.unverified = ("The reports from the process that ran your code do not follow "
                             "the checker's list of checks: did your code write to the "
                             "checker's channel, or change its checks?")
    elif finished and all_reported and all(o.passed for o in result.outcomes):
        if answers_error:
            result.unverified = ("The checker's re-check on fresh random cases, computed by "
                                 "your code, failed: " + answers_error)
        else:
            problem = "no answers" if answers is None else verify.verify(name, spec, answers)
            if problem:
                result.unverified = (f"The checker re-checked your code on fresh random cases "
                                     f"and its numbers differ from micrograd's engine: "
                                     f"{problem}. Every check reported a pass, so either the "
                                     "cases found what the checks missed, or your code "
                                     "changed what the checks report.")
    if finished or result.fatal:        # done (a thread of theirs may have kept it alive)
        return result
    if running == "the checker's re-check":
        running = None
    where = (f"while running the check '{running}'" if running else
             "while importing your file" if not result.outcomes else "after the last check")
    if timed_out:
        message = (f"stopped after {timeout:g} seconds {where}: your code did not finish. "
                   f"Does a loop never end? {EXERCISES[name].TIMEOUT_HINT}")
        if running and running in titles:
            result.outcomes.append(Outcome(running, "timeout", message))
            result.not_run = titles[titles.index(running) + 1:]
        else:
            result.fatal = message
    else:
        result.fatal = (f"your code ended the checker's process {where} (exit status "
                        f"{status})" + _tail(streams, "; its last output:\n")
                        + "\nDoes your file call os._exit()?")
    return result


def _tail(streams, intro):
    """The last few lines the learner's code printed, each clipped: a crash report quotes
    them, never megabytes of them."""
    lines = streams.tail()
    return intro + "\n".join(lines) if lines else ""
