"""The three benchmark workloads, for this micrograd (eager and compiled) and for PyTorch.

The original micrograd 0.1.0 runs the same workloads in its own virtualenv, from
bench/original_runner.py (which cannot import this module: it must not see this package).

W1  the original demo's training step: make_moons(100, noise=0.1) after np.random.seed(1337),
    MLP(2, [16, 16, 1]) after random.seed(1337), hinge loss + 1e-4 * L2 on the full batch,
    zero_grad, backward, SGD with the demo's learning-rate schedule 1.0 - 0.9 * k / 100.
W2  8x8 digits (sklearn load_digits, X / 16), MLP(64, [32, 10]), softmax cross-entropy
    (max-shifted log-sum-exp from engine primitives, one-hot targets), minibatches of 32 in
    dataset order, SGD lr 0.1; one epoch is 57 steps (56 of 32 and one of 5).
W3  raw engine throughput: build a graph of N nodes (a mix of *, +, * const, relu over 40
    layers), then backward through it.

Each builder returns a `step()` that runs one unit of work, so that the runner times them all
the same way. The compiled paths come twice: `micrograd.compile(loss)` with the Python loop
around it (zero_grad, backward, the update per parameter), and the fused training step
`micrograd.compile(loss, optimizer=opt)` (forward, backward and update in numpy).
"""
import random

import numpy as np

ALPHA = 1e-4
W2_LR = 0.1
W2_BATCH = 32


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------
def moons():
    """The demo's data, with the demo's seeding: (X as a list of [x0, x1], y as ints +-1)."""
    from sklearn.datasets import make_moons
    np.random.seed(1337)
    random.seed(1337)
    X, y = make_moons(n_samples=100, noise=0.1)
    y = y * 2 - 1
    return X.tolist(), [int(v) for v in y]


def digits():
    from sklearn.datasets import load_digits
    d = load_digits()
    return (d.data / 16.0), d.target.astype(int)


def w2_batches(X, y, batch=W2_BATCH):
    return [(X[i:i + batch], y[i:i + batch]) for i in range(0, len(X), batch)]


# ---------------------------------------------------------------------------------------------
# W1 on this micrograd
# ---------------------------------------------------------------------------------------------
def w1_model(fused=True):
    from micrograd.nn import MLP
    random.seed(1337)
    return MLP(2, [16, 16, 1], fused=fused)


