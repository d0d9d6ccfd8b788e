"""microgpt, side by side: one model, one seed, five engines, in one run.

    python bench/microgpt.py                 # 1000 steps each (the slow rows take minutes)
    python bench/microgpt.py --steps 20      # a short run: the 1000-step column is estimated
    python bench/microgpt.py --steps 20 --write    # ... and put the tables in RESULTS.md
    python bench/microgpt.py --slow-steps 100      # microgpt-style Value: 100 steps, estimated

Engines, all from the same initial weights (microgpt's: seed 42, names shuffled):
  * microgpt-style scalar Value (tests/microgpt_reference.py: local gradients stored at forward
    time, __slots__, recursive topological sort; our own code from the algorithm);
  * this micrograd, eager (micrograd.gpt: the engine's Value, fused w·x nodes);
  * this micrograd, compiled (micrograd.gpt.compiled: one traced program for every document,
    its C built in a fresh kernel cache, so the compile is in its first step and its total);
  * PyTorch float64 eager and JAX jit float64: tensor ports of the same model written here
    (the whole document at once with a causal mask; microgpt's Adam and decay). JAX compiles
    once per sequence length: that compile time is in its totals.

Times per step are each step alone (time.perf_counter, the garbage collector on, as microgpt
runs). "1000 steps" is measured when --steps >= 1000, else estimated as the first step plus 999 x
the mean of the others (JAX: one compile per distinct length in the first 1000 documents, at
the mean compile step measured, plus its steady mean step for the others), marked "est.".
The first losses of every engine are printed: the scalar engines (compiled too) agree bit for
bit; the tensor ports to ~1e-15.
"""
import argparse
import math
import os
import random
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

BETAS, EPS, LR = (0.85, 0.99), 1e-8, 0.01


def setup(seed=42):
    from micrograd import data, gpt
    rng = random.Random(seed)
    docs = data.names()
    rng.shuffle(docs)
    tok = gpt.CharTokenizer.from_documents(docs)
    model = gpt.GPT(gpt.GPTConfig(tok.vocab_size), rng)
    return model, tok, docs


# ---------------------------------------------------------------------------------------------
# the scalar engines
# ---------------------------------------------------------------------------------------------
def run_reference(steps, total):
    from micrograd import data
    from microgpt_reference import MicroGPT
    ref = MicroGPT(data.names(), seed=42)
    times, losses = [], []
    for k in range(steps):
        t = time.perf_counter()
        losses.append(ref.step(k, total))
        times.append(time.perf_counter() - t)
    return times, losses


def run_eager(steps, total):
    from micrograd import gpt
    model, tok, docs = setup()
    opt = gpt.MicroGPTAdam(model.parameters(), lr=LR, steps=total)
    times, losses, phases = [], [], [0.0, 0.0, 0.0, 0.0]
    for k in range(steps):          # gpt.train_step, spelled out to time its phases
        t0 = time.perf_counter()
        loss = gpt.document_loss(model, tok.encode(docs[k % len(docs)]))
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        losses.append(loss.data)
        times.append(t3 - t0)
        for i, dt in enumerate((t1 - t0, t2 - t1, t3 - t2)):
            phases[i] += dt
    t = time.perf_counter()           # the topological sort alone, on the last step's graph
    nodes = len(loss.topo())
    phases[3] = time.perf_counter() - t
    return times, losses, [x / steps for x in phases[:3]] + [phases[3], nodes]


def run_compiled(steps, total, cache=None):
    """micrograd.gpt.compiled: one program for every document. The first step traces it and
    builds its C kernels (in a fresh, empty kernel cache unless `cache` is given: the compile
    is in the total). Returns (times, losses, stats)."""
    import tempfile
    from micrograd import gpt
    from micrograd.gpt.compiled import CompiledTrainer
    os.environ["MICROGRAD_CACHE_DIR"] = cache or tempfile.mkdtemp(prefix="microgpt-bench-")
    model, tok, docs = setup()
    opt = gpt.MicroGPTAdam(model.parameters(), lr=LR, steps=total)
    positions = gpt.training.longest(model, docs)
    times, losses = [], []
    for k in range(steps):
        t = time.perf_counter()
        if k == 0:
            trainer = CompiledTrainer(model, opt, positions=positions)
        losses.append(trainer(tok.encode(docs[k % len(docs)])))
        times.append(time.perf_counter() - t)
    trainer.sync()
    # a second run, its kernels now cached (what a user's next run pays): its first step
    model, tok, docs = setup()
    opt = gpt.MicroGPTAdam(model.parameters(), lr=LR, steps=total)
    t = time.perf_counter()
    CompiledTrainer(model, opt, positions=positions)(tok.encode(docs[0]))
    warm = time.perf_counter() - t
    return times, losses, dict(trainer.stats()[0], warm_first_step=warm)


