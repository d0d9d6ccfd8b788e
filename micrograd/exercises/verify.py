"""The checker's own re-check: fresh cases the checker computes itself, in its own process.

The checks run in the child process, beside the learner's code, and anything that process can
write the learner's code can write too: a file of theirs could report every check as passed, or
swap the checks for ones that do nothing. So "every check passes" is believed only when the
child also answers a challenge that the parent verifies itself: for a seed the parent draws at
random, the child runs the learner's code on fresh cases (random expressions, random weights,
random points) and reports only the raw numbers it got; the parent computes the same cases with
micrograd's engine and compares. To forge a pass, code must now compute the right numbers for
inputs it cannot know in advance, which is what a correct solution does (delegating to
micrograd's own engine does that too: that is a limit of any checker, not a forgery of this one).

    spec = challenge(name, seed)            # the parent: JSON data, sent to the child
    got = answers(name, learner, spec)      # the child: [[label, number], ...] from their code
    problem = verify(name, spec, got)       # the parent: None, or what differs
"""
import math
import random

from micrograd.engine import OPS, Value as EngineValue
from micrograd.exercises.checking import close, engine_run, num, pair, run_code
from micrograd.exercises.expressions import random_expression

CASES = 3          # fresh cases per run: enough that guessing is hopeless, cheap to compute


def challenge(name, seed):
    """The cases for one run of exercise `name`: plain JSON data drawn from `seed`."""
    rng = random.Random(seed)
    if name in ("value", "topo"):
        return {"expressions": [rng.randrange(10**6, 10**9) for _ in range(CASES)]}
    if name == "custom_op":
        return {"points": [round(rng.uniform(-3, 3), 3) or 0.5 for _ in range(CASES)]}
    if name in ("neuron", "mlp"):
        sizes = [3, 1] if name == "neuron" else [3, rng.randint(2, 4), rng.randint(2, 3), 1]
        weights = [[[round(rng.uniform(-1, 1), 4) for _ in range(nin + 1)] for _ in range(nout)]
                   for nin, nout in zip(sizes, sizes[1:])]
        return {"sizes": sizes, "weights": weights,
                "x": [round(rng.uniform(-2, 2), 3) for _ in range(sizes[0])]}
    if name == "training":
        return {"seed": rng.randrange(10**6),
                "xs": [[round(rng.uniform(-2, 2), 2) for _ in range(3)] for _ in range(4)],
                "ys": [rng.choice([-1.0, 1.0]) for _ in range(4)],
                "steps": 3, "lr": 0.05}
    raise ValueError(f"no challenge for exercise {name!r}")


# ---------------------------------------------------------------------------------------------
# the child: the learner's code on the cases, raw numbers only
# ---------------------------------------------------------------------------------------------
def _number(x):
    x = getattr(x, "data", x)
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def answers(name, learner, spec):
    """[[label, number or None], ...]: what the learner's code computes for the cases."""
    out = []
    if name in ("value", "topo"):
        for seed in spec["expressions"]:
            code, root, names = random_expression(seed)
            if name == "value":
                ns = run_code(code, learner.Value)
                ns[root].backward()
            else:
                ns = run_code(code, EngineValue)
                learner.backward(ns[root])
            for n in names:
                out += [[f"{n}.data", _number(ns[n])], [f"{n}.grad", _number(ns[n].grad)]]
    elif name == "custom_op":
        for fn in ("relu", "sigmoid"):
            for a in spec["points"]:
                x = EngineValue(a)
                y = getattr(learner, fn)(x)
                y.backward()
                out += [[f"{fn}({a}).data", _number(y)], [f"{fn}({a}) x.grad", _number(x.grad)]]
    elif name in ("neuron", "mlp"):
        sizes = spec["sizes"]
        model = learner.Neuron(sizes[0]) if name == "neuron" else learner.MLP(sizes[0], sizes[1:])
        layers = [[model]] if name == "neuron" else [layer.neurons for layer in model.layers]
        for neurons, ws in zip(layers, spec["weights"]):
            for n, w in zip(neurons, ws):
                for v, wi in zip(n.w, w[:-1]):
                    v.data = wi
                n.b.data = w[-1]
        y = model(spec["x"])
        ys = y if isinstance(y, (list, tuple)) else [y]
        out += [[f"output {i}", _number(v)] for i, v in enumerate(ys)]
    elif name == "training":
        model = _training_model(spec["seed"])
        losses = learner.train(model, spec["xs"], spec["ys"], spec["steps"], spec["lr"])
        out += [[f"parameter {i} after training", _number(p)]
                for i, p in enumerate(model.parameters())]
        out += [[f"loss {i}", _number(v)] for i, v in enumerate(list(losses)[:spec["steps"]])]
    return out


