// The auditor's open observations, each acknowledged through its own small form.
"use strict";

const Observations = (() => {
  function el(tag, attrs = {}, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  async function api(path, options) {
    const response = await fetch(path, options);
    const body = await response.json().catch(() => ({ error: response.statusText }));
    if (!response.ok) { const e = new Error(body.error || response.statusText); e.status = response.status; throw e; }
    return body;
  }

  function ackForm(o, reload) {
    const form = el("form", { class: "ack-form", "aria-label": `acknowledge observation ${o.id}` });
    const by = el("input", { name: "by", "aria-required": "true", maxlength: "200", autocomplete: "name", size: "14",
      placeholder: "your name" });
    by.value = localStorage.getItem("ack-by") || "";
    const tokenLabel = el("label", { class: "token" }, "token ");
    const token = el("input", { name: "token", type: "password", autocomplete: "off", size: "14" });
    tokenLabel.append(token);
    tokenLabel.hidden = true;
    const whoLabel = el("label", {}, "acknowledge as ");
    whoLabel.append(by);
    const message = el("span", { class: "ack-message", role: "status" });
    form.append(whoLabel, tokenLabel, el("button", { type: "submit", class: "ack-button" }, "acknowledge"), message);
    form.addEventListener("submit", async e => {
      e.preventDefault();
      const who = by.value.trim();
      if (!who) { message.textContent = "enter who acknowledges"; by.focus(); return; }
      localStorage.setItem("ack-by", who);
      if (token.value) sessionStorage.setItem("dashboard-token", token.value);
      const headers = { "Content-Type": "application/json" };
      const saved = sessionStorage.getItem("dashboard-token");
      if (saved) headers.Authorization = "Bearer " + saved;
      message.textContent = "…";
      try {
        await api(`/api/observations/${o.id}/ack`, { method: "POST", headers, body: JSON.stringify({ by: who }) });
        await reload();
      } catch (err) {
        if (err.status === 401) {
          sessionStorage.removeItem("dashboard-token");
          tokenLabel.hidden = false;
          message.textContent = "this dashboard needs its token to acknowledge: enter it and press acknowledge";
          token.focus();
        } else {
          message.textContent = `not acknowledged: ${err.message}`;
        }
      }
    });
    return form;
  }

  async function load(list, empty, reload) {
    const data = await api("/api/observations?status=open&limit=200");
    empty.hidden = data.observations.length > 0;
    list.replaceChildren(...data.observations.map(o => {
      const item = el("li", { id: `obs-${o.id}`, class: o.severity, tabindex: "-1", "data-id": String(o.id),
        "data-severity": o.severity, "data-acknowledged": String(o.acknowledged) });
      const head = el("div", { class: "head" });
      head.append(el("span", { class: "badge" }, o.severity),
        el("span", {}, `${o.category} · ${o.cache_name} (${o.implementation_type}) · ${o.rule}`));
      const meta = el("div", { class: "meta" },
        `open since ${Fmt.full(o.first_seen_at)}, last seen ${Fmt.full(o.last_seen_at)}`);
      item.append(head, el("p", { class: "message" }, o.message),
        el("p", { class: "recommendation" }, o.recommendation || ""), meta);
      if (o.acknowledged) {
        meta.append(el("span", { class: "ack" }, ` · acknowledged by ${o.acknowledged_by} at ${Fmt.full(o.acknowledged_at)}`));
      } else {
        item.append(ackForm(o, reload));
      }
      return item;
    }));
  }

  function show(id) {
    const item = document.getElementById(`obs-${id}`);
    if (!item) return false;
    item.scrollIntoView({ block: "center" });
    item.focus();
    item.classList.add("flash");
    setTimeout(() => item.classList.remove("flash"), 1500);
    return true;
  }

  return { load, show, api };
})();
