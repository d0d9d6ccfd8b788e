"""The backprop stepper's page, as its tests read it: the grads it shows after some steps, what
is in view, and a deep graph to build it on (tests/test_stepper.py, the notebooks' and
JupyterLab's tests, the lab's inline stepper)."""
from micrograd.engine import Value


def replay(data, upto):
    """The grads the page shows after `upto` steps, from the step data alone."""
    grads = [data["zero"]] * len(data["nodes"])
    for step in data["steps"][:upto]:
        for t in step["terms"]:
            grads[t["child"]] = t["after"]
    return grads


def decay_chain(n):
    """n steps of v = v*0.999 + w: 4n + 1 nodes, and every leaf's cone reaches the root."""
    v = Value(1.0, label="v0")
    for k in range(n):
        v = v * 0.999 + Value(0.001 * k, label=f"w{k}")
    return v


# Run in the page: are the leaves and the root inside the window, and how small is the smallest
# text (the graph's, scaled as shown, and the HTML's)?
IN_VIEW = """() => {
  const vw = innerWidth, vh = innerHeight, D = JSON.parse(
    document.getElementById('stepper-data').textContent);
  const boxes = [];
  D.nodes.forEach((n, i) => {
    if (!n.leaf && i !== D.root) return;
    const r = document.getElementById('node-' + i).getBoundingClientRect();
    boxes.push({i, inside: r.left >= 0 && r.top >= 0 && r.right <= vw && r.bottom <= vh});
  });
  const svg = document.getElementById('graph');
  const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  const sizes = [...svg.querySelectorAll('text')].map(
    t => parseFloat(getComputedStyle(t).fontSize) * scale);
  const html = [...document.querySelectorAll('button, #explain *, #check *, #title')].map(
    e => parseFloat(getComputedStyle(e).fontSize));
  const panel = document.getElementById('panel').getBoundingClientRect();
  const pane = document.getElementById('graph-pane').getBoundingClientRect();
  return {boxes, smallest: Math.min(...sizes), smallestHtml: Math.min(...html),
          panelBelow: panel.top >= pane.bottom - 1, barHeight:
          document.getElementById('bar').getBoundingClientRect().height};
}"""
