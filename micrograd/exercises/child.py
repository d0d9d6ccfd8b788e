"""The processes of a check (see runner.py for the parent, and for why there are two).

    python -m micrograd.exercises.child supervise EVENTS_FD NAME FILE CHALLENGE
        the supervisor: starts the child below and, when it has ended or the parent says stop
        (a line on stdin, or stdin closed: the parent is gone), kills every process the
        learner's code left behind, detached ones (setsid, double fork) included, then exits
        with the child's exit status. It runs no learner code.
    python -m micrograd.exercises.child run EVENTS_FD NAME FILE CHALLENGE
        the child: imports the learner's file, runs the exercise's checks one by one and
        writes one JSON line per event to the pipe EVENTS_FD (started; a check started; a
        check's outcome; the raw answers to the parent's challenge; the end), so that a child
        stopped by the time limit still says which check it was in.
"""
import importlib.util
import json
import os
import select
import signal
import subprocess
import sys
import time

MESSAGE_LIMIT = 20_000       # characters of one check's feedback (a repr can be huge)


def _import_file(path):
    spec = importlib.util.spec_from_file_location("learner_solution", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def run(events_fd, name, path, challenge):
    events = os.fdopen(events_fd, "w", encoding="utf-8")

    def emit(**event):
        if len(event.get("message", "")) > MESSAGE_LIMIT:
            event["message"] = event["message"][:MESSAGE_LIMIT] + " [...]"
        events.write(json.dumps(event) + "\n")
        events.flush()
    from micrograd.exercises import EXERCISES, verify
    from micrograd.exercises.checking import Mistake, learner_error
    emit(child="started")              # the checker's process is up: what fails now is theirs
    learner_dir = os.path.dirname(os.path.realpath(path))
    sys.path.insert(0, learner_dir)           # so that their own helper modules import
    try:
        learner = _import_file(path)
    except BaseException as e:                # SyntaxError, their exception, even exit()
        emit(fatal="importing your file failed: " + learner_error(e, learner_dir))
        return
    passed = True
    for title, fn in EXERCISES[name].CHECKS:
        emit(start=title)
        try:
            note = fn(learner)
        except Mistake as m:
            emit(title=title, status="fail", message=str(m))
        except BaseException as e:
            emit(title=title, status="error", message=learner_error(e, learner_dir))
        else:
            emit(title=title, status="pass", message=note or "")
            continue
        passed = False
    if passed:                                # the parent's own re-check: raw numbers only
        emit(start="the checker's re-check")
        try:
            emit(answers=verify.answers(name, learner, json.loads(challenge)))
        except BaseException as e:
            emit(answers_error=learner_error(e, learner_dir))
    emit(end=True)


# ---------------------------------------------------------------------------------------------
# the supervisor
# ---------------------------------------------------------------------------------------------
def _become_subreaper():
    """Linux: orphaned descendants (a learner's setsid'ed grandchild) are re-parented to this
    process rather than to init, so they can all be found and killed. False elsewhere."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0          # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _descendants(root):
    """Every live process below `root`, read from /proc (empty where there is no /proc)."""
    parents = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if stat[0] != b"Z":                             # a zombie is dead already
            parents.setdefault(int(stat[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for pid in parents.get(todo.pop(), []):
            found.append(pid)
            todo.append(pid)
    return found


def _kill_everything_below():
    me = os.getpid()
    for _ in range(200):                  # a fork loop may make new ones while we kill
        pids = _descendants(me)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        _reap()
        if not pids:
            return
        time.sleep(0.01)


def _reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def supervise(events_fd, *child_args):
    signal.signal(signal.SIGINT, signal.SIG_IGN)        # the parent decides when to stop
    _become_subreaper()
    child = subprocess.Popen([sys.executable, "-m", "micrograd.exercises.child", "run",
                              str(events_fd), *child_args],
                             stdin=subprocess.DEVNULL, pass_fds=(events_fd,))
    os.close(events_fd)              # the child's copy is the one that counts
    stopped = False
    while child.poll() is None:
        if select.select([sys.stdin.fileno()], [], [], 0.05)[0]:
            stopped = True           # "stop", or EOF: the parent is gone
            break
    if stopped:
        child.kill()
    returncode = child.wait()
    _kill_everything_below()
    return returncode if returncode >= 0 else 128 - returncode


if __name__ == "__main__":
    mode, fd, *rest = sys.argv[1:]
    if mode == "supervise":
        sys.exit(supervise(int(fd), *rest))
    run(int(fd), *rest)
