// micrograd lab: the page. Python trains (micrograd.lab.session); this draws what it publishes.
// Every number shown comes from the server; nothing here computes the network. All text from
// the server is set with textContent, never as markup.
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token") || "";
const COLORS = [[245, 147, 34], [8, 119, 189], [60, 160, 90]];     // class 0, 1, 2
const POS = "#6a3d9a", NEG = "#c2185b";        // a weight's sign: never a class's colour
const TRAIN = "#333333", TEST = "#9a6fb0";                         // the curves
const REFRESH_STEPS = 10, REFRESH_MS = 1500;   // the inspected point follows training
const SPEEDS = [1, 3, 10, 30, 100, 0];                             // steps per second; 0 = max
const $ = (id) => document.getElementById(id);

const lab = {
  run: null, since: 0, have: null, step: 0, steps: 0, status: "", playing: false,
  settings: null, data: null, view: null, reproduce: null,
  curves: {loss: [], accuracy: [], test_loss: [], test_accuracy: []},
  selected: null, point: null, edges: "weights", pollTimer: null, busy: false, pending: 0,
  changes: 0, present: false, wanted: null, inspecting: false, inspectedAt: 0,
};
window.lab = lab;           // for the curious (and the tests): the state as the page sees it

// ---------------------------------------------------------------------------------------------
// Talking to the server
// ---------------------------------------------------------------------------------------------
async function api(method, path, body, raw) {
  const opts = {method, headers: {"X-Lab-Token": TOKEN}};
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = raw ? body : JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  const doc = await r.json().catch(() => ({error: `${r.status} ${r.statusText}`}));
  if (!r.ok) throw new Error(doc.error || `${r.status}`);
  return doc;
}

let messageTimer = null;
function say(text, kind) {
  const m = $("message");
  m.textContent = text;
  m.className = kind || "error";
  m.hidden = false;
  clearTimeout(messageTimer);
  messageTimer = setTimeout(() => { m.hidden = true; }, 9000);
}

// Requests that change something run one after another, in the order of the clicks; each
// shows its error, if any, then the page refreshes at once.
let queue = Promise.resolve();
function act(fn) {
  queue = queue.then(async () => {
    try {
      await fn();
      $("message").hidden = true;
    } catch (e) {
      say(e.message);
    }
    poll();
  });
  return queue;
}

// Settings change at once on the page (so that quick clicks build on each other), then on the
// server; if it refuses, the page forgets its run and reloads the server's state.
function send(patch) {
  const before = JSON.parse(JSON.stringify(
    Object.fromEntries(Object.keys(patch).map((k) => [k, lab.settings[k]]))));
  Object.assign(lab.settings, patch);
  renderSettings();
  lab.pending += 1;
  lab.changes += 1;
  act(async () => {
    try {
      await api("POST", "/api/settings", patch);
    } catch (e) {
      Object.assign(lab.settings, before);    // undo it on the page at once,
      renderSettings();
      lab.run = null;                         // and reload the server's state to be sure
      throw e;
    } finally {
      lab.pending -= 1;
    }
  });
}
const control = (action) => act(() => api("POST", "/api/control",
  {action, speed: SPEEDS[+$("speed").value]}));
const ENDED = ["done", "diverged", "error"];
function play() {                   // after the end of a run, Play starts it again from step 0
  if (ENDED.includes(lab.status)) { control("reset"); control("play"); }
  else control(lab.playing ? "pause" : "play");
}

async function poll() {
  clearTimeout(lab.pollTimer);
  if (lab.leaving) return;          // the page is going away: no new request to be cut off
  if (!lab.busy) {
    lab.busy = true;
    try {
      const q = `run=${lab.run ?? ""}&since=${lab.since}&have=${lab.have ?? ""}`;
      const changes = lab.changes;
      const s = await api("GET", `/api/state?${q}`);
      // the server's settings win, unless the page changed some since this poll set out
      s.settingsCurrent = changes === lab.changes && lab.pending === 0;
      absorb(s);
    } catch (e) {
      say(`lost the server: ${e.message}`);
    } finally {
      lab.busy = false;
    }
  }
  if (!lab.leaving) lab.pollTimer = setTimeout(poll, lab.playing ? 150 : 1000);
}

