"""microgpt's training step compiled once for every document: `CompiledTrainer`.

    trainer = CompiledTrainer(model, MicroGPTAdam(model.parameters(), steps=1000))
    for step in range(1000):
        loss = trainer(tok.encode(docs[step % len(docs)]))     # eager's loss, bit for bit
    trainer.sync()                 # the model's Values (and the optimizer) hold the truth again

Eagerly, a document's graph depends on its tokens (an embedding row is picked by list
indexing), so `micrograd.compile` would trace again for every new name. Here the tokens are
*inputs* of one program: the loss of a document of up to `positions` tokens is traced once,

    ids        the input token of each position           -> the engine's `take` op picks the
                                                              embedding rows (wte)
    targets    the next token of each position             -> `take` picks its probability
    others     per position and vocabulary entry, 0 at the target, 1 elsewhere (see below)
    weights    1 for the document's positions, 0 for the padding after it (a `take` of the
               position's loss or of 0)
    inv_n      1 / (the document's number of positions)

and a shorter document is padded: the padding adds 0 to the mean and 0 to every gradient, so
it changes no bit of the loss or of a gradient (x + 0 = x). Attention is causal, so the
padding after a document never reaches it. (Only where training has diverged can the padding
show: an overflow there, log of 0 or a NaN, is computed, and may give a NaN gradient or an
error a step before eager meets one of its own.) The step is `micrograd.compile(loss, optimizer=...)`: forward, backward and
microgpt's Adam (`FusedMicroGPTAdam`, one C loop) in one call, with eager's numbers bit for bit.

Bit for bit needs two more things, both about the order eager adds gradients in:

* softmax's shift is a node of the engine's `max` op while tracing (model.traced): a replay
  shifts by its own largest logit, not by the trace's number.
* eager's backward walks the graph from the loss, and the loss reaches the *target's* logit
  first (-log(exps[target] / sum)): so the gradient of the last hidden state adds the target
  logit's contribution after all the others. A program fixed for every target gets that order
  by computing the target's logit on a node of its own (its lm_head row picked by `take`),
  which the walk reaches first; each logit is then `take(others[j], [target's, its own])`, so
  its own node carries gradient 0 at the target and the target's node carries it alone.
"""
import os

import numpy as np

from micrograd.compiler import CompileError, compile as compile_step
from micrograd.compiler.cbuild import CUnavailable, find_compiler, load, start
from micrograd.compiler.optimizers import FusedOptimizer
from micrograd.engine import Value, linear
from micrograd.gpt.model import take, traced
from micrograd.gpt.training import MicroGPTAdam, cross_entropy

__all__ = ["CompiledTrainer", "FusedMicroGPTAdam", "padded_loss"]


def padded_loss(model, positions):
    """The loss of one document as a function of the inputs above (numbers or Values), for
    documents of up to `positions` tokens after BOS."""
    W = model.lm_head.weight
    columns = list(zip(*W))

    def loss(ids, targets, others, weights, inv_n):
        zero = Value(0.0)
        with traced():
            keys, values = model.kv_cache()
            losses = []
            for pos in range(positions):
                x = model.hidden(ids[pos], pos, keys, values)
                target = targets[pos]
                # the target's logit on a node of its own, which eager's order needs (above)
                picked = linear([take(target, col) for col in columns], x)
                logits = [take(others[pos][j], [picked, linear(w, x)]) for j, w in enumerate(W)]
                # the padding's loss is not multiplied by 0 but left out by a take, so that
                # not even an overflow there (a diverging run) reaches the document's loss
                losses.append(take(weights[pos], [zero, cross_entropy(logits, target)]))
            return inv_n * sum(losses)
    return loss


