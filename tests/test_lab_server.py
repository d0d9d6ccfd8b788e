"""micrograd lab's server and session: who may talk to it, what it refuses, and that the page's
numbers are fit's numbers. The page itself is driven in Chromium in test_lab_browser.py."""
import http.client
import json
import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from micrograd import io
from micrograd.data import load_dataset, train_test_split
from micrograd.lab.server import MAX_BODY, make_server
from micrograd.lab.session import RequestError, Session
from micrograd.lab.settings import (Settings, make_xor, parse_settings, reproduce,
                                    step_work)
from micrograd.nn import MLP
from micrograd.train import fit
from helpers.lab import SMALL, Client, run_steps

ROOT = Path(__file__).parent.parent


@pytest.fixture
def client(server):
    return Client(server)


# ---------------------------------------------------------------------------------------------
# Who may talk to it
# ---------------------------------------------------------------------------------------------
def test_listens_on_loopback_with_a_long_random_token(server):
    assert server.server_address[0] == "127.0.0.1"
    assert len(server.token) >= 32
    assert server.url == f"http://127.0.0.1:{server.server_address[1]}/?token={server.token}"
    assert make_server().token != server.token


@pytest.mark.parametrize("path", ["/", "/static/lab.js", "/api/state", "/api/model"])
def test_every_request_needs_the_token(client, path):
    status, doc = client.json("GET", path, token=False)
    assert status == 403
    assert doc == {"error": "missing or wrong token: open the URL micrograd lab printed"}
    status, _ = client.json("GET", path, token=False, headers={"X-Lab-Token": "x" * 32})
    assert status == 403
    status, _, _ = client.request("GET", f"{path}{'&' if '?' in path else '?'}token="
                                         f"{client.token}", token=False)
    assert status == 200


def test_the_pages_modules_need_the_token_and_their_imports_carry_it(client):
    """The page is ES modules: a module's relative import drops its importer's ?token=, so
    the server writes the token into each module's imports of its siblings."""
    import re
    from micrograd.lab.server import STATIC
    from micrograd.viz.web import module_text
    modules = [name for name in STATIC if name.endswith(".js")]
    assert {"lab.js", "ui.js"} <= set(modules)
    for name in modules:
        assert client.request("GET", f"/static/{name}", token=False)[0] == 403
        status, headers, body = client.request("GET", f"/static/{name}")
        assert status == 200 and headers["Content-Type"] == "text/javascript; charset=utf-8"
        imports = re.findall(r'^import \{[^}]*\} from "([^"]*)";', body.decode(), re.M)
        assert all(i.endswith(f".js?token={client.token}") for i in imports), name
        for i in imports:                 # every module a page imports is served
            assert client.request("GET", "/static/" + i[2:].split("?")[0])[0] == 200
    assert client.request("GET", "/static/ui.js")[2].decode() == module_text("ui.js")


def test_post_needs_the_token_too(client):
    status, doc = client.json("POST", "/api/control", {"action": "play"}, token=False)
    assert status == 403 and "token" in doc["error"]
    assert client.state()["status"] == "ready"


@pytest.mark.parametrize("host", ["evil.example:80", "127.0.0.1", "localhost:1",
                                  "127.0.0.1.nip.io:{port}", ""])
def test_a_foreign_host_header_is_refused(client, host):
    status, doc = client.json("GET", "/api/state",
                              headers={"Host": host.format(port=client.port)})
    assert status == 403
    assert doc["error"].startswith("this server answers only to 127.0.0.1 and localhost")


def test_localhost_by_name_is_fine(client):
    status, _ = client.json("GET", "/api/state", headers={"Host": f"localhost:{client.port}"})
    assert status == 200


@pytest.mark.parametrize("headers", [{"Origin": "http://evil.example"},
                                     {"Origin": "null"},
                                     {"Origin": "http://127.0.0.1:1"},
                                     {"Sec-Fetch-Site": "cross-site"}])
def test_cross_site_requests_are_refused(client, headers):
    status, doc = client.json("POST", "/api/control", {"action": "play"}, headers=headers)
    assert status == 403
    assert doc["error"] in ("cross-origin requests are refused",
                            "cross-site requests are refused")
    assert client.state()["status"] == "ready"


def test_same_origin_is_fine(client):
    origin = {"Origin": f"http://127.0.0.1:{client.port}", "Sec-Fetch-Site": "same-origin"}
    status, _ = client.json("POST", "/api/control", {"action": "pause"}, headers=origin)
    assert status == 200


def test_pages_carry_a_strict_content_security_policy(client):
    status, headers, body = client.request("GET", "/")
    assert status == 200
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers["Referrer-Policy"] == "no-referrer"
    page = body.decode()
    assert f"/static/lab.js?token={client.token}" in page and "@TOKEN@" not in page
    assert "http://" not in page and "https://" not in page          # nothing from the network


