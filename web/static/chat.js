// numi's chat widget: socket.io to Rasa (numi.channels.NumiSocketIOInput).
// Everything a customer or an agent wrote is put in the page with textContent, never as HTML.
(function () {
  "use strict";
  const T = JSON.parse(document.getElementById("numi-texts").textContent).chat;
  const box = document.getElementById("chat");
  const log = document.getElementById("chat-log");
  const input = document.getElementById("chat-input");
  const statusEl = document.getElementById("chat-status");
  const typing = document.getElementById("chat-typing");
  const notice = document.getElementById("chat-notice");
  const customerToken = box.dataset.customerToken || null;
  const who = box.dataset.customerId || "anonyme";
  const KEY = "numi-chat:" + who;
  let state = load();
  let typingTimer = null;

  function load() {
    try {
      const s = JSON.parse(localStorage.getItem(KEY) || "null");
      if (s && typeof s === "object" && Array.isArray(s.log)) return s;
    } catch (e) { /* a damaged entry starts a new conversation */ }
    return { session: null, log: [], human: false };
  }
  function save() {
    state.log = state.log.slice(-200);
    localStorage.setItem(KEY, JSON.stringify(state));
  }

  function bubble(entry) {
    const li = document.createElement("li");
    li.className = "msg " + entry.from;
    if (entry.from !== "user") {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = entry.from === "agent" ? T.human_badge + (entry.author ? " · " + entry.author : "") : T.bot_badge;
      li.appendChild(badge);
    }
    const p = document.createElement("p");
    p.textContent = entry.text;
    li.appendChild(p);
    if (entry.buttons && entry.buttons.length && entry.live) {
      const row = document.createElement("div");
      row.className = "buttons";
      entry.buttons.forEach(function (b) {
        const btn = document.createElement("button");
        btn.type = "button";
        btn.textContent = b.title;
        btn.addEventListener("click", function () {
          row.querySelectorAll("button").forEach(function (x) { x.disabled = true; });
          send(b.payload, b.title);
        });
        row.appendChild(btn);
      });
      li.appendChild(row);
    }
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
  }

  function setHuman(on) {
    state.human = on;
    notice.hidden = !on;
    notice.textContent = on ? T.human_notice : "";
  }

  function render() {
    log.textContent = "";
    if (!state.log.length) bubble({ from: "bot", text: T.welcome });
    state.log.forEach(function (e, i) { bubble(Object.assign({}, e, { live: i === state.log.length - 1 })); });
    setHuman(!!state.human);
  }

  const socket = io(box.dataset.socketUrl, { path: "/socket.io", autoConnect: false, reconnectionDelayMax: 3000 });
  let everConnected = false;

  // A conversation id signed by numi (POST /chat/conversations); the socket joins only that.
  async function newConversation() {
    const body = { channel: "socketio" };
    if (customerToken) body.customer_token = customerToken;
    const resp = await fetch("/chat/conversations", { method: "POST", headers: { "Content-Type": "application/json" },
                                                      body: JSON.stringify(body) });
    if (!resp.ok) throw new Error("conversation " + resp.status);
    return (await resp.json()).conversation_id;
  }
  async function join() {
    try {
      if (!state.session) { state.session = await newConversation(); save(); }
      socket.emit("session_request", { session_id: state.session });
    } catch (e) {
      statusEl.textContent = T.reconnecting;
      setTimeout(join, 3000);
    }
  }
  socket.on("connect", join);
  socket.on("session_refused", function () {
    // expired, or from another site: start afresh with a new conversation
    state = { session: null, log: [], human: false };
    save();
    render();
    join();
  });
  socket.on("session_taken_over", function (msg) {
    statusEl.textContent = (msg && msg.text) || T.reconnecting;
    statusEl.className = "chat-status offline";
    input.disabled = true;
  });
  socket.on("session_confirm", function (sid) {
    const id = typeof sid === "string" ? sid : (sid && sid.session_id);
    if (state.session && id !== state.session) { state.log = []; state.human = false; render(); }
    state.session = id;
    save();
    statusEl.textContent = everConnected ? T.reconnected : T.connected;
    statusEl.className = "chat-status online";
    everConnected = true;
    input.disabled = false;
  });
  socket.on("disconnect", function () {
    statusEl.textContent = T.reconnecting;
    statusEl.className = "chat-status offline";
  });
  socket.on("bot_uttered", function (msg) {
    if (!msg || typeof msg !== "object") return;
    const meta = msg.numi || {};
    if (meta.event === "handoff_claimed") setHuman(true);
    if (meta.event === "handback" || meta.event === "handoff_closed") setHuman(false);
    const buttons = (msg.quick_replies || msg.buttons || []).map(function (b) {
      return { title: String(b.title || ""), payload: String(b.payload || b.title || "") };
    });
    if (typeof msg.text === "string" && msg.text) {
      const entry = { from: meta.from === "agent" ? "agent" : "bot", author: meta.author || "", text: msg.text, buttons: buttons };
      state.log.push(entry);
      save();
      const last = log.querySelector("li:last-child .buttons");
      if (last) last.querySelectorAll("button").forEach(function (x) { x.disabled = true; });
      bubble(Object.assign({ live: true }, entry));
    }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(function () { typing.hidden = true; }, 700);
  });

  function send(payload, shown) {
    const text = String(payload || "").trim();
    if (!text || !state.session) return;
    state.log.push({ from: "user", text: shown || text });
    save();
    bubble({ from: "user", text: shown || text });
    typing.hidden = state.human;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(function () { typing.hidden = true; }, 15000);
    socket.emit("user_uttered", { message: text, session_id: state.session,
                                  metadata: customerToken ? { customer_token: customerToken } : {} });
  }

  document.getElementById("chat-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    send(input.value);
    input.value = "";
    input.focus();
  });
  function open() {
    box.hidden = false;
    document.getElementById("chat-open").hidden = true;
    if (!socket.connected) socket.connect();
    input.focus();
  }
  document.getElementById("chat-open").addEventListener("click", open);
  document.getElementById("chat-close").addEventListener("click", function () {
    box.hidden = true;
    document.getElementById("chat-open").hidden = false;
  });
  document.getElementById("chat-restart").addEventListener("click", function () {
    state = { session: null, log: [], human: false };
    save();
    render();
    socket.disconnect().connect();
  });
  input.disabled = true;
  render();
  if (state.session) open();
  window.numiChat = { socket: socket, state: function () { return state; } };
})();
