"""What a Value accepts as its number, and the errors that name an operation and its numbers.

The engine keeps ints as ints and floats as floats, as the original micrograd does (`Value(3)`
holds 3). Another real number (a Fraction, numpy's scalars and 0-d arrays) becomes the nearest
int or float on the way in; anything else is refused by name. numpy is recognised by its
attributes, never imported: the engine runs on the standard library alone.

An operation without a real result raises an error that names the op, its inputs and why (the
row's `domain` or `grad_domain` says why, where it knows).
"""
from numbers import Integral, Real

__all__ = ["as_number", "short", "show", "FORWARD_ERRORS", "forward_error", "derivative_error",
           "checked", "int_power", "pow_domain", "pow_grad_domain"]


def as_number(x, where):
    """x itself if it is an int or a float (bool included, as in Python); another real number
    as an int or a float; anything else is a TypeError that names `where`."""
    cls = x.__class__
    if cls is float or cls is int or cls is bool:
        return x
    if isinstance(x, Integral) or _numpy_kind(x) in ("b", "i", "u"):
        return int(x)
    if isinstance(x, Real) or _numpy_kind(x) == "f":
        try:
            return float(x)
        except OverflowError:
            raise OverflowError(f"{where}: {short(x)} is too large for a float") from None
    raise TypeError(f"{where}: expected a real number, got {type(x).__name__} {short(x)}")


def int_power(base, exponent):
    """The exponent (a number or a Value), unless int ** int would have more than a million
    bits (Python would compute it for minutes, as the original does): an OverflowError, at
    once."""
    a, b = getattr(base, "data", base), getattr(exponent, "data", exponent)
    if a.__class__ is int and b.__class__ is int and b > 0 and b * a.bit_length() > 1_000_000:
        raise OverflowError(f"**: no finite real result for {short(a)}, {short(b)} "
                            f"(more than a million bits)")
    return exponent


def pow_domain(a, b):
    """Why a ** b has no real result, or None."""
    if a == 0 and b < 0:
        return "0 to a negative power"
    if a < 0 and b % 1 != 0:
        return "a negative base to a non-integer power"
    return None


def pow_grad_domain(a, b):
    """Why a derivative of a ** b has no real result, or None."""
    if a < 0:
        return "d/db of a**b needs a > 0"
    if a == 0 and 0 < b < 1:
        return "0 to a negative power"
    return None


def _numpy_kind(x):
    """'b', 'i', 'u' or 'f' for numpy's scalars and 0-d arrays of those kinds, else ''."""
    if getattr(x, "shape", None) != ():
        return ""
    return getattr(getattr(x, "dtype", None), "kind", "")


def short(x):
    """repr(x), but not of an integer longer than a line (nor too long for Python's repr)."""
    if isinstance(x, int) and x.bit_length() > 160:
        return f"an integer of about {int(x.bit_length() * 0.30103)} digits"
    return repr(x)


def show(inputs):
    """The numbers of some Values, for a message: '2.0, -1'."""
    return ", ".join(short(x.data) for x in inputs)


# What a forward raises where it has no real result (AttributeError: a complex put in .data has
# no .exp() for primitives.exp to call).
FORWARD_ERRORS = (ValueError, ZeroDivisionError, OverflowError, TypeError, AttributeError)


def _real(inputs):
    return all(isinstance(x.data, (int, float)) for x in inputs)


def forward_error(rule, inputs, e):
    """The error to raise for `e`, raised by rule's forward on these input Values."""
    if isinstance(e, (TypeError, AttributeError)) and not _real(inputs):
        return TypeError(f"{rule.name}: expected real numbers, got {show(inputs)} ({e})")
    kind = OverflowError if isinstance(e, OverflowError) else ValueError
    return kind(f"{rule.name}: no finite real result for {show(inputs)} "
                f"({_why(rule.domain, inputs, e)})")


def derivative_error(rule, inputs, e):
    """The error to raise for `e`, raised by rule's local_grads at these input Values."""
    return ValueError(f"backward through {rule.name}: the derivative at {show(inputs)} is not "
                      f"finite ({_why(rule.grad_domain, inputs, e)})")


def _why(domain, inputs, e):
    """The row's own reason, where it has one; else what Python said."""
    try:
        return (domain and domain(*[x.data for x in inputs])) or e
    except Exception:
        return e


def checked(data, rule, inputs):
    """A forward's result that is not an int or a float: a complex number (a negative base to a
    fractional power, or a complex someone put in .data) is refused; numpy's become Python's."""
    if not _real(inputs):
        raise TypeError(f"{rule.name}: expected real numbers, got {show(inputs)} "
                        f"(a Value's .data must be a real number)")
    if isinstance(data, complex):
        raise forward_error(rule, inputs, ValueError("a complex result"))
    return as_number(data, f"{rule.name} of {show(inputs)} (the result of its forward)")