# ---------------------------------------------------------------------------------------------
# Bad requests: a 4xx and a one-line JSON error, and the server carries on
# ---------------------------------------------------------------------------------------------
BAD = [
    ("POST", "/api/settings", b"{not json", 400, "the body is not valid JSON"),
    ("POST", "/api/settings", b'{"lr": NaN}', 400, "the body is not valid JSON (NaN is not"),
    ("POST", "/api/settings", b"[1, 2]", 400, "settings must be a JSON object; got list"),
    ("POST", "/api/settings", b'{"lr": "1"}', 400, "lr must be a number from 1e-06 to 10; got '1'"),
    ("POST", "/api/settings", b'{"lr": 0}', 400, "lr must be a number from 1e-06 to 10; got 0"),
    ("POST", "/api/settings", b'{"samples": 5000}', 400,
     "samples must be a whole number from 10 to 500; got 5000"),
    ("POST", "/api/settings", b'{"samples": 20.5}', 400,
     "samples must be a whole number from 10 to 500; got 20.5"),
    ("POST", "/api/settings", b'{"dataset": "digits"}', 400,
     "dataset must be one of moons, circles, spiral, blobs, xor; got 'digits'"),
    ("POST", "/api/settings", b'{"layers": [16, 16, 16, 16, 16, 16, 16]}', 400,
     "at most 6 hidden layers (a scalar engine gets slow beyond); got 7"),
    ("POST", "/api/settings", b'{"layers": [16, 33]}', 400,
     "hidden layer 2 must have 1 to 32 neurons; got 33"),
    ("POST", "/api/settings", b'{"layers": [0]}', 400,
     "hidden layer 1 must have 1 to 32 neurons; got 0"),
    ("POST", "/api/settings", b'{"layers": [true]}', 400,
     "hidden layer 1 must have 1 to 32 neurons; got True"),
    ("POST", "/api/settings", b'{"__class__": 1}', 400, "unknown setting '__class__'"),
    ("POST", "/api/settings", b'{"dataset": "spiral", "loss": "hinge"}', 400,
     "spiral has 3 classes: loss 'hinge' is for two classes, the data has 3; use cross_entropy "
     "(or mse)"),
    ("POST", "/api/settings", b'{"points": [[0, 0, 2]]}', 400,
     "points[0] class must be a whole number from 0 to 1; got 2"),
    ("POST", "/api/settings", b'{"points": [[1e308, 0, 1]]}', 400,
     "points[0] x1 must be a number from -1000 to 1000; got 1e+308"),
    ("POST", "/api/settings", b'{"compiled": "yes"}', 400,
     "compiled must be true or false; got 'yes'"),
    ("POST", "/api/control", b'{"action": "explode"}', 400,
     "unknown action 'explode'; use play, pause, step, speed or reset"),
    ("POST", "/api/control", b'{"action": 1}', 400,
     "'action' must be one of play, pause, step, speed, reset, got 1"),
    ("POST", "/api/control", b'{"action": "play", "speed": -1}', 400,
     "'speed' must be a number of steps per second from 0"),
    ("POST", "/api/inspect", b'{"which": "train", "index": 999}', 400,
     "the train set has 160 points; there is no point 999"),
    ("POST", "/api/inspect", b'{"which": "train", "index": "0"}', 400,
     "'index' must be a point number, got \"0\""),
    ("POST", "/api/inspect", b'{"which": "all", "index": 0}', 400, "no 'all' set"),
    ("POST", "/api/points", b'{"remove": 0}', 400, "there is no point of yours number 0"),
    ("POST", "/api/points", b'{"add": [0, 0]}', 400, "'add' must be [x1, x2, class]"),
    ("POST", "/api/points", b'{"add": [0, "x", 1]}', 400,
     "points[0] x2 must be a number from -1000 to 1000; got 'x'"),
    ("POST", "/api/model", b'{"format": "micrograd.mlp"}', 400,
     "model.json is not a micrograd model file: the top level has no 'version'"),
    ("POST", "/api/model", b'[' * 100000, 400, "model.json is not a micrograd model file: "),
    ("GET", "/api/state?since=-1", None, 400, "since must be a whole number >= 0, got '-1'"),
    ("GET", "/api/nothing", None, 404, "no such page: GET /api/nothing"),
    ("GET", "/stepper/abc", None, 404, "this stepper page has expired: click the point again"),
    ("PUT", "/api/settings", b"{}", 405, "no such page: PUT /api/settings"),
    # every number bounded, JSON parsed strictly, a step's work bounded (issue 20)
    ("POST", "/api/control", b'{"action": "play", "speed": 1e-300}', 400,
     "'speed' must be a number of steps per second from 0.1 to 1000, or 0 for as fast as "
     "possible; got 1e-300"),
    ("POST", "/api/control", b'{"action": "play", "speed": 1e-8}', 400,
     "'speed' must be a number of steps per second from 0.1 to 1000, or 0 for as fast as "
     "possible; got 1e-08"),
    ("POST", "/api/control", b'{"action": "speed", "speed": 1e400}', 400,
     "'speed' must be a number of steps per second from 0.1 to 1000, or 0 for as fast as "
     "possible; got inf"),
    ("POST", "/api/settings", b'{"seed": 1, "seed": 2}', 400,
     "the body is not valid JSON (the key 'seed' appears twice)"),
    ("POST", "/api/control", b'{"action": "pause", "action": "play"}', 400,
     "the body is not valid JSON (the key 'action' appears twice)"),
    ("POST", "/api/settings", b'{"layers": [32, 32, 32, 32, 32, 32], "samples": 500}', 400,
     "5,409 weights on 500 points a step is 2.70 million weight uses; the lab allows 1.2 "
     "million (about a second a step): use fewer points, a smaller batch, or fewer layers or "
     "neurons"),
    ("POST", "/api/settings", b'{"layers": [32, 32, 32, 32, 32, 32], "compiled": true}', 400,
     "5,409 weights on 200 points a step is 1.08 million weight uses; the lab allows 0.6 "
     "million compiled"),
    ("POST", "/api/check", b'{"stepper": "gone", "node": 0}', 404,
     "this stepper page has expired: click the point again"),
    ("POST", "/api/check", b'{"stepper": "gone", "node": 1.5}', 400,
     "'node' must be a leaf's node number, got 1.5"),
]


@pytest.mark.parametrize("method, path, body, status, message", BAD)
def test_bad_requests_get_a_one_line_error(client, method, path, body, status, message):
    got, headers, data = client.request(method, path, body, raw=True)
    assert got == status, data
    assert headers["Content-Type"] == "application/json"
    doc = json.loads(data)
    assert list(doc) == ["error"] and doc["error"].startswith(message), doc
    assert "\n" not in doc["error"]
    assert client.state()["status"] == "ready"           # still serving, nothing changed
    assert client.state(run=1)["step"] == 0


