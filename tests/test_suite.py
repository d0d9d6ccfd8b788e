"""The suite's own rules (docs/testing.md): its markers, its fixtures' one home, the property
tests' five seeds, and Chromium found rather than written in."""
import ast
import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def pytest_run(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_the_three_markers_are_registered_and_no_other_is_allowed(tmp_path):
    listed = pytest_run("--markers").stdout
    for name in ("browser", "notebook", "slow"):
        assert f"@pytest.mark.{name}:" in listed, name
    (tmp_path / "test_typo.py").write_text(
        "import pytest\n\n@pytest.mark.sloww\ndef test_x():\n    pass\n")
    r = pytest_run("-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
                   "--collect-only", "-q", str(tmp_path / "test_typo.py"))
    assert r.returncode != 0 and "'sloww' not found in `markers`" in r.stdout + r.stderr


def test_the_property_tests_run_under_five_different_seeds():
    ids = pytest_run("--collect-only", "-q", "tests/test_properties.py").stdout.splitlines()
    for test in ("test_random_graphs_match_torch",
                 "test_random_smooth_graphs_match_numerical_gradients"):
        seeds = {i.split("[")[1].rstrip("]") for i in ids if f"::{test}[" in i}
        assert len(seeds) == 5, (test, ids)


def fixtures_of(path):
    """Names of the functions a test module decorates with pytest.fixture."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef):
            for d in node.decorator_list:
                if "fixture" in ast.unparse(d):
                    names.add(node.name)
    return names


def test_no_test_module_imports_another_ones_fixtures():
    modules = {p.stem: p for p in TESTS.glob("test_*.py")}
    borrowed = []
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module in modules:
                shared = {a.name for a in node.names} & fixtures_of(modules[node.module])
                borrowed += [f"{name} imports {f} from {node.module}" for f in sorted(shared)]
    assert borrowed == [], "shared fixtures belong in tests/conftest.py"


def test_chromium_is_found_not_written_in():
    written = [p.name for p in TESTS.glob("*.py")
               if p.name != "test_suite.py" and "/usr/bin/chromium" in p.read_text("utf-8")]
    assert written == []