function absorb(s) {
  const fresh = s.run !== lab.run;
  if (fresh) {
    lab.run = s.run;
    lab.curves = {loss: [], accuracy: [], test_loss: [], test_accuracy: []};
    lab.data = s.data;
    lab.reproduce = s.reproduce;
    lab.selected = null;
    lab.point = null;
    renderReproduce();
    renderPoint();
    renderClasses();
  }
  if (s.settingsCurrent && JSON.stringify(s.settings) !== JSON.stringify(lab.settings)) {
    lab.settings = s.settings;
    renderSettings();
  }
  if (lab.wanted) {                 // the link's settings, asked for once, on the first state
    const patch = differences(lab.wanted, lab.settings);
    lab.wanted = null;
    if (Object.keys(patch).length) send(patch);
  }
  if (s.settingsCurrent && lab.pending === 0) writeLink();
  for (const k in lab.curves) lab.curves[k] = lab.curves[k].slice(0, s.since).concat(s.curves[k]);
  lab.since = s.since + s.curves.loss.length;
  Object.assign(lab, {step: s.step, steps: s.steps, status: s.status, playing: s.playing,
    stepping: s.stepping});
  if (s.view) {
    lab.view = s.view;
    lab.have = s.view.version;
    decodeView(s.view);
    renderNeurons();
  }
  renderRun(s);
  drawAll();
  followPoint();
}

// ---------------------------------------------------------------------------------------------
// The settings panels
// ---------------------------------------------------------------------------------------------
function renderSettings() {
  const s = lab.settings;
  for (const el of document.querySelectorAll("[data-setting]")) {
    if (el !== document.activeElement || el.tagName === "SELECT") el.value = s[el.dataset.setting];
  }
  $("test").value = Math.round(s.test_fraction * 100);
  $("batch").value = s.batch_size ?? "";
  $("compiled").checked = s.compiled;
  $("own-count").textContent = s.points.length;
  // (a lab without input features, such as the static site's, sends none: x1 and x2 only)
  $("features").hidden = !s.features;
  for (const box of document.querySelectorAll("#features input")) box.checked = (s.features || ["x1", "x2"]).includes(box.value);
  $("clear-own").disabled = s.points.length === 0;
  const box = $("layers");
  box.replaceChildren();
  s.layers.forEach((n, i) => {
    const row = document.createElement("div");
    row.className = "layer";
    const name = document.createElement("span");
    name.textContent = `hidden ${i + 1}`;
    const size = document.createElement("output");
    size.textContent = n;
    const button = (text, title, f) => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = text;
      b.title = title;
      b.addEventListener("click", f);
      return b;
    };
    const layers = (f) => { const l = s.layers.slice(); f(l); send({layers: l}); };
    row.append(name,
      button("−", "one neuron fewer", () => layers((l) => { l[i] -= 1; })), size,
      button("+", "one neuron more", () => layers((l) => { l[i] += 1; })),
      button("✕", "remove this layer", () => layers((l) => { l.splice(i, 1); })));
    box.append(row);
  });
  if (!s.layers.length) {
    const p = document.createElement("p");
    p.className = "hint";
    p.textContent = "no hidden layer: a linear model";
    box.append(p);
  }
}

function number(el) {               // what the page sends: the number, or the text to refuse
  const v = el.value.trim();
  return v === "" || isNaN(Number(v)) ? v : Number(v);
}

