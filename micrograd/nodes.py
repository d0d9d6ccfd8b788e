"""How a graph node is stored and made: the machinery under engine.Value, out of the story's way.

A node is a Value with seven slots and no __dict__ (about 100 bytes). Its one or two inputs sit
in the slots `_a` and `_b` instead of a tuple of their own (one object per node instead of two:
a third less memory, half the work for the garbage collector); three or more sit in `_a` as a
tuple, with `_MANY` in `_b`. `_prev` reads them as the lecture's tuple.

`make` is what every operation ends with: a new node, skipping __init__'s checks; inside a
no_grad block (micrograd.grad_mode keeps the counts below) a plain leaf instead.
"""
import threading

from micrograd.checks import as_number, checked

__all__ = ["Node", "leaf", "make", "node"]

_MANY = object()      # in _b: _a holds a tuple of three or more inputs
Value = None          # engine.Value, set by the engine when it has defined it
_new = object.__new__


class Node:
    __slots__ = ("data", "grad", "_a", "_b", "_op", "label", "_rule")

    @property
    def _prev(self):
        a, b = self._a, self._b
        if b is None:
            return () if a is None else (a,)
        return a if b is _MANY else (a, b)

    @_prev.setter
    def _prev(self, children):
        children = tuple(children)
        n = len(children)
        self._a = children[0] if n in (1, 2) else (children if n else None)
        self._b = children[1] if n == 2 else (_MANY if n > 2 else None)


class _ThreadState(threading.local):
    off = 0              # no_grad blocks this thread is inside
    building = False     # grad(create_graph=True) is calling a local_grads with Values


_thread = _ThreadState()
_blocks_open = 0         # no_grad blocks open in all threads: while 0, make() looks no further


def leaf(x, where):
    """A plain number mixed into an operation becomes a constant leaf, as in the lecture."""
    v = _new(Value)
    v.data, v.grad, v._a, v._b, v._op, v.label, v._rule = (
        as_number(x, where), 0, None, None, "", "", None)
    return v


def make(data, a, b, rule):
    """A new node made by `rule` from a and b (b None for one input; a tuple in a and _MANY in
    b for more); under no_grad, a plain leaf."""
    if data.__class__ is not float and data.__class__ is not int:
        data = checked(data, rule, a if b is _MANY else (a,) if b is None else (a, b))
    v = _new(Value)
    v.data = data             # one assignment a slot: faster than one of a 7-tuple
    v.grad = 0
    v._a = a
    v._b = b
    v._op = rule.name
    v.label = ""
    v._rule = rule
    if _blocks_open and _thread.off:
        v._a = v._b = v._rule = None
        v._op = ""
    return v


def node(data, inputs, rule):
    """make, for a tuple of inputs."""
    n = len(inputs)
    if n <= 2:
        return make(data, inputs[0], inputs[1] if n == 2 else None, rule)
    return make(data, inputs, _MANY, rule)