def numpy_meanwhile(prog):
    """"auto"'s c_gate (Program.c_gate): False (this step on numpy) while the program's C
    builds run *and* a processor is free for Python besides its compilers; else True (C: wait
    for the builds if they still run). Measured on two cores: the numpy steps (about 2.5 ms
    alone, 6-11 ms beside the compilers, against 0.45 ms in C) slow the compilers down more
    than they gain, so there the step waits, as before."""
    if prog.c_built():
        return True
    return prog.c_building() + 1 > _processors()


def _processors():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):             # pragma: no cover (not Linux)
        return os.cpu_count() or 1


class CompiledTrainer:
    """microgpt's train_step (forward, backward, Adam) on a program traced once.

    `trainer(tokens)` trains on one tokenized document (BOS, ids..., BOS), cut to the model's
    context as eager does, and returns its loss (a float, eager's bit for bit). The model's
    Values and the optimizer's state are stale while it trains: `sync()` writes them back
    (before saving, sampling or evaluating); the next call reads them again.

    positions   the longest document (in positions, at most block_size) the program is
                traced for; a longer one traces once more, at block_size. Default block_size.
    backend     "auto" (generated C where a C compiler is found, else numpy; while the C
                compiler runs, steps on numpy if a processor is free for them: see
                numpy_meanwhile), "c" (waits for the C compiler) or "numpy". The same numbers.
    """

    def __init__(self, model, optimizer, positions=None, backend="auto"):
        if not isinstance(optimizer, MicroGPTAdam):
            raise TypeError(f"CompiledTrainer needs a MicroGPTAdam, got "
                            f"{type(optimizer).__name__}")
        block = model.config.block_size
        positions = block if positions is None else positions
        if isinstance(positions, bool) or not isinstance(positions, int) \
                or not 1 <= positions <= block:
            raise ValueError(f"positions must be an integer from 1 to the block size {block}, "
                             f"got {positions!r}")
        self.auto = backend == "auto"
        # "auto" need not wait for the C compiler: the steps may run on numpy (the same
        # numbers) until the C builds, in the background, are done, then on C (see
        # numpy_meanwhile). "c" waits for them.
        self.c_gate = numpy_meanwhile if self.auto else None
        if self.auto:
            # one program serves the whole run: its C compile is paid once, whatever its size
            backend = "c" if find_compiler() is not None else "numpy"
        if backend == "c":
            _adam_kernel(background=True)   # builds while the program is traced
        self.model, self.optimizer, self.positions = model, optimizer, positions
        self.vocab = model.config.vocab_size
        self._steps = {}
        self._inputs = {}
        self._backend = backend

    def _step_for(self, positions):
        step = self._steps.get(positions)
        if step is None:
            step = compile_step(padded_loss(self.model, positions), optimizer=self.optimizer,
                                backend=self._backend)
            step.c_gate = self.c_gate
            if self.c_gate is not None:
                step._opt.wait_for_c = False
            self._steps[positions] = step
        return step

    def inputs(self, tokens, positions):
        """The program's numbers for one document (see the module's docstring), in arrays
        kept per program (the step copies them in)."""
        n = min(self.model.config.block_size, len(tokens) - 1)
        if n < 1:
            raise ValueError("a document needs at least two tokens (BOS ... BOS)")
        tokens = list(tokens[:n + 1])
        vocab = self.vocab
        for t in tokens:
            if not (0 <= t < vocab and t == int(t)):
                raise ValueError(f"token ids must be whole numbers from 0 to {vocab - 1}")
        bufs = self._inputs.get(positions)
        if bufs is None:
            bufs = self._inputs[positions] = (np.zeros(positions), np.zeros(positions),
                                              np.ones((positions, vocab)), np.zeros(positions),
                                              np.zeros(()))
        ids, targets, others, weights, inv_n = bufs
        ids.fill(0.0)
        targets.fill(0.0)
        weights.fill(0.0)
        others.fill(1.0)
        ids[:n], targets[:n], weights[:n] = tokens[:n], tokens[1:], 1.0
        others[range(positions), targets.astype(np.int64)] = 0.0
        inv_n[()] = 1 / n                                          # eager's 1 / n
        return bufs

    def __call__(self, tokens):
        n = min(self.model.config.block_size, len(tokens) - 1)
        positions = self.positions if n <= self.positions else self.model.config.block_size
        inputs = self.inputs(tokens, positions)
        step = self._step_for(positions)
        if len(self._steps) > 1:                   # the other program holds the parameters
            for other in self._steps.values():
                if other is not step:
                    other.sync()
        try:
            return step(*inputs).data
        except CompileError:
            if not (self.auto and self._backend == "c"):
                raise
        # "auto", and the C compiler failed after all: numpy, the same numbers
        self.sync()
        self._steps.clear()
        self._backend = "numpy"
        return self._step_for(positions)(*inputs).data

    def sync(self):
        """Write the parameters and the optimizer's state back to the model and optimizer."""
        for step in self._steps.values():
            step.sync()
        return self

    def stats(self):
        """The compiled programs' stats (micrograd.compile's), one dict per traced program."""
        return [s for step in self._steps.values() for s in step.stats()]


