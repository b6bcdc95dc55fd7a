// The continuity panel (seed 003: no customer repeats themselves): the customer's open
// tickets and their last interactions, whatever the channel (GET /api/customers/<id>/continuity).
// Shared by the prompter, the queues and the customer's file. Text only (textContent).
window.NUMI_CONTINUITY = (function () {
  "use strict";
  const N = window.NUMI, K = N.T.continuity, L = N.T.ticket_labels, el = N.el;

  function when(iso) {
    if (!iso) return "";
    const d = new Date(iso.endsWith("Z") || /[+-]\d\d:\d\d$/.test(iso) ? iso : iso + "Z");
    return d.toLocaleString("fr-FR", { dateStyle: "medium", timeStyle: "short" });
  }

  function ticketLink(t) {
    const label = t.id + " · " + (t.subject || t.scenario || "") + " (" + (L.statuses[t.status] || t.status) + ")";
    return t.in_scope ? el("a", { href: "/console/ticket?id=" + encodeURIComponent(t.id) }, label) : el("span", {}, label);
  }

  function head(i) {
    return el("p", { class: "interaction-head" },
      el("span", { class: "channel channel-" + i.channel }, K.channels[i.channel] || i.channel),
      " " + when(i.at),
      i.ticket_id ? " · " + i.ticket_id : "",
      i.subject ? " · " + i.subject : "",
      i.author ? " · " + K.by + " " + i.author : "");
  }

  function body(i) {
    const box = el("div", { class: "interaction-body" });
    if (i.channel === "email") {
      box.appendChild(el("p", { class: "muted" }, K.directions[i.direction] || i.direction || ""));
      box.appendChild(el("blockquote", {}, i.text || ""));
    }
    if (i.summary) {
      const dl = el("dl", { class: "packet" });
      Object.keys(i.summary).forEach(function (k) {  // the API's order: situation, actions, resolution
        if (i.summary[k]) { dl.appendChild(el("dt", {}, K.summary[k] || k)); dl.appendChild(el("dd", {}, i.summary[k])); }
      });
      box.appendChild(dl);
    }
    if (i.messages && i.messages.length) {
      const ol = el("ol", { class: "transcript" });
      i.messages.forEach(function (m) {
        ol.appendChild(el("li", { class: "msg " + m.from }, (K.speakers[m.from] || m.from) + " : " + m.text));
      });
      box.appendChild(ol);
    }
    return box;
  }

  function brief(i) {
    const text = i.text || (i.summary && (i.summary.situation || i.summary.resolution)) ||
      (i.messages && i.messages.length ? i.messages[i.messages.length - 1].text : "");
    return el("li", {}, (K.channels[i.channel] || i.channel) + " · " + when(i.at) +
      (i.ticket_id ? " · " + i.ticket_id : "") + (text ? " — " + text.slice(0, 160) : ""));
  }

  // render(node, data, {link: true}): the panel in `node` (emptied first)
  function render(node, data, options) {
    N.clear(node);
    node.hidden = false;
    node.appendChild(el("h2", {}, K.title + " · " + data.name + " (" + data.customer_id + ")"));
    if (options && options.link) {
      node.appendChild(el("p", {}, el("a", { href: "/console/client?id=" + encodeURIComponent(data.customer_id) }, K.open_file)));
    }
    node.appendChild(el("h3", {}, K.open_tickets));
    if (data.open_tickets.length) {
      const ul = el("ul", { class: "open-tickets" });
      data.open_tickets.forEach(function (t) { ul.appendChild(el("li", {}, ticketLink(t))); });
      node.appendChild(ul);
    } else node.appendChild(el("p", { class: "muted" }, K.no_open_tickets));
    node.appendChild(el("h3", {}, K.last));
    if (!data.last) { node.appendChild(el("p", { class: "muted" }, K.nothing)); return; }
    const last = el("article", { class: "interaction last-interaction" }, head(data.last), body(data.last));
    node.appendChild(last);
    const earlier = data.recent.slice(1);
    if (earlier.length) {
      node.appendChild(el("h3", {}, K.earlier));
      const ul = el("ul", { class: "earlier" });
      earlier.forEach(function (i) { ul.appendChild(brief(i)); });
      node.appendChild(ul);
    }
  }

  function unidentified(node) {
    N.clear(node);
    node.hidden = false;
    node.appendChild(el("p", { class: "muted" }, K.unidentified));
  }

  // load(node, customerId, query, headers): fetch then render; a refusal hides the panel
  async function load(node, customerId, query, headers, options) {
    const r = await N.api("GET", "/api/customers/" + encodeURIComponent(customerId) + "/continuity" + (query || ""),
                          undefined, headers);
    if (!r.ok) { N.clear(node); node.hidden = true; return null; }
    render(node, r.body, options);
    return r.body;
  }

  return { render: render, load: load, unidentified: unidentified, when: when, ticketLink: ticketLink };
})();
