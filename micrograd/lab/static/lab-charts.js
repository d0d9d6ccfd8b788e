// The lab's pictures on canvases: the plane with its data and decision boundary, the loss and
// accuracy curves, each hidden neuron over the plane (heat maps from the server's bytes).
import { $, el, rgb } from "./ui.js";
import { lab, COLORS, TRAIN, TEST } from "./lab-api.js";

// ---------------------------------------------------------------------------------------------
// Heat maps: bytes 0..255 from the server, painted into small images, drawn scaled up
// ---------------------------------------------------------------------------------------------
function bytes(b64) {
  const s = atob(b64), out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

export function image(n, paint) {
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

export function diverging(v) {             // -1 orange, 0 white, +1 blue
  const t = Math.abs(v);
  return mix(v < 0 ? COLORS[0] : COLORS[1], 0.9 * t);
}

export function decodeView(v) {
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
export function fit(canvas) {              // match the backing store to the CSS size and the screen
  const r = canvas.getBoundingClientRect(), k = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(r.width * k)), h = Math.max(1, Math.round(r.height * k));
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  const g = canvas.getContext("2d");
  g.setTransform(k, 0, 0, k, 0, 0);
  return [g, r.width, r.height];
}

// Text drawn into a canvas: its CSS size, or 20 px and more in presentation mode.
export function fontScale(px) {
  const big = parseFloat(getComputedStyle(document.body).getPropertyValue("--chart-font"));
  return big > px ? big / px : 1;
}

export function toPixel(x, y, w, h) {
  const [x0, x1, y0, y1] = lab.data.bounds;
  return [(x - x0) / (x1 - x0) * w, (y1 - y) / (y1 - y0) * h];
}

export function toData(px, py, w, h) {
  const [x0, x1, y0, y1] = lab.data.bounds;
  return [x0 + px / w * (x1 - x0), y1 - py / h * (y1 - y0)];
}

export function drawPlane() {
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

export function drawCurves() {
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

export function renderNeurons() {
  const box = $("neurons"), net = lab.view.network;
  box.replaceChildren();
  let k = 0;
  for (let l = 1; l < net.sizes.length - 1; l++) {
    const row = el("div", "neuron-row");
    row.append(el("span", "row-name", `hidden ${l} (${net.activations[l - 1]})`));
    for (let j = 0; j < net.sizes[l]; j++, k++) {
      const c = lab.view.neuronImages[k];
      c.className = "neuron";
      const [lo, hi] = lab.view.neurons.maps[k].range;
      c.title = `h${l}.${j + 1}: from ${lo.toFixed(3)} to ${hi.toFixed(3)} over the plane`;
      row.append(c);
    }
    box.append(row);
  }
  if (k === 0) box.append(el("p", "hint", "no hidden neurons: add a layer"));
}

