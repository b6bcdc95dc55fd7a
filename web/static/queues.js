// Level-2, supervisor and CS queues: waiting handoffs, claim, live chat, hand back or close;
// the reminders' call list, daily list and KPIs.
(function () {
  "use strict";
  const N = window.NUMI, Q = N.T.queues, el = N.el, $ = function (id) { return document.getElementById(id); };
  let current = null, lastMessage = 0, poller = null, me = null;

  function row(cells, header) {
    return el("tr", {}, ...cells.map(function (c) { return el(header ? "th" : "td", {}, c === null || c === undefined ? "—" : String(c)); }));
  }
  function table(id, headers, rows) {
    const t = N.clear($(id));
    t.appendChild(row(headers, true));
    rows.forEach(function (r) { t.appendChild(row(r)); });
  }

  async function loadHandoffs() {
    const q = $("queue").value;
    const r = await N.api("GET", "/api/handoffs" + (q ? "?queue=" + encodeURIComponent(q) : ""));
    const ol = N.clear($("handoff-list"));
    if (!r.ok) { ol.appendChild(el("li", { class: "error" }, r.body && r.body.error || N.T.console.error)); return; }
    if (!r.body.handoffs.length) ol.appendChild(el("li", { class: "muted" }, Q.empty));
    r.body.handoffs.forEach(function (h) {
      const p = h.packet || {};
      ol.appendChild(el("li", { class: "handoff-item prio-" + (h.priority || "none") + (current && current.id === h.id ? " selected" : ""),
                                "data-id": h.id, "data-conv": h.conversation_id, tabindex: 0, onclick: function () { open(h.id); },
                                onkeydown: function (ev) { if (ev.key === "Enter") open(h.id); } },
        el("strong", {}, (Q.labels[h.queue] || h.queue) + " · " + (h.priority || "—")),
        " " + (p.scenario_title || p.scenario || ""),
        el("br"),
        el("span", { class: "muted" }, Q.waiting_for + " " + N.minutes(h.waiting_seconds) + " " + Q.minutes +
           (h.claimed_by ? " · " + Q.claimed_by + " " + h.claimed_by : "") + (h.ticket_id ? " · " + h.ticket_id : ""))));
    });
  }

  function packet(h) {
    const p = h.packet || {}, dl = N.clear($("h-packet"));
    const add = function (k, v) { if (v !== undefined && v !== null && v !== "") dl.appendChild(el("dt", {}, k)); if (v !== undefined && v !== null && v !== "") dl.appendChild(el("dd", {}, v)); };
    add(Q.situation, p.situation);
    add(Q.scenario, (p.scenario_title || "") + " (" + (p.scenario || "") + ")");
    add(Q.step_reached, p.step_reached);
    add(Q.tried, (p.tried || []).join(", "));
    add(Q.collected, Object.entries(p.collected || {}).map(function (kv) { return kv[0] + " : " + (typeof kv[1] === "object" ? JSON.stringify(kv[1]) : kv[1]); }).join(" ; "));
    add(Q.mood, p.mood ? (Q.emotions[p.mood.label] || p.mood.label || "") + (p.mood.intensity ? " (" + p.mood.intensity + "/3)" : "") : "");
    $("h-ticket").textContent = h.ticket_id || "";
    const ol = N.clear($("h-messages"));
    (p.transcript || []).filter(function (t) { return t.text; }).forEach(function (t) {
      ol.appendChild(el("li", { class: "msg " + (t.from || "") }, (t.from === "customer" ? Q.customer : Q.bot) + " : " + t.text));
    });
  }

  function controls(h) {
    const mine = h.status === "claimed" && (h.claimed_by === me.name || me.role === "supervisor" || me.role === "admin");
    $("h-claim").disabled = h.status !== "waiting";
    ["h-handback", "h-text", "h-send", "h-note", "h-close-btn"].forEach(function (id) { $(id).disabled = !mine; });
  }

  // the continuity panel (seed 003): the customer's open tickets and last interactions, once held
  function continuity(h) {
    const box = $("h-continuity");
    if (!h.customer_id) { window.NUMI_CONTINUITY.unidentified(box); return; }
    window.NUMI_CONTINUITY.load(box, h.customer_id, "?exclude_handoff=" + encodeURIComponent(h.id), undefined, { link: true });
  }

  async function open(id) {
    const r = await N.api("GET", "/api/handoffs/" + id);
    if (!r.ok) { $("h-status").textContent = r.body && r.body.error; return; }
    current = r.body;
    lastMessage = 0;
    $("handoff").hidden = false;
    $("h-status").textContent = "";
    N.clear($("h-continuity")).hidden = true;
    packet(current);
    controls(current);
    if (current.status === "claimed" && current.claimed_by === me.name) continuity(current);
    appendMessages(current.messages || []);
    clearInterval(poller);
    poller = setInterval(poll, 1000);
  }

  function appendMessages(messages) {
    messages.forEach(function (msg) {
      lastMessage = Math.max(lastMessage, msg.id);
      $("h-messages").appendChild(el("li", { class: "msg live " + msg.from }, (msg.from === "agent" ? (msg.author || Q.agent) : Q.customer) + " : " + msg.text));
    });
    if (messages.length) $("h-messages").lastChild.scrollIntoView({ block: "nearest" });
  }

  async function poll() {
    if (!current) return;
    const r = await N.api("GET", "/api/handoffs/" + current.id + "/messages?after=" + lastMessage);
    if (r.ok) appendMessages(r.body.messages);
  }

  async function act(path, body, done) {
    const r = await N.api("POST", "/api/handoffs/" + current.id + path, body);
    if (!r.ok) { $("h-status").textContent = r.body && r.body.error || N.T.console.error; return null; }
    if (r.body && r.body.status) { current = Object.assign(current, r.body); controls(current); }
    if (done) $("h-status").textContent = done;
    loadHandoffs();
    return r;
  }

  // the calls tab: each call with the customer's phone number, then how it went (the outcomes the
  // API lists, labelled by texts.yml; « Pas de réponse » on a reminder call sends 001's SMS), then the list again
  const CALL_COLUMNS = ["label", "ticket", "customer", "subject", "phone", "reason", "due", "outcome"];
  function cell(value) { return el("td", {}, value === null || value === undefined || value === "" ? "—" : String(value)); }
  function phoneCell(phone) {
    return phone ? el("td", {}, el("a", { href: "tel:" + String(phone).replace(/[^0-9+]/g, "") }, String(phone))) : cell(null);
  }
  async function recordCall(c, outcome, buttons, note) {
    const status = $("calls-status");
    buttons.forEach(function (b) { b.disabled = true; });
    const body = { outcome: outcome };
    if (note.value.trim()) body.note = note.value.trim();
    const r = await N.api("POST", "/api/calls/" + encodeURIComponent(c.id) + "/outcome", body);
    if (!r.ok) {
      status.textContent = r.body && r.body.error || N.T.console.error;
      buttons.forEach(function (b) { b.disabled = false; });
      return;
    }
    status.textContent = r.body.sms_sent ? Q.call_sms_sent : Q.call_recorded;
    loadCalls();
  }
  async function loadCalls() {
    const r = await N.api("GET", "/api/calls");
    const t = N.clear($("calls"));
    if (!r.ok) { $("calls-status").textContent = r.body && r.body.error || N.T.console.error; return; }
    t.appendChild(row(CALL_COLUMNS.map(function (k) { return Q.calls_headers[k]; }), true));
    if (!r.body.calls.length) t.appendChild(el("tr", {}, el("td", { colspan: CALL_COLUMNS.length, class: "muted" }, Q.calls_empty)));
    r.body.calls.forEach(function (c) {
      const note = el("input", { type: "text", class: "call-note", maxlength: "2000", placeholder: Q.call_note,
                                 "aria-label": Q.call_note });
      const buttons = r.body.outcomes.map(function (outcome) {
        return el("button", { type: "button", "data-outcome": outcome,
                              onclick: function () { recordCall(c, outcome, buttons, note); } }, Q.call_outcomes[outcome] || outcome);
      });
      t.appendChild(el("tr", { "data-call": c.id, class: c.urgent ? "call urgent" : "call" },
        cell(c.label), cell(c.ticket_id), cell(c.customer_name ? c.customer_name + " (" + c.customer_id + ")" : c.customer_id),
        cell(c.subject), phoneCell(c.phone),
        cell(Q.call_reasons[c.reason] || c.reason), cell(c.due), el("td", {}, note, el("div", { class: "call-outcomes" }, ...buttons))));
    });
  }
  async function loadCallbacks() {
    const r = await N.api("GET", "/api/callbacks");
    const columns = ["when", "customer", "phone", "subject", "ticket"].map(function (k) { return Q.callbacks_headers[k]; });
    if (r.ok) table("callbacks", columns, r.body.callbacks.map(function (c) { return [c.when_fr, c.customer_id, c.phone, c.subject, c.ticket_id]; }));
  }
  async function loadDaily() {
    const r = await N.api("GET", "/api/reminders/daily");
    const box = N.clear($("daily"));
    if (!r.ok) return;
    const d = r.body;
    [[Q.daily_urgent, d.urgent_before_15h], [Q.daily_today, d.today], [Q.daily_week, d.this_week]].forEach(function (part) {
      box.appendChild(el("h3", {}, part[0] + " (" + part[1].length + ")"));
      const ul = el("ul", { class: "daily" });
      part[1].forEach(function (i) { ul.appendChild(el("li", {}, [i.button, i.ticket_id, i.customer, i.subject, i.label || i.due].filter(Boolean).join(" · "))); });
      box.appendChild(ul);
    });
    box.appendChild(el("p", {}, Q.total_waiting + " : " + d.total_waiting + " (" + Math.round(d.share_waiting * 1000) / 10 + " %, " + d.normal_share + ")"));
  }
  // --- the KPI tab: the table in French, then the weekly trends as charts (Chart.js, served locally)
  const K = N.T.kpi_tab, NUM = new Intl.NumberFormat("fr-FR", { maximumFractionDigits: 1 }), WEEKS = 8;
  const VOLUMES = ["reminders_sent", "customer_replies", "inactivity_closures", "reopened"];
  const RATES = ["answer_rate_after_1st_reminder", "share_waiting_customer"];
  const COLOURS = ["#3d5afe", "#1b873f", "#b3261e", "#e8a317", "#6b7385", "#8e24aa"];
  let charts = [];

  function percent(v) { return NUM.format(v * 100) + "\u00a0%"; }
  function monthName(key) {
    const p = String(key).split("-").map(Number);
    return p.length === 2 && p[0] && p[1] ? new Date(p[0], p[1] - 1, 1).toLocaleDateString("fr-FR", { month: "long", year: "numeric" }) : String(key);
  }
  function kpiValue(k) {
    const v = k.value;
    if (v === null || v === undefined) return k.unit === "score" ? K.not_measured : "—";
    if (typeof v === "object") {
      const parts = Object.keys(v).sort().map(function (key) { return monthName(key) + " : " + NUM.format(Number(v[key]) || 0); });
      return parts.length ? parts.join(" ; ") : K.none;
    }
    if (typeof v !== "number") return String(v);
    if (k.unit === "share") return percent(v);
    if (k.unit === "days") return NUM.format(v) + "\u00a0" + K.days;
    return NUM.format(v);
  }
  function kpiState(k) {
    if (k.on_target === null || k.on_target === undefined) return el("span", { class: "state none" }, "—");
    return el("span", { class: "state " + (k.on_target ? "ok" : "off") }, k.on_target ? Q.on_target : Q.off_target);
  }
  function weekLabel(w) {
    const p = w.start.split("-").map(Number);
    return K.week_of + " " + new Date(p[0], p[1] - 1, p[2]).toLocaleDateString("fr-FR", { day: "numeric", month: "short" });
  }
  function chart(id, weekly, series, rates) {
    const options = {
      responsive: true, maintainAspectRatio: false, animation: false, locale: "fr-FR",
      plugins: { legend: { position: "bottom" },
                 tooltip: { callbacks: { label: function (c) { return c.dataset.label + " : " + (c.parsed.y === null ? "—" : (rates ? percent(c.parsed.y) : NUM.format(c.parsed.y))); } } } },
      scales: { y: { beginAtZero: true, grace: rates ? 0 : "10%",
                     ticks: rates ? { callback: function (v) { return percent(v); } } : { precision: 0 } } },
    };
    if (rates) options.scales.y.suggestedMax = 1;
    return new window.Chart(document.getElementById(id), {
      type: rates ? "line" : "bar",
      data: { labels: weekly.map(weekLabel), datasets: series.map(function (name, i) {
        return { label: K.series[name] || name, data: weekly.map(function (w) { return w[name]; }),
                 backgroundColor: COLOURS[i % COLOURS.length], borderColor: COLOURS[i % COLOURS.length],
                 spanGaps: true, tension: 0.2 };
      }) },
      options: options,
    });
  }
  async function loadKpis() {
    const r = await N.api("GET", "/api/reminders/kpis?weeks=" + WEEKS);
    if (!r.ok) return;
    const t = N.clear($("kpis"));
    t.appendChild(el("tr", {}, ...["label", "value", "target", "state"].map(function (h) { return el("th", {}, K.headers[h]); })));
    r.body.kpis.forEach(function (k) {
      t.appendChild(el("tr", { "data-kpi": k.name },
        el("td", { title: k.definition }, k.label), el("td", { class: "kpi-value" }, kpiValue(k)),
        el("td", {}, k.target || "—"), el("td", {}, kpiState(k))));
    });
    charts.forEach(function (c) { c.destroy(); });
    charts = [];
    if (window.Chart && r.body.weekly) {
      charts = [chart("kpi-volumes", r.body.weekly, VOLUMES, false), chart("kpi-rates", r.body.weekly, RATES, true)];
    }
  }
  const LOADERS = { handoffs: loadHandoffs, calls: loadCalls, daily: loadDaily, kpis: loadKpis, callbacks: loadCallbacks };

  function tab(name) {
    document.querySelectorAll("[data-tab]").forEach(function (b) { b.setAttribute("aria-selected", String(b.dataset.tab === name)); });
    Object.keys(LOADERS).forEach(function (k) { $("pane-" + k).hidden = k !== name; });
    LOADERS[name]();
  }

  N.boot(function (who) {
    me = who;
    $("queue").value = { level2: "level2", supervisor: "supervisor", hotliner: "level1" }[me.role] || "";
    document.querySelectorAll("[data-tab]").forEach(function (b) { b.addEventListener("click", function () { tab(b.dataset.tab); }); });
    $("queue").addEventListener("change", loadHandoffs);
    $("refresh").addEventListener("click", loadHandoffs);
    $("h-claim").addEventListener("click", async function () {
      const r = await act("/claim", {});
      if (r) { continuity(current); $("h-text").focus(); }
    });
    $("h-handback").addEventListener("click", function () { act("/handback", {}, Q.returned); });
    $("h-reply").addEventListener("submit", async function (ev) {
      ev.preventDefault();
      const text = $("h-text").value.trim();
      if (!text) return;
      const r = await act("/messages", { text: text });
      if (r) { $("h-text").value = ""; poll(); }
    });
    $("h-text").addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); $("h-reply").requestSubmit(); }
    });
    $("h-close").addEventListener("submit", function (ev) {
      ev.preventDefault();
      act("/close", { close_reason: "resolution", note: $("h-note").value || Q.closed }, Q.closed);
    });
    tab("handoffs");
    setInterval(function () { if (!$("pane-handoffs").hidden) loadHandoffs(); }, 5000);
  });
})();
