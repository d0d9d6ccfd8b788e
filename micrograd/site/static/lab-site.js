// The lab's page (micrograd/lab/static, as `micrograd lab` serves it) in the static site: its
// requests to /api/... go to micrograd in the worker instead of the lab's server. This is the
// engine-client seam: fetch() for those paths is answered by the worker, with the same JSON and
// status codes as micrograd.lab.server; the save link and a point's stepper link, which the lab
// opens from its server, are made here from the worker's answers.
import { EngineClient } from "./engine-client.js";

const engine = new EngineClient();
window.micrograd_engine = engine;           // for the tests: the engine's state
const realFetch = window.fetch.bind(window);

async function ask(method, url, body) {
  const u = new URL(url, location.href);
  const query = Object.fromEntries(u.searchParams);
  delete query.token;
  let doc = body;
  if (typeof body === "string" && u.pathname !== "/api/model") {
    try { doc = JSON.parse(body); } catch { doc = undefined; }
  }
  return engine.call("lab", { method, path: u.pathname, query, body: doc ?? null });
}

window.fetch = async (input, opts = {}) => {
  if (typeof input !== "string" || !input.startsWith("/api/")) return realFetch(input, opts);
  try {
    const r = await ask(opts.method || "GET", input, opts.body);
    return new Response(JSON.stringify(r.body), {
      status: r.status, headers: { "Content-Type": "application/json" } });
  } catch (e) {
    return new Response(JSON.stringify({ error: e.message }), {
      status: 500, headers: { "Content-Type": "application/json" } });
  }
};

// A point's stepper page (the lab's /stepper/ path), made by the worker: for the link above and
// for the lab's inline stepper, which shows it as its iframe's srcdoc.
async function stepperPage(href) {
  const r = await ask("GET", href);
  const escape = (t) => String(t).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return r.html ?? `<!doctype html><meta charset="utf-8"><p>${escape(r.body.error)}</p>`;
}
window.micrograd_stepper_page = stepperPage;

document.addEventListener("click", async (event) => {
  const link = event.target.closest && event.target.closest("a");
  if (!link) return;
  const href = link.getAttribute("href") || "";
  if (link.id === "save" && href.startsWith("/api/model")) {
    event.preventDefault();
    const r = await ask("GET", href);
    const blob = new Blob([JSON.stringify(r.body.document, null, 1) + "\n"],
                          { type: "application/json" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = r.body.name;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  } else if (href.startsWith("/stepper/")) {
    event.preventDefault();
    const win = window.open("", "_blank");       // now, while the click still counts
    const page = await stepperPage(href);
    const url = URL.createObjectURL(new Blob([page], { type: "text/html" }));
    if (win) win.location = url; else location.assign(url);
  }
}, true);
