// The charts, drawn by uPlot (fetched at a pinned version when the package is built: hatch_build.py).
// One chart per panel, cursors in sync; every bucket of the range is an x value, so a bucket without
// data is null and drawn as a gap; the bucket still being written is left out of the lines and shaded;
// the auditor's observations are bands under the lines. Dragging across a chart asks for that range.
"use strict";

const Charts = (() => {
  const IMPLEMENTATION_COLORS = ["#3558a8", "#d9480f", "#0f766e", "#7c3aed"];
  const PERCENTILES = [
    { metric: "p50_ms", label: "p50", stroke: "#0f766e", width: 1.5 },
    { metric: "p95_ms", label: "p95", stroke: "#7c3aed", width: 2.5 },
    { metric: "p99_ms", label: "p99", stroke: "#be123c", width: 1.5, dash: [6, 4] },
  ];
  const METRIC_PANEL = { hit_rate: "hit", error_rate: "errors", throughput_per_minute: "ops",
    p50_response_time_ms: "latency", p95_response_time_ms: "latency", p99_response_time_ms: "latency" };
  const HEIGHT = 240;
  // y tick steps: 1, 2, 2.5 and 5 times a power of ten
  const Y_STEPS = [];
  for (let e = -4; e <= 9; e++) for (const m of [1, 2, 2.5, 5]) Y_STEPS.push(+(m * 10 ** e).toPrecision(3));
  const instances = new Map();  // figure id -> { u, key, panel }
  const sync = typeof uPlot === "function" ? uPlot.sync("board") : null;

  function available() { return typeof uPlot === "function"; }

  // every bucket start of [from, to) in seconds, and where the incomplete buckets begin
  function grid(data) {
    const from = Date.parse(data.from) / 1000, to = Date.parse(data.to) / 1000, step = data.bucket_seconds;
    const xs = [];
    for (let t = from; t < to; t += step) xs.push(t);
    const complete = Date.parse(data.complete_before || data.to) / 1000;
    const partial = xs.find(t => t + step > complete);
    return { xs, from, to, step, partial: partial === undefined ? null : partial };
  }
  function column(g, points, metric) {
    const ys = new Array(g.xs.length).fill(null);
    for (const p of points) {
      const i = Math.round((Date.parse(p.t) / 1000 - g.from) / g.step);
      if (i < 0 || i >= ys.length || (g.partial !== null && g.xs[i] >= g.partial)) continue;
      ys[i] = p[metric] === undefined ? null : p[metric];
    }
    return ys;
  }
  const known = ys => ys.some(v => v !== null);

  // the panels a cache's series make: rates and throughput overlaid, latency one panel per
  // implementation on a shared scale, size only when some series reports one
  function panels(data, reference) {
    const g = grid(data);
    const series = [...data.series].sort((a, b) => (a.implementation_type === reference ? -1 : 0)
      - (b.implementation_type === reference ? -1 : 0) || a.implementation_type.localeCompare(b.implementation_type));
    const color = s => IMPLEMENTATION_COLORS[series.indexOf(s) % IMPLEMENTATION_COLORS.length];
    const overlay = (metric, digits) => series.map(s => ({
      label: s.implementation_type, implementation: s.implementation_type, metric, stroke: color(s), width: 2,
      digits, values: column(g, s.points, metric) }));
    // the baseline the auditor judges a bucket against, thin and dotted in the series' colour
    const expected = (s, metric, digits, stroke, label) => ({
      label: `${label} expected`, implementation: s.implementation_type, metric, expected: true, stroke,
      width: 1.25, dash: [2, 3], digits, values: column(g, s.expected || [], metric) });
    const withExpected = (metric, digits) => [...overlay(metric, digits), ...series
      .map(s => expected(s, metric, digits, color(s), s.implementation_type))
      .filter(l => known(l.values))];
    const list = [
      { id: "hit", title: "Hit rate", unit: "%", lines: withExpected("hit_rate", 1), range: "percent",
        empty: "No lookups (gets) in this range, so no hit rate: only sets, deletes or errors were counted." },
      { id: "ops", title: "Throughput", unit: "ops/min", lines: withExpected("ops_per_minute", 0), range: "zero",
        empty: "No complete bucket in this range yet: wait a minute, or choose a longer range." },
      { id: "errors", title: "Error rate", unit: "%", lines: withExpected("error_rate", 2), range: "errors",
        empty: "No complete bucket in this range yet: wait a minute, or choose a longer range." },
    ];
    series.forEach((s, i) => list.push({
      id: "latency-" + i, kind: "latency", implementation: s.implementation_type,
      title: `Latency · ${s.implementation_type}`, unit: "ms", range: "latency",
      empty: `No latency measured for ${s.implementation_type} in this range: its operations arrived as counts `
        + "without durations.",
      lines: [...PERCENTILES.map(p => ({ ...p, implementation: s.implementation_type, digits: 3,
        values: column(g, s.points, p.metric) })), expected(s, "p95_ms", 3, PERCENTILES[1].stroke, "p95")]
        .filter(l => !l.expected || known(l.values)) }));
    const size = overlay("cache_size", 0);
    if (size.some(l => known(l.values))) {
      list.push({ id: "size", title: "Cache size", unit: "entries", lines: size.filter(l => known(l.values)),
        range: "zero" });
    }
    const latencyMax = Math.max(0, ...list.filter(p => p.kind === "latency")
      .flatMap(p => p.lines.flatMap(l => l.values.filter(v => v !== null))));
    return { g, list, latencyMax };
  }

  // [low, high, step]: the smallest step of Y_STEPS that spans [lo, hi] in at most 5 steps, so an
  // axis has 4 to 6 ticks (the next smaller step is at most half as large and needs more than 5)
  function nice(lo, hi, floor, ceil) {
    for (const step of Y_STEPS) {
      let a = Math.floor(lo / step + 1e-9) * step, b = Math.ceil(hi / step - 1e-9) * step;
      if (floor !== undefined) a = Math.max(floor, a);
      if (ceil !== undefined) b = Math.min(ceil, b);
      if (b <= a) b = a + step;
      if ((b - a) / step <= 5 + 1e-9) return [a, b, step];
    }
    return [lo, hi, hi - lo];
  }

  function scaleRange(panel, ctx) {
    return (u, min, max) => {
      let r;
      if (min === null || max === null) r = panel.range === "percent" ? [0, 100, 20] : [0, 1, 0.2];
      else if (panel.range === "percent") {
        const pad = Math.max(0.5, (max - min) * 0.1);
        r = nice(min - pad, max + pad, 0, 100);
      } else if (panel.range === "latency") r = nice(0, (ctx.latencyMax || max || 1) * 1.05);
      else if (panel.range === "errors") r = nice(0, Math.max(1, max * 1.05));
      else r = nice(0, (max || 1) * 1.05);
      panel.ticks = r;
      return [r[0], r[1]];
    };
  }
  function ySplits(panel) {
    return () => {
      const [a, b, step] = panel.ticks;
      const out = [];
      for (let i = 0; a + i * step <= b + step * 1e-6; i++) out.push(+(a + i * step).toPrecision(12));
      return out;
    };
  }

  function timeTicks(u, splits, axis, space, incr) {
    let previous = null;
    return splits.map(s => {
      const day = Fmt.day(s);
      let label = incr >= 86400 ? day : Fmt.hm(s);
      if (incr < 86400 && day !== previous) label += "\n" + day;
      previous = day;
      return label;
    });
  }

  function options(panel, ctx, width) {
    const bandsHere = ctx.bands.filter(b => bandPanel(b, panel));
    return {
      width, height: HEIGHT,
      tzDate: Fmt.utc ? ts => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC") : ts => new Date(ts * 1e3),
      cursor: { sync: { key: sync.key }, drag: { x: true, y: false, setScale: false }, points: { size: 7 } },
      legend: { live: true },
      scales: { x: { time: true, range: [ctx.g.from, ctx.g.to] }, y: { range: scaleRange(panel, ctx) } },
      axes: [
        { space: 90, size: 50, font: "12px system-ui, sans-serif", values: timeTicks,
          label: `time (${Fmt.zoneShort()})`, labelSize: 18, labelFont: "12px system-ui, sans-serif" },
        { splits: ySplits(panel), font: "12px system-ui, sans-serif",
          values: (u, splits) => splits.map(v => `${Fmt.tick(v, panel.ticks[2])} ${panel.unit}`),
          size: (u, values) => values ? Math.ceil(Math.max(...values.map(v => v.length)) * 7) + 18 : 60 },
      ],
      series: [
        { label: "time", value: (u, ts) => ts === null ? "–" : `${Fmt.time(ts)} ${Fmt.zoneShort()}` },
        ...panel.lines.map(l => ({
          label: l.label, stroke: l.stroke, width: l.width, dash: l.dash, spanGaps: false,
          show: !ctx.hidden.has(`${panel.id}/${l.label}`),
          value: (u, v) => v === null || v === undefined ? "–" : `${Fmt.number(v, l.digits)} ${panel.unit}`,
          // a bucket with no neighbour has no line to be part of: draw it as a dot
          points: { filter: (u, si, show) => show ? null : isolated(u.data[si]) },
        })),
      ],
      hooks: {
        draw: [u => placeOverlays(u, panel, ctx, bandsHere)],
        setSelect: [u => {
          if (u.select.width < 4) return;
          const from = u.posToVal(u.select.left, "x"), to = u.posToVal(u.select.left + u.select.width, "x");
          u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
          ctx.onZoom(from, to);
        }],
        setSeries: [(u, si) => {
          if (si === null) return;
          const key = `${panel.id}/${u.series[si].label}`;
          if (u.series[si].show) ctx.hidden.delete(key); else ctx.hidden.add(key);
        }],
        setCursor: [u => difference(u, panel, ctx)],
      },
    };
  }

  function isolated(ys) {
    const out = [];
    for (let i = 0; i < ys.length; i++) {
      if (ys[i] !== null && (i === 0 || ys[i - 1] === null) && (i === ys.length - 1 || ys[i + 1] === null)) out.push(i);
    }
    return out.length ? out : null;
  }

  function bandPanel(band, panel) {
    const target = METRIC_PANEL[band.metric];
    if (target === "latency") return panel.kind === "latency" && panel.implementation === band.implementation_type;
    return target ? panel.id === target : true;
  }

  // the observation bands and the shaded incomplete bucket, as elements under the canvas
  function placeOverlays(u, panel, ctx, bands) {
    const layer = u.under;
    const width = u.over.clientWidth;
    const place = (node, start, end) => {
      const left = Math.max(0, u.valToPos(start, "x")), right = Math.min(width, u.valToPos(end, "x"));
      node.hidden = !(right > left);
      node.style.left = `${left}px`;
      node.style.width = `${Math.max(2, right - left)}px`;
    };
    let partial = layer.querySelector(".partial");
    if (ctx.g.partial !== null) {
      if (!partial) { partial = document.createElement("div"); partial.className = "partial"; layer.append(partial); }
      partial.title = "this bucket is still being written: left out of the lines";
      place(partial, ctx.g.partial, ctx.g.to);
    } else if (partial) partial.remove();
    for (const node of layer.querySelectorAll(".band, .band-window")) node.remove();
    for (const b of bands) {
      if (b.window_start && Date.parse(b.window_start) < Date.parse(b.start)) {
        // the minutes the auditor judged when it opened the observation, lighter
        const judged = document.createElement("div");
        judged.className = `band-window ${b.severity}`;
        judged.title = `the window judged when the observation opened: ${b.message}`;
        layer.append(judged);
        place(judged, Date.parse(b.window_start) / 1000, Date.parse(b.start) / 1000);
      }
      const node = document.createElement("div");
      node.className = `band ${b.severity}`;
      node.dataset.observationId = String(b.id);
      node.title = `${b.severity}, open: ${b.message}`;
      layer.append(node);
      place(node, Date.parse(b.start) / 1000, Date.parse(b.end) / 1000);
    }
  }

  // under an overlaid panel: each implementation against the reference at the cursor
  function difference(u, panel, ctx) {
    const out = u.root.closest("figure") && u.root.closest("figure").querySelector(".diff");
    if (!out || panel.kind === "latency") return;
    const i = u.cursor.idx;
    const ref = panel.lines.findIndex(l => l.implementation === ctx.reference && !l.expected);
    const measured = panel.lines.filter(l => !l.expected);
    if (i === null || i === undefined || ref < 0 || measured.length < 2) { out.textContent = ""; return; }
    const base = u.data[ref + 1][i];
    const rate = panel.unit === "%";
    out.textContent = measured.filter(l => l !== panel.lines[ref]).map(l => {
      const v = u.data[panel.lines.indexOf(l) + 1][i];
      if (v === null || base === null) return `${l.label} vs ${ctx.reference}: –`;
      return rate ? `${l.label} − ${ctx.reference}: ${Fmt.signed(v - base, 2, " pts")}`
        : `${l.label} vs ${ctx.reference}: ${base ? Fmt.signed(100 * (v - base) / base, 0, " %") : "–"}`;
    }).join(" · ") + ` at ${Fmt.time(u.data[0][i])}`;
  }

  function figure(panel, ctx) {
    const fig = document.createElement("figure");
    fig.id = "chart-" + panel.id;
    fig.dataset.chart = panel.kind || panel.id;
    if (panel.implementation) fig.dataset.implementation = panel.implementation;
    const caption = document.createElement("figcaption");
    caption.textContent = `${panel.title} (${panel.unit})`;
    const plot = document.createElement("div");
    plot.className = "plot";
    const diff = document.createElement("p");
    diff.className = "diff";
    const links = document.createElement("ul");
    links.className = "band-links";
    for (const b of ctx.bands.filter(b => bandPanel(b, panel))) {
      const item = document.createElement("li");
      const a = document.createElement("a");
      a.href = `#obs-${b.id}`;
      a.dataset.observationId = String(b.id);
      a.className = b.severity;
      a.textContent = `${b.severity} · ${b.implementation_type} · ${b.rule}: `
        + (b.window_start ? `judged from ${Fmt.time(Date.parse(b.window_start) / 1000)}, ` : "")
        + `open ${Fmt.time(Date.parse(b.start) / 1000)}`
        + (b.status === "open" ? " – now" : ` – ${Fmt.time(Date.parse(b.end) / 1000)}`);
      a.addEventListener("click", e => { e.preventDefault(); ctx.onBand(b.id); });
      item.append(a);
      links.append(item);
    }
    fig.append(caption, plot, diff, links);
    return fig;
  }

  // draw (or update) every panel into root; returns the panels drawn
  function render(root, data, ctx) {
    const { g, list, latencyMax } = panels(data, ctx.reference);
    Object.assign(ctx, { g, latencyMax });
    const ids = new Set(list.map(p => p.id));
    for (const [id, entry] of instances) {
      if (!ids.has(id)) { entry.u.destroy(); instances.delete(id); }
    }
    const figures = [];
    for (const panel of list) {
      if (!panel.lines.some(l => !l.expected && known(l.values))) {  // nothing measured: say why, no empty chart
        const entry = instances.get(panel.id);
        if (entry) { entry.u.destroy(); instances.delete(panel.id); }
        const fig = figure(panel, ctx);
        fig.querySelector(".plot").replaceWith(Object.assign(document.createElement("p"),
          { className: "notice empty-panel", textContent: panel.empty }));
        figures.push(fig);
        continue;
      }
      const key = JSON.stringify([panel.lines.map(l => l.label), Fmt.utc, g.from, g.to, g.step,
        ctx.bands.map(b => [b.id, b.end])]);
      const data = [g.xs, ...panel.lines.map(l => l.values)];
      const entry = instances.get(panel.id);
      if (entry && entry.key === key) {
        entry.panel.lines = panel.lines;
        entry.u.setData(data);
        figures.push(entry.u.root.closest("figure"));
        continue;
      }
      if (entry) { entry.u.destroy(); instances.delete(panel.id); }
      const fig = figure(panel, ctx);
      figures.push(fig);
      root.append(fig);  // in the document first, so it has a width
      const u = new uPlot(options(panel, ctx, fig.querySelector(".plot").clientWidth || 600), data,
        fig.querySelector(".plot"));
      sync.sub(u);
      instances.set(panel.id, { u, key, panel });
    }
    root.replaceChildren(...figures);
    return list;
  }

  function resize() {
    for (const { u } of instances.values()) {
      const width = u.root.parentElement.clientWidth;
      if (width && Math.abs(width - u.width) > 2) u.setSize({ width, height: HEIGHT });
    }
  }

  function clear() {
    for (const { u } of instances.values()) u.destroy();
    instances.clear();
  }

  return { available, render, resize, clear, instances, grid };
})();
