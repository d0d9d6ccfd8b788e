"""Pyodide for the site: one pinned release from the npm registry, fetched once into a cache.

The npm package `pyodide` holds the whole runtime (CPython compiled to WebAssembly, its standard
library, the loader); none of Pyodide's own package wheels (numpy and the rest live on a CDN,
which the site must not use). `fetch()` runs `npm pack pyodide@VERSION`, checks the tarball
against the integrity pinned here, and unpacks the few files the pages load into
`$MICROGRAD_CACHE/pyodide-VERSION/` (default `~/.cache/micrograd/`). A second call finds them
there and costs nothing; `MICROGRAD_PYODIDE_DIR` may name a folder that already holds them.
"""
import base64
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

__all__ = ["VERSION", "FILES", "fetch", "main", "PyodideUnavailable"]

# Python 3.14.2 (the package needs >= 3.10). A new pin needs its integrity from
# `npm view pyodide@X dist.integrity`, and the runtime file names checked (FILES).
VERSION = "314.0.8"
INTEGRITY = ("sha512-74Wq1kXOC+CCEzAfxuRAO701nAcCMLjf8NrwvWpu8S41dVMXwXmLQ05dYB+F4e46Ad"
             "nGo0oq7YHSVUpHsoarLQ==")
# What loadPyodide() fetches: the loader, the Emscripten glue and module, the standard library,
# and the lock file it reads at start (its package list is never used: nothing is loaded from it).
FILES = ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip",
         "pyodide-lock.json")


class PyodideUnavailable(RuntimeError):
    """Pyodide could not be fetched or found; the message says what to do."""


def cache_root():
    base = os.environ.get("MICROGRAD_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "micrograd")
    return Path(base)


def _complete(folder):
    return all((folder / name).is_file() for name in FILES)


def _check_integrity(tarball):
    algo, _, expected = INTEGRITY.partition("-")
    digest = hashlib.new(algo, tarball.read_bytes()).digest()
    if base64.b64encode(digest).decode("ascii") != expected:
        raise PyodideUnavailable(f"{tarball.name} does not match the integrity pinned for "
                                 f"pyodide@{VERSION}; refusing to use it")


def fetch(out=None):
    """The folder holding Pyodide's FILES: MICROGRAD_PYODIDE_DIR if set, else the cache,
    filled from the npm registry the first time."""
    given = os.environ.get("MICROGRAD_PYODIDE_DIR")
    if given:
        folder = Path(given)
        if not _complete(folder):
            missing = [n for n in FILES if not (folder / n).is_file()]
            raise PyodideUnavailable(f"MICROGRAD_PYODIDE_DIR={given} lacks {', '.join(missing)}")
        return folder
    folder = cache_root() / f"pyodide-{VERSION}"
    if _complete(folder):
        return folder
    npm = shutil.which("npm")
    if npm is None:
        raise PyodideUnavailable(f"npm is needed once to fetch pyodide@{VERSION} (apt-get "
                                 f"install npm), or set MICROGRAD_PYODIDE_DIR to a folder with "
                                 f"{', '.join(FILES)}")
    folder.parent.mkdir(parents=True, exist_ok=True)
    if out is not None:
        print(f"fetching pyodide@{VERSION} from the npm registry (once; cached in {folder})",
              file=out)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".pyodide-") as tmp:
        tmp = Path(tmp)
        done = subprocess.run([npm, "pack", f"pyodide@{VERSION}", "--silent",
                               "--pack-destination", str(tmp)], cwd=tmp, capture_output=True,
                              text=True, timeout=600, stdin=subprocess.DEVNULL)
        tarballs = list(tmp.glob("pyodide-*.tgz"))
        if done.returncode != 0 or len(tarballs) != 1:
            why = " ".join((done.stderr or done.stdout).split())[-300:]
            raise PyodideUnavailable(f"npm pack pyodide@{VERSION} failed: {why}")
        _check_integrity(tarballs[0])
        unpacked = tmp / "files"
        unpacked.mkdir()
        with tarfile.open(tarballs[0]) as tar:
            for name in FILES:
                member = tar.getmember(f"package/{name}")
                if not member.isfile():
                    raise PyodideUnavailable(f"pyodide@{VERSION}'s {name} is not a file")
                with tar.extractfile(member) as src, open(unpacked / name, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        if folder.exists():                       # an incomplete earlier attempt
            shutil.rmtree(folder)
        unpacked.rename(folder)
    return folder


def main():
    """scripts/setup.sh dev: fetch once (a no-op when cached), say where it is."""
    import sys
    try:
        print(f"pyodide@{VERSION}: {fetch(out=sys.stderr)}")
    except PyodideUnavailable as e:
        sys.exit(f"pyodide: {e}")
