"""micrograd.viz.plots writes real pictures: PNG and GIF files, checked by their bytes."""
import io
import random

import numpy as np
import pytest

from micrograd.engine import Value, no_grad
from micrograd.nn import MLP
from micrograd.train import History, fit
from micrograd.viz.plots import (animate_decision_boundary, decision_grid, figure_png,
                                 get_weights, plot_decision_boundary, plot_history,
                                 plot_training, set_weights)

PNG = b"\x89PNG\r\n\x1a\n"


def assert_png(path, min_bytes=10_000):
    data = path.read_bytes()
    assert data[:8] == PNG and len(data) > min_bytes, (path, len(data))


@pytest.fixture(scope="module")
def moons():
    from micrograd.data import make_moons
    X, y = make_moons(60, noise=0.1, random_state=0)
    random.seed(0)
    model = MLP(2, [8, 8, 1])
    history = fit(model, X, y, lr=0.5, steps=20, progress=False)
    return model, X, y, history


@pytest.fixture(scope="module")
def blobs():
    from micrograd.data import make_blobs
    X, y = make_blobs(60, centers=3, random_state=2)
    random.seed(0)
    model = MLP(2, [8, 3])
    fit(model, X, y, loss="cross_entropy", optimizer="adam", lr=0.05, steps=20,
        progress=False)
    return model, X, y


def test_decision_boundary_png(moons, tmp_path):
    model, X, y, _ = moons
    fig = plot_decision_boundary(model, X, y, tmp_path / "b.png")
    assert_png(tmp_path / "b.png")
    ax = fig.axes[0]
    assert "Decision boundary" in ax.get_title()
    assert ax.get_xlabel() and ax.get_ylabel()
    assert ax.get_aspect() == 1.0


def test_decision_boundary_multiclass_and_plus_minus_labels(blobs, moons, tmp_path):
    model, X, y = blobs
    plot_decision_boundary(model, X, y, tmp_path / "m.png", title="three blobs")
    assert_png(tmp_path / "m.png")
    model, X, y, _ = moons
    plot_decision_boundary(model, X, y * 2 - 1, tmp_path / "pm.png")
    assert_png(tmp_path / "pm.png")


def test_decision_boundary_into_a_given_axes(moons, tmp_path):
    from matplotlib.figure import Figure
    model, X, y, _ = moons
    fig = Figure(figsize=(8, 4))
    ax1, ax2 = fig.subplots(1, 2)
    assert plot_decision_boundary(model, X, y, ax=ax2, title="mine") is fig
    assert ax2.get_title() == "mine" and not ax1.collections
    fig.savefig(tmp_path / "two.png")
    assert_png(tmp_path / "two.png")


def test_grid_matches_the_model_point_by_point(moons, blobs):
    """The fast numpy path for plain MLPs agrees with the model itself."""
    for model, X in ((moons[0], moons[1]), (blobs[0], blobs[1])):
        xx, yy, Z = decision_grid(model, X, h=0.3)
        assert Z.shape[:2] == xx.shape
        rng = np.random.default_rng(0)
        with no_grad():
            for _ in range(20):
                i, j = rng.integers(xx.shape[0]), rng.integers(xx.shape[1])
                out = model([float(xx[i, j]), float(yy[i, j])])
                expect = [v.data for v in out] if isinstance(out, list) else out.data
                assert np.allclose(Z[i, j], expect, rtol=1e-12, atol=1e-12)


def test_any_callable_model_works(tmp_path):
    class Circle:                     # not an nn.MLP: evaluated point by point
        def __call__(self, x):
            return 1 - (Value(x[0]) ** 2 + Value(x[1]) ** 2)

        def parameters(self):
            return []

    X = np.array([[0.0, 0.1], [0.2, -0.3], [1.5, 0.0], [0.0, -1.6]])
    y = np.array([1, 1, 0, 0])
    xx, yy, Z = decision_grid(Circle(), X, h=0.1)
    i, j = np.unravel_index(np.argmin(xx ** 2 + yy ** 2), xx.shape)
    assert Z[i, j] == pytest.approx(1 - xx[i, j] ** 2 - yy[i, j] ** 2) and Z[i, j] > 0.9
    assert Z[0, 0] < 0
    plot_decision_boundary(Circle(), X, y, tmp_path / "c.png", h=0.05)
    assert (tmp_path / "c.png").read_bytes()[:8] == PNG


def test_decision_boundary_needs_2d_data(moons):
    model = moons[0]
    with pytest.raises(ValueError, match="2-D inputs"):
        plot_decision_boundary(model, np.zeros((5, 3)), np.zeros(5))
    with pytest.raises(ValueError, match="5 rows but y has 4"):
        plot_decision_boundary(model, np.zeros((5, 2)), np.zeros(4))


