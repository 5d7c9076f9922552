/**
 * The dashboard page: one self-contained HTML document. Every class is a row;
 * its files are one line of characters (◉ done, ◐ in flight, ✖ failed,
 * ◯ pending) held in a single text node, never one DOM node per file.
 * Everything from the server is inserted as text, so a class id or a failure
 * reason can never become markup.
 */
export const DASHBOARD_PAGE = String.raw`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>flants</title>
<style>
  :root { color-scheme: light dark; --ok: #2e7d32; --bad: #c62828; --mid: #ef6c00; --dim: #888; }
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; }
  header { position: sticky; top: 0; background: Canvas; border-bottom: 1px solid #8884; padding: 8px 16px; display: flex; gap: 24px; align-items: center; z-index: 1; }
  h1 { font-size: 18px; margin: 0; }
  #overall { display: grid; grid-template-columns: repeat(4, auto); gap: 2px 16px; font-variant-numeric: tabular-nums; }
  #overall b { font-weight: 600; }
  #chart { border: 1px solid #8884; }
  main { padding: 8px 16px; }
  details.cls { border-bottom: 1px solid #8883; padding: 4px 0; content-visibility: auto; contain-intrinsic-size: auto 48px; }
  details.cls > summary { cursor: pointer; display: flex; gap: 12px; align-items: baseline; font-variant-numeric: tabular-nums; }
  .id { font-weight: 600; min-width: 14em; overflow-wrap: anywhere; }
  .status { min-width: 7em; }
  .st-complete .status { color: var(--ok); }
  .st-incomplete .status { color: var(--mid); }
  .st-failed { background: color-mix(in srgb, var(--bad) 10%, transparent); }
  .st-failed .status, .st-failed .id { color: var(--bad); }
  .bar { display: inline-block; width: 120px; height: 8px; background: #8883; position: relative; }
  .bar > i { position: absolute; inset: 0 auto 0 0; background: var(--ok); }
  .bits { font: 12px/1.15 ui-monospace, monospace; word-break: break-all; white-space: pre-wrap; margin: 4px 0 0; color: var(--dim); }
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
  <span id="conn" class="muted">connecting…</span>
</header>
<div id="audits" class="muted" style="padding: 4px 16px"></div>
<details id="fleet" style="padding: 4px 16px"><summary class="muted">fleet</summary><table id="fleet-table"></table></details>
<main id="classes"></main>
<script>
"use strict";
const token = new URLSearchParams(location.search).get("token");
const qs = token ? "?token=" + encodeURIComponent(token) : "";
const rows = new Map();
const main = document.getElementById("classes");
const GLYPH = { pending: "\u25EF", done: "\u25C9", flight: "\u25D0", failed: "\u2716" };
const mb = (n) => (n / 1e6).toFixed(1) + " MB";
const dur = (s) => s == null ? "?" : s < 60 ? s + " s" : s < 3600 ? Math.round(s / 60) + " min" : (s / 3600).toFixed(1) + " h";
function el(tag, cls, parent) { const e = document.createElement(tag); if (cls) e.className = cls; if (parent) parent.appendChild(e); return e; }
function hexBytes(hex) { const out = new Uint8Array(hex.length >> 1); for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16); return out; }
function bit(bytes, i) { return (bytes[i >> 3] || 0) & (1 << (i & 7)); }
function bitLine(c) {
  const total = c.total == null ? 0 : c.total;
  const d = hexBytes(c.doneHex), f = hexBytes(c.failedHex), fl = hexBytes(c.inFlightHex);
  const chars = new Array(total);
  for (let i = 0; i < total; i++) chars[i] = bit(d, i) ? GLYPH.done : bit(f, i) ? GLYPH.failed : bit(fl, i) ? GLYPH.flight : GLYPH.pending;
  return chars.join("");
}
function row(c) {
  let r = rows.get(c.classId);
  if (r) return r;
  const det = el("details", "cls");
  det.open = true;
  det.dataset.classId = c.classId;
  const sum = el("summary", "", det);
  r = { det, id: el("span", "id", sum), status: el("span", "status", sum), bar: el("span", "bar", sum), stats: el("span", "stats", sum),
        reason: el("div", "muted", det), bits: el("div", "bits", det), fails: el("details", "failures", det), collapsed: false, bitsKey: "" };
  r.fill = el("i", "", r.bar);
  r.failSum = el("summary", "", r.fails);
  r.failList = el("ul", "", r.fails);
  r.id.textContent = c.classId;
  rows.set(c.classId, r);
  const keys = [...rows.keys()].sort();
  const next = rows.get(keys[keys.indexOf(c.classId) + 1]);
  main.insertBefore(det, next ? next.det : null);
  return r;
}
function render(c) {
  const r = row(c);
  const finished = c.status === "complete" || c.status === "failed" || c.status === "incomplete";
  r.det.className = "cls st-" + c.status;
  r.status.textContent = c.status;
  const total = c.total == null ? 0 : c.total;
  const pct = total ? Math.floor((100 * (c.done + c.failed)) / total) : 0;
  r.fill.style.width = pct + "%";
  r.stats.textContent = (c.done + c.failed) + "/" + (c.total == null ? "?" : c.total) + " files (" + pct + "%) · " + mb(c.bytes) +
    " · " + mb(c.rate) + "/s" + (finished ? "" : " · ETA " + dur(c.etaSeconds)) + (c.inFlight ? " · " + c.inFlight + " in flight" : "") +
    (c.failed ? " · " + c.failed + " failed" : "") + (c.retries ? " · " + c.retries + " retries" : "");
  r.reason.textContent = c.reason || "";
  const key = c.doneHex + "|" + c.failedHex + "|" + c.inFlightHex + "|" + total;
  if (key !== r.bitsKey) { r.bits.textContent = bitLine(c); r.bitsKey = key; }
  r.fails.hidden = c.failures.length === 0;
  r.failSum.textContent = c.failures.length + (c.failures.length === 1 ? " file" : " files") + " with failed attempts";
  r.failList.replaceChildren(...c.failures.map((f) => { const li = el("li"); li.textContent = f.key + (f.final ? " (failed): " : ": ") + f.reasons.join(" | "); return li; }));
  // A finished class collapses once; failed ones stay open and stand out.
  if (finished && !r.collapsed) { r.collapsed = true; if (c.status !== "failed") r.det.open = false; }
}
function overall(o) {
  if (!o) return;
  const box = document.getElementById("overall");
  const q = Object.entries(o.queues).map(([k, v]) => k + " " + (v.pending + v.unacked)).join(" · ");
  const cells = [["classes", o.classes + " (" + o.active + " active)"], ["files/s", o.filesPerSecond], ["MB/s", (o.bytesPerSecond / 1e6).toFixed(1)], ["waves", o.activeWaves],
    ["files", o.files], ["bytes", mb(o.bytes)], ["retries", o.retries], ["queues", q]];
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
// Update timings are kept (last 1,000) so that a render benchmark can read them.
const applyMs = (window.__flantsApplyMs = []);
function apply(d) {
  const t0 = performance.now();
  (d.classes || []).forEach(render); overall(d.overall);
  applyMs.push(performance.now() - t0); if (applyMs.length > 1000) applyMs.shift();
  window.__flantsUpdates = (window.__flantsUpdates || 0) + 1;
}
const es = new EventSource("/events" + qs);
es.addEventListener("snapshot", (e) => { apply(JSON.parse(e.data)); document.getElementById("conn").textContent = "live"; });
es.addEventListener("update", (e) => apply(JSON.parse(e.data)));
es.onerror = () => { document.getElementById("conn").textContent = "reconnecting…"; };
</script>
</body></html>`;
