"""Grad mode: no_grad() and enable_grad(), per thread, as in PyTorch.

Inside `with no_grad():` an operation gives a plain leaf Value: no inputs remembered, no graph
(evaluation, the SGD update). Each thread counts the no_grad blocks it is inside, so blocks may
nest or overlap in any order (A enters, B enters, A leaves, B leaves) and one thread evaluating
does not stop another from training. The engine keeps the counts (nodes._thread.off) and
their sum over all threads (nodes._blocks_open): while that sum is 0, making a node costs no
test at all.

Both are also decorators, with or without parentheses. On a generator function the block
covers the generator's body, each time it runs (as PyTorch's does), not just its creation.
"""
import functools
import inspect
from micrograd import fastpaths, nodes

__all__ = ["no_grad", "enable_grad", "is_grad_enabled"]

def _set_off(n):
    """Set this thread's count of open no_grad blocks, keeping the all-threads sum in step;
    while it is not 0, the generated paths take their row's generic one, which asks the
    thread (micrograd.fastpaths.detour)."""
    with nodes.grad_lock:
        before = nodes._blocks_open
        nodes._blocks_open += n - nodes._thread.off
        nodes._thread.off = n
        if (before == 0) != (nodes._blocks_open == 0):
            fastpaths.detour(nodes._blocks_open != 0)


def is_grad_enabled():
    """True unless this thread is inside a no_grad block."""
    return not (nodes._blocks_open and nodes._thread.off)


class _GradBlock:
    """Shared by no_grad and enable_grad: a `with` block, or a decorator (with or without ())."""

    def __init__(self, func=None):
        self._func = func
        if func is not None:
            functools.update_wrapper(self, func)

    def __call__(self, *args, **kwargs):
        if self._func is None:                   # @no_grad(): decorate the function given
            func, = args
            return type(self)(func)
        if inspect.isgeneratorfunction(self._func):
            return self._generator(self._func(*args, **kwargs))
        with type(self)():                       # a fresh block per call (threads, recursion)
            return self._func(*args, **kwargs)

    def _generator(self, gen):
        """Run the generator's body inside the block and the caller's code outside it: the
        block is entered for each step of the body and left at each yield."""
        block = type(self)
        step, arg = gen.send, None
        while True:
            try:
                with block():
                    item = step(arg)
            except StopIteration as end:
                return end.value
            try:
                step, arg = gen.send, (yield item)
            except GeneratorExit:
                with block():
                    gen.close()
                raise
            except BaseException as e:           # thrown in by the caller: into the body
                step, arg = gen.throw, e

    def __get__(self, obj, objtype=None):        # decorated methods receive self
        return self if obj is None else functools.partial(self.__call__, obj)


class no_grad(_GradBlock):
    """`with no_grad():` operations give plain leaf Values, no graph, as torch.no_grad().
    Per thread; blocks may nest or overlap; also `@no_grad()` or `@no_grad` on a function."""

    def __enter__(self):
        _set_off(nodes._thread.off + 1)

    def __exit__(self, *exc):
        _set_off(max(nodes._thread.off - 1, 0))


class enable_grad(_GradBlock):
    """`with enable_grad():` builds graphs even inside a no_grad block, as torch.enable_grad()."""

    def __enter__(self):
        self._saved = nodes._thread.off
        _set_off(0)

    def __exit__(self, *exc):
        _set_off(self._saved)
