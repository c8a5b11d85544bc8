/* calmline supervisor hub: the dashboard page.
 *
 * Plain JavaScript, no build step, nothing fetched from the internet.  Every API
 * call sends "Authorization: Bearer TOKEN"; WebSockets pass the token as the
 * subprotocol pair ["bearer", TOKEN] (a browser cannot set headers on them).
 * The token lives in sessionStorage (this tab only) until "sign out".
 *
 * Supervisors: the live calls table is fed by WS /ws/dashboard (a "calls"
 * snapshot, then "update" messages carrying the newest state of each call that
 * changed, merged by id and drawn once per message); with a
 * filter set the list comes from GET /api/calls?...&all=true and live updates
 * that match the filter are merged in.  Operators (no dashboard socket) see their
 * own calls from GET /api/calls, refreshed every few seconds.
 *
 * All text from the hub is put in the page with textContent, never as HTML; the
 * call report is shown in a sandboxed <iframe srcdoc> (no scripts, no access to
 * this page).
 */
"use strict";

(function () {
  const TOKEN_KEY = "calmline.hub.token";
  // the shared terms (monitor/vocabulary.py), put in the page by the hub: no copies here
  const TERMS = JSON.parse(document.getElementById("calmline-vocabulary").textContent);
  const STATES = TERMS.levels;             // in rising order
  const RANK = Object.fromEntries(STATES.map((s, i) => [s, i]));
  const LIVE_STALE_MS = TERMS.live_within_s * 1000;   // as the hub: no event this long = not live
  const RECONNECT_MS = [500, 1000, 2000, 4000, 5000];
  const OPERATOR_POLL_MS = 5000;
  const PCM_RATE = 16000;                  // live audio: 16-bit little-endian mono PCM
  const JITTER_S = 0.12;                   // start playing this far behind the first chunk
  const MAX_AHEAD_S = 1.0;                 // more queued than this: drop, to stay near real time

  const $ = (id) => document.getElementById(id);
  const el = (tag, props, ...children) => {
    const node = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === "class") node.className = v;
        else if (k === "text") node.textContent = v;
        else if (k.startsWith("data-") || k.startsWith("aria-") || k === "role" || k === "title" ||
                 k === "tabindex" || k === "type")
          node.setAttribute(k, v === true ? "" : String(v));
        else node[k] = v;
      }
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  };

  // --- state ----------------------------------------------------------------------
  const S = {
    token: sessionStorage.getItem(TOKEN_KEY) || "",
    me: null,                    // {name, role}
    live: new Map(),             // call id -> call, from /ws/dashboard
    filtered: null,              // Map while a filter is set, else null
    ws: null,
    wsOpened: false,
    reconnectTry: 0,
    reconnectTimer: null,
    pollTimer: null,
    selected: null,              // call id shown in the call view
    viewToken: 0,                // guards call-view loads against a newer selection
    clipUrl: null,
    renderQueued: false,
    filterTimer: null,
    operators: new Set(),
    tab: "calls",
  };
  const listen = { ws: null, ctx: null, callId: null, next: 0, chunks: 0, samples: 0, underruns: 0, dropped: 0 };
  // read-only figures for tests and for debugging in the console
  window.calmline = {
    get listen() {
      return { on: !!listen.ws, callId: listen.callId, chunks: listen.chunks, samples: listen.samples,
               underruns: listen.underruns, dropped: listen.dropped };
    },
    get connected() { return !!(S.ws && S.ws.readyState === WebSocket.OPEN); },
  };

  // --- formatting -------------------------------------------------------------------
  function mss(seconds) {
    const s = Math.max(0, Math.floor(Number(seconds) || 0));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }
  function words(s) { return String(s || "").replace(/_/g, " "); }
  function clock(epochS) {
    if (!epochS) return "";
    const d = new Date(epochS * 1000);
    const today = new Date();
    const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    if (d.toDateString() === today.toDateString()) return time;
    return `${d.toLocaleDateString([], { year: "numeric", month: "short", day: "numeric" })} ${time}`;
  }
  function splitTrigger(t) {
    if (!t) return null;
    const i = t.indexOf(": ");
    return i < 0 ? { category: "", text: t } : { category: t.slice(0, i), text: t.slice(i + 2) };
  }

  // --- messages ---------------------------------------------------------------------
  function showMessage(text, kind) {
    const box = $("message");
    box.textContent = text || "";
    box.dataset.kind = kind || "info";
    box.hidden = !text;
  }
  function signinError(text) {
    const box = $("signin-error");
    box.textContent = text || "";
    box.hidden = !text;
  }
  function setConn(state, text) {
    const c = $("conn");
    c.dataset.state = state;
    c.textContent = text;
    c.hidden = !text;
  }

  // --- HTTP -------------------------------------------------------------------------
  class HttpError extends Error {
    constructor(status, detail) { super(`${status} ${detail || ""}`.trim()); this.status = status; }
  }
  async function api(path, as) {
    let resp;
    try {
      resp = await fetch(path, { headers: { Authorization: `Bearer ${S.token}` }, cache: "no-store" });
    } catch (err) {
      throw new HttpError(0, "cannot reach the hub");
    }
    if (resp.status === 401) {
      signOut("Your token is no longer accepted (401: wrong or revoked). Sign in again with a valid token.");
      throw new HttpError(401, "not signed in");
    }
    if (!resp.ok) {
      let detail = "";
      try { detail = (await resp.json()).detail || ""; } catch (_) { /* not JSON */ }
      throw new HttpError(resp.status, detail);
    }
    if (as === "text") return resp.text();
    if (as === "blob") return resp.blob();
    return resp.json();
  }
  function wsUrl(path) {
    return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${path}`;
  }

  // --- sign in / out ------------------------------------------------------------------
  async function signIn(token) {
    S.token = token.trim();
    if (!S.token) { signinError("Enter your token."); return; }
    signinError("");
    let resp;
    try {
      resp = await fetch("/api/me", { headers: { Authorization: `Bearer ${S.token}` }, cache: "no-store" });
    } catch (_) {
      signinError("Cannot reach the hub. Is it running? Try again.");
      return;
    }
    if (resp.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      S.token = "";
      signinError("That token was not accepted (401): it is wrong, or it has been revoked. " +
                  "Check it, or ask an administrator for a new one.");
      showSignIn();
      return;
    }
    if (!resp.ok) { signinError(`The hub answered ${resp.status}; try again.`); return; }
    S.me = await resp.json();
    sessionStorage.setItem(TOKEN_KEY, S.token);
    start();
  }

  function signOut(reason) {
    stopListening();
    closeSocket();
    clearInterval(S.pollTimer);
    S.pollTimer = null;
    sessionStorage.removeItem(TOKEN_KEY);
    S.token = "";
    S.me = null;
    S.live.clear();
    S.filtered = null;
    closeCallView();
    $("calls").tBodies[0].replaceChildren();
    $("audit").tBodies[0].replaceChildren();
    showMessage("");
    showSignIn();
    signinError(reason || "");
  }

  function showSignIn() {
    $("signin-pane").hidden = false;
    $("app").hidden = true;
    $("tabs").hidden = true;
    $("sign-out").hidden = true;
    $("who").textContent = "";
    setConn("idle", "");
    $("token").value = "";
    $("token").focus();
  }

  function start() {
    const sup = S.me.role === "supervisor";
    $("signin-pane").hidden = true;
    $("app").hidden = false;
    $("sign-out").hidden = false;
    $("who").textContent = `${S.me.name} (${S.me.role})`;
    $("tabs").hidden = !sup;
    $("filter-operator-label").hidden = !sup;
    selectTab("calls");
    if (sup) {
      showMessage("");
      connect();
    } else {
      showMessage("403 — this dashboard is for supervisors; you can see your own calls.", "info");
      if ($("filter-since").value === "") $("filter-since").value = "all";
      S.filtered = S.filtered || new Map();
      refreshFiltered();
      S.pollTimer = setInterval(refreshFiltered, OPERATOR_POLL_MS);
    }
    render();
  }

  // --- the dashboard socket -----------------------------------------------------------
  function connect() {
    clearTimeout(S.reconnectTimer);
    if (!S.token) return;
    const ws = new WebSocket(wsUrl("/ws/dashboard"), ["bearer", S.token]);
    S.ws = ws;
    S.wsOpened = false;
    if (S.reconnectTry === 0) setConn("connecting", "connecting…");
    ws.onopen = () => {
      if (S.ws !== ws) return;
      S.wsOpened = true;
      S.reconnectTry = 0;
      setConn("live", "live updates on");
    };
    ws.onmessage = (ev) => {
      if (S.ws !== ws) return;
      let msg;
      try { msg = JSON.parse(ev.data); } catch (_) { return; }
      if (msg.kind === "calls") {
        S.live.clear();
        const now = Date.now();
        for (const c of msg.calls || []) { c._seen = now; S.live.set(c.id, c); noteOperator(c); }
        if (S.filtered) refreshFiltered();
        render();
      } else if (msg.kind === "update" && Array.isArray(msg.changes)) {
        for (const change of msg.changes) if (change && change.call) mergeUpdate(change.call);
        render();
      }
    };
    ws.onclose = (ev) => {
      if (S.ws !== ws) return;               // closed on purpose
      S.ws = null;
      afterClose(ev.code, S.wsOpened);
    };
  }

  async function afterClose(code, hadOpened) {
    setConn("reconnecting", "reconnecting… (connection to the hub lost)");
    // a browser cannot see why a handshake failed: ask the API whether the token still works
    try {
      const resp = await fetch("/api/me", { headers: { Authorization: `Bearer ${S.token}` }, cache: "no-store" });
      if (resp.status === 401) {
        signOut("Your token is no longer accepted (401: wrong or revoked). Sign in again with a valid token.");
        return;
      }
      if (resp.ok) {
        const me = await resp.json();
        if (me.role !== "supervisor") { S.me = me; closeSocket(); start(); return; }
      }
    } catch (_) { /* the hub is down: keep trying */ }
    if (!S.token) return;
    const delay = RECONNECT_MS[Math.min(S.reconnectTry, RECONNECT_MS.length - 1)];
    S.reconnectTry += 1;
    clearTimeout(S.reconnectTimer);
    S.reconnectTimer = setTimeout(connect, delay);
  }

  function closeSocket() {
    clearTimeout(S.reconnectTimer);
    const ws = S.ws;
    S.ws = null;
    S.reconnectTry = 0;
    if (ws) { try { ws.close(1000, "sign out"); } catch (_) { /* already closed */ } }
  }

  function mergeUpdate(call) {
    call._seen = Date.now();
    noteOperator(call);
    if (call.live || call.flagged) S.live.set(call.id, call);
    else S.live.delete(call.id);             // ended and not flagged: off the live list
    if (S.filtered) {
      if (matchesFilter(call)) S.filtered.set(call.id, call);
      else S.filtered.delete(call.id);
    }
    if (call.id === S.selected) updateCallHead();
  }

  function noteOperator(c) {
    if (c.operator && !S.operators.has(c.operator)) {
      S.operators.add(c.operator);
      const list = $("operators");
      list.replaceChildren(...[...S.operators].sort().map((o) => el("option", { value: o })));
    }
  }

  // --- filters -----------------------------------------------------------------------
  // Time "live & flagged" (the default): the live list from the socket, narrowed
  // here by state and operator.  Any other time: GET /api/calls with the filters
  // (all=true), and live updates that match them are merged in.
  function filters() {
    const when = $("filter-since").value;
    const f = { state: $("filter-state").value, since: null, operator: "", api: when !== "" };
    if (S.me && S.me.role === "supervisor") f.operator = $("filter-operator").value.trim();
    const now = Date.now() / 1000;
    switch (when) {
      case "hour": f.since = now - 3600; break;
      case "today": { const d = new Date(); d.setHours(0, 0, 0, 0); f.since = d.getTime() / 1000; break; }
      case "7d": f.since = now - 7 * 86400; break;
      case "30d": f.since = now - 30 * 86400; break;
      default: f.since = null;
    }
    return f;
  }
  function matchesFilter(c, f) {
    f = f || filters();
    if (f.state && c.state !== f.state) return false;
    if (f.operator && c.operator !== f.operator) return false;
    if (f.since !== null && (c.last_event_at || 0) < f.since) return false;
    if (!f.api && !(isLive(c) || c.flagged)) return false;
    return true;
  }

  async function refreshFiltered() {
    if (!S.me) return;
    const sup = S.me.role === "supervisor";
    const f = filters();
    if (sup && !f.api) { S.filtered = null; render(); return; }
    const q = new URLSearchParams();
    if (f.state) q.set("state", f.state);
    if (f.operator) q.set("operator", f.operator);
    if (f.since !== null) q.set("since", String(Math.floor(f.since)));
    q.set("all", "true");
    const asked = q.toString();
    S.lastQuery = asked;
    try {
      const data = await api(`/api/calls?${asked}`);
      if (S.lastQuery !== asked) return;     // a newer filter is on its way
      const now = Date.now();
      const map = new Map();
      for (const c of data.calls || []) { c._seen = now; map.set(c.id, c); noteOperator(c); }
      S.filtered = map;
      if (!sup) setConn("live", `refreshed ${clock(now / 1000)}`);
    } catch (err) {
      if (err.status === 401) return;
      if (err.status === 403) showMessage("403 — this dashboard is for supervisors; you can see your own calls.", "info");
      else showMessage(`Could not load the calls: ${err.message}`, "error");
    }
    render();
  }

  function onFilterChange() {
    clearTimeout(S.filterTimer);
    S.filterTimer = setTimeout(refreshFiltered, 150);
  }

  // --- the calls table ------------------------------------------------------------------
  function isLive(c) {
    return !!c.live && !c.ended_at && Date.now() - (c._seen || 0) <= LIVE_STALE_MS;
  }
  function compareCalls(a, b) {
    return (isLive(b) - isLive(a))
      || ((RANK[b.state] || 0) - (RANK[a.state] || 0))
      || ((b.last_trigger_at || 0) - (a.last_trigger_at || 0))
      || ((b.last_event_at || 0) - (a.last_event_at || 0));
  }

  function render() {
    if (S.renderQueued) return;
    S.renderQueued = true;
    requestAnimationFrame(() => { S.renderQueued = false; renderNow(); });
  }

  function stateBadge(state, extraClass) {
    const s = STATES.includes(state) ? state : "calm";
    return el("span", { class: `badge state-${s} ${extraClass || ""}`.trim(), text: s.toUpperCase(),
                        "data-state": s });
  }

  function renderNow() {
    if (!S.me) return;
    const source = S.filtered || S.live;
    const f = filters();
    const calls = [...source.values()].filter((c) => matchesFilter(c, f)).sort(compareCalls);
    const tbody = $("calls").tBodies[0];
    const focused = document.activeElement && document.activeElement.dataset
      ? document.activeElement.dataset.callId : null;
    const rows = calls.map((c) => {
      const live = isLive(c);
      const trig = splitTrigger(c.last_trigger);
      const peakHigher = (RANK[c.peak_state] || 0) > (RANK[c.state] || 0);
      const row = el("tr", {
        "data-call-id": c.id, "data-state": c.state, tabindex: 0,
        class: [live ? "is-live" : "is-ended", c.flagged ? "is-flagged" : "",
                c.id === S.selected ? "is-selected" : ""].join(" ").trim(),
        "aria-selected": c.id === S.selected ? "true" : "false",
        title: `call ${c.id}`,
      },
      el("td", { class: "status" },
        live ? el("span", { class: "pill live", text: "LIVE" })
             : el("span", { class: "pill ended", text: "ended" }),
        (!live && c.ended_at) ? el("span", { class: "sub", text: clock(c.ended_at) }) : null),
      el("td", { class: "operator", text: c.operator }),
      el("td", { class: "num duration", text: mss(c.duration) }),
      el("td", { class: "state" }, stateBadge(c.state),
        peakHigher ? el("span", { class: "sub", text: `peak: ${c.peak_state}` }) : null),
      el("td", { class: "trigger" },
        trig ? el("span", { class: "trigger-cat", text: words(trig.category) }) : null,
        trig ? el("q", { class: "trigger-words", text: trig.text }) : el("span", { class: "muted", text: "—" })),
      el("td", { class: "flags" }, ...(c.flags || []).map((f) => el("span", { class: `flag flag-${f}`, text: words(f) }))));
      return row;
    });
    tbody.replaceChildren(...rows);
    $("calls-empty").hidden = rows.length > 0;
    if (focused) {
      const again = tbody.querySelector(`tr[data-call-id="${CSS.escape(focused)}"]`);
      if (again) again.focus({ preventScroll: true });
    }
    const liveCount = calls.filter(isLive).length;
    const narrowed = f.api || f.state || f.operator;
    const what = (S.me.role === "supervisor" ? "" : "of yours ") +
      (narrowed ? "matching the filters" : "live now or flagged");
    $("list-note").textContent = `${calls.length} call${calls.length === 1 ? "" : "s"} ${what}; ${liveCount} live.`;
  }

  function onRowActivate(ev) {
    const row = ev.target.closest("tr[data-call-id]");
    if (!row) return;
    if (ev.type === "keydown" && ev.key !== "Enter" && ev.key !== " ") return;
    if (ev.type === "keydown") ev.preventDefault();
    openCall(row.dataset.callId);
  }

  function findCall(id) {
    return (S.filtered && S.filtered.get(id)) || S.live.get(id) || null;
  }

  // --- the call view ----------------------------------------------------------------
  async function openCall(id) {
    if (S.selected !== id && listen.ws) stopListening();
    S.selected = id;
    const token = ++S.viewToken;
    $("call-view").hidden = false;
    $("app").classList.add("with-call");
    updateCallHead();
    render();
    const frame = $("report-frame");
    frame.srcdoc = "<p style='font:16px sans-serif;padding:1em'>Loading the call report…</p>";
    $("clips").replaceChildren(el("li", { class: "muted", text: "Loading clips…" }));
    const player = $("clip-player");
    player.pause();
    player.hidden = true;
    const [report, detail] = await Promise.allSettled([
      api(`/api/calls/${encodeURIComponent(id)}/report`, "text"),
      api(`/api/calls/${encodeURIComponent(id)}`),
    ]);
    if (token !== S.viewToken) return;       // another call was opened meanwhile
    if (report.status === "fulfilled") {
      frame.srcdoc = report.value;
    } else {
      const p = document.createElement("p");
      p.textContent = `The call report could not be loaded: ${report.reason.message}`;
      frame.srcdoc = `<p style="font:16px sans-serif;padding:1em">${p.innerHTML}</p>`;
    }
    if (detail.status === "fulfilled") {
      const d = detail.value;
      const known = findCall(id);
      if (!known && d.call) { S.viewCall = d.call; updateCallHead(); }
      renderClips(d.clips || []);
    } else {
      $("clips").replaceChildren(el("li", { class: "error", text: `Clips could not be loaded: ${detail.reason.message}` }));
    }
  }

  function updateCallHead() {
    const id = S.selected;
    if (!id) return;
    const c = findCall(id) || (S.viewCall && S.viewCall.id === id ? S.viewCall : null);
    $("cv-title").textContent = c ? `Call ${id} · ${c.operator}` : `Call ${id}`;
    $("cv-state").replaceChildren(c ? stateBadge(c.state) : "");
    const live = c ? isLive(c) : false;
    $("cv-status").textContent = c ? (live ? `live · ${mss(c.duration)}` : `ended · ${mss(c.duration)}`) : "";
    const sup = S.me && S.me.role === "supervisor";
    $("listen").hidden = !sup || (!live && !listen.ws);
  }

  function renderClips(clips) {
    const sup = S.me && S.me.role === "supervisor";
    if (!clips.length) {
      $("clips").replaceChildren(el("li", { class: "muted", text: "No clips for this call." }));
      return;
    }
    $("clips").replaceChildren(...clips.map((clip) => el("li", { "data-clip-id": clip.id },
      el("span", { class: "clip-reason", text: words(clip.reason) || "clip" }),
      el("span", { class: "clip-range", text: `${mss(clip.t_start)}–${mss(clip.t_end)}` }),
      sup ? el("button", { type: "button", class: "play", text: "Play", "data-clip-id": clip.id,
                           "aria-label": `Play the ${words(clip.reason)} clip, ${mss(clip.t_start)} to ${mss(clip.t_end)} (audited)` })
          : el("span", { class: "muted", text: "clips are for supervisors" }))));
  }

  async function playClip(button) {
    const id = button.dataset.clipId;
    const player = $("clip-player");
    button.disabled = true;
    const label = button.textContent;
    button.textContent = "Loading…";
    try {
      const blob = await api(`/api/clips/${encodeURIComponent(id)}/audio`, "blob");
      if (S.clipUrl) URL.revokeObjectURL(S.clipUrl);
      S.clipUrl = URL.createObjectURL(blob);
      player.src = S.clipUrl;
      player.hidden = false;
      player.dataset.clipId = id;
      try {
        await player.play();
      } catch (_) {
        showMessage("The clip is loaded; press play on the player to hear it.", "info");
      }
    } catch (err) {
      if (err.status !== 401) showMessage(`Could not play the clip: ${err.message}`, "error");
    } finally {
      button.disabled = false;
      button.textContent = label;
    }
  }

  function closeCallView() {
    stopListening();
    S.selected = null;
    S.viewToken++;
    $("call-view").hidden = true;
    $("app").classList.remove("with-call");
    $("report-frame").srcdoc = "";
    const player = $("clip-player");
    player.pause();
    player.removeAttribute("src");
    if (S.clipUrl) { URL.revokeObjectURL(S.clipUrl); S.clipUrl = null; }
    render();
  }

  // --- listening live ---------------------------------------------------------------
  function listenStatus(text, kind) {
    const p = $("listen-status");
    p.textContent = text || "";
    p.dataset.kind = kind || "info";
    p.hidden = !text;
  }

  function startListening(callId) {
    stopListening();
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) { listenStatus("This browser cannot play live audio (no Web Audio).", "error"); return; }
    const ctx = new Ctx();
    if (ctx.state === "suspended") ctx.resume().catch(() => {});
    const ws = new WebSocket(wsUrl(`/ws/listen/${encodeURIComponent(callId)}`), ["bearer", S.token]);
    ws.binaryType = "arraybuffer";
    Object.assign(listen, { ws, ctx, callId, next: 0, chunks: 0, samples: 0, underruns: 0, dropped: 0 });
    const btn = $("listen");
    btn.setAttribute("aria-pressed", "true");
    btn.textContent = "Stop listening";
    listenStatus("connecting to the call's audio…");
    let opened = false;
    ws.onopen = () => {
      opened = true;
      if (listen.ws === ws) listenStatus("listening… (audited)", "on");
    };
    ws.onmessage = (ev) => {
      if (listen.ws === ws && ev.data instanceof ArrayBuffer) playPcm(ev.data);
    };
    ws.onclose = () => {
      if (listen.ws !== ws) return;
      stopListening();
      listenStatus(opened ? "Live listening ended." : "Could not listen to this call (it may have ended).", "error");
      updateCallHead();
    };
  }

  function playPcm(buf) {
    const ctx = listen.ctx;
    const n = buf.byteLength >> 1;
    if (!ctx || n === 0) return;
    const view = new DataView(buf);
    const audio = ctx.createBuffer(1, n, PCM_RATE);
    const ch = audio.getChannelData(0);
    for (let i = 0; i < n; i++) ch[i] = view.getInt16(i * 2, true) / 32768;
    listen.chunks += 1;
    listen.samples += n;
    const now = ctx.currentTime;
    if (listen.next < now + 0.01) {
      if (listen.next > 0) listen.underruns += 1;
      listen.next = now + JITTER_S;          // (re)fill a small jitter buffer
    } else if (listen.next - now > MAX_AHEAD_S) {
      listen.dropped += 1;                   // fell behind real time: drop to catch up
      return;
    }
    const src = ctx.createBufferSource();
    src.buffer = audio;
    src.connect(ctx.destination);
    src.start(listen.next);
    listen.next += audio.duration;
  }

  function stopListening() {
    const { ws, ctx } = listen;
    listen.ws = null;
    listen.ctx = null;
    listen.callId = null;
    if (ws) { try { ws.close(1000, "stop"); } catch (_) { /* closed */ } }
    if (ctx) { ctx.close().catch(() => {}); }
    const btn = $("listen");
    btn.setAttribute("aria-pressed", "false");
    btn.textContent = "Listen live";
    listenStatus("");
  }

  // --- the audit tab -----------------------------------------------------------------
  async function loadAudit() {
    const tbody = $("audit").tBodies[0];
    try {
      const data = await api("/api/audit");
      tbody.replaceChildren(...(data.audit || []).map((a) => el("tr", { "data-audit-id": a.id, "data-action": a.action },
        el("td", { text: clock(a.at) }),
        el("td", { text: a.user_name }),
        el("td", { text: words(a.action) }),
        el("td", { text: a.call_id || "" }),
        el("td", { text: a.detail || "" }),
        el("td", { class: "num", text: a.duration_s === null || a.duration_s === undefined
          ? (a.action === "listen_live" ? "listening now" : "—") : mss(a.duration_s) }))));
      if (!tbody.rows.length) tbody.append(el("tr", {}, el("td", { colSpan: 6, class: "muted", text: "Nothing audited yet." })));
    } catch (err) {
      if (err.status === 401) return;
      tbody.replaceChildren(el("tr", {}, el("td", { colSpan: 6, class: "error",
        text: err.status === 403 ? "The audit log is for supervisors." : `Could not load the audit log: ${err.message}` })));
    }
  }

  function selectTab(name) {
    S.tab = name;
    $("tab-calls").setAttribute("aria-selected", String(name === "calls"));
    $("tab-audit").setAttribute("aria-selected", String(name === "audit"));
    $("calls-pane").hidden = name !== "calls";
    $("audit-pane").hidden = name !== "audit";
    if (name === "audit") loadAudit();
  }

  // --- wiring --------------------------------------------------------------------------
  $("filter-state").append(...[...STATES].reverse().map((s) => el("option", { value: s, text: s })));
  $("signin-form").addEventListener("submit", (ev) => { ev.preventDefault(); signIn($("token").value); });
  $("sign-out").addEventListener("click", (ev) => { ev.preventDefault(); signOut("Signed out."); });
  $("tab-calls").addEventListener("click", () => selectTab("calls"));
  $("tab-audit").addEventListener("click", () => selectTab("audit"));
  $("audit-refresh").addEventListener("click", loadAudit);
  $("filter-state").addEventListener("change", onFilterChange);
  $("filter-since").addEventListener("change", onFilterChange);
  $("filter-operator").addEventListener("input", onFilterChange);
  $("filter-operator").addEventListener("change", onFilterChange);
  $("filter-clear").addEventListener("click", () => {
    $("filter-state").value = "";
    $("filter-since").value = "";
    $("filter-operator").value = "";
    onFilterChange();
  });
  const tbody = $("calls").tBodies[0];
  tbody.addEventListener("click", onRowActivate);
  tbody.addEventListener("keydown", onRowActivate);
  $("cv-close").addEventListener("click", closeCallView);
  $("cv-refresh").addEventListener("click", () => { if (S.selected) openCall(S.selected); });
  $("clips").addEventListener("click", (ev) => {
    const b = ev.target.closest("button.play");
    if (b) playClip(b);
  });
  $("listen").addEventListener("click", () => {
    if (listen.ws) { stopListening(); updateCallHead(); }
    else if (S.selected) startListening(S.selected);
  });
  // live/ended and durations age even without messages
  setInterval(() => { if (S.me) { render(); updateCallHead(); } }, 5000);
  window.addEventListener("pagehide", stopListening);

  if (S.token) signIn(S.token);
  else showSignIn();
})();
