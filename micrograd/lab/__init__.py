"""micrograd lab: live, interactive training in the browser, on the real engine.

    micrograd lab                 # starts a local server and opens the page
    python -m micrograd lab --no-browser --port 8765

`settings` checks what the page asks for and turns it into data, a model and `fit` arguments;
`session` trains with `fit` in a thread and serves snapshots; `server` is the HTTP side
(loopback, a token, Host and Origin checked); `static/` is the page (no network needed).
"""
