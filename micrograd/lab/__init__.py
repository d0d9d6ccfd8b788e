"""micrograd lab: live, interactive training in the browser, on the real engine.

    micrograd lab                 # starts a local server and opens the page
    python -m micrograd lab --no-browser --port 8765

`settings` checks what the page asks for and turns it into data, a model and `fit` arguments;
`runs` trains with `fit` on one thread and cancels a replaced run within a layer; `views` draws
a run's snapshot (heat maps, the network) with numpy; `session` answers the page's requests;
`server` is the HTTP side (loopback, a token, Host and Origin checked, strict JSON, bounded
connections); `static/` is the page (no network needed). docs/lab-server.md has the limits.
"""