function wireSettings() {
  for (const el of document.querySelectorAll("[data-setting]")) {
    el.addEventListener("change", () => {
      const key = el.dataset.setting;
      const patch = {[key]: el.tagName === "SELECT" ? el.value : number(el)};
      if (key === "dataset") {      // each dataset's own noise; three classes need a K-way loss
        patch.noise = lab.data.noise_defaults[el.value];
        const k = lab.data.dataset_classes[el.value];   // your points of a class it lacks go
        if (lab.settings.points.some((q) => q[2] >= k)) patch.points = lab.settings.points.filter((q) => q[2] < k);
        if (lab.data.dataset_classes[el.value] > 2 && ["hinge", "bce"].includes(lab.settings.loss))
          patch.loss = "cross_entropy";
      }
      send(patch);
    });
  }
  $("test").addEventListener("change", () => {
    const v = number($("test"));
    send({test_fraction: typeof v === "number" ? v / 100 : v});
  });
  $("batch").addEventListener("change", () => {
    const v = number($("batch"));
    send({batch_size: v === "" ? null : v});
  });
  $("compiled").addEventListener("change", () => send({compiled: $("compiled").checked}));
  $("add-layer").addEventListener("click", () => {
    const l = lab.settings.layers;
    send({layers: l.concat([l.length ? l[l.length - 1] : 8])});
  });
  $("clear-own").addEventListener("click", () => send({points: []}));
  for (const [id, name] of FEATURES) {
    const label = document.createElement("label"), box = document.createElement("input");
    box.type = "checkbox";
    box.value = id;
    box.id = `feature-${id}`;
    box.addEventListener("change", () => {
      const on = [...document.querySelectorAll("#features input:checked")].map((b) => b.value);
      send({features: on});
    });
    label.append(box, ` ${name}`);
    $("features").append(label);
  }
}

function renderRun(s) {
  if (document.activeElement !== $("speed") && SPEEDS.includes(s.speed)) {
    $("speed").value = SPEEDS.indexOf(s.speed);
    $("speed-text").textContent = s.speed ? `${s.speed}/s` : "max";
  }
  const ended = ENDED.includes(s.status);
  $("play").textContent = lab.playing ? "❚❚ Pause" : ended ? "↻ Play again" : "▶ Play";
  $("play").title = ended ? "The run has ended: start it again from step 0 (the same seed, the " +
    "same numbers) and play (space)" : "Play / pause (space)";
  $("counter").textContent = `step ${lab.step} / ${lab.steps}`;
  const status = $("status");
  let text = s.message || s.status;
  if (s.step_seconds !== null && s.status !== "done") {
    text += ` · ${s.step_seconds < 0.1 ? Math.round(s.step_seconds * 1000) + " ms" :
      s.step_seconds.toFixed(1) + " s"}/step`;
    if (s.step_seconds > 0.5 && !lab.settings.compiled) text += " · try the compiled step";
  }
  status.textContent = text;
  status.className = s.status;
  $("step").disabled = ended;
  const c = lab.curves, last = (a) => a.length ? `${Math.round(a[a.length - 1] * 100)}%` : "–";
  $("acc-text").textContent = `training ${last(c.accuracy)} · test ${last(c.test_accuracy)}`;
}

function renderReproduce() {
  const r = lab.reproduce;
  $("repro-python").textContent = r.python;
  $("repro-command").textContent = r.command ? r.command : `# no command line: ${r.note}`;
}

// ---------------------------------------------------------------------------------------------
// Heat maps: bytes 0..255 from the server, painted into small images, drawn scaled up
// ---------------------------------------------------------------------------------------------
function bytes(b64) {
  const s = atob(b64), out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function image(n, paint) {
  const c = document.createElement("canvas");
  c.width = c.height = n;
  const g = c.getContext("2d"), img = g.createImageData(n, n);
  for (let i = 0; i < n * n; i++) {
    const [r, gg, b] = paint(i);
    img.data.set([r, gg, b, 255], 4 * i);
  }
  g.putImageData(img, 0, 0);
  return c;
}

const mix = (rgb, t) => rgb.map((v) => Math.round(255 + (v - 255) * t));

function diverging(v) {             // -1 orange, 0 white, +1 blue
  const t = Math.abs(v);
  return mix(v < 0 ? COLORS[0] : COLORS[1], 0.9 * t);
}

function decodeView(v) {
  const cls = bytes(v.boundary.cls), strength = bytes(v.boundary.strength);
  v.boundaryImage = image(v.boundary.n, (i) => mix(COLORS[cls[i]] || COLORS[2],
    0.12 + 0.55 * (strength[i] / 255)));
  v.inputImages = v.inputs && v.inputs.map((m) => {
    const a = bytes(m.img);
    return image(v.neurons.n, (i) => diverging(a[i] / 127.5 - 1));
  });
  v.neuronImages = v.neurons.maps.map((m) => {
    const a = bytes(m.img);
    return image(v.neurons.n, (i) => diverging(a[i] / 127.5 - 1));
  });
}

// ---------------------------------------------------------------------------------------------
// Canvases
// ---------------------------------------------------------------------------------------------
function fit(canvas) {              // match the backing store to the CSS size and the screen
  const r = canvas.getBoundingClientRect(), k = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(r.width * k)), h = Math.max(1, Math.round(r.height * k));
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  const g = canvas.getContext("2d");
  g.setTransform(k, 0, 0, k, 0, 0);
  return [g, r.width, r.height];
}

