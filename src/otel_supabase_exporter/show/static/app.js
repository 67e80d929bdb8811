// The dashboard page: reads /api/, draws SVG charts, follows /api/events (Server-Sent Events).
"use strict";

const state = { cache: null, range: "1h", caches: [], reference: "legacy", reloadTimer: null };
const COLORS = ["var(--legacy)", "var(--new)", "var(--c3)", "var(--c4)"];
const CHARTS = [
  { id: "ops", title: "Operations per minute (average of each bucket)", metrics: ["ops_per_minute"] },
  { id: "hit", title: "Hit rate (%)", metrics: ["hit_rate"], min: 0, max: 100 },
  { id: "latency", title: "Latency (ms): p50 dotted, p95 solid, p99 dashed", metrics: ["p50_ms", "p95_ms", "p99_ms"], min: 0 },
  { id: "errors", title: "Error rate (%)", metrics: ["error_rate"], min: 0 },
  { id: "size", title: "Cache size (entries)", metrics: ["cache_size"], min: 0 },
];
const SVG = "http://www.w3.org/2000/svg";

function $(sel) { return document.querySelector(sel); }
function el(tag, attrs = {}, text) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}
function fmt(value, digits = 1) {
  if (value === null || value === undefined) return "–";
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString("en-US");
  return Number(value).toFixed(digits);
}
function signed(value, digits = 1, unit = "") {
  if (value === null || value === undefined) return "–";
  const text = Number(value).toFixed(digits);
  if (Number(text) === 0) return "±" + Math.abs(Number(text)).toFixed(digits) + unit;
  return (value > 0 ? "+" : "") + text + unit;
}
function query(extra = {}) {
  const params = new URLSearchParams({ range: state.range, ...extra });
  if (state.cache) params.set("cache", state.cache);
  return params.toString();
}
async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) { const e = new Error(body.error || response.statusText); e.status = response.status; throw e; }
  return body;
}
function showError(message) {
  const box = $("#error");
  box.hidden = !message;
  box.textContent = message || "";
}

async function loadCaches() {
  const data = await api("/api/caches");
  state.caches = data.caches;
  state.reference = data.reference_implementation;
  const select = $("#cache");
  select.replaceChildren(...data.caches.map(c => el("option", { value: c.cache_name }, c.cache_name)));
  if (!data.caches.length) { state.cache = null; return; }
  if (!state.cache || !data.caches.some(c => c.cache_name === state.cache)) state.cache = data.caches[0].cache_name;
  select.value = state.cache;
}

async function reload() {
  try {
    await loadCaches();
    const empty = !state.caches.length;
    $("#empty").hidden = !empty;
    $("#overview").hidden = empty;
    $("#charts").hidden = empty;
    if (empty) { await loadObservations(); showError(""); return; }
    const [series, summary, compare] = await Promise.all([
      api("/api/series?" + query()), api("/api/summary?" + query()), api("/api/compare?" + query()),
    ]);
    renderSummary(summary);
    renderCompare(compare);
    renderCharts(series);
    await loadObservations();
    $("#range-label").textContent = `${new Date(series.from).toLocaleString()} – ${new Date(series.to).toLocaleString()}, `
      + `${series.bucket_seconds / 60} min buckets from ${series.source}`;
    $("#updated").textContent = "updated " + new Date().toLocaleTimeString();
    document.body.dataset.loaded = String(Date.now());
    showError("");
  } catch (e) {
    showError(`Could not load data: ${e.message}`);
  }
}
function scheduleReload(delay = 400) {
  clearTimeout(state.reloadTimer);
  state.reloadTimer = setTimeout(reload, delay);
}

function renderSummary(data) {
  $("#summary").dataset.from = data.from;
  $("#summary").dataset.to = data.to;
  const body = $("#summary tbody");
  body.replaceChildren(...data.rows.map(r => {
    const row = el("tr", { "data-implementation": r.implementation_type });
    const cells = [
      ["implementation", r.implementation_type, null], ["operations", r.total_operations, 0],
      ["ops_per_minute", r.throughput_per_minute, 1], ["hit_rate", r.hit_rate, 1],
      ["p50_ms", r.p50_response_time_ms, 3], ["p95_ms", r.p95_response_time_ms, 3], ["p99_ms", r.p99_response_time_ms, 3],
      ["error_rate", r.error_rate, 2], ["cache_size", r.cache_size, 0],
    ];
    for (const [metric, value, digits] of cells) {
      const td = el("td", { "data-metric": metric }, digits === null ? value : fmt(value, digits));
      if (digits !== null && value !== null && value !== undefined) td.dataset.value = String(value);
      row.append(td);
    }
    return row;
  }));
}

