// The site's stepper page: the lecture's graphs and a learner's own code, run by the real
// micrograd in the worker; the worker returns the stepper page Python writes (micrograd.viz.stepper),
// shown in a sandboxed iframe exactly as `write_stepper` would write it.
import { EngineClient, showState } from "./engine-client.js";

const $ = (id) => document.getElementById(id);
const engine = new EngineClient();
showState(engine, $("engine-status"));

const frame = $("stepper");
function show(html) {
  frame.srcdoc = html;
  frame.hidden = false;
  $("stepper-empty").hidden = true;
}
frame.hidden = true;

let busy = false;
function setBusy(on) {
  busy = on;
  $("run").disabled = on;
  $("stop").hidden = !on;
  for (const b of document.querySelectorAll("#lecture button")) b.disabled = on;
}

async function ask(kind, args) {
  setBusy(true);
  try {
    return await engine.call(kind, args);
  } finally {
    setBusy(false);
  }
}

function say(text, kind = "") {
  $("output").textContent = text;
  $("output").className = kind;
}

for (const button of document.querySelectorAll("#lecture button")) {
  button.addEventListener("click", async () => {
    try {
      const r = await ask("lecture", { name: button.dataset.graph });
      show(r.html);
      say(r.title);
    } catch (e) { say(e.message, "error"); }
  });
}

async function run() {
  if (busy) return;
  say(engine.state.ready ? "running…" : "running (Python is still loading)…");
  try {
    const r = await ask("run", { code: $("code").value });
    const parts = [];
    if (r.output) parts.push(r.output.replace(/\n$/, ""));
    if (r.error) parts.push(r.error);
    if (r.note) parts.push(r.note);
    say(parts.join("\n") || "done", r.error ? "error" : "");
    const select = $("values");
    select.replaceChildren(...r.values.map((v) => {
      const o = document.createElement("option");
      o.value = v.name;
      o.textContent = `${v.name} (${v.nodes} node${v.nodes === 1 ? "" : "s"})`;
      o.selected = v.name === r.chosen;
      return o;
    }));
    $("values-label").hidden = r.values.length === 0;
    if (r.html) show(r.html);
  } catch (e) { say(e.message, "error"); }
}

$("run").addEventListener("click", run);
$("code").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); run(); }
});
$("stop").addEventListener("click", () => {
  engine.restart("stopped: your code was still running (Python restarted)");
});
$("values").addEventListener("change", async () => {
  try {
    show((await ask("value", { name: $("values").value })).html);
  } catch (e) { say(e.message, "error"); }
});
