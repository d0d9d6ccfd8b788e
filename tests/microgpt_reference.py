"""An independent microgpt, the test's oracle (and the bench's "microgpt-style Value" row).

Written here from the published algorithm (Karpathy's microgpt, February 2026), not imported
from micrograd: its own tiny scalar `V` in microgpt's style (local derivatives stored in the
node at forward time, __slots__, a recursive topological sort), division as `a * b**-1` and
subtraction as `a + (-b)` as microgpt's Value has them, `sum()` chains for every dot product,
and plain-float Adam. Nothing here is shared with micrograd.gpt, so an agreement to the bit is
evidence, not a tautology.

    run = MicroGPT(docs, seed=42)          # shuffles docs, draws the weights (random.Random)
    losses = [run.step(k, 1000) for k in range(1000)]
    names = [run.sample(0.5) for _ in range(20)]
"""
import math
import random
import sys


class V:
    """A scalar node: its value, its gradient, its inputs and d(self)/d(input) for each."""
    __slots__ = ("data", "grad", "kids", "local")

    def __init__(self, data, kids=(), local=()):
        self.data, self.grad, self.kids, self.local = data, 0, kids, local

    def __add__(self, o):
        o = o if isinstance(o, V) else V(o)
        return V(self.data + o.data, (self, o), (1, 1))

    def __mul__(self, o):
        o = o if isinstance(o, V) else V(o)
        return V(self.data * o.data, (self, o), (o.data, self.data))

    def __pow__(self, k):
        return V(self.data ** k, (self,), (k * self.data ** (k - 1),))

    def log(self):
        return V(math.log(self.data), (self,), (1 / self.data,))

    def exp(self):
        e = math.exp(self.data)
        return V(e, (self,), (e,))

    def relu(self):
        return V(max(0, self.data), (self,), (float(self.data > 0),))

    __radd__ = __add__
    __rmul__ = __mul__

    def __neg__(self):
        return self * -1

    def __sub__(self, o):
        return self + (-o)

    def __truediv__(self, o):
        return self * o ** -1

    def __rtruediv__(self, o):
        return o * self ** -1

    def backward(self):
        order, seen = [], set()

        def visit(v):                       # children first, recursively
            if v not in seen:
                seen.add(v)
                for kid in v.kids:
                    visit(kid)
                order.append(v)
        visit(self)
        self.grad = 1
        for v in reversed(order):
            for kid, d in zip(v.kids, v.local):
                kid.grad += d * v.grad


def dot(a, b):
    return sum(x * y for x, y in zip(a, b))


def matvec(w, x):
    return [dot(row, x) for row in w]


def softmax(logits):
    top = max(l.data for l in logits)
    e = [(l - top).exp() for l in logits]
    z = sum(e)
    return [ei / z for ei in e]


def rmsnorm(x):
    mean_sq = sum(xi * xi for xi in x) / len(x)
    s = (mean_sq + 1e-5) ** -0.5
    return [xi * s for xi in x]


class MicroGPT:
    """microgpt's whole program as an object: data order, weights, steps, samples."""

    def __init__(self, docs, seed=42, n_embd=16, n_head=4, n_layer=1, block_size=16,
                 lr=0.01, shuffle=True):
        sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))
        self.rng = random.Random(seed)
        self.docs = list(docs)
        if shuffle:
            self.rng.shuffle(self.docs)
        self.chars = sorted(set("".join(self.docs)))
        self.bos = len(self.chars)
        self.vocab = len(self.chars) + 1
        self.n_embd, self.n_head, self.n_layer, self.block = n_embd, n_head, n_layer, block_size
        self.hd = n_embd // n_head
        self.lr, self.b1, self.b2, self.eps = lr, 0.85, 0.99, 1e-8

        def table(rows, cols):
            return [[V(self.rng.gauss(0, 0.08)) for _ in range(cols)] for _ in range(rows)]
        self.w = {"wte": table(self.vocab, n_embd), "wpe": table(block_size, n_embd),
                  "lm_head": table(self.vocab, n_embd)}
        for i in range(n_layer):
            for name, shape in (("attn_wq", (n_embd, n_embd)), ("attn_wk", (n_embd, n_embd)),
                                ("attn_wv", (n_embd, n_embd)), ("attn_wo", (n_embd, n_embd)),
                                ("mlp_fc1", (4 * n_embd, n_embd)),
                                ("mlp_fc2", (n_embd, 4 * n_embd))):
                self.w[f"layer{i}.{name}"] = table(*shape)
        self.params = [p for m in self.w.values() for row in m for p in row]
        self.m = [0.0] * len(self.params)
        self.v = [0.0] * len(self.params)

    def forward(self, tok, pos, ks, vs):
        w, hd = self.w, self.hd
        x = rmsnorm([a + b for a, b in zip(w["wte"][tok], w["wpe"][pos])])
        for i in range(self.n_layer):
            res = x
            h = rmsnorm(x)
            q = matvec(w[f"layer{i}.attn_wq"], h)
            ks[i].append(matvec(w[f"layer{i}.attn_wk"], h))
            vs[i].append(matvec(w[f"layer{i}.attn_wv"], h))
            heads = []
            for j in range(self.n_head):
                lo, hi = j * hd, (j + 1) * hd
                scores = [dot(q[lo:hi], k[lo:hi]) / hd ** 0.5 for k in ks[i]]
                att = softmax(scores)
                heads += [sum(att[t] * vs[i][t][lo + d] for t in range(len(att)))
                          for d in range(hd)]
            x = [a + b for a, b in zip(matvec(w[f"layer{i}.attn_wo"], heads), res)]
            res = x
            h = [a.relu() for a in matvec(w[f"layer{i}.mlp_fc1"], rmsnorm(x))]
            x = [a + b for a, b in zip(matvec(w[f"layer{i}.mlp_fc2"], h), res)]
        return matvec(w["lm_head"], x)

    def loss(self, doc):
        ids = [self.bos] + [self.chars.index(c) for c in doc] + [self.bos]
        n = min(self.block, len(ids) - 1)
        ks, vs = [[] for _ in range(self.n_layer)], [[] for _ in range(self.n_layer)]
        terms = []
        for pos in range(n):
            probs = softmax(self.forward(ids[pos], pos, ks, vs))
            terms.append(-probs[ids[pos + 1]].log())
        return (1 / n) * sum(terms)

    def step(self, k, total):
        """Training step k of `total` (the lr decays over `total`): returns the loss, a float."""
        loss = self.loss(self.docs[k % len(self.docs)])
        loss.backward()
        lr = self.lr * (1 - k / total)
        for i, p in enumerate(self.params):
            self.m[i] = self.b1 * self.m[i] + (1 - self.b1) * p.grad
            self.v[i] = self.b2 * self.v[i] + (1 - self.b2) * p.grad ** 2
            mh = self.m[i] / (1 - self.b1 ** (k + 1))
            vh = self.v[i] / (1 - self.b2 ** (k + 1))
            p.data -= lr * mh / (vh ** 0.5 + self.eps)
            p.grad = 0
        return loss.data

    def sample(self, temperature=0.5):
        ks, vs = [[] for _ in range(self.n_layer)], [[] for _ in range(self.n_layer)]
        tok, out = self.bos, []
        for pos in range(self.block):
            probs = softmax([l / temperature for l in self.forward(tok, pos, ks, vs)])
            tok = self.rng.choices(range(self.vocab), weights=[p.data for p in probs])[0]
            if tok == self.bos:
                break
            out.append(self.chars[tok])
        return "".join(out)
