"""What `fit` prints while it runs: a tqdm bar if tqdm is there, and one closing line.

The closing line goes to stdout in a notebook (where a bar may not survive in the saved file)
and to stderr in a terminal (where the bar is, and stdout may be a pipe).
"""
import sys

__all__ = ["in_notebook", "progress_bar", "advance", "print_summary"]


def in_notebook():
    """True inside a running Jupyter kernel (JupyterLab, classic, nbclient, VS Code)."""
    if "IPython" not in sys.modules:         # a kernel has always imported it already
        return False
    from IPython import get_ipython
    return getattr(get_ipython(), "kernel", None) is not None


def progress_bar(steps, progress):
    """A tqdm bar for `steps` steps, or None (progress=False, or no tqdm)."""
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=steps, desc="training", unit="step", dynamic_ncols=True, leave=True)


def advance(bar, loss, accuracy, val_accuracy):
    """One step done: the bar moves on and shows the step's numbers (None: no bar)."""
    if bar is None:
        return
    post = {"loss": f"{loss:.4f}", "acc": f"{accuracy:.1%}"}
    if val_accuracy:
        post["val_acc"] = f"{val_accuracy[-1]:.1%}"
    bar.set_postfix(post, refresh=False)
    bar.update(1)


def print_summary(history):
    print(f"fit took {history.seconds:.1f} s: {history.summary()}",
          file=sys.stdout if in_notebook() else sys.stderr)
