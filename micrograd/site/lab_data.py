"""The lab's data without numpy or scikit-learn, number for number (for the site: Pyodide has
neither, see docs/site.md).

`micrograd lab` makes its data with numpy's random streams and scikit-learn's generators. Here
are the same streams in pure Python, so that the page's Python gets the very same floats:

  RandomState   numpy's legacy numpy.random.RandomState(int): MT19937 seeded by init_genrand
                (Python's own Mersenne Twister, given that state: its random() is numpy's
                random_sample), the polar-method Gaussian with its cached second value,
                uniform, and shuffle's masked rejection sampling;
  Generator     numpy.random.default_rng(int): SeedSequence's hash mixing, PCG64 (128-bit LCG,
                XSL-RR output), its 32-bit draws from halves of a 64-bit one, permutation;
  linspace      numpy's: i * step + start, the last one set to stop.

On those, the datasets (moons, circles, blobs as scikit-learn writes them; micrograd's spiral;
the lab's xor) and micrograd.data.train_test_split, as lists: X a list of [x1, x2] rows of
floats, y a list of ints. tests/test_site.py compares every element with numpy's and
scikit-learn's, over many seeds, sizes and noises. sqrt is exact everywhere; log, sin and cos
are the C library's (numpy calls libm for float64 here), and musl's (Pyodide's) are not
glibc's, so in Pyodide they come from micrograd.site.libm (glibc's log; glibc's sin and cos for
every angle the moons and circles use). The spiral's sin and cos are micrograd.trig's, correctly
rounded, in micrograd.data as here: the same everywhere.
"""
import math
import random
import sys

from micrograd import trig

__all__ = ["RandomState", "Generator", "linspace", "make_moons", "make_circles", "make_blobs",
           "make_spiral", "make_xor", "load_dataset", "train_test_split", "lab_data"]

if sys.platform == "emscripten":      # Pyodide: musl's are not glibc's (see libm.py)
    from micrograd.site.libm import cos, log, sin
else:                                 # here they are numpy's own
    from math import cos, log, sin

M32 = 0xFFFFFFFF
M64 = 0xFFFFFFFFFFFFFFFF
M128 = (1 << 128) - 1


def linspace(start, stop, num, endpoint=True):
    start, stop = float(start), float(stop)
    div = num - 1 if endpoint else num
    if num <= 0:
        return []
    if div <= 0:
        return [start]
    step = (stop - start) / div
    out = [i * step + start for i in range(num)]
    if endpoint and num > 1:
        out[-1] = stop
    return out


def _interval(next32, next64, high):
    """numpy's random_interval: a uniform integer in [0, high] by masked rejection."""
    if high == 0:
        return 0
    mask = high
    for shift in (1, 2, 4, 8, 16, 32):
        mask |= mask >> shift
    draw = next32 if high <= M32 else next64
    while True:
        value = draw() & mask
        if value <= high:
            return value


def _shuffle(items, next32, next64):
    for i in range(len(items) - 1, 0, -1):
        j = _interval(next32, next64, i)
        items[i], items[j] = items[j], items[i]
    return items


class RandomState:
    """numpy.random.RandomState(seed) for an integer seed: the calls the datasets make."""

    def __init__(self, seed):
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= M32:
            raise ValueError(f"seed must be an integer from 0 to 2**32 - 1, got {seed!r}")
        mt = [seed]
        for i in range(1, 624):
            mt.append((1812433253 * (mt[-1] ^ (mt[-1] >> 30)) + i) & M32)
        self._mt = random.Random()
        self._mt.setstate((3, tuple(mt) + (624,), None))
        self._gauss = None

    def next32(self):
        return self._mt.getrandbits(32)

    def next64(self):
        return (self.next32() << 32) | self.next32()

    def random_sample(self):
        return self._mt.random()          # (a >> 5) * 2**26 + (b >> 6), over 2**53: numpy's

    def gauss(self):
        if self._gauss is not None:
            g, self._gauss = self._gauss, None
            return g
        while True:
            x1 = 2.0 * self.random_sample() - 1.0
            x2 = 2.0 * self.random_sample() - 1.0
            r2 = x1 * x1 + x2 * x2
            if r2 < 1.0 and r2 != 0.0:
                break
        f = math.sqrt(-2.0 * log(r2) / r2)
        self._gauss = f * x1
        return f * x2

    def normal(self, loc, scale, rows, cols):
        """normal(loc=..., scale=..., size=(rows, cols)); loc a number or one per column."""
        locs = loc if isinstance(loc, list) else [loc] * cols
        return [[locs[c] + scale * self.gauss() for c in range(cols)] for _ in range(rows)]

    def randn(self, n):
        return [self.gauss() for _ in range(n)]

    def uniform(self, low, high, rows, cols):
        span = high - low
        return [[low + span * self.random_sample() for _ in range(cols)] for _ in range(rows)]

    def shuffle(self, items):
        return _shuffle(items, self.next32, self.next64)


