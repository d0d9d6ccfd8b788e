"""Saving and loading a trained GPT as plain JSON (numbers and names only: loading never
pickles, evals or imports anything).

    {"format": "micrograd.gpt", "kind": "gpt", "version": 1,
     "config": {"vocab_size": 27, "n_embd": 16, "n_head": 4, "n_layer": 1, "block_size": 16,
                "std": 0.08},
     "vocab": "abc...z",                       # the characters of ids 0..vocab_size-2; BOS last
     "weights": {"wte": [[...], ...], "wpe": ..., "lm_head": ..., "layer0.attn_wq": ..., ...},
     "meta": {...free-form training info...}}

Floats are written with repr (exact round trip). Saving goes through micrograd.io's atomic
write (temp file, fsync, rename). Loading bounds its work before reading at length (a regular
file of at most io.MAX_BYTES; the configuration checked, its parameter count at most
io.MAX_PARAMETERS, before any weight is read) and checks every field; a problem is one line
naming the file, as an io.ModelFileError. An MLP file from `micrograd train` is named as such.
"""
import json
import math
import os
import random
import stat

from micrograd import io
from micrograd.engine import Value
from micrograd.gpt.model import MAX_SIZE, GPT, GPTConfig
from micrograd.gpt.tokenizer import CharTokenizer

__all__ = ["save_gpt", "load_gpt", "gpt_to_dict", "gpt_from_dict", "FORMAT", "KIND", "VERSION"]

FORMAT, KIND, VERSION = "micrograd.gpt", "gpt", 1
_CONFIG_KEYS = ("vocab_size", "n_embd", "n_head", "n_layer", "block_size", "std")


class _Bad(Exception):
    pass


def gpt_to_dict(model, tokenizer, meta=None):
    """The JSON-ready document; refuses non-finite weights and a tokenizer of another size."""
    if not isinstance(model, GPT):
        raise ValueError(f"can only save a GPT here, got {type(model).__name__}")
    if tokenizer.vocab_size != model.config.vocab_size:
        raise ValueError(f"the tokenizer has {tokenizer.vocab_size} tokens, the model "
                         f"{model.config.vocab_size}")
    meta = {} if meta is None else meta
    try:
        json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"meta is not plain JSON data: {e}") from None
    weights = {}
    for name, mat in model.state_dict().items():
        rows = [[p.data for p in row] for row in mat]
        if not all(math.isfinite(x) for row in rows for x in row):
            raise ValueError(f"cannot save a model with a non-finite weight in {name}")
        weights[name] = rows
    return {"format": FORMAT, "kind": KIND, "version": VERSION,
            "config": model.config.to_dict(), "vocab": "".join(tokenizer.uchars),
            "weights": weights, "meta": meta}


def save_gpt(model, tokenizer, path, meta=None):
    """Write the model, its vocabulary and `meta` to `path`, atomically."""
    doc = gpt_to_dict(model, tokenizer, meta)
    path = os.fspath(path)
    try:
        io._write_atomically(path, doc)       # the same durable write as io.save_model's
    except OSError as e:
        if e.filename is not None:             # name the file, not its hidden temp file
            e.filename, e.filename2 = path, None
        raise
    io.remove_stale_temp_files(path)
    return path


