"""relu and sigmoid written as the lecture writes tanh: a forward and its local derivative."""
import math

from micrograd.engine import Value


def relu(x):
    out = Value(0.0 if x.data < 0 else x.data, (x,), 'ReLU')

    def _backward():
        x.grad += (out.data > 0) * out.grad
    out._backward = _backward
    return out


def sigmoid(x):
    s = 1 / (1 + math.exp(-x.data))
    out = Value(s, (x,), 'sigmoid')

    def _backward():
        x.grad += s * (1 - s) * out.grad
    out._backward = _backward
    return out
