"""The child process of a check: `python -m micrograd.exercises.child NAME FILE EVENTS`.

It imports the learner's file, runs the exercise's checks one by one and writes one JSON line per
event to EVENTS (a check started; a check's outcome; the end), flushed at once, so that a child
stopped by the time limit still says which check it was in. See runner.py for the parent.
"""
import importlib.util
import json
import os
import sys


def _import_file(path):
    spec = importlib.util.spec_from_file_location("learner_solution", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main(name, path, events_path):
    from micrograd.exercises import EXERCISES
    from micrograd.exercises.checking import Mistake, learner_error
    learner_dir = os.path.dirname(os.path.realpath(path))
    sys.path.insert(0, learner_dir)           # so that their own helper modules import
    with open(events_path, "w", encoding="utf-8") as events:
        def emit(**event):
            events.write(json.dumps(event) + "\n")
            events.flush()
        try:
            learner = _import_file(path)
        except BaseException as e:            # SyntaxError, their exception, even exit()
            emit(fatal="importing your file failed: " + learner_error(e, learner_dir))
            return
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
        emit(end=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