# ---------------------------------------------------------------------------------------------
# microgpt's Adam on arrays
# ---------------------------------------------------------------------------------------------
_ADAM_C = r"""#include <math.h>
#include <stdint.h>
#include <string.h>
/* Python's x ** 2 and x ** 0.5 are libm's pow, which is not always the correctly rounded
   x * x or sqrt(x) (about 1 x in 1000 differs in the last bit): the update must call it where
   they may differ, but need not elsewhere. With r the correctly rounded result and e the exact
   distance from it to the true value (an fma gives it exactly), pow (error below 0.6 units in
   the last place, as glibc's 0.52 and every libm of note) can only return r when |e| is within
   0.4 units of r's last place: the other neighbour is more than 0.6 units away. Elsewhere,
   and outside the normal range, pow itself. */
static double ulp_of(double r) {    /* r > 0, normal; at a power of two, the unit below */
  uint64_t bits;
  memcpy(&bits, &r, sizeof bits);
  uint64_t top = bits & 0x7ff0000000000000u;       /* 2 ** exponent(r) */
  double power;
  memcpy(&power, &top, sizeof power);
  return r == power ? power * 0x1p-53 : power * 0x1p-52;
}

static double square(double x) {                   /* pow(x, 2.0), bit for bit */
  double r = x * x;
  if (r > 0x1p-900 && r < 0x1p1000 && fabs(fma(x, x, -r)) <= 0.4 * ulp_of(r)) return r;
  return pow(x, 2.0);
}

static double root(double x) {                     /* pow(x, 0.5), bit for bit */
  if (x > 0x1p-900 && x < 0x1p1000) {
    double r = sqrt(x);
    /* the true root is r + e / (2r) near enough, with e = x - r*r exactly */
    if (fabs(fma(-r, r, x)) <= 0.8 * r * ulp_of(r)) return r;
  }
  return pow(x, 0.5);
}

/* microgpt's Adam, element by element in its own order. s: beta1, beta2, 1 - beta1,
   1 - beta2, bias1, bias2, lr_t, eps, n. */
int adam(const double *p, const double *m, const double *v, const double *g, const double *s,
         double *p2, double *m2, double *v2) {
  long n = (long)s[8];
  for (long i = 0; i < n; i++) {
    double gi = g[i];
    double mi = s[0] * m[i] + s[2] * gi;
    double vi = s[1] * v[i] + s[3] * square(gi);
    double m_hat = mi / s[4], v_hat = vi / s[5];
    m2[i] = mi;
    v2[i] = vi;
    p2[i] = p[i] - s[6] * m_hat / (root(v_hat) + s[7]);
  }
  return 0;
}

/* For the tests: square and root of each x, as the update computes them. */
int powers(const double *x, const double *n, double *sq, double *rt) {
  for (long i = 0; i < (long)n[0]; i++) {
    sq[i] = square(x[i]);
    rt[i] = root(x[i]);
  }
  return 0;
}
"""
_KERNEL = {}


