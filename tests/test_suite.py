"""The suite's own rules (docs/testing.md): its markers, no test module imported by another (helpers
in tests/helpers/, fixtures in conftest.py), the property tests' five seeds, and Chromium found
rather than written in."""
import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def pytest_run(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    """One collection, in a pytest of its own with the project's configuration, of the property
    tests and of a test whose marker is misspelt: its listing and its error."""
    typo = tmp_path_factory.mktemp("typo") / "test_typo.py"
    typo.write_text("import pytest\n\n@pytest.mark.sloww\ndef test_x():\n    pass\n")
    return pytest_run("-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
                      "--collect-only", "-q", "tests/test_properties.py", str(typo))


def test_the_three_markers_are_registered_and_no_other_is_allowed(collected):
    listed = pytest_run("--markers").stdout
    for name in ("browser", "notebook", "slow"):
        assert f"@pytest.mark.{name}:" in listed, name
    assert collected.returncode != 0
    assert "'sloww' not found in `markers`" in collected.stdout + collected.stderr


def test_the_property_tests_run_under_five_different_seeds(collected):
    ids = collected.stdout.splitlines()
    for test in ("test_random_graphs_match_torch",
                 "test_random_smooth_graphs_match_numerical_gradients"):
        seeds = {i.split("[")[1].rstrip("]") for i in ids if f"::{test}[" in i}
        assert len(seeds) == 5, (test, ids)


def imported_modules(path):
    """Every module name a file imports, at its top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_no_test_module_imports_another_one():
    """Shared helpers live in tests/helpers/ (or the helper modules beside the tests), shared
    fixtures in tests/conftest.py: a test module is only ever run, never imported."""
    modules = {p.stem for p in TESTS.glob("test_*.py")}
    users = [*TESTS.glob("*.py"), *TESTS.glob("helpers/*.py")]
    found = sorted(f"{p.relative_to(TESTS)} imports {m}" for p in users
                   for m in imported_modules(p) & modules)
    assert found == []


def test_fixtures_are_in_conftest_and_helpers_define_none():
    found = []
    for path in [*TESTS.glob("helpers/*.py"), *TESTS.glob("[!t]*.py")]:
        if path.name == "conftest.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and any(
                    "fixture" in ast.unparse(d) for d in node.decorator_list):
                found.append(f"{path.relative_to(TESTS)}: {node.name}")
    assert found == []


def test_chromium_is_found_not_written_in():
    written = [p.name for p in TESTS.glob("*.py")
               if p.name != "test_suite.py" and "/usr/bin/chromium" in p.read_text("utf-8")]
    assert written == []


def test_auto_is_one_worker_more_than_the_cores(request, monkeypatch):
    """`-n auto` (scripts/test.sh): the extra worker fills the time the others wait; the
    environment variable pytest-xdist documents still decides when it is set."""
    monkeypatch.delenv("PYTEST_XDIST_AUTO_NUM_WORKERS", raising=False)
    auto = request.config.hook.pytest_xdist_auto_num_workers
    assert auto(config=request.config) == len(os.sched_getaffinity(0)) + 1
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "5")
    assert auto(config=request.config) == 5