def load_gpt(path, with_meta=False):
    """(model, tokenizer), or (model, tokenizer, meta) with with_meta=True."""
    name = os.fspath(path)
    fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with open(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(21, "Is a directory", name)
        if not stat.S_ISREG(st.st_mode):
            raise io.ModelFileError(f"{name} is not a GPT model file: not a regular file")
        raw = f.read(io.MAX_BYTES + 1)
    try:
        if len(raw) > io.MAX_BYTES:
            raise _Bad(f"larger than {io.MAX_BYTES} bytes")
        try:
            doc = json.loads(raw.decode("utf-8"), parse_constant=io._no_constant,
                             object_pairs_hook=io._no_duplicates)
        except (ValueError, RecursionError) as e:
            raise _Bad(f"not valid JSON ({' '.join(str(e).split())[:200]})") from None
        model, tok, meta = _parse(doc)
    except _Bad as e:
        raise io.ModelFileError(f"{name} is not a GPT model file: {e}") from None
    return (model, tok, meta) if with_meta else (model, tok)


def gpt_from_dict(doc, source="document"):
    """(model, tokenizer, meta) from an already-parsed document, checked as a file is."""
    try:
        return _parse(doc)
    except _Bad as e:
        raise io.ModelFileError(f"{source} is not a GPT model file: {e}") from None


def _parse(doc):
    if not isinstance(doc, dict):
        raise _Bad(f"expected a JSON object, got {type(doc).__name__}")
    fmt = doc.get("format")
    if fmt == io.FORMAT:
        raise _Bad("it is an MLP model file (from 'micrograd train'); "
                   "'micrograd gpt' reads files written by 'micrograd gpt train'")
    if fmt != FORMAT or doc.get("kind") != KIND:
        raise _Bad(f"format {fmt!r}, kind {doc.get('kind')!r}; expected {FORMAT!r}, {KIND!r}")
    if doc.get("version") != VERSION:
        raise _Bad(f"version {doc.get('version')!r}; this micrograd reads version {VERSION}")
    extra = set(doc) - {"format", "kind", "version", "config", "vocab", "weights", "meta"}
    if extra:
        raise _Bad(f"unknown field {sorted(extra)[0]!r}")
    cfg = doc.get("config")
    if not isinstance(cfg, dict) or set(cfg) != set(_CONFIG_KEYS):
        raise _Bad(f"config must have exactly the fields {', '.join(_CONFIG_KEYS)}")
    for key in _CONFIG_KEYS[:-1]:
        v = cfg[key]
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_SIZE:
            raise _Bad(f"config.{key} must be an integer from 1 to {MAX_SIZE}, got {v!r}")
    try:
        config = GPTConfig(**cfg)
    except (TypeError, ValueError) as e:
        raise _Bad(f"config: {e}") from None
    if config.num_params > io.MAX_PARAMETERS:   # before reading any weight
        raise _Bad(f"{config.num_params} parameters; at most {io.MAX_PARAMETERS}")
    vocab = doc.get("vocab")
    if not isinstance(vocab, str) or len(vocab) != config.vocab_size - 1:
        raise _Bad(f"vocab must be a string of {config.vocab_size - 1} characters "
                   f"(config.vocab_size - 1, for BOS)")
    try:
        tok = CharTokenizer(vocab)
    except ValueError as e:
        raise _Bad(f"vocab: {e}") from None
    meta = doc.get("meta", {})
    if not isinstance(meta, dict):
        raise _Bad("meta must be an object")
    weights = doc.get("weights")
    model = GPT(config, _Zeros())
    expected = model.state_dict()
    if not isinstance(weights, dict) or set(weights) != set(expected):
        raise _Bad(f"weights must have exactly the matrices {', '.join(expected)}")
    for key, mat in expected.items():
        rows = weights[key]
        if not isinstance(rows, list) or len(rows) != len(mat):
            raise _Bad(f"weights.{key} must be a list of {len(mat)} rows")
        for i, (row, params) in enumerate(zip(rows, mat)):
            if not isinstance(row, list) or len(row) != len(params):
                raise _Bad(f"weights.{key}[{i}] must be a list of {len(params)} numbers")
            for j, (x, p) in enumerate(zip(row, params)):
                if isinstance(x, bool) or not isinstance(x, (int, float)) \
                        or not math.isfinite(x):
                    raise _Bad(f"weights.{key}[{i}][{j}] is not a finite number: {x!r}")
                p.data = float(x)
    return model, tok, meta


class _Zeros(random.Random):
    """An rng whose Gaussian is 0: builds a model's shape without drawing (the file fills it)."""

    def gauss(self, mu=0.0, sigma=1.0):
        return 0.0
