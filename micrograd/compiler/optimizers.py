"""micrograd.optim's SGD and Adam on float64 arrays, for the fused training step (another
optimizer brings its own FusedOptimizer subclass through a `fused_optimizer()` method, as
micrograd.gpt's MicroGPTAdam does).

`FusedOptimizer` holds the parameters (`theta`), their gradients (`grad`) and the optimizer's
state as arrays. Its update is micrograd.optim's formula written as one numpy operation per
Python operation, in the same order, so every element rounds exactly as the per-parameter
Python loop does: the same floats, bit for bit.

Who holds the truth: after `take()` the arrays do (the model's Values and the optimizer's lists
are stale while training); `sync()` writes them back and hands the truth back to the Values
until the next `take()`. An update builds the new arrays aside and swaps them in with plain
attribute stores (no call in between, so no signal handler runs there): a KeyboardInterrupt
leaves the step either done or not done, never half done.
"""
import weakref
from operator import attrgetter

import numpy as np

from micrograd import optim

_getdata = attrgetter("data")
# optimizer -> the FusedOptimizer that last took it: two fused steps sharing an optimizer hand
# the truth over (the one that holds it syncs first)
_OWNER = weakref.WeakKeyDictionary()


def fusable(opt):
    """Is opt an optimizer whose update the fused step knows (exactly SGD or Adam, or one that
    brings its own array version: a `fused_optimizer()` method)?"""
    return type(opt) in (optim.SGD, optim.Adam) or callable(getattr(opt, "fused_optimizer",
                                                                   None))


def fused_optimizer(opt):
    if type(opt) is optim.SGD:
        return FusedSGD(opt)
    if type(opt) is optim.Adam:
        return FusedAdam(opt)
    own = getattr(opt, "fused_optimizer", None)     # e.g. micrograd.gpt's MicroGPTAdam
    if callable(own):
        fused = own()
        if not isinstance(fused, FusedOptimizer):
            raise TypeError(f"{type(opt).__name__}.fused_optimizer() must return a "
                            f"FusedOptimizer, got {type(fused).__name__}")
        return fused
    raise TypeError(f"the fused training step supports micrograd.optim.SGD and Adam "
                    f"(exactly those classes) and optimizers with a fused_optimizer() method, "
                    f"got {type(opt).__name__}; use micrograd.compile(fn) and call the "
                    f"optimizer yourself")


class FusedOptimizer:
    """params: the optimizer's parameters (its order); theta, grad: their values and
    gradients; owned: whether the arrays hold the truth; dirty: steps since the last take()."""

    def __init__(self, opt):
        self.opt = opt
        self.params = list(opt.params)
        self.n = len(self.params)
        self.theta = np.empty(self.n)
        self.grad = np.zeros(self.n)
        self.owned = False
        self.dirty = False

    def take(self):
        """Read the parameters' .data and the optimizer's state: the arrays hold the truth."""
        if len(self.opt.params) != self.n or any(
                p is not q for p, q in zip(self.opt.params, self.params)):
            raise RuntimeError("the optimizer's parameter list changed after the training step "
                               "was compiled; compile a new step for the new parameters")
        other = _OWNER.get(self.opt)
        if other is not None and other is not self and other.owned:
            other.sync()
        _OWNER[self.opt] = self
        self.theta = np.fromiter(map(_getdata, self.params), dtype=np.float64, count=self.n)
        self._take_state()
        self.owned, self.dirty = True, False

    def sync(self):
        """Write the parameters (.data), their last gradients (.grad) and the optimizer's state
        back, if a step ran since take(). The Values hold the truth again."""
        if self.dirty:
            for p, x, g in zip(self.params, self.theta.tolist(), self.grad.tolist()):
                p.data = x
                p.grad = g
            self._sync_state()
        self.owned = self.dirty = False

    def step(self, grad):
        """One update with the gradients `grad` (copied; the optimizer's hyperparameters,
        lr included, are read now). Every new array is stored in one go, with `dirty`."""
        self._update(grad.copy())

    def _take_state(self):
        raise NotImplementedError

    def _sync_state(self):
        raise NotImplementedError

    def _update(self, grad):
        raise NotImplementedError


class FusedSGD(FusedOptimizer):
    """optim.SGD: g = grad + wd*p; buf = g (first step) or buf*momentum + (1 - dampening)*g;
    g = g + momentum*buf (nesterov) or buf; p = p + -lr*g."""

    def _take_state(self):
        bufs = self.opt.buffers
        self.has = np.array([b is not None for b in bufs], dtype=bool)
        self.buf = np.array([0.0 if b is None else b for b in bufs], dtype=np.float64)

    def _sync_state(self):
        self.opt.buffers[:] = [b if h else None
                               for b, h in zip(self.buf.tolist(), self.has.tolist())]

    def _update(self, grad):
        opt = self.opt
        lr, mom, wd = opt.lr, opt.momentum, opt.weight_decay
        theta, g = self.theta, grad
        mul, add = np.multiply, np.add
        if wd != 0:
            g = add(g, mul(theta, wd))                       # g + wd * p
        buf, has = self.buf, self.has
        if mom != 0:
            new = add(mul(buf, mom), mul(g, 1 - opt.dampening))   # buf*mom + (1 - d)*g
            if has.all():
                buf = new
            else:
                buf = np.where(has, new, g)                    # first step: buf = g
                has = np.ones(self.n, dtype=bool)
            g = add(g, mul(buf, mom)) if opt.nesterov else buf
        theta = add(theta, mul(g, -lr))                        # p + -lr * g
        self.theta, self.buf, self.has, self.grad, self.dirty = theta, buf, has, grad, True


class FusedAdam(FusedOptimizer):
    """optim.Adam: t += 1; g = grad + wd*p; m = m + (1 - b1)*(g - m);
    v = v*b2 + (1 - b2)*g*g; p = p + -(lr / (1 - b1**t))*m / (sqrt(v)/sqrt(1 - b2**t) + eps)."""

    def _take_state(self):
        opt = self.opt
        self.t = opt.t
        self.m = np.array(opt.m, dtype=np.float64)
        self.v = np.array(opt.v, dtype=np.float64)

    def _sync_state(self):
        opt = self.opt
        opt.t = self.t
        opt.m[:] = self.m.tolist()
        opt.v[:] = self.v.tolist()

    def _update(self, grad):
        opt = self.opt
        t = self.t + 1
        (beta1, beta2), lr, wd, eps = opt.betas, opt.lr, opt.weight_decay, opt.eps
        step = float(t)                     # the scalars exactly as optim.Adam computes them
        bias_correction1 = 1 - beta1 ** step
        bias_correction2 = 1 - beta2 ** step
        step_size = lr / bias_correction1
        bias_correction2_sqrt = bias_correction2 ** 0.5
        theta, g, m, v = self.theta, grad, self.m, self.v
        mul, add = np.multiply, np.add
        if wd != 0:
            g = add(g, mul(theta, wd))                         # g + wd * p
        m = add(m, mul(np.subtract(g, m), 1 - beta1))          # m + (1 - b1) * (g - m)
        v = add(mul(v, beta2), mul(mul(g, 1 - beta2), g))      # v*b2 + ((1 - b2)*g)*g
        denom = add(np.divide(np.sqrt(v), bias_correction2_sqrt), eps)
        theta = add(theta, np.divide(mul(m, -step_size), denom))   # p + (-s*m)/denom
        self.theta, self.m, self.v, self.t, self.grad, self.dirty = theta, m, v, t, grad, True
