"""Training and sampling, microgpt's way: one document per step, the mean next-token loss over
its positions, Adam with betas (0.85, 0.99) and a learning rate falling linearly to 0, and
sampling one character at a time at a temperature.

    model, tok = GPT(GPTConfig(tok.vocab_size), rng), CharTokenizer.from_documents(docs)
    opt = MicroGPTAdam(model.parameters(), lr=0.01, steps=1000)
    for step in range(1000):
        loss = train_step(model, opt, tok.encode(docs[step % len(docs)]))
    print(sample(model, tok, rng, temperature=0.5))
"""
import math
import random
from numbers import Real

from micrograd.engine import Value, no_grad
from micrograd.gpt.model import shifted, softmax, take

__all__ = ["MicroGPTAdam", "cross_entropy", "document_loss", "train_step", "train", "sample",
           "check_temperature"]


class MicroGPTAdam:
    """microgpt's Adam, operation for operation (its bits differ from micrograd.optim.Adam's,
    which follows torch.optim's formulas), with its linear decay built in:

        lr_t = lr * (1 - step / steps)                   step = 0, 1, ..., steps - 1
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g ** 2
        m_hat = m / (1 - beta1 ** (step + 1)),  v_hat = v / (1 - beta2 ** (step + 1))
        p -= lr_t * m_hat / (v_hat ** 0.5 + eps)
        g = 0
    """

    def __init__(self, params, lr=0.01, betas=(0.85, 0.99), eps=1e-8, steps=1000):
        self.params = list(params)
        for name, x in (("lr", lr), ("betas[0]", betas[0]), ("betas[1]", betas[1]),
                        ("eps", eps)):
            if isinstance(x, bool) or not isinstance(x, Real) or not math.isfinite(x) or x < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {x!r}")
        if not (betas[0] < 1 and betas[1] < 1):
            raise ValueError(f"betas must be below 1, got {betas!r}")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be a positive integer, got {steps!r}")
        self.lr, self.betas, self.eps, self.steps = lr, tuple(betas), eps, steps
        self.step_count = 0                     # microgpt's `step` of the next update
        self.m = [0.0] * len(self.params)
        self.v = [0.0] * len(self.params)

    def lr_at(self, step):
        return self.lr * (1 - step / self.steps)

    def fused_optimizer(self):
        """This update on arrays, for micrograd.compile(loss, optimizer=this) (the compiler's
        hook; see micrograd.gpt.compiled)."""
        from micrograd.gpt.compiled import FusedMicroGPTAdam
        return FusedMicroGPTAdam(self)

    def step(self):
        """One update of every parameter from its .grad, then its .grad back to 0."""
        step, (beta1, beta2), eps, m, v = self.step_count, self.betas, self.eps, self.m, self.v
        lr_t = self.lr_at(step)
        bias1, bias2 = 1 - beta1 ** (step + 1), 1 - beta2 ** (step + 1)
        for i, p in enumerate(self.params):
            g = p.grad
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g ** 2
            m_hat = m[i] / bias1
            v_hat = v[i] / bias2
            p.data -= lr_t * m_hat / (v_hat ** 0.5 + eps)
            p.grad = 0.0
        self.step_count += 1


def cross_entropy(logits, target):
    """-log softmax(logits)[target], the target's probability alone: microgpt computes all of
    them and uses one; the others are never on the loss's path (the same number, fewer nodes).
    A target that is a Value (a compiled step's input) is picked by a take node."""
    exps = [s.exp() for s in shifted(logits)]
    picked = take(target, exps) if isinstance(target, Value) else exps[target]
    return -(picked / sum(exps)).log()


def document_loss(model, tokens):
    """The mean next-token loss over a tokenized document (BOS, ids..., BOS), cut to the
    model's context: microgpt's forward pass, one position at a time, keys and values cached."""
    n = min(model.config.block_size, len(tokens) - 1)
    if n < 1:
        raise ValueError("a document needs at least two tokens (BOS ... BOS)")
    keys, values = model.kv_cache()
    losses = []
    for pos_id in range(n):
        logits = model(tokens[pos_id], pos_id, keys, values)
        losses.append(cross_entropy(logits, tokens[pos_id + 1]))
    return (1 / n) * sum(losses)


def train_step(model, optimizer, tokens):
    """Forward, backward, update: one document. Returns the loss as a float."""
    loss = document_loss(model, tokens)
    loss.backward()
    optimizer.step()
    return loss.data


def train(model, tokenizer, docs, steps, lr=0.01, callback=None, compiled=False):
    """microgpt's training loop: step k trains on docs[k % len(docs)] (shuffle docs first, as
    microgpt does, with the same rng as the weights). Returns the losses. callback(step, loss)
    after each step; returning True stops. compiled=True: the same losses and weights, bit for
    bit, from one compiled program (micrograd.gpt.compiled; needs numpy); the model's Values
    are brought up to date when the loop ends."""
    optimizer = MicroGPTAdam(model.parameters(), lr=lr, steps=steps)
    step_fn = lambda tokens: train_step(model, optimizer, tokens)      # noqa: E731
    trainer = None
    if compiled:
        from micrograd.gpt.compiled import CompiledTrainer
        trainer = step_fn = CompiledTrainer(model, optimizer,
                                            positions=longest(model, docs))
    losses = []
    try:
        for step in range(steps):
            losses.append(step_fn(tokenizer.encode(docs[step % len(docs)])))
            if callback is not None and callback(step, losses[-1]) is True:
                break
    finally:
        if trainer is not None:
            trainer.sync()
    return losses


def longest(model, docs):
    """The most positions a document of docs trains (its characters + BOS, cut to the
    context): what a compiled step is traced for."""
    return min(model.config.block_size, 1 + max(map(len, docs), default=0))


def check_temperature(temperature):
    if isinstance(temperature, bool) or not isinstance(temperature, Real) \
            or not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    return temperature


@no_grad()
def sample(model, tokenizer, rng=random, temperature=0.5, prefix=""):
    """One new document: from BOS (and the characters of `prefix`, fed in first), draw each
    next token from softmax(logits / temperature) with rng.choices, as microgpt, until BOS
    comes out or the context (block_size) is full."""
    check_temperature(temperature)
    context = [tokenizer.BOS] + tokenizer.ids(prefix)
    if len(context) > model.config.block_size:
        raise ValueError(f"the prefix has {len(prefix)} characters; the model's context holds "
                         f"{model.config.block_size - 1} after BOS")
    keys, values = model.kv_cache()
    for pos_id, token_id in enumerate(context[:-1]):       # the prefix fills the cache
        model(token_id, pos_id, keys, values)
    token_id, out = context[-1], list(prefix)
    for pos_id in range(len(context) - 1, model.config.block_size):
        logits = model(token_id, pos_id, keys, values)
        probs = softmax([l / temperature for l in logits])
        token_id = rng.choices(range(tokenizer.vocab_size), weights=[p.data for p in probs])[0]
        if token_id == tokenizer.BOS:
            break
        out.append(tokenizer.uchars[token_id])
    return "".join(out)