// Text drawn into a canvas: its CSS size, or 20 px and more in presentation mode.
function fontScale(px) {
  const big = parseFloat(getComputedStyle(document.body).getPropertyValue("--chart-font"));
  return big > px ? big / px : 1;
}

function drawAll() {
  if (!lab.view || !lab.data) return;
  drawPlane();
  drawNetwork();
  drawCurves();
}

function toPixel(x, y, w, h) {
  const [x0, x1, y0, y1] = lab.data.bounds;
  return [(x - x0) / (x1 - x0) * w, (y1 - y) / (y1 - y0) * h];
}

function toData(px, py, w, h) {
  const [x0, x1, y0, y1] = lab.data.bounds;
  return [x0 + px / w * (x1 - x0), y1 - py / h * (y1 - y0)];
}

const rgb = (c) => `rgb(${c[0]},${c[1]},${c[2]})`;

function drawPlane() {
  const [g, w, h] = fit($("plane"));
  g.fillStyle = "#fff";             // the scaled image's edges blend: start from white
  g.fillRect(0, 0, w, h);
  g.imageSmoothingEnabled = true;
  g.imageSmoothingQuality = "high";
  g.drawImage(lab.view.boundaryImage, 0, 0, w, h);
  const d = lab.data, r = Math.max(3, Math.min(w, h) / 90);
  d.train.forEach(([x, y, c], i) => {
    const [px, py] = toPixel(x, y, w, h);
    g.beginPath();
    if (i >= d.own_from) {          // yours: a diamond
      g.moveTo(px, py - r * 1.5); g.lineTo(px + r * 1.5, py); g.lineTo(px, py + r * 1.5);
      g.lineTo(px - r * 1.5, py); g.closePath();
      g.lineWidth = 2; g.strokeStyle = "#222";
    } else {
      g.arc(px, py, r, 0, 2 * Math.PI);
      g.lineWidth = 1; g.strokeStyle = "#fff";
    }
    g.fillStyle = rgb(COLORS[c]);
    g.fill(); g.stroke();
  });
  d.test.forEach(([x, y, c]) => {
    const [px, py] = toPixel(x, y, w, h);
    g.beginPath();
    g.arc(px, py, r, 0, 2 * Math.PI);
    g.fillStyle = "#fff"; g.fill();
    g.lineWidth = 2.2; g.strokeStyle = rgb(COLORS[c]); g.stroke();
  });
  if (lab.selected) {
    const p = (lab.selected.which === "train" ? d.train : d.test)[lab.selected.index];
    if (p) {
      const [px, py] = toPixel(p[0], p[1], w, h);
      g.beginPath();
      g.arc(px, py, r * 2.6, 0, 2 * Math.PI);
      g.lineWidth = 2.5; g.strokeStyle = "#111"; g.stroke();
    }
  }
}

function edgeValues(layer) {
  const net = lab.view.network;
  return (lab.edges === "grads" ? net.grads : net.weights)[layer];
}

const planeImages = [];
function inputImage(j) {            // each input over the plane, as the server computed it
  if (lab.view.inputImages) return lab.view.inputImages[j];
  if (!planeImages[j]) {            // else x1 grows to the right, x2 upwards
    const n = 16;
    planeImages[j] = image(n, (i) => {
      const t = j === 0 ? (i % n) / (n - 1) : 1 - Math.floor(i / n) / (n - 1);
      return diverging(2 * t - 1);
    });
  }
  return planeImages[j];
}