function renderCompare(data) {
  const body = $("#compare tbody");
  $("#compare").hidden = !data.rows.length;
  body.replaceChildren(...data.rows.map(r => {
    const row = el("tr", { "data-implementation": r.implementation_type });
    const cells = [
      ["implementation", r.implementation_type], ["reference", r.reference_implementation],
      ["hit_rate_diff", signed(r.hit_rate_diff, 1), r.hit_rate_diff, -1],
      ["p50_diff_pct", signed(r.p50_diff_pct, 0, " %"), r.p50_diff_pct, 1],
      ["p95_diff_pct", signed(r.p95_diff_pct, 0, " %"), r.p95_diff_pct, 1],
      ["p99_diff_pct", signed(r.p99_diff_pct, 0, " %"), r.p99_diff_pct, 1],
      ["error_rate_diff", signed(r.error_rate_diff, 2), r.error_rate_diff, 1],
      ["throughput_diff_pct", signed(r.throughput_diff_pct, 0, " %"), r.throughput_diff_pct, 0],
    ];
    for (const [metric, text, value, badSign] of cells) {
      const td = el("td", { "data-metric": metric }, text);
      if (value !== undefined && value !== null) {
        td.dataset.value = String(value);
        if (badSign && value * badSign > 0) td.className = "worse";
        else if (badSign && value * badSign < 0) td.className = "better";
      }
      row.append(td);
    }
    return row;
  }));
}

function renderCharts(data) {
  const root = $("#charts");
  const series = data.series;
  const from = Date.parse(data.from), to = Date.parse(data.to);
  root.replaceChildren(...CHARTS.map(spec => chart(spec, series, from, to)));
}

