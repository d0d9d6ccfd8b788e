"""micrograd in Jupyter: the backprop stepper inline, and training pictures that update in place.

    from micrograd.viz import show_stepper
    show_stepper(o)                    # as a cell's value: the stepper page, inline

`show_stepper` returns a small display object: Jupyter shows its HTML (the stepper page in a
sandboxed iframe, and a script that sets the iframe's height to what the page reports), a
terminal its text. A notebook that is not trusted (one opened from a file, not run here)
strips the iframe and the script; what remains is a line saying to run the cell. Nothing here
imports IPython until it is needed in a running notebook.
"""
import html
import uuid
import warnings

from micrograd.callbacks import Callback
from micrograd.progress import in_notebook
from micrograd.viz.stepper import stepper_data, stepper_page

__all__ = ["show_stepper", "StepperView", "in_notebook", "LivePicture"]

# The iframe's height before the page reports its own (a trusted output's script listens for
# it), from the page's layout in an iframe at notebook width (under 1100 px): the toolbar, the
# graph pane (the graph plus 24 px, at most 720 px), then the explanation and the check below
# it. Measured on the page; wide notebooks put the panel beside the graph and get shorter.
TOOLBAR_PX = 62
PANE_MAX_PX = 720
PANEL_BELOW_PX = 420
MIN_HEIGHT_PX = 420
# What the page may report; anything else is not its message.
REPORTED_PX = (100, 20_000)


class StepperView:
    """The stepper page for one graph, as something Jupyter displays. `.page` is the page."""

    def __init__(self, root, height=None, title=None, h=1e-6, max_nodes=None):
        if height is not None and (isinstance(height, bool) or not isinstance(height, int)
                                   or height < 100):
            raise ValueError(f"height must be a whole number of pixels >= 100, got {height!r}")
        options = {"title": title, "h": h}
        if max_nodes is not None:
            options["max_nodes"] = max_nodes
        data = stepper_data(root, **options)
        self.page = stepper_page(data)
        self.title = data["title"]
        self.values, self.steps = len(data["nodes"]), len(data["steps"])
        self.follows_page = height is None
        if height is None:
            pane = min(data["height"] + 24, PANE_MAX_PX)
            height = max(TOOLBAR_PX + pane + PANEL_BELOW_PX, MIN_HEIGHT_PX)
        self.height = height
        self.id = f"micrograd-stepper-{uuid.uuid4().hex[:12]}"   # unique on a page

    def __repr__(self):
        return (f"<backprop stepper: {self.title}; {self.values} values, {self.steps} steps. "
                f"In Jupyter, run the cell to see the stepper; elsewhere, "
                f"write_stepper(root, 'page.html') and open the file>")

    def _repr_html_(self):
        # Untrusted output loses the <style>, the <iframe> and the <script> (Jupyter's
        # sanitizer keeps plain text and paragraphs), so the note below is all that is left of
        # it then. Trusted, the style hides the note. The sandbox gives the page an origin of
        # its own: its script runs, but cannot reach the notebook.
        return (f'<div id="{self.id}" class="micrograd-stepper">'
                f'<style>#{self.id} .micrograd-untrusted {{display: none}}</style>'
                f'<p class="micrograd-untrusted">{html.escape(self.title)}: the backprop '
                f'stepper is hidden because this notebook is not trusted. Run the cell to see '
                f'the stepper.</p>'
                f'<iframe title="{html.escape(self.title)}" sandbox="allow-scripts" '
                f'srcdoc="{html.escape(self.page, quote=True)}" '
                f'style="width: 100%; height: {self.height}px; border: 0; display: block">'
                f'</iframe>{self._height_listener() if self.follows_page else ""}</div>')

    def _height_listener(self):
        """A script (run by JupyterLab, classic Notebook and VS Code for trusted output) that
        sets the iframe's height to what the page reports, as it changes with the width. It
        takes the message only from its own iframe. It stays while the output is detached
        (JupyterLab takes cells off the page as they scroll away and puts the same ones back)."""
        low, high = REPORTED_PX
        return ('<script>(function () {'
                f'var frame = document.querySelector("#{self.id} iframe");'
                'if (!frame) return;'
                'window.addEventListener("message", function (e) {'
                '  var m = e.data;'
                '  if (e.source !== frame.contentWindow || !m'
                '      || m.type !== "micrograd-stepper:height") return;'
                '  var h = Math.ceil(Number(m.height));'
                f'  if (h >= {low} && h <= {high}) frame.style.height = h + "px";'
                '});'
                '})();</script>')


