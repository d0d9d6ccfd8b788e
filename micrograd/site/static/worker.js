// The site's Web Worker: Pyodide (CPython in WebAssembly) with this package's own wheel, answering
// the pages' requests. Every request is {id, kind, args}; every answer {id, ok, result | error}.
// Python does the work (micrograd.site.worker_api.handle); this file only carries messages.
import { loadPyodide } from "./pyodide/pyodide.mjs";

const here = (path) => new URL(path, import.meta.url).href;

async function start() {
  const began = performance.now();
  postMessage({ status: "loading Python (Pyodide)…" });
  const site = await (await fetch(here("./site.json"))).json();
  const [pyodide, wheel] = await Promise.all([
    loadPyodide({ indexURL: here("./pyodide/"), stdout: () => {}, stderr: () => {} }),
    fetch(here("./" + site.wheel)).then((r) => {
      if (!r.ok) throw new Error(`${site.wheel}: HTTP ${r.status}`);
      return r.arrayBuffer();
    }),
  ]);
  postMessage({ status: "loading micrograd…" });
  const purelib = pyodide.runPython("import sysconfig; sysconfig.get_path('purelib')");
  pyodide.unpackArchive(wheel, "wheel", { extractDir: purelib });
  const api = pyodide.pyimport("micrograd.site.worker_api");
  postMessage({ ready: true, seconds: (performance.now() - began) / 1000,
                micrograd: site.micrograd, pyodide: site.pyodide });
  return api;
}

// The lab trains inside this worker, a moment at a time: lab_advance() runs whole steps for
// about 50 ms and says when it wants to run again (at once, after the play speed's pause, or
// not until the next request). Between two moments the worker answers the page, so Pause and
// Reset act after the step under way. No stack switching (JSPI) is needed: any browser will do.
let timer = null;
function advanceLab(api) {
  clearTimeout(timer);
  timer = null;
  const ms = api.lab_advance();
  if (ms !== undefined && ms !== null) timer = setTimeout(() => advanceLab(api), ms);
}

const ready = start();
ready.catch((e) => postMessage({ failed: `could not start Python: ${e.message || e}` }));

self.onmessage = async (event) => {
  const { id, kind, args } = event.data;
  let api;
  try {
    api = await ready;
  } catch (e) {
    postMessage({ id, ok: false, error: `Python did not start: ${e.message || e}` });
    return;
  }
  const reply = JSON.parse(api.handle(kind, JSON.stringify(args || {})));
  postMessage({ id, ...reply });
  if (kind === "lab") {                     // after the answer: the training may go on
    clearTimeout(timer);
    timer = setTimeout(() => advanceLab(api), 0);
  }
};