def weights_and_ids(total):
    model, tok, docs = setup()
    w = {k: [[p.data for p in row] for row in mat] for k, mat in model.state_dict().items()}
    ids = [tok.encode(docs[k % len(docs)])[:model.config.block_size + 1] for k in range(total)]
    return w, ids, model.config


# ---------------------------------------------------------------------------------------------
# tensor ports: the same model on a whole document at once, a causal mask for the cache
# ---------------------------------------------------------------------------------------------
def run_torch(steps, total):
    import torch
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)     # tensors of 16 x 16: a second thread only waits (and is noise)
    w, docs, cfg = weights_and_ids(total)
    P = {k: torch.tensor(v, requires_grad=True) for k, v in w.items()}
    M = {k: torch.zeros_like(p) for k, p in P.items()}
    V = {k: torch.zeros_like(p) for k, p in P.items()}
    H, hd = cfg.n_head, cfg.head_dim

    def rmsnorm(x):
        return x * ((x * x).mean(-1, keepdim=True) + 1e-5) ** -0.5

    def loss_fn(ids):
        n = len(ids) - 1
        x = rmsnorm(P["wte"][ids[:-1]] + P["wpe"][:n])
        mask = torch.ones(n, n, dtype=torch.bool).triu(1)
        for i in range(cfg.n_layer):
            h = rmsnorm(x)
            q, k, v = (h @ P[f"layer{i}.attn_{m}"].T for m in ("wq", "wk", "wv"))
            q, k, v = (t.view(n, H, hd).transpose(0, 1) for t in (q, k, v))
            att = (q @ k.transpose(1, 2)) / hd ** 0.5
            att = att.masked_fill(mask, -math.inf).softmax(-1)
            x = x + (att @ v).transpose(0, 1).reshape(n, -1) @ P[f"layer{i}.attn_wo"].T
            x = x + torch.relu(rmsnorm(x) @ P[f"layer{i}.mlp_fc1"].T) @ P[f"layer{i}.mlp_fc2"].T
        return torch.nn.functional.cross_entropy(x @ P["lm_head"].T, ids[1:])

    times, losses = [], []
    b1, b2 = BETAS
    for k in range(steps):
        t = time.perf_counter()
        ids = torch.tensor(docs[k])
        loss = loss_fn(ids)
        loss.backward()
        lr = LR * (1 - k / total)
        with torch.no_grad():
            for name, p in P.items():
                g = p.grad
                M[name] = b1 * M[name] + (1 - b1) * g
                V[name] = b2 * V[name] + (1 - b2) * g ** 2
                m_hat = M[name] / (1 - b1 ** (k + 1))
                v_hat = V[name] / (1 - b2 ** (k + 1))
                p -= lr * m_hat / (v_hat ** 0.5 + EPS)
                p.grad = None
        losses.append(loss.item())
        times.append(time.perf_counter() - t)
    return times, losses


