// micrograd's backprop stepper: backward() one node at a time. Everything it shows comes from
// the JSON block Python wrote (micrograd.viz.stepper); every piece of text is set with
// textContent (never as markup), so labels cannot inject HTML or script. This is the page's
// entry module: the picture is stepper-graph.js, the panel stepper-panel.js, the fitting to
// the window stepper-size.js, the shared helpers ui.js (inlined into the page by
// micrograd.viz.web, so that the page stands alone).
import { $ } from "./ui.js";
import { makeGraph } from "./stepper-graph.js";
import { explain, makeChecks } from "./stepper-panel.js";
import { makeSize } from "./stepper-size.js";

const D = JSON.parse($("stepper-data").textContent);
const N = D.nodes.length, S = D.steps.length;

// ---- the state: pos = how many steps have been applied ----
const st = {pos: 0, grad: new Array(N).fill(D.zero), gradFull: new Array(N).fill("0.0"),
  hits: new Uint32Array(N), stepOf: {}};
D.steps.forEach((s, k) => {              // node -> the step that processes it
  if (s.kind === "chain" || st.stepOf[s.node] === undefined) st.stepOf[s.node] = k;
});

// A Step redraws only what it changes: the nodes of the steps applied or undone, and of the
// step highlighted before and after (so a Step costs the same on 10 nodes or 100,000).
let dirty = new Set();
function touchStep(k) {
  if (k < 0 || k >= S) return;
  const s = D.steps[k];
  dirty.add(s.node);
  for (const t of s.terms) dirty.add(t.child);
}

const graph = makeGraph(D, $("graph"), st, (i) => {   // a leaf has no step: point it out
  if (st.stepOf[i] !== undefined) goto(st.stepOf[i] + 1); else spotlight(i);
});
const checks = makeChecks(D, st, (i) => spotlight(i));
const size = makeSize(D, $("graph"), graph, () => st.pos > 0 ? D.steps[st.pos - 1].node : D.root);

// ---- stepping ----
function apply(k) {
  touchStep(k);
  for (const t of D.steps[k].terms) {
    st.grad[t.child] = t.after; st.gradFull[t.child] = t.afterFull; st.hits[t.child] += 1;
  }
}
function undo(k) {
  touchStep(k);
  const terms = D.steps[k].terms;
  for (let j = terms.length - 1; j >= 0; j--) {
    const t = terms[j];
    st.grad[t.child] = t.before; st.gradFull[t.child] = t.beforeFull; st.hits[t.child] -= 1;
  }
}
function goto(p) {
  p = Math.max(0, Math.min(S, p | 0));
  touchStep(st.pos - 1);                 // the step highlighted until now
  while (st.pos < p) { apply(st.pos); st.pos += 1; }
  while (st.pos > p) { st.pos -= 1; undo(st.pos); }
  touchStep(st.pos - 1);                 // the step highlighted from now on
  render(true);
}
const step = () => { if (st.pos < S) goto(st.pos + 1); else stopPlay(); };
const back = () => { stopPlay(); if (st.pos > 0) goto(st.pos - 1); };
const reset = () => { stopPlay(); goto(0); };
const toEnd = () => { stopPlay(); goto(S); };

let timer = null;
function play() {
  if (timer) { stopPlay(); return; }
  if (st.pos >= S) goto(0);
  $("play").textContent = "‖ Pause";
  $("play").classList.add("playing");
  timer = setInterval(() => { if (st.pos >= S) stopPlay(); else step(); }, parseInt($("speed").value, 10));
}
function stopPlay() {
  if (timer) clearInterval(timer);
  timer = null;
  $("play").textContent = "▶ Play";
  $("play").classList.remove("playing");
}

// ---- drawing the state: only the nodes (and check rows) the last move touched ----
function render(scroll) {
  const todo = dirty;
  dirty = new Set();
  for (const i of todo) { graph.paint(i); checks.paint(i); }
  $("counter").textContent = `step ${st.pos} / ${S}`;
  $("back").disabled = st.pos === 0;
  $("reset").disabled = st.pos === 0;
  $("step").disabled = st.pos === S;
  $("end").disabled = st.pos === S;
  explain(D, st);
  if (scroll && st.pos > 0) size.reveal(D.steps[st.pos - 1].node);
}

function spotlight(i) {
  size.reveal(i);
  const v = graph.views[i];
  if (!v) return;
  v.g.classList.add("spot");
  setTimeout(() => v.g.classList.remove("spot"), 1200);
}

// ---- wiring ----
$("title").textContent = D.title;
document.title = `${D.title} · micrograd stepper`;
$("step").addEventListener("click", () => { stopPlay(); step(); });
$("back").addEventListener("click", back);
$("reset").addEventListener("click", reset);
$("play").addEventListener("click", play);
$("end").addEventListener("click", toEnd);
$("zoom-in").addEventListener("click", size.zoomIn);
$("zoom-out").addEventListener("click", size.zoomOut);
$("zoom-fit").addEventListener("click", size.fit);
$("speed").addEventListener("change", () => { if (timer) { stopPlay(); play(); } });
document.addEventListener("keydown", (e) => {
  if (e.altKey || e.ctrlKey || e.metaKey) return;
  const tag = (e.target && e.target.tagName) || "";
  if (tag === "SELECT" || tag === "INPUT" || tag === "TEXTAREA") return;
  const k = e.key;
  let handled = true;
  if (k === "ArrowRight" || k === " " || k === "n" || k === "N") { stopPlay(); step(); }
  else if (k === "ArrowLeft" || k === "b" || k === "B") back();
  else if (k === "p" || k === "P") play();
  else if (k === "r" || k === "R" || k === "Home") reset();
  else if (k === "End") toEnd();
  else if (k === "+" || k === "=") size.zoomIn();
  else if (k === "-" || k === "_") size.zoomOut();
  else if (k === "0") size.fit();
  else handled = false;
  if (handled) e.preventDefault();
});
size.start();
render(false);
size.reveal(D.root, true);
size.postHeight();
// for tests and the curious: read-only views of the state
window.microgradStepper = {
  get pos() { return st.pos; }, steps: S, nodes: N,
  grads: () => st.grad.slice(),
  scale: size.scale,
  drawn: graph.drawn,                    // how many nodes are in the document
  contentHeight: size.contentHeight,     // what an embedder sizes its iframe to
};
