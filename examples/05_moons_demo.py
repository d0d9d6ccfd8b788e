"""The original micrograd demo notebook (demo.ipynb) as a short script on the library.

    python examples/05_moons_demo.py                  # train, print every step
    python examples/05_moons_demo.py boundary.png     # ... and draw the decision boundary

An MLP(2, [16, 16, 1]) learns to separate the two moons with the SVM "max-margin" loss and a
little L2, by full-batch gradient descent whose learning rate decays from 1.0 to 0.1. Every
number printed is bit for bit the notebook's (step 0: loss 0.8958441028683222, accuracy 50.0%).
`micrograd demo` runs the same thing and also saves the model, the curves and an animation.
"""
import random
import sys

import numpy as np

from micrograd import data, losses, optim
from micrograd.engine import Value
from micrograd.nn import MLP

np.random.seed(1337)
random.seed(1337)

# make up a dataset: 100 points in two interleaving half moons, labels -1 / +1
X, y = data.make_moons(n_samples=100, noise=0.1)
y = y * 2 - 1

# initialize a model: two hidden layers of 16 ReLU neurons, one linear output
model = MLP(2, [16, 16, 1])
print(model)
print("number of parameters", len(model.parameters()))


def loss():
    """Full batch: the hinge loss of every point's score, plus L2 regularisation."""
    inputs = [list(map(Value, xrow)) for xrow in data.as_rows(X)]
    scores = list(map(model, inputs))
    data_loss = losses.hinge(scores, y.tolist())        # mean((1 - y*score).relu())
    reg_loss = losses.l2(model.parameters(), alpha=1e-4)  # 1e-4 * sum(p*p)
    total_loss = data_loss + reg_loss
    accuracy = [(yi > 0) == (scorei.data > 0) for yi, scorei in zip(y, scores)]
    return total_loss, sum(accuracy) / len(accuracy)


optimizer = optim.SGD(model.parameters(), lr=1.0)      # p.data -= lr * p.grad
schedule = optim.linear_decay(1.0, 0.1, 100)           # lr = 1.0 - 0.9*k/100

for k in range(100):
    # forward
    total_loss, acc = loss()

    # backward
    model.zero_grad()
    total_loss.backward()

    # update (sgd)
    optimizer.lr = schedule(k)
    optimizer.step()

    if k % 1 == 0:
        print(f"step {k} loss {total_loss.data}, accuracy {acc*100}%")

total_loss, acc = loss()
print(f"after 100 steps: loss {total_loss.data:.6f}, accuracy {acc:.0%}")
if acc < 1.0:
    sys.exit("the demo should reach 100% training accuracy")

if len(sys.argv) > 1:                                   # the notebook's last cell
    from micrograd.viz.plots import plot_decision_boundary
    plot_decision_boundary(model, X, y, sys.argv[1])
    print("wrote", sys.argv[1])
