"""The lecture's own training run: a 3-4-4-1 tanh MLP learns four targets by gradient descent.

    python examples/04_lecture_mlp.py

Exactly the lecture's loop: forward pass, the loss as the SUM of squared errors (the lecture's
`sum((yout - ygt)**2 ...)`, not the mean), zero_grad *before* backward (forgetting it is the
bug the lecture runs into), then `p.data += -0.1 * p.grad`. The lecture runs 20 steps and
looks; here we keep going until the loss is below 0.01 and exit non-zero if it never gets there.
(The library spelling of the update is micrograd.optim.SGD(n.parameters(), lr=0.1).step().)
"""
import random
import sys

from micrograd.nn import MLP

TARGET = 0.01
MAX_STEPS = 200
LEARNING_RATE = 0.1

random.seed(1337)
n = MLP(3, [4, 4, 1], activation="tanh")      # the lecture's net: tanh everywhere

xs = [
    [2.0, 3.0, -1.0],
    [3.0, -1.0, 0.5],
    [0.5, 1.0, 1.0],
    [1.0, 1.0, -1.0],
]
ys = [1.0, -1.0, -1.0, 1.0]                    # desired targets

print(f"MLP(3, [4, 4, 1]) with tanh, {len(n.parameters())} parameters; "
      f"lr {LEARNING_RATE}, until loss < {TARGET}")
for k in range(MAX_STEPS):
    # forward pass
    ypred = [n(x) for x in xs]
    loss = sum((yout - ygt) ** 2 for ygt, yout in zip(ys, ypred))
    print(f"step {k:3d}  loss {loss.data:.6f}")
    if loss.data < TARGET:
        break

    # backward pass
    n.zero_grad()                              # p.grad = 0.0 for every parameter
    loss.backward()

    # update
    for p in n.parameters():
        p.data += -LEARNING_RATE * p.grad

print("targets:    ", ys)
print("predictions:", [round(y.data, 4) for y in ypred])
if loss.data >= TARGET:
    print(f"FAILED: loss {loss.data:.6f} is still >= {TARGET} after {MAX_STEPS} steps",
          file=sys.stderr)
    sys.exit(1)
print(f"reached loss {loss.data:.6f} < {TARGET} after {k} updates")
