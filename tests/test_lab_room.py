"""The lab's server side of issue 20's "lab for a room": the clicked point's stepper may be
framed by the lab page (and by no other), and own points may be of any class the dataset has.
The page itself: tests/test_lab_browser.py."""
import pytest

from micrograd.lab.settings import SettingsError, parse_settings
from test_lab_server import Client, server  # noqa: F401 (server: a fixture)


def test_only_the_stepper_page_may_be_framed_and_only_by_the_lab(server):   # noqa: F811
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
