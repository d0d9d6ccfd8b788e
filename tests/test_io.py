"""Model files: exact round trips, every kind of bad file refused in one line, atomic saves."""
import builtins
import json
import math
import os
import pickle
import random
import stat
import threading
import time

import pytest

from micrograd import io as mio
from micrograd.engine import Value
from micrograd.io import ModelFileError, from_dict, load_model, save_model, to_dict
from micrograd.nn import MLP
from helpers.files import read_only

INPUTS = [[0.5, -1.25], [2.0, 0.1], [-0.3, -0.7], [1e-3, 5.0]]


def make(seed, *args, **kwargs):
    random.seed(seed)
    return MLP(*args, **kwargs)


def outputs(model):
    return [model(x) for x in INPUTS]


def datas(vs):
    return [v.data for v in (vs if isinstance(vs, list) else [vs])]


@pytest.mark.parametrize("model", [
    make(1337, 2, [16, 16, 1]),                                  # the demo's net
    make(1, 2, [4, 4, 1], activation="tanh"),                    # the lecture's
    make(2, 2, [16, 1, 1]),
    make(3, 2, [5, 3], activation="sigmoid", output_activation="linear"),
], ids=["relu", "tanh", "16-1-1", "sigmoid-3-out"])
def test_round_trip_is_exact(model, tmp_path):
    path = tmp_path / "model.json"
    save_model(model, path)
    state = random.getstate()
    loaded = load_model(path)
    assert random.getstate() == state                            # loading draws no numbers
    assert [p.data for p in loaded.parameters()] == [p.data for p in model.parameters()]
    assert [[n.activation for n in layer.neurons] for layer in loaded.layers] == \
           [[n.activation for n in layer.neurons] for layer in model.layers]
    for a, b in zip(outputs(model), outputs(loaded)):
        assert datas(a) == datas(b)                              # bit for bit
    assert not set(map(id, loaded.parameters())) & set(map(id, model.parameters()))


def test_file_layout_and_meta(tmp_path):
    model = make(0, 3, [2, 1])
    path = tmp_path / "m.json"
    save_model(model, str(path), meta={"dataset": "moons", "epochs": 100, "acc": 0.97})
    doc = json.loads(path.read_text())
    assert doc["format"] == "micrograd.mlp" and doc["version"] == 1 and doc["nin"] == 3
    assert [layer["activation"] for layer in doc["layers"]] == ["relu", "linear"]
    assert doc["layers"][0]["neurons"][1] == {"w": datas(model.layers[0].neurons[1].w),
                                              "b": 0.0}
    loaded, meta = load_model(path, with_meta=True)
    assert meta == {"dataset": "moons", "epochs": 100, "acc": 0.97}
    save_model(model, path)
    assert load_model(path, with_meta=True)[1] == {}


def test_per_layer_activations_survive(tmp_path):
    doc = {"format": "micrograd.mlp", "version": 1, "nin": 1, "layers": [
        {"activation": "tanh", "neurons": [{"w": [2.0], "b": 0.5}]},
        {"activation": "relu", "neurons": [{"w": [-3.0], "b": 1.0}]},
        {"activation": "sigmoid", "neurons": [{"w": [1.5], "b": -0.25}]}]}
    model = from_dict(doc)
    h = Value(math.tanh(2.0 * 0.7 + 0.5))
    expected = (((h * -3.0) + 1.0).relu() * 1.5 + -0.25).sigmoid()
    assert model([0.7]).data == pytest.approx(expected.data, rel=1e-15)
    assert to_dict(model)["layers"] == doc["layers"]


# ---- refusing to save --------------------------------------------------------------------
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_weights_are_not_saved(bad, tmp_path):
    model = make(0, 2, [3, 1])
    model.layers[1].neurons[0].w[2].data = bad
    where = r"layers\[1\]\.neurons\[0\]\.w\[2\]"
    with pytest.raises(ValueError, match=f"non-finite parameter: {where}"):
        save_model(model, tmp_path / "m.json")
    assert os.listdir(tmp_path) == []


