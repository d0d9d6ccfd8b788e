"""micrograd.compile: trace a function of Values once, then replay it as generated C (or numpy).

    import micrograd
    loss = micrograd.compile(loss)        # loss(X, y) -> Value, the function you train with
    total = loss(X, y)                    # X, y: numbers, (nested) lists / arrays of numbers
    model.zero_grad()
    total.backward()                      # fills p.grad of every parameter, exactly as eager

    step = micrograd.compile(loss, optimizer=opt)   # a fused training step (SGD or Adam)
    for k in range(steps):
        opt.lr = schedule(k)              # read at every call
        step(X, y)                        # forward, backward and the update, in one call
    step.sync()                           # write p.data, p.grad, opt's state back

How it works
------------
On the first call for a given *structure* of arguments (shapes, lengths, container types) the
function runs once eagerly on fresh leaf Values, one per number in the arguments (the
"inputs"). The graph it builds becomes a flat program over one float64 array: nodes are
level-scheduled (a node's level is one more than its deepest input), the nodes of one level
and one operation form a group, and each group runs as one loop nest (C) or one vectorized
numpy operation. Every operation is its row of the op table, interpreted (rows.py): the
row's own forward and local_grads run on numpy arrays, or write the C source, so the compiler
holds no op's math of its own, and an `Op` of yours compiles like a built-in one. A
left-nested chain of `+` (what `sum(...)` builds) becomes one n-ary sum; such a chain over
products that only it reads, sum((wi*xi for ...), b) (a neuron built the lecture's way, nn's
fused=False), becomes a fused neuron ('w·x+b'), so both kinds of model
compile to the same program; a group of fused neurons whose weights and inputs vary along
different axes (a layer over a batch) runs as one contraction. Later calls with the same
structure copy the new numbers in, re-read the parameters' `.data`, and replay (a function
traced before one of its ops' rows was replaced traces again). `.backward()` on a result runs
the chain rule group by group, from the last level down, and adds into every parameter's
`.grad`. `cfn.stats()` tells the size of each traced graph, its backend and where the compile
time went.

Backends ("auto", the default, picks by itself; `backend=` forces one): "c" writes each
program out as C (cgen.py: a loop nest per group over contiguous slots, affine operands as
constants, others through an index table) and builds it with the system's C compiler at
-O2 -ffp-contract=off -fno-builtin-pow, no -ffast-math, into a per-user private cache
(cbuild.py); the same libm exp/log/tanh/pow as Python's math. "numpy" is used without a
compiler, for an op whose row is not written with arithmetic, comparisons and
micrograd.primitives (one that calls math.* itself: `stats()` names it), for programs of more
than cgen.MAX_GROUPS groups (unless backend="c" is asked for: then built at -Og, cbuild's
QUICK_FLAGS, the forward in the background while the backward is generated), and with
exact=False. Both give the same bits; where a C kernel
meets what eager would refuse (a division by 0, exp or a power overflowing, log of 0), it
hands over to numpy, which raises eager's error.

Exactness: the replay gives the eager engine's numbers *bit for bit* (up to the sign of a zero
gradient), so a training run compiled and eager ends in the same weights. Every sum adds in
eager's order: forward sums left to right, every gradient in the order eager's backward visits
the consumers (reversed topological order, then input position), with order-preserving
reductions only (a numpy reduction or einsum is used only after checking, on operands of the
same memory layout, that numpy adds one term after the other; never BLAS, never pairwise sums).
On numpy, the functions numpy cannot reproduce bit for bit (exp, log, tanh, **) go element
by element through Python's math; a row that is not written for arrays runs element by
element. A compiled program computes in float64: where eager keeps an int (int arithmetic on
int data), the compiled value is the same number as a float (so 0, not -0.0, may differ in
sign).

Errors are eager's: log of 0, overflow in exp or in a power, 0 ** -1, a negative base to a
fractional power, division by 0 raise the same exception with the same message as eager (if
several nodes fail, the replay may name another of them than eager would), in the forward, or
in backward() where eager's backward fails (a derivative that does not exist, such as that of
x ** 0.5 at 0, is an error even when no parameter needs it, as in eager).

What is baked in at trace time
------------------------------
* The graph's shape: Python control flow on `.data` (`if x.data > 0`, `max(z.data for ...)`,
  early exits, loops whose length depends on values) runs once, at trace time, and the branch
  it took is replayed forever. Only the numbers flow through the replay.
* Indexing: `table[int(i.data)]` picks its entry at trace time; `engine.take(i, table)` (a
  row of the op table) is a node, so i is an input and a replay picks by its new value.
* Constants: numbers created inside the function (`1 + x`, `alpha * reg`, a float computed from
  `.data`) keep their trace-time value. (The package's softmax_cross_entropy shifts by a
  `max` node instead, which a replay recomputes.)
* Parameters: leaves that something outside the graph still refers to (the model's weights,
  reached through the function's closure) are re-read from `.data` at every call and receive
  gradients. A leaf that nothing outside the graph refers to cannot change: it is a constant.
* What the result does not depend on is not replayed (nor are its errors). Everything it
  depends on is recomputed from the leaves, even an intermediate Value cached from an earlier
  graph.

Arguments: numbers (int, float, numpy scalars) and (nested) lists, tuples and numpy arrays of
them are inputs; the function sees them as Values in the same containers (numpy arrays as
nested lists). Anything else (str, None, bool, other hashable objects) and the positions named in
`static_argnums` are static: part of the cache key, passed through as they are. A new structure
traces again (`cfn.trace_count` counts traces), unless `strict=True`, which refuses it. Write
the function on plain numbers, as the engine allows (`model(row)` with a row of floats lifts
them to Values): eagerly they are constants, traced they are the inputs.

Refused with `CompileError`: Values among the arguments (pass parameters through the closure),
a function returning something other than a Value or (nested) lists/tuples of Values, and graph
nodes whose backward is a hand-written closure (`v._backward = fn`) or that have no rule.

Results: the call returns the function's structure with each Value replaced by a `Result`
(`.data`, `.backward()`). A `Result` belongs to its call: once the same compiled function has
been called again with the same structure (by any thread), the old result's `backward()`
raises. A compiled function runs one call at a time (a lock: each traced structure owns its
buffers), so threads sharing it each get their own numbers; a fused step's forward() and
apply() must come from the same thread. Deep, narrow graphs (long chains, one node per level)
replay node by node and gain little.

The fused training step
-----------------------
`compile(loss, optimizer=opt)` (opt a micrograd.optim.SGD or Adam) returns a `TrainStep`: each
call replays the forward, refuses a NaN/infinite loss (NonFiniteLoss, nothing applied), runs
the backward of the loss with every gradient starting at 0.0 (on the C backend, one kernel
each), and applies the optimizer's update on a float64 array of the parameters that the step
owns, with no per-parameter Python work at all. The parameters live there while training:
the model's Values and the optimizer's state are stale until `step.sync()` (or the next
trace, or the step being dropped), and a change to them counts only if made after a sync.
Bit for bit eager's numbers, as above.

exact=False (here or for a plain compiled function) gives up bit-for-bit for speed: a layer of
neurons is a BLAS matrix product (in a fused step, its weight gradients too), exp/log/tanh are
numpy's (so it runs on numpy). Agrees with eager to about 1e-15 relative; errors and
infinities stay eager's.

Where things are
----------------
    function.py     CompiledFunction (a program per argument structure) and Result
    arguments.py    arguments -> structure key + flat numbers, and back; the outputs' structure
    trace.py        running fn on leaf Values; the graph as integer arrays (inputs, parameters,
                    constants), in engine.topological_order
    rows.py         the op table's rows interpreted: on numpy arrays (Arr), as C (CExpr);
                    which rows read as a + b, a * b, b + w·x (sums, neurons)
    schedule.py     levels, groups (one operation each; lecture-style neurons fused), slots
    program.py      Program: a traced structure, its backend, forward replay, backward programs
    forward.py      the forward instruction of each kind of group (an op's: its row on arrays)
    backward.py     the backward replay: gradient contributions in eager's order, blocks
    derivatives.py  the backward instruction of each kind of group (an op's: its row's
                    local_grads on arrays)
    fusions.py      a layer's input gradients as one contraction
    kernels.py      exact numpy helpers: sequential sums, strided views, contractions
    elementwise.py  rows run element by element; errors.py: CompileError, eager's errors
    cgen.py         the C backend's source: forward and backward loop nests, same layout
    cbuild.py       finding the C compiler, the private kernel cache, loading (ctypes)
    train_step.py   TrainStep, the fused training step; optimizers.py: SGD and Adam on arrays
"""

