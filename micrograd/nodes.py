"""How a graph node is stored and made: the machinery under engine.Value, out of the story's way.

A node is a Value with six slots and no __dict__ (80 bytes, and 24 for its float). Its one or
two inputs sit in the slots `_a` and `_b` instead of a tuple of their own (one object per node
instead of two: a third less memory, half the work for the garbage collector); three or more
sit in `_a` as a tuple, with `_MANY` in `_b`. `_prev` reads them as the lecture's tuple. `_op`
and `label` are read from the op's row and a shared pair of empty names, unless given by hand.

`make` is what every operation ends with: a new node, skipping __init__'s checks; inside a
no_grad block (micrograd.grad_mode keeps the counts below) a plain leaf instead.
"""
import threading

from micrograd.checks import as_number, checked

__all__ = ["Node", "leaf", "make", "node", "names"]

_MANY = object()      # in _b: _a holds a tuple of three or more inputs
Value = None          # engine.Value, set by the engine when it has defined it
_new = object.__new__


NO_NAMES = ("", "")   # _names of a node an op made: its op's name is its row's, no label


class Node:
    __slots__ = ("data", "grad", "_a", "_b", "_rule", "_names")

    # `_op` and `label` are kept together in `_names`, and only for a node given them by hand
    # (Value(x, children, '+', label='a')): a node an op makes reads its op's name from its row
    # (one store a node, not two).
    @property
    def _op(self):
        return self._names[0] or getattr(self._rule, "name", "")

    @_op.setter
    def _op(self, op):
        self._names = names(op, getattr(self, "_names", NO_NAMES)[1])

    @property
    def label(self):
        return self._names[1]

    @label.setter
    def label(self, label):
        self._names = names(getattr(self, "_names", NO_NAMES)[0], label)

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


def names(op, label):
    """_names for an op's name and a label: the shared empty pair when both are empty."""
    return (op, label) if op or label else NO_NAMES


class _ThreadState(threading.local):
    off = 0              # no_grad blocks this thread is inside
    building = False     # grad(create_graph=True) is calling a local_grads with Values


_thread = _ThreadState()
_blocks_open = 0         # no_grad blocks open in all threads: while 0, make() looks no further
grad_lock = threading.Lock()   # guards _blocks_open, and the fast paths' detours that follow it


def leaf(x, where):
    """A plain number mixed into an operation becomes a constant leaf, as in the lecture."""
    v = _new(Value)
    v.data, v.grad, v._a, v._b, v._rule, v._names = (
        as_number(x, where), 0, None, None, None, NO_NAMES)
    return v


def make(data, a, b, rule):
    """A new node made by `rule` from a and b (b None for one input; a tuple in a and _MANY in
    b for more); under no_grad, a plain leaf."""
    if data.__class__ is not float and data.__class__ is not int:
        data = checked(data, rule, a if b is _MANY else (a,) if b is None else (a, b))
    v = _new(Value)
    v.data = data             # one assignment a slot: faster than one of a tuple
    v.grad = 0
    v._a = a
    v._b = b
    v._rule = rule
    v._names = NO_NAMES
    if _blocks_open and _thread.off:
        v._a = v._b = v._rule = None
    return v


def node(data, inputs, rule):
    """make, for a tuple of inputs."""
    n = len(inputs)
    if n <= 2:
        return make(data, inputs[0], inputs[1] if n == 2 else None, rule)
    return make(data, inputs, _MANY, rule)
