"""micrograd.gpt: microgpt on micrograd, against an independent microgpt written from the
published algorithm (tests/microgpt_reference.py): the same initial weights, losses and sampled
names at full precision (==). Also the names dataset and the text loader, the model file, and
`micrograd gpt train|sample` in real subprocesses (Ctrl-C included).

The bit-for-bit tests need the engine's division to be the original's `a * b**-1` (microgpt's
Value divides so); every random draw is seeded (42, microgpt's, unless said otherwise)."""
import hashlib
import json
import math
import os
import pathlib
import random
import subprocess
import sys

import pytest

from micrograd import data, gpt, io
from micrograd.cli import main
from micrograd.gpt import modelfile
from helpers.processes import ctrl_c_after
from micrograd.nn import MLP
from microgpt_reference import MicroGPT

ROOT = pathlib.Path(__file__).resolve().parents[1]


def ours(docs, seed=42, shuffle=True, **config):
    """micrograd.gpt set up as microgpt does: shuffle with the seed's rng, then the weights."""
    rng = random.Random(seed)
    docs = list(docs)
    if shuffle:
        rng.shuffle(docs)
    tok = gpt.CharTokenizer.from_documents(docs)
    return gpt.GPT(gpt.GPTConfig(tok.vocab_size, **config), rng), tok, docs, rng


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------
def test_names_ship_with_the_package_and_their_license():
    names = data.names()
    assert len(names) == 32033 and names[:3] == ["emma", "olivia", "ava"]
    assert names[-1] == "zzyzx" and max(map(len, names)) == 15
    assert set("".join(names)) == set("abcdefghijklmnopqrstuvwxyz")
    folder = ROOT / "micrograd" / "datasets"
    raw = (folder / "names.txt").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == \
        "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d"   # makemore 988aa59
    assert "Copyright (c) 2022 Andrej Karpathy" in (folder / "names.LICENSE").read_text()
    assert "names.LICENSE" in (folder / "README.md").read_text()
    import tomllib
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["micrograd.datasets"]
    assert set(package_data) == {"names.txt", "names.LICENSE", "README.md"}


def test_documents_one_per_line_stripped_blank_lines_skipped(tmp_path):
    f = tmp_path / "docs.txt"
    f.write_bytes("  anna \r\nbob\rcé\n\n \t\nzoë\n".encode())
    assert data.load_documents(f) == ["anna", "bob", "cé", "zoë"]
    f.write_bytes("\ufeffx\ny".encode())                      # a byte-order mark is no letter
    assert data.load_documents(f) == ["x", "y"]


@pytest.mark.parametrize("content, message", [
    (b"", "no documents (the file is empty or blank)"),
    (b"\n  \n\t\n", "no documents (the file is empty or blank)"),
    (b"anna\nb\xe9b\n", "not UTF-8 text (line 2, byte 6: b'\\xe9')"),
    (b"anna\n" + b"x" * 1001 + b"\n", "line 2 has 1001 characters; a document is one line of "
                                       "at most 1000"),
])
def test_bad_text_files_are_refused_in_one_line(tmp_path, content, message):
    f = tmp_path / "docs.txt"
    f.write_bytes(content)
    with pytest.raises(ValueError) as e:
        data.load_documents(f)
    assert str(e.value) == f"{f}: {message}"


def test_the_number_of_documents_and_bytes_is_bounded(tmp_path, monkeypatch):
    f = tmp_path / "docs.txt"
    f.write_text("a\nb\nc\n")
    monkeypatch.setattr(data, "MAX_DOCUMENTS", 2)
    with pytest.raises(ValueError, match=r"docs.txt: more than 2 documents$"):
        data.load_documents(f)
    monkeypatch.setattr(data, "MAX_TEXT_BYTES", 4)
    with pytest.raises(ValueError, match=r"docs.txt: larger than 4 bytes$"):
        data.load_documents(f)


def test_a_fifo_or_a_folder_is_refused_at_once(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="fifo: not a regular file"):
        data.load_documents(fifo)                  # no writer: it must not block
    with pytest.raises(IsADirectoryError):
        data.load_documents(tmp_path)


