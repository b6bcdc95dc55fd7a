// The staff console's shared part: sign-in with a staff token, the API client, DOM helpers.
// Data is put in the page with textContent only: nothing a customer wrote is ever parsed as HTML.
window.NUMI = (function () {
  "use strict";
  const TEXTS = JSON.parse(document.getElementById("numi-texts").textContent);
  const KEY = "numi-staff-token";

  function token() { return sessionStorage.getItem(KEY); }

  // api(method, path, body, extraHeaders): {status, ok, body}
  async function api(method, path, body, extraHeaders) {
    const headers = Object.assign({}, extraHeaders || {}, { "Authorization": "Bearer " + (token() || "") });
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const resp = await fetch(path, { method: method, headers: headers,
                                     body: body === undefined ? undefined : JSON.stringify(body) });
    let data = null;
    try { data = await resp.json(); } catch (e) { data = null; }
    if (resp.status === 401) { sessionStorage.removeItem(KEY); }
    return { status: resp.status, ok: resp.ok, body: data };
  }

  // el("li", {class: "x", onclick: fn}, "text", child, ...): strings become text nodes.
  function el(tag, attrs) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(function (kv) {
      const k = kv[0], v = kv[1];
      if (v === null || v === undefined || v === false) return;
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v === true ? "" : String(v));
    });
    for (let i = 2; i < arguments.length; i++) {
      const c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      node.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    }
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

  function showError(where, resp) {
    const msg = (resp && resp.body && resp.body.error) || TEXTS.console.error;
    where.textContent = msg;
    where.hidden = false;
  }

  async function boot(onReady) {
    const app = document.getElementById("app");
    const signIn = document.getElementById("sign-in");
    const who = document.getElementById("who");
    const out = document.getElementById("sign-out");
    out.addEventListener("click", function () { sessionStorage.removeItem(KEY); location.reload(); });
    document.getElementById("sign-in-form").addEventListener("submit", async function (ev) {
      ev.preventDefault();
      sessionStorage.setItem(KEY, document.getElementById("token").value.trim());
      const r = await api("GET", "/api/me");
      if (!r.ok) {
        const err = document.getElementById("sign-in-error");
        err.textContent = TEXTS.console.bad_token;
        err.hidden = false;
        return;
      }
      location.reload();
    });
    if (!token()) { signIn.hidden = false; document.getElementById("token").focus(); return; }
    const me = await api("GET", "/api/me");
    if (!me.ok) { signIn.hidden = false; document.getElementById("token").focus(); return; }
    who.textContent = TEXTS.console.signed_in + " : " + me.body.name + " (" + (TEXTS.console.roles[me.body.role] || me.body.role) + ")";
    out.hidden = false;
    document.querySelectorAll("nav a[data-roles]").forEach(function (a) {
      a.hidden = a.dataset.roles.split(" ").indexOf(me.body.role) < 0;
    });
    const allowed = (app.dataset.roles || "").split(" ");
    if (me.body.role !== "admin" && allowed.indexOf(me.body.role) < 0) {
      document.getElementById("forbidden").hidden = false;
      return;
    }
    app.hidden = false;
    if (onReady) onReady(me.body);
  }

  function minutes(seconds) { return Math.max(0, Math.round(seconds / 60)); }

  return { T: TEXTS, api: api, el: el, clear: clear, boot: boot, showError: showError, minutes: minutes };
})();

if (document.getElementById("app") && document.getElementById("app").dataset.page === "home") {
  window.NUMI.boot();
}
