// PIU web chat: a thin adapter over the conversation engine (POST /api/chat).
// Everything from the server (catalogue and user text) is inserted with textContent or
// DOM properties, never as HTML; links open only http(s) addresses, in a new tab.
(function () {
  "use strict";
  var KEY = "piu-session";
  var sessionId = localStorage.getItem(KEY);
  if (!sessionId || !/^[A-Za-z0-9_-]{8,64}$/.test(sessionId)) {
    sessionId = (window.crypto && crypto.randomUUID) ? crypto.randomUUID()
      : String(Date.now()) + "-" + Math.random().toString(36).slice(2, 12);
    localStorage.setItem(KEY, sessionId);
  }
  var log = document.getElementById("log");
  var form = document.getElementById("form");
  var input = document.getElementById("text");
  var send = document.getElementById("send");
  var busy = false;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function safeUrl(url) {
    if (typeof url !== "string") { return null; }
    try {
      var parsed = new URL(url);
      return (parsed.protocol === "https:" || parsed.protocol === "http:") ? parsed.href : null;
    } catch (e) {
      return null;
    }
  }

  function add(text, who) {
    var li = el("li", "msg " + who);
    // links (a funding scheme's official page…) become anchors; everything else is text
    String(text).split(/(https?:\/\/[^\s<>"]+[^\s<>".,;:!?)])/).forEach(function (part, i) {
      var href = i % 2 ? safeUrl(part) : null;
      if (href) {
        var a = el("a", null, part);
        a.href = href;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
        li.appendChild(a);
      } else if (part) {
        li.appendChild(document.createTextNode(part));
      }
    });
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
    return li;
  }

  function cardNode(card) {
    var article = el("article", "card-body");
    var title = el("h3", null, (card.rank ? card.rank + ". " : "") + card.title);
    article.appendChild(title);
    if (card.pitch) {
      var pitch = el("p", "pitch", card.pitch);
      pitch.lang = card.pitch_lang || "fr";
      if (card.pitch_note) {
        var note = el("span", "note", "(" + card.pitch_note + ")");
        pitch.appendChild(note);
      }
      article.appendChild(pitch);
    }
    if (card.by) { article.appendChild(el("p", "by", card.by)); }
    var badges = el("ul", "badges");
    if (card.maturity_label) {
      badges.appendChild(el("li", "badge m-" + String(card.maturity || "").replace(/[^a-z_]/g, ""), card.maturity_label));
    }
    if (card.trust_label) {
      badges.appendChild(el("li", "badge t-" + String(card.trust || "").replace(/[^a-z_]/g, ""), card.trust_label));
    }
    article.appendChild(badges);
    if (card.reasons && card.reasons.length) {
      var why = el("div", "why");
      why.appendChild(el("strong", null, card.why_label || ""));
      var list = el("ul");
      card.reasons.forEach(function (r) { list.appendChild(el("li", null, r)); });
      why.appendChild(list);
      article.appendChild(why);
    }
    return article;
  }

  function buttonsNode(buttons) {
    var group = el("div", "buttons");
    group.setAttribute("role", "group");
    buttons.forEach(function (b) {
      if (b.url) {
        var href = safeUrl(b.url);
        if (!href) { return; }
        var a = el("a", null, b.label + " ↗");
        a.href = href;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
        group.appendChild(a);
        return;
      }
      var btn = el("button", null, b.label);
      btn.type = "button";
      btn.addEventListener("click", function () {
        add(b.label, "me");
        post({ session_id: sessionId, choice: b.id });
      });
      group.appendChild(btn);
    });
    return group;
  }

  function render(messages) {
    messages.forEach(function (m) {
      var li;
      if (m.card && m.card.kind === "solution") {
        li = el("li", "msg bot card");
        li.appendChild(cardNode(m.card));
        log.appendChild(li);
      } else {  // the full card ("sheet") reads as text: description, references, REX…
        li = add(m.text, "bot");
      }
      if (m.buttons && m.buttons.length) { li.appendChild(buttonsNode(m.buttons)); }
      log.scrollTop = log.scrollHeight;
    });
  }

  function post(body, url) {
    if (busy) { return Promise.resolve(); }
    busy = true; send.disabled = true;
    return fetch(url || "/api/chat", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    }).then(function (r) {
      if (!r.ok) { throw new Error(String(r.status)); }
      return r.json();
    }).then(function (data) {
      render(data.messages || []);
    }).catch(function () {
      add("Le service ne répond pas pour le moment. Réessayez dans un instant.", "bot");
    }).finally(function () {
      busy = false; send.disabled = false; input.focus();
    });
  }

  function poll() {
    if (busy || document.hidden) { return; }
    fetch("/api/chat/inbox?session_id=" + encodeURIComponent(sessionId))
      .then(function (r) { return r.ok ? r.json() : { messages: [] }; })
      .then(function (data) { render(data.messages || []); })
      .catch(function () {});
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text || busy) { return; }
    add(text, "me");
    input.value = "";
    post({ session_id: sessionId, text: text });
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });

  // a card link from the digest e-mail: /?open=digest:sol:12 or grp:show:3 (a community);
  // then the address is cleaned
  var params = new URLSearchParams(window.location.search);
  var card = params.get("open");
  if (card && !/^(digest:(sol|rex|need|intro)|grp:show):[0-9]{1,9}$/.test(card)) { card = null; }
  if (params.has("open")) { history.replaceState(null, "", window.location.pathname); }

  // what is new since the last visit (the digest's inbox), then where this session left
  // off (a reload keeps the conversation), or the welcome; then the card asked for
  post({ session_id: sessionId }, "/api/chat/resume").then(function () {
    if (card) { post({ session_id: sessionId, choice: card }); }
  });
  setInterval(poll, 30000);
  document.addEventListener("visibilitychange", poll);  // back to the tab: the news at once
})();
