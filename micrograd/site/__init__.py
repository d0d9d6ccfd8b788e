"""micrograd with nothing to install: `micrograd site OUT/` writes a static site.

    micrograd site site/                     build it (Pyodide is fetched from npm once)
    python -m http.server -d site/           serve it; open http://127.0.0.1:8000/

The pages run the real micrograd, this package's own wheel, in Pyodide (CPython compiled to
WebAssembly) inside a Web Worker; nothing is fetched from anywhere but OUT at run time.

    build.py          the builder: the wheel, Pyodide's files, the pages; refuses a foreign OUT
    pyodide_dist.py   the pinned Pyodide release from the npm registry, fetched once, cached
    worker_api.py     what the worker answers (runs in Pyodide, and in CPython for the tests)
    lab_session.py    micrograd lab's own session, with plain-Python numbers and stepping
    lab_data.py       the lab's data: numpy's and scikit-learn's numbers, in pure Python
    libm.py           sin, cos, tanh, exp, log and ** as glibc gives them, for Pyodide (musl)
    static/           the pages, the worker and the engine client (ES modules, no build step)

Pyodide's own numpy and scikit-learn wheels live on its CDN only (neither PyPI nor npm has
them), so the site runs the pure-Python parts as they are (engine, nn, train, the stepper, the
exercises, the lab's settings) and makes the lab's data itself (docs/site.md).
"""
from micrograd.site.build import MARKER, SiteError, build_site

__all__ = ["build_site", "SiteError", "MARKER"]
