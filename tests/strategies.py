"""Hypothesis strategies shared by the property-based tests, and how far apart two right answers
to one of their programs may be.

`programs()` draws a random expression graph as a list of instructions over a growing pool of
nodes (so later nodes reuse earlier ones: shared subexpressions, a + a, fan-out). Every op is
guarded so that the whole real line is its domain: division by (x*x + 1), log of (x*x + 1),
exp of tanh(x). The same program runs on micrograd Values and on torch tensors.
"""
import sys

from hypothesis import strategies as st

from micrograd.engine import Value, grad

UNARY = {
    "neg": lambda a: -a,
    "tanh": lambda a: a.tanh(),
    "relu": lambda a: a.relu(),
    "sigmoid": lambda a: a.sigmoid(),
    "abs": lambda a: abs(a),
    "exp∘tanh": lambda a: a.tanh().exp(),
    "log(x²+1)": lambda a: (a * a + 1).log(),
    "square": lambda a: a ** 2,
    "cube/10": lambda a: a ** 3 * 0.1,
    "2*": lambda a: 2 * a,
    "1-": lambda a: 1 - a,
}
BINARY = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/(b²+1)": lambda a, b: a / (b * b + 1),
    "(a²+1)**tanh(b)": lambda a, b: (a * a + 1) ** b.tanh(),
}

floats = st.floats(min_value=-3.0, max_value=3.0, allow_nan=False, allow_infinity=False)


KINKED = {"relu", "abs"}   # not differentiable at one point: no use for central differences


@st.composite
def programs(draw, max_inputs=4, max_steps=12, smooth=False):
    unary = sorted(set(UNARY) - KINKED) if smooth else sorted(UNARY)
    n_inputs = draw(st.integers(1, max_inputs))
    xs = draw(st.lists(floats, min_size=n_inputs, max_size=n_inputs))
    steps = []
    for k in range(draw(st.integers(1, max_steps))):
        pool = n_inputs + k
        if draw(st.booleans()):
            steps.append((draw(st.sampled_from(unary)), draw(st.integers(0, pool - 1))))
        else:
            steps.append((draw(st.sampled_from(sorted(BINARY))),
                          draw(st.integers(0, pool - 1)), draw(st.integers(0, pool - 1))))
    return xs, steps


def run_program(steps, *inputs):
    """Evaluate the program on Values or tensors; the output sums the last three nodes."""
    pool = list(inputs)
    for name, *args in steps:
        fn = UNARY.get(name) or BINARY[name]
        pool.append(fn(*(pool[i] for i in args)))
    out = pool[-1]
    for extra in pool[-3:-1]:
        out = out + extra
    return out


# ---------------------------------------------------------------------------------------------
# How far apart two right answers may be. Two correct implementations (ours, PyTorch's) round
# each operation a little differently: basic arithmetic to the nearest float, exp/log/tanh/pow
# within an ulp or so. An error of e in an intermediate w moves the output y by about
# |dy/dw|·e, so the two may differ by about eps · Σ |dy/dw|·|w| over every intermediate w of y's
# computation: the magnitudes summed, each weighed by how much it matters. That sum is what a
# relative tolerance alone misses when the program cancels: ours -4.705241737571614e-07 and
# torch's -4.7052417375889e-07 are 3.7e-12 apart relatively, and both right to 1e-16 of the
# terms that were summed.
# ---------------------------------------------------------------------------------------------
EPS = sys.float_info.epsilon          # 2**-52: one ulp of 1.0, at most eps·|w| at w
ULPS = 16                             # per intermediate: up to 4 ulps of libm/sleef error on each
#                                       side, the two sides' errors added, and 2x to spare for
#                                       the first-order estimate (observed: below 2; see the test)


def nodes_of(y):
    """Every Value that y is computed from, y included (no recursion: graphs may be deep)."""
    seen, stack = {id(y): y}, [y]
    while stack:
        for child in stack.pop()._prev:
            if id(child) not in seen:
                seen[id(child)] = child
                stack.append(child)
    return list(seen.values())


def magnitude(y):
    """Σ |dy/dw|·|w| over every intermediate w of y: the scale y's rounding errors live on."""
    nodes = nodes_of(y)
    return sum(abs(d.data * w.data) for d, w in zip(grad(y, nodes), nodes))


def rounding_floor(y):
    """The absolute tolerance for y: ULPS ulps of the magnitudes that were summed to make it."""
    return ULPS * EPS * magnitude(y)


def floors(f, xs, order=1):
    """Our rounding floors for f(*xs) and for every derivative up to `order`, as
    {(): f, (i,): d f/d x_i, (i, j): d²f/d x_i d x_j, ...}: each derivative taken as the graph
    that computes it (create_graph), so its own rounding counts, the forward's included."""
    leaves = [Value(x) for x in xs]
    level = {(): f(*leaves)}
    out = dict(level)
    for _ in range(order):
        level = {idx + (i,): g for idx, y in level.items()
                 for i, g in enumerate(grad(y, leaves, create_graph=True))}
        out.update(level)
    return {idx: rounding_floor(v) for idx, v in out.items()}
