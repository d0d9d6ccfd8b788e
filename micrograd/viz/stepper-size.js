// The stepper's size: the page fits its window, or (narrow, or inside an iframe) its content.
// Standalone and wide, the page fills the window as an app does. In a window narrower than
// NARROW px, or embedded in an iframe, it flows instead: the panel moves below the graph, the
// graph pane is as tall as the zoomed graph (up to a cap), and the page's height is its
// content's, which it posts to its parent ({type: "micrograd-stepper:height", height}) so that
// an embedder can size the iframe to it.
import { $, onceAFrame } from "./ui.js";
import { TRIM } from "./stepper-graph.js";

const NARROW = 1100, READABLE = 0.67;   // the smallest text is 12 px: 0.67 keeps it >= 8 px
// Embedded in a narrow output (450 px: JupyterLab at 900 px with its file browser open), the
// readable zoom shows only the part around the root: there the whole graph, from 0.4 (the +
// button zooms in), beats a part of it. From 0.5 (a 620 px classic output) the readable zoom
// shows the root and most of the graph, the pane scrolling to the rest.
const WHOLE = [0.4, 0.5];
const embedded = (() => { try { return window.self !== window.top; } catch (e) { return true; } })();

// graph: the picture (stepper-graph.js); focus(): the node to keep in view on a resize.
export function makeSize(D, svg, graph, focus) {
  const pane = $("graph-pane"), W = graph.W;
  let scale = 1, flow = false, zoomedByHand = false, lastHeight = 0;

  const paneCap = () => embedded ? 720 : Math.max(320, window.innerHeight - 80);

  // The part of the graph in the pane (graph pixels), for a windowed page's drawing.
  function follow() {
    const s = svg.getBoundingClientRect(), p = pane.getBoundingClientRect();
    const x0 = (Math.max(p.left, s.left) - s.left) / scale, x1 = (Math.min(p.right, s.right) - s.left) / scale;
    const y0 = (Math.max(p.top, s.top) - s.top) / scale, y1 = (Math.min(p.bottom, s.bottom) - s.top) / scale;
    graph.view(x0 + TRIM, y0, x1 + TRIM, y1);  // the viewBox starts at TRIM
  }
  const followSoon = onceAFrame(follow);
  if (D.windowed) pane.addEventListener("scroll", followSoon);

  function zoom(s) {
    scale = Math.max(0.02, Math.min(3, s));
    svg.setAttribute("width", String(Math.round(W * scale)));
    svg.setAttribute("height", String(Math.round(D.height * scale)));
    // in flow mode the pane is as tall as the graph; wide, the panel beside it scrolls
    const high = Math.min(paneCap(), Math.round(D.height * scale) + 24);
    const wide = window.innerWidth >= NARROW;
    pane.style.height = flow && !wide ? `${high}px` : "";
    document.querySelector("main").style.height = flow && wide ? `${Math.max(560, high)}px` : "";
    if (D.windowed) follow();
  }
  function fitScale() {                  // the whole graph in the pane, text as small as needed
    const high = flow ? paneCap() - 24 : pane.clientHeight - 8;
    return Math.min(1.5, (pane.clientWidth - 16) / W, high / D.height);
  }
  function fit() { zoomedByHand = false; zoom(fitScale()); }
  function byHand(s) { zoomedByHand = true; zoom(s); }
  function initialZoom() {               // the whole graph if its text stays readable, else
    const s = fitScale();                // readable text around the root
    const whole = s >= READABLE || (embedded && s >= WHOLE[0] && s < WHOLE[1]);
    zoom(whole ? s : Math.max(READABLE, Math.min(0.85, s)));
  }
  function layoutMode() {
    flow = embedded || window.innerWidth < NARROW;
    document.documentElement.classList.toggle("flow", flow);
    document.documentElement.classList.toggle("embedded", embedded);
  }

  // Node i in the middle of the pane, unless it is well inside already. Where it is comes from
  // the layout's numbers: the node need not be in the document (a windowed page draws it when
  // the scroll brings it near).
  function reveal(i, instant) {
    const b = graph.box(i), s = svg.getBoundingClientRect(), p = pane.getBoundingClientRect();
    const left = s.left + b.x * scale, top = s.top + b.y * scale;
    const right = left + b.w * scale, bottom = top + b.h * scale, margin = 40;
    if (left < p.left + margin || right > p.right - margin ||
        top < p.top + margin || bottom > p.bottom - margin) {
      pane.scrollBy({left: (left + right) / 2 - (p.left + p.right) / 2,
        top: (top + bottom) / 2 - (p.top + p.bottom) / 2, behavior: instant ? "auto" : "smooth"});
    }
    if (D.windowed && instant) follow();
  }

  const contentHeight = () => Math.ceil(document.body.getBoundingClientRect().height);
  function postHeight() {
    const h = contentHeight();
    if (!embedded || h === lastHeight) return;
    lastHeight = h;
    try { window.parent.postMessage({type: "micrograd-stepper:height", height: h}, "*"); } catch (e) { /* no parent */ }
  }
  window.addEventListener("resize", () => {
    layoutMode();
    if (zoomedByHand) zoom(scale); else initialZoom();
    reveal(focus(), true);               // keep the node in focus in view, as it was on load
    postHeight();
  });
  if (window.ResizeObserver) new ResizeObserver(postHeight).observe(document.body);

  return {
    start() { layoutMode(); initialZoom(); },
    zoomIn: () => byHand(scale * 1.25), zoomOut: () => byHand(scale / 1.25), fit,
    reveal, postHeight, contentHeight, scale: () => scale,
  };
}
