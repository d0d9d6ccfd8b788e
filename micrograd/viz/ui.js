// What the stepper's page and the lab's page both use: elements, numbers, colours, JSON from a
// server, work once a frame. The lab loads this file as a module; the stepper gets it inlined
// by micrograd.viz.web (its page must stand alone). Text is only ever set with textContent.

export const $ = (id) => document.getElementById(id);

// An HTML element: el("td", "numeric", "0.5000"); cls and text may be null or left out.
export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

export const SVGNS = "http://www.w3.org/2000/svg";

// An SVG element with its attributes: svgEl("rect", {width: 10, height: 4}).
export function svgEl(tag, attrs, text) {
  const e = document.createElementNS(SVGNS, tag);
  if (attrs) for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

// A number as the pages show it: four decimals, as micrograd.viz.stepper's FMT (%.4f).
export const fixed = (x, digits = 4) => Number(x).toFixed(digits);

// A duration in seconds as a person reads it: "35 ms", "1.4 s".
export const duration = (s) => s < 0.1 ? `${Math.round(s * 1000)} ms` : `${s.toFixed(1)} s`;

// A colour [r, g, b] (0-255) as CSS.
export const rgb = (c) => `rgb(${c[0]},${c[1]},${c[2]})`;

// A request to the page's own server: JSON in, JSON out, the lab's token in a header. A
// failure is an Error whose message is the server's one-line error (or the HTTP status).
// `raw`: the body is sent as it is (a model file's text). The paths are relative (/api/...):
// the static site's lab answers them from its worker (site/static/lab-site.js).
export async function fetchJSON(method, path, {body, token = "", raw = false} = {}) {
  const opts = {method, headers: {"X-Lab-Token": token}};
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = raw ? body : JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  const doc = await r.json().catch(() => ({error: `${r.status} ${r.statusText}`}));
  if (!r.ok) throw new Error(doc.error || `${r.status}`);
  return doc;
}

// The lab's token, from the page's own URL (?token=...; "" where there is none).
export const pageToken = () => new URLSearchParams(location.search).get("token") || "";

// fn, run at most once a frame however often the returned function is called (scrolling,
// resizing): the calls of one frame share one run, in the next animation frame.
export function onceAFrame(fn) {
  let asked = 0;
  return () => {
    if (asked) return;
    asked = requestAnimationFrame(() => { asked = 0; fn(); });
  };
}
