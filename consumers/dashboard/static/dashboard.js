// The ops page: one EventSource, every message the whole view; no build step, no library.
"use strict";
const STATES = ["QUEUED", "ACCEPTED", "HELD", "SENT", "DELIVERED", "READ", "FAILED"];
const COLOURS = ["#2f6fdf", "#e07b24", "#7a48c8", "#2e9d5b", "#c9372c", "#158a94"];
const $ = (id) => document.getElementById(id);

function text(id, value) { $(id).textContent = value; }

function esc(s) {
  return String(s ?? "").replace(/[&<>"]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));
}

function rows(id, head, body) {
  $(id).innerHTML = (head ? "<tr>" + head.map((h) => `<th>${esc(h)}</th>`).join("") + "</tr>" : "") +
    body.map((r) => "<tr>" + r.map((c) => c.html ?? `<td>${esc(c)}</td>`).join("") + "</tr>").join("");
}

const num = (v, cls = "n") => ({html: `<td class="${cls}">${esc(v)}</td>`});

// Lines on a shared time axis: series = [{name, colour, points: [[ms, value], ...]}].
function chart(svg, series, limits = []) {
  const all = series.flatMap((s) => s.points);
  if (!all.length) { svg.innerHTML = '<text x="10" y="100" fill="#8a90a0">no data yet</text>'; return; }
  const x0 = Math.min(...all.map((p) => p[0])), x1 = Math.max(...all.map((p) => p[0]), x0 + 1000);
  const ymax = Math.max(1, ...all.map((p) => p[1]), ...limits.map((l) => l.value)) * 1.1;
  const X = (t) => ((t - x0) / (x1 - x0)) * 780 + 10, Y = (v) => 190 - (v / ymax) * 180;
  let out = `<text x="12" y="14" font-size="11" fill="#8a90a0">${Math.round(ymax / 1.1)}</text>`;
  for (const l of limits) {
    out += `<line x1="10" x2="790" y1="${Y(l.value)}" y2="${Y(l.value)}" stroke="${l.colour}" stroke-dasharray="4 4"/>`;
  }
  series.forEach((s) => {
    const pts = s.points.map((p) => `${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(" ");
    out += `<polyline fill="none" stroke="${s.colour}" stroke-width="2" points="${pts}"><title>${esc(s.name)}</title></polyline>`;
  });
  svg.innerHTML = out;
}

function clock(ms) { return ms ? new Date(ms).toLocaleTimeString() : "–"; }

function render(v) {
  text("run-date", v.run_date ?? "–");
  const conn = $("conn");
  conn.textContent = v.feed.connected ? "live" : "broker unreachable: reconnecting…";
  conn.className = "conn " + (v.feed.connected ? "up" : "down");
  const s = v.sla;
  if (s) {
    text("sla-pct", s.sla_pct.toFixed(2));
    text("delivered-by-deadline", s.delivered_by_deadline);
    text("eligible", s.eligible);
    text("projected", s.projected_pct == null ? "–" : s.projected_pct.toFixed(2));
    text("projected-miss", s.projected_miss ? "projected to miss" : "");
    $("projected-miss").className = s.projected_miss ? "miss" : "";
    $("sla-bar").style.width = Math.min(100, s.sla_pct) + "%";
    text("deadline", clock(s.deadline));
    const left = Math.round((s.deadline - v.now) / 1000);
    text("deadline-left", left > 0 ? `${left} s left` : "passed");
  }
  rows("states", null, STATES.map((st) => [st, {html: `<td class="n" id="state-${st}">${v.states[st] ?? 0}</td>`}]));
  text("unknown", s && s.unknown != null ? s.unknown : v.unknown);
  if (v.failures.length) {
    rows("failures", ["code", "reason", "count"], v.failures.map((f) => [f.code ?? "–", f.reason, num(f.count)]));
  }
  rows("numbers", ["number", "quality", "role", "sends/s", "allowed", "peak", "sent"], v.numbers.map((n, i) => [
    {html: `<td style="color:${COLOURS[i % COLOURS.length]}">${esc(n.id)}</td>`},
    {html: `<td class="${esc(n.quality)}">${esc(n.quality ?? "no health feed")}</td>`},
    n.role ?? "–", num(n.sends_per_s), num(n.allowed_mps ?? "–"), num(n.peak_mps), num(n.sent)]));
  chart($("chart-sends"),
    v.numbers.map((n, i) => ({name: n.id, colour: COLOURS[i % COLOURS.length], points: n.series})),
    v.numbers.filter((n) => n.allowed_mps).map((n, i) => ({value: n.allowed_mps, colour: COLOURS[i % COLOURS.length]})));
  chart($("chart-delivered"), [{name: "delivered", colour: "#2e9d5b", points: v.delivered_series}],
    s ? [{value: s.eligible * 0.99, colour: "#1d2330"}] : []);
  if (v.templates.length) {
    rows("templates", ["template", "lang", "status", "quality", "role"], v.templates.map((t) => [
      t.name, t.language, t.status, {html: `<td class="${esc(t.quality)}">${esc(t.quality)}</td>`}, t.role]));
  }
  if (v.alerts.length) {
    $("alerts").innerHTML = v.alerts.map((a) =>
      `<li class="${esc(a.severity)}">${clock(a.at)} <b>${esc(a.kind)}</b> ${esc(a.subject)}: ${esc(a.message)}</li>`).join("");
  }
  const sp = v.spend;
  text("spend-total", sp.total_inr.toFixed(2));
  text("spend-budget", sp.budget_inr == null ? "no budget set" : `${sp.budget_inr.toFixed(2)} INR budget`);
  $("spend-bar").style.width = sp.budget_inr ? Math.min(100, (100 * sp.total_inr) / sp.budget_inr) + "%" : "0";
  $("spend-bar").parentElement.className = "bar" + (sp.budget_inr && sp.total_inr > sp.budget_inr ? " over" : "");
  rows("spend", null, Object.keys(sp.messages).map((c) => [c, num(sp.messages[c]), num(sp.inr[c] + " INR")]));
}

function connect() {
  const source = new EventSource("/events");
  source.onmessage = (e) => render(JSON.parse(e.data));
  source.onerror = () => {
    $("conn").textContent = "dashboard unreachable: reconnecting…";
    $("conn").className = "conn down";
  };
}
connect();
