"""Pictures of training: the decision boundary, loss/accuracy curves, and an animated GIF.

Needs matplotlib (and pillow for the GIF): `pip install -e ".[plots]"` in the clone. Figures are
drawn on matplotlib's object API with the Agg renderer, never through pyplot's global state, so these
functions work headless and leave an interactive session's backend alone. Give `ax=` to draw
into an axes of your own (e.g. from pyplot in a notebook).

    from micrograd.viz.plots import plot_decision_boundary, plot_history
    plot_decision_boundary(model, X, y, "boundary.png")
    plot_history(history, "history.png")

In Jupyter every figure returned here shows itself as a PNG when it is a cell's value (or given
to display()), with or without pyplot. The figures are not pyplot's: pyplot's inline backend
does not show them a second time at the end of the cell, and `plt.show()` does not show them.
"""
import functools
import io
import math

from micrograd.engine import no_grad
from micrograd.weights import get_weights, numpy_forward, set_weights  # noqa: F401 (also here)

__all__ = ["plot_decision_boundary", "plot_history", "plot_training", "animate_decision_boundary",
           "decision_grid", "numpy_forward", "get_weights", "set_weights", "figure_png"]

CMAP = "Spectral"          # the demo notebook's colormap: class 0 red, class 1 blue


def _np():
    import numpy as np
    return np


def _figure(figsize, layout="constrained"):
    return _inline_figure_class()(figsize=figsize, layout=layout)


@functools.cache
def _inline_figure_class():
    """matplotlib's Figure, plus the one method IPython looks for to show a PNG. (Only pyplot's
    inline backend teaches IPython to show plain Figures; when it is active its printer is
    used instead of this method, and the PNG is still shown once.)"""
    from matplotlib.figure import Figure

    class InlineFigure(Figure):
        def _repr_png_(self):
            return figure_png(self)
    return InlineFigure


def figure_png(fig, dpi=100):
    """The figure as PNG bytes (what a notebook shows)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _as_xy(X, y):
    np = _np()
    X = np.asarray(X, dtype=float)
    y = np.asarray(y).astype(int).ravel()
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"a decision boundary needs 2-D inputs, X has shape {X.shape}")
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)} labels")
    if len(y) and y.min() == -1:          # -1/+1 labels -> 0/1
        y = (y + 1) // 2
    return X, y


def _boundary_figsize(X, width):
    """A figure size whose axes fit the mesh's aspect ratio (the plot has equal axes)."""
    lo, hi = X.min(axis=0), X.max(axis=0)
    span = hi - lo
    margin = max(0.5, 0.2 * float(max(span)))
    ratio = (span[1] + 2 * margin) / (span[0] + 2 * margin)
    ratio = min(max(ratio, 0.4), 1.6)
    return width, (width - 0.85) * ratio + 0.95


def decision_grid(model, X, h=None, margin=None):
    """The model's output over a mesh covering X: (xx, yy, Z) with Z of shape xx.shape (one
    output) or xx.shape + (K,) (K outputs). Evaluated under no_grad, no graph is built."""
    np = _np()
    X = np.asarray(X, dtype=float)
    lo, hi = X.min(axis=0), X.max(axis=0)
    span = float(max(hi - lo))
    if margin is None:
        margin = max(0.5, 0.2 * span)
    if h is None:
        h = (span + 2 * margin) / 250
    xs = np.arange(lo[0] - margin, hi[0] + margin + h / 2, h)
    ys = np.arange(lo[1] - margin, hi[1] + margin + h / 2, h)
    xx, yy = np.meshgrid(xs, ys)
    pts = np.column_stack([xx.ravel(), yy.ravel()])
    Z = numpy_forward(model, pts)
    if Z is None:                      # not a plain nn.MLP: ask the model point by point
        out = []
        with no_grad():
            for a, b in pts.tolist():
                s = model([a, b])
                out.append([v.data for v in s] if isinstance(s, (list, tuple)) else s.data)
        Z = np.array(out, dtype=float)
    if Z.ndim == 2 and Z.shape[1] == 1:
        Z = Z[:, 0]
    Z = Z.reshape(xx.shape + Z.shape[1:])
    return xx, yy, Z


