// The stepper's picture of the graph: an SVG card per value, a pill per operation, an edge per
// input. Drawing is on demand: `graph.paint(i)` shows node i's state (after a Step, only the
// nodes the Step touched), and a big graph's page (data.windowed: over stepper.py's
// WINDOW_NODES) keeps in the document only the nodes near the part of the graph in view,
// built as the pane scrolls and dropped when far away. So a Step costs the same on 3,000
// nodes or 100,000: the browser's style, layout and paint work is over the few hundred
// elements in the document, not the whole graph.
import { svgEl } from "./ui.js";

// Of the layout's 24 px side margins (MARGIN in layout.py) 8 px stay in the picture: a
// notebook's output (700 px wide in a 900 px window) then holds the neuron with 8 px text.
export const TRIM = 16;
const CELL = 800;                // graph pixels: the window's index is a grid of these cells
// The most nodes a windowed page draws at once (zoomed far out, the view holds more: the cells
// nearest its middle are drawn first). 3,000 drawn nodes is what a Step could afford before.
export const DRAW_MAX = 3000;
const LABEL_W = 8.6;             // stepper.py's LABEL_W: its generous width of a label letter

// st: the page's state ({grad, gradFull, hits, stepOf, pos, steps}); onNode(i): a click.
export function makeGraph(D, svg, st, onNode) {
  const N = D.nodes.length;
  const W = D.width - 2 * TRIM;
  svg.setAttribute("viewBox", `${TRIM} 0 ${W} ${D.height}`);
  const defs = svgEl("defs");
  const marker = svgEl("marker", {id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5",
    markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse"});
  marker.append(svgEl("path", {d: "M0,1 L9,5 L0,9 z", fill: "#9aa6b4"}));
  defs.append(marker);
  const edgeLayer = svgEl("g", {class: "edges"}), nodeLayer = svgEl("g", {class: "nodes"});
  svg.append(defs, edgeLayer, nodeLayer);

  // Drawn whole (up to WINDOW_NODES), nodes and edges go into about sqrt(N) groups of about
  // sqrt(N), in order: a changed card makes the browser re-measure its group and the groups,
  // not every element. Windowed, the document holds few enough elements for flat layers.
  const CHUNK = Math.max(32, Math.ceil(Math.sqrt(N))), parts = {edges: [], nodes: []};
  function layer(which, i) {
    const root = which === "edges" ? edgeLayer : nodeLayer;
    if (D.windowed) return root;
    const k = Math.floor(i / CHUNK), list = parts[which];
    if (!list[k]) { list[k] = svgEl("g"); root.append(list[k]); }
    return list[k];
  }

  const views = new Array(N).fill(null);   // per node drawn: {g, grad, gradbg, op, edges, ...}

  function build(i) {
    const n = D.nodes[i], v = {edges: [], op: null, parts: []};
    const cy = n.y + n.h / 2;
    if (n.op) {
      const ox = n.x - 18 - n.opw;         // the op pill sits left of its value's card
      const og = svgEl("g", {class: "op"});
      og.append(svgEl("rect", {x: ox, y: cy - 12, width: n.opw, height: 24, rx: 12}),
        svgEl("text", {x: ox + n.opw / 2, y: cy + 4.5, "text-anchor": "middle"}, n.op));
      const link = svgEl("line", {class: "link", x1: ox + n.opw, y1: cy, x2: n.x - 1, y2: cy,
        "marker-end": "url(#arrow)"});
      const edges = layer("edges", i);
      edges.append(link);
      v.parts.push(link, og);
      v.op = og;
      const count = {};
      n.kids.forEach((c) => {
        const k = D.nodes[c];
        const x1 = k.x + k.w, y1 = k.y + k.h / 2;
        const seen = count[c] || 0;
        count[c] = seen + 1;
        const x2 = ox, y2 = cy + 6 * seen, dx = Math.max(24, (x2 - x1) / 2);
        const p = svgEl("path", {class: "edge",
          d: `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`});
        edges.append(p);
        v.edges.push(p);
        v.parts.push(p);
      });
      layer("nodes", i).append(og);
    }
    const g = svgEl("g", {class: "node" + (n.leaf ? " leaf" : "") + (i === D.root ? " root" : ""),
      id: `node-${i}`, "data-node": String(i), transform: `translate(${n.x},${n.y})`});
    v.tip = svgEl("title");
    v.label = svgEl("text", {class: "label" + (n.label ? "" : " anon"), x: n.w / 2, y: 15.5,
      "text-anchor": "middle"}, n.label ? n.label : n.name);
    v.gradbg = svgEl("rect", {class: "gradbg", x: 4, y: 44, width: n.w - 8, height: 15, rx: 3});
    v.grad = svgEl("text", {class: "grad", x: 10, y: 55.5}, `grad ${D.zero}`);
    // the card's head: its top 22 px, rounded as the card (a path, not a clip per node)
    g.append(v.tip, svgEl("rect", {class: "card", width: n.w, height: n.h, rx: 8}),
      svgEl("path", {class: "head", d: `M0,22 V8 A8,8 0 0 1 8,0 H${n.w - 8} A8,8 0 0 1 ` +
        `${n.w},8 V22 Z`}),
      v.label, svgEl("text", {class: "value", x: 10, y: 39}, `data ${n.data}`), v.gradbg, v.grad);
    g.addEventListener("click", () => onNode(i));
    layer("nodes", i).append(g);
    v.g = g;
    v.parts.push(g);
    views[i] = v;
    return v;
  }

  // A label too long for its card is shortened (the whole name stays in the tooltip); only
  // names Python did not size the card for are measured (measuring forces a layout).
  function fitLabel(i) {
    const n = D.nodes[i], t = views[i].label, full = n.name;
    if (full.length * LABEL_W + 26 <= n.w) return;
    try {
      if (t.getComputedTextLength() <= n.w - 12) return;
      let lo = 1, hi = full.length;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        t.textContent = full.slice(0, mid) + "…";
        if (t.getComputedTextLength() <= n.w - 12) lo = mid; else hi = mid - 1;
      }
      t.textContent = full.slice(0, lo) + "…";
    } catch (e) { /* not rendered yet */ }
  }

  // Node i as the state has it: its grad, tooltip and the classes of the step in view.
  function paint(i) {
    const v = views[i];
    if (!v) return;                      // not in the document: painted when it is built
    const n = D.nodes[i], cur = st.pos > 0 ? D.steps[st.pos - 1] : null;
    let updated = false, child = false;
    if (cur) for (const t of cur.terms) if (t.child === i) { updated = true; child = cur.kind === "chain"; }
    const current = !!cur && cur.node === i;
    v.grad.textContent = `grad ${st.grad[i]}`;
    v.tip.textContent = n.name + (n.op ? `  (${n.op})` : "  (leaf)") +
      `\ndata ${n.dataFull}\ngrad ${st.gradFull[i]}`;
    const c = v.g.classList;
    c.toggle("has-grad", st.hits[i] > 0);
    c.toggle("current", current);
    c.toggle("child", child && !current);
    c.toggle("updated", updated);
    c.toggle("done", st.stepOf[i] !== undefined && st.stepOf[i] < st.pos && n.op !== "");
    const active = current && cur.kind === "chain";
    if (v.op) v.op.classList.toggle("active", active);
    for (const e of v.edges) e.classList.toggle("active", active);
  }

  function show(i) {
    build(i);
    paint(i);
  }

  // ---- the window: which cells of the graph are near the pane's view ----
  const cells = new Map(), active = new Set(), refs = new Uint32Array(N);
  let count = 0;                         // nodes in the document
  if (D.windowed) {
    D.nodes.forEach((n, i) => {          // a node's footprint: its card, pill and in-edges
      let x0 = n.x - (n.op ? 18 + n.opw : 0), y0 = n.y, y1 = n.y + n.h;
      for (const c of n.kids) {
        const k = D.nodes[c];
        x0 = Math.min(x0, k.x + k.w);
        y0 = Math.min(y0, k.y + k.h / 2);
        y1 = Math.max(y1, k.y + k.h / 2);
      }
      for (let cx = Math.floor(x0 / CELL); cx <= Math.floor((n.x + n.w) / CELL); cx++) {
        for (let cy = Math.floor(y0 / CELL); cy <= Math.floor(y1 / CELL); cy++) {
          const key = cx * 1e6 + cy;
          if (!cells.has(key)) cells.set(key, []);
          cells.get(key).push(i);
        }
      }
    });
  } else {
    for (let i = 0; i < N; i++) show(i);
    for (let i = 0; i < N; i++) fitLabel(i);
  }

  // The cells with nodes in [x0, x1] x [y0, y1]: enumerated, or (a range of more cells than
  // the graph has, zoomed far out) picked from the graph's own.
  function keys(x0, y0, x1, y1) {
    const a = Math.floor(x0 / CELL), b = Math.floor(x1 / CELL);
    const c = Math.floor(Math.max(0, y0) / CELL), d = Math.floor(y1 / CELL);
    const out = [];
    if ((b - a + 1) * (d - c + 1) > cells.size) {
      for (const key of cells.keys()) {
        const kx = Math.floor(key / 1e6), ky = key % 1e6;
        if (kx >= a && kx <= b && ky >= c && ky <= d) out.push(key);
      }
      return out;
    }
    for (let cx = a; cx <= b; cx++) {
      for (let cy = c; cy <= d; cy++) if (cells.has(cx * 1e6 + cy)) out.push(cx * 1e6 + cy);
    }
    return out;
  }

  // Windowed: the part of the graph in view is [x0, x1] x [y0, y1] (graph pixels). Cells
  // within half a view of it are drawn, nearest the middle first, up to DRAW_MAX nodes; cells
  // past one and a half views are dropped.
  function drop(key) {
    active.delete(key);
    for (const i of cells.get(key)) {
      if (--refs[i] === 0) { for (const e of views[i].parts) e.remove(); views[i] = null; count--; }
    }
  }
  function view(x0, y0, x1, y1) {
    if (!D.windowed) return;
    const mx = (x1 - x0) / 2, my = (y1 - y0) / 2, cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
    const far = (key) => Math.hypot((Math.floor(key / 1e6) + 0.5) * CELL - cx,
                                    (key % 1e6 + 0.5) * CELL - cy);
    const near = keys(x0 - mx, y0 - my, x1 + mx, y1 + my);
    const keep = new Set(keys(x0 - 3 * mx, y0 - 3 * my, x1 + 3 * mx, y1 + 3 * my));
    for (const key of [...active]) if (!keep.has(key)) drop(key);
    near.sort((a, b) => far(a) - far(b));
    const wanted = [];
    let room = DRAW_MAX;
    for (const key of near) {
      const k = cells.get(key).length;
      if (k > room && wanted.length) break;
      room -= k;
      wanted.push(key);
    }
    const fresh = wanted.filter((key) => !active.has(key));
    if (count + fresh.reduce((k, key) => k + cells.get(key).length, 0) > DRAW_MAX) {
      const nearest = new Set(wanted);     // over the budget: only the nearest stay
      for (const key of [...active]) if (!nearest.has(key)) drop(key);
    }
    const built = [];
    for (const key of fresh) {
      active.add(key);
      for (const i of cells.get(key)) {
        if (refs[i]++ === 0) { show(i); built.push(i); count++; }
      }
    }
    for (const i of built) fitLabel(i);
  }

  // Node i's box in graph pixels (it may not be in the document).
  const box = (i) => {
    const n = D.nodes[i];
    return {x: n.x - TRIM, y: n.y, w: n.w, h: n.h};
  };

  const drawn = () => D.windowed ? count : N;
  return {W, views, paint, view, box, drawn};
}
