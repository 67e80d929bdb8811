// The dashboard page: reads /api/, draws the charts (charts.js), the tables and the observations,
// follows /api/events (Server-Sent Events) once the first load is done, unless ?live=0.
"use strict";

const state = {
  cache: null, range: "1h", custom: null, caches: [], reference: "legacy", busiest: null,
  reloadTimer: null, failures: 0, schema: null, charts: null, following: false, loading: null,
};
const chartContext = { bands: [], hidden: new Set(), reference: "legacy", onZoom: zoom, onBand: showBand };
window.dashboard = { state, charts: Charts.instances, context: chartContext };

function $(sel) { return document.querySelector(sel); }
function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}
const api = Observations.api;

function query() {
  const params = state.custom ? new URLSearchParams(state.custom) : new URLSearchParams({ range: state.range });
  if (state.cache) params.set("cache", state.cache);
  return params.toString();
}
function showError(message) {
  const box = $("#error");
  box.hidden = !message;
  box.textContent = message || "";
}
// what the reader can do about a failed load
function advice(e, retryIn) {
  const retry = `The page tries again by itself in ${retryIn} s.`;
  if (e.status === undefined) {
    return `The dashboard server does not answer (${e.message}): is \`otel-supabase-exporter dashboard\` still `
      + `running? ${retry}`;
  }
  if (e.status === 503 && /not migrated/.test(e.message)) return `${e.message}. ${retry}`;
  if (e.status === 503) {
    return `The database does not answer: ${e.message}. ${retry} \`otel-supabase-exporter doctor\` checks the `
      + "connection and the schema.";
  }
  return `Could not load the data: ${e.message}. ${retry}`;
}

async function loadHealth() {
  try {
    const health = await api("/api/health");
    state.schema = health.schema;
    state.charts = health.charts || null;
    $("#footer").replaceChildren("Data from PostgreSQL schema ", el("code", { id: "schema" }, health.schema),
      "; JSON API under ", el("code", {}, "/api/"), ".");
  } catch (e) {
    $("#footer").textContent = "The database is not reachable right now: the schema is shown once it answers. "
      + "JSON API under /api/.";
    throw e;
  }
}

async function loadCaches() {
  const data = await api("/api/caches");
  state.caches = data.caches;
  state.reference = chartContext.reference = data.reference_implementation;
  state.busiest = data.busiest || (data.caches[0] && data.caches[0].cache_name) || null;
  const select = $("#cache");
  select.replaceChildren(...data.caches.map(c => el("option", { value: c.cache_name },
    `${c.cache_name} (${Fmt.number(c.operations_24h || 0, 0)} ops in 24 h)`)));
  if (!data.caches.length) { state.cache = null; return; }
  if (!state.cache || !data.caches.some(c => c.cache_name === state.cache)) state.cache = state.busiest;
  select.value = state.cache;
}

async function reload() {
  clearTimeout(state.reloadTimer);
  try {
    if (!state.schema) await loadHealth();
    await loadCaches();
    const empty = !state.caches.length;
    $("#empty").hidden = !empty;
    $("#overview").hidden = empty;
    $("#charts-section").hidden = empty;
    if (!empty) {
      const q = query();
      const [series, summary, compare, bands] = await Promise.all([
        api("/api/series?" + q), api("/api/summary?" + q), api("/api/compare?" + q), api("/api/bands?" + q),
      ]);
      renderSummary(summary);
      renderCompare(compare);
      renderCharts(series, bands.bands);
      $("#range-label").textContent = `${Fmt.full(series.from)} – ${Fmt.full(series.to)}, `
        + `${series.bucket_seconds / 60} min buckets from ${series.source}`;
      fillCustom(series.from, series.to);
    }
    await Observations.load($("#observations"), $("#no-observations"), reload);
    $("#updated").textContent = "updated " + Fmt.hm(Date.now() / 1000) + " " + Fmt.zoneShort();
    state.failures = 0;
    showError("");
    document.body.dataset.loaded = String(Date.now());
    if (!state.following) follow();
  } catch (e) {
    if (e.status === 404 && /unknown cache/.test(e.message) && state.cache !== state.busiest) {
      state.cache = null;  // a cache from an old link: start over on the busiest one
      writeHash();
      scheduleReload(0);
      return;
    }
    state.failures += 1;
    const wait = Math.min(30, 2 ** state.failures);
    showError(advice(e, wait));
    scheduleReload(wait * 1000);
  }
}
function scheduleReload(delay = 400) {
  clearTimeout(state.reloadTimer);
  state.reloadTimer = setTimeout(reload, delay);
}