def test_tokenizer():
    tok = gpt.CharTokenizer.from_documents(["bob", "ada"])
    assert tok.uchars == ["a", "b", "d", "o"] and tok.BOS == 4 and tok.vocab_size == 5
    assert tok.encode("bad") == [4, 1, 0, 2, 4] and tok.decode([4, 1, 0, 2, 4]) == "bad"
    with pytest.raises(ValueError, match=r"^the character 'z' is not in the model's vocabulary "
                                         r"\('abdo'\)$"):
        tok.encode("zed")


# ---------------------------------------------------------------------------------------------
# the model, bit for bit against the reference
# ---------------------------------------------------------------------------------------------
def test_the_same_initial_weights_in_the_same_order_as_microgpt():
    model, tok, docs, _ = ours(data.names())
    ref = MicroGPT(data.names(), seed=42)
    assert docs == ref.docs and tok.uchars == ref.chars
    assert [p.data for p in model.parameters()] == [p.data for p in ref.params]
    assert list(model.state_dict()) == list(ref.w) == [
        "wte", "wpe", "lm_head", "layer0.attn_wq", "layer0.attn_wk", "layer0.attn_wv",
        "layer0.attn_wo", "layer0.mlp_fc1", "layer0.mlp_fc2"]
    assert len(model.parameters()) == model.config.num_params == 4192     # microgpt's count


def test_microgpt_losses_and_names_bit_for_bit():
    """microgpt's configuration, seed and data (all 32,033 names, shuffled); its schedule over
    1000 steps, the first 5 taken (the 60-step check is in the notes: too slow for the suite),
    then 10 names at temperature 0.5 from the same rng, as microgpt goes on to do."""
    ref = MicroGPT(data.names(), seed=42)
    model, tok, docs, rng = ours(data.names())
    opt = gpt.MicroGPTAdam(model.parameters(), lr=0.01, steps=1000)
    for k in range(5):
        expected = ref.step(k, 1000)
        got = gpt.train_step(model, opt, tok.encode(docs[k % len(docs)]))
        assert got == expected, (k, got, expected)
    assert [p.data for p in model.parameters()] == [p.data for p in ref.params]
    names = [gpt.sample(model, tok, rng, temperature=0.5) for _ in range(10)]
    assert names == [ref.sample(0.5) for _ in range(10)]
    assert len(set(names)) > 5 and all(n.isalpha() and n.islower() for n in names if n)


@pytest.mark.slow                   # fifty training steps, ours and the reference's
def test_fifty_steps_of_a_small_two_layer_model_bit_for_bit():
    """Two layers, heads of 3 (so 1/√3 and the mean over 6 are inexact: division matters),
    block_size 6 (names are cut), 50 steps on 100 names, then the samples."""
    config = dict(n_embd=6, n_head=2, n_layer=2, block_size=6)
    names = data.names()[:100]
    ref = MicroGPT(names, seed=7, **config)
    model, tok, docs, rng = ours(names, seed=7, **config)
    losses = gpt.train(model, tok, docs, steps=50)
    assert losses == [ref.step(k, 50) for k in range(50)]
    assert [p.data for p in model.parameters()] == [p.data for p in ref.params]
    assert [gpt.sample(model, tok, rng, 0.7) for _ in range(10)] == \
        [ref.sample(0.7) for _ in range(10)]


def test_config_errors_name_the_setting():
    with pytest.raises(ValueError, match=r"^block_size must be an integer from 1 to 4096, got 0$"):
        gpt.GPTConfig(27, block_size=0)
    with pytest.raises(ValueError, match=r"n_embd \(10\) must be a multiple of n_head \(4\)"):
        gpt.GPTConfig(27, n_embd=10)
    with pytest.raises(ValueError, match=r"^vocab_size must be at least 2"):
        gpt.GPTConfig(1)
    model, tok, docs, _ = ours(["ab"], block_size=2)
    keys, values = model.kv_cache()
    with pytest.raises(ValueError, match=r"^position 2 is beyond the context of 2 tokens"):
        model(tok.BOS, 2, keys, values)


def test_attention_is_causal_and_the_cache_grows_one_entry_per_token():
    """The logits at position t depend on tokens 0..t only: changing a later token changes
    nothing before it."""
    model, tok, docs, _ = ours(data.names()[:50], block_size=6)

    def logits(ids):
        keys, values = model.kv_cache()
        out = [[v.data for v in model(t, pos, keys, values)] for pos, t in enumerate(ids)]
        assert [len(k) for k in keys] == [len(ids)]
        return out
    a, b = logits(tok.encode("abc")[:4]), logits(tok.encode("abz")[:4])
    assert a[:3] == b[:3] and a[3] != b[3]


