// The engine client: how a page of the site talks to micrograd. Here micrograd runs in Pyodide in
// a Web Worker (worker.js); a page calls `engine.call(kind, args)` and gets a Promise of the
// result, or an Error with a one-line message. `restart()` ends the worker (a loop that never
// ends in a learner's code) and starts a fresh one; pending calls fail with the reason given.
export class EngineClient {
  constructor(url = new URL("./worker.js", import.meta.url)) {
    this.url = url;
    this.listeners = [];
    this.start();
  }

  start() {
    this.pending = new Map();
    this.nextId = 1;
    this.state = { ready: false, status: "starting Python…" };
    this.ready = new Promise((resolve, reject) => { this._ready = resolve; this._failed = reject; });
    this.ready.catch(() => {});
    this.worker = new Worker(this.url, { type: "module" });
    this.worker.onmessage = (e) => this._message(e.data);
    this.worker.onerror = (e) => this._fail(`the worker failed: ${e.message || "no message"}`);
    this._tell();
  }

  _message(m) {
    if (m.status) { this.state = { ready: false, status: m.status }; this._tell(); return; }
    if (m.ready) {
      this.state = { ready: true, status: "ready", seconds: m.seconds,
                     micrograd: m.micrograd, pyodide: m.pyodide };
      this._tell();
      this._ready(this.state);
      return;
    }
    if (m.failed) { this._fail(m.failed); return; }
    const call = this.pending.get(m.id);
    if (!call) return;
    this.pending.delete(m.id);
    if (m.ok) call.resolve(m.result); else call.reject(new Error(m.error));
  }

  _fail(message) {
    this.state = { ready: false, failed: true, status: message };
    this._tell();
    this._failed(new Error(message));
    for (const call of this.pending.values()) call.reject(new Error(message));
    this.pending.clear();
  }

  _tell() { for (const f of this.listeners) f(this.state); }

  onState(f) { this.listeners.push(f); f(this.state); }

  call(kind, args = {}) {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, kind, args });
    });
  }

  restart(reason) {
    this.worker.terminate();
    for (const call of this.pending.values()) call.reject(new Error(reason));
    this.start();
  }
}

// The status line every page shows in its bar: Python loading, ready (and how long it took).
export function showState(engine, element) {
  engine.onState((s) => {
    element.textContent = s.ready
      ? `Python ready (${s.seconds.toFixed(1)} s) · micrograd ${s.micrograd}`
      : s.status;
    element.className = s.ready ? "ready" : s.failed ? "failed" : "loading";
  });
}
