/**
 * The dashboard page: one self-contained HTML document. Every class is a row,
 * active and failed ones first. Its files are a grid on one canvas, one pixel
 * per file scaled up, a row of cells per rendition (the crawler's file groups)
 * labelled beside it: green done, blue in flight, red failed, faint grey
 * pending. Hovering or clicking a cell names the file. A canvas per class,
 * never a DOM node per file, keeps 2,000 classes of 8,000 files cheap.
 * Everything from the server is inserted as text, so a class id, a playlist
 * name or a failure reason can never become markup.
 */
export const DASHBOARD_PAGE = String.raw`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>flants</title>
<link rel="icon" type="image/svg+xml" href="/favicon.svg">
<style>
  :root { color-scheme: light dark; --ok: #2e7d32; --bad: #c62828; --mid: #ef6c00; --fly: #1976d2; --dim: #888; --rowbg: Canvas; }
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; }
  header { position: sticky; top: 0; background: Canvas; border-bottom: 1px solid #8884; padding: 8px 16px; display: flex; flex-wrap: wrap; gap: 4px 24px; align-items: center; z-index: 1; }
  h1 { font-size: 18px; margin: 0; }
  [hidden] { display: none !important; }
  #run { flex-basis: 100%; display: flex; flex-wrap: wrap; gap: 2px 20px; font-size: 13px; }
  #run b { font-weight: 600; overflow-wrap: anywhere; }
  #overall { display: grid; grid-template-columns: repeat(4, auto); gap: 2px 16px; font-variant-numeric: tabular-nums; }
  #overall b { font-weight: 600; }
  #chart { border: 1px solid #8884; }
  #legend { font-size: 12px; display: flex; gap: 10px; }
  #legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: -1px; }
  main { padding: 8px 16px; }
  details.cls { border-bottom: 1px solid #8883; padding: 4px 0; background: var(--rowbg); content-visibility: auto; contain-intrinsic-size: auto 48px; }
  details.cls > summary { cursor: pointer; display: flex; flex-wrap: wrap; gap: 2px 12px; align-items: baseline; font-variant-numeric: tabular-nums; }
  .id { font-weight: 600; min-width: 14em; overflow-wrap: anywhere; }
  .status { min-width: 7em; }
  .times, .report { font-size: 12px; }
  .st-complete .status { color: var(--ok); }
  .st-incomplete .status { color: var(--mid); }
  .st-failed { --rowbg: color-mix(in srgb, var(--bad) 10%, Canvas); }
  .st-failed .status, .st-failed .id { color: var(--bad); }
  .bar { display: inline-block; width: 160px; height: 10px; background: #8883; position: relative; align-self: center; }
  .bar > i { position: absolute; top: 0; bottom: 0; }
  .bar > .ok { left: 0; background: var(--ok); }
  .bar > .bad { background: var(--bad); }
  .grid { display: flex; gap: 8px; margin: 4px 0 0; align-items: flex-start; }
  .labels { font: 11px ui-monospace, monospace; margin: 0; width: 230px; flex: none; overflow: hidden; text-overflow: ellipsis; white-space: pre; color: var(--dim); }
  .cells { position: relative; flex: none; }
  .cells canvas { display: block; image-rendering: pixelated; cursor: crosshair; }
  /* Gaps between the rows of cells (and between cells once they are wide), drawn over the canvas in the row's colour. */
  .cells::after { content: ""; position: absolute; inset: 0; pointer-events: none;
    background: repeating-linear-gradient(to bottom, transparent 0 calc(var(--ph) - 2px), var(--rowbg) calc(var(--ph) - 2px) var(--ph)), var(--vgap, none); }
  .cell-info { font: 12px ui-monospace, monospace; overflow-wrap: anywhere; min-height: 0; }
  .failures li { color: var(--bad); overflow-wrap: anywhere; }
  .muted { color: var(--dim); }
  #fleet-table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
  #fleet-table td, #fleet-table th { padding: 1px 10px 1px 0; text-align: left; }
</style></head>
<body>
<header>
  <h1>flants</h1>
  <div id="overall"></div>
  <canvas id="chart" width="360" height="80" aria-label="throughput over time"></canvas>
  <div id="legend" class="muted"><span><i style="background: var(--ok)"></i>done</span><span><i style="background: var(--fly)"></i>in flight</span><span><i style="background: var(--bad)"></i>failed</span><span><i style="background: #8884"></i>pending</span></div>
  <span id="conn" class="muted">connecting…</span>
  <div id="run" class="muted"></div>
</header>
<div id="audits" class="muted" style="padding: 4px 16px"></div>
<details id="fleet" style="padding: 4px 16px"><summary class="muted">fleet</summary><table id="fleet-table"></table></details>
<main id="classes"></main>
<script>
"use strict";
const token = new URLSearchParams(location.search).get("token");
const qs = token ? "?token=" + encodeURIComponent(token) : "";
const rows = new Map();
const order = []; // rows in display order: active, then failed, then the rest; by id within each
const main = document.getElementById("classes");
// Cell colours as ImageData words (little-endian RGBA): pending is a faint, see-through grey so that
// in-flight blue stands out from it at any size.
const rgba = (r, g, b, a) => ((a << 24) | (b << 16) | (g << 8) | r) >>> 0;
const COLOUR = { done: rgba(46, 125, 50, 255), failed: rgba(198, 40, 40, 255), flight: rgba(25, 118, 210, 255), pending: rgba(136, 136, 136, 80) };
const STATE_WORDS = { done: "done", failed: "failed", flight: "in flight", pending: "pending" };
const mb = (n) => (n / 1e6).toFixed(1) + " MB";
const dur = (s) => s == null ? "?" : s < 60 ? s + " s" : s < 3600 ? Math.round(s / 60) + " min" : (s / 3600).toFixed(1) + " h";
const today = new Date().toDateString();
function when(iso) {
  const d = new Date(iso);
  if (!iso || isNaN(d)) return "?";
  return (d.toDateString() === today ? "" : d.toLocaleDateString() + " ") + d.toLocaleTimeString();
}
function el(tag, cls, parent) { const e = document.createElement(tag); if (cls) e.className = cls; if (parent) parent.appendChild(e); return e; }
const NIBBLE = new Uint8Array(128);
for (let i = 0; i < 16; i++) { NIBBLE["0123456789abcdef".charCodeAt(i)] = i; NIBBLE["0123456789ABCDEF".charCodeAt(i)] = i; }
function hexBytes(hex) {
  const out = new Uint8Array(hex.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = (NIBBLE[hex.charCodeAt(2 * i) & 127] << 4) | NIBBLE[hex.charCodeAt(2 * i + 1) & 127];
  return out;
}
function bit(bytes, i) { return (bytes[i >> 3] || 0) & (1 << (i & 7)); }
const rank = (s) => s === "crawling" || s === "transferring" ? 0 : s === "failed" ? 1 : 2;
const before = (a, b) => a.rank - b.rank || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
/** Puts a new row, or one whose rank changed, where it belongs: a binary search, not a sort of every row. */
function place(r) {
  const at = order.indexOf(r);
  if (at >= 0) order.splice(at, 1);
  let lo = 0, hi = order.length;
  while (lo < hi) { const m = (lo + hi) >> 1; if (before(order[m], r) < 0) lo = m + 1; else hi = m; }
  order.splice(lo, 0, r);
  const next = order[lo + 1];
  if (r.det.nextSibling !== (next ? next.det : null) || !r.det.parentNode) main.insertBefore(r.det, next ? next.det : null);
}
function row(c) {
  let r = rows.get(c.classId);
  if (r) return r;
  const det = el("details", "cls");
  det.open = true;
  det.dataset.classId = c.classId;
  const sum = el("summary", "", det);
  r = { det, id: c.classId, rank: -1, c, collapsed: false, drawn: "", layout: null, img: null,
        name: el("span", "id", sum), status: el("span", "status", sum), bar: el("span", "bar", sum), stats: el("span", "stats", sum),
        times: el("span", "times muted", sum), report: el("a", "report", sum),
        reason: el("div", "muted", det), grid: null, info: el("div", "cell-info muted", det), fails: el("details", "failures", det),
        visible: false, stale: false, failKey: "" };
  r.ok = el("i", "ok", r.bar);
  r.bad = el("i", "bad", r.bar);
  r.report.textContent = "report";
  r.report.target = "_blank";
  r.report.rel = "noopener";
  r.failSum = el("summary", "", r.fails);
  r.failList = el("ul", "", r.fails);
  r.name.textContent = c.classId;
  // A collapsed class draws nothing; opening it draws its files as they stand.
  det.addEventListener("toggle", () => { if (det.open) draw(r); });
  rows.set(c.classId, r);
  byDet.set(det, r);
  seen.observe(det);
  return r;
}
/** The grid's elements, made when a class is first drawn: most rows of a big library never are. */
function grid(r) {
  if (r.grid) return;
  r.grid = el("div", "grid");
  r.det.insertBefore(r.grid, r.info);
  r.labels = el("pre", "labels", r.grid);
  r.cells = el("div", "cells", r.grid);
  r.canvas = el("canvas", "", r.cells);
  r.canvas.setAttribute("role", "img");
  r.canvas.addEventListener("mousemove", (e) => { r.canvas.title = describeAt(r, e.offsetX, e.offsetY); });
  r.canvas.addEventListener("click", (e) => { r.info.textContent = describeAt(r, e.offsetX, e.offsetY); });
}
// Only rows on (or near) the screen are drawn; the others are marked stale and drawn when scrolled to.
// An update then costs a few canvases, however many classes change off screen.
const byDet = new WeakMap();
const seen = new IntersectionObserver((entries) => {
  for (const e of entries) {
    const r = byDet.get(e.target);
    r.visible = e.isIntersecting;
    if (r.visible && r.stale) draw(r);
  }
}, { rootMargin: "300px 0px" });
/** Where each file goes: groups (renditions) one under another, each wrapped at cols cells. */
function layout(c) {
  const total = c.total == null ? 0 : c.total;
  // One playlist's files (or a state from before groups) need no labels: one grid says it all.
  const named = Array.isArray(c.groups) && c.groups.length > 1;
  const groups = named ? c.groups : [{ name: "", from: 0, count: total }];
  const width = Math.max(160, window.innerWidth - 330);
  const widest = Math.max(1, ...groups.map((g) => g.count));
  // At least 1.5 px a file, so a 500-segment rendition fits one line; wide cells are whole pixels so the gaps line up.
  const cols = Math.max(1, Math.min(widest, Math.floor(width / 1.5)));
  let cw = Math.min(14, width / cols);
  if (cw >= 5) cw = Math.floor(cw);
  const ph = Math.max(12, Math.round(cw));
  let y = 0;
  const placed = groups.map((g) => { const lines = Math.max(1, Math.ceil(g.count / cols)); const p = { name: g.name, from: g.from, count: g.count, y, lines }; y += lines; return p; });
  return { named, cols, cw, ph, lines: y, groups: placed, total };
}
function stateOf(r, i) {
  const b = r.bits;
  return bit(b.d, i) ? "done" : bit(b.f, i) ? "failed" : bit(b.fl, i) ? "flight" : "pending";
}
/** Draws the class's files: one canvas pixel per file, scaled up by CSS. */
function draw(r) {
  const c = r.c;
  if (c.total == null) { if (r.grid) r.grid.hidden = true; return; }
  if (!r.det.open) return;
  if (!r.visible) { r.stale = true; return; }
  r.stale = false;
  grid(r);
  const key = c.doneHex + "|" + c.failedHex + "|" + c.inFlightHex + "|" + window.innerWidth;
  let L = r.layout;
  const shape = c.total + "|" + window.innerWidth + "|" + (c.groups ? JSON.stringify(c.groups) : "");
  if (!L || L.shape !== shape) {
    L = r.layout = layout(c);
    L.shape = shape;
    r.canvas.width = L.cols; r.canvas.height = L.lines;
    r.canvas.style.width = L.cols * L.cw + "px"; r.canvas.style.height = L.lines * L.ph + "px";
    r.cells.style.setProperty("--ph", L.ph + "px");
    r.cells.style.setProperty("--vgap", L.cw >= 5 ? "repeating-linear-gradient(to right, transparent 0 " + (L.cw - 1) + "px, var(--rowbg) " + (L.cw - 1) + "px " + L.cw + "px)" : "none");
    r.labels.style.lineHeight = L.ph + "px";
    r.labels.hidden = !L.named;
    r.img = new ImageData(L.cols, L.lines);
    r.drawn = "";
  } else if (key === r.drawn) return;
  r.grid.hidden = false;
  r.bits = { d: hexBytes(c.doneHex), f: hexBytes(c.failedHex), fl: hexBytes(c.inFlightHex) };
  const px = new Uint32Array(r.img.data.buffer);
  px.fill(0);
  const labels = [];
  const digits = Math.max(...L.groups.map((g) => String(g.count).length));
  const { d, f, fl } = r.bits;
  const DONE = COLOUR.done, FAILED = COLOUR.failed, FLIGHT = COLOUR.flight, PENDING = COLOUR.pending;
  let failed = 0, flight = 0, doneAll = 0;
  for (const g of L.groups) {
    let done = 0;
    const failedBefore = failed;
    for (let k = 0, i = g.from, at = g.y * L.cols; k < g.count; k++, i++, at++) {
      const m = 1 << (i & 7), b = i >> 3;
      if (d[b] & m) { px[at] = DONE; done++; }
      else if (f[b] & m) { px[at] = FAILED; failed++; }
      else if (fl[b] & m) { px[at] = FLIGHT; flight++; }
      else px[at] = PENDING;
    }
    doneAll += done;
    // Counts first, padded, so that they line up and a long name loses only its end; a ✖ marks a rendition
    // with a failed file, which as one cell among 500 is a sliver.
    if (L.named) labels.push((failed > failedBefore ? "✖ " : "  ") + (done + "/" + g.count).padStart(2 * digits + 1) + "  " + g.name + "\n".repeat(g.lines));
  }
  r.canvas.getContext("2d").putImageData(r.img, 0, 0);
  if (L.named) r.labels.textContent = labels.join("").slice(0, -1);
  r.canvas.setAttribute("aria-label", c.total + " files: " + doneAll + " done, " + flight + " in flight, " + failed + " failed, " + (c.total - doneAll - flight - failed) + " pending");
  r.drawn = key;
}
/** File index under a point of the canvas (CSS pixels), or -1. */
function indexAt(r, x, y) {
  const L = r.layout;
  if (!L) return -1;
  const col = Math.floor(x / L.cw), line = Math.floor(y / L.ph);
  const g = L.groups.find((g) => line >= g.y && line < g.y + g.lines);
  if (!g || col >= L.cols) return -1;
  const k = (line - g.y) * L.cols + col;
  return k < g.count ? g.from + k : -1;
}
function describeAt(r, x, y) {
  const i = indexAt(r, x, y);
  if (i < 0 || !r.bits) return "";
  const g = r.layout.groups.find((g) => i >= g.from && i < g.from + g.count);
  const failure = r.c.failures.find((f) => f.i === i);
  return "file #" + i + (g && g.name ? " · " + g.name + ", " + (i - g.from + 1) + " of " + g.count : "") + " · " + STATE_WORDS[stateOf(r, i)] +
    (failure ? " · " + failure.key + ": " + failure.reasons[failure.reasons.length - 1] : "");
}
// For tests and benchmarks: where file i of a class is drawn, in canvas pixels and in CSS pixels.
window.__flantsCellAt = (classId, i) => {
  const r = rows.get(classId), L = r && r.layout;
  const g = L && L.groups.find((g) => i >= g.from && i < g.from + g.count);
  if (!g) return undefined;
  const k = i - g.from, px = k % L.cols, py = g.y + Math.floor(k / L.cols);
  return { px, py, x: (px + 0.5) * L.cw, y: py * L.ph + (L.ph - 2) / 2 };
};
function render(c) {
  const r = row(c);
  r.c = c;
  const finished = c.status === "complete" || c.status === "failed" || c.status === "incomplete";
  r.det.className = "cls st-" + c.status;
  r.status.textContent = c.status;
  const total = c.total == null ? 0 : c.total;
  const pct = total ? Math.floor((100 * (c.done + c.failed)) / total) : 0;
  const okPct = total ? (100 * c.done) / total : 0, badPct = total ? (100 * c.failed) / total : 0;
  r.ok.style.width = okPct + "%";
  // One failed file in 8,000 is still a failed class: its red is never thinner than 3 px.
  r.bad.style.left = "min(" + okPct + "%, 100% - 3px)";
  r.bad.style.width = c.failed ? "max(" + badPct + "%, 3px)" : "0";
  r.bar.title = c.done + " done, " + c.failed + " failed of " + (c.total == null ? "?" : c.total);
  const notCopied = [c.refused ? c.refused + " refused" : "", c.skipped ? c.skipped + " skipped" : ""].filter(Boolean).join(", ");
  r.stats.textContent = (c.done + c.failed) + "/" + (c.total == null ? "?" : c.total) + " files (" + pct + "%) · " + mb(c.bytes) +
    " · " + mb(c.rate) + "/s" + (finished ? "" : " · ETA " + dur(c.etaSeconds)) + (c.inFlight ? " · " + c.inFlight + " in flight" : "") +
    (c.failed ? " · " + c.failed + " failed" : "") + (c.retries ? " · " + c.retries + " retries" : "") +
    (notCopied ? " · " + notCopied + " (referenced, not copied)" : "");
  r.times.textContent = "started " + when(c.startedAt) + (c.finishedAt ? " · finished " + when(c.finishedAt) : "");
  r.times.title = c.startedAt + (c.finishedAt ? " → " + c.finishedAt : "");
  r.report.hidden = !c.reported;
  if (c.reported) r.report.href = "/report/" + encodeURIComponent(c.classId) + qs;
  r.reason.textContent = c.reason || "";
  r.fails.hidden = c.failures.length === 0;
  r.failSum.textContent = c.failures.length + (c.failures.length === 1 ? " file" : " files") + " with failed attempts";
  const failKey = c.failures.map((f) => f.i + (f.final ? "!" : "") + f.reasons.length).join();
  if (failKey !== r.failKey) {
    r.failKey = failKey;
    r.failList.replaceChildren(...c.failures.map((f) => { const li = el("li"); li.textContent = "#" + f.i + " " + f.key + (f.final ? " (failed): " : ": ") + f.reasons.join(" | "); return li; }));
  }
  // A finished class collapses once; failed ones stay open and stand out.
  if (finished && !r.collapsed) { r.collapsed = true; if (c.status !== "failed") r.det.open = false; }
  draw(r);
  const k = rank(c.status);
  if (k !== r.rank) { r.rank = k; place(r); }
}
function overall(o) {
  if (!o) return;
  const box = document.getElementById("overall");
  const q = Object.entries(o.queues).map(([k, v]) => k + " " + (v.pending + v.unacked)).join(" · ");
  const cells = [["classes", o.classes + " (" + o.active + " active)"], ["files/s", o.filesPerSecond], ["MB/s", (o.bytesPerSecond / 1e6).toFixed(1)], ["waves", o.activeWaves],
    ["files done", o.files + (o.failed ? " (" + o.failed + " failed)" : "")], ["bytes", mb(o.bytes)], ["retries", o.retries], ["queues", q]];
  box.replaceChildren(...cells.flatMap(([k, v]) => { const a = el("span", "muted"); a.textContent = k; const b = el("b"); b.textContent = String(v); return [a, b]; }));
  chart(o.history);
  fleet(o.fleet);
  const audits = document.getElementById("audits");
  audits.replaceChildren(...(o.audits || []).map((a) => {
    const d = el("div", "audit");
    d.dataset.auditId = a.auditId;
    d.textContent = "audit " + a.auditId + ": " + a.done + "/" + a.classes + " classes, " + a.drift + " differences" + (a.finishedAt ? ", finished" : ", running");
    return d;
  }));
}
function runInfo(run) {
  if (!run) return;
  const box = document.getElementById("run");
  box.replaceChildren(...[["source", run.source], ["destination", run.destination], ["namespace", run.namespace || "(none)"]].map(([k, v]) => {
    const s = el("span");
    s.dataset.field = k;
    s.append(k + " ");
    el("b", "", s).textContent = v;
    return s;
  }));
}
function fleet(members) {
  const f = members || [];
  document.querySelector("#fleet > summary").textContent = "fleet: " + f.length + (f.length === 1 ? " process" : " processes");
  const head = el("tr");
  ["process", "NATS node", "actors (done, per second, held)", "RSS", "CPU", "up since"].forEach((h) => { el("th", "", head).textContent = h; });
  document.getElementById("fleet-table").replaceChildren(head, ...f.map((m) => {
    const tr = el("tr");
    tr.dataset.member = m.id;
    const actors = Object.entries(m.actors).map(([n, a]) => n + " " + a.acked + " (" + a.ackedPerSecond + "/s, " + a.held + ")").join(" · ");
    [m.host + " pid " + m.pid, m.natsServer || "?", actors, m.rssMb + " MB", m.cpuPercent + "%", m.startedAt].forEach((v) => { el("td", "", tr).textContent = String(v); });
    return tr;
  }));
}
function chart(h) {
  const cv = document.getElementById("chart"), g = cv.getContext("2d");
  g.clearRect(0, 0, cv.width, cv.height);
  if (!h.length) return;
  const max = Math.max(1, ...h.map((p) => p.files));
  g.strokeStyle = "#2e7d32"; g.lineWidth = 1.5; g.beginPath();
  h.forEach((p, i) => { const x = (i / Math.max(1, h.length - 1)) * (cv.width - 2) + 1, y = cv.height - 2 - (p.files / max) * (cv.height - 14); i ? g.lineTo(x, y) : g.moveTo(x, y); });
  g.stroke(); g.fillStyle = "#888"; g.font = "10px sans-serif"; g.fillText("files/s, max " + Math.round(max), 4, 10);
}
// A new width changes every grid's layout: redraw the open ones once the resizing stops.
let resizing;
window.addEventListener("resize", () => { clearTimeout(resizing); resizing = setTimeout(() => rows.forEach(draw), 200); }); // off-screen rows only turn stale
// Update timings are kept (last 1,000) so that a render benchmark can read them.
const applyMs = (window.__flantsApplyMs = []);
function apply(d) {
  const t0 = performance.now();
  runInfo(d.run); (d.classes || []).forEach(render); overall(d.overall);
  applyMs.push(performance.now() - t0); if (applyMs.length > 1000) applyMs.shift();
  window.__flantsUpdates = (window.__flantsUpdates || 0) + 1;
}
const es = new EventSource("/events" + qs);
es.addEventListener("snapshot", (e) => { apply(JSON.parse(e.data)); document.getElementById("conn").textContent = "live"; });
es.addEventListener("update", (e) => apply(JSON.parse(e.data)));
es.onerror = () => { document.getElementById("conn").textContent = "reconnecting…"; };
</script>
</body></html>`;
