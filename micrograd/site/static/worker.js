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
  setUpLab(api);
  postMessage({ ready: true, seconds: (performance.now() - began) / 1000,
                micrograd: site.micrograd, pyodide: site.pyodide });
  return api;
}

// The lab trains inside this worker: fit's callback awaits `sleep` (a turn of the event loop
// after every step, so that requests are answered between steps) or, paused, `waitWake`, which
// the next request resolves. Pyodide's run_sync awaits them (JavaScript Promise Integration),
// which needs the trainer entered through callPromising.
let wakeUp = null, trainer = null;
function setUpLab(api) {
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
  const waitWake = () => new Promise((resolve) => { wakeUp = resolve; });
  try {
    api.lab_setup(sleep, waitWake);
  } catch (e) {
    // no JSPI in this browser: the lab then trains without pausing between steps
  }
}
function afterLabRequest(api) {
  if (wakeUp) { const w = wakeUp; wakeUp = null; w(); }
  if (trainer === null && api.lab_trainer_wanted()) {
    trainer = api.lab_train.callPromising().catch(() => {}).finally(() => {
      trainer = null;
      afterLabRequest(api);
    });
  }
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
  if (kind === "lab") afterLabRequest(api);
};
