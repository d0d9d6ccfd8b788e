"""microgpt's model in micrograd's pieces: a GPT-2 with RMSNorm instead of LayerNorm, no biases
and ReLU instead of GeLU, run one token at a time with a cache of keys and values.

    logits = model(token_id, pos_id, keys, values)     # keys, values = model.kv_cache()

Everything is a scalar `Value`; a vector is a list of Values, a matrix a list of rows. The
numbers are microgpt's bit for bit: the same Gaussian draws in the same order (wte, wpe,
lm_head, then per layer wq, wk, wv, wo, fc1, fc2, each row by row), and the same operations in
the same order. Where microgpt writes `sum(wi * xi for wi, xi in zip(w, x))` we write the
engine's `linear(w, x)`: one node instead of 2n, the same additions in the same order, hence
the same value and the same gradients (d/dw_i = x_i, d/dx_i = w_i).
"""
import math
import random
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass

from micrograd.checks import short
from micrograd.engine import MAX, OPS, Value, linear
from micrograd.nn import Module

__all__ = ["GPTConfig", "GPT", "take", "Embedding", "Linear", "CausalSelfAttention", "MLP", "Block",
           "rmsnorm", "softmax", "shifted", "traced", "MAX_SIZE"]

MAX_SIZE = 4096        # any one dimension; a scalar engine is slow long before this


def take(index, table):
    """table[index] as one node of the engine's `take` row, whose index is in the graph (a
    Value: an input of a compiled program), so a replay picks by the new index; eager's value
    is table[int(index)] itself. The index must be a whole number in range(len(table))."""
    i = index.data if isinstance(index, Value) else index
    if not (0 <= i < len(table) and i == int(i)):
        raise IndexError(f"take: index {short(i)} is not a position of a table of {len(table)}")
    return OPS["take"](index, *table)