function renderSummary(data) {
  $("#summary").dataset.from = data.from;
  $("#summary").dataset.to = data.to;
  const none = !data.rows.length;
  $("#no-range-data").hidden = !none;
  $("#no-range-data").textContent = none ? `No operations of ${state.cache} in this range: choose a longer range `
    + "(or the last hour, if the cache is running now)." : "";
  $("#summary tbody").replaceChildren(...data.rows.map(r => {
    const row = el("tr", { "data-implementation": r.implementation_type });
    const cells = [
      ["implementation", "implementation", r.implementation_type, null], ["operations", "operations", r.total_operations, 0],
      ["ops_per_minute", "ops/min", r.throughput_per_minute, 1], ["hit_rate", "hit %", r.hit_rate, 1],
      ["p50_ms", "p50 ms", r.p50_response_time_ms, 3], ["p95_ms", "p95 ms", r.p95_response_time_ms, 3],
      ["p99_ms", "p99 ms", r.p99_response_time_ms, 3], ["error_rate", "errors %", r.error_rate, 2],
      ["cache_size", "cache size", r.cache_size, 0],
    ];
    for (const [metric, label, value, digits] of cells) {
      const td = el("td", { "data-metric": metric, "data-label": label },
        digits === null ? value : Fmt.number(value, digits));
      if (digits !== null && value !== null && value !== undefined) td.dataset.value = String(value);
      row.append(td);
    }
    return row;
  }));
}

