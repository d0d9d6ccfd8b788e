"""Every Python snippet in README.md runs, in order, as a reader would paste them."""
import pathlib
import re

import matplotlib
import pytest

matplotlib.use("Agg")

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def snippets():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_snippets():
    assert len(snippets()) >= 10


@pytest.mark.slow   # two snippets train eagerly (100 and 160 examples, 100 steps)
def test_every_readme_snippet_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__readme__"}
    for i, code in enumerate(snippets()):
        if "IPython" in code:        # the notebook snippet needs Jupyter
            continue
        try:
            exec(compile(code, f"README.md snippet {i}", "exec"), namespace)
        except Exception as e:
            raise AssertionError(f"README snippet {i} failed: {e!r}\n{code}") from e
    out = capsys.readouterr().out
    assert "24.7041" in out and "138.8338" in out and "645.5773" in out
