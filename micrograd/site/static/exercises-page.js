// The site's exercises: the same checks and the same feedback as `micrograd exercises check`,
// run by the checker itself in the worker. The learner's code and which exercises pass live in
// this browser's localStorage (STORE); nothing leaves the page.
import { EngineClient, showState } from "./engine-client.js";

const STORE = "micrograd-site:exercises";
const TIME_LIMIT_S = 20;          // the checker's default --timeout
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

let timer = null;
async function check() {
  if (!current || !$("stop").hidden) return;
  const name = current;
  $("check").disabled = true;
  $("stop").hidden = false;
  $("verdict").textContent = "checking…";
  $("verdict").className = "";
  await engine.ready.catch(() => {});
  // A loop that never ends is stopped the way the command line stops it: after the time limit.
  timer = setTimeout(() => engine.restart(
    `stopped after ${TIME_LIMIT_S} seconds: your code did not finish. Does a loop never end?`),
    TIME_LIMIT_S * 1000);
  try {
    const r = await engine.call("check", { name, code: $("code").value });
    saved[name] = { code: $("code").value, passed: r.passed };
    save();
    $("feedback").textContent = r.feedback;
    $("verdict").textContent = r.passed ? "every check passes" : "not yet";
    $("verdict").className = r.passed ? "pass" : "fail";
    $("printed").textContent = r.output;
    $("printed-box").hidden = !r.output;
  } catch (e) {
    $("feedback").textContent = e.message;
    $("verdict").textContent = "stopped";
    $("verdict").className = "fail";
  } finally {
    clearTimeout(timer);
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