def _draw_boundary(ax, model, X, y, h=None, title=None):
    np = _np()
    from matplotlib import colormaps
    from matplotlib.lines import Line2D
    xx, yy, Z = decision_grid(model, X, h=h)
    classes = max(int(y.max()) + 1 if len(y) else 2, 2 if Z.ndim == 2 else Z.shape[-1])
    cmap = colormaps[CMAP]
    if Z.ndim == 2:                              # one output: its sign is the class
        # tanh keeps the colours readable whatever the score's scale; the line is score = 0
        ax.contourf(xx, yy, np.tanh(Z), levels=np.linspace(-1, 1, 21), cmap=cmap,
                    alpha=0.8, extend="both")
        if Z.min() < 0 < Z.max():
            ax.contour(xx, yy, Z, levels=[0.0], colors="k", linewidths=1.5)
        point_colors = cmap(np.where(y > 0, 0.95, 0.05))
        class_colors = [cmap(0.05), cmap(0.95)]
    else:                                        # K outputs: the argmax is the class
        pred = Z.argmax(axis=-1)
        class_colors = [cmap(k / max(classes - 1, 1)) for k in range(classes)]
        from matplotlib.colors import ListedColormap
        ax.contourf(xx, yy, pred, levels=np.arange(classes + 1) - 0.5,
                    cmap=ListedColormap(class_colors), alpha=0.55)
        ax.contour(xx, yy, pred, levels=np.arange(classes) + 0.5, colors="k",
                   linewidths=0.8)
        point_colors = [class_colors[k] for k in y]
    ax.scatter(X[:, 0], X[:, 1], c=point_colors, s=36, edgecolors="k", linewidths=0.7,
               zorder=3)
    ax.set_xlim(xx.min(), xx.max())
    ax.set_ylim(yy.min(), yy.max())
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title is None:
        title = "Decision boundary"
        acc = _accuracy_on(model, X, y)
        if acc is not None:
            title += f" (training accuracy {acc:.0%})"
    ax.set_title(title)
    handles = [Line2D([], [], marker="o", ls="", markerfacecolor=c, markeredgecolor="k",
                      markersize=7, label=f"class {k}") for k, c in enumerate(class_colors)]
    ax.legend(handles=handles, loc="upper right", fontsize="small", framealpha=0.85)
    return ax


def _accuracy_on(model, X, y):
    np = _np()
    Z = numpy_forward(model, np.asarray(X, dtype=float))
    if Z is None:
        from micrograd.train import predict
        pred = predict(model, X)
    else:
        pred = (Z[:, 0] > 0).astype(int) if Z.shape[1] == 1 else Z.argmax(axis=1)
    return sum(int(p) == int(t) for p, t in zip(pred, y)) / len(y) if len(y) else None


def plot_decision_boundary(model, X, y, path=None, ax=None, h=None, title=None, dpi=150):
    """The demo notebook's picture: the model's score over a mesh around the data (red where
    it says class 0, blue where class 1, the black line where the score is 0) with the data
    on top. Multi-output models show their argmax regions. Saves to `path` if given; returns
    the figure (or `ax`'s figure)."""
    X, y = _as_xy(X, y)
    if ax is None:
        fig = _figure(_boundary_figsize(X, 6.0))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    _draw_boundary(ax, model, X, y, h=h, title=title)
    if path is not None:
        fig.savefig(path, dpi=dpi)
    return fig


def _hist(history, name):
    if isinstance(history, dict):
        return list(history.get(name) or [])
    return list(getattr(history, name, None) or [])


def plot_history(history, path=None, title=None, dpi=150, smooth=None):
    """Two panels: the loss (log scale, with the learning rate faintly on a second axis) and
    the accuracy, per step, with validation points if the history has them. `history` is a
    train.History or a dict with the same keys. `smooth`: also draw a running mean over that
    many steps (default: automatic, for noisy mini-batch curves; 1 turns it off)."""
    fig = _figure((11, 4.2))
    ax1, ax2 = fig.subplots(1, 2)
    _draw_history(ax1, ax2, history, smooth)
    if title is None:
        title = _history_title(history)
    fig.suptitle(title)
    if path is not None:
        fig.savefig(path, dpi=dpi)
    return fig


