"""microgpt (Karpathy, 2026) on micrograd: a GPT trained and sampled on scalar Values.

    from micrograd import gpt
    docs = micrograd.data.names(); rng = random.Random(42); rng.shuffle(docs)
    tok = gpt.CharTokenizer.from_documents(docs)
    model = gpt.GPT(gpt.GPTConfig(tok.vocab_size), rng)
    losses = gpt.train(model, tok, docs, steps=1000)
    print(gpt.sample(model, tok, rng))

With microgpt's configuration and seed it draws the same weights and computes the same losses
and names as microgpt, bit for bit. Modules: tokenizer (characters <-> ids), model (the
network), training (the loss, microgpt's Adam, the loop, sampling). The model file is
micrograd.gpt.modelfile (save_gpt, load_gpt): it builds on micrograd.io, a layer above this
package, so the package itself does not import it.
"""
from micrograd.gpt.model import (GPT, MLP, Block, CausalSelfAttention, Embedding, GPTConfig,
                                 Linear, rmsnorm, softmax)
from micrograd.gpt.tokenizer import CharTokenizer
from micrograd.gpt.training import (MicroGPTAdam, check_temperature, cross_entropy,
                                    document_loss, sample, train, train_step)

__all__ = ["GPT", "GPTConfig", "Embedding", "Linear", "CausalSelfAttention", "MLP", "Block",
           "rmsnorm", "softmax", "CharTokenizer", "MicroGPTAdam", "cross_entropy",
           "document_loss", "train_step", "train", "sample", "check_temperature"]
