"""A loss curve for a hand-written training loop, redrawn in place in a notebook.

    live = LiveLoss(every=25)
    losses = gpt.train(model, tok, docs, steps=200, callback=live)   # callback(step, loss)
    live.show()                                                        # the last picture

`fit(..., live=...)` draws MLP training (boundary, loss, accuracy); a loop of your own, such as
microgpt's one-document steps, calls a LiveLoss with each step's loss instead. Outside a
notebook it only records the losses (plot_losses(live.losses) draws them afterwards).
"""
from micrograd.viz.notebook import _Picture, in_notebook
from micrograd.viz.plots import _figure, _np, figure_png

__all__ = ["LiveLoss", "plot_losses"]


def plot_losses(losses, title=None, smooth=None):
    """The loss per step, faint, and its running mean over `smooth` steps (default: a 20th
    of the run, at least 2) on top: one-document steps are noisy."""
    np = _np()
    losses = np.asarray(losses, dtype=float)
    if losses.size == 0:
        raise ValueError("no losses to plot")
    smooth = max(2, len(losses) // 20) if smooth is None else int(smooth)
    fig = _figure((8, 3.6))
    ax = fig.subplots()
    steps = np.arange(1, len(losses) + 1)
    ax.plot(steps, losses, color="tab:blue", lw=0.8, alpha=0.35, label="loss of the step")
    if len(losses) >= smooth > 1:
        mean = np.convolve(losses, np.ones(smooth) / smooth, mode="valid")
        ax.plot(steps[smooth - 1:], mean, color="tab:blue", lw=2,
                label=f"mean of {smooth} steps")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right", fontsize="small")
    ax.set_title(title or f"{len(losses)} steps, last loss {losses[-1]:.4f}")
    return fig


class LiveLoss:
    """Call it with (step, loss) after every step; every `every` steps the picture (one
    notebook output, a PNG through a display handle) is redrawn in place."""

    def __init__(self, every=10, title=None):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        self.every, self.title, self.losses = every, title, []
        self.handle = None
        if in_notebook():
            from IPython.display import display
            self.handle = display(display_id=True)

    def __call__(self, step, loss):
        self.losses.append(float(loss))
        if (len(self.losses) - 1) % self.every == 0:
            self.show()

    def show(self):
        """Redraw now (after the loop: the last step's picture)."""
        if self.handle is None or not self.losses:
            return
        fig = plot_losses(self.losses, self.title)
        self.handle.update(_Picture(figure_png(fig, dpi=80),
                                    f"training: {len(self.losses)} steps, "
                                    f"last loss {self.losses[-1]:.4f}"))
