"""A quick partial run: only the compiled W1/W2 fused steps next to JAX jit's, and the compile
of the 1e6-node W3 graph (for a change to the compiler, without the full run.py).

    python bench/compiled_only.py            # W1, W2 and the 1e6 compile
    python bench/compiled_only.py steps      # W1 and W2 only
    python bench/compiled_only.py compile    # the 1e6 compile only

Prints min / median step times (ms), the ratios to JAX, and the 1e6 compile's wall time and
CPU time (process_time: less sensitive than the wall clock to other processes on the machine).
Nothing is written: copy what you report into RESULTS.md by hand.
"""
import gc
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workloads as W  # noqa: E402


def timed(step, n, warm=5):
    for _ in range(warm):
        step()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        step()
        ts.append(time.perf_counter() - t)
    ts.sort()
    return ts[0] * 1e3, ts[len(ts) // 2] * 1e3


def steps():
    mins = {}
    for name, make in (("W1 fused", W.w1_fused), ("W1 lecture", lambda: W.w1_fused(True, False)),
                       ("W1 jax", W.w1_jax)):
        gc.collect()
        step, _ = make()
        step()
        mins[name], med = timed(step, 2000)
        print(f"{name}: min {mins[name]:.4f} ms, median {med:.4f} ms", flush=True)
    for name, make in (("W2 fused", W.w2_fused), ("W2 jax", W.w2_jax)):
        step, per_epoch = make()
        for _ in range(per_epoch):
            step()
        ts = []
        for _ in range(20):
            for i in range(per_epoch):
                t = time.perf_counter()
                step()
                if i != per_epoch - 1:           # full batches only, as run.py
                    ts.append(time.perf_counter() - t)
        ts.sort()
        mins[name] = ts[0] * 1e3
        print(f"{name}: min {ts[0] * 1e3:.4f} ms, median {ts[len(ts) // 2] * 1e3:.4f} ms",
              flush=True)
    for w in ("W1", "W2"):
        print(f"{w} fused / JAX: {mins[w + ' fused'] / mins[w + ' jax']:.2f}")


def compile_1e6():
    gc.collect()
    fn, _, xs, _, _ = W.w3_compiled(1_000_000)
    c0 = time.process_time()
    t = time.perf_counter()
    res = fn(xs)
    a = time.perf_counter() - t
    t = time.perf_counter()
    res.backward()
    b = time.perf_counter() - t
    cpu = time.process_time() - c0
    st = fn.stats()[0]
    print(f"1e6 compile: first call {a:.3f} s + first backward {b:.3f} s = {a + b:.3f} s wall, "
          f"{cpu:.3f} s CPU; {st['nodes']} nodes, {st['groups']} groups, {st['backend']}")


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "all"
    print("load average:", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    if which in ("all", "steps"):
        steps()
    if which in ("all", "compile"):
        compile_1e6()
    print("load average:", " ".join(f"{x:.2f}" for x in os.getloadavg()))