function drawNetwork() {
  const [g, w, h] = fit($("net"));
  g.clearRect(0, 0, w, h);
  const net = lab.view.network, sizes = net.sizes, L = sizes.length;
  const fk = fontScale(12), top = 22 * fk, bottom = h - 6;
  const biggest = Math.max(...sizes);
  const node = Math.max(6, Math.min(34, (bottom - top) / biggest * 0.78));
  const xs = sizes.map((_, l) => 50 * fk + node / 2 + l * (w - 100 * fk - node) / Math.max(1, L - 1));
  const ys = sizes.map((n) => Array.from({length: n},
    (_, j) => top + (bottom - top) * (j + 0.5) / n));
  let max = 1e-12;
  for (let l = 0; l < L - 1; l++) for (const v of edgeValues(l)) if (v !== null) max = Math.max(max, Math.abs(v));
  for (let l = 0; l < L - 1; l++) {           // edges, under the nodes
    const nin = sizes[l], vals = edgeValues(l);
    for (let j = 0; j < sizes[l + 1]; j++) for (let i = 0; i < nin; i++) {
      const v = vals[j * (nin + 1) + i];
      if (v === null) continue;
      const t = Math.abs(v) / max;
      g.strokeStyle = v >= 0 ? POS : NEG;
      g.globalAlpha = 0.15 + 0.75 * t;
      g.lineWidth = 0.4 + 4 * t;
      g.beginPath();
      g.moveTo(xs[l] + node / 2, ys[l][i]);
      g.lineTo(xs[l + 1] - node / 2, ys[l + 1][j]);
      g.stroke();
    }
  }
  g.globalAlpha = 1;
  g.font = `${12 * fk}px system-ui, sans-serif`;
  g.textAlign = "center";
  g.fillStyle = "#444";
  let k = 0;
  for (let l = 0; l < L; l++) {
    const title = l === 0 ? "input" : l === L - 1 ? "output" : `${net.activations[l - 1]} ${sizes[l]}`;
    g.fillStyle = "#444";
    g.fillText(title, xs[l], 13 * fk);
    for (let j = 0; j < sizes[l]; j++) {
      const x = xs[l] - node / 2, y = ys[l][j] - node / 2;
      const picture = l === 0 ? inputImage(j) : l < L - 1 ? lab.view.neuronImages[k++]
        : sizes[l] === 1 ? lab.view.boundaryImage : null;
      if (picture) g.drawImage(picture, x, y, node, node);
      else { g.fillStyle = "#f4f4f4"; g.fillRect(x, y, node, node); }
      g.fillStyle = "#333";
      g.textAlign = l === 0 ? "right" : "left";
      if (l === 0) g.fillText(net.features ? net.features[j] : `x${j + 1}`, x - 4, ys[l][j] + 4);
      if (l === L - 1) g.fillText(sizes[l] > 1 ? `class ${j}` : "score", x + node + 4, ys[l][j] + 4);
      g.textAlign = "center";
      g.strokeStyle = "#666"; g.lineWidth = 1;
      g.strokeRect(x, y, node, node);
    }
  }
}