def w1_loss(model, X, y):
    """The demo's loss, written once for eager Values and for a trace (X, y as Values)."""
    scores = [model(row) for row in X]
    losses = [(1 + -yi * si).relu() for yi, si in zip(y, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = ALPHA * sum((p * p for p in model.parameters()))
    return data_loss + reg_loss


def demo_lr(k):
    """The demo's learning rate at step k, its 100-step schedule restarted every 100 steps."""
    return 1.0 - 0.9 * (k % 100) / 100


def demo_sgd(params, k):
    """The demo's update, written on .data and .grad as the notebook writes it (any engine)."""
    lr = demo_lr(k)
    for p in params:
        p.data -= lr * p.grad


def demo_step(Value, model, X, y):
    """The demo's step for any engine's Value and model: returns (step, state); step() builds
    the loss graph, backward, the demo's SGD, and returns the loss; state counts the steps and
    (after the first) holds the graph's node count."""
    params = model.parameters()
    state = {"k": 0, "nodes": 0}

    def step():
        inputs = [list(map(Value, row)) for row in X]
        total = w1_loss(model, inputs, y)
        model.zero_grad()
        total.backward()
        demo_sgd(params, state["k"])
        state["k"] += 1
        if not state["nodes"]:
            state["nodes"] = count_nodes(total)
        return total.data
    return step, state


def w1_eager(fused=True):
    """The demo's step on the eager engine: returns (step, model); step() returns the loss."""
    from micrograd.engine import Value
    X, y = moons()
    model = w1_model(fused)
    return demo_step(Value, model, X, y)[0], model


def w1_compiled():
    """The same step, the loss traced once by micrograd.compile (the one-line change)."""
    import micrograd
    X, y = moons()
    X, y = np.array(X), np.array(y)          # the demo's arrays, passed as they are
    model = w1_model(True)
    params = model.parameters()
    loss_fn = micrograd.compile(lambda X, y: w1_loss(model, X, y))
    state = {"k": 0}

    def step():
        total = loss_fn(X, y)
        model.zero_grad()
        total.backward()
        demo_sgd(params, state["k"])
        state["k"] += 1
        return total.data
    return step, model


def w1_fused(exact=True, fused=True):
    """The same step as one fused training step: micrograd.compile(loss, optimizer=opt) runs
    forward, backward and the SGD update (in C, or numpy without a C compiler), on a parameter
    array it owns (the model's Values are written back by step.sync(); not needed here).
    exact=False: BLAS matrix products and numpy's exp/log instead of eager's order of
    additions and math.exp. fused=False: the model builds the lecture's graph (a * and a +
    per weight), which the compiler fuses back into neurons by itself."""
    import micrograd
    from micrograd import optim
    X, y = moons()
    X, y = np.array(X), np.array(y)
    model = w1_model(fused)
    opt = optim.SGD(model.parameters(), lr=1.0)
    train_step = micrograd.compile(lambda X, y: w1_loss(model, X, y), optimizer=opt,
                                   exact=exact)
    state = {"k": 0}

    def step():
        opt.lr = demo_lr(state["k"])
        state["k"] += 1
        return train_step(X, y).data
    step.compiled = train_step
    return step, model


def jax_params(model_mg, jnp):
    """The micrograd model's initial weights as JAX arrays: [(W (nin, nout), b (nout,)), ...]."""
    # float64 even where the weights are ints (a fresh bias is Value(0), as in the original)
    return [(jnp.array([[w.data for w in n.w] for n in layer.neurons], dtype=jnp.float64).T,
             jnp.array([n.b.data for n in layer.neurons], dtype=jnp.float64))
            for layer in model_mg.layers]


def jax_mlp(params, X, jax):
    h = X
    for i, (Wt, b) in enumerate(params):
        h = h @ Wt + b
        if i != len(params) - 1:
            h = jax.nn.relu(h)
    return h


def _jax():
    import jax
    jax.config.update("jax_enable_x64", True)
    return jax, jax.numpy


def w1_jax():
    """W1 in JAX (float64, CPU): jit of value_and_grad of the demo's loss plus the SGD update,
    from the micrograd model's initial weights; lr is an argument (no retrace per step)."""
    jax, jnp = _jax()
    X, y = moons()
    params = jax_params(w1_model(True), jnp)
    Xj, yj = jnp.array(X), jnp.array(y, dtype=jnp.float64)

    def loss(params):
        scores = jax_mlp(params, Xj, jax)[:, 0]
        data_loss = jnp.sum(jax.nn.relu(1 - yj * scores)) * (1.0 / len(y))
        reg_loss = ALPHA * sum(jnp.sum(Wt * Wt) + jnp.sum(b * b) for Wt, b in params)
        return data_loss + reg_loss

    @jax.jit
    def train(params, lr):
        value, grads = jax.value_and_grad(loss)(params)
        return value, jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads)
    state = {"k": 0, "params": params}

    def step():
        value, state["params"] = train(state["params"], demo_lr(state["k"]))
        state["k"] += 1
        return float(value)                       # waits for the result
    return step, None


def w2_jax():
    """W2 in JAX: the same max-shifted cross-entropy (the shift's gradient stopped, as it
    cancels), one-hot targets, SGD lr 0.1; a jit per batch shape (32, and the last 5)."""
    jax, jnp = _jax()
    X, y = digits()
    batches = [(jnp.array(Xb), jnp.array(onehot(yb))) for Xb, yb in w2_batches(X, y)]
    params = jax_params(w2_model(True), jnp)

    def loss(params, Xb, Tb):
        z = jax_mlp(params, Xb, jax)
        s = z - jax.lax.stop_gradient(jnp.max(z, axis=1, keepdims=True))
        lse = jnp.log(jnp.sum(jnp.exp(s), axis=1))
        return jnp.mean(lse - jnp.sum(Tb * s, axis=1))

    @jax.jit
    def train(params, Xb, Tb):
        value, grads = jax.value_and_grad(loss)(params, Xb, Tb)
        return value, jax.tree_util.tree_map(lambda p, g: p - W2_LR * g, params, grads)
    state = {"i": 0, "params": params}

    def step():
        Xb, Tb = batches[state["i"] % len(batches)]
        state["i"] += 1
        value, state["params"] = train(state["params"], Xb, Tb)
        return float(value)
    return step, len(batches)


def torch_mlp(model_mg, torch):
    """A float64 torch.nn.Sequential with the micrograd model's initial weights."""
    layers = []
    for i, layer in enumerate(model_mg.layers):
        nin, nout = len(layer.neurons[0].w), len(layer.neurons)
        lin = torch.nn.Linear(nin, nout).double()
        with torch.no_grad():
            lin.weight.copy_(torch.tensor([[w.data for w in n.w] for n in layer.neurons],
                                          dtype=torch.float64))
            lin.bias.copy_(torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64))
        layers.append(lin)
        if i != len(model_mg.layers) - 1:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def w1_torch():
    import torch
    X, y = moons()
    net = torch_mlp(w1_model(True), torch)
    params = list(net.parameters())
    Xt = torch.tensor(X, dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.float64)
    state = {"k": 0}

    def step():
        scores = net(Xt).squeeze(1)
        data_loss = torch.relu(1 - yt * scores).sum() * (1.0 / len(y))
        reg_loss = ALPHA * sum((p * p).sum() for p in params)
        total = data_loss + reg_loss
        for p in params:
            p.grad = None
        total.backward()
        lr = demo_lr(state["k"])
        with torch.no_grad():
            for p in params:
                p.sub_(lr * p.grad)
        state["k"] += 1
        return total.item()
    return step, net


