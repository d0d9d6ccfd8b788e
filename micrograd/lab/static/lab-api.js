// The lab page's state and how it talks to the server. Python trains (micrograd.lab.session);
// the page draws what it publishes: every number shown comes from the server, nothing here
// computes the network, and all text from the server is set with textContent, never as markup.
import { $, fetchJSON, pageToken } from "./ui.js";

export const TOKEN = pageToken();
export const COLORS = [[245, 147, 34], [8, 119, 189], [60, 160, 90]];     // class 0, 1, 2
export const POS = "#6a3d9a", NEG = "#c2185b";  // a weight's sign: never a class's colour
export const TRAIN = "#333333", TEST = "#9a6fb0";                         // the curves
export const REFRESH_STEPS = 10, REFRESH_MS = 1500;   // the inspected point follows training
export const SPEEDS = [1, 3, 10, 30, 100, 0];                     // steps per second; 0 = max
export const ENDED = ["done", "diverged", "error"];

export const lab = {
  run: null, since: 0, have: null, step: 0, steps: 0, status: "", playing: false,
  settings: null, data: null, view: null, reproduce: null,
  curves: {loss: [], accuracy: [], test_loss: [], test_accuracy: []},
  selected: null, point: null, edges: "weights", pollTimer: null, busy: false, pending: 0,
  changes: 0, present: false, wanted: null, inspecting: false, inspectedAt: 0,
};
window.lab = lab;           // for the curious (and the tests): the state as the page sees it

// A request to the lab (the static site's lab answers its /api/ paths from its worker).
export const api = (method, path, body, raw) => fetchJSON(method, path, {body, raw, token: TOKEN});

let messageTimer = null;
export function say(text, kind) {
  const m = $("message");
  m.textContent = text;
  m.className = kind || "error";
  m.hidden = false;
  clearTimeout(messageTimer);
  messageTimer = setTimeout(() => { m.hidden = true; }, 9000);
}

// Requests that change something run one after another, in the order of the clicks; each

// Requests that change something run one after another, in the order of the clicks; each
// shows its error, if any, then the page refreshes at once (onSettled says how: lab.js polls).
let queue = Promise.resolve(), settled = () => {};
export function onSettled(f) { settled = f; }
export function act(fn) {
  queue = queue.then(async () => {
    try {
      await fn();
      $("message").hidden = true;
    } catch (e) {
      say(e.message);
    }
    settled();
  });
  return queue;
}
