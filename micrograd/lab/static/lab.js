// micrograd lab: the page's entry module. It asks the server for the state and hands it to the
// pictures (lab-charts.js, lab-network.js), the controls and the link (lab-controls.js) and the
// inspected point (lab-point.js); lab-api.js holds the state and the requests, ui.js what the
// lab and the stepper share.
import { $ } from "./ui.js";
import { lab, api, act, say, onSettled, COLORS, POS, NEG, SPEEDS } from "./lab-api.js";
import { decodeView, fontScale, renderNeurons, toPixel } from "./lab-charts.js";
import { drawAll } from "./lab-network.js";
import { differences, play, readLink, renderReproduce, renderRun, renderSettings, send,
  setPresent, wireSettings, writeLink, control, LINKED } from "./lab-controls.js";
import { clickPlane, followPoint, renderClasses, renderPoint } from "./lab-point.js";

// for the tests and the curious, beside the state: the colours, the canvases' text scale, and
// where a point of the plane is drawn
Object.assign(lab, {colors: {classes: COLORS, pos: POS, neg: NEG}, fontScale, toPixel});
onSettled(() => poll());                // after a change, the page asks for the state at once

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
