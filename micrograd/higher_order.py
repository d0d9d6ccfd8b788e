"""grad(): derivatives as Values, without touching .grad; with create_graph=True, as graphs.

The same backprop loop as backward() (engine.backpropagate), with its own step at each node:
the gradients go to a dict instead of `.grad`, and with create_graph=True each row's
local_grads is called with the nodes themselves instead of their numbers. Because every row is
written with arithmetic and micrograd.primitives, the derivative then comes out as a graph of
the same lego blocks, which grad() or backward() can differentiate again (second derivatives,
Newton's method, Hessians) and draw_dot can draw.
"""
from micrograd import nodes
from micrograd.engine import Op, Value, backpropagate, local_grads, topological_order
from micrograd.grad_mode import enable_grad
from micrograd.checks import as_number, short

__all__ = ["grad"]


def grad(output, inputs, grad_outputs=None, create_graph=False):
    """d(output)/d(x) for every Value x in `inputs`, as a list of Values in the same order
    (as torch.autograd.grad). No `.grad` is read or written.

    grad_outputs   the seed, d(final)/d(output): a number or a Value (default 1)
    create_graph   False: the derivatives are plain leaves (numbers, the fast path).
                   True: they are nodes of a graph made of engine operations (the chain rule
                   applied with Values), so grad() or .backward() can differentiate them again,
                   to any order, and draw_dot can draw them.

    An input that `output` does not depend on gets a zero (unlike PyTorch, which raises unless
    allow_unused=True): d(output)/dx is 0 there, and a Hessian needs no special case.
    Non-smooth points are PyTorch's: relu' and abs' are 0 at 0, relu'' is 0, x ** 0 is flat.
    A derivative that backward() cannot compute raises here too, even where it would be
    multiplied by 0. Nodes made by a hand-written `_backward` closure (lecture style) have no
    rule to reuse and are refused by name.
    """
    if not isinstance(output, Value):
        raise TypeError(f"grad: output must be a Value, got {type(output).__name__}")
    inputs = [inputs] if isinstance(inputs, Value) else list(inputs)
    for i, x in enumerate(inputs):
        if not isinstance(x, Value):
            raise TypeError(f"grad: inputs[{i}] is {type(x).__name__} {short(x)}, not a Value")
    seed = 1 if grad_outputs is None else grad_outputs
    if not isinstance(seed, Value):
        seed = as_number(seed, "grad(grad_outputs)")
    elif not create_graph:
        seed = seed.data
    grads = {output: seed}
    topo = topological_order(output)
    if create_graph:
        with enable_grad():
            backpropagate(topo, lambda v, rule: _graph_step(v, _rule(v, rule), grads))
    else:
        backpropagate(topo, lambda v, rule: _number_step(v, _rule(v, rule), grads))
    found = [grads.get(x, 0) for x in inputs]
    return [g if isinstance(g, Value) else Value(g) for g in found]


def _rule(v, rule):
    if not isinstance(rule, Op):
        raise TypeError(f"grad: the node {v!r} (op {v._op!r}) was made by a hand-written "
                        f"_backward, which writes .grad; grad() needs an Op (see Op)")
    return rule


def _number_step(v, rule, grads):
    """backward()'s step, into the dict: input's grad += local derivative * out's grad."""
    prev, g = v._prev, grads.get(v, 0)
    for child, d in zip(prev, local_grads(v, rule, [c.data for c in prev])):
        grads[child] = grads.get(child, 0) + d * g


def _graph_step(v, rule, grads):
    """The same step with Values: the local derivatives and the products become nodes. A term
    that is a constant 0 adds no node, but the derivative is still computed (and may raise)."""
    prev, g = v._prev, grads.get(v, 0)
    nodes._thread.building = True
    try:
        local = local_grads(v, rule, prev, out=v)
    except TypeError as e:
        if "local_grads gave" in str(e):
            raise
        raise TypeError(
            f"the derivative of {rule.name!r} cannot be built from Values, so it has no second "
            f"derivative ({e}); write its local_grads with arithmetic and micrograd.primitives "
            f"(exp, log, tanh, where) instead of math.* or float()") from None
    finally:
        nodes._thread.building = False
    for child, d in zip(prev, local):
        if _zero(d) or _zero(g):
            term = 0
        elif not isinstance(d, Value) and d == 1:
            term = g
        elif not isinstance(g, Value) and g == 1:
            term = d
        else:
            term = d * g
        old = grads.get(child)
        grads[child] = term if old is None or _zero(old) else old if _zero(term) else old + term


def _zero(x):
    """A constant 0 (a number, not a node that happens to hold 0)."""
    return not isinstance(x, Value) and x == 0
