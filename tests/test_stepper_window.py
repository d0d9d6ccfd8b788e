"""The stepper on a big graph (over WINDOW_NODES nodes): the page keeps in the document only the nodes near the part of the graph in view, and only the check rows near the
table's view, so that a Step's work (DOM changes, then the browser's style, layout and paint
over the document) does not grow with the graph. Issue 20: a Step on the 12k-node chain took
570-830 ms when every node was in the document; bench/stepper.py measures it."""
import json
import re
from pathlib import Path

from micrograd.viz.stepper import WINDOW_NODES, stepper_data, stepper_page
from helpers.stepper import decay_chain

# the most nodes a windowed page draws at once (stepper-graph.js)
DRAW_MAX = int(re.search(r"^export const DRAW_MAX = (\d+);", (
    Path(__file__).parent.parent / "micrograd" / "viz" / "stepper-graph.js").read_text(
    encoding="utf-8"), re.M).group(1))


def test_only_a_big_graphs_page_is_windowed():
    assert 4 * 374 + 1 <= WINDOW_NODES < 4 * 375 + 1
    assert stepper_data(decay_chain(374))["windowed"] is False
    assert stepper_data(decay_chain(375))["windowed"] is True


def open_page(browser, tmp_path, n, width=1440):
    data = stepper_data(decay_chain(n), max_nodes=4 * n + 1)
    path = tmp_path / f"chain{n}.html"
    path.write_text(stepper_page(data), encoding="utf-8")
    page = browser.new_page(viewport={"width": width, "height": 860})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.goto(path.resolve().as_uri())
    page.wait_for_function("window.microgradStepper && microgradStepper.drawn() > 0")
    return page, data, errors


# Every Step's DOM changes, counted as they happen (the click's own work; the drawing of
# nodes scrolled into view comes in a later frame).
STEPS = """(count) => {
  const seen = new MutationObserver(() => {}), counts = [];
  seen.observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
  for (let k = 0; k < count; k++) {
    document.getElementById('step').click();
    counts.push(seen.takeRecords().length);
  }
  seen.disconnect();
  return counts;
}"""
SIZE = ("[document.getElementsByTagName('*').length, microgradStepper.drawn(), "
        "document.querySelectorAll('#check-body tr').length]")


def test_a_step_does_the_same_work_on_4k_and_16k_nodes(browser, tmp_path):
    seen = {}
    for n in (1000, 4000):                                  # 4,001 and 16,001 nodes
        page, data, errors = open_page(browser, tmp_path, n)
        try:
            before = page.evaluate(SIZE)
            counts = page.evaluate(STEPS, 40)
            assert page.text_content("#counter") == f"step 40 / {len(data['steps'])}"
            seen[n] = before, counts
            assert errors == []
        finally:
            page.close()
    (small, small_counts), (big, big_counts) = seen[1000], seen[4000]
    # the document holds what is near the view: about as much for a graph four times as big
    # (the view falls on the window's grid of cells a little differently)
    for a, b in zip(small, big):
        assert abs(a - b) <= 0.2 * a
    elements, drawn, rows = big
    assert drawn < 200 and elements < 2500 and rows < 100
    # a Step changes its own nodes' cards (those drawn), the panel and the buttons: at most the
    # same few dozen changes on either graph
    assert small_counts[:10] == big_counts[:10]
    assert max(small_counts) == max(big_counts) < 60


