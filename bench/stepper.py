"""How long the backprop stepper takes: building its page in Python, and one Step in Chromium.

    PYTHONPATH=$PWD python bench/stepper.py            # the figures of micrograd/viz/stepper.py
    PYTHONPATH=$PWD python bench/stepper.py --no-browser

The graphs are the original demo's loss (MLP(2, [16, 16, 1]), unfused, hinge + L2) on k of the
moons, the graph the stepper gets asked to show in practice: k=3 is about 3,000 nodes (the
stepper's default cap), k=23 about 16,000, k=46 about 31,000. The build is given as wall time
and as this process's CPU time (the fairer figure on a shared machine). A Step is timed in the page
itself: the click, its DOM updates and the layout they force (getBoundingClientRect), over
every step of a run from the start, three runs, the median and the worst of the best run
reported. `--chains N...` adds deep graphs: N steps of `v = v*0.999 + w` (4N nodes, every
leaf's cone reaching the root: the case where checking every leaf up front was quadratic; the
checks now stop at micrograd.viz.nudge.NUDGE_BUDGET node visits). Needs numpy and
scikit-learn (for the moons), and Playwright with Debian's Chromium for the browser part.
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from micrograd.engine import Value
from micrograd.lecture import moons_loss
from micrograd.viz.stepper import stepper_html

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

ROUNDS = 3

# One Step, timed inside the page: click, then force the layout the click dirtied.
STEP_TIMES = """(count) => {
  const button = document.getElementById('step'), times = [];
  for (let k = 0; k < count && !button.disabled; k++) {
    const t = performance.now();
    button.click();
    document.body.getBoundingClientRect();
    times.push(performance.now() - t);
  }
  return times;
}"""


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
    from playwright.sync_api import sync_playwright
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        path = Path(tmp) / "stepper.html"
        path.write_text(page, encoding="utf-8")
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page(viewport={"width": 1440, "height": 860})
            errors = []
            tab.on("pageerror", lambda e: errors.append(str(e)))
            t = time.perf_counter()
            tab.goto(path.as_uri(), timeout=300_000)
            tab.evaluate("document.getElementById('graph').getBBox()")
            load = time.perf_counter() - t
            rounds = []
            for _ in range(ROUNDS):               # the best of a few runs: the machine is shared
                if rounds:
                    tab.click("#reset")
                rounds.append(tab.evaluate(STEP_TIMES, steps))
            if errors or not rounds[-1]:
                raise RuntimeError(f"the page failed: {errors[:1] or 'no step ran'}")
            return load, min(rounds, key=statistics.median)
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
          f"{'Step median (ms)':>16}  {'Step worst (ms)':>15}")
    graphs = [("moons", k) for k in args.samples] + [("chain", n) for n in args.chains]
    for kind, k in graphs:
        n, seconds, cpu, page = build(k) if kind == "moons" else build(root=chain(k))
        row = f"{n:>7,}  {seconds:>9.2f}  {cpu:>7.2f}  {len(page.encode()) / 1e6:>9.1f}"
        if not args.no_browser:
            load, times = step_times(page, args.steps)
            row += f"  {load:>8.2f}  {statistics.median(times):>16.2f}  {max(times):>15.2f}"
        print(row, flush=True)


if __name__ == "__main__":
    sys.exit(main())
