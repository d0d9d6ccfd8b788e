"""The fused training step: `micrograd.compile(loss_fn, optimizer=opt)`.

Each call runs the traced forward, checks the loss, runs the backward of the loss (the
program's C kernels, or numpy) and applies the optimizer's update in numpy, on a float64 array
of the parameters that the step owns:
no per-parameter Python work (no reading of p.data, no writing of p.grad, no zero_grad, no
Python update loop).

Numbers: with exact=True (the default) they are eager's, bit for bit: the same forward and
backward as `micrograd.compile(fn)`, every gradient starting at 0.0 (as after zero_grad), and
the optimizer's formula element by element in its own order (optimizers.py). With exact=False
the layers and the weight gradients are BLAS matrix products and exp/log/tanh numpy's: not
bit for bit, about 1e-15 relative per step (W1, W2: within 1e-14 of eager after 100 steps).

While the step trains, the model's Values and the optimizer's state are stale; `sync()` writes
them back (see TrainStep).
"""
import math
import threading
import weakref

import numpy as np

from micrograd.compiler.arguments import rebuild_outputs
from micrograd.compiler.function import CompiledFunction
from micrograd.compiler.optimizers import fused_optimizer


class NonFiniteLoss(ArithmeticError):
    """The loss of a fused step is NaN or infinite: the update was not applied.
    `.loss` is the loss, `.outputs` the call's outputs (StepResults)."""

    def __init__(self, message, loss=None, outputs=None):
        super().__init__(message)
        self.loss = loss
        self.outputs = outputs


class StepResult:
    """One output of a fused step: `.data`. Its backward has already run, and the update is
    applied: `.backward()` raises."""
    __slots__ = ("data",)

    def __init__(self, data):
        self.data = data

    def backward(self):
        raise RuntimeError("this result comes from a fused training step "
                           "(micrograd.compile(fn, optimizer=...)), which has already run "
                           "backward and applied the optimizer's update; do not call "
                           "backward(), zero_grad() or the optimizer's step() yourself (call "
                           "step.sync() to see the parameters and gradients)")

    def __float__(self):
        return self.data

    def __repr__(self):
        return f"StepResult(data={self.data})"


class TrainStep(CompiledFunction):
    """What `compile(fn, optimizer=opt)` returns. `step(*args)`: forward, check, backward,
    update; returns fn's structure of outputs as StepResults (`.data`). fn returns the loss,
    or a (nested) list/tuple whose first Value is the loss (the others, e.g. the scores, are
    returned along).

    The parameters live in the step while it trains; the model's Values (`.data`, `.grad`)
    and the optimizer's state (SGD's buffers; Adam's m, v, t) are stale until `sync()`:

        step.sync()     write them back; the Values hold the truth again until the next call

    Between a `sync()` and the next call you may read *and change* the parameters and the
    optimizer's state (evaluate, save, load a checkpoint, reset Adam): the next call reads
    them again. Without a sync, changes to p.data are not seen, and are overwritten by the
    next sync. A sync also happens before each new trace (the trace runs fn on the Values),
    and when the step is garbage-collected. `opt.lr` (and the other hyperparameters) are read
    at every call, so schedules that set opt.lr keep working.

    A NaN or infinite loss raises NonFiniteLoss before anything is applied; an error in the
    forward or the backward (eager's) leaves the parameters and the state as they were, and
    so does a KeyboardInterrupt (an update is stored all at once).
    Parameters that the optimizer does not hold are read from .data at every call and
    receive no gradient.

    For a loop that must look at the loss (and the outputs) before deciding to update, use
    the two halves: `outs = step.forward(*args)`, then `step.apply()`.
    """

    def __init__(self, fn, optimizer, static_argnums=(), strict=False, check=False,
                 exact=True, backend="auto"):
        super().__init__(fn, static_argnums=static_argnums, strict=strict, check=check,
                         exact=exact, backend=backend)
        self.optimizer = optimizer
        self._opt = fused_optimizer(optimizer)
        self._fused = {}          # Program -> _Fused
        self._pending = None      # (_Fused) after forward(), until apply()
        self._pending_thread = None   # the thread that called that forward()
        # write back when the step is dropped (not at interpreter exit)
        weakref.finalize(self, self._opt.sync).atexit = False

    def sync(self):
        """Write the parameters, their gradients of the last step and the optimizer's state
        back to the model's Values and to the optimizer. Returns the step. (A forward() not
        yet applied is dropped: the Values may change before the next call.)"""
        with self._lock:
            self._pending = None
            self._opt.sync()
        return self

    def __call__(self, *args, **kwargs):
        with self._lock:               # forward and apply as one: no other thread in between
            outs = self.forward(*args, **kwargs)
            loss = self._pending.loss
            if not math.isfinite(loss):
                self._pending = None
                raise NonFiniteLoss(f"loss became {loss}; the update was not applied", loss,
                                    outs)
            self.apply()
        return outs

    def forward(self, *args, **kwargs):
        """The forward half: the outputs for these arguments (the parameters as they are);
        nothing is applied until `apply()`, which must come from the same thread."""
        with self._lock:
            self._pending = None
            prog, flat = self._program(args, kwargs)
            if not self._opt.owned:
                self._opt.take()
            fused = self._fused.get(prog)
            if fused is None:
                fused = self._fused[prog] = _Fused(prog, self._opt)
            outs = fused.forward(flat, self._opt.theta)
            self._pending, self._pending_thread = fused, threading.get_ident()
            return rebuild_outputs(prog.tree, [StepResult(x) for x in outs])

    def apply(self):
        """The other half: backward of the loss of the last forward(), and the update."""
        with self._lock:
            fused, self._pending = self._pending, None
            if fused is None:
                raise RuntimeError("apply() needs a forward() first (once per forward)")
            if self._pending_thread != threading.get_ident():
                raise RuntimeError("apply() follows a forward() called by another thread, "
                                   "whose numbers are now in the step's buffers; call "
                                   "forward() and apply() from one thread (or call the step, "
                                   "which does both at once)")
            if not self._opt.owned:         # another fused step took the optimizer meanwhile
                raise RuntimeError("the parameters were synced to another fused step since "
                                   "forward(); call forward() again")
            self._opt.step(fused.gradients())

    def _drop_programs(self):
        super()._drop_programs()
        self._fused.clear()

    def _trace(self, key, parts):
        self.sync()         # the trace runs fn on the model's Values: they must be current
        return super()._trace(key, parts)


