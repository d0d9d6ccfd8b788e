"""Backpropagation by hand, one node at a time, as in the lecture: set o.grad = 1, then call each
node's _backward() from the output back to the inputs.

    python examples/02_manual_backprop.py
"""
from micrograd.engine import Value

# inputs x1, x2; weights w1, w2; the bias chosen in the lecture so that the numbers come out nicely
x1 = Value(2.0, label="x1")
x2 = Value(0.0, label="x2")
w1 = Value(-3.0, label="w1")
w2 = Value(1.0, label="w2")
b = Value(6.8813735870195432, label="b")
x1w1 = x1 * w1; x1w1.label = "x1*w1"
x2w2 = x2 * w2; x2w2.label = "x2*w2"
x1w1x2w2 = x1w1 + x2w2; x1w1x2w2.label = "x1*w1 + x2*w2"
n = x1w1x2w2 + b; n.label = "n"
o = n.tanh(); o.label = "o"

o.grad = 1.0                     # do/do
for node in (o, n, x1w1x2w2, x2w2, x1w1):
    node._backward()             # one chain-rule step: children.grad += local derivative * node.grad
    print(f"after {node.label:>14}._backward():  " +
          "  ".join(f"{c.label}.grad={c.grad:.4f}" for c in node._prev))

assert abs(x1.grad - -1.5) < 1e-12 and abs(w1.grad - 1.0) < 1e-12
assert abs(x2.grad - 0.5) < 1e-12 and w2.grad == 0.0
print("\nthe same grads as backward() gives; try it: reset the grads and call o.backward().")