def test_history_png(moons, tmp_path):
    _, _, _, history = moons
    fig = plot_history(history, tmp_path / "h.png")
    assert_png(tmp_path / "h.png")
    titles = [ax.get_title() for ax in fig.axes]
    assert "Loss" in titles and "Accuracy" in titles
    assert "20 steps" in fig._suptitle.get_text()


def test_history_with_validation_noise_and_interruption(tmp_path):
    rng = np.random.default_rng(0)
    n = 300
    h = History(loss=list(np.exp(-np.arange(n) / 80) + rng.random(n) * 0.3),
                accuracy=list(np.clip(0.5 + np.arange(n) / 600 + rng.random(n) * 0.2, 0, 1)),
                lr=list(np.linspace(0.1, 0.01, n)), val_step=[99, 199, 299],
                val_loss=[0.6, 0.4, 0.3], val_accuracy=[0.8, 0.9, 0.93], interrupted=True)
    fig = plot_history(h, tmp_path / "v.png")
    assert_png(tmp_path / "v.png")
    title = fig._suptitle.get_text()
    assert title == (f"Training: 300 steps, final loss {h.loss[-1]:.4g}, training accuracy "
                     f"{100 * h.accuracy[-1]:.1f}%, held-out accuracy 93.0% (interrupted)")
    plot_history(h.to_dict(), tmp_path / "d.png", smooth=1)        # a plain dict works too
    assert_png(tmp_path / "d.png")


def test_empty_history_is_refused(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        plot_history(History(), tmp_path / "e.png")


def test_animation_gif(tmp_path):
    from PIL import Image

    from micrograd.data import make_moons
    X, y = make_moons(40, noise=0.1, random_state=0)
    random.seed(0)
    model = MLP(2, [8, 1])
    snaps = [(0, get_weights(model))]

    def snap(k, model, history):
        if (k + 1) % 5 == 0:
            snaps.append((k + 1, get_weights(model), {"loss": history.loss[-1]}))

    fit(model, X, y, lr=0.5, steps=20, callback=snap, progress=False)
    final = get_weights(model)
    path = tmp_path / "t.gif"
    assert animate_decision_boundary(snaps, X, y, path, model=model, fps=4) == path
    data = path.read_bytes()
    assert data[:6] == b"GIF89a" and len(data) > 10_000
    with Image.open(path) as im:
        assert im.n_frames >= len(snaps) - 1     # identical frames may be merged
    assert get_weights(model) == final           # the model's weights are put back


def test_animation_arguments(moons, tmp_path):
    model, X, y, _ = moons
    with pytest.raises(TypeError, match="model="):
        animate_decision_boundary([(0, get_weights(model))], X, y, tmp_path / "a.gif")
    with pytest.raises(ValueError, match="no snapshots"):
        animate_decision_boundary([], X, y, tmp_path / "a.gif", model=model)
    with pytest.raises(ValueError, match="parameters"):
        set_weights(model, [1.0, 2.0])


def test_plots_do_not_touch_pyplot():
    import matplotlib
    import sys
    backend = matplotlib.get_backend() if "matplotlib.pyplot" in sys.modules else None
    import micrograd.viz.plots  # noqa: F401
    if backend is not None:
        assert matplotlib.get_backend() == backend


def test_figures_show_themselves_in_ipython_without_pyplot(moons):
    """IPython's own formatter (what a notebook runs on a cell's value) finds a PNG; the
    kernel-level checks, with and without pyplot, are in test_notebooks.py."""
    from IPython.core.formatters import DisplayFormatter
    from PIL import Image
    model, X, y, history = moons
    for fig in (plot_decision_boundary(model, X, y), plot_history(history),
                plot_training(model, X, y, history)):
        data, _ = DisplayFormatter().format(fig)
        assert sorted(data) == ["image/png", "text/plain"]
        assert data["image/png"][:8] == PNG
        with Image.open(io.BytesIO(data["image/png"])) as im:     # drawn at 100 dpi
            assert im.size == tuple(round(100 * v) for v in fig.get_size_inches())


def test_training_picture_has_the_boundary_for_2d_data_only(moons):
    model, X, y, history = moons
    fig = plot_training(model, X, y, history)
    assert [ax.get_title() for ax in fig.axes] == ["Decision boundary", "Loss", "Accuracy"]
    assert fig._suptitle.get_text() == plot_history(history)._suptitle.get_text()
    X3 = np.column_stack([X, X[:, 0]])
    random.seed(0)
    model3 = MLP(3, [4, 1])
    h3 = fit(model3, X3, y, lr=0.5, steps=5, progress=False)
    fig = plot_training(model3, X3, y, h3)
    assert [ax.get_title() for ax in fig.axes] == ["Loss", "Accuracy"]
    assert figure_png(fig)[:8] == PNG
