"""What a Value accepts as its number, and how an error message shows one.

The engine keeps ints as ints and floats as floats, as the original micrograd does (`Value(3)`
holds 3). Everything else that is a real number (a Fraction, numpy's scalars and 0-d arrays) is
turned into the nearest int or float on the way in; anything else is refused by name. numpy is
recognised by its attributes, never imported: the engine runs on the standard library alone.
"""
from numbers import Integral, Real

__all__ = ["as_number", "short"]


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


def _numpy_kind(x):
    """'b', 'i', 'u' or 'f' for numpy's scalars and 0-d arrays of those kinds, else ''."""
    if getattr(x, "shape", None) != ():
        return ""
    return getattr(getattr(x, "dtype", None), "kind", "")


def short(x):
    """repr(x), but not of an integer too long for Python's own repr (4,300 digits)."""
    if isinstance(x, int) and x.bit_length() > 13_000:
        return f"an integer of about {int(x.bit_length() * 0.30103)} digits"
    return repr(x)