# ---------------------------------------------------------------------------------------------
# W2 on this micrograd
# ---------------------------------------------------------------------------------------------
def w2_model(fused=True):
    from micrograd.nn import MLP
    random.seed(1337)
    return MLP(64, [32, 10], fused=fused)


def shift(row):
    """The softmax shift of a row: this micrograd's "max" node (derivative 0, recomputed by a
    compiled replay), or, on the original (which has no max op), the same number as a float
    constant read from .data. Either way the same floats in eager."""
    try:
        from micrograd.engine import MAX
    except ImportError:
        return max(z.data for z in row)
    return MAX(*row)


def cross_entropy(rows, onehots):
    """Mean softmax cross-entropy from engine primitives: log-sum-exp of the logits shifted by
    their largest value (see shift), minus the target logit picked by a one-hot row (so that
    the targets can be traced inputs). Written with +, -, *, exp and log only, so that it runs
    on the original micrograd too (given exp and log)."""
    out = []
    for row, t in zip(rows, onehots):
        m = shift(row)
        shifted = [z - m for z in row]
        lse = sum(s.exp() for s in shifted).log()
        out.append(lse - sum(ti * si for ti, si in zip(t, shifted)))
    return sum(out) * (1.0 / len(out))


def onehot(labels, k=10):
    return [[1.0 if j == c else 0.0 for j in range(k)] for c in labels]


def w2_loss(model, X, T):
    return cross_entropy([model(row) for row in X], T)


def w2_eager(fused=True):
    """One W2 step per call (cycling through the epoch's batches): returns (step, n_steps)."""
    from micrograd.engine import Value
    X, y = digits()
    batches = [(Xb.tolist(), onehot(yb)) for Xb, yb in w2_batches(X, y)]
    model = w2_model(fused)
    params = model.parameters()
    state = {"i": 0}

    def step():
        Xb, Tb = batches[state["i"] % len(batches)]
        state["i"] += 1
        inputs = [list(map(Value, row)) for row in Xb]
        loss = w2_loss(model, inputs, Tb)
        model.zero_grad()
        loss.backward()
        for p in params:
            p.data -= W2_LR * p.grad
        return loss.data
    return step, len(batches)


def w2_compiled():
    import micrograd
    X, y = digits()
    batches = [(Xb, np.array(onehot(yb))) for Xb, yb in w2_batches(X, y)]
    model = w2_model(True)
    params = model.parameters()
    loss_fn = micrograd.compile(lambda X, T: w2_loss(model, X, T))
    state = {"i": 0}

    def step():
        Xb, Tb = batches[state["i"] % len(batches)]
        state["i"] += 1
        loss = loss_fn(Xb, Tb)
        model.zero_grad()
        loss.backward()
        for p in params:
            p.data -= W2_LR * p.grad
        return loss.data
    step.compiled = loss_fn
    return step, len(batches)


def w2_fused(exact=True):
    """W2 as one fused training step (forward, backward, SGD update in numpy)."""
    import micrograd
    from micrograd import optim
    X, y = digits()
    batches = [(Xb, np.array(onehot(yb))) for Xb, yb in w2_batches(X, y)]
    model = w2_model(True)
    opt = optim.SGD(model.parameters(), lr=W2_LR)
    train_step = micrograd.compile(lambda X, T: w2_loss(model, X, T), optimizer=opt,
                                   exact=exact)
    state = {"i": 0}

    def step():
        Xb, Tb = batches[state["i"] % len(batches)]
        state["i"] += 1
        return train_step(Xb, Tb).data
    step.compiled = train_step
    return step, len(batches)


def w2_torch():
    import torch
    X, y = digits()
    batches = [(torch.tensor(Xb, dtype=torch.float64), torch.tensor(yb))
               for Xb, yb in w2_batches(X, y)]
    net = torch_mlp(w2_model(True), torch)
    params = list(net.parameters())
    state = {"i": 0}

    def step():
        Xb, yb = batches[state["i"] % len(batches)]
        state["i"] += 1
        loss = torch.nn.functional.cross_entropy(net(Xb), yb)
        for p in params:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in params:
                p.sub_(W2_LR * p.grad)
        return loss.item()
    return step, len(batches)