def _adam_kernel(background=False, wait=True):
    """The C loop of the update, built once (None without a C compiler: numpy instead).
    background: start the build and return at once. wait=False: None while it builds (the
    caller runs numpy: the same numbers)."""
    if "adam" not in _KERNEL:
        build = _KERNEL.get("build")
        if build is None:
            try:
                build = _KERNEL["build"] = start(_ADAM_C) or True
            except CUnavailable:
                _KERNEL["adam"] = None
                return None
        if background or not (wait or build is True or build.done()):
            return None
        try:
            fns = load(_ADAM_C, {"adam": 8, "powers": 4}, build=None if build is True else build)
            _KERNEL["adam"], _KERNEL["powers"] = fns["adam"], fns["powers"]
        except CUnavailable:
            _KERNEL["adam"] = None
    return _KERNEL["adam"]


class FusedMicroGPTAdam(FusedOptimizer):
    """MicroGPTAdam on float64 arrays, for micrograd.compile(fn, optimizer=MicroGPTAdam):

        m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g ** 2
        p = p - lr_t * (m / bias1) / ((v / bias2) ** 0.5 + eps)

    one C loop (each operation rounding as Python's, ** as libm's pow as Python's: x * x or
    sqrt where pow cannot differ from them, see _ADAM_C), or numpy with the two powers
    through Python's own ** where there is no C compiler (or, with wait_for_c False, while
    the C loop is being built)."""
    wait_for_c = True

    def _take_state(self):
        opt = self.opt
        self.t = opt.step_count
        self.m = np.array(opt.m, dtype=np.float64)
        self.v = np.array(opt.v, dtype=np.float64)
        # the C loop writes the new arrays aside, into these, then they are swapped in
        self._spare = (np.empty(self.n), np.empty(self.n), np.empty(self.n))
        self._zeros = np.zeros(self.n)

    def step(self, grad):
        """One update (grad is read at once: no copy of it is needed)."""
        self._update(grad)

    def _sync_state(self):
        opt = self.opt
        opt.step_count = self.t
        opt.m[:] = self.m.tolist()
        opt.v[:] = self.v.tolist()

    def _update(self, grad):
        opt = self.opt
        step, (beta1, beta2), eps = self.t, opt.betas, opt.eps
        lr_t = opt.lr_at(step)                       # the scalars as MicroGPTAdam.step has them
        bias1, bias2 = 1 - beta1 ** (step + 1), 1 - beta2 ** (step + 1)
        kernel = _adam_kernel(wait=self.wait_for_c)
        if kernel is not None:
            theta, m, v = self._spare
            s = np.array([beta1, beta2, 1 - beta1, 1 - beta2, bias1, bias2, lr_t, eps, self.n],
                         dtype=np.float64)
            g = np.ascontiguousarray(grad, dtype=np.float64)
            kernel(self.theta.ctypes.data, self.m.ctypes.data, self.v.ctypes.data,
                   g.ctypes.data, s.ctypes.data, theta.ctypes.data, m.ctypes.data,
                   v.ctypes.data)
        else:
            g2 = np.array([x ** 2 for x in grad.tolist()])
            m = beta1 * self.m + (1 - beta1) * grad
            v = beta2 * self.v + (1 - beta2) * g2
            root = np.array([x ** 0.5 for x in (v / bias2).tolist()])
            theta = self.theta - lr_t * (m / bias1) / (root + eps)
        # eager's step leaves every .grad at 0.0: so does a sync. One store swaps the new
        # arrays in (and the old ones out, to be written next time)
        self.theta, self.m, self.v, self._spare, self.t, self.grad, self.dirty = (
            theta, m, v, (self.theta, self.m, self.v), step + 1, self._zeros, True)