def plot_training(model, X, y, history, title=None, steps=None):
    """What `fit(..., live=True)` shows while it trains: the decision boundary (for 2-D
    inputs), the loss and the accuracy, side by side in one figure. `steps`: the run's length,
    so that the curves grow along a fixed step axis (the first frame is not a lone point on
    an axis of its own)."""
    X_np = _np().asarray(X, dtype=float)
    boundary = X_np.ndim == 2 and X_np.shape[1] == 2
    fig = _figure((14.5, 4.2) if boundary else (11, 4.2))
    axes = fig.subplots(1, 3 if boundary else 2,
                        width_ratios=[1.1, 1, 1] if boundary else None)
    if boundary:
        Xb, yb = _as_xy(X, y)
        span = float(max(Xb.max(axis=0) - Xb.min(axis=0)))
        h = (span + 2 * max(0.5, 0.2 * span)) / 120          # coarse: redrawn every few steps
        _draw_boundary(axes[0], model, Xb, yb, h=h, title="Decision boundary")
    _draw_history(*axes[-2:], history, smooth=None)
    if steps:
        for ax in axes[-2:]:
            ax.set_xlim(-0.02 * steps, max(1, steps - 1) * 1.02)
    loss = _hist(history, "loss")
    if len(loss) == 1 and math.isfinite(loss[0]) and loss[0] > 0:
        axes[-2].set_ylim(0, 1.2 * loss[0])           # one dot: from zero, not a 4% band
    fig.suptitle(title or _history_title(history))
    return fig


def _history_title(history):
    """The last step's numbers (as History.summary() gives them), not the smoothed curve's."""
    loss, acc, vacc = (_hist(history, k) for k in ("loss", "accuracy", "val_accuracy"))
    title = f"Training: {len(loss)} steps, final loss {loss[-1]:.4g}"
    if acc:
        title += f", training accuracy {100 * acc[-1]:.1f}%"
    if vacc:
        title += f", held-out accuracy {100 * vacc[-1]:.1f}%"
    interrupted = history.get("interrupted") if isinstance(history, dict) \
        else getattr(history, "interrupted", False)
    if interrupted:
        title += " (interrupted)"
    return title


