"""Saving and loading trained MLPs as plain JSON.

    save_model(model, "model.json", meta={"epochs": 100})
    model = load_model("model.json")

The file is readable, diffable and safe to open: it holds numbers and names only, and loading
never pickles, evals or imports anything. Its layout:

    {"format": "micrograd.mlp", "version": 1, "nin": 2,
     "layers": [{"activation": "relu", "neurons": [{"w": [0.1, -0.3], "b": 0.0}, ...]}, ...],
     "meta": {...free-form training info...}}

Floats are written with repr, which round-trips exactly, so a loaded model computes bit-for-bit
what the saved one did. Saving is atomic (temp file, fsync, os.replace): a crash mid-save leaves
the previous file intact, a re-save keeps the file's mode, and kill -9's leftovers are removed
by the next save of the same file. Loading checks every field and reports the first problem in
one line naming the file, as a `ModelFileError`; its work is bounded (MAX_BYTES,
MAX_PARAMETERS, a regular file only: a FIFO would block).
"""
import errno
import json
import math
import os
import random
import re
import secrets
import stat
import time
from numbers import Real

from micrograd.nn import ACTIVATIONS, MLP

__all__ = ["save_model", "load_model", "to_dict", "from_dict", "build_mlp", "ModelFileError",
           "FORMAT", "VERSION", "MAX_BYTES", "MAX_PARAMETERS"]

FORMAT = "micrograd.mlp"
VERSION = 1
MAX_BYTES = 50 * 1024 * 1024     # far beyond any net a scalar engine can train; refuse beyond
MAX_PARAMETERS = 1_000_000       # ~100x the digits net; loads in seconds. Bytes alone do not
                                 # bound the work: 50 MB of "0," is 25 million weights


class ModelFileError(ValueError):
    """The file is not a valid micrograd model file; the message says where and why."""


class _Bad(Exception):
    """A problem inside the document (turned into a ModelFileError naming the file)."""


# ---------------------------------------------------------------------------------------------
# model -> document
# ---------------------------------------------------------------------------------------------
def to_dict(model, meta=None):
    """The JSON-ready document for an MLP. Refuses non-finite weights (JSON has no NaN)."""
    if not hasattr(model, "layers") or not model.layers:
        raise ValueError(f"can only save an MLP, got {type(model).__name__}")
    meta = {} if meta is None else meta
    if not isinstance(meta, dict):
        raise ValueError(f"meta must be a dict, got {type(meta).__name__}")
    try:
        json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"meta is not plain JSON data: {e}") from None
    layers, fan_in = [], len(model.layers[0].neurons[0].w)
    for i, layer in enumerate(model.layers):
        acts = {n.activation for n in layer.neurons}
        if len(acts) != 1:
            raise ValueError(f"layers[{i}] mixes activations {sorted(acts)}; "
                             f"the file stores one per layer")
        neurons = []
        for j, n in enumerate(layer.neurons):
            where = f"layers[{i}].neurons[{j}]"
            if len(n.w) != fan_in:
                raise ValueError(f"{where} has {len(n.w)} weights, expected {fan_in}")
            w = [_finite(v.data, f"{where}.w[{k}]") for k, v in enumerate(n.w)]
            neurons.append({"w": w, "b": _finite(n.b.data, f"{where}.b")})
        layers.append({"activation": acts.pop(), "neurons": neurons})
        fan_in = len(layer.neurons)
    return {"format": FORMAT, "version": VERSION, "nin": len(layers[0]["neurons"][0]["w"]),
            "layers": layers, "meta": meta}


def _finite(x, where):
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"cannot save a model with a non-finite parameter: {where} = {x!r}")
    return x


def save_model(model, path, meta=None):
    """Write `model` (and a free-form JSON dict `meta`) to `path`, atomically. A file it
    replaces keeps its permissions. An OSError (a full disk included) names `path`, never the
    hidden temp file it is written through; the file at `path` is then as it was."""
    doc = to_dict(model, meta)
    path = os.fspath(path)
    if not os.path.basename(path):
        raise ValueError(f"save_model needs a file name, got {path!r}")
    try:
        _write_atomically(path, doc)
    except OSError as e:
        # The temp file's name means nothing to the user, and a failed write (a full disk)
        # names no file at all: name the one being saved, which is left as it was.
        if e.errno is not None and e.strerror:        # OSError(...) picks the subclass
            raise OSError(e.errno, e.strerror, path) from e
        raise
    remove_stale_temp_files(path)