function drawChart(canvas, series, yMax, label, percent) {
  const [g, w, h] = fit(canvas);
  g.clearRect(0, 0, w, h);
  const k = fontScale(11);
  const left = 40 * k, right = 8, top = 18 * k, bottom = 20 * k, pw = w - left - right,
    ph = h - top - bottom;
  const n = xRange();
  g.strokeStyle = "#ccc"; g.lineWidth = 1;
  g.strokeRect(left, top, pw, ph);
  g.fillStyle = "#555"; g.font = `${11 * k}px system-ui, sans-serif`;
  g.textAlign = "right";
  for (const f of [0, 0.5, 1]) {
    const y = top + ph * (1 - f), v = yMax * f;
    g.fillText(percent ? `${Math.round(v * 100)}%` : v.toPrecision(2), left - 4, y + 4);
  }
  g.textAlign = "left";
  g.fillText(label, left + 4, 12 * k);
  g.fillText("0", left, h - 5);
  g.textAlign = "right";
  g.fillText(`step ${n}`, w - right, h - 5);
  for (const [values, color, name, i] of series) {
    g.strokeStyle = color; g.lineWidth = 1.8 * Math.sqrt(k);
    g.beginPath();
    let started = false;
    values.forEach((v, s) => {
      if (v === null) return;
      const x = left + pw * (s + 1) / n, y = top + ph * (1 - Math.min(v, yMax) / yMax);
      if (started) g.lineTo(x, y); else { g.moveTo(x, y); started = true; }
    });
    g.stroke();
    g.fillStyle = color;
    g.textAlign = "right";
    g.fillText(name, w - right - 60 * k * (series.length - 1 - i), 12 * k);
  }
}

function xRange() {                 // the x axis grows with the run, in round numbers
  const want = Math.max(lab.step * 1.25, 20);
  const nice = [20, 50, 100, 200, 300, 500, 1000, 2000, 3000, 5000].find((v) => v >= want);
  return Math.min(nice || 5000, Math.max(lab.steps, 1));
}

function drawCurves() {
  const c = lab.curves;
  // the scale leaves out the first few steps, whose spikes would flatten the rest (clipped)
  const later = (a) => a.slice(a.length > 8 ? 3 : 0).filter((v) => v !== null);
  const all = later(c.loss).concat(later(c.test_loss));
  const yMax = all.length ? Math.max(...all) * 1.1 || 1 : 1;
  drawChart($("loss-chart"), [[c.loss, TRAIN, "training", 0], [c.test_loss, TEST, "test", 1]],
    yMax, "loss", false);
  drawChart($("acc-chart"), [[c.accuracy, TRAIN, "training", 0], [c.test_accuracy, TEST, "test", 1]],
    1, "accuracy", true);
}

function renderNeurons() {
  const box = $("neurons"), net = lab.view.network;
  box.replaceChildren();
  let k = 0;
  for (let l = 1; l < net.sizes.length - 1; l++) {
    const row = document.createElement("div");
    row.className = "neuron-row";
    const name = document.createElement("span");
    name.className = "row-name";
    name.textContent = `hidden ${l} (${net.activations[l - 1]})`;
    row.append(name);
    for (let j = 0; j < net.sizes[l]; j++, k++) {
      const c = lab.view.neuronImages[k];
      c.className = "neuron";
      const [lo, hi] = lab.view.neurons.maps[k].range;
      c.title = `h${l}.${j + 1}: from ${lo.toFixed(3)} to ${hi.toFixed(3)} over the plane`;
      row.append(c);
    }
    box.append(row);
  }
  if (k === 0) {
    const p = document.createElement("p");
    p.className = "hint";
    p.textContent = "no hidden neurons: add a layer";
    box.append(p);
  }
}

