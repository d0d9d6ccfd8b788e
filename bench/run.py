"""Side-by-side benchmark: the original micrograd 0.1.0, PyTorch (float64, eager), and this
micrograd, eager (fused neurons, the default, and fused=False) and compiled. One run, one
machine, one table: every ratio in bench/RESULTS.md comes from the same run.

    python bench/run.py              # the full run (a few minutes); writes bench/RESULTS.md
    python bench/run.py --quick      # fewer repeats and sizes, prints the table only

The original runs in its own virtualenv, bench/.venv-original (created on first use with
`python -m venv` + `pip install micrograd==0.1.0 numpy scikit-learn`; gitignored), started as
a subprocess running bench/original_runner.py. Everything else runs in this process.

Timing: every workload step is timed on its own with time.perf_counter; the tables give the
minimum and the median over the repeats. The garbage collector stays on, as in a real training
loop, but is run (untimed) before each workload so that no workload pays for another's garbage.
"""
import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, HERE]

import numpy as np  # noqa: E402
import workloads as W  # noqa: E402

VENV = os.path.join(HERE, ".venv-original")
ORIGINAL_PINS = ["micrograd==0.1.0", "numpy", "scikit-learn"]

FULL = {
    "w1": {"original": 10, "eager": 30, "unfused": 10, "compiled": 2000, "torch": 500,
           "rounds": 8},
    "w2": {"original": 4, "eager": 57, "unfused": 5, "epochs": 20},
    "w3": {"sizes": [10_000, 100_000, 1_000_000],
           "repeats": {"10000": 5, "100000": 5, "1000000": 1},
           "original_repeats": {"10000": 3, "100000": 3, "1000000": 1},
           "torch_sizes": [10_000, 100_000]},
    "memory_nodes": 100_000,
}
QUICK = {
    "w1": {"original": 2, "eager": 5, "unfused": 2, "compiled": 100, "torch": 100,
           "rounds": 1},
    "w2": {"original": 1, "eager": 5, "unfused": 1, "epochs": 1},
    "w3": {"sizes": [10_000, 100_000], "repeats": {"10000": 2, "100000": 1},
           "original_repeats": {"10000": 1, "100000": 1}, "torch_sizes": [10_000]},
    "memory_nodes": 10_000,
}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# the original's virtualenv
# ---------------------------------------------------------------------------------------------
def venv_python():
    return os.path.join(VENV, "Scripts" if os.name == "nt" else "bin", "python")


def original_ok(py):
    if not os.path.exists(py):
        return False
    probe = ("from importlib.metadata import version; import numpy, sklearn; "
             "print(version('micrograd'))")
    r = subprocess.run([py, "-c", probe], capture_output=True, text=True, cwd=HERE,
                       env=clean_env())
    return r.returncode == 0 and r.stdout.strip() == "0.1.0"


def clean_env():
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONHOME", None)
    return env


def ensure_original():
    py = venv_python()
    if original_ok(py):
        return py
    log(f"creating {VENV} with {' '.join(ORIGINAL_PINS)} ...")
    subprocess.run([sys.executable, "-m", "venv", "--clear", VENV], check=True)
    subprocess.run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    *ORIGINAL_PINS], check=True, env=clean_env())
    if not original_ok(py):
        raise SystemExit(f"{VENV} does not provide micrograd 0.1.0")
    return py


def run_original(py, cfg):
    job = {"w1_steps": 0, "w2_steps": cfg["w2"]["original"],
           "w3_sizes": cfg["w3"]["sizes"], "w3_repeats": cfg["w3"]["original_repeats"],
           "memory_nodes": cfg["memory_nodes"]}
    r = subprocess.run([py, os.path.join(HERE, "original_runner.py"), json.dumps(job)],
                       capture_output=True, text=True, cwd=HERE, env=clean_env())
    if r.returncode != 0:
        raise SystemExit(f"original_runner.py failed:\n{r.stderr}")
    return json.loads(r.stdout)