def test_sampling_checks_temperature_and_prefix():
    model, tok, docs, rng = ours(data.names()[:50], block_size=6)
    for bad in (0, -1.0, math.inf, math.nan, True):
        with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
            gpt.sample(model, tok, rng, bad)
    with pytest.raises(ValueError, match=r"^the character 'Q' is not in the model's vocabulary"):
        gpt.sample(model, tok, rng, 0.5, prefix="Q")
    with pytest.raises(ValueError, match=r"the prefix has 6 characters; the model's context "
                                         r"holds 5 after BOS"):
        gpt.sample(model, tok, rng, 0.5, prefix="abcdef")
    names = [gpt.sample(model, tok, random.Random(1), 0.5, prefix="el") for _ in range(5)]
    assert all(n.startswith("el") and len(n) <= 6 for n in names)   # one per position


# ---------------------------------------------------------------------------------------------
# the model file
# ---------------------------------------------------------------------------------------------
def test_a_saved_model_loads_bit_for_bit_and_samples_the_same(tmp_path):
    model, tok, docs, _ = ours(data.names()[:50], block_size=6)
    gpt.train(model, tok, docs, steps=3)
    path = modelfile.save_gpt(model, tok, tmp_path / "m.json", meta={"steps": 3})
    loaded, tok2, meta = modelfile.load_gpt(path, with_meta=True)
    assert meta == {"steps": 3} and tok2.uchars == tok.uchars
    assert loaded.config == model.config
    assert [p.data for p in loaded.parameters()] == [p.data for p in model.parameters()]
    assert [gpt.sample(loaded, tok2, random.Random(3)) for _ in range(5)] == \
        [gpt.sample(model, tok, random.Random(3)) for _ in range(5)]
    assert [f.name for f in tmp_path.iterdir()] == ["m.json"]      # no temp file left


def _doc(tmp_path):
    model, tok, docs, _ = ours(["ab", "ba"], n_embd=4, n_head=2, block_size=3)
    return modelfile.gpt_to_dict(model, tok, {"x": 1})


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(format="micrograd.mlp"),
     "it is an MLP model file (from 'micrograd train')"),
    (lambda d: d.update(kind="mlp"), "format 'micrograd.gpt', kind 'mlp'; expected"),
    (lambda d: d.update(version=2), "version 2; this micrograd reads version 1"),
    (lambda d: d.update(extra=1), "unknown field 'extra'"),
    (lambda d: d["config"].pop("n_head"), "config must have exactly the fields"),
    (lambda d: d["config"].update(block_size=0), "config.block_size must be an integer from 1"),
    (lambda d: d["config"].update(n_embd=True), "config.n_embd must be an integer"),
    (lambda d: d["config"].update(n_embd=4000, n_layer=4000, n_head=1),
     "768000036000 parameters; at most 1000000"),
    (lambda d: d.update(vocab="abc"), "vocab must be a string of 2 characters"),
    (lambda d: d.update(vocab="aa"), "vocab: a vocabulary lists every character once"),
    (lambda d: d["weights"].pop("wpe"), "weights must have exactly the matrices"),
    (lambda d: d["weights"]["wpe"].pop(), "weights.wpe must be a list of 3 rows"),
    (lambda d: d["weights"]["lm_head"][1].append(0.0), "weights.lm_head[1] must be a list of 4"),
    (lambda d: d["weights"]["wte"][0].__setitem__(2, "1"), "weights.wte[0][2] is not a finite "
                                                          "number: '1'"),
    (lambda d: d.update(meta=[]), "meta must be an object"),
])
def test_bad_model_files_are_refused_in_one_line(tmp_path, change, message):
    doc = _doc(tmp_path)
    change(doc)
    f = tmp_path / "m.json"
    f.write_text(json.dumps(doc))
    with pytest.raises(io.ModelFileError) as e:
        modelfile.load_gpt(f)
    assert str(e.value).startswith(f"{f} is not a GPT model file: ")
    assert message in str(e.value) and "\n" not in str(e.value)