class Generator:
    """numpy.random.default_rng(seed) for an integer seed: SeedSequence, PCG64, permutation."""

    MULT = 0x2360ED051FC65DA44385DF649FCCF645

    def __init__(self, seed):
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        words = self._seed_words(seed)
        initstate = (words[0] << 64) | words[1]
        initseq = (words[2] << 64) | words[3]
        self.inc = ((initseq << 1) | 1) & M128
        self.state = 0
        self._step()
        self.state = (self.state + initstate) & M128
        self._step()
        self._half = None

    @staticmethod
    def _seed_words(seed):
        """SeedSequence(seed).generate_state(4, uint64): the pool of 4 words mixed from the
        seed's 32-bit words, then 8 words drawn from it, paired little-endian."""
        entropy = []
        while True:
            entropy.append(seed & M32)
            seed >>= 32
            if seed == 0:
                break
        hash_const = [0x43B0D7E5]

        def hashmix(value):
            value = (value ^ hash_const[0]) & M32
            hash_const[0] = (hash_const[0] * 0x931E8875) & M32
            value = (value * hash_const[0]) & M32
            return value ^ (value >> 16)

        def mix(x, y):
            r = (0xCA01F9DD * x - 0x4973F715 * y) & M32
            return r ^ (r >> 16)

        pool = [hashmix(entropy[i] if i < len(entropy) else 0) for i in range(4)]
        for src in range(4):
            for dst in range(4):
                if src != dst:
                    pool[dst] = mix(pool[dst], hashmix(pool[src]))
        for src in range(4, len(entropy)):
            for dst in range(4):
                pool[dst] = mix(pool[dst], hashmix(entropy[src]))
        hash_const = 0x8B51F9DD
        out = []
        for i in range(8):
            v = (pool[i % 4] ^ hash_const) & M32
            hash_const = (hash_const * 0x58F38DED) & M32
            v = (v * hash_const) & M32
            out.append(v ^ (v >> 16))
        return [out[2 * i] | (out[2 * i + 1] << 32) for i in range(4)]

    def _step(self):
        self.state = (self.state * self.MULT + self.inc) & M128

    def next64(self):
        self._step()
        s = self.state
        x, rot = ((s >> 64) ^ s) & M64, s >> 122
        return ((x >> rot) | (x << ((-rot) & 63))) & M64

    def next32(self):
        if self._half is not None:
            h, self._half = self._half, None
            return h
        v = self.next64()
        self._half = v >> 32
        return v & M32

    def permutation(self, items):
        """rng.permutation(n) for an int, or of a list's items (a new list)."""
        items = list(range(items)) if isinstance(items, int) else list(items)
        return _shuffle(items, self.next32, self.next64)


# ---------------------------------------------------------------------------------------------
# The datasets, as micrograd.data and micrograd.lab.settings make them
# ---------------------------------------------------------------------------------------------
def _shuffled(rng, X, y):
    order = rng.shuffle(list(range(len(y))))
    return [X[i] for i in order], [y[i] for i in order]


def _add_noise(rng, X, noise):
    if noise is None:
        return X
    N = rng.normal(0.0, noise, len(X), 2)
    return [[a + na, b + nb] for (a, b), (na, nb) in zip(X, N)]


def make_moons(n_samples=100, noise=None, random_state=None):
    n_out = n_samples // 2
    n_in = n_samples - n_out
    rng = RandomState(random_state)
    t_out, t_in = linspace(0, math.pi, n_out), linspace(0, math.pi, n_in)
    X = [[cos(t), sin(t)] for t in t_out] + \
        [[1 - cos(t), 1 - sin(t) - 0.5] for t in t_in]
    y = [0] * n_out + [1] * n_in
    X, y = _shuffled(rng, X, y)
    return _add_noise(rng, X, noise), y