from micrograd.compiler.errors import CompileError
from micrograd.compiler.function import CompiledFunction, Result
from micrograd.compiler.train_step import NonFiniteLoss, StepResult, TrainStep

__all__ = ["compile", "CompiledFunction", "CompileError", "Result", "TrainStep", "StepResult",
           "NonFiniteLoss"]


def compile(fn, *, optimizer=None, exact=True, static_argnums=(), strict=False, check=False,
            backend="auto"):
    """Trace `fn` on its first call (per argument structure) and replay it fast afterwards.

    optimizer       a micrograd.optim.SGD or Adam: return a fused training step (TrainStep)
                    whose every call is forward + backward + the optimizer's update;
                    fn returns the loss (or a list/tuple whose first Value is the loss)
    exact           True: eager's numbers bit for bit. False: faster, not bit for bit: a layer
                    of neurons (and, in a fused step, its weight gradients) is a BLAS matrix
                    product, exp/log/tanh are numpy's; agrees with eager to about 1e-15
                    relative per step (errors and infinities stay eager's)
    static_argnums  positions of arguments that are part of the cache key instead of inputs
    strict          refuse (CompileError) a call whose structure differs from the first trace
    check           after each trace, compare the replay's forward values with the trace, node
                    by node, and raise AssertionError on any difference (a debugging aid;
                    exact=False: any relative difference above 1e-9)
    backend         "auto" (generated C where a C compiler is found, else numpy), "c" (refuse
                    with CompileError if it cannot be built) or "numpy"; the numbers are the
                    same. `stats()` tells which one runs each traced structure.
    """
    if not callable(fn):
        raise TypeError(f"micrograd.compile needs a function, got {type(fn).__name__}")
    if optimizer is not None:
        return TrainStep(fn, optimizer, static_argnums=static_argnums, strict=strict,
                         check=check, exact=exact, backend=backend)
    return CompiledFunction(fn, static_argnums=static_argnums, strict=strict, check=check,
                            exact=exact, backend=backend)