class _Fused:
    """A Program run by a fused step: parameters from the optimizer's array, gradients into an
    array in the optimizer's order."""

    def __init__(self, prog, opt):
        self.prog = prog
        index = {id(p): i for i, p in enumerate(opt.params)}
        # forward: the program's parameter slots, from theta (or, outside the optimizer, .data)
        pidx = np.array([index.get(id(p), -1) for p in prog.params], dtype=np.int64)
        self.params = prog.val[prog.p0:prog.p0 + prog.np_]
        self.own = np.flatnonzero(pidx >= 0)
        self.own_idx = pidx[self.own]
        self.all_own = len(self.own) == prog.np_
        self.extra = np.flatnonzero(pidx < 0)
        self.extra_values = [prog.params[i] for i in self.extra.tolist()]
        # backward of output 0 (the loss), gradients from 0.0, in the program's parameter
        # order: those of the optimizer go to its array (the others stay 0.0)
        self.bwd = bwd = prog.backward_program(0, fresh=True)
        self.leaf_idx = -1 if bwd.leaf_seed is None else index.get(id(bwd.leaf_seed), -1)
        self.grad = np.zeros(opt.n)
        self.covers_all = len(np.unique(self.own_idx)) == opt.n
        # the program's parameters are the optimizer's, in its order: no reordering at all
        self.same_order = (self.all_own and opt.n == prog.np_
                           and np.array_equal(self.own_idx, np.arange(opt.n)))
        self.loss = None

    def forward(self, flat, theta):
        prog = self.prog
        prog.put_inputs(flat)
        if self.same_order:
            np.copyto(self.params, theta)
        elif self.all_own:
            np.take(theta, self.own_idx, out=self.params)
        else:
            self.params[self.own] = theta[self.own_idx]
            self.params[self.extra] = [p.data for p in self.extra_values]
        outs = prog.forward()
        self.loss = outs[0]
        return outs

    def gradients(self):
        """The loss's gradients of the optimizer's parameters, in its order (0.0 elsewhere)."""
        grad = self.grad
        if self.bwd.kernel is not None:                   # C: no numpy warnings to silence
            new = self.bwd.fresh_gradients()
        else:
            with np.errstate(all="ignore"):
                new = self.bwd.fresh_gradients()
        if self.same_order and self.leaf_idx < 0:
            return new                                    # a view: the optimizer copies it
        if not self.covers_all:
            grad.fill(0.0)
        if self.all_own:
            grad[self.own_idx] = new
        else:
            grad[self.own_idx] = new[self.own]
        if self.leaf_idx >= 0:
            grad[self.leaf_idx] += 1.0
        return grad
