"""The lab's server side of issue 20's "lab for a room": the clicked point's stepper may be
framed by the lab page (and by no other), own points may be of any class the dataset has, and
the network's inputs may be TF Playground's features of the points.
The page itself: tests/test_lab_browser.py."""

import numpy as np
import pytest

from micrograd import trig
from micrograd.lab.settings import SettingsError, featurize, parse_settings
from helpers.lab import SMALL, Client, run_steps


def test_only_the_stepper_page_may_be_framed_and_only_by_the_lab(server):
    client = Client(server)
    status, headers, _ = client.request("GET", "/")
    assert status == 200 and headers["X-Frame-Options"] == "DENY"
    csp = headers["Content-Security-Policy"]
    assert "frame-src 'self'" in csp and "frame-ancestors 'none'" in csp
    status, point = client.json("POST", "/api/inspect", {"which": "train", "index": 3})
    assert status == 200 and point["stepper"]
    status, headers, body = client.request("GET", f"/stepper/{point['stepper']}")
    assert status == 200 and body.startswith(b"<!doctype html>")
    assert headers["X-Frame-Options"] == "SAMEORIGIN"
    assert headers["Content-Security-Policy"].endswith("; frame-ancestors 'self'")
    for path in ("/api/state", "/static/lab.js"):
        assert client.request("GET", path)[1]["X-Frame-Options"] == "DENY"


def test_own_points_may_be_of_any_class_the_dataset_has():
    s = parse_settings({"dataset": "spiral", "loss": "cross_entropy",
                        "points": [[0.1, 0.2, 2], [0.0, 0.0, 0]]})
    assert s.points == [[0.1, 0.2, 2], [0.0, 0.0, 0]]
    with pytest.raises(SettingsError, match=r"^points\[0\] class must be a whole number from 0 "
                                            r"to 1; got 2$"):
        parse_settings({"points": [[0.1, 0.2, 2]]})
    with pytest.raises(SettingsError, match=r"^points\[0\] class must be a whole number from 0 "
                                            r"to 2; got 3$"):
        parse_settings({"dataset": "blobs", "loss": "cross_entropy", "points": [[0, 0, 3]]})


def test_features_are_checked_and_computed_from_the_points():
    assert parse_settings({}).features == ["x1", "x2"]
    s = parse_settings({"features": ["sinx2", "x1x2", "x1sq", "x1"]})
    assert s.features == ["x1", "x1sq", "x1x2", "sinx2"]            # the table's order
    X = np.array([[0.5, -2.0], [3.0, 0.25]])
    assert featurize(s, X).tolist() == [[0.5, 0.25, -1.0, trig.sin(-2.0)],   # correctly
                                        [3.0, 9.0, 0.75, trig.sin(0.25)]]    # rounded
    for bad, message in [([], r"^features must be a non-empty list of x1, x2, x1sq, x2sq, "
                               r"x1x2, sinx1, sinx2; got \[\]$"),
                         (["x3"], r"^features: 'x3' is not one of x1, x2, "),
                         (["x1", "x1"], r"^features: each at most once; got \['x1', 'x1'\]$"),
                         ("x1", r"^features must be a non-empty list")]:
        with pytest.raises(SettingsError, match=message):
            parse_settings({"features": bad})


def test_a_run_on_features_trains_draws_and_reproduces(server):
    client = Client(server)
    doc = {**SMALL, "dataset": "circles", "features": ["x1sq", "x2sq", "x1x2"]}
    status, err = client.json("POST", "/api/settings", doc)
    assert status == 200, err
    s = run_steps(client, 4)
    state = client.state()
    net = state["view"]["network"]
    assert net["sizes"] == [3, 4, 1] and net["features"] == ["x1²", "x2²", "x1·x2"]
    assert len(state["view"]["inputs"]) == 3 and len(net["weights"][0]) == 4 * (3 + 1)
    # a point's graph starts from its features, named as drawn
    status, point = client.json("POST", "/api/inspect", {"which": "train", "index": 0})
    x1, x2 = point["x"]
    assert point["input_names"] == ["x1²", "x2²", "x1·x2"]
    assert point["inputs"] == [x1 * x1, x2 * x2, x1 * x2]
    # the Python snippet is the same run; there is no command line for it
    repro = state["reproduce"]
    assert repro["command"] is None
    assert repro["note"] == "micrograd train has no input features beyond x1, x2"
    assert "model = MLP(3, [4, 1]" in repro["python"]
    scope = {}
    exec(repro["python"].replace("steps=40", "steps=40, progress=False"), scope)
    assert scope["history"].loss[:4] == client.state(run=s["run"])["curves"]["loss"]
    assert scope["history"].val_loss[:4] == client.state(run=s["run"])["curves"]["test_loss"]
