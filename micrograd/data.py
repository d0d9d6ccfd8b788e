"""Toy datasets for training small MLPs, and the plumbing to feed them to micrograd.

This module needs numpy and scikit-learn (`pip install -e ".[datasets]"` in the clone); the
engine does not. Every dataset function returns `(X, y)`: X float64 of shape (n, d), y int64 of
shape (n,) with classes 0..K-1. A micrograd model reads rows of plain floats: `as_rows(X)`.

Text for sequence models (micrograd.gpt): `names()` is makemore's 32,033 names, shipped in the
package (no download); `load_documents(path)` reads any UTF-8 text file, one document per line.

The 2-D sets are the classic ones for looking at decision boundaries: moons (the original
micrograd demo), circles, blobs and the CS231n spiral; digits is sklearn's bundled 8x8 images.
"""
import math
import os
import stat

import numpy as np

from micrograd import trig

__all__ = ["make_moons", "make_circles", "make_blobs", "make_spiral", "load_digits",
           "DATASETS", "load_dataset", "n_classes", "train_test_split", "holdout", "batches",
           "as_rows", "names", "load_documents", "parse_documents", "MAX_DOCUMENTS",
           "MAX_DOCUMENT_CHARS", "MAX_TEXT_BYTES"]


def _sklearn():
    """scikit-learn's datasets, imported when a 2-D set is made: the import takes about a
    second, which `micrograd gpt` (names and text files, no scikit-learn) should not pay."""
    import sklearn.datasets
    return sklearn.datasets


def check_random_state(seed):
    """scikit-learn's (the same generator for the same seed), imported when used."""
    from sklearn.utils import check_random_state
    return check_random_state(seed)


def _xy(X, y):
    return np.ascontiguousarray(X, dtype=np.float64), np.ascontiguousarray(y, dtype=np.int64)


def make_moons(n_samples=100, noise=None, random_state=None):
    """Two interleaving half circles: exactly scikit-learn's points (it is a thin wrapper)."""
    return _xy(*_sklearn().make_moons(n_samples=n_samples, noise=noise,
                                      random_state=random_state))


def make_circles(n_samples=100, noise=None, factor=0.5, random_state=None):
    """A small circle inside a large one (scikit-learn's); `factor` is the inner radius."""
    return _xy(*_sklearn().make_circles(n_samples=n_samples, noise=noise, factor=factor,
                                        random_state=random_state))


def make_blobs(n_samples=100, centers=3, n_features=2, cluster_std=1.0, random_state=None):
    """Gaussian clusters, one class each (scikit-learn's)."""
    return _xy(*_sklearn().make_blobs(n_samples=n_samples, centers=centers,
                                      n_features=n_features, cluster_std=cluster_std,
                                      random_state=random_state))


def make_spiral(n_samples=100, n_classes=3, noise=0.2, random_state=None):
    """The CS231n spiral: `n_classes` arms winding out from the origin, not linearly separable.

    Arm j has radii evenly spaced in [0, 1] and angles evenly spaced in [4j, 4(j+1)] plus
    Gaussian noise of standard deviation `noise`. Points come ordered by class (as in CS231n);
    samples are shared out like scikit-learn's, the first n_samples % n_classes arms get one
    more. sin and cos are correctly rounded (micrograd.trig), not numpy's: the same bits on
    every platform, and in the static site's lab (numpy's differ from them in the last bit
    for about one angle in 500 here)."""
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive integer, got {n_classes!r}")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < n_classes:
        raise ValueError(f"n_samples must be an integer >= n_classes ({n_classes}), "
                         f"got {n_samples!r}")
    rng = check_random_state(random_state)
    noise = 0.0 if noise is None else noise
    X, y = [], []
    for j in range(n_classes):
        n = n_samples // n_classes + (j < n_samples % n_classes)
        r = np.linspace(0.0, 1, n)
        t = np.linspace(j * 4, (j + 1) * 4, n) + rng.randn(n) * noise
        sin_t, cos_t = np.array([trig.sincos(a) for a in t.tolist()], dtype=np.float64).T
        X.append(np.c_[r * sin_t, r * cos_t])
        y.append(np.full(n, j))
    return _xy(np.concatenate(X), np.concatenate(y))


