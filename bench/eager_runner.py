"""W1's eager training step for either engine, each in a fresh process of its own, alike.

    python bench/eager_runner.py '{"engine": "original", "steps": 3}'          # venv-original
    python bench/eager_runner.py '{"engine": "ours", "fused": false, "steps": 3}'
    python bench/eager_runner.py '{"engine": "ours", "w3_sizes": [10000], "w3_repeats": {},
                                   "w3_repeats_nogc": {}}'     # W3 instead (bench/run.py)

bench/run.py starts this script in rounds that alternate the engines (the original, this
micrograd with fused=False, with fused=True, the original with the demo's numpy scalars; again),
and takes the minimum of each over all rounds. So both engines are measured by the same code, in
processes that import the same things (numpy, scikit-learn's make_moons, bench/workloads.py:
nothing of PyTorch or JAX, whose objects the cyclic garbage collector would otherwise scan too),
with the garbage collector on, as in a real training loop, and at the same minutes of a
machine whose load may change. Prints one JSON object: the step times, the losses, the nodes.
"""
import gc
import json
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import workloads as W  # noqa: E402


def engine(job):
    """(Value, a fresh W1 model) of the engine asked for; the original must be PyPI's 0.1.0."""
    if job["engine"] == "ours":
        sys.path.insert(0, os.path.dirname(HERE))
    from micrograd.engine import Value
    from micrograd.nn import MLP
    import micrograd
    where = os.path.dirname(micrograd.__file__)
    if job["engine"] == "original":
        from importlib.metadata import version
        if version("micrograd") != "0.1.0" or "site-packages" not in where:
            raise SystemExit(f"eager_runner.py: not the PyPI micrograd 0.1.0 at {where}")
    elif where != os.path.join(os.path.dirname(HERE), "micrograd"):
        raise SystemExit(f"eager_runner.py: not this repository's micrograd at {where}")
    random.seed(1337)
    model = MLP(2, [16, 16, 1]) if job["engine"] == "original" else \
        MLP(2, [16, 16, 1], fused=job.get("fused", False))
    return Value, model


def main():
    job = json.loads(sys.argv[1])
    if "w3_sizes" in job:                  # W3 instead: the same code as the original's runner
        Value, _ = engine(job)
        json.dump({"eager": W.w3_timed(Value, job["w3_sizes"], job["w3_repeats"]),
                   "eager_nogc": W.w3_timed(Value, job["w3_sizes"], job["w3_repeats_nogc"],
                                            gc_off=True)}, sys.stdout)
        return
    X, y = W.moons()                       # the demo's seeding, then the model's
    if job.get("as_written"):              # the demo's numpy rows and labels, as written
        X, y = np.array(X), np.array(y)
    Value, model = engine(job)
    demo_step, state = W.demo_step(Value, model, X, y)

    def step():
        return float(demo_step())

    losses = [step() for _ in range(job.get("warmup", 1))]   # a first step finds no garbage
    gc.collect()
    times = []
    for _ in range(job["steps"]):
        t = time.perf_counter()
        losses.append(step())
        times.append(time.perf_counter() - t)
    json.dump({"times": times, "losses": losses, "nodes": state["nodes"]}, sys.stdout)


if __name__ == "__main__":
    main()