def test_non_json_nan_and_oversized_files_are_refused(tmp_path, monkeypatch):
    f = tmp_path / "m.json"
    f.write_text("{nope")
    with pytest.raises(io.ModelFileError, match="not valid JSON"):
        modelfile.load_gpt(f)
    doc = json.dumps(_doc(tmp_path))
    first = json.dumps(_doc(tmp_path)["weights"]["wte"][0][0])
    f.write_text(doc.replace(first, "NaN", 1))
    with pytest.raises(io.ModelFileError, match="NaN is not a number a model may hold"):
        modelfile.load_gpt(f)
    monkeypatch.setattr(io, "MAX_BYTES", 100)
    f.write_text(doc)
    with pytest.raises(io.ModelFileError, match="larger than 100 bytes"):
        modelfile.load_gpt(f)


# ---------------------------------------------------------------------------------------------
# micrograd gpt train | sample, in real subprocesses
# ---------------------------------------------------------------------------------------------
def micrograd(*args, **kwargs):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "micrograd", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=300, **kwargs)


SMALL = ["--n-embd", "4", "--n-head", "2", "--block-size", "5", "--seed", "3"]


def test_train_prints_microgpt_log_and_sample_reads_the_file(tmp_path):
    docs = tmp_path / "words.txt"
    docs.write_text("apple\nbanana\n\ncherry\ndate\n")
    out = tmp_path / "run"
    r = micrograd("gpt", "train", "--data", docs, "--steps", "4", "--no-progress",
                  "--out", out, *SMALL)
    assert r.returncode == 0, r.stderr
    model, tok, docs_, rng = ours(["apple", "banana", "cherry", "date"], seed=3, n_embd=4,
                                  n_head=2, block_size=5)
    losses = gpt.train(model, tok, docs_, steps=4)
    log = [line for line in r.stdout.splitlines() if line.startswith("step")]
    assert log == [f"step {k + 1:4d} /    4 | loss {x:.4f}" for k, x in enumerate(losses)]
    assert f"wrote {out / 'model.json'}" in r.stdout and r.stderr == ""
    saved, tok2, meta = modelfile.load_gpt(out / "model.json", with_meta=True)
    assert [p.data for p in saved.parameters()] == [p.data for p in model.parameters()]
    assert meta["steps"] == 4 and meta["interrupted"] is False
    assert meta["final_loss"] == losses[-1]

    r = micrograd("gpt", "sample", "--model", out / "model.json", "--num", "3", "--seed", "5",
                  "--temperature", "0.8")
    assert r.returncode == 0, r.stderr
    rng = random.Random(5)
    assert r.stdout.splitlines() == [f"sample {i + 1:2d}: {gpt.sample(saved, tok2, rng, 0.8)}"
                                     for i in range(3)]


@pytest.mark.parametrize("args, code, message", [
    (["train", "--data", "{empty}"], 1, "{empty}: no documents (the file is empty or blank)"),
    (["train", "--block-size", "0"], 2, "argument --block-size: must be a positive integer, "
                                        "got 0"),
    (["sample", "--model", "{mlp}"], 1, "{mlp} is not a GPT model file: it is an MLP model "
                                        "file (from 'micrograd train')"),
])
def test_bad_input_in_a_subprocess_is_one_line(tmp_path, args, code, message):
    empty, mlp = tmp_path / "empty.txt", tmp_path / "mlp.json"
    empty.write_text("\n\n")
    io.save_model(MLP(2, [3, 1]), mlp)
    fill = {"empty": empty, "mlp": mlp}
    r = micrograd("gpt", *[a.format(**fill) for a in args], "--out" if args[0] == "train"
                  else "--num", tmp_path / "o" if args[0] == "train" else "1")
    assert r.returncode == code
    assert r.stderr.count("\n") == 1 and message.format(**fill) in r.stderr, r.stderr
    assert r.stdout == ""


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("gpt")
    model, tok, docs, _ = ours(["ab", "ba"], n_embd=4, n_head=2, block_size=3)
    return modelfile.save_gpt(model, tok, d / "model.json")