def run_jax(steps, total):
    import jax
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_platforms", "cpu")
    import jax.numpy as jnp
    w, docs, cfg = weights_and_ids(total)
    P = {k: jnp.array(v, dtype=jnp.float64) for k, v in w.items()}
    M = {k: jnp.zeros_like(p) for k, p in P.items()}
    V = {k: jnp.zeros_like(p) for k, p in P.items()}
    H, hd = cfg.n_head, cfg.head_dim
    b1, b2 = BETAS

    def rmsnorm(x):
        return x * ((x * x).mean(-1, keepdims=True) + 1e-5) ** -0.5

    def loss_fn(P, ids):
        n = ids.shape[0] - 1
        x = rmsnorm(P["wte"][ids[:-1]] + P["wpe"][:n])
        mask = jnp.triu(jnp.ones((n, n), dtype=bool), 1)
        for i in range(cfg.n_layer):
            h = rmsnorm(x)
            q, k, v = (h @ P[f"layer{i}.attn_{m}"].T for m in ("wq", "wk", "wv"))
            q, k, v = (t.reshape(n, H, hd).transpose(1, 0, 2) for t in (q, k, v))
            att = (q @ k.transpose(0, 2, 1)) / hd ** 0.5
            att = jax.nn.softmax(jnp.where(mask, -jnp.inf, att), axis=-1)
            x = x + (att @ v).transpose(1, 0, 2).reshape(n, -1) @ P[f"layer{i}.attn_wo"].T
            x = x + jax.nn.relu(rmsnorm(x) @ P[f"layer{i}.mlp_fc1"].T) @ P[f"layer{i}.mlp_fc2"].T
        logits = x @ P["lm_head"].T
        logp = jax.nn.log_softmax(logits, axis=-1)
        return -jnp.mean(logp[jnp.arange(n), ids[1:]])

    @jax.jit
    def step(P, M, V, ids, lr, t):
        loss, G = jax.value_and_grad(loss_fn)(P, ids)
        M = {k: b1 * M[k] + (1 - b1) * G[k] for k in P}
        V = {k: b2 * V[k] + (1 - b2) * G[k] ** 2 for k in P}
        P = {k: P[k] - lr * (M[k] / (1 - b1 ** t)) / ((V[k] / (1 - b2 ** t)) ** 0.5 + EPS)
             for k in P}
        return P, M, V, loss

    times, losses, compiles, seen = [], [], [], set()
    for k in range(steps):
        t = time.perf_counter()
        ids = jnp.array(docs[k])
        P, M, V, loss = step(P, M, V, ids, LR * (1 - k / total), float(k + 1))
        losses.append(float(loss))                 # waits for the result
        dt = time.perf_counter() - t
        times.append(dt)
        if len(docs[k]) not in seen:
            seen.add(len(docs[k]))
            compiles.append(k)
    lengths = {len(d) for d in docs[:1000]}
    return times, losses, compiles, len(lengths)


