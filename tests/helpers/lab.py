"""Talking to a `micrograd lab` server as its page does (tests/test_lab_server.py,
tests/test_lab_room.py); the `server` fixture that starts one is in tests/conftest.py."""
import http.client
import json
import time

SMALL = {"samples": 60, "layers": [4], "steps": 40}     # quick runs


class Client:
    """Raw HTTP to a lab server, so that tests can send any Host, Origin or body."""

    def __init__(self, server):
        self.port = server.server_address[1]
        self.token = server.token
        self.server_session = server.session

    def request(self, method, path, body=None, headers=None, token=True, raw=False):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = {"Host": f"127.0.0.1:{self.port}"}
        if token:
            h["X-Lab-Token"] = self.token
        if body is not None:
            h["Content-Type"] = "application/json"
            body = body if raw else json.dumps(body).encode()
        h.update(headers or {})
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, dict(r.getheaders()), data

    def json(self, method, path, body=None, **kw):
        status, headers, data = self.request(method, path, body, **kw)
        return status, json.loads(data)

    def state(self, **query):
        q = "&".join(f"{k}={v}" for k, v in query.items())
        status, doc = self.json("GET", f"/api/state?{q}")
        assert status == 200, doc
        return doc

    def wait(self, condition, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            s = self.state()
            if condition(s):
                return s
            assert time.monotonic() < deadline, f"timed out; last state {s['status']} " \
                                                f"step {s['step']}"
            time.sleep(0.05)


def run_steps(client, k):
    for _ in range(k):
        status, doc = client.json("POST", "/api/control", {"action": "step"})
        assert status == 200, doc
    return client.wait(lambda s: s["step"] == k and s["status"] == "paused"
                       and not s["stepping"])