DIGITS_SIZE = 1797


def load_digits(n_samples=None, random_state=None):
    """scikit-learn's bundled 8x8 handwritten digits (no download): 1797 images, 10 classes,
    64 pixels scaled from 0..16 to [0, 1]. `n_samples` takes a seeded random subset, because a
    scalar engine is slow on all 1797x64."""
    d = _sklearn().load_digits()
    X, y = _xy(d.data / 16.0, d.target)
    if n_samples is None:
        return X, y
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) \
            or not 1 <= n_samples <= len(y):
        raise ValueError(f"digits: n_samples must be an integer in [1, {len(y)}], "
                         f"got {n_samples!r}")
    idx = np.sort(check_random_state(random_state).permutation(len(y))[:n_samples])
    return X[idx], y[idx]


# name -> fn(n_samples=None, noise=None, random_state=None); None means "the dataset's default"
def _moons(n_samples=None, noise=None, random_state=None):
    return make_moons(100 if n_samples is None else n_samples, noise, random_state)


def _circles(n_samples=None, noise=None, random_state=None):
    return make_circles(100 if n_samples is None else n_samples, noise,
                        random_state=random_state)


def _spiral(n_samples=None, noise=None, random_state=None):
    return make_spiral(100 if n_samples is None else n_samples,
                       noise=0.2 if noise is None else noise, random_state=random_state)


def _blobs(n_samples=None, noise=None, random_state=None):
    """For blobs the noise is the clusters' standard deviation."""
    return make_blobs(100 if n_samples is None else n_samples,
                      cluster_std=1.0 if noise is None else noise, random_state=random_state)


def _digits(n_samples=None, noise=None, random_state=None):
    if noise is not None:
        raise ValueError(f"digits has no noise setting (got noise={noise!r}); leave it None")
    return load_digits(n_samples, random_state)


DATASETS = {"moons": _moons, "circles": _circles, "spiral": _spiral, "blobs": _blobs,
            "digits": _digits}


def load_dataset(name, n_samples=None, noise=None, seed=0):
    """A dataset by name, seeded (seed=None draws from numpy's global state, so the original
    demo's data is `np.random.seed(1337); load_dataset('moons', 100, 0.1, seed=None)`)."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name](n_samples=n_samples, noise=noise, random_state=seed)


def n_classes(y):
    """Number of classes, max label + 1 (labels are 0..K-1; a class may be absent from y)."""
    y = np.asarray(y)
    if y.size == 0 or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise ValueError("n_classes needs a non-empty array of labels 0..K-1")
    return int(y.max()) + 1


def _check_xy(X, y):
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
        raise ValueError(f"X must be (n, d) and y (n,), got shapes {X.shape} and {y.shape}")
    return X, y


def train_test_split(X, y, test_fraction=0.2, seed=0, stratify=False):
    """Seeded shuffle, then the last ceil(test_fraction * n) samples are the test set.

    `stratify=True` splits each class separately (round(test_fraction * n_class) each), so
    that small classes appear on both sides."""
    X, y = _check_xy(X, y)
    n = len(y)
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be strictly between 0 and 1, got {test_fraction!r}")
    rng = np.random.default_rng(seed)
    if stratify:
        test, train = [], []
        for c in np.unique(y):
            idx = rng.permutation(np.flatnonzero(y == c))
            k = int(round(test_fraction * len(idx)))
            test.append(idx[:k])
            train.append(idx[k:])
        test, train = rng.permutation(np.concatenate(test)), rng.permutation(np.concatenate(train))
    else:
        perm = rng.permutation(n)
        k = math.ceil(test_fraction * n)
        train, test = perm[:n - k], perm[n - k:]
    if len(test) == 0 or len(train) == 0:
        raise ValueError(f"test_fraction={test_fraction} of {n} samples leaves "
                         f"{len(train)} to train on and {len(test)} to test on")
    return X[train], X[test], y[train], y[test]


def holdout(X, y, test_fraction, seed):
    """The held-out split `micrograd train` and the lab make, so that both give the same
    numbers: stratified and seeded; with test_fraction 0, no test set (X, None, y, None)."""
    if test_fraction == 0:
        return X, None, y, None
    return train_test_split(X, y, test_fraction, seed=seed, stratify=True)


def batches(X, y, batch_size=None, seed=None):
    """One epoch of minibatches (X_batch, y_batch), every sample exactly once.

    seed=None keeps the order; an int shuffles reproducibly (pass the epoch number, or a
    numpy Generator, to get a new order every epoch). batch_size=None is one full batch, the
    demo's default. The last batch may be smaller."""
    X, y = _check_xy(X, y)
    n = len(y)
    if batch_size is None:
        batch_size = n
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    order = np.arange(n) if seed is None else np.random.default_rng(seed).permutation(n)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        yield X[idx], y[idx]