function renderCompare(data) {
  $("#compare").hidden = !data.rows.length;
  $("#compare tbody").replaceChildren(...data.rows.map(r => {
    const row = el("tr", { "data-implementation": r.implementation_type });
    const cells = [
      ["implementation", "implementation", r.implementation_type], ["reference", "vs", r.reference_implementation],
      ["hit_rate_diff", "hit rate (pts)", Fmt.signed(r.hit_rate_diff, 1), r.hit_rate_diff, -1],
      ["p50_diff_pct", "p50", Fmt.signed(r.p50_diff_pct, 0, " %"), r.p50_diff_pct, 1],
      ["p95_diff_pct", "p95", Fmt.signed(r.p95_diff_pct, 0, " %"), r.p95_diff_pct, 1],
      ["p99_diff_pct", "p99", Fmt.signed(r.p99_diff_pct, 0, " %"), r.p99_diff_pct, 1],
      ["error_rate_diff", "errors (pts)", Fmt.signed(r.error_rate_diff, 2), r.error_rate_diff, 1],
      ["throughput_diff_pct", "throughput", Fmt.signed(r.throughput_diff_pct, 0, " %"), r.throughput_diff_pct, 0],
    ];
    for (const [metric, label, text, value, badSign] of cells) {
      const td = el("td", { "data-metric": metric, "data-label": label }, text);
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

function renderCharts(series, bands) {
  const notice = $("#no-charts");
  if (!Charts.available()) {
    notice.hidden = false;
    notice.textContent = "The charts are off: " + ((state.charts && state.charts.fix)
      || "the chart library (uPlot) did not load; it is fetched when the package is built, so run "
      + "`pip install -e .` in the source tree (or install the wheel)") + ". The tables above are complete.";
    return;
  }
  chartContext.bands = bands;
  const drawn = series.series.length ? Charts.render($("#charts"), series, chartContext) : [];
  if (!series.series.length) Charts.clear();
  notice.hidden = series.series.length > 0;
  notice.textContent = series.series.length ? "" : `Nothing to draw for ${state.cache} in this range: choose a `
    + "longer range above, or zoom out.";
  $("#charts").dataset.panels = drawn.map(p => p.id).join(" ");
}

function zoom(from, to) {
  const minute = 60;
  from = Math.floor(from / minute) * minute;
  to = Math.max(from + minute, Math.ceil(to / minute) * minute);
  state.custom = { from: new Date(from * 1000).toISOString(), to: new Date(to * 1000).toISOString() };
  afterRangeChange();
}
function showBand(id) {
  if (!Observations.show(id)) showError(`Observation ${id} is no longer open: \`otel-supabase-exporter observations `
    + "--all\` lists it.");
}
function fillCustom(from, to) {
  if (document.activeElement && document.activeElement.closest("#custom")) return;  // the reader is typing
  $("#custom-from").value = Fmt.toInput(from);
  $("#custom-to").value = Fmt.toInput(to);
}
function afterRangeChange() {
  markRange();
  writeHash();
  reload();
}

function follow() {
  if (new URLSearchParams(location.search).get("live") === "0") {
    $("#live").className = "live off";
    $("#live").textContent = "not live (?live=0)";
    return;
  }
  state.following = true;
  const live = $("#live");
  const source = new EventSource("/api/events");
  let wasLive = null;
  const mark = on => {
    live.className = "live " + (on ? "on" : "off");
    live.textContent = on ? "live" : "reconnecting…";
    if (on && wasLive === false) scheduleReload(0);  // back after an outage: catch up at once
    wasLive = on;
  };
  source.addEventListener("status", e => mark(JSON.parse(e.data).live));
  source.addEventListener("minute", e => {
    const data = JSON.parse(e.data);
    if (state.custom) return;  // a fixed range does not move
    if (!state.cache || data.caches.includes(state.cache)) scheduleReload();
    else if (!state.caches.some(c => data.caches.includes(c.cache_name))) scheduleReload(2000);
  });
  source.addEventListener("observation", () => scheduleReload());
  source.onerror = () => mark(false);
}

function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  state.range = params.get("range") || "1h";
  state.custom = params.get("from") && params.get("to") ? { from: params.get("from"), to: params.get("to") } : null;
  if (params.get("cache")) state.cache = params.get("cache");
  Fmt.setUtc(params.get("tz") !== "local");
}
function writeHash() {
  const params = state.custom ? new URLSearchParams(state.custom) : new URLSearchParams({ range: state.range });
  if (state.cache) params.set("cache", state.cache);
  if (!Fmt.utc) params.set("tz", "local");
  history.replaceState(null, "", location.pathname + location.search + "#" + params.toString());
}
function markRange() {
  for (const b of document.querySelectorAll("#ranges button")) {
    b.setAttribute("aria-pressed", String(!state.custom && b.dataset.range === state.range));
  }
  $("#unzoom").hidden = !state.custom;
  for (const b of document.querySelectorAll("#zone button")) {
    b.setAttribute("aria-pressed", String((b.dataset.zone === "utc") === Fmt.utc));
  }
  $("#zone-name").textContent = `times in ${Fmt.zoneLabel()}`;
}

document.addEventListener("DOMContentLoaded", () => {
  readHash();
  markRange();
  for (const b of document.querySelectorAll("#ranges button")) {
    b.addEventListener("click", () => { state.range = b.dataset.range; state.custom = null; afterRangeChange(); });
  }
  $("#unzoom").addEventListener("click", () => { state.custom = null; afterRangeChange(); });
  $("#custom").addEventListener("submit", e => {
    e.preventDefault();
    const from = Fmt.fromInput($("#custom-from").value), to = Fmt.fromInput($("#custom-to").value);
    if (!from || !to) { showError("Custom range: give both times (from and to)."); return; }
    if (Date.parse(to) <= Date.parse(from)) { showError("Custom range: “to” must be after “from”."); return; }
    state.custom = { from, to };
    document.activeElement.blur();
    afterRangeChange();
  });
  for (const b of document.querySelectorAll("#zone button")) {
    b.addEventListener("click", () => { Fmt.setUtc(b.dataset.zone === "utc"); afterRangeChange(); });
  }
  $("#cache").addEventListener("change", e => { state.cache = e.target.value; writeHash(); reload(); });
  // a link pasted or edited by hand (the page's own changes replace the hash without this event)
  window.addEventListener("hashchange", () => { readHash(); markRange(); reload(); });
  let resizeTimer = null;
  window.addEventListener("resize", () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(Charts.resize, 150); });
  reload();
});