def _draw_history(ax1, ax2, history, smooth):
    """The loss into ax1 and the accuracy into ax2."""
    np = _np()
    loss, acc, lr = _hist(history, "loss"), _hist(history, "accuracy"), _hist(history, "lr")
    vstep, vloss, vacc = (_hist(history, k) for k in ("val_step", "val_loss", "val_accuracy"))
    if not loss:
        raise ValueError("the history is empty: nothing to plot")
    steps = np.arange(len(loss))
    if smooth is None:       # mini-batch curves are noisy: show them faintly, and a running mean
        jumpy = len(loss) > 50 and np.mean(np.abs(np.diff(acc))) > 0.01 if acc else False
        smooth = max(2, len(loss) // 40) if jumpy else 1

    def curve(ax, values, color, label):
        values = np.asarray(values, dtype=float)
        if smooth > 1:
            ax.plot(steps[:len(values)], values, color=color, lw=0.8, alpha=0.3)
            kernel = np.ones(smooth) / smooth
            mean = np.convolve(values, kernel, mode="valid")
            ax.plot(steps[smooth - 1:len(values)], mean, color=color, lw=1.8,
                    label=f"{label} (mean of {smooth} steps)")
        else:                   # a curve of one step is a dot, not an invisible line
            ax.plot(steps[:len(values)], values, color=color, lw=1.8, label=label,
                    marker="o" if len(values) == 1 else None, ms=5)

    curve(ax1, loss, "tab:blue", "training loss")
    if vloss:
        ax1.plot(vstep, vloss, "o-", color="tab:orange", ms=3, lw=1.2, label="held-out loss")
    if min(loss + vloss) > 0 and max(loss + vloss) / min(loss + vloss) > 20:
        from matplotlib.ticker import FuncFormatter
        ax1.set_yscale("log")
        plain = FuncFormatter(lambda v, _: f"{v:g}")
        ax1.yaxis.set_major_formatter(plain)
        ax1.yaxis.set_minor_formatter(FuncFormatter(
            lambda v, _: f"{v:g}" if f"{v:.1g}"[0] in "25" else ""))
    ax1.set_title("Loss")
    ax1.set_xlabel("step")
    ax1.set_ylabel("loss")
    ax1.grid(True, alpha=0.3, which="both")
    handles, labels = ax1.get_legend_handles_labels()
    if lr and len(set(lr)) > 1:
        axr = ax1.twinx()
        axr.plot(steps[:len(lr)], lr, color="0.5", lw=1, ls="--", label="learning rate")
        axr.set_ylabel("learning rate", color="0.4")
        axr.tick_params(axis="y", colors="0.4")
        h2, l2 = axr.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    ax1.legend(handles, labels, loc="upper right", fontsize="small")

    if acc:
        curve(ax2, [100 * a for a in acc], "tab:green", "training accuracy")
    if vacc:
        ax2.plot(vstep, [100 * a for a in vacc], "o-", color="tab:orange", ms=3, lw=1.2,
                 label="held-out accuracy")
    ax2.set_ylim(min([100 * a for a in acc + vacc] + [50]) - 5, 102)
    ax2.set_title("Accuracy")
    ax2.set_xlabel("step")
    ax2.set_ylabel("accuracy (%)")
    ax2.grid(True, alpha=0.3)
    ax2.legend(loc="lower right", fontsize="small")


def animate_decision_boundary(snapshots, X, y, path, model=None, fps=5, h=None, dpi=80,
                              hold_last=5):
    """A GIF of the decision boundary as training goes: one frame per snapshot.

    snapshots: a list of (step, weights) or (step, weights, info) where weights is the list of
    parameter values (get_weights(model), e.g. collected by a fit callback every N steps) and
    info an optional dict with 'loss' / 'accuracy' for the frame's title. `model` is a model
    of the same architecture; its weights are set frame by frame and restored at the end."""
    if model is None:
        raise TypeError("animate_decision_boundary needs model=, a model of the snapshots' "
                        "architecture")
    snapshots = list(snapshots)
    if not snapshots:
        raise ValueError("no snapshots to animate")
    from matplotlib.animation import PillowWriter
    X, y = _as_xy(X, y)
    if h is None:
        span = float(max(X.max(axis=0) - X.min(axis=0)))
        h = (span + 2 * max(0.5, 0.2 * span)) / 160
    saved = get_weights(model)
    w, hgt = _boundary_figsize(X, 5.0)
    fig = _figure((w, hgt), layout=None)       # a fixed layout: frames must not jump
    fig.subplots_adjust(left=0.7 / w, right=1 - 0.15 / w, bottom=0.55 / hgt, top=1 - 0.4 / hgt)
    ax = fig.add_subplot()
    writer = PillowWriter(fps=fps)
    try:
        with writer.saving(fig, path, dpi):
            for i, snap in enumerate(snapshots):
                step, weights = snap[0], snap[1]
                info = snap[2] if len(snap) > 2 and snap[2] else {}
                set_weights(model, weights)
                ax.clear()
                title = f"step {step}"
                if "loss" in info and info["loss"] is not None and math.isfinite(info["loss"]):
                    title += f"   loss {info['loss']:.4f}"
                acc = info.get("accuracy")
                if acc is None:
                    acc = _accuracy_on(model, X, y)
                title += f"   accuracy {acc:.0%}"
                _draw_boundary(ax, model, X, y, h=h, title=title)
                for _ in range(hold_last if i == len(snapshots) - 1 else 1):
                    writer.grab_frame()
    finally:
        set_weights(model, saved)
    return path
