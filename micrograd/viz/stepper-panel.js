// The stepper's panel: what the current step does, in words and numbers, and the lecture's
// check (nudge a leaf by h, rise over run) beside backprop's grad for every leaf.
import { $, el, fetchJSON, onceAFrame, pageToken } from "./ui.js";

// Served by the lab (/stepper/<id>?token=...), a check left pending is computed when the
// learner clicks its row: one leaf, one request to the lab's /api/check.
const SERVED = /^https?:$/.test(location.protocol) && /^\/stepper\/[\w-]+$/.test(location.pathname);

// ---- the explanation of the current step ----
const line = (parent, cls, text) => parent.appendChild(el("div", cls, text));
const para = (parent, text, cls) => parent.appendChild(el("p", cls, text));

export function explain(D, st) {
  const box = $("explain"), root = D.rootName, S = D.steps.length, pos = st.pos;
  const cur = pos > 0 ? D.steps[pos - 1] : null;
  box.textContent = "";
  if (!cur) {
    line(box, "step-kicker", "before backward()");
    box.append(el("h2", null, "The forward pass is done"));
    para(box, `Every node shows its data. Every grad is 0: nothing is known yet about how ${root} ` +
      "depends on the other nodes.");
    para(box, "Press Step (or →) to run backward() one node at a time, in reverse " +
      "topological order: a node passes its gradient back only after every node that " +
      "uses it has passed back theirs.");
    para(box, `${S} steps: the seed at ${root}, then one chain-rule step for each of the ` +
      `${S - 1} nodes made by an operation.`, "note");
    return;
  }
  line(box, "step-kicker", `step ${pos} of ${S}`);
  if (cur.kind === "seed") {
    box.append(el("h2", null, `Start at the output: ${root}`));
    para(box, `How does ${root} change when ${root} changes? One for one: ∂${root}/∂${root} = 1.`);
    line(box, "formula big", `${root}.grad = 1  →  ${root}.grad = ${cur.terms[0].after}`);
    para(box, "(backward() first sets every other node's grad to 0, then seeds the output " +
      "with 1.)", "note");
    return;
  }
  const me = D.nodes[cur.node].ref;
  const h2 = el("h2", null, `Node ${D.nodes[cur.node].name}  `);
  h2.append(el("span", "pill", cur.op));
  box.append(h2);
  line(box, "formula", `${cur.forward}  =  ${D.nodes[cur.node].data}`);
  para(box, `${me}.grad = ${cur.outGrad} is now complete: it is ∂${root}/∂${me}, summed over ` +
    `every node that uses ${me}, and all of them came earlier.`);
  para(box, `Local derivative of each input, then the chain rule: input.grad += ∂${me}` +
    `/∂input × ${me}.grad.`);
  for (const t of cur.terms) {
    const who = D.nodes[t.child].ref, term = el("div", "term");
    term.append(el("div", "who", D.nodes[t.child].name));
    line(term, "formula", `∂${me}/∂${who} = ${t.formula ? t.formula + " = " : ""}${t.local}`);
    line(term, "formula", `${who}.grad += ${t.local} × ${cur.outGrad} = ${t.product}`);
    line(term, "formula", `${who}.grad: ${t.before}  →  ${t.after}`);
    box.append(term);
  }
  if (pos === S) {
    para(box, "Done: every grad is filled in, and these are exactly the numbers backward() " +
      "computes. Compare them with the nudge check below.", "note");
  }
}

