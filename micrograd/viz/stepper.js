// micrograd backprop stepper. All data comes from the JSON block; every piece of text is
// set with textContent (never as markup), so labels cannot inject HTML or script.
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("stepper-data").textContent);
  var SVGNS = "http://www.w3.org/2000/svg";
  var N = D.nodes.length, S = D.steps.length;

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function sv(tag, attrs, text) {
    var e = document.createElementNS(SVGNS, tag);
    if (attrs) for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function name(i) { return D.nodes[i].name; }
  function ref(i) { return D.nodes[i].ref; }

  // ---- state: pos = how many steps have been applied ----
  var pos = 0;
  var grad = [], gradFull = [], hits = [];
  for (var i = 0; i < N; i++) { grad.push(D.zero); gradFull.push("0.0"); hits.push(0); }
  var stepOf = {};                       // node -> index of the step that processes it
  D.steps.forEach(function (s, k) { if (s.kind === "chain" || stepOf[s.node] === undefined) stepOf[s.node] = k; });
  // A Step redraws only what it changes: the nodes of the steps applied or undone, and of the
  // step highlighted before and after (so a Step costs the same on 10 nodes or 3,000).
  var dirty = [], isDirty = [];
  for (var d = 0; d < N; d++) { dirty.push(d); isDirty.push(true); }
  function touch(i) { if (!isDirty[i]) { isDirty[i] = true; dirty.push(i); } }
  function touchStep(k) {
    if (k < 0 || k >= S) return;
    var s = D.steps[k];
    touch(s.node);
    s.terms.forEach(function (t) { touch(t.child); });
  }

  // ---- the graph ----
  var svg = $("graph");
  var scale = 1;
  // Of the layout's 24 px side margins (MARGIN in stepper.py) 8 px stay in the picture: a
  // notebook's output (700 px wide in a 900 px window) then holds the neuron with 8 px text.
  var TRIM = 16;
  var W = D.width - 2 * TRIM;
  svg.setAttribute("viewBox", TRIM + " 0 " + W + " " + D.height);
  var defs = sv("defs");
  var marker = sv("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5",
                              markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" });
  marker.appendChild(sv("path", { d: "M0,1 L9,5 L0,9 z", fill: "#9aa6b4" }));
  defs.appendChild(marker);
  svg.appendChild(defs);
  var edgeLayer = sv("g", { "class": "edges" });
  var nodeLayer = sv("g", { "class": "nodes" });
  svg.appendChild(edgeLayer);
  svg.appendChild(nodeLayer);
  // Nodes and edges go into about sqrt(N) groups of about sqrt(N) (in order): when a Step
  // changes a card the browser re-measures its group and the groups, not every element of a
  // 3,000-node graph (a Step's layout and style work drop three- to five-fold at 3,000).
  var CHUNK = Math.max(32, Math.ceil(Math.sqrt(N)));
  function chunk(layer, i) {
    var k = Math.floor(i / CHUNK), parts = layer.parts || (layer.parts = []);
    if (!parts[k]) { parts[k] = sv("g"); layer.appendChild(parts[k]); }
    return parts[k];
  }

  var views = [];                        // per node: {g, grad, gradbg, op, edges: []}
  D.nodes.forEach(function (n, i) {
    var v = { edges: [], op: null };
    var cy = n.y + n.h / 2;
    if (n.op) {
      var ox = n.x - 18 - n.opw;         // the op pill sits left of its value's card
      var og = sv("g", { "class": "op" });
      og.appendChild(sv("rect", { x: ox, y: cy - 12, width: n.opw, height: 24, rx: 12 }));
      og.appendChild(sv("text", { x: ox + n.opw / 2, y: cy + 4.5, "text-anchor": "middle" }, n.op));
      chunk(edgeLayer, i).appendChild(sv("line", { "class": "link", x1: ox + n.opw, y1: cy,
                                                   x2: n.x - 1, y2: cy, "marker-end": "url(#arrow)" }));
      chunk(nodeLayer, i).appendChild(og);
      v.op = og;
      var count = {};
      n.kids.forEach(function (c, slot) {
        var k = D.nodes[c];
        var x1 = k.x + k.w, y1 = k.y + k.h / 2;
        var seen = count[c] || 0; count[c] = seen + 1;
        var x2 = ox, y2 = cy + (seen ? 6 * seen : 0) - (n.kids.length > 1 ? 0 : 0);
        var dx = Math.max(24, (x2 - x1) / 2);
        var p = sv("path", { "class": "edge", d: "M" + x1 + "," + y1 + " C" + (x1 + dx) + "," + y1 + " " +
                             (x2 - dx) + "," + y2 + " " + x2 + "," + y2 });
        chunk(edgeLayer, i).appendChild(p);
        v.edges.push(p);
      });
    }
    var cls = "node" + (n.leaf ? " leaf" : "") + (i === D.root ? " root" : "");
    var g = sv("g", { "class": cls, id: "node-" + i, "data-node": String(i),
                      transform: "translate(" + n.x + "," + n.y + ")" });
    var tip = sv("title");
    g.appendChild(tip);
    g.appendChild(sv("rect", { "class": "card", width: n.w, height: n.h, rx: 8 }));
    // the card's head: its top 22 px, rounded as the card (a path, not a clip per node)
    g.appendChild(sv("path", { "class": "head", d: "M0,22 V8 A8,8 0 0 1 8,0 H" + (n.w - 8) +
                               " A8,8 0 0 1 " + n.w + ",8 V22 Z" }));
    var label = sv("text", { "class": "label" + (n.label ? "" : " anon"), x: n.w / 2, y: 15.5,
                             "text-anchor": "middle" }, n.label ? n.label : n.name);
    g.appendChild(label);
    g.appendChild(sv("text", { "class": "value", x: 10, y: 39 }, "data " + n.data));
    var gradbg = sv("rect", { "class": "gradbg", x: 4, y: 44, width: n.w - 8, height: 15, rx: 3 });
    g.appendChild(gradbg);
    var gt = sv("text", { "class": "grad", x: 10, y: 55.5 }, "grad " + D.zero);
    g.appendChild(gt);
    g.addEventListener("click", function () {      // a leaf has no step: just point it out
      if (stepOf[i] !== undefined) goto(stepOf[i] + 1); else spotlight(i);
    });
    chunk(nodeLayer, i).appendChild(g);
    v.g = g; v.grad = gt; v.gradbg = gradbg; v.tip = tip; v.label = label;
    views.push(v);
  });

  // shorten labels that do not fit their card (the full text stays in the tooltip)
  function fitLabels() {
    D.nodes.forEach(function (n, i) {
      var t = views[i].label, full = n.name;
      if (full.length * 8.6 + 26 <= n.w) return;      // sized for it in Python (generously)
      try {
        if (t.getComputedTextLength() <= n.w - 12) return;
        var lo = 1, hi = full.length;
        while (lo < hi) {
          var mid = (lo + hi + 1) >> 1;
          t.textContent = full.slice(0, mid) + "…";
          if (t.getComputedTextLength() <= n.w - 12) lo = mid; else hi = mid - 1;
        }
        t.textContent = full.slice(0, lo) + "…";
      } catch (e) { /* not rendered yet */ }
    });
  }

  // ---- the nudge check ----
  var SERVED = /^https?:$/.test(location.protocol) && /^\/stepper\/[\w-]+$/.test(location.pathname);
  var checkOf = {};                      // leaf -> its row in the table
  $("check-intro").textContent =
    "The lecture's check: nudge one leaf by h = " + D.h + ", run the forward pass again, and " +
    "see how much " + D.rootName + " moves: (" + D.rootName + "(x+h) − " + D.rootName +
    "(x−h)) / 2h. Each leaf gets a ✓ once backprop has filled in its grad and the two agree." +
    (D.pendingChecks ? " This graph is deep: " + D.pendingChecks + " leaves farthest from " +
     D.rootName + " were not nudged up front (…), to keep the page quick." +
     (SERVED ? " Click one's row to nudge it." : "") : "");
  D.checks.forEach(function (c) {
    var tr = el("tr");
    tr.id = "check-" + c.node;
    var n = D.nodes[c.node];
    var who = el("td", null, n.label ? n.label : n.name);
    who.title = n.label ? n.label : n.name;
    tr.appendChild(who);
    tr.appendChild(el("td", null, n.data));
    var num = el("td", "numeric", c.pending ? "…" : c.numeric);
    num.title = c.pending ? (SERVED ? "not computed yet (a deep graph): click to nudge this leaf"
                                    : "not computed: over the page's budget for checks (a deep graph)")
                          : c.numericFull;
    tr.appendChild(num);
    var bp = el("td", "backprop pending", D.zero);
    tr.appendChild(bp);
    var mark = el("td", "mark", "");
    tr.appendChild(mark);
    checkOf[c.node] = { c: c, bp: bp, mark: mark, num: num };
    tr.addEventListener("click", function () { spotlight(c.node); askCheck(checkOf[c.node]); });
    $("check-body").appendChild(tr);
  });

  // Served by the lab (/stepper/<id>?token=...), a check left pending is computed when the
  // learner clicks its row: one leaf, one request to the lab's /api/check.
  function askCheck(r) {
    if (!SERVED || !r.c.pending || r.asking) return;
    r.asking = true;
    r.num.textContent = "checking…";
    var token = new URLSearchParams(location.search).get("token") || "";
    fetch("/api/check", { method: "POST", body: JSON.stringify({
        stepper: decodeURIComponent(location.pathname.slice("/stepper/".length)), node: r.c.node }),
      headers: { "Content-Type": "application/json", "X-Lab-Token": token } })
      .then(function (res) {
        return res.json().then(function (d) { if (!res.ok) throw new Error(d.error || res.status); return d; });
      })
      .then(function (d) {
        r.c.pending = false; r.c.ok = d.ok; r.c.numeric = d.numeric;
        r.num.textContent = d.numeric;
        r.num.title = d.numericFull;
        renderCheck(r);
      })
      .catch(function (e) { r.num.textContent = "…"; r.num.title = "the check failed: " + e.message; })
      .then(function () { r.asking = false; });
  }

  // ---- stepping ----
  function apply(k) {
    touchStep(k);
    D.steps[k].terms.forEach(function (t) {
      grad[t.child] = t.after; gradFull[t.child] = t.afterFull; hits[t.child] += 1;
    });
  }
  function undo(k) {
    touchStep(k);
    var terms = D.steps[k].terms;
    for (var j = terms.length - 1; j >= 0; j--) {
      var t = terms[j];
      grad[t.child] = t.before; gradFull[t.child] = t.beforeFull; hits[t.child] -= 1;
    }
  }
  function goto(p) {
    p = Math.max(0, Math.min(S, p | 0));
    touchStep(pos - 1);                  // the step highlighted until now
    while (pos < p) { apply(pos); pos += 1; }
    while (pos > p) { pos -= 1; undo(pos); }
    touchStep(pos - 1);                  // the step highlighted from now on
    render(true);
  }
  function step() { if (pos < S) goto(pos + 1); else stopPlay(); }
  function back() { stopPlay(); if (pos > 0) goto(pos - 1); }
  function reset() { stopPlay(); goto(0); }
  function toEnd() { stopPlay(); goto(S); }

  var timer = null;
  function play() {
    if (timer) { stopPlay(); return; }
    if (pos >= S) goto(0);
    $("play").textContent = "‖ Pause";
    $("play").classList.add("playing");
    timer = setInterval(function () { if (pos >= S) stopPlay(); else step(); },
                        parseInt($("speed").value, 10));
  }
  function stopPlay() {
    if (timer) clearInterval(timer);
    timer = null;
    $("play").textContent = "▶ Play";
    $("play").classList.remove("playing");
  }

  // ---- drawing the state ----
  function render(scroll) {
    var cur = pos > 0 ? D.steps[pos - 1] : null;
    var childSet = {}, updated = {};
    if (cur) cur.terms.forEach(function (t) { updated[t.child] = true; if (cur.kind === "chain") childSet[t.child] = true; });
    var todo = dirty;
    dirty = [];
    todo.forEach(function (i) {
      isDirty[i] = false;
      var v = views[i], g = v.g, n = D.nodes[i];
      v.grad.textContent = "grad " + grad[i];
      v.tip.textContent = n.name + (n.op ? "  (" + n.op + ")" : "  (leaf)") +
        "\ndata " + n.dataFull + "\ngrad " + gradFull[i];
      g.classList.toggle("has-grad", hits[i] > 0);
      g.classList.toggle("current", !!cur && cur.node === i);
      g.classList.toggle("child", !!childSet[i] && !(cur && cur.node === i));
      g.classList.toggle("updated", !!updated[i]);
      g.classList.toggle("done", stepOf[i] !== undefined && stepOf[i] < pos && n.op !== "");
      var active = !!cur && cur.kind === "chain" && cur.node === i;
      if (v.op) v.op.classList.toggle("active", active);
      v.edges.forEach(function (e) { e.classList.toggle("active", active); });
      if (checkOf[i]) renderCheck(checkOf[i]);
    });
    $("counter").textContent = "step " + pos + " / " + S;
    $("back").disabled = pos === 0;
    $("reset").disabled = pos === 0;
    $("step").disabled = pos === S;
    $("end").disabled = pos === S;
    explain(cur);
    if (scroll && cur) reveal(cur.node);
  }

  function renderCheck(r) {
    var i = r.c.node;
    r.bp.textContent = grad[i];
    r.bp.title = gradFull[i];
    var final = pos > r.c.lastStep;
    r.bp.classList.toggle("pending", !final);
    final = final && !r.c.pending;       // a check over the page's budget is not judged
    r.mark.textContent = final ? (r.c.ok ? "✓" : "✗") : "";
    r.mark.className = "mark" + (final ? (r.c.ok ? " ok" : " bad") : "");
    r.mark.title = final ? (r.c.ok ? "backprop and the nudge agree" :
      "they disagree (a kink such as relu at 0, or a function that is not smooth here)") : "";
  }

  function line(parent, cls, text) { var e = el("div", cls, text); parent.appendChild(e); return e; }
  function para(parent, text, cls) { var e = el("p", cls, text); parent.appendChild(e); return e; }

  function explain(cur) {
    var box = $("explain");
    box.textContent = "";
    var root = D.rootName;
    if (!cur) {
      line(box, "step-kicker", "before backward()");
      box.appendChild(el("h2", null, "The forward pass is done"));
      para(box, "Every node shows its data. Every grad is 0: nothing is known yet about how " +
           root + " depends on the other nodes.");
      para(box, "Press Step (or →) to run backward() one node at a time, in reverse " +
           "topological order: a node passes its gradient back only after every node that " +
           "uses it has passed back theirs.");
      para(box, S + " steps: the seed at " + root + ", then one chain-rule step for each of the " +
           (S - 1) + " nodes made by an operation.", "note");
      return;
    }
    var k = pos - 1;
    line(box, "step-kicker", "step " + pos + " of " + S);
    if (cur.kind === "seed") {
      box.appendChild(el("h2", null, "Start at the output: " + root));
      para(box, "How does " + root + " change when " + root + " changes? One for one: ∂" + root +
           "/∂" + root + " = 1.");
      line(box, "formula big", root + ".grad = 1  →  " + root + ".grad = " + cur.terms[0].after);
      para(box, "(backward() first sets every other node's grad to 0, then seeds the output " +
           "with 1.)", "note");
      return;
    }
    var me = ref(cur.node);
    var h2 = el("h2", null, "Node " + name(cur.node) + "  ");
    h2.appendChild(el("span", "pill", cur.op));
    box.appendChild(h2);
    line(box, "formula", cur.forward + "  =  " + D.nodes[cur.node].data);
    para(box, me + ".grad = " + cur.outGrad + " is now complete: it is ∂" + root + "/∂" + me +
         ", summed over every node that uses " + me + ", and all of them came earlier.");
    para(box, "Local derivative of each input, then the chain rule: input.grad += ∂" + me +
         "/∂input × " + me + ".grad.");
    cur.terms.forEach(function (t) {
      var who = ref(t.child);
      var term = el("div", "term");
      var head = el("div", "who", name(t.child));
      term.appendChild(head);
      var local = "∂" + me + "/∂" + who + " = " + (t.formula ? t.formula + " = " : "") + t.local;
      line(term, "formula", local);
      line(term, "formula", who + ".grad += " + t.local + " × " + cur.outGrad + " = " + t.product);
      line(term, "formula", who + ".grad: " + t.before + "  →  " + t.after);
      box.appendChild(term);
    });
    if (pos === S) {
      para(box, "Done: every grad is filled in, and these are exactly the numbers " +
           "backward() computes. Compare them with the nudge check below.", "note");
    }
  }

  // ---- moving around the graph ----
  function reveal(i, instant) {
    var pane = $("graph-pane");
    var r = views[i].g.getBoundingClientRect(), pr = pane.getBoundingClientRect();
    var margin = 40;
    if (r.left < pr.left + margin || r.right > pr.right - margin ||
        r.top < pr.top + margin || r.bottom > pr.bottom - margin) {
      pane.scrollBy({ left: (r.left + r.right) / 2 - (pr.left + pr.right) / 2,
                      top: (r.top + r.bottom) / 2 - (pr.top + pr.bottom) / 2,
                      behavior: instant ? "auto" : "smooth" });
    }
  }
  function spotlight(i) {
    reveal(i);
    var g = views[i].g;
    g.classList.add("spot");
    setTimeout(function () { g.classList.remove("spot"); }, 1200);
  }
  // ---- size: the page fits its window, or (narrow, or inside an iframe) its content ----
  // Standalone and wide, the page fills the window as an app does. In a window narrower than
  // NARROW px, or embedded in an iframe, it flows instead: the panel moves below the graph,
  // the graph pane is as tall as the zoomed graph (up to a cap), and the page's height is its
  // content's, which it posts to its parent ({type: "micrograd-stepper:height", height}) so
  // that an embedder can size the iframe to it.
  var NARROW = 1100, READABLE = 0.67;    // the smallest text is 12 px: 0.67 keeps it >= 8 px
  // Embedded in a narrow output (450 px: JupyterLab at 900 px with its file browser open),
  // the readable zoom shows only the part around the root: there the whole graph, from 0.4
  // (the + button zooms in), beats a part of it. From 0.5 (a 620 px classic output) the
  // readable zoom shows the root and most of the graph, the pane scrolling to the rest.
  var WHOLE = [0.4, 0.5];
  var embedded = (function () { try { return window.self !== window.top; } catch (e) { return true; } })();
  var flow = false, zoomedByHand = false;
  function paneCap() {                   // the tallest the graph pane gets in flow mode
    return embedded ? 720 : Math.max(320, window.innerHeight - 80);
  }
  function zoom(s) {
    scale = Math.max(0.02, Math.min(3, s));
    svg.setAttribute("width", String(Math.round(W * scale)));
    svg.setAttribute("height", String(Math.round(D.height * scale)));
    // in flow mode the pane is as tall as the graph; wide, the panel beside it scrolls
    var high = Math.min(paneCap(), Math.round(D.height * scale) + 24);
    var wide = window.innerWidth >= NARROW;
    $("graph-pane").style.height = flow && !wide ? high + "px" : "";
    document.querySelector("main").style.height = flow && wide ? Math.max(560, high) + "px" : "";
  }
  function fitScale() {                  // the whole graph in the pane, text as small as needed
    var pane = $("graph-pane");
    var high = flow ? paneCap() - 24 : pane.clientHeight - 8;
    return Math.min(1.5, (pane.clientWidth - 16) / W, high / D.height);
  }
  function fit() { zoomedByHand = false; zoom(fitScale()); }
  function byHand(s) { zoomedByHand = true; zoom(s); }
  function initialZoom() {               // the whole graph if its text stays readable, else
    var s = fitScale();                  // readable text around the root
    var whole = s >= READABLE || (embedded && s >= WHOLE[0] && s < WHOLE[1]);
    zoom(whole ? s : Math.max(READABLE, Math.min(0.85, s)));
  }
  function layoutMode() {
    flow = embedded || window.innerWidth < NARROW;
    document.documentElement.classList.toggle("flow", flow);
    document.documentElement.classList.toggle("embedded", embedded);
  }
  var lastHeight = 0;
  function contentHeight() { return Math.ceil(document.body.getBoundingClientRect().height); }
  function postHeight() {
    var h = contentHeight();
    if (!embedded || h === lastHeight) return;
    lastHeight = h;
    try { window.parent.postMessage({ type: "micrograd-stepper:height", height: h }, "*"); } catch (e) { /* no parent */ }
  }
  window.addEventListener("resize", function () {
    layoutMode();
    if (zoomedByHand) zoom(scale); else initialZoom();
    // keep the node in focus (the root before any step) in view, as it was on load
    reveal(pos > 0 ? D.steps[pos - 1].node : D.root, true);
    postHeight();
  });
  if (window.ResizeObserver) new ResizeObserver(postHeight).observe(document.body);

  // ---- wiring ----
  $("title").textContent = D.title;
  document.title = D.title + " · micrograd stepper";
  $("step").addEventListener("click", function () { stopPlay(); step(); });
  $("back").addEventListener("click", back);
  $("reset").addEventListener("click", reset);
  $("play").addEventListener("click", play);
  $("end").addEventListener("click", toEnd);
  $("zoom-in").addEventListener("click", function () { byHand(scale * 1.25); });
  $("zoom-out").addEventListener("click", function () { byHand(scale / 1.25); });
  $("zoom-fit").addEventListener("click", fit);
  $("speed").addEventListener("change", function () { if (timer) { stopPlay(); play(); } });
  document.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    var tag = (e.target && e.target.tagName) || "";
    if (tag === "SELECT" || tag === "INPUT" || tag === "TEXTAREA") return;
    var k = e.key, handled = true;
    if (k === "ArrowRight" || k === " " || k === "n" || k === "N") { stopPlay(); step(); }
    else if (k === "ArrowLeft" || k === "b" || k === "B") back();
    else if (k === "p" || k === "P") play();
    else if (k === "r" || k === "R" || k === "Home") reset();
    else if (k === "End") toEnd();
    else if (k === "+" || k === "=") byHand(scale * 1.25);
    else if (k === "-" || k === "_") byHand(scale / 1.25);
    else if (k === "0") fit();
    else handled = false;
    if (handled) e.preventDefault();
  });
  layoutMode();
  initialZoom();
  fitLabels();
  render(false);
  reveal(D.root, true);
  postHeight();
  // for tests and the curious: read-only views of the state
  window.microgradStepper = {
    get pos() { return pos; }, steps: S, nodes: N,
    grads: function () { return grad.slice(); },
    scale: function () { return scale; },
    contentHeight: contentHeight        // what an embedder sizes its iframe to
  };
})();