// ---------------------------------------------------------------------------------------------
// One point: its forward pass and its grads, and the stepper for its loss
// ---------------------------------------------------------------------------------------------
function renderPoint() {
  const box = $("point"), p = lab.point;
  box.replaceChildren();
  const el = (tag, text, cls) => {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  };
  if (!p || !p.stepper) showStepper(null);
  if (!p) {
    box.append(el("p", "Click a data point on the plane to see its forward pass through the " +
      "network and every neuron's grad after its backward pass.", "hint"));
    return;
  }
  const f = (v) => v.toFixed(4);
  box.append(el("p", `${p.which} point #${p.index} at (${f(p.x[0])}, ${f(p.x[1])}), class ` +
    `${p.label}; predicted ${p.predicted}; its ${p.loss_name} loss ${f(p.loss)} ` +
    `(weights of step ${p.step}).`, "point-summary"));
  if (p.loss === 0) {
    const hint = el("p", p.loss_name === "hinge"
      ? "This point is classified beyond the margin: its hinge loss is 0, so no gradient flows " +
        "back from it, and every grad below is 0. Click a point near the boundary, or one on " +
        "the wrong side, to see backprop at work."
      : `Its ${p.loss_name} loss is 0, so no gradient flows back from it: every grad below is 0.`,
      "point-hint");
    hint.id = "zero-loss-hint";
    box.append(hint);
  }
  const table = el("div", undefined, "point-layers");
  const column = (title, data, grad, names) => {
    const col = el("div", undefined, "point-layer");
    col.append(el("h3", title));
    const t = el("table");
    const head = el("tr");
    head.append(el("th", ""), el("th", "data"), el("th", "grad"));
    t.append(head);
    data.forEach((d, j) => {
      const tr = el("tr");
      tr.append(el("td", names(j)), el("td", f(d)), el("td", f(grad[j]), grad[j] < 0 ? "neg" : "pos"));
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
    const a = el("a", "Open the backprop stepper in a new tab ↗", "button stepper-link");
    a.href = src;
    a.target = "_blank";
    a.rel = "noopener";
    a.id = "open-stepper";
    box.append(a, el("span", ` ${p.nodes} nodes; while training, this point's graph below is ` +
      `redrawn every ${REFRESH_STEPS} steps`, "hint"));
    showStepper(src, `the backprop stepper for the loss of ${p.which} point #${p.index}`);
  } else {
    box.append(el("p", p.stepper_error, "hint"));
  }
}

// The stepper, inline: one iframe (same origin, the stepper's own CSP) that keeps its place
// and its height while the next page loads; a page is not cut off by the next one (that one
// waits for the load), so nothing is aborted as training redraws it. null hides it.
function showStepper(src, title) {
  let f = $("point-stepper");
  if (!f) {
    if (!src) return;
    f = document.createElement("iframe");
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

async function inspect(which, index, quiet) {
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
function followPoint() {
  const p = lab.point, sel = lab.selected;
  if (!p || !sel || lab.inspecting || lab.step === p.step) return;
  if (lab.step - p.step < REFRESH_STEPS && lab.playing) return;
  if (Date.now() - lab.inspectedAt < REFRESH_MS) return;
  inspect(sel.which, sel.index, true);
}

function renderClasses() {          // a class picker for every class the dataset has
  const three = lab.data && lab.data.classes > 2;
  $("add2-label").hidden = !three;
  if (!three && document.querySelector("input[name=mode][value=add2]").checked)
    document.querySelector("input[name=mode][value=inspect]").checked = true;
}

// ---------------------------------------------------------------------------------------------
// The link: every setting in the URL's hash, so that a shared link opens the same run
// ---------------------------------------------------------------------------------------------
const LINKED = ["dataset", "noise", "samples", "test_fraction", "seed", "layers", "activation",
  "loss", "optimizer", "lr", "schedule", "steps", "batch_size", "alpha", "compiled", "points",
  "features"];
// the network's inputs, as TF Playground has them (the server computes them: settings.py)
const FEATURES = [["x1", "x1"], ["x2", "x2"], ["x1sq", "x1²"], ["x2sq", "x2²"],
  ["x1x2", "x1·x2"], ["sinx1", "sin x1"], ["sinx2", "sin x2"]];

function linkText(s) {
  const q = new URLSearchParams();
  for (const k of LINKED) {
    if (!(k in s)) continue;
    const v = s[k];
    q.set(k, k === "layers" || k === "features" ? v.join(",") : k === "points" ? JSON.stringify(v)
      : k === "compiled" ? (v ? "1" : "0") : v === null ? "" : String(v));
  }
  if (lab.present) q.set("present", "1");
  return q.toString();
}

function readLink() {               // the hash's settings, as the server takes them (it checks)
  const q = new URLSearchParams(location.hash.slice(1)), out = {};
  for (const k of LINKED) {
    if (!q.has(k)) continue;
    const v = q.get(k);
    if (k === "layers") out[k] = v === "" ? [] : v.split(",").map((x) => number({value: x}));
    else if (k === "features") out[k] = v.split(",");
    else if (k === "points") { try { out[k] = JSON.parse(v); } catch (e) { out[k] = v; } }
    else if (k === "compiled") out[k] = v === "1" || v === "true";
    else if (k === "batch_size") out[k] = v === "" || v === "all" ? null : number({value: v});
    else if (["dataset", "activation", "loss", "optimizer", "schedule"].includes(k)) out[k] = v;
    else out[k] = number({value: v});
  }
  return out;
}

function differences(want, have) {
  const patch = {};
  for (const k in want) if (JSON.stringify(want[k]) !== JSON.stringify(have[k])) patch[k] = want[k];
  return patch;
}

function writeLink() {
  const text = linkText(lab.settings);
  if (location.hash.slice(1) !== text) history.replaceState(null, "", `#${text}`);
}

function setPresent(on) {
  lab.present = on;
  document.body.classList.toggle("present", on);
  $("present").setAttribute("aria-pressed", String(on));
  if (lab.settings) writeLink();
  drawAll();
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

function clickPlane(ev) {
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

// ---------------------------------------------------------------------------------------------
// Model files
// ---------------------------------------------------------------------------------------------
async function loadFile() {
  const file = $("load").files[0];
  if (!file) return;
  const text = await file.text();
  $("load").value = "";
  act(() => api("POST", `/api/model?name=${encodeURIComponent(file.name)}`, text, true));
}

// ---------------------------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------------------------
function start() {
  wireSettings();
  const flags = new URLSearchParams(location.search), hash = new URLSearchParams(location.hash.slice(1));
  setPresent(flags.get("present") === "1" || hash.get("present") === "1");
  if (LINKED.some((k) => hash.has(k))) lab.wanted = readLink();
  $("present").addEventListener("click", () => setPresent(!lab.present));
  $("share").addEventListener("click", async () => {
    writeLink();
    try {
      await navigator.clipboard.writeText(location.href);
      say("Copied a link to this run: the part after # holds every setting (and the part " +
        "before it this lab's address and token)", "info");
    } catch (e) {
      say(`The link to this run is in the address bar (${e.message})`, "info");
    }
  });
  window.addEventListener("message", (e) => {   // the inline stepper's height
    const frame = $("point-stepper"), m = e.data;
    if (!frame || e.source !== frame.contentWindow || !m || m.type !== "micrograd-stepper:height") return;
    const h = Math.ceil(Number(m.height));
    if (h >= 100 && h <= 4000) { frame.style.height = `${h}px`; lab.stepperHeight = h; }
  });
  $("play").addEventListener("click", play);
  $("step").addEventListener("click", () => control("step"));
  $("reset").addEventListener("click", () => control("reset"));
  $("speed").addEventListener("input", () => {
    const v = SPEEDS[+$("speed").value];
    $("speed-text").textContent = v ? `${v}/s` : "max";
  });
  $("speed").addEventListener("change", () => control("speed"));
  $("plane").addEventListener("click", clickPlane);
  $("load").addEventListener("change", loadFile);
  for (const r of document.querySelectorAll("input[name=edges]")) {
    r.addEventListener("change", () => { lab.edges = r.value; drawAll(); });
  }
  document.addEventListener("keydown", (ev) => {
    if (ev.target.closest("input, select, textarea")) return;
    if (ev.key === " ") { ev.preventDefault(); $("play").click(); }
    else if (ev.key === "ArrowRight") $("step").click();
    else if (ev.key === "r" || ev.key === "R") $("reset").click();
    else if (ev.key === "p" || ev.key === "P") $("present").click();
  });
  // redraw whenever a canvas changes size (the window, or the layout around it, e.g. when a
  // scroll bar appears)
  let frame = 0;
  const redraw = new ResizeObserver(() => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(drawAll);
  });
  for (const id of ["plane", "net", "loss-chart", "acc-chart"]) redraw.observe($(id));
  // leaving (a reload, a link, a closed tab): stop polling; back from the cache: poll again
  window.addEventListener("pagehide", () => { lab.leaving = true; clearTimeout(lab.pollTimer); });
  window.addEventListener("pageshow", (ev) => { if (ev.persisted) { lab.leaving = false; poll(); } });
  poll();
}

document.addEventListener("DOMContentLoaded", start);
