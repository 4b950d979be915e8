// The live dashboard served at GET /: plain HTML and canvas (no external scripts: the engine runs offline).
// It polls /api/v1/metal/realtime-stats and /api/v1/trace and draws frame time, queue activity, event rates
// and memory.
#include "server/server.h"

namespace ut::server {

const char* dashboard_html() {
  return R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Unified Timeline — live</title>
<style>
 body{font:14px system-ui,sans-serif;margin:0;background:#111418;color:#dde3ea}
 header{padding:12px 20px;background:#1b2027;display:flex;gap:24px;align-items:baseline}
 h1{font-size:18px;margin:0} .kpi{color:#9fb3c8} .kpi b{color:#fff;font-size:16px}
 main{display:grid;grid-template-columns:1fr 1fr;gap:16px;padding:16px}
 section{background:#1b2027;border-radius:8px;padding:12px} h2{font-size:14px;margin:0 0 8px;color:#9fb3c8}
 canvas{width:100%;height:180px;display:block} #err{color:#f88;padding:0 20px}
 table{width:100%;border-collapse:collapse} td,th{text-align:left;padding:2px 6px;border-bottom:1px solid #2a313a}
</style></head><body>
<header><h1>Unified Timeline</h1><span class="kpi" id="dev"></span>
<span class="kpi">frame <b id="ft">–</b> ms</span><span class="kpi">p99 <b id="p99">–</b> ms</span>
<span class="kpi">overlapped ops/s <b id="ov">–</b></span><span class="kpi">memory <b id="mem">–</b></span></header>
<div id="err"></div>
<main>
<section><h2>Frame time (ms) — 16.6 ms budget line</h2><canvas id="frame" width="600" height="180"></canvas></section>
<section><h2>Queue activity (last 5 s, from the trace)</h2><canvas id="queues" width="600" height="180"></canvas></section>
<section><h2>Event rates (signals/s)</h2><canvas id="events" width="600" height="180"></canvas></section>
<section><h2>Queues</h2><table id="qt"><tr><th>queue</th><th>kind</th><th>device</th><th>priority</th><th>active</th><th>completed</th><th>failed</th><th>avg run ms</th></tr></table></section>
</main>
<script>
const hist = {frame: [], events: {}}, N = 240; let lastEv = null, lastT = null;
function line(cv, series, colors, maxY, budget) {
  const c = cv.getContext('2d'), w = cv.width, h = cv.height; c.clearRect(0, 0, w, h);
  let m = maxY || 1; series.forEach(s => s.forEach(v => { if (v > m) m = v; }));
  if (budget) { c.strokeStyle = '#a55'; c.setLineDash([4, 4]); c.beginPath(); const y = h - budget / m * (h - 10);
    c.moveTo(0, y); c.lineTo(w, y); c.stroke(); c.setLineDash([]); }
  series.forEach((s, k) => { c.strokeStyle = colors[k % colors.length]; c.beginPath();
    s.forEach((v, i) => { const x = i / (N - 1) * w, y = h - v / m * (h - 10); i ? c.lineTo(x, y) : c.moveTo(x, y); });
    c.stroke(); });
  c.fillStyle = '#789'; c.fillText(m.toFixed(1), 4, 12);
}
const palette = ['#4fc3f7', '#aed581', '#ffb74d', '#e57373', '#ba68c8', '#fff176'];
async function tick() {
  try {
    const s = await (await fetch('api/v1/metal/realtime-stats')).json();
    document.getElementById('err').textContent = '';
    document.getElementById('dev').textContent = s.device.backend + ' · ' + s.device.name;
    document.getElementById('ft').textContent = s.performance.frame_time_ms.toFixed(2);
    document.getElementById('p99').textContent = s.performance.frame_time_p99_ms.toFixed(2);
    document.getElementById('ov').textContent = s.performance.overlapped_ops;
    document.getElementById('mem').textContent = s.memory.heap_used_mb.toFixed(1) + ' / ' + s.memory.heap_total_mb.toFixed(0) + ' MB (' + s.memory.pressure + ')';
    hist.frame.push(s.performance.frame_time_ms); if (hist.frame.length > N) hist.frame.shift();
    const t = Date.parse(s.timestamp) / 1000;  // ISO-8601 UTC
    if (lastEv) for (const k in s.events) { (hist.events[k] ||= []).push((s.events[k] - lastEv[k]) / Math.max(1e-3, t - lastT));
      if (hist.events[k].length > N) hist.events[k].shift(); }
    lastEv = s.events; lastT = t;
    line(document.getElementById('frame'), [hist.frame], ['#4fc3f7'], 20, 16.6);
    line(document.getElementById('events'), Object.values(hist.events), palette, 1);
    const qt = document.getElementById('qt'); while (qt.rows.length > 1) qt.deleteRow(1);
    for (const [q, v] of Object.entries(s.queues)) { const r = qt.insertRow();
      [q, v.kind, v.device, v.priority, v.active_buffers, v.completed, v.failed, v.avg_run_ms.toFixed(3)].forEach(x => r.insertCell().textContent = x); }
    const tr = await (await fetch('api/v1/trace?seconds=5')).json();
    const cv = document.getElementById('queues'), c = cv.getContext('2d'); c.clearRect(0, 0, cv.width, cv.height);
    const names = {}, slices = []; let t1 = 0;
    for (const e of tr.traceEvents) { if (e.ph === 'M') names[e.tid] = e.args.name; if (e.ph === 'X') { slices.push(e); t1 = Math.max(t1, e.ts + e.dur); } }
    const tids = Object.keys(names).filter(k => k !== '0'), t0 = t1 - 5e6, lh = Math.max(12, (cv.height - 4) / Math.max(1, tids.length));
    tids.forEach((tid, i) => { c.fillStyle = '#789'; c.fillText(names[tid], 4, i * lh + 11); });
    for (const e of slices) { const i = tids.indexOf(String(e.tid)); if (i < 0) continue;
      c.fillStyle = e.cat === 'failed' ? '#e57373' : palette[i % palette.length];
      const x = 120 + (e.ts - t0) / 5e6 * (cv.width - 120); c.fillRect(x, i * lh + 14, Math.max(1, e.dur / 5e6 * (cv.width - 120)), lh - 16); }
  } catch (e) { document.getElementById('err').textContent = 'cannot reach the engine: ' + e; }
}
setInterval(tick, 500); tick();
</script></body></html>
)HTML";
}

}  // namespace ut::server