def make_circles(n_samples=100, noise=None, factor=0.5, random_state=None):
    n_out = n_samples // 2
    n_in = n_samples - n_out
    rng = RandomState(random_state)
    t_out = linspace(0, 2 * math.pi, n_out, endpoint=False)
    t_in = linspace(0, 2 * math.pi, n_in, endpoint=False)
    X = [[cos(t), sin(t)] for t in t_out] + \
        [[cos(t) * factor, sin(t) * factor] for t in t_in]
    y = [0] * n_out + [1] * n_in
    X, y = _shuffled(rng, X, y)
    return _add_noise(rng, X, noise), y


def make_blobs(n_samples=100, centers=3, cluster_std=1.0, random_state=None):
    rng = RandomState(random_state)
    middles = rng.uniform(-10.0, 10.0, centers, 2)
    counts = [n_samples // centers + (i < n_samples % centers) for i in range(centers)]
    X, y = [], []
    for i, n in enumerate(counts):
        X += rng.normal(middles[i], cluster_std, n, 2)
        y += [i] * n
    return _shuffled(rng, X, y)


def make_spiral(n_samples=100, n_classes=3, noise=0.2, random_state=None):
    rng = RandomState(random_state)
    noise = 0.0 if noise is None else noise
    X, y = [], []
    for j in range(n_classes):
        n = n_samples // n_classes + (j < n_samples % n_classes)
        r = linspace(0.0, 1, n)
        t = [a + g * noise for a, g in zip(linspace(j * 4, (j + 1) * 4, n), rng.randn(n))]
        X += [[ri * s, ri * c] for ri, (s, c) in zip(r, map(trig.sincos, t))]
        y += [j] * n
    return X, y


def _sign(v):
    return 1.0 if v > 0 else -1.0 if v < 0 else 0.0 * v


def make_xor(n_samples=100, noise=0.1, random_state=None):
    rng = RandomState(random_state)
    X = [[a + _sign(a) * 0.05, b + _sign(b) * 0.05]
         for a, b in rng.uniform(-1.0, 1.0, n_samples, 2)]
    y = [int(a * b > 0) for a, b in X]
    g = rng.randn(2 * n_samples)
    X = [[a + g[2 * i] * noise, b + g[2 * i + 1] * noise] for i, (a, b) in enumerate(X)]
    return X, y


DATASETS = {
    "moons": lambda n, noise, seed: make_moons(n, noise, seed),
    "circles": lambda n, noise, seed: make_circles(n, noise, random_state=seed),
    "spiral": lambda n, noise, seed: make_spiral(n, noise=noise, random_state=seed),
    "blobs": lambda n, noise, seed: make_blobs(n, cluster_std=noise, random_state=seed),
    "xor": lambda n, noise, seed: make_xor(n, noise, seed),
}


def load_dataset(name, n_samples, noise, seed):
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name](n_samples, noise, seed)


def train_test_split(X, y, test_fraction, seed, stratify=True):
    """micrograd.data.train_test_split(X, y, test_fraction, seed=seed, stratify=stratify)."""
    rng = Generator(seed)
    n = len(y)
    if stratify:
        test, train = [], []
        for c in sorted(set(y)):
            idx = rng.permutation([i for i, v in enumerate(y) if v == c])
            k = int(round(test_fraction * len(idx)))
            test += idx[:k]
            train += idx[k:]
        test, train = rng.permutation(test), rng.permutation(train)
    else:
        perm = rng.permutation(n)
        k = math.ceil(test_fraction * n)
        train, test = perm[:n - k], perm[n - k:]
    if not test or not train:
        raise ValueError(f"test_fraction={test_fraction} of {n} samples leaves "
                         f"{len(train)} to train on and {len(test)} to test on")
    return [X[i] for i in train], [X[i] for i in test], [y[i] for i in train], \
        [y[i] for i in test]


def lab_data(dataset, samples, noise, seed, test_fraction, points=()):
    """micrograd.lab.settings.load_data for these settings: (X_train, X_test, y_train, y_test),
    X_test and y_test None when test_fraction is 0; the learner's points join the training set."""
    X, y = load_dataset(dataset, samples, noise, seed)
    if test_fraction > 0:
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_fraction, seed, stratify=True)
    else:
        X_tr, X_te, y_tr, y_te = X, None, y, None
    for x1, x2, c in points:
        X_tr = X_tr + [[float(x1), float(x2)]]
        y_tr = y_tr + [int(c)]
    return X_tr, X_te, y_tr, y_te
