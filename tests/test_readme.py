"""Every Python snippet in README.md and docs/*.md runs, page by page and in order, as a reader
would paste them; the pages' links lead somewhere.

A snippet marked ```python notebook``` needs a running Jupyter kernel and is the only kind
skipped here (tests/test_notebooks.py runs the same calls in one). Any other word after
```python is an error, so nothing is left out by accident.
"""
import contextlib
import io
import pathlib
import re

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
NOT_RUN = {"notebook"}          # ```python notebook: needs a running kernel
TOUR = ROOT / "docs" / "tour.md"


def snippets(page):
    """(marker, code) of every ```python block of the page, in order."""
    return re.findall(r"^```python[ \t]*(\S*)[ \t]*\n(.*?)^```", page.read_text(),
                      flags=re.S | re.M)


def run_page(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__docs__"}
    ran = 0
    for i, (marker, code) in enumerate(snippets(page)):
        assert marker in NOT_RUN | {""}, f"{page.name} snippet {i}: unknown marker {marker!r}"
        if marker:
            continue
        try:
            exec(compile(code, f"{page.name} snippet {i}", "exec"), namespace)
        except Exception as e:
            raise AssertionError(f"{page.name} snippet {i} failed: {e!r}\n{code}") from e
        ran += 1
    return ran


def test_readme_is_a_short_front_door():
    lines = README.read_text().splitlines()
    assert len(lines) <= 210
    assert (lines[2], lines[5]) == ("```bash", "```")
    assert lines[3].startswith("bash scripts/demo.sh ")
    assert lines[4].startswith("bash scripts/test.sh ")
    for heading in ("## Four ways in", "## A taste of the engine",
                    "## Differences from the original", "## Errors, NaN and inf"):
        assert heading in lines


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_install_lines_name_this_project_not_pypis_micrograd(page):
    # On PyPI `micrograd` is the original 0.1.0, which has none of these extras.
    assert re.findall(r"pip install [\'\"]?micrograd\b", page.read_text()) == []


def test_the_readme_taste_runs_and_prints_the_originals_numbers(tmp_path, monkeypatch, capsys):
    assert run_page(README, tmp_path, monkeypatch) >= 2
    out = capsys.readouterr().out
    assert "24.7041" in out and "138.8338" in out and "645.5773" in out
    assert "loss 0.0125" in out


@pytest.fixture(scope="module")
def tour(tmp_path_factory):
    """docs/tour.md run once for the two tests that need it (it trains: the slowest page)."""
    out, mp = io.StringIO(), pytest.MonkeyPatch()
    try:
        with contextlib.redirect_stdout(out):
            ran = run_page(TOUR, tmp_path_factory.mktemp("tour"), mp)
    finally:
        mp.undo()
    return ran, out.getvalue()


# The pages that train for real (the lecture's MLP; microgpt's 1000 steps) are slow.
TRAINS = {TOUR, ROOT / "docs" / "gpt.md"}


@pytest.mark.parametrize("page", [pytest.param(p, marks=pytest.mark.slow) if p in TRAINS else p
                                  for p in PAGES[1:]], ids=lambda p: p.name)
def test_every_docs_snippet_runs(page, tmp_path, monkeypatch, capsys, request):
    if page == TOUR:
        ran = request.getfixturevalue("tour")[0]
    else:
        ran = run_page(page, tmp_path, monkeypatch)
    assert ran >= 1 or not snippets(page), page.name
    if page.name == "jupyter.md":
        assert capsys.readouterr().out == ("History(100 steps, final loss 0.01315, accuracy "
                                           "100.0%, held-out accuracy 95.0%)\n")


@pytest.mark.slow
def test_the_tour_prints_the_lectures_numbers(tour):
    out = tour[1]
    assert "24.7041" in out and "0.7864477329659274" in out and "1.414213562373095" in out
    assert "step 25: loss 0.0248\nstep 50: loss 0.0127\n" in out


def test_only_notebook_snippets_are_skipped():
    skipped = [(p.name, code.splitlines()[0]) for p in PAGES for marker, code in snippets(p)
               if marker]
    assert skipped == [("jupyter.md", "# needs IPython: a running notebook (the tests run it "
                                      "in one: tests/test_notebooks.py)")]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_lead_to_files_and_headings_that_exist(page):
    def anchors(target):
        return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
                for h in re.findall(r"^#+ (.*)$", target.read_text(), flags=re.M)}

    broken = []
    for link in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
        if re.match(r"[a-z]+://", link):
            continue
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            broken.append(link)
        elif anchor and target.suffix == ".md" and anchor not in anchors(target):
            broken.append(link)
    assert broken == [], f"{page.name}: {broken}"