# ---------------------------------------------------------------------------------------------
def summarize(name, times, steps, est_1000=None):
    mean = sum(times) / len(times)
    total = sum(times)
    if est_1000 is None:       # the first step (warm-up) once, then the mean of the others
        rest = times[1:] or times
        est_1000 = total if steps >= 1000 else times[0] + sum(rest) / len(rest) * 999
    return {"engine": name, "min": min(times), "median": statistics.median(times),
            "mean": mean, "total": total, "t1000": est_1000, "measured": steps >= 1000}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--slow-steps", type=int, default=0,
                    help="run the microgpt-style Value for only this many steps (its 1000-step "
                         "time then estimated), the other engines for --steps")
    ap.add_argument("--write", action="store_true",
                    help="replace the microgpt section of bench/RESULTS.md")
    ap.add_argument("--skip", default="", help="comma-separated engines to leave out: value, "
                    "eager, compiled, torch, jax")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    steps, total = args.steps, 1000 if args.steps < 1000 else args.steps
    load0 = os.getloadavg()
    rows, losses = [], {}
    if "value" not in skip:
        slow = min(steps, args.slow_steps or steps)
        t, l = run_reference(slow, total)
        rows.append(summarize("microgpt-style scalar Value (tests/microgpt_reference.py)"
                              + (f", {slow} steps" if slow < steps else ""), t, slow))
        losses["value"] = l
    phases = None
    if "eager" not in skip:
        t, l, phases = run_eager(steps, total)
        rows.append(summarize("this micrograd, eager (micrograd.gpt)", t, steps))
        losses["eager"] = l
    compiled = None
    if "compiled" not in skip:
        t, l, st = run_compiled(steps, total)
        row = summarize(f"this micrograd, compiled (micrograd.gpt.compiled: one program for "
                        f"every length, {st['backend']}; its first step {t[0]:.2f} s, trace "
                        f"and compile in a fresh kernel cache)", t, steps)
        row["min"], row["median"] = min(t[1:] or t), statistics.median(t[1:] or t)
        rows.append(row)
        losses["compiled"] = l
        compiled = (t, st)
    if "torch" not in skip:
        import torch
        t, l = run_torch(steps, total)
        rows.append(summarize(f"PyTorch {torch.__version__.split('+')[0]} float64 eager, "
                              f"tensor port", t, steps))
        losses["torch"] = l
    if "jax" not in skip:
        import jax
        t, l, compiles, n_lengths = run_jax(steps, total)
        steady = [x for i, x in enumerate(t) if i not in set(compiles)]
        compile_mean = sum(t[i] for i in compiles) / len(compiles)
        est = None if steps >= 1000 else \
            (sum(steady) / max(1, len(steady))) * (1000 - n_lengths) + compile_mean * n_lengths
        row = summarize(f"JAX {jax.__version__} jit float64, tensor port "
                        f"({len(compiles)} compiles in this run, ~{compile_mean * 1e3:.0f} ms "
                        f"each; {n_lengths} lengths in 1000 steps)", t, steps, est)
        row["min"], row["median"] = min(steady or t), statistics.median(steady or t)
        rows.append(row)
        losses["jax"] = l
    load1 = os.getloadavg()

    base = rows[0]["t1000"] if "value" not in skip else None
    lines = [f"Run: `python bench/microgpt.py --steps {steps}"
             f"{f' --slow-steps {args.slow_steps}' if args.slow_steps else ''}`"
             f"{'' if steps >= 1000 else ' (a short run: the 1000-step column is estimated)'}; "
             f"load average {load0[0]:.2f} at the start, {load1[0]:.2f} at the end. "
             "Per-step times are the step alone (forward, backward, Adam); JAX's min/median "
             "leave out the steps that compiled.", "",
             "| engine | min ms/step | median ms/step | 1000 steps, s "
             "| 1000 steps vs microgpt-style Value |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:
        ratio = f"{base / r['t1000']:.1f}x" if base else "-"
        t1000 = f"{r['t1000']:.2f}" + ("" if r["measured"] else " est.")
        lines.append(f"| {r['engine']} | {r['min'] * 1e3:.2f} | {r['median'] * 1e3:.2f} | "
                     f"{t1000} | {ratio} |")
    lines.append("")
    if phases:
        f, b, a, topo, nodes = phases
        lines.append(f"Where eager's time goes (mean per step): forward {f * 1e3:.1f} ms "
                     f"(building the graph), backward {b * 1e3:.1f} ms (of which the "
                     f"topological sort of the last step's {nodes} nodes takes "
                     f"{topo * 1e3:.1f} ms), microgpt's Adam over 4192 parameters "
                     f"{a * 1e3:.1f} ms.")
    first = {k: [f"{x:.17g}" for x in v[:3]] for k, v in losses.items()}
    lines.append("First losses (full precision): " + "; ".join(
        f"{k} [{', '.join(v)}]" for k, v in first.items()) + ".")
    if "value" in losses and "eager" in losses:
        diff = [k for k, (a, b) in enumerate(zip(losses["value"], losses["eager"])) if a != b]
        lines.append(f"Eager against microgpt-style Value over all "
                     f"{min(len(losses['value']), steps)} steps: " + (
            "bit for bit." if not diff else
            f"**not bit for bit**: {len(diff)} losses differ, the first at step {diff[0] + 1} "
            f"(the engine's `/` must be the original's `a * b**-1`, as microgpt's)."))
    if "compiled" in losses and "eager" in losses:
        diff = [k for k, (a, b) in enumerate(zip(losses["compiled"], losses["eager"])) if a != b]
        lines.append(f"Compiled against eager over all {steps} steps: " + (
            "bit for bit." if not diff else
            f"**not bit for bit**: {len(diff)} losses differ, the first at step {diff[0] + 1}."))
    if compiled:
        t, st = compiled
        lines.append(f"The compiled program: {st['nodes']} nodes in {st['groups']} groups "
                     f"(every document padded to its positions), its first step "
                     f"{t[0]:.2f} s in all (trace {st['trace_s']:.2f} s; the C compiler "
                     f"runs for the forward and the backward at once, -Og); with its kernels "
                     f"cached (a second run), the first step takes "
                     f"{st['warm_first_step']:.2f} s.")
    for k in ("torch", "jax"):
        if k in losses and "eager" in losses:
            rel = max(abs(a - b) / abs(b) for a, b in zip(losses[k], losses["eager"]))
            lines.append(f"{k} against eager: max relative difference {rel:.1e}.")
    text = "\n".join(lines)
    print(text)
    if args.write:
        path = os.path.join(HERE, "RESULTS.md")
        old = open(path).read() if os.path.exists(path) else ""
        head = "## microgpt: a GPT on scalars, one document per step (bench/microgpt.py)"
        if head in old:
            start = old.index(head)
            nxt = old.find("\n## ", start + len(head))
            old = old[:start].rstrip() + ("\n\n" + old[nxt + 1:] if nxt != -1 else "")
        with open(path, "w") as f:
            f.write(old.rstrip() + "\n\n" + head + "\n\n" + text + "\n")


if __name__ == "__main__":
    main()
