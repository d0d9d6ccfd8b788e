"""Datasets: exact shapes and dtypes, scikit-learn's own points, seeded determinism, splits."""
import numpy as np
import pytest
import sklearn.datasets

from micrograd.data import (DATASETS, as_rows, batches, load_dataset, load_digits, make_blobs,
                            make_circles, make_moons, make_spiral, n_classes, train_test_split)

EXPECTED = {  # name -> (n with defaults, features, classes)
    "moons": (100, 2, 2), "circles": (100, 2, 2), "spiral": (100, 2, 3), "blobs": (100, 2, 3),
    "digits": (1797, 64, 10),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_shapes_dtypes_and_classes(name):
    X, y = load_dataset(name)
    n, d, k = EXPECTED[name]
    assert X.shape == (n, d) and y.shape == (n,)
    assert X.dtype == np.float64 and y.dtype == np.int64
    assert n_classes(y) == k and set(y.tolist()) == set(range(k))
    assert np.isfinite(X).all()


@pytest.mark.parametrize("name", list(EXPECTED))
def test_same_seed_same_data_other_seed_other_data(name):
    n = 60 if name != "digits" else 200
    noise = None if name == "digits" else 0.1
    X1, y1 = load_dataset(name, n, noise, seed=3)
    X2, y2 = load_dataset(name, n, noise, seed=3)
    X3, _ = load_dataset(name, n, noise, seed=4)
    assert np.array_equal(X1, X2) and np.array_equal(y1, y2)
    assert X1.shape == X3.shape and not np.array_equal(X1, X3)


@pytest.mark.parametrize("kwargs", [
    dict(n_samples=100, noise=0.1, random_state=1337),
    dict(n_samples=37, noise=None, random_state=0),
    dict(n_samples=200, noise=0.3, random_state=np.random.RandomState(5)),
    dict(n_samples=(10, 30), noise=0.05, random_state=2),
])
def test_moons_are_sklearns_points(kwargs):
    theirs = dict(kwargs)
    if isinstance(kwargs["random_state"], np.random.RandomState):
        theirs["random_state"] = np.random.RandomState(5)
    X, y = make_moons(**kwargs)
    Xs, ys = sklearn.datasets.make_moons(**theirs)
    assert np.array_equal(X, Xs) and np.array_equal(y, ys)


def test_moons_from_numpys_global_state_like_the_demo():
    np.random.seed(1337)
    X, y = load_dataset("moons", 100, 0.1, seed=None)
    np.random.seed(1337)
    Xs, ys = sklearn.datasets.make_moons(n_samples=100, noise=0.1)
    assert np.array_equal(X, Xs) and np.array_equal(y, ys)


def test_circles_and_blobs_are_sklearns():
    for ours, theirs in [
        (make_circles(50, noise=0.05, factor=0.3, random_state=1),
         sklearn.datasets.make_circles(50, noise=0.05, factor=0.3, random_state=1)),
        (make_blobs(40, centers=4, n_features=3, cluster_std=0.5, random_state=2),
         sklearn.datasets.make_blobs(40, centers=4, n_features=3, cluster_std=0.5,
                                     random_state=2)),
        (load_dataset("blobs", 30, 0.7, seed=9),
         sklearn.datasets.make_blobs(30, cluster_std=0.7, random_state=9)),
    ]:
        assert np.array_equal(ours[0], theirs[0]) and np.array_equal(ours[1], theirs[1])


def test_spiral_is_the_cs231n_spiral():
    """CS231n's loop, verbatim apart from the seeding and its sin and cos: correctly rounded
    (micrograd.trig, the same bits in the static site). numpy's differ from them in the last
    bit for a few points; those are one ulp apart and nothing more."""
    from micrograd import trig
    X, y = make_spiral(n_samples=300, n_classes=3, noise=0.2, random_state=0)
    rng = np.random.RandomState(0)
    N, K = 100, 3
    Xc, yc = np.zeros((N * K, 2)), np.zeros(N * K, dtype="uint8")
    Xn = np.zeros((N * K, 2))
    for j in range(K):
        ix = range(N * j, N * (j + 1))
        r = np.linspace(0.0, 1, N)
        t = np.linspace(j * 4, (j + 1) * 4, N) + rng.randn(N) * 0.2
        exact_sin = np.array([trig.sin(a) for a in t.tolist()])
        exact_cos = np.array([trig.cos(a) for a in t.tolist()])
        Xc[ix] = np.c_[r * exact_sin, r * exact_cos]
        Xn[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        yc[ix] = j
    assert np.array_equal(X, Xc) and np.array_equal(y, yc)
    differ = X != Xn
    assert differ.sum() < 10                     # glibc's here: a few in 600, one ulp each
    np.testing.assert_array_max_ulp(X, Xn, maxulp=1)


def test_spiral_uneven_split_and_no_noise():
    X, y = make_spiral(n_samples=10, n_classes=3, noise=0.0)
    assert np.bincount(y).tolist() == [4, 3, 3]
    assert np.allclose(np.hypot(X[:, 0], X[:, 1])[:4], np.linspace(0, 1, 4))
    with pytest.raises(ValueError, match="n_samples"):
        make_spiral(n_samples=2, n_classes=3)


def test_digits():
    X, y = load_digits()
    d = sklearn.datasets.load_digits()
    assert np.array_equal(X, d.data / 16.0) and np.array_equal(y, d.target)
    assert X.min() == 0.0 and X.max() == 1.0
    Xs, ys = load_digits(n_samples=50, random_state=1)
    assert Xs.shape == (50, 64)
    rows = {r.tobytes() for r in X}
    assert all(r.tobytes() in rows for r in Xs)
    with pytest.raises(ValueError, match="no noise setting"):
        load_dataset("digits", noise=0.1)
    with pytest.raises(ValueError, match=r"n_samples must be an integer in \[1, 1797\]"):
        load_digits(n_samples=5000)


def test_unknown_dataset_message():
    with pytest.raises(ValueError) as e:
        load_dataset("x")
    assert str(e.value) == ("unknown dataset 'x'; choose one of moons, circles, spiral, "
                            "blobs, digits")
    assert set(DATASETS) == set(EXPECTED)


def test_n_classes():
    assert n_classes(np.array([0, 2, 2])) == 3
    with pytest.raises(ValueError):
        n_classes(np.array([-1, 1]))
    with pytest.raises(ValueError):
        n_classes(np.array([0.5, 1.0]))


# ---- splitting and batching -------------------------------------------------------------
@pytest.mark.parametrize("stratify", [False, True])
def test_train_test_split(stratify):
    X, y = load_dataset("spiral", 99, seed=1)
    Xtr, Xte, ytr, yte = train_test_split(X, y, 0.2, seed=5, stratify=stratify)
    assert len(Xtr) + len(Xte) == 99 and len(ytr) == len(Xtr) and len(yte) == len(Xte)
    assert len(Xte) == (21 if stratify else 20)           # round(0.2*33)*3 vs ceil(0.2*99)
    train, test = {r.tobytes() for r in Xtr}, {r.tobytes() for r in Xte}
    assert not train & test and len(train | test) == 99     # disjoint, and nothing lost
    lookup = {r.tobytes(): c for r, c in zip(X, y)}         # labels travel with their rows
    assert all(lookup[r.tobytes()] == c for r, c in zip(Xte, yte))
    if stratify:
        assert np.bincount(yte).tolist() == [7, 7, 7]
    again = train_test_split(X, y, 0.2, seed=5, stratify=stratify)
    other = train_test_split(X, y, 0.2, seed=6, stratify=stratify)
    assert np.array_equal(again[1], Xte) and not np.array_equal(other[1], Xte)


@pytest.mark.parametrize("frac", [0.0, 1.0, 1.5, 0.001])
def test_train_test_split_refuses_degenerate_fractions(frac):
    X, y = load_dataset("moons", 10)
    if frac == 0.001:
        train_test_split(X, y, frac)                           # ceil: one test sample
        with pytest.raises(ValueError, match="0 to test on"):
            train_test_split(X, y, frac, stratify=True)
    else:
        with pytest.raises(ValueError, match="test_fraction"):
            train_test_split(X, y, frac)


@pytest.mark.parametrize("batch_size, seed", [(None, None), (7, None), (7, 0), (100, 3),
                                              (1, 1)])
def test_batches_cover_every_sample_once(batch_size, seed):
    X, y = load_dataset("blobs", 30, seed=2)
    got = list(batches(X, y, batch_size, seed=seed))
    size = batch_size or 30
    assert [len(b[0]) for b in got] == [min(size, 30 - s) for s in range(0, 30, size)]
    Xall, yall = np.concatenate([b[0] for b in got]), np.concatenate([b[1] for b in got])
    order = np.lexsort(Xall.T)
    assert np.array_equal(Xall[order], X[np.lexsort(X.T)])  # a permutation of X
    assert np.array_equal(yall[order], y[np.lexsort(X.T)])  # labels stay with their rows
    if seed is None:
        assert np.array_equal(Xall, X)                        # order kept


def test_batches_shuffle_per_epoch():
    X, y = load_dataset("moons", 40, seed=0)
    first = lambda s: next(batches(X, y, 10, seed=s))[1].tolist()   # noqa: E731
    assert first(1) == first(1) and first(1) != first(2)
    rng = np.random.default_rng(0)                        # one Generator: new order each epoch
    assert first(rng) != first(rng)
    with pytest.raises(ValueError, match="batch_size"):
        next(batches(X, y, 0))


def test_as_rows():
    X, _ = load_dataset("moons", 5, seed=0)
    rows = as_rows(X)
    assert rows == X.tolist() and all(type(v) is float for r in rows for v in r)
    assert as_rows(np.array([[1, 2]])) == [[1.0, 2.0]]
    assert type(as_rows(np.array([[1, 2]]))[0][0]) is float
    with pytest.raises(ValueError, match="2-D"):
        as_rows(np.zeros(3))



def test_holdout_is_the_seeded_stratified_split_or_no_test_set():
    from micrograd.data import holdout, load_dataset, train_test_split
    X, y = load_dataset("moons", n_samples=50, seed=3)
    got, want = holdout(X, y, 0.2, 7), train_test_split(X, y, 0.2, seed=7, stratify=True)
    assert all(np.array_equal(a, b) for a, b in zip(got, want))
    X_tr, X_te, y_tr, y_te = holdout(X, y, 0, 7)
    assert X_tr is X and y_tr is y and X_te is None and y_te is None
