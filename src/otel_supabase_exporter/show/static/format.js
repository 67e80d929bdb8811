// Numbers and times as the page shows them; times in UTC (as the CLI prints them) or the browser's zone.
"use strict";

const Fmt = (() => {
  const formatters = new Map();
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  let utc = true;

  function parts(seconds) {
    const key = utc ? "UTC" : "local";
    if (!formatters.has(key)) {
      formatters.set(key, new Intl.DateTimeFormat("en-GB", {
        timeZone: utc ? "UTC" : undefined, year: "numeric", month: "short", day: "numeric",
        hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" }));
    }
    const out = {};
    for (const p of formatters.get(key).formatToParts(new Date(seconds * 1000))) out[p.type] = p.value;
    return out;
  }
  // "+05:30" for the browser's zone at that time
  function offset(date = new Date()) {
    const minutes = -date.getTimezoneOffset();
    const sign = minutes < 0 ? "−" : "+", a = Math.abs(minutes);
    return `${sign}${String(Math.floor(a / 60)).padStart(2, "0")}:${String(a % 60).padStart(2, "0")}`;
  }
  function localZone() { return Intl.DateTimeFormat().resolvedOptions().timeZone || "local"; }

  return {
    setUtc(value) { utc = Boolean(value); },
    get utc() { return utc; },
    zoneLabel() { return utc ? "UTC" : `${localZone()} (UTC${offset()})`; },
    zoneShort() { return utc ? "UTC" : localZone(); },
    // "14:03", "1 Dec", "1 Dec 14:03", "1 Dec 2026 14:03:20 UTC"
    hm(seconds) { const p = parts(seconds); return `${p.hour}:${p.minute}`; },
    day(seconds) { const p = parts(seconds); return `${p.day} ${p.month}`; },
    time(seconds) { const p = parts(seconds); return `${p.day} ${p.month} ${p.hour}:${p.minute}`; },
    full(iso) {
      if (!iso) return "–";
      const p = parts(Date.parse(iso) / 1000);
      return `${p.day} ${p.month} ${p.year} ${p.hour}:${p.minute}:${p.second} ${utc ? "UTC" : localZone()}`;
    },
    // the value of a datetime-local input for an ISO time, and back
    toInput(iso) {
      const p = parts(Date.parse(iso) / 1000);
      const month = String(MONTHS.indexOf(p.month.slice(0, 3)) + 1).padStart(2, "0");
      return `${p.year}-${month}-${p.day.padStart(2, "0")}T${p.hour}:${p.minute}`;
    },
    fromInput(value) {
      const ms = utc ? Date.parse(value + ":00Z") : new Date(value).getTime();
      return Number.isNaN(ms) ? null : new Date(ms).toISOString();
    },
    number(value, digits = 1) {
      if (value === null || value === undefined) return "–";
      if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString("en-US");
      return Number(value).toFixed(digits);
    },
    signed(value, digits = 1, unit = "") {
      if (value === null || value === undefined) return "–";
      const text = Number(value).toFixed(digits);
      if (Number(text) === 0) return "±" + Math.abs(Number(text)).toFixed(digits) + unit;
      return (value > 0 ? "+" : "") + text + unit;
    },
    // an axis tick: few digits, thousands as k and millions as M
    tick(value, increment) {
      const a = Math.abs(value);
      if (a >= 1e6) return +(value / 1e6).toFixed(2) + "M";
      if (a >= 1e4) return +(value / 1e3).toFixed(1) + "k";
      let digits = 0;  // as many decimals as the step needs: 2.5 → 1, 0.25 → 2
      while (digits < 4 && Math.abs(Math.round(increment * 10 ** digits) - increment * 10 ** digits) > 1e-6) digits++;
      return value.toFixed(digits);
    },
  };
})();