def _write_atomically(path, doc):
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = None                          # a new file: 0666 less the umask
    tmp = temp_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        if mode is not None:
            os.chmod(tmp, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, allow_nan=False, indent=1)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:                 # make the rename itself durable; not possible everywhere (Windows)
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


# A save writes `.NAME.<12 hex>.tmp` beside NAME and renames it; only kill -9 (or a power cut)
# can leave one behind. The next save of NAME removes its own leftovers once they are older
# than STALE_AFTER, long past any save still running.
STALE_AFTER = 3600                   # seconds


def temp_path(path, ext=""):
    """A fresh hidden temp file name beside `path` (`ext` keeps a format readable by name)."""
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp{ext}")


def remove_stale_temp_files(path, ext=""):
    """Delete the temp files of `path` (its own pattern only) older than STALE_AFTER."""
    folder, name = os.path.split(os.path.abspath(path))
    own = re.compile(re.escape(f".{name}.") + r"[0-9a-f]{12}\.tmp" + re.escape(ext))
    cutoff = time.time() - STALE_AFTER
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        try:
            if own.fullmatch(entry.name) and entry.is_file(follow_symlinks=False) and \
                    entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.unlink(entry.path)
        except OSError:                      # best effort: a leftover is never an error
            pass


# ---------------------------------------------------------------------------------------------
# document -> model
# ---------------------------------------------------------------------------------------------
def load_model(path, with_meta=False, fused=None):
    """The MLP saved at `path` (and its meta dict if with_meta=True). `fused` as in MLP (None:
    its default); it changes the graph the model builds, never a number."""
    name = os.fspath(path)
    # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused just below)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), name)
        if not stat.S_ISREG(st.st_mode):
            raise ModelFileError(f"{name} is not a micrograd model file: not a regular file "
                                 f"({_file_kind(st.st_mode)})")
        if st.st_size > MAX_BYTES:
            raise ModelFileError(f"{name} is not a micrograd model file: larger than "
                                 f"{MAX_BYTES} bytes")
    except BaseException:
        os.close(fd)
        raise
    with open(fd, "rb") as f:
        raw = f.read(MAX_BYTES + 1)
    try:
        if len(raw) > MAX_BYTES:
            raise _Bad(f"larger than {MAX_BYTES} bytes")
        try:
            doc = json.loads(raw.decode("utf-8"), parse_constant=_no_constant,
                             object_pairs_hook=_no_duplicates)
        except (ValueError, RecursionError) as e:
            raise _Bad(f"not valid JSON ({_one_line(e)})") from None
        model, meta = _parse(doc, fused)
    except _Bad as e:
        raise ModelFileError(f"{name} is not a micrograd model file: {e}") from None
    return (model, meta) if with_meta else model


