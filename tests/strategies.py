"""Hypothesis strategies shared by the property-based tests.

`programs()` draws a random expression graph as a list of instructions over a growing pool of
nodes (so later nodes reuse earlier ones: shared subexpressions, a + a, fan-out). Every op is
guarded so that the whole real line is its domain: division by (x*x + 1), log of (x*x + 1),
exp of tanh(x). The same program runs on micrograd Values and on torch tensors.
"""
from hypothesis import strategies as st

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