def run_w1_eager(py, cfg):
    """W1 eager on both engines, alike: bench/eager_runner.py in a fresh process per engine,
    the same imports in each (no PyTorch, no JAX), in rounds that alternate the engines, so
    that a change in the machine's load falls on all of them. Each gets the minimum over all
    its rounds (the tables' `min`) and all its steps (`median`)."""
    per_round = {k: max(1, -(-cfg[k] // cfg["rounds"]))
                 for k in ("original", "unfused", "eager")}
    jobs = {"original": (py, {"engine": "original", "steps": per_round["original"]}),
            "original_as_written": (py, {"engine": "original", "as_written": True,
                                         "steps": per_round["original"]}),
            "unfused": (sys.executable, {"engine": "ours", "fused": False,
                                         "steps": per_round["unfused"]}),
            "eager": (sys.executable, {"engine": "ours", "fused": True,
                                       "steps": per_round["eager"]})}
    out = {k: {"times": [], "losses": None, "rounds": []} for k in jobs}
    for r in range(cfg["rounds"]):
        for name, (python, job) in jobs.items():
            log(f"W1 eager, round {r + 1} of {cfg['rounds']}: {name} ...")
            p = subprocess.run([python, os.path.join(HERE, "eager_runner.py"), json.dumps(job)],
                               capture_output=True, text=True, cwd=HERE, env=clean_env())
            if p.returncode != 0:
                raise SystemExit(f"eager_runner.py {job} failed:\n{p.stderr}")
            got = json.loads(p.stdout)
            out[name]["times"] += got["times"]
            out[name]["rounds"].append(min(got["times"]))
            out[name]["losses"] = out[name]["losses"] or got["losses"]
            out[name]["nodes"] = got["nodes"]
    return out


# ---------------------------------------------------------------------------------------------
# timing
# ---------------------------------------------------------------------------------------------
def timed(step, n, warmup=0):
    results = [step() for _ in range(warmup)]      # the losses start at the first step
    gc.collect()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        results.append(step())
        times.append(time.perf_counter() - t)
    return times, results


def stats(times):
    return {"min": min(times), "median": statistics.median(times), "n": len(times)}


# ---------------------------------------------------------------------------------------------
# workloads on this micrograd and on PyTorch
# ---------------------------------------------------------------------------------------------
def run_w1(cfg):
    out = {}
    for name, make, n, warm in (          # eager: run_w1_eager, in processes of their own
            ("fast", lambda: W.w1_fused(False), cfg["compiled"], 5),
            ("fused", W.w1_fused, cfg["compiled"], 5),
            ("lecture", lambda: W.w1_fused(True, False), cfg["compiled"], 5),
            ("compiled", W.w1_compiled, cfg["compiled"], 5),
            ("jax", W.w1_jax, cfg["compiled"], 20),
            ("torch", W.w1_torch, cfg["torch"], 20)):
        log(f"W1 {name} ...")
        gc.collect()
        t = time.perf_counter()
        step, _ = make()
        first = step()                                 # compiled: the trace and compiling
        first_s = time.perf_counter() - t
        times, losses = timed(step, n, warm)
        out[name] = {"times": times, "losses": [first] + losses, "first_s": first_s}
        if hasattr(step, "compiled"):
            out[name]["stats"] = step.compiled.stats()
    # correctness: the first steps again, on fresh models
    makers = {"eager": lambda: W.w1_eager(True), "compiled": W.w1_compiled, "fused": W.w1_fused,
              "lecture": lambda: W.w1_fused(True, False), "fast": lambda: W.w1_fused(False),
              "jax": W.w1_jax, "torch": W.w1_torch}
    steps = {k: make()[0] for k, make in makers.items()}
    out["check"] = {k: [s() for _ in range(5)] for k, s in steps.items()}
    return out


def run_w2(cfg):
    out = {}
    for name, make, n in (("eager", lambda: W.w2_eager(True), cfg["eager"]),
                          ("unfused", lambda: W.w2_eager(False), cfg["unfused"])):
        log(f"W2 {name} ...")
        step, per_epoch = make()
        times, losses = timed(step, n)
        out[name] = {"times": times, "losses": losses, "per_epoch": per_epoch}
    for name, make in (("fast", lambda: W.w2_fused(False)), ("fused", W.w2_fused),
                       ("compiled", W.w2_compiled), ("jax", W.w2_jax), ("torch", W.w2_torch)):
        log(f"W2 {name} ...")
        step, per_epoch = make()
        gc.collect()
        t = time.perf_counter()
        first = [step() for _ in range(per_epoch)]           # compiled: traces batch 32 and 5
        first_epoch = time.perf_counter() - t
        epochs, times, losses = [], [], []
        for _ in range(cfg["epochs"]):
            gc.collect()
            t0 = time.perf_counter()
            for _ in range(per_epoch):
                t = time.perf_counter()
                losses.append(step())
                times.append(time.perf_counter() - t)
            epochs.append(time.perf_counter() - t0)
        out[name] = {"times": times, "losses": first + losses, "per_epoch": per_epoch,
                     "epochs": epochs, "first_epoch": first_epoch}
        if name in ("fast", "fused", "compiled"):
            out[name]["stats"] = step.compiled.stats()
    return out


def full_batches(times, per_epoch):
    """Step times of the full batches only (every epoch ends with a batch of 5)."""
    return [t for i, t in enumerate(times) if i % per_epoch != per_epoch - 1]


def run_w3(cfg):
    import torch

    out = {"eager": {}, "eager_nogc": {}, "compiled": {}, "torch": {}}
    # eager, as the original's runner does it: in a process of its own (bench/eager_runner.py)
    log("W3 eager ...")
    job = {"engine": "ours", "w3_sizes": cfg["sizes"], "w3_repeats": cfg["repeats"],
           "w3_repeats_nogc": {k: max(1, r // 2) for k, r in cfg["repeats"].items()}}
    p = subprocess.run([sys.executable, os.path.join(HERE, "eager_runner.py"), json.dumps(job)],
                       capture_output=True, text=True, cwd=HERE, env=clean_env())
    if p.returncode != 0:
        raise SystemExit(f"eager_runner.py (W3) failed:\n{p.stderr}")
    out.update(json.loads(p.stdout))
    for n in cfg["sizes"]:
        reps = cfg["repeats"][str(n)]
        xs, ws = W.w3_leaves(W.w3_width(n))
        plan = W.w3_plan(len(xs))
        nodes = out["eager"][str(n)]["nodes"]
        log(f"W3 compiled {n} ...")
        gc.collect()
        fn, step, xs_, wv, _ = W.w3_compiled(n)
        t = time.perf_counter()
        res = fn(xs_)
        first_call = time.perf_counter() - t
        t = time.perf_counter()
        res.backward()
        first_backward = time.perf_counter() - t
        replays, _ = timed(step, max(3, reps * 2))
        out["compiled"][str(n)] = {"first_call": first_call, "first_backward": first_backward,
                                   "replay": replays, "stats": fn.stats()[0], "nodes": nodes}
        del fn, step, res
        if n in cfg["torch_sizes"]:
            log(f"W3 torch {n} ...")
            builds, backs = [], []
            for _ in range(max(1, reps // 2)):
                gc.collect()
                t = time.perf_counter()
                xt = [torch.tensor(x, dtype=torch.float64) for x in xs]
                wt = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in ws]
                root = W.w3_build(xt, wt, plan)
                t1 = time.perf_counter()
                root.backward()
                t2 = time.perf_counter()
                builds.append(t1 - t)
                backs.append(t2 - t1)
                del root, xt, wt
            out["torch"][str(n)] = {"build": builds, "backward": backs, "nodes": nodes}
    return out


def run_memory(n):
    """Bytes per node of an eager graph (tracemalloc), and what a compiled program keeps."""
    import micrograd
    from micrograd.engine import Value
    nodes, used, xs, wv, plan = W.w3_memory(Value, n)
    gc.collect()
    fn = micrograd.compile(lambda xs: W.w3_build(xs, wv, plan))
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    fn(xs).backward()
    kept = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return {"nodes": nodes, "bytes_per_node": used / nodes, "compiled_bytes_per_node": kept / nodes}


# ---------------------------------------------------------------------------------------------
# machine
# ---------------------------------------------------------------------------------------------
def machine():
    import torch
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import jax

    import micrograd
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "torch": torch.__version__, "jax": jax.__version__,
            "torch_threads": torch.get_num_threads(), "micrograd": micrograd.__version__,
            "platform": platform.platform(),
            "load": os.getloadavg() if hasattr(os, "getloadavg") else None}


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------
def ms(s):
    return f"{s * 1e3:.3f}" if s < 0.1 else f"{s * 1e3:.1f}"


FAST_ROW = "this micrograd, compiled: fused training step, `exact=False` (BLAS, numpy exp/log)"
FUSED_ROW = ("this micrograd, compiled: fused training step (`compile(loss, optimizer=opt)`, "
             "bit for bit), fused model")
LECTURE_ROW = ("this micrograd, compiled: the same fused training step on the lecture's graph "
               "(`fused=False`; the compiler fuses it)")
UNFUSED_ROW = "**this micrograd, eager, the lecture's graph (`fused=False`: a `*` and a `+` per weight)**"
EAGER_ROW = "this micrograd, eager, fused neurons (`fused=True`, one `w·x+b` node per neuron)"
PLAIN_ROW = ("this micrograd, compiled: `compile(loss)` + the Python loop (zero_grad, backward, "
             "update)")


def report(res, cmd):
    m, o = res["machine"], res["original"]
    L = []
    L.append("# Benchmark results\n")
    L.append(f"Made by `{cmd}` on {res['date']} (took {res['elapsed']:.0f} s).\n")
    L.append(f"Machine: {m['cpu']}, {m['cores']} cores, {m['platform']}; "
             f"Python {m['python']}, numpy {m['numpy']}, JAX {m['jax']} (CPU), PyTorch {m['torch']} "
             f"({m['torch_threads']} threads), this micrograd {m['micrograd']}, the original "
             f"micrograd {o['micrograd']} (its own venv: Python {o['python']}, numpy "
             f"{o['numpy']}). Load average at start {fmt_load(m['load'])}, at end "
             f"{fmt_load(res['load_end'])}.\n")
    L.append("Times are per step, min and median of the repeats (n). Ratios use the minimums; "
             "`vs original` is how many times faster than the original, `vs PyTorch` and "
             "`vs JAX` are time / PyTorch's (JAX's) time (<= 1.0 means at least as fast).\n")
    # ---- W1
    w1 = res["w1"]
    t_orig = stats(o["w1"]["times"])
    t_torch = stats(w1["torch"]["times"])
    t_jax = stats(w1["jax"]["times"])
    L.append("## W1: the original demo's training step (moons, MLP(2, [16, 16, 1]), hinge + "
             "L2, backward, SGD)\n")
    L.append("| engine | graph nodes | min ms | median ms | n | vs original | vs PyTorch | "
             "vs JAX |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    nodes = {"original": o["w1"]["nodes"], "eager": res["w1_nodes"]["fused"],
             "unfused": res["w1_nodes"]["unfused"], "compiled": res["w1_nodes"]["fused"],
             "fused": res["w1_nodes"]["fused"], "fast": res["w1_nodes"]["fused"],
             "lecture": res["w1_nodes"]["unfused"], "torch": "-", "jax": "-"}
    t_demo_raw = o["w1_as_written"]
    t_demo = stats(t_demo_raw["times"])
    rows = [("micrograd 0.1.0 (original)", t_orig, "original"),
            ("micrograd 0.1.0, the demo as written (numpy scalars in the graph)", t_demo,
             "original"),
            (UNFUSED_ROW, stats(w1["unfused"]["times"]), "unfused"),
            (EAGER_ROW, stats(w1["eager"]["times"]), "eager"),
            (FUSED_ROW, stats(w1["fused"]["times"]), "fused"),
            (LECTURE_ROW, stats(w1["lecture"]["times"]), "lecture"),
            (FAST_ROW, stats(w1["fast"]["times"]), "fast"),
            (PLAIN_ROW, stats(w1["compiled"]["times"]), "compiled"),
            (f"JAX {m['jax']} `jit` (value_and_grad + SGD update), float64", t_jax, "jax"),
            ("PyTorch 2.13 float64 eager", t_torch, "torch")]
    for label, s, key in rows:
        L.append(f"| {label} | {nodes[key]} | {ms(s['min'])} | {ms(s['median'])} | {s['n']} | "
                 f"{t_orig['min'] / s['min']:.1f}x | {s['min'] / t_torch['min']:.2f} | "
                 f"{s['min'] / t_jax['min']:.2f} |")
    chk = w1["check"]
    L.append("")
    rounds = {k: w for k, w in (("original", o["w1"]), ("fused=False", w1["unfused"]),
                                ("fused", w1["eager"]), ("original, as written", t_demo_raw))}
    L.append(f"The eager rows and the original's are measured alike (bench/eager_runner.py): "
             f"each engine in a fresh process of its own that imports the same things (numpy, "
             f"scikit-learn's make_moons, bench/workloads.py; no PyTorch, no JAX), the garbage "
             f"collector on, one untimed step first; in {len(o['w1']['rounds'])} rounds "
             f"alternating the engines, so that the machine's load falls on all alike. `min` "
             f"is over all rounds, `median` over all steps. The minimum of each round, ms: "
             + "; ".join(f"{k} " + ", ".join(f"{t * 1e3:.1f}" for t in w["rounds"])
                         for k, w in rounds.items()) + ".\n")
    L.append(f"Same losses, first steps from the same initial weights: original "
             f"{fmt_list(o['w1']['losses'][:5])}; "
             + "; ".join(f"{k} {fmt_list(v)}" for k, v in chk.items()) + ". Against eager: "
             + "; ".join(f"{k}: {bitwise(chk['eager'], chk[k])}" for k in
                         ("compiled", "fused", "lecture", "fast", "jax", "torch"))
             + f". JAX and PyTorch agree with eager to 1e-9: "
             f"{'yes' if close(chk['eager'], chk['jax']) and close(chk['eager'], chk['torch']) else '**no**'}.\n")
    L.append("Compiling (first call, wall time; the trace, the program, the C compiler): "
             + "; ".join(f"{label} {w1[k]['first_s']:.2f} s ({describe_stats(w1[k]['stats'])})"
                         for label, k in (("fused model", "fused"),
                                          ("lecture's graph", "lecture")))
             + ".\n")
    # ---- W2
    w2 = res["w2"]
    pe = w2["compiled"]["per_epoch"]
    o2 = stats(o["w2"]["times"])
    tt = stats(full_batches(w2["torch"]["times"], pe))
    tj = stats(full_batches(w2["jax"]["times"], pe))
    L.append("## W2: 8x8 digits, MLP(64, [32, 10]), softmax cross-entropy, minibatches of 32\n")
    L.append("Per step = one minibatch of 32 (forward, loss, zero_grad, backward, SGD). An epoch "
             f"is {pe} steps (56 of 32 and one of 5).\n")
    L.append("| engine | graph nodes (batch of 32) | step min ms | step median ms | n | epoch s "
             "| vs original | vs PyTorch | vs JAX |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = [("micrograd 0.1.0 (original) + exp/log in its style", o2, o["w2"]["nodes"],
             f"~{o2['median'] * pe:.1f} (est.)"),
            ("this micrograd, eager, fused=False", stats(full_batches(w2["unfused"]["times"], pe)),
             res["w2_nodes"]["unfused"],
             f"~{statistics.median(w2['unfused']['times']) * pe:.1f} (est.)"),
            ("this micrograd, eager (fused)", stats(full_batches(w2["eager"]["times"], pe)),
             res["w2_nodes"]["fused"], f"{sum(w2['eager']['times']):.2f}"
             if len(w2["eager"]["times"]) == pe else
             f"~{statistics.median(w2['eager']['times']) * pe:.2f} (est.)"),
            (FUSED_ROW, stats(full_batches(w2["fused"]["times"], pe)), res["w2_nodes"]["fused"],
             f"{min(w2['fused']['epochs']):.3f}"),
            (FAST_ROW, stats(full_batches(w2["fast"]["times"], pe)), res["w2_nodes"]["fused"],
             f"{min(w2['fast']['epochs']):.3f}"),
            (PLAIN_ROW, stats(full_batches(w2["compiled"]["times"], pe)),
             res["w2_nodes"]["fused"], f"{min(w2['compiled']['epochs']):.3f}"),
            (f"JAX {m['jax']} `jit` (value_and_grad + SGD update), float64", tj, "-",
             f"{min(w2['jax']['epochs']):.3f}"),
            ("PyTorch 2.13 float64 eager", tt, "-", f"{min(w2['torch']['epochs']):.3f}")]
    for label, s, nn, ep in rows:
        L.append(f"| {label} | {nn} | {ms(s['min'])} | {ms(s['median'])} | {s['n']} | {ep} | "
                 f"{o2['min'] / s['min']:.1f}x | {s['min'] / tt['min']:.2f} | "
                 f"{s['min'] / tj['min']:.2f} |")
    L.append("")
    cs = w2["fused"]["stats"]
    L.append(f"Fused step, first epoch including its two traces (batch 32 and batch 5): "
             f"{w2['fused']['first_epoch']:.3f} s; traces: " + describe_stats(cs) + ".\n")
    L.append(f"Losses, first 3 steps: original {fmt_list(o['w2']['losses'][:3])}; eager "
             f"{fmt_list(w2['eager']['losses'][:3])}; compiled "
             f"{fmt_list(w2['compiled']['losses'][:3])}; fused "
             f"{fmt_list(w2['fused']['losses'][:3])}; fused exact=False "
             f"{fmt_list(w2['fast']['losses'][:3])}; JAX {fmt_list(w2['jax']['losses'][:3])}; "
             f"PyTorch {fmt_list(w2['torch']['losses'][:3])}. First {len(w2['eager']['losses'])} "
             f"steps, fused vs eager: "
             f"{bitwise(w2['eager']['losses'], w2['fused']['losses'][:len(w2['eager']['losses'])])}"
             f". Over all {len(w2['fused']['losses'])} steps, fused vs compiled: "
             f"{bitwise(w2['compiled']['losses'], w2['fused']['losses'])}; fused exact=False "
             f"vs compiled: {bitwise(w2['compiled']['losses'], w2['fast']['losses'])}; JAX vs "
             f"compiled: {bitwise(w2['compiled']['losses'], w2['jax']['losses'])}.\n")
    # ---- W3
    w3 = res["w3"]
    L.append("## W3: raw engine throughput (build a graph of N nodes, then backward)\n")
    L.append("| N (target) | engine | nodes | build min s | backward min s | nodes/s (build + "
             "backward) | vs original |")
    L.append("|---:|---|---:|---:|---:|---:|---:|")
    for n in res["config"]["w3"]["sizes"]:
        key = str(n)
        ob = o["w3"][key]
        o_rate = ob["nodes"] / (min(ob["build"]) + min(ob["backward"]))
        for label, d in (("original", ob), ("this micrograd, eager", w3["eager"][key]),
                         ("this micrograd, eager, gc.disable()", w3["eager_nogc"][key]),
                         ("PyTorch (scalar tensors)", w3["torch"].get(key))):
            if d is None:
                L.append(f"| {n:,} | {label} | - | n/a | n/a | n/a | n/a |")
                continue
            b, k = min(d["build"]), min(d["backward"])
            rate = d["nodes"] / (b + k)
            L.append(f"| {n:,} | {label} | {d['nodes']:,} | {b:.4f} | {k:.4f} | {rate:,.0f} | "
                     f"{rate / o_rate:.2f}x |")
        c = w3["compiled"][key]
        rep = min(c["replay"])
        L.append(f"| {n:,} | this micrograd, compiled replay (fwd + bwd) | {c['nodes']:,} | - | "
                 f"- | {c['nodes'] / rep:,.0f} | {c['nodes'] / rep / o_rate:.1f}x |")
    L.append("")
    mem = res["memory"]
    L.append(f"Memory per node (tracemalloc, graph of {mem['nodes']:,} nodes): original "
             f"{o['memory']['bytes_per_node']:.0f} bytes, this micrograd eager "
             f"{mem['bytes_per_node']:.0f} bytes; a compiled program keeps "
             f"{mem['compiled_bytes_per_node']:.0f} bytes per traced node (the Values are "
             f"dropped after compiling).\n")
    # ---- compile
    L.append("## Compiling: first call (trace + compile + first replay) and first backward\n")
    L.append("| N (target) | nodes | groups | trace s | compile s | first call s | first "
             "backward s | (first call + backward) us/node | replay fwd+bwd ms |")
    L.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in res["config"]["w3"]["sizes"]:
        c = w3["compiled"][str(n)]
        st = c["stats"]
        tot = c["first_call"] + c["first_backward"]
        L.append(f"| {n:,} | {st['nodes']:,} | {st['groups']} | {st['trace_s']:.3f} | "
                 f"{st['compile_s']:.3f} | {c['first_call']:.3f} | {c['first_backward']:.3f} | "
                 f"{tot / st['nodes'] * 1e6:.2f} | {ms(min(c['replay']))} |")
    L.append("")
    # ---- targets
    L.append("## Targets\n")
    L.append("| target | measured | met |")
    L.append("|---|---|---|")
    for name, value, ok in res["targets"]:
        L.append(f"| {name} | {value} | {'yes' if ok else '**no**'} |")
    L.append("")
    L.append("Notes: the eager engines take Python floats and labels as Python ints (the demo "
             "feeds numpy scalars, which makes the original slower still); the compiled rows "
             "take each batch as numpy arrays made once (W2: one-hot target rows), as PyTorch "
             "takes tensors made once. The fused training step "
             "(`micrograd.compile(loss, optimizer=opt)`) runs forward, backward and the SGD "
             "update on a parameter array it owns, with the same arithmetic as "
             "`compile(loss)` + the Python loop (bit for bit; with `exact=False`, BLAS matrix "
             "products and numpy's exp/log instead, about 1e-15 relative); the model's Values "
             "are written back by `step.sync()`, which the timed loop never needs. The fused "
             "step runs on generated C (the `backend` of each trace is listed above) when a C "
             "compiler is found, else on numpy, with the same numbers. The lecture's-graph row "
             "compiles a `fused=False` model: the compiler recognises each neuron's sum of "
             "products and runs the fused model's program. The softmax shift is a graph node "
             "(the engine's `max`), so compiled W2 is eager's bit for bit. JAX runs `jit` of "
             "`value_and_grad` plus the SGD update in float64 on the CPU, from the same initial "
             "weights. The original has "
             "neither exp nor log; for W2 they are added to its Value in its own closure style. "
             "W2 uses the same cross-entropy formula on every micrograd (one-hot targets; on "
             "the original, which has no max op, the shift is read from `.data`); PyTorch uses "
             "`F.cross_entropy`, JAX the same formula as ours. Estimated epochs (est.) "
             "are 57 x the median step. PyTorch runs W3 on scalar tensors only up to the "
             "sizes listed (n/a: not run, a scalar graph is not what PyTorch is for). The "
             "`gc.disable()` row is the same eager run with Python's cyclic garbage collector "
             "off (the engine's graphs hold no cycles; most of the eager build time of a big "
             "graph is the collector scanning it again and again); the compiler's trace runs "
             "that way. W3 eager runs, as the original does, in a process of its own that "
             "imports neither PyTorch nor JAX (bench/eager_runner.py).\n")
    return "\n".join(L)


def bitwise(a, b):
    if list(a) == list(b):
        return "bit for bit"
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return f"not bit for bit, max relative difference {np.max(np.abs(a - b) / np.abs(a)):.1e}"


def close(a, b, tol=1e-9):
    return all(abs(x - y) <= tol * max(1.0, abs(x)) for x, y in zip(a, b))


def describe_stats(stats):
    return "; ".join(f"{s['structure']}: {s['nodes']} nodes, {s['groups']} groups, "
                     f"backend {s.get('backend', '?')}, trace {ms(s['trace_s'])} ms + compile "
                     f"{ms(s['compile_s'])} ms + backward "
                     f"{ms(sum(s['backward_compile_s'].values()))} ms" for s in stats)


def fmt_list(xs):
    return "[" + ", ".join(f"{x:.10g}" for x in xs) + "]"


def fmt_load(load):
    return "n/a" if load is None else " ".join(f"{x:.2f}" for x in load)


def targets(res):
    o, w1, w2, w3 = res["original"], res["w1"], res["w2"], res["w3"]
    pe = w2["compiled"]["per_epoch"]
    t = []
    orig = min(o["w1"]["times"])
    lec = orig / min(w1["unfused"]["times"])
    t.append(("W1 eager, the lecture's graph, >= 10x faster than the original (the headline)",
              f"{lec:.1f}x", lec >= 10))
    w1_speed = orig / min(w1["eager"]["times"])
    t.append(("W1 eager, fused neurons, >= 25x faster than the original", f"{w1_speed:.1f}x",
              w1_speed >= 25))
    w1_demo = min(o["w1_as_written"]["times"]) / min(w1["eager"]["times"])
    t.append(("... than the demo as written (numpy scalars)", f"{w1_demo:.1f}x", w1_demo >= 25))
    for w, tj, mins in (("W1", min(w1["jax"]["times"]), lambda k: min(w1[k]["times"])),
                        ("W2", min(full_batches(w2["jax"]["times"], pe)),
                         lambda k: min(full_batches(w2[k]["times"], pe)))):
        r = mins("fused") / tj
        t.append((f"{w} fused step (bit for bit) <= 1.0x JAX jit's time", f"{r:.2f}",
                  r <= 1.0))
    r = min(w1["lecture"]["times"]) / min(w1["fused"]["times"])
    t.append(("W1 fused step on the lecture's graph <= 1.3x the same on the fused model",
              f"{r:.2f}", r <= 1.3))
    for w, tt, mins in (("W1", min(w1["torch"]["times"]), lambda k: min(w1[k]["times"])),
                        ("W2", min(full_batches(w2["torch"]["times"], pe)),
                         lambda k: min(full_batches(w2[k]["times"], pe)))):
        r = {k: mins(k) / tt for k in ("fast", "fused", "compiled")}
        t.append((f"{w} compiled <= PyTorch (time ratio): fused step, bit for bit (default)",
                  f"{r['fused']:.2f} (compile + Python loop: {r['compiled']:.2f})",
                  r["fused"] <= 1.0))
        t.append((f"{w} compiled <= PyTorch (time ratio): fused step, exact=False",
                  f"{r['fast']:.2f}", r["fast"] <= 1.0))
    if "100000" in o["w3"]:
        ob, eb = o["w3"]["100000"], w3["eager"]["100000"]
        ro = ob["nodes"] / (min(ob["build"]) + min(ob["backward"]))
        re = eb["nodes"] / (min(eb["build"]) + min(eb["backward"]))
        t.append(("W3 eager >= 3x the original's nodes/s at 1e5 nodes", f"{re / ro:.1f}x",
                  re / ro >= 3))
    b = res["memory"]["bytes_per_node"]
    t.append(("eager memory <= 300 bytes/node", f"{b:.0f} bytes", b <= 300))
    if "1000000" in w3["compiled"]:
        c = w3["compiled"]["1000000"]
        tot = c["first_call"] + c["first_backward"]
        t.append(("compile a 1e6-node graph < 5 s (first call + first backward)",
                  f"{tot:.2f} s", tot < 5))
        per = []
        for n in res["config"]["w3"]["sizes"]:
            c = w3["compiled"][str(n)]
            per.append((c["first_call"] + c["first_backward"]) / c["stats"]["nodes"] * 1e6)
        t.append(("compile time linear in nodes (us/node at 1e4, 1e5, 1e6)",
                  ", ".join(f"{p:.2f}" for p in per), max(per) <= 3 * min(per)))
    return t


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats and sizes")
    ap.add_argument("--out", help="where to write the markdown table (default "
                                  "bench/RESULTS.md; with --quick, nowhere)")
    args = ap.parse_args()
    cfg = QUICK if args.quick else FULL
    out = args.out or (None if args.quick else os.path.join(HERE, "RESULTS.md"))
    cmd = "python bench/run.py" + (" --quick" if args.quick else "")
    t0 = time.perf_counter()
    res = {"machine": machine(), "config": cfg,
           "date": time.strftime("%Y-%m-%d %H:%M %Z")}
    py = ensure_original()
    log("original micrograd 0.1.0 ...")
    res["original"] = run_original(py, cfg)
    eager = run_w1_eager(py, cfg["w1"])
    res["original"]["w1"] = eager.pop("original")
    res["original"]["w1_as_written"] = eager.pop("original_as_written")
    res["w1"] = run_w1(cfg["w1"])
    res["w1"].update(eager)
    res["w2"] = run_w2(cfg["w2"])
    res["w3"] = run_w3(cfg["w3"])
    log("memory ...")
    res["memory"] = run_memory(cfg["memory_nodes"])
    res["w1_nodes"] = graph_nodes_w1()
    res["w2_nodes"] = graph_nodes_w2()
    res["targets"] = targets(res)
    res["load_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    res["elapsed"] = time.perf_counter() - t0
    text = report(res, cmd)
    print(text)
    if out:
        with open(out, "w") as f:
            f.write(text)
        with open(os.path.splitext(out)[0] + ".json", "w") as f:
            json.dump(res, f, indent=1, default=str)
        log(f"wrote {out} and its raw numbers, {os.path.splitext(out)[0]}.json")


def graph_nodes_w1():
    from micrograd.engine import Value
    X, y = W.moons()
    out = {}
    for fused in (True, False):
        model = W.w1_model(fused)
        out["fused" if fused else "unfused"] = W.count_nodes(
            W.w1_loss(model, [list(map(Value, r)) for r in X], y))
    return out


def graph_nodes_w2():
    from micrograd.engine import Value
    X, y = W.digits()
    Xb, yb = W.w2_batches(X, y)[0]
    out = {}
    for fused in (True, False):
        model = W.w2_model(fused)
        out["fused" if fused else "unfused"] = W.count_nodes(
            W.w2_loss(model, [list(map(Value, r)) for r in Xb.tolist()], W.onehot(yb)))
    return out


if __name__ == "__main__":
    main()
