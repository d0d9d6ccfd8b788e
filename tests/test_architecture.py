"""Imports point down: no module imports a layer above its own (docs/architecture.md).

The check reads every module's source with `ast` (imports at the top and inside functions
alike), so an upward import cannot hide in a function body. The only exceptions are the seams
listed in SEAMS, each lazy, each with its reason. Then, in fresh interpreters: importing
micrograd.train loads nothing of micrograd.viz, and micrograd.engine / micrograd.nn load
nothing outside the standard library.
"""
import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "micrograd"

# The layers, lowest first: a module may import its own layer and the ones before it. A name
# stands for the module and everything under it, a name ending in * for every module whose
# name starts so (the longest name that matches wins). Keep this table and the picture in
# docs/architecture.md the same.
LAYERS = [
    ("engine", ["micrograd.engine", "micrograd.op", "micrograd.fastpaths",
                "micrograd.primitives", "micrograd.checks", "micrograd.nodes"]),
    ("engine's siblings", ["micrograd.grad_mode", "micrograd.higher_order",
                           "micrograd.gradcheck"]),
    ("nn", ["micrograd.nn"]),
    ("on top of nn", ["micrograd.losses", "micrograd.optim", "micrograd.weights",
                      "micrograd.lecture", "micrograd.labels", "micrograd.callbacks",
                      "micrograd.progress", "micrograd.trig"]),
    ("compiler, data", ["micrograd.compiler", "micrograd.data"]),
    ("models", ["micrograd.gpt*"]),
    ("train", ["micrograd.train"]),
    ("io", ["micrograd.io", "micrograd.gpt.modelfile"]),
    ("bridges", ["micrograd.bridge"]),
    ("viz", ["micrograd.viz"]),
    ("lab, exercises", ["micrograd.lab", "micrograd.exercises"]),
    ("site", ["micrograd.site"]),
    ("cli", ["micrograd.cli", "micrograd.__main__"]),
]

# importer -> imported: lazy imports that reach up, on purpose, only when called.
SEAMS = {
    ("micrograd.engine", "micrograd.grad_mode"):
        "`from micrograd.engine import no_grad` (code written for the engine) resolves on first use",
    ("micrograd.engine", "micrograd.higher_order"):
        "`from micrograd.engine import grad` resolves on first use",
    ("micrograd.train", "micrograd.viz.notebook"):
        "fit(live=...) adds the notebook's LivePicture callback, only when live is given",
    ("micrograd", "micrograd.compiler"):
        "the package's micrograd.compile() is micrograd.compiler.compile, imported when called",
}
# The package itself (micrograd/__init__.py) re-exports the engine: it sits at the bottom.
FACADE = "micrograd"


def level(module):
    best = None
    for i, (_, names) in enumerate(LAYERS):
        for name in names:
            matches = (module.startswith(name[:-1]) if name.endswith("*") else
                       module == name or module.startswith(name + "."))
            if matches and (best is None or len(name) > len(best[1])):
                best = (i, name)
    return None if best is None else best[0]


