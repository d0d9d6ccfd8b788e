// One point of the plane: its forward pass and its grads, and the stepper of its loss inline,
// following training; and what a click on the plane does (inspect, add or remove a point).
import { $, el, fixed } from "./ui.js";
import { lab, act, api, say, TOKEN, REFRESH_MS, REFRESH_STEPS } from "./lab-api.js";
import { toData, toPixel } from "./lab-charts.js";
import { drawAll } from "./lab-network.js";

// ---------------------------------------------------------------------------------------------
// One point: its forward pass and its grads, and the stepper for its loss
// ---------------------------------------------------------------------------------------------
export function renderPoint() {
  const box = $("point"), p = lab.point;
  box.replaceChildren();
  if (!p || !p.stepper) showStepper(null);
  if (!p) {
    box.append(el("p", "hint", "Click a data point on the plane to see its forward pass through the " +
      "network and every neuron's grad after its backward pass."));
    return;
  }
  const f = fixed;
  box.append(el("p", "point-summary", `${p.which} point #${p.index} at (${f(p.x[0])}, ${f(p.x[1])}), class ` +
    `${p.label}; predicted ${p.predicted}; its ${p.loss_name} loss ${f(p.loss)} ` +
    `(weights of step ${p.step}).`));
  if (p.loss === 0) {
    const hint = el("p", "point-hint", p.loss_name === "hinge"
      ? "This point is classified beyond the margin: its hinge loss is 0, so no gradient flows " +
        "back from it, and every grad below is 0. Click a point near the boundary, or one on " +
        "the wrong side, to see backprop at work."
      : `Its ${p.loss_name} loss is 0, so no gradient flows back from it: every grad below is 0.`);
    hint.id = "zero-loss-hint";
    box.append(hint);
  }
  const table = el("div", "point-layers");
  const column = (title, data, grad, names) => {
    const col = el("div", "point-layer");
    col.append(el("h3", null, title));
    const t = el("table");
    const head = el("tr");
    head.append(el("th", null, ""), el("th", null, "data"), el("th", null, "grad"));
    t.append(head);
    data.forEach((d, j) => {
      const tr = el("tr");
      tr.append(el("td", null, names(j)), el("td", null, f(d)), el("td", grad[j] < 0 ? "neg" : "pos", f(grad[j])));
      t.append(tr);
    });
    col.append(t);
    return col;
  };
  table.append(column("input", p.inputs || p.x, p.x_grad,
    (j) => p.input_names ? p.input_names[j] : `x${j + 1}`));
  p.layers.forEach((layer, i) => table.append(column(layer.name, layer.data, layer.grad,
    (j) => i < p.layers.length - 1 ? `h${i + 1}.${j + 1}` : layer.data.length > 1 ? `out${j + 1}` : "score")));
  box.append(table);
  if (p.stepper) {
    const src = `/stepper/${encodeURIComponent(p.stepper)}?token=${encodeURIComponent(TOKEN)}`;
    const a = el("a", "button stepper-link", "Open the backprop stepper in a new tab ↗");
    a.href = src;
    a.target = "_blank";
    a.rel = "noopener";
    a.id = "open-stepper";
    box.append(a, el("span", "hint", ` ${p.nodes} nodes; while training, this point's graph below is ` +
      `redrawn every ${REFRESH_STEPS} steps`));
    showStepper(src, `the backprop stepper for the loss of ${p.which} point #${p.index}`);
  } else {
    box.append(el("p", "hint", p.stepper_error));
  }
}

// The stepper, inline: one iframe (same origin, the stepper's own CSP) that keeps its place
// and its height while the next page loads; a page is not cut off by the next one (that one
// waits for the load), so nothing is aborted as training redraws it. null hides it.
export function showStepper(src, title) {
  let f = $("point-stepper");
  if (!f) {
    if (!src) return;
    f = el("iframe");
    f.id = "point-stepper";
    f.addEventListener("load", () => {
      f.dataset.loading = "";
      const next = f.dataset.next;
      f.dataset.next = "";
      if (next) showStepper(next, f.title);
    });
    $("point-frame").append(f);
  }
  f.hidden = !src;
  if (!src) { f.dataset.next = ""; return; }
  f.title = title;
  if (f.dataset.loading) { f.dataset.next = src; return; }
  f.dataset.loading = "1";
  const page = window.micrograd_stepper_page;  // the static site: its worker makes the page
  if (page) page(src).then((html) => { f.srcdoc = html; });
  else f.src = src;
}

export async function inspect(which, index, quiet) {
  lab.selected = {which, index};
  if (!quiet) drawAll();
  lab.inspecting = true;
  lab.inspectedAt = Date.now();
  const run = lab.run;
  try {
    const p = await api("POST", "/api/inspect", {which, index});
    // a newer click, or a new run, wins over this answer
    if (run === lab.run && lab.selected && lab.selected.which === which &&
        lab.selected.index === index) {
      lab.point = p;
      renderPoint();
    }
  } catch (e) {
    if (!quiet) say(e.message);
  } finally {
    lab.inspecting = false;
  }
}

// While training runs, the inspected point's numbers and graph follow: asked for again every
// REFRESH_STEPS steps (at most every REFRESH_MS), one request at a time.
export function followPoint() {
  const p = lab.point, sel = lab.selected;
  if (!p || !sel || lab.inspecting || lab.step === p.step) return;
  if (lab.step - p.step < REFRESH_STEPS && lab.playing) return;
  if (Date.now() - lab.inspectedAt < REFRESH_MS) return;
  inspect(sel.which, sel.index, true);
}

export function renderClasses() {          // a class picker for every class the dataset has
  const three = lab.data && lab.data.classes > 2;
  $("add2-label").hidden = !three;
  if (!three && document.querySelector("input[name=mode][value=add2]").checked)
    document.querySelector("input[name=mode][value=inspect]").checked = true;
}
function nearest(px, py, w, h, rows, from) {    // [index, distance] of the closest, in reach
  let best = null, bestD = 14;
  rows.forEach(([x, y], i) => {
    if (i < from) return;
    const [qx, qy] = toPixel(x, y, w, h), d = Math.hypot(qx - px, qy - py);
    if (d < bestD) { bestD = d; best = i; }
  });
  return [best, bestD];
}

export function clickPlane(ev) {
  if (!lab.data) return;
  const r = $("plane").getBoundingClientRect(), px = ev.clientX - r.left, py = ev.clientY - r.top;
  const mode = document.querySelector("input[name=mode]:checked").value, d = lab.data;
  if (mode.startsWith("add")) {
    const [x, y] = toData(px, py, r.width, r.height);
    act(() => api("POST", "/api/points", {add: [+x.toFixed(4), +y.toFixed(4), +mode.slice(3)]}));
  } else if (mode === "remove") {
    const [i] = nearest(px, py, r.width, r.height, d.train, d.own_from);
    if (i === null) say("no point of yours there: only the points you added can be removed", "info");
    else act(() => api("POST", "/api/points", {remove: i - d.own_from}));
  } else {
    const [t, dt] = nearest(px, py, r.width, r.height, d.test, 0);
    const [i, di] = nearest(px, py, r.width, r.height, d.train, 0);
    if (t !== null && (i === null || dt < di)) inspect("test", t);
    else if (i !== null) inspect("train", i);
  }
}