def _training_model(seed):
    from micrograd.nn import MLP
    state = random.getstate()
    random.seed(seed)
    try:
        return MLP(3, [4, 4, 1], activation="tanh", fused=False)
    finally:
        random.setstate(state)


# ---------------------------------------------------------------------------------------------
# the parent: the same cases on micrograd's engine
# ---------------------------------------------------------------------------------------------
def expected(name, spec):
    """The answers micrograd's engine gives: a list of acceptable answer lists (training
    accepts a summed or a mean squared error)."""
    out = []
    if name in ("value", "topo"):
        for seed in spec["expressions"]:
            code, root, names = random_expression(seed)
            ns = engine_run(code, root)
            for n in names:
                out += [[f"{n}.data", ns[n].data], [f"{n}.grad", ns[n].grad]]
        return [out]
    if name == "custom_op":
        for fn, op in (("relu", "ReLU"), ("sigmoid", "sigmoid")):
            row = OPS[op]
            for a in spec["points"]:
                y = row.forward(a)
                out += [[f"{fn}({a}).data", y], [f"{fn}({a}) x.grad", row.local_grads(y, a)[0]]]
        return [out]
    if name in ("neuron", "mlp"):
        x = [EngineValue(v) for v in spec["x"]]
        for ws in spec["weights"]:
            x = [sum((EngineValue(wi) * xi for wi, xi in zip(w[:-1], x)),
                     EngineValue(w[-1])).tanh() for w in ws]
        return [[[f"output {i}", v.data] for i, v in enumerate(x)]]
    if name == "training":
        return [_reference_training(spec, scale) for scale in (1.0, 1.0 / len(spec["ys"]))]
    raise ValueError(f"no challenge for exercise {name!r}")


def _reference_training(spec, scale):
    """The lecture's loop: squared error (summed, or its mean), zero_grad, backward, step."""
    model, losses = _training_model(spec["seed"]), []
    for _ in range(spec["steps"]):
        ypred = [model(x) for x in spec["xs"]]
        loss = sum((yout - ygt) ** 2 for ygt, yout in zip(spec["ys"], ypred)) * scale
        for p in model.parameters():
            p.grad = 0.0
        loss.backward()
        for p in model.parameters():
            p.data += -spec["lr"] * p.grad
        losses.append(loss.data)
    return [[f"parameter {i} after training", p.data] for i, p in enumerate(model.parameters())] \
        + [[f"loss {i}", v] for i, v in enumerate(losses)]


def verify(name, spec, got):
    """None when the child's raw answers match the engine's for these cases, else one line
    saying the first that differs."""
    problems = []
    for want in expected(name, spec):
        problem = _differs(want, got)
        if problem is None:
            return None
        problems.append(problem)
    return problems[0]


def _differs(want, got):
    if not isinstance(got, list) or len(got) != len(want):
        return (f"expected {len(want)} numbers, got "
                f"{len(got) if isinstance(got, list) else type(got).__name__}")
    for (label, w), item in zip(want, got):
        if not (isinstance(item, list) and len(item) == 2 and item[0] == label):
            return f"the answers are not in the checker's order (at {label})"
        g = item[1]
        if isinstance(g, bool) or not isinstance(g, (int, float)):
            return f"{label}: expected {num(w)}, yours {g!r}"
        if not (close(g, w) or (math.isnan(w) and math.isnan(g))):
            return f"{label}: {pair(w, g)}"
    return None