def show_stepper(root, **options):
    """The backprop stepper for `root`, inline in a notebook (as a cell's value, or through
    display()). Options: height (pixels; default: follows the graph), title, h (the numerical
    check's nudge), max_nodes (see stepper_html)."""
    return StepperView(root, **options)


class LivePicture(Callback):
    """One notebook output that fit(..., live=...) redraws in place: the decision boundary (for
    2-D data) and the loss/accuracy curves, as a PNG through a display handle (no widget, so
    it also works in nbclient/nbconvert runs and stays in the saved notebook). A fit callback:
    `fit(model, X, y, callbacks=[LivePicture(model, X, y, every=20)])` is `live=20`."""

    def __init__(self, model, X, y, every, steps=None):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a number of steps >= 1, got {every!r}")
        try:
            import matplotlib  # noqa: F401
            import numpy  # noqa: F401
        except ImportError as e:             # say so before training, not at the first picture
            raise ImportError(f"fit(live=...) draws with matplotlib and numpy: pip install "
                              f"-e '.[plots,fast]' in micrograd's clone ({e})") from None
        self.model, self.X, self.y, self.every, self.steps = model, X, y, every, steps
        self.handle, self.shown, self.done = None, -1, False

    def start(self, model, history):
        from IPython.display import display
        self.handle = display(display_id=True)      # below fit's progress bar

    def due(self, k):
        return k % self.every == 0

    def __call__(self, k, model, history):
        self.show(history)

    def end(self, model, history):
        self.done = True
        self.show(history)          # the last step's picture, titled "Trained" (also when due)

    def show(self, history):
        from micrograd.viz.plots import figure_png, plot_training
        fig = plot_training(self.model, self.X, self.y, history, title=self.title(history),
                            steps=self.steps)
        self.handle.update(_Picture(figure_png(fig, dpi=80), self.title(history)))
        self.shown = history.steps

    def title(self, history):
        """What the picture shows, said as it is: while training, the step it has reached
        and that step's numbers (measured on its batch before its update, as fit records
        them); at the end, how many steps ran."""
        n = history.steps
        if self.done:
            text = f"Trained {n} step{'s' * (n != 1)}: the last step's loss {history.loss[-1]:.4g}"
        else:
            of = f" of {self.steps}" if self.steps else ""
            text = f"Training, step {n}{of}: loss {history.loss[-1]:.4g}"
        if history.accuracy:
            text += f", training accuracy {history.accuracy[-1]:.1%}"
        if history.val_accuracy:
            text += f", held-out accuracy {history.val_accuracy[-1]:.1%}"
        if getattr(history, "interrupted", False):
            text += " (interrupted)"
        return text


class _Picture:
    """A PNG with a line of text for viewers that show no images."""

    def __init__(self, png, text):
        self.png, self.text = png, text

    def _repr_png_(self):
        return self.png

    def __repr__(self):
        return self.text


def live_picture(live, model, X, y, steps):
    """fit's `live` argument -> a LivePicture, or None (False, or not in a notebook)."""
    every = live_every(live, steps)
    if every is None:
        return None
    if not in_notebook():
        warnings.warn("fit(live=...) draws only in a Jupyter notebook; training without "
                      "pictures (plot_history(history) draws one afterwards)", stacklevel=4)
        return None
    return LivePicture(model, X, y, every, steps)


def live_every(live, steps):
    """How many steps between pictures: True -> a tenth of the run, a number -> itself."""
    if live is False or live is None:
        return None
    if live is True:
        return max(1, steps // 10)
    if isinstance(live, int) and live >= 1:
        return live
    raise ValueError(f"live must be True, False or a number of steps >= 1, got {live!r}")
