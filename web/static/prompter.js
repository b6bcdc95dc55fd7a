// The hotliner's in-call prompter: keyboard first. The caller's words go to Rasa in
// agent mode through /api/prompter; each answer is a card (script, checklist, actions).
(function () {
  "use strict";
  const N = window.NUMI, P = N.T.prompter, el = N.el, $ = function (id) { return document.getElementById(id); };
  let call = null, card = null, noteActions = [], lastTicket = null, busy = 0;

  function logLine(kind, text) {
    const li = el("li", { class: kind }, text);
    $("call-log").appendChild(li);
    li.scrollIntoView({ block: "nearest" });
  }
  function status(text, isError) {
    $("ticket-status").textContent = text;
    $("ticket-status").className = "ticket-status" + (isError ? " error" : "");
  }
  function list(id, items, render) {
    const ul = N.clear($(id));
    items.forEach(function (x) { ul.appendChild(render(x)); });
    $(id + "-box").hidden = !items.length;
  }
  function currentActions() { return (card && card.actions && card.actions.length ? card.actions : noteActions); }

  function renderActions() {
    const box = N.clear($("card-actions"));
    currentActions().slice(0, 9).forEach(function (a, i) {
      box.appendChild(el("button", { type: "button", "data-key": String(i + 1), onclick: function () { say(a.payload, a.label); } },
        el("kbd", {}, "Alt+" + (i + 1)), " " + a.label));
    });
  }

  function showCard(c) {
    card = c;
    noteActions = [];
    $("card-empty").hidden = true;
    $("card").hidden = false;
    const d = c.detected;
    const det = N.clear($("card-detected"));
    if (d) {
      det.appendChild(el("span", { class: "chip" }, P.detected + " : " + d.intent + " " + Math.round(d.confidence * 100) + " %"));
      if (d.runner_up) det.appendChild(el("span", { class: "chip muted" }, P.runner_up + " : " + d.runner_up.intent + " " + Math.round(d.runner_up.confidence * 100) + " %"));
    }
    $("card-title").textContent = c.title + " (" + c.scenario + ")";
    $("card-step").textContent = P.step + " : " + c.step_title;
    $("card-script").textContent = c.script || c.say || "—";
    list("card-warnings", c.warnings || [], function (w) { return el("li", {}, w); });
    list("card-hints", c.hints || [], function (h) { return el("li", {}, h); });
    list("card-checklist", c.checklist || [], function (x) { return el("li", { class: x.done ? "done" : "todo" }, (x.done ? "☑ " : "☐ ") + x.text); });
    renderActions();
    if (c.ticket && c.ticket !== lastTicket) ticketOpened(c.ticket);
  }

  // the status line names the call's ticket once, when it is first seen (a late answer repeats nothing)
  function ticketOpened(ref) {
    lastTicket = ref;
    status(P.ticket_opened + " : " + ref);
  }

  function showMessages(messages) {
    (messages || []).forEach(function (m) {
      const c = m.custom;
      if (c && c.type === "prompter") { showCard(c); logLine("card", "→ " + c.step_title); }
      else if (c && c.type === "prompter_note") {
        logLine("note", c.script);
        noteActions = c.actions || [];
        if (noteActions.length) { card = null; renderActions(); }
      } else if (m.text) logLine("bot", m.text);
    });
  }

  // document.body.dataset.busy is set while a request is in flight (the browser tests wait on it)
  async function post(path, body) {
    busy++;
    document.body.dataset.busy = "1";
    try {
      return await N.api("POST", "/api/prompter/calls/" + encodeURIComponent(call.call_id) + path,
                         Object.assign({ call_token: call.call_token }, body));
    } finally {
      if (--busy === 0) delete document.body.dataset.busy;
    }
  }

  async function say(text, shown) {
    text = String(text || "").trim();
    if (!call || !text) return;
    logLine("caller", (shown ? "▶ " : P.caller + " : ") + (shown || text));
    $("say").value = "";
    const r = await post("/say", { text: text });
    if (!r.ok) { status(r.body && r.body.error || N.T.console.error, true); return; }
    showMessages(r.body.messages);
    if (r.body.ticket && r.body.ticket.id !== lastTicket) ticketOpened(r.body.ticket.id);
    $("say").focus();
  }

  function scenario() { return card ? card.scenario : "tech_support"; }

  async function ticket() {
    const r = await post("/ticket", { scenario: scenario(), priority: card && card.priority, subject: card ? card.title : "" });
    if (r.ok) ticketOpened(r.body.id); else status(r.body && r.body.error, true);
  }
  async function escalate(queue) {
    const r = await post("/escalate", { scenario: scenario(), queue: queue });
    if (r.ok) status(P.escalated + " " + (N.T.queues.labels[queue] || queue) + " : " + r.body.id);
    else status(r.body && r.body.error, true);
  }
  function wrapUp() {
    $("wrap-form").hidden = false;
    if (card && !$("wrap-situation").value) $("wrap-situation").value = card.title + " — " + card.step_title;
    if (card && !$("wrap-actions").value) {
      $("wrap-actions").value = (card.checklist || []).filter(function (x) { return x.done; }).map(function (x) { return x.text; }).join(" ; ");
    }
    $("wrap-resolution").focus();
  }
  async function saveSummary() {
    const r = await post("/summary", { scenario: scenario(), situation: $("wrap-situation").value,
                                       actions: $("wrap-actions").value, resolution: $("wrap-resolution").value });
    if (r.ok) { status(P.summary_saved + " " + r.body.id); $("wrap-form").hidden = true; $("say").focus(); }
    else status(r.body && r.body.error, true);
  }

  function enable(on) {
    ["say", "say-send", "act-next", "act-ticket", "act-level2", "act-supervisor", "act-callback", "act-wrap"]
      .forEach(function (id) { $(id).disabled = !on; });
  }

  N.boot(function () {
    $("call-form").addEventListener("submit", async function (ev) {
      ev.preventDefault();
      const customer = $("call-customer").value.trim();
      const r = await N.api("POST", "/api/prompter/calls", customer ? { customer_id: customer } : {});
      if (!r.ok) { status(r.body && r.body.error, true); return; }
      call = r.body;
      card = null;
      lastTicket = null;
      N.clear($("call-log"));
      $("card").hidden = true;
      $("card-empty").hidden = false;
      $("call-id").textContent = call.call_id + (call.customer_id ? " · " + call.customer_id : "");
      status("");
      enable(true);
      $("say").focus();
      // seed 003: what the customer already told us, on any channel (the call token names them)
      const box = N.clear($("call-continuity"));
      box.hidden = true;
      if (call.customer_id) {
        window.NUMI_CONTINUITY.load(box, call.customer_id, "", { "X-Numi-Call-Token": call.call_token }, { link: true });
      }
    });
    $("say-form").addEventListener("submit", function (ev) { ev.preventDefault(); say($("say").value); });
    $("say").addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.altKey) { ev.preventDefault(); say($("say").value); }
    });
    $("act-next").addEventListener("click", function () { say(P.next_step_text, P.next_step); });
    $("act-ticket").addEventListener("click", ticket);
    $("act-level2").addEventListener("click", function () { escalate("level2"); });
    $("act-supervisor").addEventListener("click", function () { say(P.supervisor_text, P.supervisor); });
    $("act-callback").addEventListener("click", function () { say(P.callback_text, P.callback); });
    $("act-wrap").addEventListener("click", wrapUp);
    $("call-customer").focus();
    $("wrap-form").addEventListener("submit", function (ev) { ev.preventDefault(); saveSummary(); });
    $("wrap-form").addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && ev.ctrlKey) { ev.preventDefault(); saveSummary(); }
    });
    document.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape") { $("say").focus(); return; }
      if (!ev.altKey || !call) return;
      const digit = /^Digit([1-9])$/.exec(ev.code);
      const keys = { KeyN: "act-next", KeyT: "act-ticket", KeyE: "act-level2", KeyS: "act-supervisor", KeyR: "act-callback", KeyW: "act-wrap" };
      if (digit) {
        const a = currentActions()[Number(digit[1]) - 1];
        if (a) { ev.preventDefault(); say(a.payload, a.label); }
      } else if (keys[ev.code]) { ev.preventDefault(); $(keys[ev.code]).click(); }
    });
  });
})();
