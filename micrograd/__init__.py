"""micrograd: a scalar-valued autograd engine and a small neural-net library on top of it.

    from micrograd.engine import Value        # the engine (standard library only)
    from micrograd.nn import Neuron, Layer, MLP
    micrograd.grad(out, inputs, create_graph=True)   # derivatives as graphs, to any order
"""
from micrograd.engine import Op, Value, enable_grad, grad, no_grad

__version__ = "1.0.0.dev0"
__all__ = ["Value", "Op", "grad", "no_grad", "enable_grad", "compile"]


def compile(fn, **options):
    """Trace `fn` once, replay its forward and backward fast (see micrograd.compiler; needs numpy).

    compile(fn) replays forward and backward, filling p.grad as eager backward() does;
    compile(fn, optimizer=opt) also applies opt's update in the same call (call .sync() to
    write the parameters back); options: static_argnums, strict, check, exact."""
    from micrograd.compiler import compile as _compile
    return _compile(fn, **options)