# ---------------------------------------------------------------------------------------------
# W3: graphs of N nodes
# ---------------------------------------------------------------------------------------------
W3_DEPTH = 40


def w3_width(n_nodes):
    # nodes = 2*width (x and w leaves) + width (x*w) + depth * width * 2.5 (mean nodes per op)
    # + 3 constant leaves... + ~width (the tree sum)
    return max(4, round(n_nodes / 74.2))


def w3_plan(width, seed=0):
    """The random choices of w3_build, drawn once: (partner, op) for every node of every layer."""
    rng = random.Random(seed)
    return [[(rng.randrange(width), rng.randrange(4)) for _ in range(width)]
            for _ in range(W3_DEPTH)]


def w3_build(xs, ws, plan):
    """A layered graph: leaves x_i * w_i, then W3_DEPTH layers where node i of a layer combines
    node i of the layer below with another one (so every node is used) by one of
    a*b, (a + b) * 0.5, relu(a), a * 0.9; then a balanced tree sum (shallow, so the original's
    recursive backward does not hit the recursion limit). Values stay in [-1, 1]. Works on
    any Value class (this one, the original's) and on traced inputs."""
    layer = [x * w for x, w in zip(xs, ws)]
    for choices in plan:
        new = []
        for a, (j, op) in zip(layer, choices):
            if op == 0:
                c = a * layer[j]
            elif op == 1:
                c = (a + layer[j]) * 0.5
            elif op == 2:
                c = a.relu()
            else:
                c = a * 0.9
            new.append(c)
        layer = new
    while len(layer) > 1:
        layer = [layer[i] + layer[i + 1] if i + 1 < len(layer) else layer[i]
                 for i in range(0, len(layer), 2)]
    return layer[0]


def w3_leaves(width, seed=1):
    rng = random.Random(seed)
    return ([rng.uniform(-1, 1) for _ in range(width)],
            [rng.uniform(-1, 1) for _ in range(width)])


def count_nodes(root):
    """Nodes of the graph: every Value reachable from root (leaves included)."""
    seen, stack = {id(root)}, [root]
    while stack:
        v = stack.pop()
        for c in v._prev:
            if id(c) not in seen:
                seen.add(id(c))
                stack.append(c)
    return len(seen)


def w3_timed(Value, sizes, repeats, gc_off=False):
    """W3 for any engine's Value, as both runners time it: per size, build a graph (min over
    the repeats) and backward through it, the collector run before each (untimed); gc_off:
    with the cyclic collector off while timed. {size: {build, backward, nodes}}."""
    import gc
    import time
    out = {}
    for n in sizes:
        xs, ws = w3_leaves(w3_width(n))
        plan = w3_plan(len(xs))
        builds, backs, nodes = [], [], 0
        for _ in range(repeats.get(str(n), 1)):
            gc.collect()                 # no garbage of an earlier graph in the timed region
            if gc_off:
                gc.disable()
            try:
                t = time.perf_counter()
                root = w3_build([Value(x) for x in xs], [Value(w) for w in ws], plan)
                t1 = time.perf_counter()
                root.backward()
                t2 = time.perf_counter()
            finally:
                gc.enable()
            builds.append(t1 - t)
            backs.append(t2 - t1)
            nodes = count_nodes(root)
            del root
        out[str(n)] = {"build": builds, "backward": backs, "nodes": nodes}
    return out


def w3_memory(Value, n_nodes):
    """Bytes an eager W3 graph of about n_nodes takes (tracemalloc), for any engine's Value:
    (nodes, bytes used, the weight leaves, the plan), so a caller can measure more on them."""
    import gc
    import tracemalloc
    xs, ws = w3_leaves(w3_width(n_nodes))
    plan = w3_plan(len(xs))
    xv, wv = [Value(x) for x in xs], [Value(w) for w in ws]
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    root = w3_build(xv, wv, plan)
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return count_nodes(root), used, xs, wv, plan


def w3_eager(n_nodes):
    """step() builds and backpropagates one graph; returns its node count."""
    from micrograd.engine import Value
    xs, ws = w3_leaves(w3_width(n_nodes))
    plan = w3_plan(len(xs))

    def step():
        root = w3_build([Value(x) for x in xs], [Value(w) for w in ws], plan)
        root.backward()
        return root
    return step


def w3_compiled(n_nodes):
    """(first_call, step): the trace+compile call, and a replay (forward + backward)."""
    import micrograd
    from micrograd.engine import Value
    xs, ws = w3_leaves(w3_width(n_nodes))
    plan = w3_plan(len(xs))
    wv = [Value(w) for w in ws]
    fn = micrograd.compile(lambda xs: w3_build(xs, wv, plan))

    def step():
        out = fn(xs)
        out.backward()
        return out
    return fn, step, xs, wv, plan