def module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def exists(module):
    path = ROOT.joinpath(*module.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _is_main_block(node):
    """`if __name__ == "__main__":` - running a file as a script is the command line."""
    t = node.test
    return (isinstance(node, ast.If) and isinstance(t, ast.Compare) and
            isinstance(t.left, ast.Name) and t.left.id == "__name__" and
            any(isinstance(c, ast.Constant) and c.value == "__main__" for c in t.comparators))


def imports(path, here=None):
    """(imported module, line, at module level?) for every micrograd import in the file;
    `here` is its module name (by default, from its path)."""
    tree = ast.parse(path.read_text(), str(path))
    here = here or module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    out = []

    def visit(node, top):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_main_block(child):
                continue
            if isinstance(child, ast.Import):
                out.extend((a.name, child.lineno, top) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = ".".join(package.split(".")[:len(package.split(".")) - child.level + 1]
                                    + ([base] if base else []))
                for a in child.names:            # `from micrograd.viz import plots`: a module
                    sub = f"{base}.{a.name}"
                    out.append((sub if exists(sub) else base, child.lineno, top))
            else:
                inner = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                visit(child, top and not inner)
    visit(tree, True)
    return [(m, line, top) for m, line, top in dict.fromkeys(out)
            if m == "micrograd" or m.startswith("micrograd.")]


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    missing = [module_name(p) for p in SOURCES
               if module_name(p) != FACADE and level(module_name(p)) is None]
    assert not missing, (f"{missing}: give each a layer in LAYERS (tests/test_architecture.py) "
                         f"and in docs/architecture.md's picture")


def violations(here, found):
    """What is wrong with module `here` importing `found` (from imports())."""
    mine = -1 if here == FACADE else level(here)
    wrong = []
    for imported, line, top in found:
        if imported == FACADE:
            continue                               # the package's façade re-exports the engine
        theirs = level(imported)
        if (here, imported) in SEAMS or (here, imported.rpartition(".")[0]) in SEAMS:
            if top:
                wrong.append(f"line {line}: {imported} is a seam, imported only when needed")
            continue
        if here == FACADE:
            if theirs != 0:
                wrong.append(f"line {line}: the package imports {imported}, not the engine")
        elif theirs is None:
            wrong.append(f"line {line}: {imported} has no layer")
        elif theirs > mine:
            wrong.append(f"line {line}: {imported} ({LAYERS[theirs][0]}) is above "
                         f"{here} ({LAYERS[mine][0]})")
    return wrong


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_a_layer_above_its_own(path):
    here = module_name(path)
    wrong = violations(here, imports(path))
    assert not wrong, f"{here} imports upward:\n  " + "\n  ".join(wrong)


def test_nothing_imports_the_command_line():
    cli = level("micrograd.cli")
    users = [f"{module_name(p)} line {line}" for p in SOURCES for m, line, _ in imports(p)
             if level(m) == cli and level(module_name(p)) != cli]
    assert users == []


def test_the_checker_finds_upward_imports_wherever_they_hide(tmp_path):
    fake = tmp_path / "fake.py"
    fake.write_text("import math\nfrom micrograd.engine import Value\n\n\n"
                    "def f():\n    from micrograd.viz import plots\n\n\n"
                    "class C:\n    def g(self):\n        import micrograd.lab.session\n\n\n"
                    "if __name__ == '__main__':\n    from micrograd.cli import main\n")
    found = imports(fake, here="micrograd.nn")
    assert found == [("micrograd.engine", 2, True), ("micrograd.viz.plots", 6, False),
                     ("micrograd.lab.session", 11, False)]
    assert violations("micrograd.nn", found) == [
        "line 6: micrograd.viz.plots (viz) is above micrograd.nn (nn)",
        "line 11: micrograd.lab.session (lab, exercises) is above micrograd.nn (nn)"]
    # a seam imported at the top of the module is no longer lazy
    assert violations("micrograd.train", [("micrograd.viz.notebook", 3, True)]) == [
        "line 3: micrograd.viz.notebook is a seam, imported only when needed"]
    assert violations("micrograd.train", [("micrograd.viz.notebook", 3, False)]) == []


# ---------------------------------------------------------------------------------------------
# What an import really loads, in a fresh interpreter
# ---------------------------------------------------------------------------------------------
def loaded_by(statement):
    """The modules `statement` adds to a fresh interpreter's sys.modules."""
    code = ("import sys, json\nbefore = set(sys.modules)\n" + statement +
            "\nprint(json.dumps(sorted(set(sys.modules) - before)))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
                         timeout=120)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_importing_train_loads_no_pictures():
    mods = loaded_by("import micrograd.train")
    assert "micrograd.train" in mods
    above = [m for m in mods if level(m) is not None and level(m) > level("micrograd.train")]
    assert above == []
    assert [m for m in mods if m.split(".")[0] in ("matplotlib", "graphviz", "IPython")] == []


@pytest.mark.parametrize("module", ["micrograd.engine", "micrograd.nn"])
def test_engine_and_nn_load_only_the_standard_library(module):
    mods = loaded_by(f"import {module}")
    assert module in mods
    outside = [m for m in mods if m.split(".")[0] not in sys.stdlib_module_names
               and m.split(".")[0] != "micrograd"]
    assert outside == []
    # the package itself, the engine and its siblings, nn: nothing above nn
    assert [m for m in mods if m.startswith("micrograd.") and
            not level(m) <= level("micrograd.nn")] == []


def test_the_layer_table_places_modules_by_their_longest_name():
    assert level("micrograd.engine") == 0 and level("micrograd.gradcheck") == 1
    assert level("micrograd.compiler.trace") == level("micrograd.data") == 4
    assert level("micrograd.gpt") == level("micrograd.gpt_train") == level("micrograd.gpt.model")
    assert level("micrograd.train") > level("micrograd.gpt")
    assert level("micrograd.labels") < level("micrograd.train") < level("micrograd.viz.notebook")
    assert level("micrograd.lab") < level("micrograd.site") < level("micrograd.cli")
    assert level("micrograd.cli.graph") == len(LAYERS) - 1 and level("micrograd.nope") is None


# ---------------------------------------------------------------------------------------------
# One home each: what must translate nn's activations knows exactly nn's
# ---------------------------------------------------------------------------------------------
def test_every_translation_of_the_activations_follows_nn():
    import re

    from micrograd import nn
    from micrograd.cli import build_parser
    from micrograd.lab import settings
    from micrograd.viz.units import ACTIVATIONS as OPS_DRAWN
    assert nn.HIDDEN_ACTIVATIONS == ("relu", "tanh", "sigmoid")
    assert settings.ACTIVATIONS == nn.HIDDEN_ACTIVATIONS
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    (activation,) = [a for a in train._actions if a.dest == "activation"]
    assert tuple(activation.choices) == nn.HIDDEN_ACTIVATIONS
    assert OPS_DRAWN == ("ReLU", "tanh", "sigmoid")           # the engine's op names for them
    page = (PACKAGE / "lab" / "static" / "index.html").read_text()
    select = re.search(r'<select[^>]*id="activation".*?</select>', page, flags=re.S)
    assert select is not None, "the lab page's activation <select> moved: compare it here"
    assert tuple(re.findall(r'<option value="(\w+)"', select.group(0))) == \
        nn.HIDDEN_ACTIVATIONS


def test_the_numpy_and_torch_translations_cover_nn_activations():
    from micrograd import nn, weights
    assert tuple(weights._numpy_activations()) == tuple(nn.ACTIVATIONS)
    torch_bridge = pytest.importorskip("micrograd.bridge.torch")
    assert tuple(torch_bridge._TO_TORCH) == nn.HIDDEN_ACTIVATIONS


# ---------------------------------------------------------------------------------------------
# The front end: ES modules in one dialect, the shared helpers in one place, the CSP once
# ---------------------------------------------------------------------------------------------
FRONT = {"viz": PACKAGE / "viz", "lab": PACKAGE / "lab" / "static"}
JS_FILES = sorted(p for folder in FRONT.values() for p in folder.glob("*.js"))


def js_imports(path):
    """[(names, module file)] of a module's imports, as micrograd.viz.web reads them (which
    refuses any other form)."""
    from micrograd.viz import web
    found, _ = web._imports(path.name, path.read_text(encoding="utf-8"))
    return [(names, PACKAGE / "viz" / web.SHARED if source == web.SHARED
             else path.parent / source) for names, source in found]


def test_the_front_end_is_es_modules_of_about_400_lines_importing_what_exists():
    assert {p.name for p in JS_FILES} >= {"ui.js", "stepper.js", "lab.js"}
    for path in JS_FILES:
        text = path.read_text(encoding="utf-8")
        assert len(text.splitlines()) <= 400, f"{path.name}: split it by concern"
        assert not re.search(r"^\s*var\s", text, re.M), f"{path.name}: let/const, not var"
        assert "(function ()" not in text and "use strict" not in text, \
            f"{path.name}: a module is strict and scoped already"
        for _, target in js_imports(path):
            assert target.is_file(), f"{path.name} imports {target.name}, which is not there"


def test_the_shared_helpers_are_written_once_and_imported_by_both_pages():
    from micrograd.viz import web
    shared = PACKAGE / "viz" / web.SHARED
    assert js_imports(shared) == []                         # the bottom of the front end
    defining = [p.name for p in JS_FILES
                if re.search(r"^(export )?(function|const) (el|\$|fetchJSON)\b", p.read_text(),
                             re.M)]
    assert defining == [web.SHARED]
    users = {p.parent.name for p in JS_FILES for _, target in js_imports(p) if target == shared}
    assert users == {"viz", "static"}                       # the stepper's and the lab's


def test_the_front_ends_modules_import_no_circle():
    graph = {p: [t for _, t in js_imports(p)] for p in JS_FILES}

    def visit(p, stack):
        assert p not in stack, " -> ".join(q.name for q in stack + (p,))
        for q in graph.get(p, []):
            visit(q, stack + (p,))
    for p in graph:
        visit(p, ())


def test_the_csp_hash_is_written_once():
    """Only micrograd.viz.web computes a CSP source from a text; the pages that inline or
    frame the stepper take its sources from micrograd.viz.stepper (no parsing of a page)."""
    hits = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")
            if "'sha256-" in p.read_text(encoding="utf-8")]
    assert hits == ["viz/web.py"]
    for p in PACKAGE.rglob("*.py"):
        text = p.read_text(encoding="utf-8")
        assert "Content-Security-Policy\" content=\"([^\"]*)" not in text, p


def test_every_front_end_file_is_package_data():
    """An installed micrograd (a wheel, the site's Pyodide) carries every module a page loads."""
    import fnmatch
    import tomllib
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]
    for path in JS_FILES + [PACKAGE / "viz" / "stepper.html", PACKAGE / "viz" / "stepper.css"]:
        package = "micrograd.viz" if path.parent.name == "viz" else "micrograd.lab"
        rel = path.relative_to(PACKAGE / package.split(".")[1]).as_posix()
        assert any(fnmatch.fnmatch(rel, g) for g in data[package]), f"{rel} is not package data"