def test_bodies_must_be_json_with_a_length_under_the_limit(client):
    status, _, data = client.request("POST", "/api/settings", b"{}", raw=True,
                                     headers={"Content-Type": "text/plain"})
    assert status == 415 and b"Content-Type: application/json" in data
    conn = http.client.HTTPConnection("127.0.0.1", client.port, timeout=10)
    conn.putrequest("POST", "/api/settings", skip_host=True)
    for k, v in {"Host": f"127.0.0.1:{client.port}", "X-Lab-Token": client.token,
                 "Content-Type": "application/json",
                 "Content-Length": str(MAX_BODY + 1)}.items():
        conn.putheader(k, v)
    conn.endheaders()                                  # and never send the body
    r = conn.getresponse()
    assert r.status == 413
    assert json.loads(r.read()) == {"error": f"the body is larger than {MAX_BODY} bytes"}
    conn.close()
    assert client.state()["status"] == "ready"


def test_a_request_http_cannot_parse_gets_json_too(client):
    import socket
    with socket.create_connection(("127.0.0.1", client.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n")
        reply = sock.makefile("rb").read()
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431") and b"Content-Type: application/json" in head
    assert json.loads(body) == {"error": "Line too long"}
    assert client.state()["status"] == "ready"


def test_settings_are_applied_and_echoed(client):
    status, _ = client.json("POST", "/api/settings",
                            {"dataset": "xor", "layers": [3, 2], "activation": "tanh",
                             "loss": "mse", "optimizer": "adam", "lr": 0.05})
    assert status == 200
    s = client.state()
    assert s["run"] == 2 and s["step"] == 0
    assert {k: s["settings"][k] for k in ("dataset", "layers", "activation", "loss")} == \
        {"dataset": "xor", "layers": [3, 2], "activation": "tanh", "loss": "mse"}
    assert s["view"]["network"]["sizes"] == [2, 3, 2, 1]
    assert len(s["view"]["neurons"]["maps"]) == 5
    assert len(s["data"]["train"]) == 160 and len(s["data"]["test"]) == 40


def test_six_layers_of_32_is_the_most(client):
    status, _ = client.json("POST", "/api/settings", {"layers": [32] * 6})
    assert status == 200
    s = client.state()
    assert s["view"]["network"]["sizes"] == [2] + [32] * 6 + [1]
    assert len(s["view"]["neurons"]["maps"]) == 192


# ---------------------------------------------------------------------------------------------
# The page's numbers are fit's numbers
# ---------------------------------------------------------------------------------------------
def fit_by_hand(dataset, samples, noise, seed, layers, steps, **kw):
    if dataset == "xor":
        X, y = make_xor(samples, noise, seed)
    else:
        X, y = load_dataset(dataset, n_samples=samples, noise=noise, seed=seed)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, 0.2, seed=seed, stratify=True)
    random.seed(seed)
    model = MLP(2, layers, output_activation="linear", activation=kw.pop("activation", "relu"))
    return fit(model, X_tr, y_tr, steps=steps, seed=seed, X_val=X_te, y_val=y_te,
               eval_every=1, progress=False, **kw), model


@pytest.mark.parametrize("settings, by_hand", [
    ({}, {"loss": "hinge", "optimizer": "sgd", "lr": 1.0, "schedule": "linear"}),
    ({"dataset": "spiral", "noise": 0.2, "loss": "cross_entropy", "optimizer": "adam",
      "lr": 0.02, "activation": "tanh", "layers": [6, 5], "batch_size": 16, "seed": 3,
      "schedule": "cosine"},
     {"loss": "cross_entropy", "optimizer": "adam", "lr": 0.02, "activation": "tanh",
      "schedule": "cosine", "batch_size": 16}),
    ({"dataset": "xor", "loss": "bce", "optimizer": "momentum", "lr": 0.3, "alpha": 0.0},
     {"loss": "bce", "optimizer": "sgd", "lr": 0.3, "schedule": "linear", "alpha": 0.0,
      "optimizer_options": {"momentum": 0.9}}),
    ({"compiled": True},                # the trace goes through the lab's cancellable model
     {"loss": "hinge", "optimizer": "sgd", "lr": 1.0, "schedule": "linear", "compiled": True}),
])
def test_the_pages_loss_after_k_steps_is_fits(client, settings, by_hand):
    doc = {**SMALL, **settings}
    status, err = client.json("POST", "/api/settings", doc)
    assert status == 200, err
    k = 6
    s = run_steps(client, k)
    full = {**Settings().to_dict(), **doc}
    n_out = 3 if full["dataset"] == "spiral" else 1
    history, model = fit_by_hand(full["dataset"], full["samples"], full["noise"], full["seed"],
                                 full["layers"] + [n_out], full["steps"], **by_hand)
    curves = client.state(run=s["run"])["curves"]
    assert curves["loss"] == history.loss[:k]                    # exactly, step by step
    assert curves["accuracy"] == history.accuracy[:k]
    assert curves["test_loss"] == history.val_loss[:k]
    assert curves["test_accuracy"] == history.val_accuracy[:k]


def test_the_reproduce_snippet_is_the_same_run(client):
    doc = {**SMALL, "optimizer": "momentum", "lr": 0.2, "points": [[0.5, 0.5, 1], [-1, 1, 0]]}
    assert client.json("POST", "/api/settings", doc)[0] == 200
    s = run_steps(client, 4)
    repro = client.state()["reproduce"]
    assert repro["command"] is None and repro["note"] == "micrograd train cannot add your own points"
    scope = {}
    exec(repro["python"].replace(f"steps={SMALL['steps']}", f"steps={SMALL['steps']}, "
                                 "progress=False"), scope)
    assert scope["history"].loss[:4] == client.state(run=s["run"])["curves"]["loss"]


def test_the_command_line_is_the_same_run(client, tmp_path):
    doc = {"samples": 40, "layers": [3], "steps": 3, "test_fraction": 0.25, "seed": 5}
    assert client.json("POST", "/api/settings", doc)[0] == 200
    command = client.state()["reproduce"]["command"]
    assert command.startswith("micrograd train --dataset moons --samples 40")
    out = tmp_path / "run"
    subprocess.run([sys.executable, "-m", "micrograd", *command.split()[1:], "--no-plots",
                    "--no-progress", "--out", str(out)], check=True, capture_output=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    run_steps(client, 3)
    status, _, body = client.request("GET", "/api/model")
    assert status == 200
    ours = json.loads(body)
    theirs = json.loads((out / "model.json").read_text())
    assert ours["layers"] == theirs["layers"]                    # the same weights, bit for bit


# ---------------------------------------------------------------------------------------------
# Running, two tabs, model files, one point
# ---------------------------------------------------------------------------------------------
def test_play_pause_and_reset(client):
    client.json("POST", "/api/settings", SMALL)
    # 10 steps a second: the 40 steps cannot all be done before the pause arrives (flat out,
    # a loaded machine could finish them between two polls, and "done" is not "paused")
    client.json("POST", "/api/control", {"action": "play", "speed": 10})
    client.wait(lambda s: s["step"] >= 3)
    client.json("POST", "/api/control", {"action": "pause"})
    paused = client.wait(lambda s: s["status"] == "paused" and not s["stepping"])
    assert paused["step"] < SMALL["steps"]
    time.sleep(0.3)
    assert client.state()["step"] == paused["step"]               # paused means paused
    client.json("POST", "/api/control", {"action": "reset"})
    s = client.state()
    assert s["step"] == 0 and s["status"] == "ready" and s["run"] == paused["run"] + 1
    client.json("POST", "/api/control", {"action": "play", "speed": 0})
    done = client.wait(lambda s: s["status"] == "done")
    assert done["step"] == SMALL["steps"] and done["message"] == f"finished: {SMALL['steps']} steps"
    status, doc = client.json("POST", "/api/control", {"action": "play"})
    assert status == 400 and "press Reset" in doc["error"]


def test_a_diverging_run_says_so(client):
    client.json("POST", "/api/settings", {**SMALL, "loss": "mse", "lr": 10.0, "layers": [16, 16]})
    client.json("POST", "/api/control", {"action": "play"})
    s = client.wait(lambda s: s["status"] == "diverged")
    assert s["message"].startswith("training diverged: ")
    assert s["message"].endswith("; try a smaller learning rate")
    status, doc = client.json("POST", "/api/control", {"action": "step"})
    assert status == 400 and doc["error"].startswith("the run has ended (training diverged")


def test_without_a_test_set(client):
    assert client.json("POST", "/api/settings", {**SMALL, "test_fraction": 0})[0] == 200
    s = run_steps(client, 2)
    assert len(s["curves"]["loss"]) == 2 and s["curves"]["test_loss"] == []
    assert client.state()["data"]["test"] == []
    status, doc = client.json("POST", "/api/inspect", {"which": "test", "index": 0})
    assert (status, doc) == (400, {"error": "no 'test' set to pick a point from"})
    assert "X_val" not in client.state()["reproduce"]["python"]


def test_a_refused_change_leaves_the_run_as_it_was(client):
    client.json("POST", "/api/settings", SMALL)
    run_steps(client, 2)
    status, doc = client.json("POST", "/api/settings", {"samples": 10, "test_fraction": 0.05,
                                                        "dataset": "spiral",
                                                        "loss": "cross_entropy"})
    assert (status, doc) == (400, {"error": "a test fraction of 0.05 of 10 points leaves a "
                                            "side empty (test_fraction=0.05 of 10 samples "
                                            "leaves 10 to train on and 0 to test on)"})
    client.json("POST", "/api/control", {"action": "step"})
    s = client.wait(lambda s: s["step"] == 3 and not s["stepping"])
    assert s["run"] == 2


def test_two_tabs_and_a_reload_do_not_corrupt_the_run(client):
    """Two clients hammering the server mid-training (polls, settings, resets): the run that
    survives is still exactly fit's."""
    client.json("POST", "/api/settings", SMALL)
    client.json("POST", "/api/control", {"action": "play", "speed": 0})
    errors = []

    def tab(n):
        try:
            for i in range(15):
                client.state()
                client.state(run=1, since=0)
                if n == 1 and i % 5 == 0:
                    client.json("POST", "/api/control", {"action": "reset"})
                    client.json("POST", "/api/control", {"action": "play"})
        except Exception as e:        # noqa: BLE001 - reported below
            errors.append(e)
    tabs = [threading.Thread(target=tab, args=(n,)) for n in (1, 2)]
    for t in tabs:
        t.start()
    for t in tabs:
        t.join()
    assert not errors
    done = client.wait(lambda s: s["status"] == "done", timeout=120)
    history, _ = fit_by_hand("moons", 60, 0.1, 0, [4, 1], SMALL["steps"], loss="hinge",
                             optimizer="sgd", lr=1.0, schedule="linear")
    assert client.state(run=done["run"])["curves"]["loss"] == history.loss


def test_save_then_load_restores_the_model_and_its_settings(client, tmp_path):
    client.json("POST", "/api/settings", {**SMALL, "dataset": "circles", "layers": [5, 3]})
    s = run_steps(client, 5)
    status, headers, body = client.request("GET", "/api/model")
    assert status == 200
    assert headers["Content-Disposition"] == 'attachment; filename="lab-circles-step5.json"'
    path = tmp_path / "saved.json"
    path.write_bytes(body)
    model, meta = io.load_model(path, with_meta=True)           # what `micrograd predict` reads
    assert meta["lab"]["dataset"] == "circles" and meta["step"] == 5
    boundary = client.state()["view"]["boundary"]
    client.json("POST", "/api/settings", {"dataset": "moons", "layers": [2]})
    assert client.state()["view"]["boundary"] != boundary
    status, doc = client.json("POST", "/api/model?name=saved.json", body, raw=True)
    assert status == 200, doc
    after = client.state()
    assert after["settings"]["dataset"] == "circles" and after["settings"]["layers"] == [5, 3]
    assert after["view"]["boundary"] == boundary
    assert after["view"]["network"]["weights"] == s["view"]["network"]["weights"]
    assert after["data"]["model_file"] == "saved.json"
    assert "load_model('saved.json')" in after["reproduce"]["python"]


def test_a_model_file_without_lab_settings_brings_its_architecture(client, tmp_path):
    """A file `micrograd train` or save_model wrote: the lab keeps its data settings and takes
    the model's layers and activation (and a loss that fits its outputs)."""
    random.seed(1)
    model = MLP(2, [3, 2, 2], activation="tanh", output_activation="linear")
    io.save_model(model, tmp_path / "m.json", meta={"command": "train"})
    body = (tmp_path / "m.json").read_bytes()
    status, doc = client.json("POST", "/api/model?name=m.json", body, raw=True)
    assert status == 200, doc
    s = client.state()
    assert (s["settings"]["layers"], s["settings"]["activation"], s["settings"]["loss"]) == \
        ([3, 2], "tanh", "cross_entropy")
    assert s["view"]["network"]["weights"][0] == \
        [v for n in model.layers[0].neurons for v in [w.data for w in n.w] + [n.b.data]]
    client.json("POST", "/api/control", {"action": "step"})
    client.wait(lambda s: s["step"] == 1 and not s["stepping"])
    client.json("POST", "/api/control", {"action": "reset"})       # back to the file's weights
    assert client.state()["view"]["network"]["weights"] == s["view"]["network"]["weights"]


@pytest.mark.parametrize("doc, message", [
    ({"format": "micrograd.mlp", "version": 1, "nin": 3,
      "layers": [{"activation": "linear", "neurons": [{"w": [1, 2, 3], "b": 0}]}]},
     "bad.json: the lab draws models of 2 inputs; this one takes 3"),
    ({"format": "micrograd.mlp", "version": 1, "nin": 2,
      "layers": [{"activation": "tanh", "neurons": [{"w": [1, 2], "b": 0}]}]},
     "bad.json: the lab's models have a linear output layer; this one's is tanh"),
    ({"format": "micrograd.mlp", "version": 1, "nin": 2,
      "layers": [{"activation": "relu", "neurons": [{"w": [1, 2], "b": 0}] * 33},
                 {"activation": "linear", "neurons": [{"w": [0] * 33, "b": 0}]}]},
     "bad.json: hidden layer 1 must have 1 to 32 neurons; got 33"),
    ({"format": "micrograd.mlp", "version": 1, "nin": 2,
      "layers": [{"activation": "linear", "neurons": [{"w": [1, 2], "b": 0}]}],
      "meta": {"lab": {"dataset": "moons", "lr": "__import__('os')"}}},
     "bad.json: lr must be a number from 1e-06 to 10; got \"__import__('os')\""),
    ({"format": "micrograd.mlp", "version": 1, "nin": 2,
      "layers": [{"activation": "linear", "neurons": [{"w": [1, 1e999], "b": 0}]}]},
     "bad.json is not a micrograd model file: layers[0].neurons[0].w[1] is not finite"),
])
def test_loaded_model_files_are_checked(client, doc, message):
    body = json.dumps(doc).encode().replace(b"Infinity", b"1e999")
    status, err = client.json("POST", "/api/model?name=bad.json", body, raw=True)
    assert (status, err) == (400, {"error": message})
    assert client.state()["run"] == 1


def test_a_points_forward_and_backward(client):
    client.json("POST", "/api/settings", {**SMALL, "layers": [3, 2]})
    run_steps(client, 2)
    status, p = client.json("POST", "/api/inspect", {"which": "test", "index": 4})
    assert status == 200, p
    # the same point through a copy of the model, by hand
    status, _, body = client.request("GET", "/api/model")
    model = io.from_dict(json.loads(body))
    from micrograd.engine import Value
    x = [Value(v) for v in p["x"]]
    h1 = model.layers[0].forward(x)
    h2 = model.layers[1].forward(h1)
    score = model.layers[2].forward(h2)[0]
    target = 1.0 if p["label"] == 1 else -1.0
    loss = (1 + -target * score).relu() * (1.0 / 1)
    loss.backward()
    assert p["layers"][0]["data"] == [v.data for v in h1]
    assert p["layers"][1]["grad"] == [v.grad for v in h2]
    assert p["layers"][2]["data"] == [score.data] and p["loss"] == loss.data
    assert p["x_grad"] == [v.grad for v in x]
    status, headers, page = client.request("GET", f"/stepper/{p['stepper']}")
    assert status == 200
    assert "script-src 'sha256-" in headers["Content-Security-Policy"]
    assert "unsafe-inline" not in headers["Content-Security-Policy"]
    assert b"backward() through the loss of test point #4 at step 2" in page


def test_points_of_ones_own(client):
    client.json("POST", "/api/settings", SMALL)
    assert client.json("POST", "/api/points", {"add": [0.25, -0.5, 1]})[0] == 200
    assert client.json("POST", "/api/points", {"add": [1.5, 1.0, 0]})[0] == 200
    s = client.state()
    assert s["settings"]["points"] == [[0.25, -0.5, 1], [1.5, 1.0, 0]]
    assert s["data"]["train"][-2:] == [[0.25, -0.5, 1], [1.5, 1.0, 0]]
    assert s["data"]["own_from"] == len(s["data"]["train"]) - 2
    assert client.json("POST", "/api/points", {"remove": 0})[0] == 200
    assert client.state()["settings"]["points"] == [[1.5, 1.0, 0]]


# ---------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------
def start_lab(*args):
    proc = subprocess.Popen([sys.executable, "-m", "micrograd", "lab", "--no-browser", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    line = proc.stdout.readline()
    return proc, line


@pytest.mark.parametrize("training", [False, True])
def test_ctrl_c_stops_the_command_cleanly(training):
    proc, line = start_lab()
    try:
        assert line.startswith("micrograd lab: http://127.0.0.1:") and "?token=" in line
        url = line.split()[2]
        port = int(url.split(":")[2].split("/")[0])
        token = url.split("token=")[1]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", f"/api/state?token={token}")
        r = conn.getresponse()
        assert r.status == 200 and json.loads(r.read())["status"] == "ready"
        if training:
            conn.request("POST", "/api/control", body=b'{"action": "play"}',
                         headers={"X-Lab-Token": token, "Content-Type": "application/json"})
            r = conn.getresponse()
            assert r.status == 200 and r.read() == b'{"ok":true}'
            time.sleep(1.0)
        conn.close()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (0, 130)
    assert "Traceback" not in err and err == ""
    assert out == "micrograd lab: stopped\n"


def test_a_busy_port_is_one_line():
    srv = make_server()
    try:
        port = srv.server_address[1]
        r = subprocess.run([sys.executable, "-m", "micrograd", "lab", "--no-browser",
                            "--port", str(port)], capture_output=True, text=True, timeout=60,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        srv.stop()
    assert r.returncode == 1
    assert r.stderr == f"micrograd: error: port {port} is already in use; pick another with " \
                       f"--port, or leave it out for a free one\n"


def test_there_is_no_host_option():
    r = subprocess.run([sys.executable, "-m", "micrograd", "lab", "--host", "0.0.0.0"],
                       capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 2 and "unrecognized arguments: --host" in r.stderr


def test_settings_round_trip_and_defaults():
    s = Settings()
    assert parse_settings(s.to_dict()) == s
    assert reproduce(s)["command"] == (
        "micrograd train --dataset moons --samples 200 --noise 0.1 --seed 0 --test-fraction 0.2 "
        "--layers 16,16 --activation relu --loss hinge --optimizer sgd --lr 1.0 "
        "--schedule linear --steps 300 --alpha 0.0001")
    assert reproduce(parse_settings({"dataset": "xor"}))["note"] == \
        "micrograd train has no xor dataset"


def test_session_closes_a_running_trainer():
    session = Session(parse_settings(SMALL))
    session.control("play")
    time.sleep(0.3)
    session.close()
    assert session.run.thread is None and trainer_threads() == []


def _ops(root):
    return {v._op for v in root.topo()}


def test_the_trainer_is_fused_and_a_points_graph_is_the_lectures():
    """The trainer builds one node per neuron's w·x+b (a faster step, the same numbers: the
    parity tests above compare it with fit on nn's default, unfused MLP); a loaded model trains
    fused too, also after Reset. The graph a learner opens in the stepper is the lecture's."""
    session = Session(parse_settings(SMALL))
    fused = lambda run: {n.fused for layer in run.model.layers for n in layer.neurons}
    assert fused(session.run) == {True}
    session.control("step")
    deadline = time.monotonic() + 60
    while session.state(run_id=session.run.id)["step"] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    p = session.inspect("train", 0)
    root, _ = session._steppers[p["stepper"]]
    assert {"*", "+"} <= _ops(root) and "w·x+b" not in _ops(root)
    assert p["nodes"] == len(root.topo())
    raw = json.dumps(io.to_dict(MLP(2, [4, 1]))).encode()
    session.load_model_bytes(raw)
    assert fused(session.run) == {True}
    session.control("reset")
    assert fused(session.run) == {True}
    session.close()


# ---------------------------------------------------------------------------------------------
# A lab that never piles up (issue 20): a new run cancels the old one's step at once, one
# training thread, bounded memory, and a server that holds up under a crowd or a closed tab
# ---------------------------------------------------------------------------------------------
LIMIT = {"layers": [32] * 6, "samples": 200}          # 1.08 million weight uses a step


def test_the_limits_allow_six_layers_of_32_on_200_points_and_a_small_net_on_everything():
    assert parse_settings(LIMIT).layers == [32] * 6
    mine = [[0.1 * (k % 10), 0.2, k % 2] for k in range(200)]
    s = parse_settings({"layers": [16, 16], "samples": 500, "points": mine})
    assert step_work(s) == (337, 700)
    s = parse_settings({**LIMIT, "samples": 500, "batch_size": 50})    # a batch of 50 + 100
    assert step_work(s) == (5409, 150)


@pytest.mark.parametrize("where", ["forward", "backward"])
def test_a_new_run_cancels_the_step_under_way(monkeypatch, where):
    """The old run's step stops at the very next check (between two layers, or between two
    data points' backward passes), not at the end of the step: it publishes nothing more."""
    from micrograd.lab import runs
    session = Session(parse_settings(LIMIT))
    checks = []
    real_check, real_grad = runs.Run.check, runs._Cancellable._through_grad

    def check(run):
        checks.append((run.id, where_now[0]))
        if run.id == 1 and where_now[0] == where and \
                sum(1 for c in checks if c == (1, where)) == 50:
            session.apply_settings({"seed": 1})            # from inside the step: no race
        real_check(run)

    where_now = ["forward"]

    def through_grad(self, out, x):
        where_now[0] = "backward"
        return real_grad(self, out, x)
    monkeypatch.setattr(runs.Run, "check", check)
    monkeypatch.setattr(runs._Cancellable, "_through_grad", through_grad)
    old = session.run
    session.control("step")
    deadline = time.monotonic() + 120                      # a hang guard, not a timing
    while session.run is old or old.thread is not None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    old_checks = [c for c in checks if c[0] == 1]           # the 50th saw the cancel: no more
    assert old_checks.count((1, where)) == 50 and old_checks[-1] == (1, where)
    assert old.step == 0 and old.curves["loss"] == [] and old.version == 1
    assert session.run.id == 2 and session.run.status == "ready"
    session.close()
    assert not session._trainer._thread.is_alive()


def trainer_threads():
    return [t for t in threading.enumerate() if t.name.startswith("micrograd-lab")]


def test_one_training_thread_however_many_runs_are_replaced():
    session = Session(parse_settings({**SMALL, "steps": 5000}))
    session.control("play")
    seen = set()
    for seed in range(40):
        session.apply_settings({"seed": seed})
        if seed % 3 == 0:
            session.control("reset")
        if seed % 5 == 0:
            session.add_point(0.5, 0.5, seed % 2)
        threads = trainer_threads()
        assert len(threads) <= 1
        seen.update(threads)
        time.sleep(0.01)
    assert len(seen) == 1                                    # the same thread all along
    s = session.state()
    assert s["run"] == session.run.id and s["status"] == "playing"
    session.close()
    assert trainer_threads() == []


class LabProcess:
    """`micrograd lab` in a process of its own, seen from outside: its memory, threads, CPU."""

    def __init__(self):
        self.proc, line = start_lab()
        url = line.split()[2]
        self.port = int(url.split(":")[2].split("/")[0])
        self.token = url.split("token=")[1]

    def json(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"X-Lab-Token": self.token}
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=None if body is None else json.dumps(body),
                     headers=headers)
        r = conn.getresponse()
        doc = json.loads(r.read())
        conn.close()
        return r.status, doc

    def _proc(self, name):
        return Path(f"/proc/{self.proc.pid}/{name}")

    def rss_mb(self):
        line = next(l for l in self._proc("status").read_text().splitlines()
                    if l.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024

    def threads(self):
        return len(list(self._proc("task").iterdir()))

    def cpu_seconds(self):
        fields = self._proc("stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.communicate(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


@pytest.mark.slow                     # a hundred models at the size limits, in a lab process
def test_a_hundred_settings_changes_at_the_limits_leave_nothing_behind():
    lab = LabProcess()
    try:
        assert lab.json("POST", "/api/settings", LIMIT)[0] == 200
        assert lab.json("POST", "/api/control", {"action": "play"})[0] == 200
        time.sleep(0.5)
        base_threads = lab.threads()                   # main, serve_forever's, the trainer
        peak = 0
        for seed in range(100):
            assert lab.json("POST", "/api/settings", {"seed": seed + 1})[0] == 200
            peak = max(peak, lab.rss_mb())
        assert peak < 500, f"{peak:.0f} MB"
        state = lab.json("GET", "/api/state")[1]
        assert state["run"] == 102 and state["status"] == "playing"
        # The page asks it to stop: pause, and a new run (which does not play): within 2 s,
        # no step is under way, no thread is left behind, and no core is busy.
        assert lab.json("POST", "/api/control", {"action": "pause"})[0] == 200
        assert lab.json("POST", "/api/settings", {"seed": 0})[0] == 200
        deadline = time.monotonic() + 2.0
        while True:
            before = lab.cpu_seconds()
            time.sleep(0.25)
            idle = lab.cpu_seconds() - before < 0.05
            if idle and lab.threads() <= base_threads:
                break
            assert time.monotonic() < deadline, (lab.threads(), base_threads)
        assert lab.rss_mb() < 500
        out, err = lab.stop()
    finally:
        if lab.proc.poll() is None:
            lab.proc.kill()
    assert err == "" and out == "micrograd lab: stopped\n"


def test_a_closed_tab_is_silent_in_the_terminal():
    """Tabs that close while their answer is on its way (a reset connection, a broken pipe)
    print nothing: the terminal may be on the projector."""
    import socket
    import struct
    lab = LabProcess()
    try:
        assert lab.json("POST", "/api/settings", {"layers": [32] * 6, "samples": 100})[0] == 200
        request = (f"GET /api/state?token={lab.token} HTTP/1.1\r\n"
                   f"Host: 127.0.0.1:{lab.port}\r\n\r\n").encode()
        for _ in range(30):
            sock = socket.create_connection(("127.0.0.1", lab.port))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.sendall(request)
            sock.close()                               # RST: gone before the 300 kB answer
        assert lab.json("GET", "/api/state")[0] == 200           # still serving
        out, err = lab.stop()
    finally:
        if lab.proc.poll() is None:
            lab.proc.kill()
    assert err == "" and out == "micrograd lab: stopped\n"


def test_two_hundred_concurrent_inspects_get_their_answers(client):
    """A real listen backlog: 200 clients at once are all answered (the default backlog of 5
    reset 158 of them)."""
    assert client.json("POST", "/api/settings", {"samples": 250})[0] == 200
    results, barrier = [None] * 200, threading.Barrier(200)

    def inspect(k):
        barrier.wait()
        try:
            results[k] = client.json("POST", "/api/inspect", {"which": "train", "index": k})
        except OSError as e:
            results[k] = (type(e).__name__, str(e))
    threads = [threading.Thread(target=inspect, args=(k,)) for k in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert [r[0] for r in results] == [200] * 200, [r for r in results if r[0] != 200][:3]
    assert [r[1]["index"] for r in results] == list(range(200))


def test_a_connection_that_never_finishes_its_headers_is_dropped(server, monkeypatch):
    import socket
    from micrograd.lab import server as lab_server
    assert lab_server._Handler.timeout == lab_server.TIMEOUT == 10
    monkeypatch.setattr(lab_server._Handler, "timeout", 0.5)
    with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=60) as sock:
        sock.sendall(b"GET /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\n")   # and no blank line
        assert sock.recv(1000) == b""                  # closed by the server, with no answer
    assert server.request_queue_size == lab_server.BACKLOG == 128


def test_a_charset_other_than_utf8_is_refused(client):
    body = json.dumps({"seed": 3}).encode("utf-16")
    status, headers, data = client.request("POST", "/api/settings", body, raw=True, headers={
        "Content-Type": "application/json; charset=utf-16"})
    assert status == 415
    assert json.loads(data) == {"error": "the body must be UTF-8 JSON; got charset 'utf-16'"}
    status, _, _ = client.request("POST", "/api/settings", b'{"seed": 3}', raw=True, headers={
        "Content-Type": "application/json; charset=UTF-8"})
    assert status == 200 and client.state()["settings"]["seed"] == 3


def test_a_model_file_is_bounded_before_it_is_read_at_length(client, monkeypatch):
    """A file of 95,000 neurons is refused by its size; one of 20,000 that fits the size by
    its outline, before io builds a single neuron."""
    built = []
    real = io.from_dict
    monkeypatch.setattr(io, "from_dict", lambda *a, **k: built.append(1) or real(*a, **k))
    neuron = {"w": [0, 0], "b": 0}
    doc = lambda n: {"format": "micrograd.mlp", "version": 1, "nin": 2, "layers": [
        {"activation": "relu", "neurons": [neuron] * n},
        {"activation": "linear", "neurons": [{"w": [0] * n, "b": 0}]}]}
    big = json.dumps(doc(95_000)).encode()        # 1.9 MB: the server refuses it unread (413,
    assert len(big) > MAX_BODY                     # test_bodies_must_be_json_with_a_length...)
    with pytest.raises(RequestError, match=f"big.json is larger than {MAX_BODY} bytes"):
        client.server_session.load_model_bytes(big, "big.json")
    wide = json.dumps(doc(20_000)).encode()
    assert len(wide) < MAX_BODY
    status, err = client.json("POST", "/api/model?name=wide.json", wide, raw=True)
    assert (status, err) == (400, {"error": "wide.json: hidden layer 1 must have 1 to 32 "
                                            "neurons; got 20,000"})
    deep = {**doc(2), "layers": [{"activation": "relu", "neurons": [neuron]}] * 9}
    status, err = client.json("POST", "/api/model?name=deep.json", deep)
    assert (status, err) == (400, {"error": "deep.json: at most 6 hidden layers (a scalar engine "
                                            "gets slow beyond); got 8"})
    dup = b'{"format": "micrograd.mlp", "format": "micrograd.mlp"}'
    status, err = client.json("POST", "/api/model?name=dup.json", dup, raw=True)
    assert (status, err) == (400, {"error": "dup.json is not a micrograd model file: not valid "
                                            "JSON (the key 'format' appears twice)"})
    assert built == []


def test_numbers_json_cannot_hold_are_sent_as_null_with_a_flag(client):
    """A model of 1e308 weights: its heat maps and a point's forward pass overflow. The page
    gets JSON it can parse, never a 500."""
    huge = {"format": "micrograd.mlp", "version": 1, "nin": 2, "layers": [
        {"activation": "relu", "neurons": [{"w": [1e308, 1e308], "b": 1e308}] * 2},
        {"activation": "linear", "neurons": [{"w": [1e308, -1e308], "b": 0}]}]}
    status, doc = client.json("POST", "/api/model?name=huge.json", huge)
    assert status == 200, doc
    state = client.state()
    assert state["data"]["model_file"] == "huge.json"
    status, doc = client.json("POST", "/api/inspect", {"which": "train", "index": 3})
    assert status == 200 and doc["nonfinite"] is True    # 1e308 + 1e308 - ...: inf - inf
    assert doc["loss"] is None and doc["layers"][1]["data"] == [None]
    assert all(math.isfinite(v) for v in doc["layers"][0]["data"])
    # a run that diverges: its state and a point's inspection are still JSON
    client.json("POST", "/api/settings", {**SMALL, "loss": "mse", "lr": 10.0, "layers": [16, 16]})
    client.json("POST", "/api/control", {"action": "play"})
    client.wait(lambda s: s["status"] == "diverged")
    status, doc = client.json("POST", "/api/inspect", {"which": "train", "index": 0})
    assert status in (200, 400), doc
    assert status == 400 or doc.get("nonfinite") is True or all(
        isinstance(v, float) for v in doc["layers"][-1]["data"])


def test_a_nudge_check_is_answered_on_request(client):
    """What a stepper page asks for a check it left pending (over its budget): one leaf's."""
    from micrograd.viz.stepper import stepper_data
    client.json("POST", "/api/settings", {**SMALL, "layers": [3]})
    status, doc = client.json("POST", "/api/inspect", {"which": "train", "index": 2})
    assert status == 200 and doc["stepper"]
    root, _ = client.server_session._steppers[doc["stepper"]]
    rows = {c["node"]: c for c in stepper_data(root)["checks"]}
    for leaf in list(rows)[:4]:
        status, row = client.json("POST", "/api/check", {"stepper": doc["stepper"], "node": leaf})
        assert status == 200
        assert row == {k: rows[leaf][k] for k in ("node", "numeric", "numericFull", "grad", "ok")}
    not_a_leaf = max(rows) + 1
    status, err = client.json("POST", "/api/check", {"stepper": doc["stepper"],
                                                     "node": not_a_leaf})
    assert status == 400 and err["error"].startswith(f"node {not_a_leaf} is not a leaf")
