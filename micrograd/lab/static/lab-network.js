// The network picture: every neuron as its picture over the plane, every edge coloured by its
// weight's (or grad's) sign and as wide as its size; and drawAll, the page's three canvases.
import { $ } from "./ui.js";
import { lab, POS, NEG } from "./lab-api.js";
import { diverging, drawCurves, drawPlane, fit, fontScale, image } from "./lab-charts.js";

export function drawAll() {
  if (!lab.view || !lab.data) return;
  drawPlane();
  drawNetwork();
  drawCurves();
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

export function drawNetwork() {
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