def test_bad_meta_and_non_models_are_not_saved(tmp_path):
    model = make(0, 2, [2, 1])
    with pytest.raises(ValueError, match="meta is not plain JSON"):
        save_model(model, tmp_path / "m.json", meta={"f": lambda: 0})
    with pytest.raises(ValueError, match="meta is not plain JSON"):
        save_model(model, tmp_path / "m.json", meta={"loss": math.nan})
    with pytest.raises(ValueError, match="meta must be a dict"):
        save_model(model, tmp_path / "m.json", meta=[1])
    with pytest.raises(ValueError, match="can only save an MLP"):
        save_model(model.layers[0], tmp_path / "m.json")
    model.layers[0].neurons[0].activation = "tanh"
    with pytest.raises(ValueError, match="mixes activations"):
        save_model(model, tmp_path / "m.json")
    assert os.listdir(tmp_path) == []


# ---- refusing to load ------------------------------------------------------------------------
def good():
    return to_dict(make(0, 2, [2, 1]))


def edit(fn):
    doc = good()
    fn(doc)
    return json.dumps(doc)


BAD_FILES = {
    "not json": ("this is not json", "not valid JSON"),
    "empty": ("", "not valid JSON"),
    "json list": ("[1, 2, 3]", "the top level must be an object, got list"),
    "json string": ('"micrograd.mlp"', "the top level must be an object, got str"),
    "wrong format": (edit(lambda d: d.update(format="keras")),
                     "'format' must be 'micrograd.mlp', got 'keras'"),
    "no format": (edit(lambda d: d.pop("format")), "'format' must be 'micrograd.mlp', got None"),
    "future version": (edit(lambda d: d.update(version=2)), "version 2 is not supported"),
    "version str": (edit(lambda d: d.update(version="1")), "version must be an integer, got '1'"),
    "no nin": (edit(lambda d: d.pop("nin")), "the top level has no 'nin'"),
    "no layers": (edit(lambda d: d.pop("layers")), "the top level has no 'layers'"),
    "nin str": (edit(lambda d: d.update(nin="2")), "nin must be an integer, got '2'"),
    "nin bool": (edit(lambda d: d.update(nin=True)), "nin must be an integer, got True"),
    "nin float": (edit(lambda d: d.update(nin=2.0)), "nin must be an integer, got 2.0"),
    "nin zero": (edit(lambda d: d.update(nin=0)), "nin must be positive"),
    "layers dict": (edit(lambda d: d.update(layers={})), "layers must be a list, got {}"),
    "layers empty": (edit(lambda d: d.update(layers=[])), "'layers' is empty"),
    "layer not object": (edit(lambda d: d["layers"].append(3)), r"layers[2] must be an object"),
    "no neurons": (edit(lambda d: d["layers"][0].pop("neurons")), "layers[0] has no 'neurons'"),
    "empty neurons": (edit(lambda d: d["layers"][1].update(neurons=[])),
                      "layers[1] has no neurons"),
    "no activation": (edit(lambda d: d["layers"][0].pop("activation")),
                      "layers[0] has no 'activation'"),
    "unknown activation": (edit(lambda d: d["layers"][0].update(activation="gelu")),
                           "layers[0].activation 'gelu' is unknown"),
    "activation list": (edit(lambda d: d["layers"][0].update(activation=["relu"])),
                        "layers[0].activation must be a string"),
    "no bias": (edit(lambda d: d["layers"][0]["neurons"][1].pop("b")),
                "layers[0].neurons[1] has no 'b'"),
    "bias null": (edit(lambda d: d["layers"][0]["neurons"][1].update(b=None)),
                  "layers[0].neurons[1].b must be a number, got None"),
    "weight str": (edit(lambda d: d["layers"][1]["neurons"][0]["w"].__setitem__(1, "0.5")),
                   "layers[1].neurons[0].w[1] must be a number, got '0.5'"),
    "weight bool": (edit(lambda d: d["layers"][1]["neurons"][0]["w"].__setitem__(0, False)),
                    "layers[1].neurons[0].w[0] must be a number, got False"),
    "w not list": (edit(lambda d: d["layers"][0]["neurons"][0].update(w=1.0)),
                   "layers[0].neurons[0].w must be a list"),
    "too few weights": (edit(lambda d: d["layers"][0]["neurons"][0]["w"].pop()),
                        "layers[0].neurons[0].w has 1 weights but its layer's input has 2"),
    "fan-in mismatch": (edit(lambda d: d["layers"][0]["neurons"].pop()),
                        "layers[1].neurons[0].w has 2 weights but its layer's input has 1"),
    "unknown field": (edit(lambda d: d["layers"][0]["neurons"][0].update(grad=0.0)),
                      "layers[0].neurons[0] has unknown field 'grad'"),
    "meta list": (edit(lambda d: d.update(meta=[])), "meta must be an object"),
    "NaN": (json.dumps(good()).replace('"b": 0.0', '"b": NaN', 1),
            "NaN is not a number a model may hold"),
    "Infinity": (json.dumps(good()).replace('"b": 0.0', '"b": -Infinity', 1),
                 "-Infinity is not a number a model may hold"),
    "overflowing float": (json.dumps(good()).replace('"b": 0.0', '"b": 1e999', 1),
                          "layers[0].neurons[0].b is not finite"),
    "overflowing int": (json.dumps(good()).replace('"b": 0.0', '"b": ' + "9" * 400, 1),
                        "layers[0].neurons[0].b is not finite"),
    "duplicate key": (json.dumps(good()).replace('"nin": 2', '"nin": 2, "nin": 3'),
                      "key 'nin' appears twice"),
    "deep nesting": ("[" * 100000 + "]" * 100000, "not valid JSON"),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_files_are_refused_in_one_line(name, tmp_path):
    text, problem = BAD_FILES[name]
    path = tmp_path / "model.json"
    path.write_text(text)
    with pytest.raises(ModelFileError) as e:
        load_model(path)
    msg = str(e.value)
    assert msg.startswith(f"{path} is not a micrograd model file: ")
    assert problem in msg and "\n" not in msg
    assert isinstance(e.value, ValueError)


def test_binary_garbage_is_refused(tmp_path):
    path = tmp_path / "model.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load_model(path)


def test_huge_file_is_refused_before_parsing(tmp_path, monkeypatch):
    assert mio.MAX_BYTES == 50 * 1024 * 1024
    path = tmp_path / "model.json"
    save_model(make(0, 2, [2, 1]), path)
    monkeypatch.setattr(mio, "MAX_BYTES", path.stat().st_size - 1)
    monkeypatch.setattr(json, "loads", lambda *a, **k: pytest.fail("parsed a huge file"))
    with pytest.raises(ModelFileError, match=r"model\.json is not a micrograd model file: "
                                             r"larger than \d+ bytes"):
        load_model(path)


def test_code_in_a_file_never_runs(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    payload = f"__import__('os').system('touch {marker}')"
    path = tmp_path / "model.json"
    for evil in [edit(lambda d: d["layers"][0].update(activation=payload)),
                 edit(lambda d: d["layers"][0]["neurons"][0].update(b=payload)),
                 edit(lambda d: d.update(nin=payload)),
                 edit(lambda d: d.update(format=payload))]:
        path.write_text(evil)
        with pytest.raises(ModelFileError):
            load_model(path)
    # free-form meta may hold any string: it stays a string, and no evaluator is ever called
    calls = []
    for owner, name in [(builtins, "eval"), (builtins, "exec"), (pickle, "loads"),
                        (pickle, "load")]:
        monkeypatch.setattr(owner, name, lambda *a, _n=name, **k: calls.append(_n))
    path.write_text(edit(lambda d: d.update(meta={"note": payload})))
    model, meta = load_model(path, with_meta=True)
    monkeypatch.undo()
    assert meta == {"note": payload} and calls == [] and not marker.exists()


# ---- atomic writes ----------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["json.dump", "os.replace", "os.fsync"])
def test_a_crash_mid_save_keeps_the_old_file(where, tmp_path, monkeypatch):
    old, new = make(1, 2, [3, 1]), make(2, 2, [3, 1])
    path = tmp_path / "model.json"
    save_model(old, path, meta={"v": "old"})
    before = path.read_bytes()

    def crash(*args, **kwargs):
        if where == "json.dump":                   # half a file written, then the crash
            args[1].write('{"format": "micrograd.mlp", "lay')
        raise OSError(f"simulated crash in {where}")

    module, name = where.split(".")
    monkeypatch.setattr({"json": json, "os": os}[module], name, crash)
    with pytest.raises(OSError, match="simulated crash"):
        save_model(new, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.json"]             # no temp file left behind
    assert load_model(path, with_meta=True)[1] == {"v": "old"}


def test_save_over_an_existing_file(tmp_path):
    path = tmp_path / "model.json"
    save_model(make(1, 2, [3, 1]), path)
    second = make(2, 2, [3, 1])
    save_model(second, path)
    assert [p.data for p in load_model(path).parameters()] == \
           [p.data for p in second.parameters()]
    assert os.listdir(tmp_path) == ["model.json"]


# ---- save errors name the file asked for ------------------------------------------------------
def test_a_save_into_a_read_only_folder_names_the_file(tmp_path):
    path = tmp_path / "ro" / "model.json"
    path.parent.mkdir()
    with read_only(path.parent), pytest.raises(PermissionError) as e:
        save_model(make(0, 2, [2, 1]), path)
    assert e.value.filename == str(path) and e.value.filename2 is None
    assert ".tmp" not in str(e.value) and str(path) in str(e.value)
    assert os.listdir(path.parent) == []


def test_a_save_onto_a_directory_names_it(tmp_path):
    path = tmp_path / "model.json"
    path.mkdir()
    with pytest.raises(IsADirectoryError) as e:
        save_model(make(0, 2, [2, 1]), path)
    assert e.value.filename == str(path) and ".tmp" not in str(e.value)
    assert os.listdir(tmp_path) == ["model.json"] and os.listdir(path) == []


# ---- fused or not: a build choice, never a number --------------------------------------------
def test_fused_and_lecture_graph_models_save_and_load_the_same(tmp_path):
    fused, lecture = make(1337, 2, [16, 16, 1], fused=True), make(1337, 2, [16, 16, 1],
                                                                   fused=False)
    save_model(fused, tmp_path / "fused.json")
    save_model(lecture, tmp_path / "lecture.json")
    assert (tmp_path / "fused.json").read_bytes() == (tmp_path / "lecture.json").read_bytes()
    expected = [datas(out) for out in outputs(lecture)]
    for asked in (True, False):
        loaded = load_model(tmp_path / "fused.json", fused=asked)
        assert {n.fused for layer in loaded.layers for n in layer.neurons} == {asked}
        assert [datas(out) for out in outputs(loaded)] == expected          # bit for bit
        assert from_dict(to_dict(fused), fused=asked).layers[0].neurons[0].fused is asked


# ---- bounded work: parameters, not only bytes; never a blocking open ---------------------------
def test_too_many_parameters_are_refused_before_any_is_built(tmp_path, monkeypatch):
    """4 MB of zeros (far under MAX_BYTES) declaring 2,001,000 parameters: refused, before a
    single weight is read or a Value built (it used to take minutes and gigabytes)."""
    assert mio.MAX_PARAMETERS == 1_000_000
    neuron = '{"w": [' + ",".join("0" * 2000) + '], "b": 0}'
    path = tmp_path / "model.json"
    path.write_text('{"format": "micrograd.mlp", "version": 1, "nin": 2000, "layers": '
                    '[{"activation": "relu", "neurons": [' + ",".join([neuron] * 1000) + ']}]}')
    assert path.stat().st_size < mio.MAX_BYTES
    monkeypatch.setattr(mio, "build_mlp", lambda *a: pytest.fail("built a huge model"))
    with pytest.raises(ModelFileError) as e:
        load_model(path)
    assert str(e.value) == (f"{path} is not a micrograd model file: more than 1000000 "
                            "parameters (at layers[0].neurons[499])")


def test_the_parameter_bound_is_exact(tmp_path, monkeypatch):
    model = make(0, 2, [3, 1])                      # 9 + 4 = 13 parameters
    save_model(model, tmp_path / "m.json")
    monkeypatch.setattr(mio, "MAX_PARAMETERS", 13)
    assert len(load_model(tmp_path / "m.json").parameters()) == 13
    monkeypatch.setattr(mio, "MAX_PARAMETERS", 12)
    with pytest.raises(ModelFileError, match=r"more than 12 parameters \(at layers\[1\]"):
        load_model(tmp_path / "m.json")


def test_a_fifo_is_refused_at_once(tmp_path):
    """Opening a FIFO for reading waits for a writer: load_model used to block forever."""
    fifo = tmp_path / "model.json"
    os.mkfifo(fifo)
    result = []

    def load():
        try:
            load_model(fifo)
        except ModelFileError as e:
            result.append(str(e))

    loader = threading.Thread(target=load, daemon=True)
    loader.start()
    loader.join(10)
    if loader.is_alive():                           # unblock it: open the writing end
        os.close(os.open(fifo, os.O_WRONLY))
        pytest.fail("load_model blocked on a FIFO")
    assert result == [f"{fifo} is not a micrograd model file: not a regular file (a FIFO)"]


def test_a_folder_or_a_device_is_not_a_model_file(tmp_path):
    with pytest.raises(IsADirectoryError) as e:
        load_model(tmp_path)
    assert e.value.filename == str(tmp_path)
    with pytest.raises(ModelFileError, match="/dev/zero is not a micrograd model file: not a "
                                             r"regular file \(a character device\)"):
        load_model("/dev/zero")


# ---- permissions, leftovers of killed saves, no file name ---------------------------------------
def test_a_re_save_keeps_the_files_mode(tmp_path):
    path = tmp_path / "model.json"
    save_model(make(0, 2, [2, 1]), path)
    path.chmod(0o600)                                # a private model stays private
    save_model(make(1, 2, [2, 1]), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o640)
    save_model(make(2, 2, [2, 1]), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_a_save_removes_its_own_stale_temp_files(tmp_path):
    """kill -9 mid-save leaves `.model.json.<hex>.tmp`: the next save of model.json removes
    those older than an hour, and nothing else (a younger one may be a save still running)."""
    hour_ago = time.time() - mio.STALE_AFTER - 60
    names = {".model.json.0123456789ab.tmp": hour_ago,     # stale, ours: removed
             ".model.json.ba9876543210.tmp": time.time(),  # fresh: maybe a running save
             ".other.json.0123456789ab.tmp": hour_ago,     # another file's
             ".model.json.backup": hour_ago,               # not the pattern
             ".model.json.0123456789ab.tmp.png": hour_ago}
    for name, mtime in names.items():
        (tmp_path / name).write_text("{")
        os.utime(tmp_path / name, (mtime, mtime))
    save_model(make(0, 2, [2, 1]), tmp_path / "model.json")
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["model.json"] + [n for n in names if n != ".model.json.0123456789ab.tmp"])


@pytest.mark.parametrize("path", ["", "sub/"])
def test_a_save_needs_a_file_name(tmp_path, monkeypatch, path):
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    with pytest.raises(ValueError, match=f"save_model needs a file name, got {path!r}"):
        save_model(make(0, 2, [2, 1]), path)
    assert os.listdir(tmp_path) == ["sub"] and os.listdir(tmp_path / "sub") == []