def test_a_windowed_page_steps_to_backwards_grads_and_draws_what_comes_into_view(
        browser, tmp_path, artifacts):
    page, data, errors = open_page(browser, tmp_path, 1000)
    try:
        page.keyboard.press("End")
        assert page.evaluate("microgradStepper.grads()") == data["final"]
        first = data["steps"][-1]["node"]             # backward()'s last node: near v0
        page.wait_for_selector(f"#node-{first}")      # scrolled to it, and drawn
        page.wait_for_timeout(600)                    # the smooth scroll settles
        drawn = page.eval_on_selector_all(
            ".node", "els => els.map(e => [+e.dataset.node, e.querySelector('.grad').textContent])")
        assert 0 < len(drawn) < 200
        assert all(text == f"grad {data['final'][i]}" for i, text in drawn)
        assert page.evaluate("microgradStepper.drawn()") == len(drawn)
        page.screenshot(path=str(artifacts / "stepper-window-end-1440.png"))
        # a node far away is drawn once the pane scrolls to it, and a click jumps to its step
        far = next(s["node"] for s in data["steps"][300:] if s["kind"] == "chain")
        assert page.query_selector(f"#node-{far}") is None
        node = data["nodes"][far]
        page.evaluate("""([x, y]) => {
            const pane = document.getElementById('graph-pane'), s = microgradStepper.scale();
            pane.scrollTo(x * s - pane.clientWidth / 2, y * s - pane.clientHeight / 2); }""",
                      [node["x"] - 16, node["y"]])
        page.wait_for_selector(f"#node-{far}")
        page.click(f"#node-{far}")
        step = next(k for k, s in enumerate(data["steps"]) if s["node"] == far)
        assert page.text_content("#counter") == f"step {step + 1} / {len(data['steps'])}"
        assert "current" in page.get_attribute(f"#node-{far}", "class").split()
        assert errors == []
    finally:
        page.close()


def test_a_windowed_check_table_holds_the_rows_in_view_and_reaches_the_last(browser, tmp_path):
    page, data, errors = open_page(browser, tmp_path, 1000)
    try:
        # at load, the rows drawn fill the scroller's view and more
        filled = page.evaluate("""() => {
            const s = document.getElementById('check-scroll').getBoundingClientRect();
            const rows = [...document.querySelectorAll('#check-body tr')];
            return [rows[rows.length - 1].getBoundingClientRect().bottom - s.bottom, s.height]; }""")
        assert filled[0] > filled[1] and filled[1] > 200
        page.keyboard.press("End")
        rows = page.eval_on_selector_all("#check-body tr", "rs => rs.map(r => r.id)")
        assert rows[:3] == [f"check-{c['node']}" for c in data["checks"][:3]]
        assert len(rows) < 100 < len(data["checks"])
        page.evaluate("document.getElementById('check-scroll').scrollTop = 1e9")
        last = data["checks"][-1]
        page.wait_for_selector(f"#check-{last['node']}")
        cells = page.eval_on_selector(f"#check-{last['node']}",
                                      "r => [...r.children].map(td => td.textContent)")
        name = data["nodes"][last["node"]]["label"] or data["nodes"][last["node"]]["name"]
        assert cells == [name, data["nodes"][last["node"]]["data"],
                         "…" if last.get("pending") else last["numeric"],
                         data["final"][last["node"]],
                         "" if last.get("pending") else "✓" if last["ok"] else "✗"]
        # the scrolled table is as tall as every row: the last row sits at the bottom
        box = page.evaluate("""() => {
            const s = document.getElementById('check-scroll');
            return [s.scrollHeight - s.scrollTop - s.clientHeight,
                    document.querySelectorAll('#check-body tr').length]; }""")
        assert box[0] <= 1 and box[1] < 100
        assert errors == []
    finally:
        page.close()


def test_the_windowed_page_keeps_its_data_whole():
    """The page carries every node and step (what is drawn is chosen in the browser)."""
    data = stepper_data(decay_chain(1000), max_nodes=4001)
    page = stepper_page(data)
    block = re.search(r'id="stepper-data">(.*?)</script>', page, re.S).group(1)
    assert json.loads(block) == data and len(data["nodes"]) == 4001


def test_zoomed_all_the_way_out_a_big_page_draws_at_most_draw_max_nodes(browser, tmp_path):
    page, data, errors = open_page(browser, tmp_path, 4000)         # 16,001 nodes
    try:
        page.keyboard.press("0")                                     # fit: the whole graph
        page.wait_for_function("microgradStepper.drawn() > 200")
        drawn = page.evaluate("microgradStepper.drawn()")
        assert DRAW_MAX == 3000 and drawn <= DRAW_MAX < len(data["nodes"])
        assert page.evaluate("document.querySelectorAll('.node').length") == drawn
        page.click("#step")
        assert page.text_content("#counter") == f"step 1 / {len(data['steps'])}"
        page.keyboard.press("+")                                     # back in: fewer again
        page.keyboard.press("+")
        page.wait_for_timeout(300)
        assert page.evaluate("document.querySelectorAll('.node').length") <= drawn
        assert errors == []
    finally:
        page.close()
