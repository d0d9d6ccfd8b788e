"""Optimizers and learning-rate schedules.

The lecture's update is `p.data += -lr * p.grad`; `SGD()` with its defaults is exactly that.
`SGD` with momentum/weight decay and `Adam` follow PyTorch's formulas operation for operation
(torch.optim's single-tensor code path), so a micrograd run and a PyTorch run of the same
model agree to the last few bits, step after step. That makes PyTorch an oracle in the tests.

Schedules are plain functions of the step number k, set by hand each step:

    sched = linear_decay(1.0, 0.1, 100)
    for k in range(100):
        opt.lr = sched(k)       # the demo's lr = 1.0 - 0.9*k/100, bit for bit
"""
import math
from numbers import Real

from micrograd.engine import Value

# x ** y on two floats is the C library's pow. The static site's Python (Pyodide, musl) rounds
# some powers differently from glibc's; it swaps in glibc's here (micrograd/site/libm.py), so
# Adam's bias corrections and step decay give the Python lab's bits in the browser too.
power = pow

__all__ = ["Optimizer", "SGD", "Adam", "OPTIMIZERS",
           "constant", "linear_decay", "step_decay", "cosine", "SCHEDULES"]


def _check(name, x, low=0.0, high=None, high_open=True):
    """x must be a real number in [low, high) (or [low, high]); the error names the argument."""
    if isinstance(x, bool) or not isinstance(x, Real) or not math.isfinite(x) or x < low \
            or (high is not None and (x >= high if high_open else x > high)):
        bound = "" if high is None else f" and {'<' if high_open else '<='} {high}"
        raise ValueError(f"{name} must be a number >= {low}{bound}, got {x!r}")
    return float(x)


class Optimizer:
    """Holds the parameters and the learning rate; subclasses define `step()`."""

    def __init__(self, params, lr):
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, Value):
                raise ValueError(f"params[{i}] is a {type(p).__name__}, not a Value")
        if len(set(map(id, self.params))) != len(self.params):
            raise ValueError("a parameter appears more than once in params; "
                             "it would be updated twice per step")
        self.lr = lr

    @property
    def lr(self):
        return self._lr

    @lr.setter
    def lr(self, value):        # checked on every assignment: schedules set it each step
        self._lr = _check("lr", value)

    def zero_grad(self):
        for p in self.params:
            p.grad = 0.0

    def step(self):
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent, torch.optim.SGD's arithmetic:

        g = grad + weight_decay * p
        buf = g (first step), then momentum * buf + (1 - dampening) * g
        g = g + momentum * buf  if nesterov  else  buf
        p = p - lr * g
    """

    def __init__(self, params, lr=0.01, momentum=0.0, weight_decay=0.0, nesterov=False,
                 dampening=0.0):
        super().__init__(params, lr)
        self.momentum = _check("momentum", momentum, 0.0, 1.0)
        self.weight_decay = _check("weight_decay", weight_decay)
        self.dampening = _check("dampening", dampening, 0.0, 1.0, high_open=False)
        if nesterov and (self.momentum == 0 or self.dampening != 0):
            raise ValueError("nesterov=True needs momentum > 0 and dampening == 0")
        self.nesterov = bool(nesterov)
        self.buffers = [None] * len(self.params)

    def step(self):
        lr, mom, wd = self.lr, self.momentum, self.weight_decay
        for i, p in enumerate(self.params):
            g = p.grad
            if wd != 0:
                g = g + wd * p.data
            if mom != 0:
                buf = self.buffers[i]
                buf = g if buf is None else buf * mom + (1 - self.dampening) * g
                self.buffers[i] = buf
                g = g + mom * buf if self.nesterov else buf
            p.data = p.data + -lr * g


class Adam(Optimizer):
    """Adam (Kingma & Ba), torch.optim.Adam's arithmetic (no amsgrad), per parameter:

        g = grad + weight_decay * p
        m = m + (1 - beta1) * (g - m)          (torch's lerp)
        v = v * beta2 + (1 - beta2) * g * g
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        if len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        self.betas = (_check("betas[0]", betas[0], 0.0, 1.0),
                      _check("betas[1]", betas[1], 0.0, 1.0))
        self.eps = _check("eps", eps)
        self.weight_decay = _check("weight_decay", weight_decay)
        self.t = 0
        self.m = [0.0] * len(self.params)
        self.v = [0.0] * len(self.params)

    def step(self):
        self.t += 1
        (beta1, beta2), lr, wd, eps = self.betas, self.lr, self.weight_decay, self.eps
        step = float(self.t)
        bias_correction1 = 1 - power(beta1, step)
        bias_correction2 = 1 - power(beta2, step)
        step_size = lr / bias_correction1
        bias_correction2_sqrt = power(bias_correction2, 0.5)
        m, v = self.m, self.v
        for i, p in enumerate(self.params):
            g = p.grad
            if wd != 0:
                g = g + wd * p.data
            m[i] = m[i] + (1 - beta1) * (g - m[i])
            v[i] = v[i] * beta2 + (1 - beta2) * g * g
            denom = math.sqrt(v[i]) / bias_correction2_sqrt + eps
            p.data = p.data + -step_size * m[i] / denom


OPTIMIZERS = {"sgd": SGD, "adam": Adam}


# ---------------------------------------------------------------------------------------------
# Learning-rate schedules: k (0-based step number) -> lr
# ---------------------------------------------------------------------------------------------
def _steps(name, n):
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{name} must be a positive integer, got {n!r}")
    return n


def constant(lr):
    """The same lr at every step."""
    lr = _check("lr", lr)
    return lambda k: lr


def linear_decay(lr_start, lr_end, total_steps):
    """From lr_start at k=0 straight down towards lr_end at k=total_steps (held there after).

    Computed as lr_start - (lr_start - lr_end)*k/total_steps, so that linear_decay(1.0, 0.1, 100)
    is the demo's `1.0 - 0.9*k/100` to the bit."""
    lr_start, lr_end = _check("lr_start", lr_start), _check("lr_end", lr_end)
    total_steps = _steps("total_steps", total_steps)
    return lambda k: lr_start - (lr_start - lr_end) * min(k, total_steps) / total_steps


def step_decay(lr, gamma, every):
    """lr * gamma**(k // every): multiply by gamma every `every` steps (torch's StepLR)."""
    lr, gamma, every = _check("lr", lr), _check("gamma", gamma), _steps("every", every)
    return lambda k: lr * power(gamma, k // every)


def cosine(lr_start, lr_end, total_steps):
    """Half a cosine from lr_start down to lr_end over total_steps (torch's CosineAnnealingLR
    closed form), then held at lr_end."""
    lr_start, lr_end = _check("lr_start", lr_start), _check("lr_end", lr_end)
    total_steps = _steps("total_steps", total_steps)
    return lambda k: lr_end + (lr_start - lr_end) * (
        1 + math.cos(math.pi * min(k, total_steps) / total_steps)) / 2


SCHEDULES = {"constant": constant, "linear": linear_decay, "step": step_decay, "cosine": cosine}
