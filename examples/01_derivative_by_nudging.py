"""The lecture's first idea: a derivative is how much the output moves when you nudge an input.

    python examples/01_derivative_by_nudging.py
"""
from micrograd.engine import Value


def f(x):
    return 3 * x ** 2 - 4 * x + 5


h = 0.0001
x = 3.0
print(f"f(x) = 3x**2 - 4x + 5 at x = {x}: {f(x)}")
print(f"rise over run, (f(x + h) - f(x)) / h = {(f(x + h) - f(x)) / h:.6f}   (exact: 6x - 4 = 14)")

# The same question about the lecture's expression L = (a*b + c) * f, for every input.
inputs = {"a": 2.0, "b": -3.0, "c": 10.0, "f": -2.0}


def L(a, b, c, f):
    return (a * b + c) * f


base = L(**inputs)
print(f"\nL = (a*b + c) * f = {base}")
for name in inputs:
    nudged = dict(inputs, **{name: inputs[name] + h})
    print(f"  dL/d{name} ~ {(L(**nudged) - base) / h:9.5f}")

# backward() gets all four at once, exactly.
leaves = {name: Value(v, label=name) for name, v in inputs.items()}
out = L(**leaves)
out.backward()
print("backward():", ", ".join(f"dL/d{n} = {v.grad}" for n, v in leaves.items()))
assert [v.grad for v in leaves.values()] == [6.0, -4.0, -2.0, 4.0]
