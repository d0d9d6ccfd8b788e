"""What every test shares: the import path, Hypothesis's two profiles, the `browser` marker,
the files' order across workers, and the fixtures for Chromium (found, not assumed), for a lab
server and for the screenshots' folder. Helpers that are not fixtures live in tests/helpers/.

The tiers and markers are described in docs/testing.md."""
import os
import random
import shutil
import signal
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# The tests import the package from this checkout even when it is not installed.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

# Ctrl-C is part of what the tests check (in this process and in `micrograd` subprocesses). A
# shell that starts its background jobs with SIGINT ignored would pass that on to every child
# and make those tests meaningless: give SIGINT back its Python default (children then start
# with the system default, since exec resets handled signals but keeps ignored ones).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# ---------------------------------------------------------------------------------------------
# Hypothesis. CI (CI=true) draws the same examples on every run (derandomize), so a red CI is a
# real failure, never a draw; a developer's run draws new ones from a seed it prints in the
# header. Both print the failing example and the blob that replays it (@reproduce_failure). No
# deadline: the machine is shared, and time is no part of what these tests check. No database:
# what fails is reproduced from the printed seed or blob, and nothing is written into the clone.
# ---------------------------------------------------------------------------------------------
settings.register_profile("ci", derandomize=True, print_blob=True, deadline=None, database=None)
settings.register_profile("dev", print_blob=True, deadline=None, database=None)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE") or \
    ("ci" if os.environ.get("CI") == "true" else "dev")
settings.load_profile(PROFILE)


@pytest.hookimpl(tryfirst=True)     # before Hypothesis's own plugin reads --hypothesis-seed
def pytest_configure(config):
    if PROFILE == "dev" and config.getoption("hypothesis_seed", None) is None:
        # drawn once, in the environment that pytest-xdist's workers inherit: one seed per run
        seed = os.environ.setdefault("MICROGRAD_TEST_SEED",
                                     str(random.SystemRandom().randrange(10 ** 6)))
        config.option.hypothesis_seed = seed


def pytest_report_header(config):
    seed, name = config.getoption("hypothesis_seed", None), settings.get_current_profile_name()
    if settings.default.derandomize:
        return f"hypothesis: profile {name!r}, derandomized (the same examples every run)"
    return (f"hypothesis: profile {name!r}, seed {seed} (rerun the same examples with "
            f"--hypothesis-seed={seed})")


@pytest.hookimpl(tryfirst=True)     # before the test's fixtures, module-scoped ones included
def pytest_runtest_setup(item):
    """Every test starts from the same random state, whatever ran before it (-k, -m, -x, or
    another worker): a model built without an explicit seed gets the same weights every run."""
    random.seed(0)
    for name, reseed in (("numpy", lambda m: m.random.seed(0)),
                         ("torch", lambda m: m.manual_seed(0))):
        if name in sys.modules:
            reseed(sys.modules[name])


# ---------------------------------------------------------------------------------------------
# pytest-xdist's `-n auto` (scripts/test.sh): one worker more than the cores. Many tests wait (on
# a subprocess's output or signal, a server's answer, a kernel) and the extra worker fills those
# waits: on 2 cores the fast tier took 2 min 05 s with 3 workers against 2 min 36 s with 2, one
# run after the other. PYTEST_XDIST_AUTO_NUM_WORKERS still decides when it is set.
# ---------------------------------------------------------------------------------------------
@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config):
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None                     # xdist's own hook reads it
    return len(os.sched_getaffinity(0)) + 1 if hasattr(os, "sched_getaffinity") \
        else (os.cpu_count() or 1) + 1


# ---------------------------------------------------------------------------------------------
# Markers (registered in pyproject.toml). `browser` follows from the fixture, so a new browser
# test cannot be left in the fast tier by mistake; `notebook` and `slow` are written on the tests.
# ---------------------------------------------------------------------------------------------
def pytest_collection_modifyitems(config, items):
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
    if hasattr(config, "workerinput"):
        # a pytest-xdist worker: the files are handed out in the order its workers collect them,
        # so the long ones go first, the short ones fill in around them, and the run never ends
        # on one long file alone
        cost = {}
        for item in items:
            marks = {m.name for m in item.iter_markers()}
            rank = 0 if "slow" in marks else 1 if marks & {"browser", "notebook"} else 2
            cost[item.path] = min(cost.get(item.path, 2), rank)
        items.sort(key=lambda item: cost[item.path])        # stable: each file's order kept


# ---------------------------------------------------------------------------------------------
# Chromium, through Playwright
# ---------------------------------------------------------------------------------------------
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def find_chromium():
    """$MICROGRAD_CHROMIUM, else chromium or chromium-browser on PATH (Debian's, Ubuntu's)."""
    path = os.environ.get("MICROGRAD_CHROMIUM") or shutil.which("chromium") \
        or shutil.which("chromium-browser")
    if not path or not os.access(path, os.X_OK):
        pytest.fail("no Chromium for the browser tests: install it (bash scripts/setup.sh dev), "
                    "set MICROGRAD_CHROMIUM to its path, or leave them out with -m 'not browser'",
                    pytrace=False)
    return path


@pytest.fixture(scope="module")
def playwright():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright):
    """One headless Chromium per test module; each test opens its own pages or contexts."""
    b = playwright.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_ARGS)
    yield b
    b.close()


# ---------------------------------------------------------------------------------------------
# micrograd lab
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def server():
    """A `micrograd lab` server on a free loopback port, served from a thread of this process
    (tests/helpers/lab.py talks to it as the page does)."""
    import threading
    from micrograd.lab.server import make_server
    srv = make_server()
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    yield srv
    srv.shutdown()
    srv.stop()


@pytest.fixture(scope="session")
def artifacts():
    """tests/artifacts/: the screenshots, kept after the run for a person to look at."""
    path = Path(__file__).parent / "artifacts"
    path.mkdir(exist_ok=True)
    return path
