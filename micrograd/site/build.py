"""`micrograd site OUT/`: write the static site into OUT.

OUT afterwards holds everything the pages load, and nothing is fetched from anywhere else:

    index.html, stepper.html, exercises.html   the pages (site.css, *.js beside them)
    worker.js                                  the Web Worker: Pyodide + micrograd
    micrograd-VERSION-py3-none-any.whl         this package, packed at build time
    pyodide/                                   Pyodide's runtime files (pyodide_dist.FILES)
    site.json                                  what the worker loads (the wheel's name)
    .micrograd-site                            the marker: the files this build wrote

OUT may be a new folder, an empty one, or a site an earlier build wrote (its marker lists the
files to replace; anything else in it, a CNAME for instance, is left alone). Any other folder
is refused: nothing of the learner's is ever overwritten.
"""
import base64
import csv
import hashlib
import io
import json
import re
import shutil
import tempfile
import zipfile
from importlib import resources
from pathlib import Path

from micrograd.site import pyodide_dist

__all__ = ["build_site", "SiteError", "MARKER", "PAGES"]

MARKER = ".micrograd-site"
PAGES = ("index.html", "stepper.html", "exercises.html")
ASSETS = ("site.css", "engine-client.js", "stepper-page.js", "exercises-page.js", "worker.js",
          "lab-site.js")
ZIP_DATE = (2020, 1, 1, 0, 0, 0)          # a fixed date: the same package, the same wheel bytes


class SiteError(ValueError):
    """OUT cannot be written (the message is one line and names OUT)."""


# ---------------------------------------------------------------------------------------------
# The package as a wheel (the worker unpacks it into Pyodide's site-packages)
# ---------------------------------------------------------------------------------------------
def _package_files(root):
    """The installed package's modules and data files, the site's own pages excepted (the
    worker does not need them)."""
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root.parent)
        if not path.is_file() or "__pycache__" in rel.parts or path.suffix in (".pyc", ".so"):
            continue
        if rel.parts[:3] == ("micrograd", "site", "static"):
            continue
        yield path, rel.as_posix()


def make_wheel(folder):
    """Pack micrograd, as installed (a checkout or site-packages alike), into a pure-Python
    wheel in `folder`; returns its file name. The bytes depend on the files only."""
    import micrograd
    version = micrograd.__version__
    root = Path(micrograd.__file__).resolve().parent
    dist = f"micrograd-{version}.dist-info"
    name = f"micrograd-{version}-py3-none-any.whl"
    meta = {f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: micrograd\nVersion: {version}\n"
                                f"Requires-Python: >=3.10\n",
            f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: micrograd site\n"
                             "Root-Is-Purelib: true\nTag: py3-none-any\n"}
    record = io.StringIO()
    rows = csv.writer(record, lineterminator="\n")
    with zipfile.ZipFile(Path(folder) / name, "w", zipfile.ZIP_DEFLATED) as whl:
        def add(arcname, data):
            whl.writestr(zipfile.ZipInfo(arcname, ZIP_DATE), data,
                         compress_type=zipfile.ZIP_DEFLATED)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            rows.writerow([arcname, f"sha256={digest.decode()}", len(data)])
        for path, arcname in _package_files(root):
            add(arcname, path.read_bytes())
        for arcname, text in meta.items():
            add(arcname, text.encode())
        rows.writerow([f"{dist}/RECORD", "", ""])
        whl.writestr(zipfile.ZipInfo(f"{dist}/RECORD", ZIP_DATE), record.getvalue())
    return name


# ---------------------------------------------------------------------------------------------
# The pages
# ---------------------------------------------------------------------------------------------
def page_csp():
    """The site's pages show the stepper page in an iframe (srcdoc), which keeps its parent's
    policy: the parent admits exactly the stepper's inline style and script, by hash, as the
    stepper's own policy does."""
    from micrograd.viz.stepper import stepper_sources
    style, script = stepper_sources()
    return (f"default-src 'none'; script-src 'self' {script}; style-src 'self' {style}; "
            f"worker-src 'self'; connect-src 'self'; img-src 'self' data:; frame-src 'self'; "
            f"base-uri 'none'; form-action 'none'")


def _static(name):
    return resources.files("micrograd.site").joinpath("static", name).read_bytes()