def _file_kind(mode):
    for test, kind in [(stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")]:
        if test(mode):
            return kind
    return "not a file"


def from_dict(doc, source="document", fused=None):
    """The MLP described by an already-parsed document (checked as thoroughly as a file)."""
    try:
        return _parse(doc, fused)[0]
    except _Bad as e:
        raise ModelFileError(f"{source} is not a micrograd model file: {e}") from None


def _one_line(e):
    return " ".join(str(e).split())[:200]


def _no_constant(name):
    raise ValueError(f"{name} is not a number a model may hold")


def _no_duplicates(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise ValueError(f"key {k!r} appears twice")
        d[k] = v
    return d


def _show(x):
    s = repr(x)
    return s if len(s) <= 60 else s[:57] + "..."


def _get(d, key, kind, where):
    """d[key], which must exist and be of `kind` (bools are not numbers here)."""
    if key not in d:
        raise _Bad(f"{where} has no {key!r}")
    x = d[key]
    if isinstance(x, bool) and kind is not bool or not isinstance(x, kind):
        raise _Bad(f"{where}.{key} must be {_KIND[kind]}, got {_show(x)}")
    return x


_KIND = {str: "a string", int: "an integer", list: "a list", dict: "an object", Real: "a number"}


def _keys(d, allowed, where):
    extra = sorted(set(d) - set(allowed))
    if extra:
        raise _Bad(f"{where} has unknown field {extra[0]!r}")


def _number(x, where):
    if isinstance(x, bool) or not isinstance(x, Real):
        raise _Bad(f"{where} must be a number, got {_show(x)}")
    try:
        x = float(x)
    except OverflowError:
        x = math.inf
    if not math.isfinite(x):
        raise _Bad(f"{where} is not finite")
    return x


def _parse(doc, fused=None):
    if not isinstance(doc, dict):
        raise _Bad(f"the top level must be an object, got {type(doc).__name__}")
    if doc.get("format") != FORMAT:
        raise _Bad(f"'format' must be {FORMAT!r}, got {_show(doc.get('format'))}")
    _keys(doc, ("format", "version", "nin", "layers", "meta"), "the top level")
    version = _get(doc, "version", int, "the top level")
    if version != VERSION:
        raise _Bad(f"version {version} is not supported (this micrograd reads {VERSION})")
    fan_in = nin = _get(doc, "nin", int, "the top level")
    if nin < 1:
        raise _Bad(f"nin must be positive, got {nin}")
    meta = _get(doc, "meta", dict, "the top level") if "meta" in doc else {}
    layers = _get(doc, "layers", list, "the top level")
    if not layers:
        raise _Bad("'layers' is empty")
    spec, n_params = [], 0
    for i, layer in enumerate(layers):
        where = f"layers[{i}]"
        if not isinstance(layer, dict):
            raise _Bad(f"{where} must be an object, got {_show(layer)}")
        _keys(layer, ("activation", "neurons"), where)
        act = _get(layer, "activation", str, where)
        if act not in ACTIVATIONS:
            raise _Bad(f"{where}.activation {_show(act)} is unknown; "
                       f"known: {', '.join(ACTIVATIONS)}")
        neurons = _get(layer, "neurons", list, where)
        if not neurons:
            raise _Bad(f"{where} has no neurons")
        parsed = []
        for j, n in enumerate(neurons):
            nw = f"{where}.neurons[{j}]"
            n_params += fan_in + 1              # counted before its numbers are read
            if n_params > MAX_PARAMETERS:
                raise _Bad(f"more than {MAX_PARAMETERS} parameters (at {nw})")
            if not isinstance(n, dict):
                raise _Bad(f"{nw} must be an object, got {_show(n)}")
            _keys(n, ("w", "b"), nw)
            w = _get(n, "w", list, nw)
            if len(w) != fan_in:
                raise _Bad(f"{nw}.w has {len(w)} weights but its layer's input has {fan_in}")
            parsed.append(([_number(x, f"{nw}.w[{k}]") for k, x in enumerate(w)],
                           _number(_get(n, "b", Real, nw), f"{nw}.b")))
        spec.append((act, parsed))
        fan_in = len(parsed)
    return build_mlp(nin, spec, fused), meta


def build_mlp(nin, layers, fused=None):
    """An MLP with exactly these weights: layers = [(activation, [(w_list, b), ...]), ...];
    `fused` as in MLP (None: its default).

    Built with MLP(...) and then overwritten, with Python's `random` state saved and restored
    around it, so loading a model does not change the random numbers a script draws next."""
    acts = [act for act, _ in layers]
    state = random.getstate()
    try:
        model = MLP(nin, [len(neurons) for _, neurons in layers],
                    activation=acts[0] if len(acts) > 1 else acts[-1],
                    output_activation=acts[-1],
                    **({} if fused is None else {"fused": fused}))
    finally:
        random.setstate(state)
    for layer, (act, neurons) in zip(model.layers, layers):
        for n, (w, b) in zip(layer.neurons, neurons):
            n.activation = act              # hidden layers may differ
            for v, x in zip(n.w, w):
                v.data = float(x)
            n.b.data = float(b)
    return model
