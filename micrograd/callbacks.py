"""What `fit` calls as training goes: a function, or a `Callback` with a start and an end.

    def log(k, model, history):          # after step k's update; returning True stops
        print(k, history.loss[-1])
    fit(model, X, y, callback=log)

A `Callback` also hears when training starts and ends, and says at which steps it wants to run
(`due`): a compiled `fit` writes the model's weights back from its arrays only before a step
whose callbacks are due. The live picture in a notebook (`micrograd.viz.notebook.LivePicture`)
is one: training itself knows nothing of pictures.
"""

__all__ = ["Callback", "as_callbacks"]


class Callback:
    """Override what you need; every method does nothing by default."""

    def start(self, model, history):
        """Before the first step."""

    def due(self, k):
        """Whether to call this callback after step k (default: every step)."""
        return True

    def __call__(self, k, model, history):
        """After step k's update, with the model's current weights. True stops training."""

    def end(self, model, history):
        """After the last step that ran (also after Ctrl-C; not when training raised)."""


class _Function(Callback):
    """A plain function callback(k, model, history), called after every step."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, k, model, history):
        return self.fn(k, model, history)


def as_callbacks(*callbacks):
    """Callbacks (None, functions or Callback objects) -> a list of Callback objects."""
    out = []
    for c in callbacks:
        if c is None:
            continue
        if not callable(c):
            raise ValueError(f"a callback must be a function (k, model, history) or a "
                             f"Callback, got {c!r}")
        out.append(c if isinstance(c, Callback) else _Function(c))
    return out