def as_rows(X):
    """A 2-D array as a list of rows of Python floats, the input a micrograd MLP reads."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"as_rows needs a 2-D array, got shape {X.shape}")
    return X.tolist()


# ---------------------------------------------------------------------------------------------
# Text: one document per line (microgpt's dataset). Standard library only.
# ---------------------------------------------------------------------------------------------
MAX_TEXT_BYTES = 64 * 1024 * 1024    # names.txt is 228 kB; a scalar engine reads far less
MAX_DOCUMENTS = 1_000_000
MAX_DOCUMENT_CHARS = 1_000           # a "document" is a name, a word, a line: not a book
NAMES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "datasets", "names.txt")


def names():
    """makemore's names.txt (MIT, Andrej Karpathy; see micrograd/datasets/names.LICENSE):
    32,033 lowercase names, in the file's order, read offline from the package."""
    return load_documents(NAMES_FILE)


def load_documents(path):
    """The documents of a UTF-8 text file, one per line, stripped, blank lines skipped (as
    microgpt reads its input). Refuses, in one line naming the file: an empty file, a file that
    is not UTF-8, a line longer than MAX_DOCUMENT_CHARS, more than MAX_DOCUMENTS lines, more
    than MAX_TEXT_BYTES, anything but a regular file (a FIFO would block)."""
    name = os.fspath(path)
    # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused just below)
    fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with open(fd, "rb") as f:
        mode = os.fstat(f.fileno()).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(21, "Is a directory", name)
        if not stat.S_ISREG(mode):
            raise ValueError(f"{name}: not a regular file")
        raw = f.read(MAX_TEXT_BYTES + 1)
    if len(raw) > MAX_TEXT_BYTES:
        raise ValueError(f"{name}: larger than {MAX_TEXT_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise ValueError(f"{name}: not UTF-8 text (line {line}, byte {e.start}: "
                         f"{raw[e.start:e.start + 1]!r})") from None
    return parse_documents(text, name)


def parse_documents(text, source="text"):
    """Documents from a string: one per line (\\n, \\r\\n or \\r ends a line, as Python's text
    files read), stripped, blank lines skipped; bounded as load_documents."""
    if text.startswith("\ufeff"):          # a byte-order mark is not part of the first name
        text = text[1:]
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    docs = []
    for i, line in enumerate(lines, 1):
        doc = line.strip()
        if not doc:
            continue
        if len(doc) > MAX_DOCUMENT_CHARS:
            raise ValueError(f"{source}: line {i} has {len(doc)} characters; a document is one "
                             f"line of at most {MAX_DOCUMENT_CHARS}")
        if len(docs) == MAX_DOCUMENTS:
            raise ValueError(f"{source}: more than {MAX_DOCUMENTS} documents")
        docs.append(doc)
    if not docs:
        raise ValueError(f"{source}: no documents (the file is empty or blank)")
    return docs
