"""Run W1, W2, W3 on the original micrograd 0.1.0 (PyPI), inside its own virtualenv.

Started by bench/run.py as a subprocess of bench/.venv-original/bin/python; prints one JSON
object on stdout. It imports the workloads' engine-agnostic code from bench/workloads.py (data,
losses, the W3 graph), never this repository's micrograd package: the virtualenv does not see
it, and this script refuses to run if `micrograd` is not the PyPI 0.1.0 release.

The original has no exp and no log, which W2's cross-entropy needs. They are added here the
way the original writes every operation (the lecture's exp: a closure per node), so W2 measures
the original engine doing the same work; the result is marked as such.

    python bench/original_runner.py '{"w1_steps": 10, "w2_steps": 4, "w3_sizes": [10000]}'
"""
import gc
import json
import math
import os
import platform
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import micrograd  # noqa: E402
from micrograd.engine import Value  # noqa: E402
from micrograd.nn import MLP  # noqa: E402

import workloads as W  # noqa: E402


def check_original():
    from importlib.metadata import version
    v = version("micrograd")
    where = os.path.dirname(micrograd.__file__)
    if v != "0.1.0" or "site-packages" not in where:
        raise SystemExit(f"original_runner.py needs the PyPI micrograd 0.1.0, found {v} at {where}")
    return v, where


def add_exp_log():
    """exp and log for the original Value, in its own style (the lecture's exp)."""
    def exp(self):
        out = Value(math.exp(self.data), (self,), "exp")

        def _backward():
            self.grad += out.data * out.grad
        out._backward = _backward
        return out

    def log(self):
        out = Value(math.log(self.data), (self,), "log")

        def _backward():
            self.grad += (1.0 / self.data) * out.grad
        out._backward = _backward
        return out
    Value.exp = exp
    Value.log = log


def timed(step, n, warmup=1):
    """Time n steps after `warmup` untimed ones: a first step finds no garbage of an earlier
    graph, which makes it faster than every later step of the original (whose graphs are
    reference cycles, left to the cyclic collector)."""
    results = [step() for _ in range(warmup)]      # the losses start at the first step
    gc.collect()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        results.append(step())
        times.append(time.perf_counter() - t)
    return times, results


def w1(n_steps, as_written=False):
    """The demo's step. as_written: feed the numpy rows and numpy labels as demo.ipynb does
    (the graph then computes with numpy scalars); otherwise Python floats and ints, as every
    other engine here gets them."""
    X, y = W.moons()                 # seeds numpy and random with 1337, as the demo does
    if as_written:
        X, y = np.array(X), np.array(y)
    random.seed(1337)
    model = MLP(2, [16, 16, 1])
    step, state = W.demo_step(Value, model, X, y)
    times, losses = timed(step, n_steps)
    return {"times": times, "losses": losses, "nodes": state["nodes"]}


def w2(n_steps):
    add_exp_log()
    X, y = W.digits()
    batches = [(Xb.tolist(), W.onehot(yb)) for Xb, yb in W.w2_batches(X, y)]
    random.seed(1337)
    model = MLP(64, [32, 10])
    params = model.parameters()
    state = {"i": 0, "nodes": 0}

    def step():
        Xb, Tb = batches[state["i"] % len(batches)]
        state["i"] += 1
        inputs = [list(map(Value, row)) for row in Xb]
        loss = W.w2_loss(model, inputs, Tb)
        model.zero_grad()
        loss.backward()
        for p in params:
            p.data -= W.W2_LR * p.grad
        if not state["nodes"]:
            state["nodes"] = W.count_nodes(loss)
        return loss.data
    times, losses = timed(step, n_steps)
    return {"times": times, "losses": losses, "nodes": state["nodes"],
            "steps_per_epoch": len(batches)}


def w3(sizes, repeats):
    return W.w3_timed(Value, sizes, repeats)


def memory(n):
    nodes, used, *_ = W.w3_memory(Value, n)
    return {"nodes": nodes, "bytes": used, "bytes_per_node": used / nodes}


def main():
    cfg = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    version, where = check_original()
    res = {"micrograd": version, "where": where, "python": platform.python_version(),
           "numpy": np.__version__}
    if cfg.get("w1_steps"):
        res["w1"] = w1(cfg["w1_steps"])
        res["w1_as_written"] = w1(cfg["w1_steps"], as_written=True)
    if cfg.get("w2_steps"):
        res["w2"] = w2(cfg["w2_steps"])
    if cfg.get("w3_sizes"):
        res["w3"] = w3(cfg["w3_sizes"], cfg.get("w3_repeats", {}))
    if cfg.get("memory_nodes"):
        res["memory"] = memory(cfg["memory_nodes"])
    json.dump(res, sys.stdout)


if __name__ == "__main__":
    main()