// ---- the check table ----
// One row per leaf. A big graph's page (data.windowed) keeps only the rows near the table's
// scrolled view in the document: the table is moved down by the rows above them, and a
// spacer below it stands for the rows after them.
export function makeChecks(D, st, onRow) {
  const body = $("check-body"), scroller = $("check-scroll");
  const rows = D.checks.map((c) => ({c, tr: null}));
  const of = {};                        // leaf -> its row's record
  rows.forEach((r) => { of[r.c.node] = r; });
  $("check-intro").textContent =
    `The lecture's check: nudge one leaf by h = ${D.h}, run the forward pass again, and see ` +
    `how much ${D.rootName} moves: (${D.rootName}(x+h) − ${D.rootName}(x−h)) / 2h. Each leaf ` +
    "gets a ✓ once backprop has filled in its grad and the two agree." +
    (D.pendingChecks ? ` This graph is deep: ${D.pendingChecks} leaves farthest from ` +
      `${D.rootName} were not nudged up front (…), to keep the page quick.` +
      (SERVED ? " Click one's row to nudge it." : "") : "");

  function build(r) {
    const c = r.c, n = D.nodes[c.node], name = n.label ? n.label : n.name;
    const tr = el("tr");
    tr.id = `check-${c.node}`;
    const who = el("td", null, name);
    who.title = name;
    r.num = el("td", "numeric", c.pending ? "…" : c.numeric);
    r.num.title = c.pending ? (SERVED ? "not computed yet (a deep graph): click to nudge this leaf"
      : "not computed: over the page's budget for checks (a deep graph)") : c.numericFull;
    if (r.asking) r.num.textContent = "checking…";
    if (r.failed) { r.num.textContent = "…"; r.num.title = r.failed; }
    r.bp = el("td", "backprop pending", D.zero);
    r.mark = el("td", "mark", "");
    tr.append(who, el("td", null, n.data), r.num, r.bp, r.mark);
    tr.addEventListener("click", () => { onRow(c.node); ask(r); });
    r.tr = tr;
    paint(r);
    return tr;
  }

  // A row as the state has it: backprop's grad so far, and a mark once the leaf's grad is final.
  function paint(r) {
    if (!r.tr) return;
    const i = r.c.node;
    r.bp.textContent = st.grad[i];
    r.bp.title = st.gradFull[i];
    let final = st.pos > r.c.lastStep;
    r.bp.classList.toggle("pending", !final);
    final = final && !r.c.pending;      // a check over the page's budget is not judged
    r.mark.textContent = final ? (r.c.ok ? "✓" : "✗") : "";
    r.mark.className = "mark" + (final ? (r.c.ok ? " ok" : " bad") : "");
    r.mark.title = final ? (r.c.ok ? "backprop and the nudge agree" :
      "they disagree (a kink such as relu at 0, or a function that is not smooth here)") : "";
  }

  async function ask(r) {
    if (!SERVED || !r.c.pending || r.asking) return;
    r.asking = true;
    r.failed = null;
    if (r.num) r.num.textContent = "checking…";
    try {
      const d = await fetchJSON("POST", "/api/check", {token: pageToken(), body: {
        stepper: decodeURIComponent(location.pathname.slice("/stepper/".length)),
        node: r.c.node}});
      Object.assign(r.c, {pending: false, ok: d.ok, numeric: d.numeric, numericFull: d.numericFull});
      if (r.num) { r.num.textContent = d.numeric; r.num.title = d.numericFull; }
    } catch (e) {
      r.failed = `the check failed: ${e.message}`;
      if (r.num) { r.num.textContent = "…"; r.num.title = r.failed; }
    } finally {
      r.asking = false;
    }
    paint(r);
  }

  // ---- windowed: the rows near the view ----
  let rowH = 0, first = 0, last = 0;
  const table = $("check-table"), after = el("div", "check-spacer");
  function scrolled() {
    if (!rowH) {                        // one row's height, measured once
      body.append(build(rows[0]));
      rowH = rows[0].tr.getBoundingClientRect().height || 25;
      rows[0].tr.remove();
      rows[0].tr = null;
      after.style.height = `${rows.length * rowH}px`;   // the scroller at its full height
    }
    const seen = Math.ceil(scroller.clientHeight / rowH) + 1;
    const from = Math.max(0, Math.floor(scroller.scrollTop / rowH) - seen);
    const to = Math.min(rows.length, from + 3 * seen);
    if (from === first && to === last) return;
    for (let k = first; k < last; k++) if (k < from || k >= to) { rows[k].tr.remove(); rows[k].tr = null; }
    const fresh = [];
    for (let k = from; k < to; k++) fresh.push(rows[k].tr || build(rows[k]));
    body.replaceChildren(...fresh);
    table.style.marginTop = `${from * rowH}px`;
    after.style.height = `${(rows.length - to) * rowH}px`;
    first = from;
    last = to;
  }
  if (D.windowed && rows.length) {
    scroller.append(after);
    scroller.addEventListener("scroll", onceAFrame(scrolled));
    scrolled();
  } else {
    for (const r of rows) body.append(build(r));
  }

  return {paint: (i) => { if (of[i]) paint(of[i]); }};
}
