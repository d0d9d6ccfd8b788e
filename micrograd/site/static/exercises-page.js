// The site's exercises: the same checks and the same feedback as `micrograd exercises check`,
// run by the checker itself in the worker. The learner's code and which exercises pass live in
// this browser's localStorage (STORE); nothing leaves the page.
import { EngineClient, showState } from "./engine-client.js";

const STORE = "micrograd-site:exercises";
// The checker's --timeout: 20 s by default, as on the command line; ?timeout=S sets it.
const asked = Number(new URLSearchParams(location.search).get("timeout"));
const TIME_LIMIT_S = asked > 0 ? asked : 20;
const $ = (id) => document.getElementById(id);
const engine = new EngineClient();
showState(engine, $("engine-status"));

function load() {
  try { return JSON.parse(localStorage.getItem(STORE)) || {}; } catch { return {}; }
}
const saved = load();
function save() {
  try { localStorage.setItem(STORE, JSON.stringify(saved)); } catch { /* full or disabled */ }
}

let exercises = [], current = null, starters = {};

function drawList() {
  $("exercise-list").replaceChildren(...exercises.map((ex) => {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.name = ex.name;
    b.textContent = ex.name;
    if (ex.name === current) b.setAttribute("aria-current", "true");
    const mark = document.createElement("span");
    mark.className = "mark";
    mark.textContent = saved[ex.name]?.passed ? "✓ passes" : saved[ex.name]?.code ? "started" : "";
    b.append(mark);
    b.addEventListener("click", () => open(ex.name));
    li.append(b);
    return li;
  }));
}

async function open(name) {
  current = name;
  const ex = exercises.find((e) => e.name === name);
  $("ex-name").textContent = name;
  $("ex-summary").textContent = ex.summary;
  $("verdict").textContent = "";
  $("feedback").textContent = "Fill in the TODOs, then press Check.";
  $("printed-box").hidden = true;
  drawList();
  if (!saved[name]?.code) {
    starters[name] ??= (await engine.call("starter", { name })).code;
    saved[name] = { code: starters[name], passed: false };
    save();
  }
  $("code").value = saved[name].code;
  for (const id of ["code", "check", "start-over"]) $(id).disabled = false;
  localStorage.setItem(STORE + ":current", name);
}

$("code").addEventListener("input", () => {
  if (!current) return;
  saved[current] = { code: $("code").value, passed: false };
  save();
  drawList();
});

// The checks run one by one (check_begin, then check_step for each), so that when the time
// limit ends the worker the page knows which check was running, and check_report (in a fresh
// worker) words it as `micrograd exercises check` does.
let timer = null;
async function check() {
  if (!current || !$("stop").hidden) return;
  const name = current, code = $("code").value;
  const titles = exercises.find((e) => e.name === name).titles;
  $("check").disabled = true;
  $("stop").hidden = false;
  $("verdict").textContent = "checking…";
  $("verdict").className = "";
  await engine.ready.catch(() => {});
  const events = [];
  let output = "", timedOut = false;
  timer = setTimeout(() => {
    timedOut = true;
    engine.restart(`stopped after ${TIME_LIMIT_S} seconds`);
  }, TIME_LIMIT_S * 1000);
  try {
    try {
      const begun = await engine.call("check_begin", { name, code });
      events.push(...begun.events);
      output = begun.output;
      for (let i = 0; i < titles.length && !begun.events.length; i++) {
        events.push({ start: titles[i] });
        const step = await engine.call("check_step", { index: i });
        events.push(...step.events.slice(1));
        output = step.output;
      }
    } catch (e) {
      if (!timedOut) throw e;
    } finally {
      clearTimeout(timer);
    }
    const r = await engine.call("check_report", { name, events, output, timed_out: timedOut,
                                                  timeout: TIME_LIMIT_S });
    saved[name] = { code, passed: r.passed };
    save();
    $("feedback").textContent = r.feedback;
    $("verdict").textContent = r.passed ? "every check passes" : timedOut ? "stopped" : "not yet";
    $("verdict").className = r.passed ? "pass" : "fail";
    $("printed").textContent = r.output;
    $("printed-box").hidden = !r.output;
  } catch (e) {
    $("feedback").textContent = e.message;
    $("verdict").textContent = "stopped";
    $("verdict").className = "fail";
  } finally {
    $("check").disabled = false;
    $("stop").hidden = true;
    drawList();
  }
}

$("check").addEventListener("click", check);
$("code").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); check(); }
});
$("stop").addEventListener("click", () => engine.restart("stopped: you pressed Stop"));
$("start-over").addEventListener("click", async () => {
  if (!current) return;
  if ($("code").value !== (starters[current] ?? "") &&
      !confirm("Replace your code with the starter file? Your code will be gone.")) return;
  delete saved[current];
  save();
  await open(current);
});

engine.call("exercises").then((list) => {
  exercises = list;
  const last = localStorage.getItem(STORE + ":current");
  drawList();
  open(exercises.some((e) => e.name === last) ? last : exercises[0].name);
}).catch((e) => { $("feedback").textContent = e.message; });
