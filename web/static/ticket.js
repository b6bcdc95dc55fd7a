// One ticket for the staff (/console/ticket?id=TK-00456): its customer, its whole history in time
// order (status changes, reminders, calls, notes, handoffs, e-mails in and out), the chat transcript,
// and the actions: reply by e-mail or chat, internal note, status (only the lifecycle's allowed
// targets), assignment. Keyboard first (r, n, s, a, h, c, l; Ctrl+Enter sends). Text only (textContent).
(function () {
  "use strict";
  const N = window.NUMI, T = N.T.tickets, L = N.T.ticket_labels, Q = N.T.queues, K = N.T.continuity, el = N.el;
  const $ = function (id) { return document.getElementById(id); };
  const DATA = JSON.parse($("page-data").textContent);
  const DASH = "—", LIST_KEY = "numi-tickets-list";
  let ref = null, view = null;
  const pending = { reply: null, note: null };  // a form's client_id: a retry of the same text is the same reply

  function when(iso) { return window.NUMI_CONTINUITY.when(iso) || DASH; }
  function text(v) { return v === null || v === undefined || v === "" ? DASH : String(v); }
  function newId() {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }
  function pairs(dl, items) {
    N.clear(dl);
    items.forEach(function (kv) {
      if (kv[1] === null || kv[1] === undefined || kv[1] === "") return;
      dl.appendChild(el("dt", {}, kv[0]));
      dl.appendChild(el("dd", {}, kv[1]));
    });
  }
  function say(id, message, isError) {
    const p = $(id);
    p.className = "form-status" + (isError ? " error" : " ok");
    p.textContent = message;
  }
  function refusal(resp) { return T.refused + " " + ((resp.body && resp.body.error) || N.T.console.error); }

  // --- the ticket and its customer --------------------------------------------------------------
  function header(t) {
    $("t-title").textContent = t.id + " · " + (t.subject || DATA.scenarios[t.scenario] || t.scenario);
    const status = el("span", { class: "status status-" + t.status, id: "t-status" }, L.statuses[t.status] || t.status);
    const reminders = (t.reminders || []).map(function (r) {
      return (DATA.reminder_steps[r.kind] || r.kind) + " (" + (T.channels[r.channel] || r.channel) + ", " +
             (r.sent_at ? when(r.sent_at) : r.status) + ")";
    }).join(" · ");
    pairs($("t-fields"), [
      [T.fields.status, status], [T.fields.priority, L.priorities[t.priority] || DASH],
      [T.fields.queue, t.queue ? (Q.labels[t.queue] || t.queue) : T.no_queue], [T.fields.assignee, t.assignee || T.nobody],
      [T.fields.scenario, DATA.scenarios[t.scenario] || t.scenario], [T.fields.created, when(t.created_at)],
      [T.fields.updated, when(t.updated_at)],
      [T.fields.waiting_since, t.status === "waiting_customer" ? when(t.waiting_since) : null],
      [T.fields.waiting_reason, t.waiting_reason ? (L.waiting_reasons[t.waiting_reason] || t.waiting_reason) : null],
      [T.fields.waiting_for, t.status === "waiting_customer" ? view.waiting_for : null],
      [T.fields.close_reason, t.close_reason ? (L.close_reasons[t.close_reason] || t.close_reason) : null],
      [T.fields.reminders, reminders || null]]);
  }

  function customer(c) {
    const link = $("t-customer-link");
    if (!c) { pairs($("t-customer"), [[T.customer, T.no_customer]]); link.hidden = true; return; }
    const email = el("span", {}, text(c.email));
    if (c.email_failing) email.appendChild(el("span", { class: "badge-warn", id: "t-email-failing" }, N.T.customer.email_failing));
    pairs($("t-customer"), [[N.T.customer.name, c.name || c.id], [N.T.customer.email, email],
                            [N.T.customer.phone, text(c.phone)], [N.T.customer.segment, text(c.segment)]]);
    link.href = "/console/client?id=" + encodeURIComponent(c.id);
    link.textContent = T.open_customer + " " + c.id;
    link.hidden = false;
  }

  // --- the history --------------------------------------------------------------------------------
  function quote(value, cls) { return value ? el("blockquote", { class: cls || "" }, String(value)) : null; }
  function size(n) { return n === undefined || n === null ? "" : Math.max(1, Math.round(n / 1024)) + "\u00a0" + T.kb; }

  function email(d) {
    const box = el("div", { class: "email" });
    const dl = el("dl", { class: "packet" });
    pairs(dl, [[T.from, d.from], [T.to, d.to], [T.subject, d.subject],
               [T.kind, d.kind ? (T.email_kinds[d.kind] || d.kind) : null],
               [T.threaded, d.threaded_by ? (T.threaded_by[d.threaded_by] || d.threaded_by) : null]]);
    box.appendChild(dl);
    const body = quote(d.text, "email-text");
    if (body) box.appendChild(body);
    if ((d.attachments || []).length) {
      const ul = el("ul", { class: "attachments", "aria-label": T.attachments });
      d.attachments.forEach(function (a) {
        ul.appendChild(el("li", { class: a.refused ? "refused" : "" },
          text(a.name) + " · " + text(a.type) + " · " + size(a.size) +
          (a.refused ? " · " + (T.attachment_refused[a.refused] || a.refused) : "")));
      });
      box.appendChild(el("p", { class: "muted" }, T.attachments));
      box.appendChild(ul);
    }
    return box;
  }

  function generic(d) {
    const dl = el("dl", { class: "packet" });
    pairs(dl, Object.keys(d).filter(function (k) { return k !== "client_id"; }).map(function (k) {
      const v = d[k];
      return [k, v !== null && typeof v === "object" ? JSON.stringify(v) : (v === null ? null : String(v))];
    }));
    return dl;
  }

  function body(e) {
    const d = e.details || {};
    const parts = [];
    if (e.to) parts.push(el("p", { class: "transition" },
      (e.from ? (L.statuses[e.from] || e.from) + " → " : "") + (L.statuses[e.to] || e.to)));
    if (e.reason) parts.push(el("p", { class: "reason" }, e.reason));
    switch (e.event) {
      case "created": case "imported": case "status_changed": case "reopened":
        if (d.waiting_reason) parts.push(el("p", {}, T.fields.waiting_reason + " : " + (L.waiting_reasons[d.waiting_reason] || d.waiting_reason)));
        if (d.close_reason) parts.push(el("p", {}, T.fields.close_reason + " : " + (L.close_reasons[d.close_reason] || d.close_reason)));
        if (d.internal_note) parts.push(quote(d.internal_note, "note-internal"));
        break;
      case "internal_note": case "customer_message":
        parts.push(quote(d.text, e.event === "internal_note" ? "note-internal" : ""));
        break;
      case "agent_message":
        parts.push(quote(d.text));
        break;
      case "email_in": case "email_out": case "email":
        parts.push(email(d));
        break;
      case "email_failing":
        if (d.address) parts.push(el("p", {}, d.address));
        break;
      case "assigned":
        parts.push(el("p", {}, T.fields.assignee + " : " + (d.assignee || T.nobody) + " · " + T.fields.queue + " : " +
                                (d.queue ? (Q.labels[d.queue] || d.queue) : T.no_queue)));
        break;
      case "priority_changed":
        parts.push(el("p", {}, L.priorities[d.priority] || DASH));
        break;
      case "reminder_sent": case "call_scheduled":
        parts.push(el("p", {}, (DATA.reminder_steps[d.kind] || d.kind || "") + (d.channel ? " · " + (T.channels[d.channel] || d.channel) : "") +
                               (d.day !== undefined ? " · " + T.day + d.day : "")));
        break;
      case "call_outcome":
        parts.push(el("p", {}, Q.call_outcomes[d.outcome] || d.outcome || ""));
        parts.push(quote(d.note, "note-internal"));
        break;
      case "call_summary": {
        const dl = el("dl", { class: "packet" });
        pairs(dl, ["situation", "actions", "resolution"].map(function (k) { return [K.summary[k], d[k] ? String(d[k]) : null]; }));
        parts.push(dl);
        break;
      }
      case "handoff_claimed":
        parts.push(el("p", {}, Q.labels[d.queue] || d.queue || ""));
        break;
      case "note":
        break;
      default:
        if (Object.keys(d).length) parts.push(generic(d));
    }
    return parts;
  }

  function channelOf(e) {
    const d = e.details || {};
    if (d.channel === "email" || e.event.startsWith("email")) return "email";
    if (d.channel === "chat" || e.event === "agent_message") return "chat";
    if (e.event === "call_summary" || e.event === "call_scheduled" || e.event === "call_outcome") return "phone";
    return null;
  }

  function historyList(entries) {
    const ol = N.clear($("t-history"));
    const sorted = entries.map(function (e, i) { return [e, i]; }).sort(function (a, b) {
      return a[0].at < b[0].at ? -1 : a[0].at > b[0].at ? 1 : a[1] - b[1];
    });
    if (!sorted.length) ol.appendChild(el("li", { class: "muted" }, T.history_empty));
    sorted.forEach(function (pair) {
      const e = pair[0], channel = channelOf(e), d = e.details || {};
      const head = el("p", { class: "entry-head" },
        el("time", { datetime: e.at }, when(e.at)), " ",
        channel ? el("span", { class: "channel channel-" + channel }, K.channels[channel] || channel) : null,
        channel && d.direction ? el("span", { class: "muted" }, " " + (K.directions[d.direction] || d.direction)) : null,
        " ", el("strong", {}, T.events[e.event] || e.event),
        e.event === "internal_note" ? el("span", { class: "badge-internal" }, T.internal) : null,
        " ", el("span", { class: "muted" }, K.by + " " + e.actor));
      ol.appendChild(el("li", { class: "entry entry-" + e.event, "data-event": e.event }, head, ...body(e)));
    });
  }

  function handoffs(items) {
    $("t-handoffs-box").hidden = !items.length;
    const ul = N.clear($("t-handoffs"));
    items.forEach(function (h) {
      ul.appendChild(el("li", {}, when(h.created_at) + " · " + (Q.labels[h.queue] || h.queue) + " · " +
        (T.handoff_statuses[h.status] || h.status) + (h.claimed_by ? " · " + Q.claimed_by + " " + h.claimed_by : "")));
    });
  }

  async function conversation() {
    const ol = N.clear($("t-conversation")), note = $("t-conversation-note");
    if (!view.ticket.conversation_id) { note.textContent = T.no_conversation; return; }
    const r = await N.api("GET", "/api/tickets/" + encodeURIComponent(ref) + "/conversation");
    if (!r.ok) { note.className = "error"; N.showError(note, r); return; }
    note.className = "muted";
    note.textContent = r.body.kind === "call" ? T.call_conversation : (r.body.messages.length ? "" : T.empty_conversation);
    r.body.messages.forEach(function (msg) {
      ol.appendChild(el("li", { class: "msg " + msg.from },
        el("span", { class: "badge" }, (K.speakers[msg.from] || msg.from) + (msg.author ? " · " + msg.author : "") +
                                       (msg.at ? " · " + when(msg.at) : "")),
        el("p", {}, msg.text)));
    });
  }

  // --- the actions --------------------------------------------------------------------------------
  function channels(c) {
    const email = $("reply-email"), chat = $("reply-chat");
    email.disabled = !c.email;
    chat.disabled = !c.chat;
    $("reply-email-note").textContent = c.email ? "" : "(" + T.no_email + ")";
    $("reply-chat-note").textContent = c.chat ? "" : "(" + T.no_chat + ")";
    if (!document.querySelector("input[name=channel]:checked:not(:disabled)")) {
      email.checked = c.email;
      chat.checked = !c.email && c.chat;
    }
    $("reply-send").disabled = !c.email && !c.chat;
  }

  function statusTargets(t, allowed) {
    const select = N.clear($("status-target"));
    if (!allowed.length) select.appendChild(el("option", { value: "" }, T.no_target));
    else select.appendChild(el("option", { value: "" }, T.choose_status));
    allowed.forEach(function (s) { select.appendChild(el("option", { value: s }, L.statuses[s] || s)); });
    $("status-apply").disabled = !allowed.length;
    targetChanged();
  }
  function targetChanged() {
    const target = $("status-target").value;
    $("waiting-fields").hidden = target !== "waiting_customer";
    $("close-fields").hidden = target !== "closed";
    $("close-note").required = target === "closed";
  }

  function render() {
    const t = view.ticket;
    document.title = t.id + " — " + N.T.console.title;
    header(t);
    customer(view.customer);
    historyList(t.history || []);
    handoffs(view.handoffs || []);
    channels(view.channels);
    statusTargets(t, view.allowed_statuses);
    $("assignee").value = t.assignee || "";
    $("assign-queue").value = t.queue || "";
    $("ticket").hidden = false;
  }

  async function load() {
    const r = await N.api("GET", "/api/tickets/" + encodeURIComponent(ref) + "/desk");
    if (!r.ok) {
      $("ticket").hidden = true;
      $("ticket-status").className = "error";
      N.showError($("ticket-status"), r);
      return false;
    }
    view = r.body;
    $("ticket-status").className = "muted";
    $("ticket-status").textContent = "";
    render();
    return true;
  }

  async function open(id) {
    id = String(id || "").trim().toUpperCase();
    if (!id) return;
    ref = id;
    history.replaceState(null, "", "/console/ticket?id=" + encodeURIComponent(id));
    document.body.dataset.busy = "1";
    try {
      if (await load()) await conversation();
    } finally {
      delete document.body.dataset.busy;
    }
  }

  async function submit(form, statusId, call, done) {
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    say(statusId, T.sending, false);
    try {
      const r = await call();
      if (!r.ok) { say(statusId, refusal(r), true); return; }
      await load();
      say(statusId, done(r), false);
    } finally {
      button.disabled = false;
    }
  }

  function reply(ev) {
    ev.preventDefault();
    const textArea = $("reply-text"), chosen = document.querySelector("input[name=channel]:checked");
    if (!textArea.value.trim() || !chosen) { textArea.focus(); return; }
    const body = { channel: chosen.value, text: textArea.value };
    if (!pending.reply || pending.reply.text !== body.text || pending.reply.channel !== body.channel) {
      pending.reply = { text: body.text, channel: body.channel, id: newId() };
    }
    body.client_id = pending.reply.id;
    submit(ev.target, "reply-status", function () {
      return N.api("POST", "/api/tickets/" + encodeURIComponent(ref) + "/replies", body);
    }, function () {
      textArea.value = "";
      pending.reply = null;
      if (body.channel === "chat") conversation();
      return body.channel === "chat" ? T.reply_sent_chat : T.reply_sent_email;
    });
  }

  function note(ev) {
    ev.preventDefault();
    const textArea = $("note-text");
    if (!textArea.value.trim()) { textArea.focus(); return; }
    if (!pending.note || pending.note.text !== textArea.value) pending.note = { text: textArea.value, id: newId() };
    const body = { text: textArea.value, client_id: pending.note.id };
    submit(ev.target, "note-status", function () {
      return N.api("POST", "/api/tickets/" + encodeURIComponent(ref) + "/notes", body);
    }, function () { textArea.value = ""; pending.note = null; return T.note_added; });
  }

  function status(ev) {
    ev.preventDefault();
    const target = $("status-target").value;
    if (!target) { $("status-target").focus(); return; }
    const body = { status: target };
    const optional = { reason: $("status-reason").value.trim() };
    if (target === "waiting_customer") {
      body.waiting_reason = $("waiting-reason").value;
      optional.waiting_for = $("waiting-for").value.trim();
    }
    if (target === "closed") {
      body.close_reason = $("close-reason").value;
      optional.note = $("close-note").value.trim();
      if (!optional.note) { $("close-note").focus(); return; }
    }
    Object.keys(optional).forEach(function (k) { if (optional[k]) body[k] = optional[k]; });
    submit(ev.target, "status-status", function () {
      return N.api("PATCH", "/api/tickets/" + encodeURIComponent(ref), body);
    }, function () {
      ["status-reason", "waiting-for", "close-note"].forEach(function (id) { $(id).value = ""; });
      return T.status_changed + " " + (L.statuses[view.ticket.status] || view.ticket.status);
    });
  }

  function assign(ev) {
    ev.preventDefault();
    const body = { assignee: $("assignee").value.trim() || null, queue: $("assign-queue").value || null };
    submit(ev.target, "assign-status", function () {
      return N.api("PATCH", "/api/tickets/" + encodeURIComponent(ref), body);
    }, function () { return T.assigned; });
  }

  // --- the keyboard ------------------------------------------------------------------------------
  const SHORTCUTS = { r: "reply-text", n: "note-text", s: "status-target", a: "assignee",
                      h: "t-history-title", c: "t-conversation-title" };

  function keys(ev) {
    const target = ev.target, field = ["INPUT", "SELECT", "TEXTAREA"].indexOf(target.tagName) >= 0;
    if (field) {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey) && target.form) { ev.preventDefault(); target.form.requestSubmit(); }
      else if (ev.key === "Escape") target.blur();
      return;
    }
    if (ev.ctrlKey || ev.altKey || ev.metaKey || !view) return;
    if (ev.key === "l") { ev.preventDefault(); location.href = $("back-to-list").getAttribute("href"); return; }
    const id = SHORTCUTS[ev.key];
    if (id) {
      ev.preventDefault();
      const node = $(id);
      node.scrollIntoView({ block: "center" });
      node.focus();
    }
  }

  N.boot(function () {
    const back = sessionStorage.getItem(LIST_KEY);
    if (back && back.startsWith("/console/tickets")) $("back-to-list").setAttribute("href", back);
    $("ticket-open").addEventListener("submit", function (ev) { ev.preventDefault(); open($("ticket-id").value); });
    $("reply-form").addEventListener("submit", reply);
    $("note-form").addEventListener("submit", note);
    $("status-form").addEventListener("submit", status);
    $("assign-form").addEventListener("submit", assign);
    $("status-target").addEventListener("change", targetChanged);
    document.addEventListener("keydown", keys);
    const wanted = new URLSearchParams(location.search).get("id");
    if (wanted) { $("ticket-id").value = wanted; open(wanted); } else { $("ticket-id").focus(); }
  });
})();
