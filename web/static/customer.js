// The customer's file (/console/client?id=CLT-00321): contact, emotional CRM, last interactions,
// tickets, alerts, subscriptions and invoices. Everything the customer wrote is put as text.
(function () {
  "use strict";
  const N = window.NUMI, C = N.T.customer, L = N.T.ticket_labels, Q = N.T.queues, el = N.el, $ = function (id) { return document.getElementById(id); };
  const NUM = new Intl.NumberFormat("fr-FR", { maximumFractionDigits: 1 });
  const EUR = new Intl.NumberFormat("fr-FR", { style: "currency", currency: "EUR" });
  const DASH = "—";

  function day(iso) {
    if (!iso) return DASH;
    const p = iso.slice(0, 10).split("-").map(Number);
    return new Date(p[0], p[1] - 1, p[2]).toLocaleDateString("fr-FR");
  }
  function pct(v) { return v === null || v === undefined ? DASH : NUM.format(v * 100) + "\u00a0%"; }
  function text(v) { return v === null || v === undefined || v === "" ? DASH : String(v); }

  function table(id, headers, rows) {
    const t = N.clear($(id));
    t.appendChild(el("tr", {}, ...headers.map(function (h) { return el("th", {}, h); })));
    if (!rows.length) t.appendChild(el("tr", {}, el("td", { colspan: headers.length, class: "muted" }, C.none)));
    rows.forEach(function (cells) {
      t.appendChild(el("tr", {}, ...cells.map(function (c) { return el("td", {}, typeof c === "object" && c !== null ? c : text(c)); })));
    });
  }
  function pairs(id, items) {
    const dl = N.clear($(id));
    items.forEach(function (kv) { dl.appendChild(el("dt", {}, kv[0])); dl.appendChild(el("dd", {}, kv[1])); });
  }

  function contact(c) {
    $("c-name").textContent = [c.first_name, c.last_name].filter(Boolean).join(" ") + " (" + c.id + ")";
    const email = el("span", {}, text(c.email));
    if (Object.prototype.hasOwnProperty.call(c, "email_failing") && c.email_failing) {
      email.appendChild(el("span", { class: "badge-warn", id: "c-email-failing" }, C.email_failing));
    }
    pairs("c-contact", [[C.email, email], [C.phone, text(c.phone)], [C.segment, text(c.segment)],
                        [C.perimeter, text(c.perimeter)], [C.since, day(c.created_at)]]);
  }

  function crm(k) {
    const tags = el("span", {});
    (k.tags || []).forEach(function (t) { tags.appendChild(el("span", { class: "chip" }, t)); });
    pairs("c-crm", [[C.churn_risk, pct(k.churn_risk) + (k.churned ? " · " + C.churned : "")],
                    [C.satisfaction, k.satisfaction === null ? DASH : k.satisfaction + "/5"],
                    [C.recommendation, k.recommendation === null ? DASH : k.recommendation + "/10"],
                    [C.tags, (k.tags || []).length ? tags : DASH]]);
    const mood = N.clear($("c-mood"));
    (k.recent_mood || []).slice(0, 8).forEach(function (r) {
      mood.appendChild(el("li", { class: "mood-" + r.emotion },
        window.NUMI_CONTINUITY.when(r.at) + " · " + (Q.emotions[r.emotion] || r.emotion) +
        (r.intensity ? " (" + C.intensity + " " + r.intensity + "/3)" : "")));
    });
    if (!mood.firstChild) mood.appendChild(el("li", { class: "muted" }, C.none));
    const notes = N.clear($("c-notes"));
    (k.notes || []).slice().reverse().forEach(function (n) {
      notes.appendChild(el("li", { class: "note" },
        el("span", { class: "muted" }, window.NUMI_CONTINUITY.when(n.at) + (n.tag ? " · " + n.tag : "")), " ",
        el("span", { class: "note-text" }, text(n.note)),
        n.quote ? el("blockquote", {}, n.quote) : null));
    });
    if (!notes.firstChild) notes.appendChild(el("li", { class: "muted" }, C.none));
  }

  function record(r) {
    contact(r.customer);
    table("c-tickets", [C.ticket, C.subject, C.status, C.priority, C.queue, C.updated], r.tickets.map(function (t) {
      const id = t.in_scope ? el("a", { href: "/console/ticket?id=" + encodeURIComponent(t.id) }, t.id) : t.id;
      return [id, t.subject, L.statuses[t.status] || t.status, L.priorities[t.priority] || t.priority,
              Q.labels[t.queue] || t.queue, day(t.updated_at)];
    }));
    table("c-subscriptions", [C.plan, C.status, C.started, C.expires], r.subscriptions.map(function (s) {
      return [s.plan, C.subscription_statuses[s.status] || s.status, day(s.started_on), day(s.expires_on)];
    }));
    table("c-invoices", [C.invoice, C.period, C.amount, C.label], r.invoices.map(function (i) {
      return [i.id, i.period, EUR.format(Number(i.amount_eur)), i.label + (i.archived ? " (" + C.archived + ")" : "")];
    }));
    $("c-alerts-box").hidden = !r.alerts;
    if (r.alerts) {
      table("c-alerts", [C.when, C.alert_rule, C.emotion, C.alert_message], r.alerts.map(function (a) {
        return [window.NUMI_CONTINUITY.when(a.created_at), a.title, Q.emotions[a.emotion] || a.emotion, a.message];
      }));
    }
  }

  async function open(id) {
    id = String(id || "").trim().toUpperCase();
    if (!id) return;
    document.body.dataset.busy = "1";
    try {
      history.replaceState(null, "", "/console/client?id=" + encodeURIComponent(id));
      const base = "/api/customers/" + encodeURIComponent(id);
      const answers = await Promise.all([N.api("GET", base), N.api("GET", base + "/crm")]);
      const r = answers[0], k = answers[1];
      if (!r.ok) { $("customer").hidden = true; $("customer-status").className = "error"; N.showError($("customer-status"), r); return; }
      $("customer-status").textContent = "";
      $("customer-status").className = "muted";
      record(r.body);
      if (k.ok) crm(k.body);
      $("customer").hidden = false;
      await window.NUMI_CONTINUITY.load($("c-continuity"), id);
    } finally {
      delete document.body.dataset.busy;
    }
  }

  N.boot(function () {
    $("customer-form").addEventListener("submit", function (ev) { ev.preventDefault(); open($("customer-id").value); });
    const wanted = new URLSearchParams(location.search).get("id");
    $("customer-id").focus();
    if (wanted) { $("customer-id").value = wanted; open(wanted); }
  });
})();
