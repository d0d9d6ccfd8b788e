"""How long the backprop stepper takes: building its page in Python, and one Step in Chromium.

    PYTHONPATH=$PWD python bench/stepper.py            # the figures of micrograd/viz/stepper.py
    PYTHONPATH=$PWD python bench/stepper.py --samples --chains 3000 25000   # issue 20's chains
    PYTHONPATH=$PWD python bench/stepper.py --no-browser

The graphs are the original demo's loss (MLP(2, [16, 16, 1]), unfused, hinge + L2) on k of the
moons, the graph the stepper gets asked to show in practice: k=3 is about 3,000 nodes (the
stepper's default cap), k=23 about 16,000, k=46 about 31,000. `--chains N...` adds deep graphs:
N steps of `v = v*0.999 + w` (4N + 1 nodes, every leaf's cone reaching the root: the case
where checking every leaf up front was quadratic; the checks now stop at
micrograd.viz.nudge.NUDGE_BUDGET node visits). The build is given as wall time and as this
process's CPU time (the fairer figure on a shared machine), the load as the time until the
page has drawn its graph. A Step is timed in the page itself, two ways, over the first
--steps steps of a run, three runs, the median and the worst of the best run reported:
"click" is the click's own work and the layout it forces (getBoundingClientRect); "frame" is
from the click until the next frame has been made (requestAnimationFrame, then a task), which
takes in the browser's style, layout and paint of what the Step changed. Needs numpy and
scikit-learn (for the moons), and Playwright with Chromium: $MICROGRAD_CHROMIUM, else chromium
or chromium-browser on PATH (as tests/conftest.py finds it).
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from micrograd.engine import Value
from micrograd.lecture import moons_loss
from micrograd.viz.stepper import stepper_html

CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

ROUNDS = 3

# One Step, timed inside the page: the click and the layout it forces, and the time until the
# next frame is made.
STEP_TIMES = """async (count) => {
  const button = document.getElementById('step'), click = [], frame = [];
  const nextFrame = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  await nextFrame();
  for (let k = 0; k < count && !button.disabled; k++) {
    const t = performance.now();
    button.click();
    document.body.getBoundingClientRect();
    click.push(performance.now() - t);
    await nextFrame();
    frame.push(performance.now() - t);
  }
  return [click, frame];
}"""


def find_chromium():
    """$MICROGRAD_CHROMIUM, else chromium or chromium-browser on PATH (tests/conftest.py's rule)."""
    path = os.environ.get("MICROGRAD_CHROMIUM") or shutil.which("chromium") \
        or shutil.which("chromium-browser")
    if not path:
        raise SystemExit("no Chromium found: install Debian's chromium, or set "
                         "MICROGRAD_CHROMIUM to its path (or use --no-browser)")
    return path


def chain(n):
    """n steps of v = v*0.999 + w: 4n + 1 nodes in one long chain."""
    v = Value(1.0, label="v0")
    for k in range(n):
        v = v * 0.999 + Value(0.001 * k, label=f"w{k}")
    return v


def build(k=None, root=None):
    root = moons_loss(n_samples=k) if root is None else root
    n = len(root.topo())
    t, cpu = time.perf_counter(), time.process_time()
    page = stepper_html(root, max_nodes=n)
    return n, time.perf_counter() - t, time.process_time() - cpu, page


def step_times(page, steps):
    """(load seconds, [click ms], [frame ms]) of the best of ROUNDS runs of `steps` Steps."""
    from playwright.sync_api import sync_playwright
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        path = Path(tmp) / "stepper.html"
        path.write_text(page, encoding="utf-8")
        browser = p.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page(viewport={"width": 1440, "height": 860})
            errors = []
            tab.on("pageerror", lambda e: errors.append(str(e)))
            t = time.perf_counter()
            tab.goto(path.as_uri(), timeout=600_000)
            tab.evaluate("document.getElementById('graph').getBBox()")
            load = time.perf_counter() - t
            rounds = []
            for _ in range(ROUNDS):               # the best of a few runs: the machine is shared
                if rounds:
                    tab.click("#reset")
                rounds.append(tab.evaluate(STEP_TIMES, steps))
            if errors or not rounds[-1][0]:
                raise RuntimeError(f"the page failed: {errors[:1] or 'no step ran'}")
            click, frame = min(rounds, key=lambda r: statistics.median(r[1]))
            return load, click, frame
        finally:
            browser.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, nargs="*", default=[3, 23, 46],
                        help="moons per graph (default 3 23 46: about 3k, 16k, 31k nodes)")
    parser.add_argument("--chains", type=int, nargs="*", default=[],
                        help="also chains of N steps (3000: 12k nodes, 25000: 100k nodes)")
    parser.add_argument("--steps", type=int, default=300, help="Steps to time per page")
    parser.add_argument("--no-browser", action="store_true", help="time the Python build only")
    args = parser.parse_args(argv)
    print(f"{'nodes':>7}  {'build (s)':>9}  {'CPU (s)':>7}  {'page (MB)':>9}  {'load (s)':>8}  "
          f"{'click median/worst (ms)':>23}  {'frame median/worst (ms)':>23}")
    graphs = [("moons", k) for k in args.samples] + [("chain", n) for n in args.chains]
    for kind, k in graphs:
        n, seconds, cpu, page = build(k) if kind == "moons" else build(root=chain(k))
        row = f"{n:>7,}  {seconds:>9.2f}  {cpu:>7.2f}  {len(page.encode()) / 1e6:>9.1f}"
        if not args.no_browser:
            load, click, frame = step_times(page, args.steps)
            row += (f"  {load:>8.2f}  {statistics.median(click):>14.1f} / {max(click):>6.1f}"
                    f"  {statistics.median(frame):>14.1f} / {max(frame):>6.1f}")
        print(row, flush=True)


if __name__ == "__main__":
    sys.exit(main())