function chart(spec, series, from, to) {
  const W = 600, H = 180, L = 48, R = 8, T = 8, B = 20;
  const figure = el("figure", { id: "chart-" + spec.id, "data-chart": spec.id });
  figure.append(el("figcaption", {}, spec.title));
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": spec.title });
  const values = [];
  for (const s of series) for (const p of s.points) for (const m of spec.metrics) if (p[m] !== null) values.push(p[m]);
  let lo = spec.min !== undefined ? spec.min : Math.min(...values, 0);
  let hi = spec.max !== undefined ? spec.max : Math.max(...values, 1e-9);
  if (spec.max === undefined) hi = hi * 1.1;
  const x = t => L + (W - L - R) * (t - from) / Math.max(1, to - from);
  const y = v => T + (H - T - B) * (1 - (v - lo) / Math.max(1e-12, hi - lo));
  svg.append(el("svg:line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }));
  svg.append(el("svg:line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }));
  svg.append(el("svg:text", { x: L - 4, y: T + 8, "text-anchor": "end" }, fmt(hi, hi < 10 ? 2 : 0)));
  svg.append(el("svg:text", { x: L - 4, y: H - B, "text-anchor": "end" }, fmt(lo, 0)));
  svg.append(el("svg:text", { x: L, y: H - 4 }, new Date(from).toLocaleString()));
  svg.append(el("svg:text", { x: W - R, y: H - 4, "text-anchor": "end" }, new Date(to).toLocaleString()));
  const legend = el("div", { class: "legend" });
  const others = series.filter(s => s.implementation_type !== state.reference).map(s => s.implementation_type);
  series.forEach(s => {
    const j = others.indexOf(s.implementation_type);
    const color = j < 0 ? COLORS[0] : COLORS[1 + (j % (COLORS.length - 1))];
    const swatch = el("span");
    const box = el("i", { class: "swatch" });
    box.style.background = color;  // CSSOM, allowed by the page's Content-Security-Policy (inline styles are not)
    swatch.append(box, s.implementation_type);
    legend.append(swatch);
    for (const metric of spec.metrics) {
      const group = el("svg:g", { "data-implementation": s.implementation_type, "data-metric": metric });
      const pts = s.points.filter(p => p[metric] !== null && p[metric] !== undefined);
      const line = el("svg:polyline", {
        class: metric.replace("_ms", ""),
        points: pts.map(p => `${x(Date.parse(p.t)).toFixed(1)},${y(p[metric]).toFixed(1)}`).join(" "),
      });
      line.style.stroke = color;
      group.append(line);
      for (const p of pts) {
        const dot = el("svg:circle", { cx: x(Date.parse(p.t)).toFixed(1), cy: y(p[metric]).toFixed(1), r: 1.6,
          "data-t": p.t, "data-value": String(p[metric]) });
        dot.style.fill = color;
        dot.append(el("svg:title", {}, `${s.implementation_type} ${metric} ${fmt(p[metric], 3)} at ${new Date(p.t).toLocaleString()}`));
        group.append(dot);
      }
      svg.append(group);
    }
  });
  figure.append(svg, legend);
  return figure;
}

async function loadObservations() {
  const data = await api("/api/observations?status=open&limit=200");
  const list = $("#observations");
  $("#no-observations").hidden = data.observations.length > 0;
  list.replaceChildren(...data.observations.map(o => {
    const item = el("li", { class: o.severity, "data-id": String(o.id), "data-severity": o.severity,
      "data-acknowledged": String(o.acknowledged) });
    const head = el("div");
    head.append(el("span", { class: "badge" }, o.severity), el("span", {}, `${o.category} · ${o.cache_name} (${o.implementation_type}) · ${o.rule}`));
    const since = `since ${new Date(o.first_seen_at).toLocaleString()}, last seen ${new Date(o.last_seen_at).toLocaleTimeString()}`;
    const meta = el("div", { class: "meta" }, since);
    if (o.acknowledged) {
      meta.append(el("span", { class: "ack" }, ` · acknowledged by ${o.acknowledged_by} at ${new Date(o.acknowledged_at).toLocaleString()}`));
    } else {
      const button = el("button", { type: "button", class: "ack-button" }, "acknowledge");
      button.addEventListener("click", () => acknowledge(o.id));
      meta.append(button);
    }
    item.append(head, el("p", { class: "message" }, o.message), el("p", { class: "recommendation" }, o.recommendation || ""), meta);
    return item;
  }));
}

async function acknowledge(id) {
  let who = localStorage.getItem("ack-by") || "";
  who = window.prompt("Acknowledge as (your name):", who);
  if (!who) return;
  localStorage.setItem("ack-by", who);
  for (let attempt = 0; attempt < 2; attempt++) {
    const headers = { "Content-Type": "application/json" };
    const token = sessionStorage.getItem("dashboard-token");
    if (token) headers.Authorization = "Bearer " + token;
    try {
      await api(`/api/observations/${id}/ack`, { method: "POST", headers, body: JSON.stringify({ by: who }) });
      await loadObservations();
      return;
    } catch (e) {
      if (e.status === 401 && attempt === 0) {
        const entered = window.prompt("This dashboard needs its token to acknowledge:");
        if (!entered) return;
        sessionStorage.setItem("dashboard-token", entered);
        continue;
      }
      showError(`Could not acknowledge: ${e.message}`);
      return;
    }
  }
}

function follow() {
  const live = $("#live");
  const source = new EventSource("/api/events");
  const mark = on => { live.className = "live " + (on ? "on" : "off"); live.textContent = on ? "live" : "reconnecting…"; };
  source.addEventListener("status", e => mark(JSON.parse(e.data).live));
  source.addEventListener("minute", e => {
    const data = JSON.parse(e.data);
    if (!state.cache || data.caches.includes(state.cache)) scheduleReload();
    else if (!state.caches.some(c => data.caches.includes(c.cache_name))) scheduleReload(2000);
  });
  source.addEventListener("observation", () => loadObservations().catch(err => showError(err.message)));
  source.onerror = () => mark(false);
}

function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.get("range")) state.range = params.get("range");
  if (params.get("cache")) state.cache = params.get("cache");
}
function writeHash() {
  const params = new URLSearchParams({ range: state.range });
  if (state.cache) params.set("cache", state.cache);
  history.replaceState(null, "", "#" + params.toString());
}
function markRange() {
  for (const b of document.querySelectorAll("#ranges button")) b.setAttribute("aria-pressed", String(b.dataset.range === state.range));
}

document.addEventListener("DOMContentLoaded", () => {
  readHash();
  markRange();
  for (const b of document.querySelectorAll("#ranges button")) {
    b.addEventListener("click", () => { state.range = b.dataset.range; markRange(); writeHash(); reload(); });
  }
  $("#cache").addEventListener("change", e => { state.cache = e.target.value; writeHash(); reload(); });
  api("/api/health").then(h => { $("#schema").textContent = h.schema; }).catch(() => {});
  reload();
  follow();
});