@pytest.mark.parametrize("args, code, message", [
    (["sample", "--temperature", "0"], 2, "argument --temperature: must be > 0.0, got 0"),
    (["sample", "--temperature", "-1"], 2, "argument --temperature: must be > 0.0"),
    (["sample", "--temperature", "nan"], 2, "argument --temperature: must be a finite number"),
    (["sample", "--temperature", "inf"], 2, "argument --temperature: must be a finite number"),
    (["sample", "--prefix", "abQ"], 1, "the character 'Q' is not in the model's vocabulary "
                                       "('ab')"),
    (["sample", "--prefix", "abab"], 1, "the prefix has 4 characters; the model's context "
                                        "holds 2 after BOS"),
    (["sample", "--num", "0"], 2, "argument --num: must be a positive integer"),
    (["train", "--n-embd", "10"], 1, "--n-embd 10 is not a multiple of --n-head 4"),
    (["train", "--steps", "0"], 2, "argument --steps: must be a positive integer"),
    (["train", "--lr", "0"], 2, "argument --lr: must be > 0.0"),
    (["train", "--data", "/no/such/file"], 1, "/no/such/file: No such file or directory"),
    (["train", "--lr", "1e300", "--steps", "3", "--no-progress"], 1,
     "training diverged: loss became nan at step 3; try a smaller --lr"),
    (["train", "--n-embd", "4000", "--n-head", "1", "--n-layer", "10"], 1,
     "this model has 1920280000 parameters; at most 1000000"),
])
def test_bad_input_is_one_line(tmp_path, capsys, tiny_model, args, code, message):
    extra = ["--model", str(tiny_model)] if args[0] == "sample" else ["--out", str(tmp_path)]
    assert main(["gpt", *args, *extra]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_ctrl_c_stops_training_and_saves_what_was_trained(tmp_path):
    """A real SIGINT once the progress bar shows a loss: exit 130, the model written (its meta
    says interrupted, after how many steps), no temp file left; it samples."""
    out = tmp_path / "run"
    code, err = ctrl_c_after(["gpt", "train", "--steps", "100000", "--out", out])
    assert code == 130, err
    assert "Traceback" not in err and "interrupted after" in err
    model, tok, meta = modelfile.load_gpt(out / "model.json", with_meta=True)
    assert meta["interrupted"] is True and 0 < meta["steps"] < 100000
    assert os.listdir(out) == ["model.json"]
    assert set(gpt.sample(model, tok, random.Random(0))) <= set(tok.uchars)


def test_live_loss_records_outside_a_notebook_and_plots_afterwards():
    from micrograd.viz.live_loss import LiveLoss, plot_losses
    live = LiveLoss(every=2)
    model, tok, docs, _ = ours(data.names()[:20], n_embd=4, n_head=2, block_size=4)
    losses = gpt.train(model, tok, docs, steps=5, callback=live)
    assert live.losses == losses and live.handle is None
    live.show()                                           # nothing to draw into: no error
    fig = plot_losses(losses)
    assert fig.axes[0].get_title() == f"5 steps, last loss {losses[-1]:.4f}"
    assert [len(line.get_xdata()) for line in fig.axes[0].get_lines()] == [5, 4]  # + mean of 2
    with pytest.raises(ValueError, match="no losses to plot"):
        plot_losses([])
    with pytest.raises(ValueError, match="every must be a positive integer, got 0"):
        LiveLoss(every=0)


def test_train_stops_when_the_callback_says_so():
    model, tok, docs, _ = ours(data.names()[:20], n_embd=4, n_head=2, block_size=4)
    assert len(gpt.train(model, tok, docs, steps=10, callback=lambda k, loss: k == 2)) == 3


def test_the_python_snippet_of_docs_gpt_md_runs(tmp_path, monkeypatch, capsys):
    """docs/gpt.md's example, run (3 steps instead of 1000), and the first loss it states."""
    import re
    text = (ROOT / "docs" / "gpt.md").read_text()
    snippet = re.findall(r"```python\n(.*?)```", text, re.S)[0]   # the compiled one: see
    # tests/test_gpt_compiled.py
    assert "steps=1000" in snippet
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec(snippet.replace("steps=1000", "steps=3"), scope)
    stated = float(re.search(r"losses\[0\] == ([\d.]+)", snippet).group(1))
    assert scope["losses"][0] == stated
    assert len(eval(capsys.readouterr().out)) == 20                  # the printed names
    assert (tmp_path / "model.json").exists() and scope["tok"].vocab_size == 27


def test_a_fifo_or_a_folder_as_model_is_refused_at_once(tmp_path):
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(io.ModelFileError, match="fifo.json is not a GPT model file: not a "
                                                "regular file"):
        modelfile.load_gpt(fifo)                          # no writer: it must not block
    with pytest.raises(IsADirectoryError):
        modelfile.load_gpt(tmp_path)
