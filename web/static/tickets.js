// The staff's ticket list (/console/tickets): filters, counts per status and per queue, and the
// tickets of the filter (GET /api/tickets). Keyboard first: / searches, j / k move in the list,
// Enter opens the chosen ticket. Everything a customer wrote is put as text (textContent).
(function () {
  "use strict";
  const N = window.NUMI, T = N.T.tickets, L = N.T.ticket_labels, Q = N.T.queues, el = N.el;
  const $ = function (id) { return document.getElementById(id); };
  const PAGE = 50, DASH = "—", LIST_KEY = "numi-tickets-list";
  const FIELDS = { q: "f-q", status: "f-status", queue: "f-queue", priority: "f-priority", scenario: "f-scenario",
                   customer_id: "f-customer", waiting_days_min: "f-waiting" };
  let offset = 0, total = 0, rows = [], selected = -1, timer = null, asked = 0;

  function when(iso) { return window.NUMI_CONTINUITY.when(iso) || DASH; }
  function days(iso) {
    if (!iso) return DASH;
    const since = new Date(iso.endsWith("Z") ? iso : iso + "Z");
    const n = Math.max(0, Math.floor((Date.now() - since.getTime()) / 86400000));
    return n + "\u00a0" + T.days;
  }

  function filters() {
    const out = {};
    Object.keys(FIELDS).forEach(function (k) {
      const v = $(FIELDS[k]).value.trim();
      if (v) out[k] = k === "customer_id" ? v.toUpperCase() : v;
    });
    return out;
  }
  function queryOf(f, withPage) {
    const p = new URLSearchParams(f);
    if (withPage) { p.set("limit", String(PAGE)); p.set("offset", String(offset)); p.set("sort", "waiting"); }
    return p.toString();
  }

  function countButton(label, n, field, value) {
    const active = $(FIELDS[field]).value === value;
    return el("button", { type: "button", class: "count-chip" + (active ? " active" : ""), "aria-pressed": active ? "true" : "false",
                          "data-field": field, "data-value": value,
                          onclick: function () { $(FIELDS[field]).value = active ? "" : value; offset = 0; load(); } },
              label + " ", el("span", { class: "count" }, String(n)));
  }

  function counts(c) {
    const byStatus = N.clear($("counts-status")), byQueue = N.clear($("counts-queue"));
    Object.keys(c.status).forEach(function (s) {  // the lifecycle's order (the API's)
      byStatus.appendChild(countButton(L.statuses[s], c.status[s] || 0, "status", s));
    });
    Object.keys(c.queue).forEach(function (q) {
      byQueue.appendChild(countButton(q === "none" ? T.no_queue : (Q.labels[q] || q), c.queue[q] || 0, "queue", q));
    });
    // the filter's menus say how many each choice gives
    document.querySelectorAll("#f-status option[data-label]").forEach(function (o) {
      o.textContent = o.dataset.label + " (" + (c.status[o.value] || 0) + ")";
    });
    document.querySelectorAll("#f-queue option[data-label]").forEach(function (o) {
      o.textContent = o.dataset.label + " (" + (c.queue[o.value] || 0) + ")";
    });
  }

  function link(t) {
    return el("a", { href: "/console/ticket?id=" + encodeURIComponent(t.id), class: "ticket-link" }, t.id);
  }

  function render(items) {
    const body = N.clear($("ticket-rows"));
    rows = [];
    if (!items.length) body.appendChild(el("tr", {}, el("td", { colspan: 9, class: "muted" }, T.none)));
    items.forEach(function (t, i) {
      const tr = el("tr", { "data-id": t.id, class: "ticket-row prio-" + (t.priority || "none"),
                            onclick: function (ev) { if (ev.target.tagName !== "A") select(i, true); } },
        el("td", { class: "ref" }, link(t)),
        el("td", { class: "subject" }, t.subject || DASH),
        el("td", {}, t.customer_name || t.customer_id || DASH),
        el("td", {}, el("span", { class: "status status-" + t.status }, L.statuses[t.status] || t.status)),
        el("td", {}, L.priorities[t.priority] || DASH),
        el("td", {}, t.queue ? (Q.labels[t.queue] || t.queue) : T.no_queue),
        el("td", {}, t.assignee || DASH),
        el("td", { class: "num" }, t.status === "waiting_customer" ? days(t.waiting_since) : DASH),
        el("td", {}, when(t.updated_at)));
      rows.push(tr);
      body.appendChild(tr);
    });
    selected = -1;
  }

  function select(i, focus) {
    if (!rows.length) return;
    selected = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach(function (r, k) { r.classList.toggle("selected", k === selected); r.setAttribute("aria-selected", k === selected ? "true" : "false"); });
    if (focus) rows[selected].querySelector("a").focus();
  }

  async function load() {
    const f = filters(), mine = ++asked;
    history.replaceState(null, "", "/console/tickets" + (Object.keys(f).length ? "?" + queryOf(f) : ""));
    sessionStorage.setItem(LIST_KEY, location.pathname + location.search);
    $("tickets-status").className = "muted";
    $("tickets-status").textContent = T.loading;
    document.body.dataset.busy = "1";
    try {
      const r = await N.api("GET", "/api/tickets?" + queryOf(f, true));
      if (mine !== asked) return;  // a newer filter was asked for meanwhile
      if (!r.ok) { $("tickets-status").className = "error"; N.showError($("tickets-status"), r); render([]); return; }
      total = r.body.counts.total;
      $("tickets-status").textContent = total + " " + T.found;
      counts(r.body.counts);
      render(r.body.tickets);
      const to = offset + r.body.tickets.length;
      $("page-info").textContent = total ? T.range.replace("{from}", String(offset + 1)).replace("{to}", String(to)).replace("{total}", String(total)) : "";
      $("page-prev").disabled = offset === 0;
      $("page-next").disabled = to >= total;
    } finally {
      if (mine === asked) delete document.body.dataset.busy;
    }
  }

  function typing(target) {
    return target && (target.tagName === "INPUT" || target.tagName === "SELECT" || target.tagName === "TEXTAREA");
  }

  function keys(ev) {
    if (ev.ctrlKey || ev.altKey || ev.metaKey) return;
    if (typing(ev.target)) {
      if (ev.key === "Escape") { ev.target.blur(); if (rows.length) select(Math.max(selected, 0), true); }
      return;
    }
    if (ev.key === "/") { ev.preventDefault(); $("f-q").focus(); $("f-q").select(); }
    else if (ev.key === "j" || ev.key === "ArrowDown") { ev.preventDefault(); select(selected + 1, true); }
    else if (ev.key === "k" || ev.key === "ArrowUp") { ev.preventDefault(); select(selected < 0 ? 0 : selected - 1, true); }
    else if (ev.key === "Enter" && selected >= 0 && ev.target.tagName !== "A" && ev.target.tagName !== "BUTTON") {
      ev.preventDefault();
      location.href = rows[selected].querySelector("a").getAttribute("href");
    }
  }

  N.boot(function () {
    const given = new URLSearchParams(location.search);
    Object.keys(FIELDS).forEach(function (k) { if (given.get(k)) $(FIELDS[k]).value = given.get(k); });
    $("ticket-filters").addEventListener("submit", function (ev) { ev.preventDefault(); offset = 0; load(); });
    ["f-status", "f-queue", "f-priority", "f-scenario"].forEach(function (id) {
      $(id).addEventListener("change", function () { offset = 0; load(); });
    });
    $("f-q").addEventListener("input", function () {  // the search follows the typing, a moment after
      clearTimeout(timer);
      timer = setTimeout(function () { offset = 0; load(); }, 350);
    });
    $("f-reset").addEventListener("click", function () {
      Object.values(FIELDS).forEach(function (id) { $(id).value = ""; });
      offset = 0; load(); $("f-q").focus();
    });
    $("page-prev").addEventListener("click", function () { offset = Math.max(0, offset - PAGE); load(); });
    $("page-next").addEventListener("click", function () { offset += PAGE; load(); });
    document.addEventListener("keydown", keys);
    load();
  });
})();