@dataclass(frozen=True)
class GPTConfig:
    """microgpt's defaults: 1 layer, 16 wide, 4 heads of 4, a context of 16 tokens."""
    vocab_size: int
    n_embd: int = 16
    n_head: int = 4
    n_layer: int = 1
    block_size: int = 16     # the longest name in names.txt has 15 characters, + BOS
    std: float = 0.08        # of the initial weights

    def __post_init__(self):
        for name in ("vocab_size", "n_embd", "n_head", "n_layer", "block_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_SIZE:
                raise ValueError(f"{name} must be an integer from 1 to {MAX_SIZE}, got {v!r}")
        if self.vocab_size < 2:
            raise ValueError(f"vocab_size must be at least 2 (a character and BOS), "
                             f"got {self.vocab_size}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be a multiple of n_head "
                             f"({self.n_head}): each head reads n_embd // n_head of it")
        if isinstance(self.std, bool) or not isinstance(self.std, (int, float)) \
                or not math.isfinite(self.std) or self.std < 0:
            raise ValueError(f"std must be a finite number >= 0, got {self.std!r}")

    @property
    def head_dim(self):
        return self.n_embd // self.n_head

    @property
    def num_params(self):
        d = self.n_embd
        return (2 * self.vocab_size + self.block_size) * d + self.n_layer * 12 * d * d

    def to_dict(self):
        return asdict(self)


def _matrix(rng, nout, nin, std):
    """microgpt's `matrix`: nout rows of nin weights, each drawn from N(0, std), row by row."""
    return [[Value(rng.gauss(0, std)) for _ in range(nin)] for _ in range(nout)]


class Embedding(Module):
    """A table of vectors, one row per id: `table(i)` is row i (a lookup, not a product)."""

    def __init__(self, num, dim, std=0.08, rng=random):
        self.weight = _matrix(rng, num, dim, std)

    def __call__(self, i):
        if isinstance(i, Value):    # an index in the graph (a compiled step's input): a take
            return [take(i, column) for column in zip(*self.weight)]    # node per column
        return self.weight[i]

    def parameters(self):
        return [p for row in self.weight for p in row]


class Linear(Module):
    """y = W x without a bias: one w·x node per output (the engine's `linear`)."""

    def __init__(self, nin, nout, std=0.08, rng=random):
        self.weight = _matrix(rng, nout, nin, std)

    def __call__(self, x):
        return [linear(w, x) for w in self.weight]

    def parameters(self):
        return [p for row in self.weight for p in row]


def rmsnorm(x):
    """x / sqrt(mean(x²) + 1e-5), microgpt's order: the mean square, then its -1/2 power."""
    ms = linear(x, x) / len(x)
    scale = (ms + 1e-5) ** -0.5
    return [xi * scale for xi in x]


class _Tracing(threading.local):
    on = False


_tracing = _Tracing()


@contextmanager
def traced():
    """The model as the compiler traces it (micrograd.gpt.compiled): softmax's shift is a node
    of the engine's max op, so a replay shifts by its own largest logit, not the trace's."""
    was, _tracing.on = _tracing.on, True
    try:
        yield
    finally:
        _tracing.on = was


def shifted(logits):
    """logits minus the largest, so that exp never overflows. Eagerly the largest is a plain
    number read from .data, as microgpt does (the shift cancels: no gradient). Traced, it is a
    node of the engine's max op (derivative 0): the same bits, as -max is exact."""
    if _tracing.on:
        neg = -MAX(*logits)
        return [val + neg for val in logits]
    max_val = max(val.data for val in logits)
    return [val - max_val for val in logits]


def softmax(logits):
    """exp(l - max) / sum: shifted by the largest logit (see `shifted`)."""
    exps = [s.exp() for s in shifted(logits)]
    total = sum(exps)
    return [e / total for e in exps]


class CausalSelfAttention(Module):
    """Multi-head attention of the current token over itself and every earlier one. `keys` and
    `values` are this layer's cache: each call appends the current token's k and v, so the
    token attends to positions 0..t, never beyond (causal by construction)."""

    def __init__(self, config, rng=random):
        d, std = config.n_embd, config.std
        self.n_head, self.head_dim = config.n_head, config.head_dim
        self.wq = Linear(d, d, std, rng)
        self.wk = Linear(d, d, std, rng)
        self.wv = Linear(d, d, std, rng)
        self.wo = Linear(d, d, std, rng)

    def __call__(self, x, keys, values):
        q, k, v = self.wq(x), self.wk(x), self.wv(x)
        keys.append(k)
        values.append(v)
        out = []
        for h in range(self.n_head):
            out.extend(self.head(h, q, keys, values))
        return self.wo(out)

    def head(self, h, q, keys, values):
        """Head h's output for the query q over the cached keys and values: a softmax of
        q·k_t / √head_dim over the positions t so far, then the weighted sum of their v_t."""
        hs = slice(h * self.head_dim, (h + 1) * self.head_dim)
        q_h = q[hs]
        k_h = [ki[hs] for ki in keys]
        v_h = [vi[hs] for vi in values]
        scale = self.head_dim ** 0.5
        attn_logits = [linear(q_h, k_t) / scale for k_t in k_h]           # q · k_t / √d
        attn_weights = softmax(attn_logits)
        return [linear(attn_weights, [v_t[j] for v_t in v_h])              # Σ_t w_t v_t[j]
                for j in range(self.head_dim)]

    def parameters(self):
        return [p for m in (self.wq, self.wk, self.wv, self.wo) for p in m.parameters()]


class MLP(Module):
    """fc1 (4x wider), ReLU, fc2 back."""

    def __init__(self, config, rng=random):
        d, std = config.n_embd, config.std
        self.fc1 = Linear(d, 4 * d, std, rng)
        self.fc2 = Linear(4 * d, d, std, rng)

    def __call__(self, x):
        return self.fc2([xi.relu() for xi in self.fc1(x)])

    def parameters(self):
        return self.fc1.parameters() + self.fc2.parameters()


class Block(Module):
    """x + attention(rmsnorm(x)), then x + mlp(rmsnorm(x)): pre-norm residual blocks."""

    def __init__(self, config, rng=random):
        self.attn = CausalSelfAttention(config, rng)
        self.mlp = MLP(config, rng)

    def __call__(self, x, keys, values):
        x = [a + b for a, b in zip(self.attn(rmsnorm(x), keys, values), x)]
        return [a + b for a, b in zip(self.mlp(rmsnorm(x)), x)]

    def parameters(self):
        return self.attn.parameters() + self.mlp.parameters()


class GPT(Module):
    """Token and position embeddings, n_layer blocks, and a linear head to vocab_size logits.

    rng: a random.Random (or the random module) to draw the initial weights from, in
    microgpt's order. Forward one token at a time: `model(token_id, pos_id, keys, values)`."""

    def __init__(self, config, rng=random):
        if not isinstance(config, GPTConfig):
            raise TypeError(f"GPT needs a GPTConfig, got {type(config).__name__}")
        self.config = c = config
        # microgpt's state_dict order, which is the order of the random draws
        self.wte = Embedding(c.vocab_size, c.n_embd, c.std, rng)
        self.wpe = Embedding(c.block_size, c.n_embd, c.std, rng)
        self.lm_head = Linear(c.n_embd, c.vocab_size, c.std, rng)
        self.layers = [Block(c, rng) for _ in range(c.n_layer)]

    def kv_cache(self):
        """Empty key and value caches, one list per layer, for a new sequence."""
        return [[] for _ in self.layers], [[] for _ in self.layers]

    def embed(self, token_id, pos_id):
        """The token's embedding plus its position's. (The one place token ids meet the graph:
        a list lookup, so the graph depends on the ids.)"""
        if not 0 <= pos_id < self.config.block_size:
            raise ValueError(f"position {pos_id} is beyond the context of "
                             f"{self.config.block_size} tokens (block_size)")
        return [t + p for t, p in zip(self.wte(token_id), self.wpe(pos_id))]

    def __call__(self, token_id, pos_id, keys, values):
        return self.lm_head(self.hidden(token_id, pos_id, keys, values))

    def hidden(self, token_id, pos_id, keys, values):
        """The last block's output for this token: what lm_head turns into logits."""
        x = rmsnorm(self.embed(token_id, pos_id))  # not redundant: the residual skips the others
        for layer, k, v in zip(self.layers, keys, values):
            x = layer(x, k, v)
        return x

    def state_dict(self):
        """microgpt's names -> matrices (lists of rows of Values), in its order."""
        sd = {"wte": self.wte.weight, "wpe": self.wpe.weight, "lm_head": self.lm_head.weight}
        for i, b in enumerate(self.layers):
            for name, lin in (("attn_wq", b.attn.wq), ("attn_wk", b.attn.wk),
                              ("attn_wv", b.attn.wv), ("attn_wo", b.attn.wo),
                              ("mlp_fc1", b.mlp.fc1), ("mlp_fc2", b.mlp.fc2)):
                sd[f"layer{i}.{name}"] = lin.weight
        return sd

    def parameters(self):
        return [p for mat in self.state_dict().values() for row in mat for p in row]

    def __repr__(self):
        c = self.config
        return (f"GPT(vocab {c.vocab_size}, n_embd {c.n_embd}, n_head {c.n_head}, "
                f"n_layer {c.n_layer}, block_size {c.block_size}, {c.num_params} parameters)")