def _write_pages(folder):
    csp = page_csp()
    for name in PAGES:
        text = _static(name).decode("utf-8")
        if text.count("@CSP@") != 1:
            raise RuntimeError(f"site page {name} needs exactly one @CSP@")
        (folder / name).write_text(text.replace("@CSP@", csp), encoding="utf-8")
    for name in ASSETS:
        (folder / name).write_bytes(_static(name))
    _write_lab(folder, csp)


def _write_lab(folder, csp):
    """lab.html: `micrograd lab`'s own page and files, unchanged but for where the files are
    (lab/, not the server's /static/ with its token) and one module script before the page's
    own, lab-site.js, which answers its /api/ requests from the worker. The lab's modules
    import ./ui.js, the module it shares with the stepper: it goes beside them."""
    from micrograd.viz.web import SHARED, module_text
    lab = resources.files("micrograd.lab").joinpath("static")
    (folder / "lab").mkdir()
    for item in lab.iterdir():
        if item.is_file() and item.name != "index.html":
            (folder / "lab" / item.name).write_bytes(item.read_bytes())
    (folder / "lab" / SHARED).write_text(module_text(SHARED), encoding="utf-8")
    page = lab.joinpath("index.html").read_text(encoding="utf-8").replace("?token=@TOKEN@", "")
    page = re.sub(r'(src|href)="/static/', r'\1="lab/', page)
    head, script, rest = page.partition("<script")
    charset = '<meta charset="utf-8">'
    if not script or charset not in head or "@TOKEN@" in page:
        raise RuntimeError("micrograd/lab/static/index.html has changed in a way the site's "
                           "builder does not know: update micrograd/site/build.py's _write_lab")
    head = head.replace(charset, f'{charset}\n<meta http-equiv="Content-Security-Policy" '
                                 f'content="{csp}">', 1)
    page = head + '<script type="module" src="lab-site.js"></script>\n' + script + rest
    (folder / "lab.html").write_text(page, encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# OUT
# ---------------------------------------------------------------------------------------------
def _previous_files(out):
    """The files an earlier build wrote into OUT ([] for a new or empty OUT); SiteError when
    OUT holds anything else."""
    if not out.exists():
        return []
    if not out.is_dir():
        raise SiteError(f"{out} exists and is not a folder; give a folder for the site")
    marker = out / MARKER
    if marker.is_file():
        try:
            files = json.loads(marker.read_text(encoding="utf-8"))["files"]
            if isinstance(files, list) and all(isinstance(f, str) for f in files):
                return files
        except (ValueError, KeyError, TypeError):
            pass
        raise SiteError(f"{marker} is not a micrograd site's marker; refusing to write into {out}")
    if any(out.iterdir()):
        raise SiteError(f"{out} is not empty and is not a micrograd site (no {MARKER}); "
                        f"refusing to write into it: give a new or empty folder")
    return []


def build_site(out, log=None):
    """Build the static site into `out`; returns {"files": n, "bytes": total, "wheel": name}.
    `log`: a text stream for progress lines (None: quiet)."""
    import micrograd
    out = Path(out)
    previous = _previous_files(out)
    pyodide = pyodide_dist.fetch(out=log)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".building-") as tmp:
        stage = Path(tmp)
        (stage / "pyodide").mkdir()
        for name in pyodide_dist.FILES:
            shutil.copyfile(pyodide / name, stage / "pyodide" / name)
        wheel = make_wheel(stage)
        _write_pages(stage)
        (stage / "site.json").write_text(json.dumps(
            {"wheel": wheel, "micrograd": micrograd.__version__,
             "pyodide": pyodide_dist.VERSION}), encoding="utf-8")
        files = sorted(p.relative_to(stage).as_posix() for p in stage.rglob("*") if p.is_file())
        for rel in files:                        # replace file by file: what else is there stays
            target = out / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            (stage / rel).replace(target)
    for rel in set(previous) - set(files):       # what an earlier build wrote and this one not
        stale = out / rel
        if stale.is_file() and stale.resolve().is_relative_to(out.resolve()):
            stale.unlink()
    (out / MARKER).write_text(json.dumps({"files": files}, indent=1), encoding="utf-8")
    total = sum((out / rel).stat().st_size for rel in files)
    return {"files": len(files), "bytes": total, "wheel": wheel}
