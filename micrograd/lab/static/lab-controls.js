// The lab's controls: the settings panels, the run's buttons, and the link that holds every
// setting (the URL's hash), so that a shared link opens the same run with the same numbers.
import { $, duration, el } from "./ui.js";
import { lab, act, api, ENDED, SPEEDS } from "./lab-api.js";
import { drawAll } from "./lab-network.js";

// Settings change at once on the page (so that quick clicks build on each other), then on the
// server; if it refuses, the page forgets its run and reloads the server's state.
export function send(patch) {
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
export const control = (action) => act(() => api("POST", "/api/control",
  {action, speed: SPEEDS[+$("speed").value]}));
export function play() {                   // after the end of a run, Play starts it again from step 0
  if (ENDED.includes(lab.status)) { control("reset"); control("play"); }
  else control(lab.playing ? "pause" : "play");
}

export function renderSettings() {
  const s = lab.settings;
  for (const field of document.querySelectorAll("[data-setting]")) {
    if (field !== document.activeElement || field.tagName === "SELECT") field.value = s[field.dataset.setting];
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
    const row = el("div", "layer"), name = el("span", null, `hidden ${i + 1}`);
    const size = el("output", null, n);
    const button = (text, title, f) => {
      const b = el("button", null, text);
      b.type = "button";
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
  if (!s.layers.length) box.append(el("p", "hint", "no hidden layer: a linear model"));
}

export function number(field) {               // what the page sends: the number, or the text to refuse
  const v = field.value.trim();
  return v === "" || isNaN(Number(v)) ? v : Number(v);
}

export function wireSettings() {
  for (const field of document.querySelectorAll("[data-setting]")) {
    field.addEventListener("change", () => {
      const key = field.dataset.setting;
      const patch = {[key]: field.tagName === "SELECT" ? field.value : number(field)};
      if (key === "dataset") {      // each dataset's own noise; three classes need a K-way loss
        patch.noise = lab.data.noise_defaults[field.value];
        const k = lab.data.dataset_classes[field.value];   // your points of a class it lacks go
        if (lab.settings.points.some((q) => q[2] >= k)) patch.points = lab.settings.points.filter((q) => q[2] < k);
        if (lab.data.dataset_classes[field.value] > 2 && ["hinge", "bce"].includes(lab.settings.loss))
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
    const label = el("label"), box = el("input");
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

export function renderRun(s) {
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
    text += ` · ${duration(s.step_seconds)}/step`;
    if (s.step_seconds > 0.5 && !lab.settings.compiled) text += " · try the compiled step";
  }
  status.textContent = text;
  status.className = s.status;
  $("step").disabled = ended;
  const c = lab.curves, last = (a) => a.length ? `${Math.round(a[a.length - 1] * 100)}%` : "–";
  $("acc-text").textContent = `training ${last(c.accuracy)} · test ${last(c.test_accuracy)}`;
}

export function renderReproduce() {
  const r = lab.reproduce;
  $("repro-python").textContent = r.python;
  $("repro-command").textContent = r.command ? r.command : `# no command line: ${r.note}`;
}

// ---------------------------------------------------------------------------------------------
// The link: every setting in the URL's hash, so that a shared link opens the same run
// ---------------------------------------------------------------------------------------------
export const LINKED = ["dataset", "noise", "samples", "test_fraction", "seed", "layers", "activation",
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

export function readLink() {               // the hash's settings, as the server takes them (it checks)
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

export function differences(want, have) {
  const patch = {};
  for (const k in want) if (JSON.stringify(want[k]) !== JSON.stringify(have[k])) patch[k] = want[k];
  return patch;
}

export function writeLink() {
  const text = linkText(lab.settings);
  if (location.hash.slice(1) !== text) history.replaceState(null, "", `#${text}`);
}

export function setPresent(on) {
  lab.present = on;
  document.body.classList.toggle("present", on);
  $("present").setAttribute("aria-pressed", String(on));
  if (lab.settings) writeLink();
  drawAll();
}

