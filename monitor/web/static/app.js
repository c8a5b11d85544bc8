/* calmline operator screen.
 *
 * One WebSocket (/ws): the server sends a snapshot, then one message per event.
 * The page sends back acknowledgements ({kind: "ack"}) and, for each event it
 * was sent except the ~20/s level readings, when it was painted
 * ({kind: "displayed"}).  No sound, nothing fetched beyond this page's own files.
 * The session cookie (set by the one-time link calmline opened) goes with the
 * socket by itself; a socket refused at the handshake while the server answers
 * 401 means this browser is not signed in, and the page says so.
 */
(() => {
  "use strict";

  // the shared terms (monitor/vocabulary.py), put in the page by the server: no copies here
  const TERMS = JSON.parse(document.getElementById("calmline-vocabulary").textContent);
  const LEVELS = TERMS.levels;
  const HEATED = new Set(TERMS.heated);
  const METER_MIN_DB = -60;        // left end of a meter
  const METER_MAX_DB = 0;          // right end (full scale)
  const TRANSCRIPT_LINES = 6;
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 5000;
  const STALL_MS = 8000;           // a live call with no message this long: reconnect
  const DONE_HOLD_MS = 4000;       // a finished pacer stays on screen this long at least
  const OUTBOX_MAX = 50;           // acknowledgements kept while disconnected
  const DEFAULT_PACER = { inhale_s: 4, exhale_s: 6, cycles: 3 };
  const PACER_SMALL = 0.35;        // circle scale at the end of an exhale
  // events painted on screen; the rest are reported as displayed on receipt
  const VISUAL = new Set(["call_start", "state", "prompt", "prompt_ack", "trigger_withdrawn", "utterance",
    "utterance_partial", "transcript_delayed", "raised_voice", "raised_voice_end", "overlap", "overlap_end",
    "silence", "silence_end", "call_end", "summary"]);

  const $ = (id) => document.getElementById(id);
  const el = {
    conn: $("connection"), connText: $("connection-text"), connDetail: $("connection-detail"),
    band: $("state-band"), stateIcon: $("state-icon"), stateWord: $("state-word"),
    stateDetail: $("state-detail"), clock: $("call-clock"),
    noPrompt: $("no-prompt"), card: $("prompt-card"), kind: $("prompt-kind"),
    title: $("prompt-title"), body: $("prompt-body"), whyText: $("prompt-why-text"),
    used: $("ack-used"), dismiss: $("ack-dismiss"), ttl: $("prompt-ttl"),
    next: $("prompt-next"), nextTitle: $("prompt-next-title"),
    pacer: $("pacer"), pacerCircle: $("pacer-circle"), pacerWord: $("pacer-word"),
    pacerCount: $("pacer-count"), pacerCycle: $("pacer-cycle-label"),
    ended: $("call-ended"), endedTitle: $("call-ended-title"), summary: $("summary"),
    meters: $("meters"), metersEmpty: $("meters-empty"), cues: $("cues"),
    transcript: $("transcript-list"),
  };

  // ---- state ----------------------------------------------------------------------
  const s = {
    callKey: null, call: null, stateEv: null, ended: false, summary: null, lastT: 0,
    heatedAt: null,           // audio time the call first got escalated (or abusive)
    current: null,            // {ev, start, shownAt, expires}: the prompt on the card
    queue: [],                // lower-priority prompts waiting for the card
    gone: new Set(),          // prompt ids acknowledged, expired or replaced
    utterances: new Map(),    // "speaker|t" -> utterance or partial
    speakers: [], levels: {}, raised: {}, overlap: null, silence: null,
  };

  // ---- formatting ---------------------------------------------------------------------
  function clock(t) {
    const x = Math.max(0, Math.floor(Number(t) || 0));
    return `${Math.floor(x / 60)}:${String(x % 60).padStart(2, "0")}`;
  }
  function db(x) {
    const v = Math.round(Number(x));
    return (v < 0 ? "\u2212" + Math.abs(v) : String(v)) + " dB";
  }
  function who(speaker) {
    if (speaker === "operator") return "you";
    if (speaker === "customer") return "customer";
    if (speaker === "call") return "the caller";
    return speaker || "";
  }
  function cap(text) { return text ? text[0].toUpperCase() + text.slice(1) : text; }

  const CUE_WORDS = {
    overlap: "you spoke over the customer",
    monologue: "the customer has been talking a long time",
    silence: "a long silence",
    after_escalation: "the call got heated",
    customer_raised_voice: "the customer raised their voice",
    operator_raised_voice: "you raised your voice",
    escalated: "the call is escalated",
  };

  /** The "why" line, e.g. `customer said “take you to court” at 0:38`, and why it
   *  recurs: shown again (`again, last at 1:03`) or the next step after advice spent. */
  function whyText(why) {
    if (!why) return "";
    const cause = whyCause(why);
    const rung = why.next_rung;
    if (rung && typeof rung === "object") {
      const times = Number(rung.times) === 2 ? "twice" : `${Number(rung.times) || 2} times`;
      return `${cause} · “${rung.title || "the usual advice"}” was shown ${times}: next step`;
    }
    const again = why.repeat;
    if (again && typeof again === "object" && again.last_t != null) {
      return `${cause} · again, last shown at ${clock(again.last_t)}`;
    }
    return cause;
  }

  function whyCause(why) {
    const at = why.t != null ? ` at ${clock(why.t)}` : "";
    if (why.quote) {
      return why.speaker === "call" ? `heard “${why.quote}”${at}`
        : `${who(why.speaker)} said “${why.quote}”${at}`;
    }
    if (why.by === "effort") {   // found by vocal effort (tilt, pitch), not loudness
      return why.speaker === "operator" ? `you raised your voice (vocal effort)${at}`
        : `${who(why.speaker) || "customer"} raised their voice (vocal effort)${at}`;
    }
    if (why.db_over_baseline != null) {
      const d = Math.round(Number(why.db_over_baseline));
      return why.speaker === "operator" ? `you were ${d} dB over your usual level${at}`
        : `${who(why.speaker) || "customer"} ${d} dB over their usual level${at}`;
    }
    if (why.state) return `${why.state} since ${clock(why.since != null ? why.since : why.t)}`;
    const words = CUE_WORDS[why.cue] || String(why.cue || "").replace(/[._]/g, " ");
    if (why.cue === "after_escalation") {
      // the after-call card: when the call got heated, not when it ended (why.t)
      const since = why.since != null ? why.since : s.heatedAt;
      return since != null ? `${words} at ${clock(since)}` : words;
    }
    return `${words}${at}`;
  }

  // ---- connection -----------------------------------------------------------------------
  let ws = null;
  let backoff = BACKOFF_MIN_MS;
  let retryTimer = null;
  let retryAt = 0;
  let lastMessageAt = 0;
  let sawLevels = false;
  const outbox = [];

  // relative to the page, so the same page works at / (live) and /operator/NAME/ (serve)
  function wsUrl() {
    const url = new URL("ws", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    return url.href;
  }

  function setConnection(state, text, detail) {
    el.conn.dataset.state = state;
    document.body.dataset.connection = state;
    el.connText.textContent = text;
    el.connDetail.textContent = detail || "";
  }

  function connect() {
    retryTimer = null;
    let sock;
    try {
      sock = new WebSocket(wsUrl());
    } catch (err) {
      scheduleReconnect();
      return;
    }
    ws = sock;
    sock.onopen = () => {
      if (sock !== ws) return;
      sock.opened = true;
      while (outbox.length) sock.send(JSON.stringify(outbox.shift()));
    };
    sock.onmessage = (msg) => {
      if (sock !== ws) return;
      const received = Date.now();
      lastMessageAt = received;
      let data;
      try { data = JSON.parse(msg.data); } catch (err) { return; }
      if (data.kind === "snapshot") {
        applySnapshot(data, received);
        backoff = BACKOFF_MIN_MS;
        setConnection("connected", "Connected", "");
      } else if (data.kind === "event" && data.event) {
        onEvent(data.event, received, data.sent_ms);
      }
    };
    sock.onclose = () => {
      if (sock !== ws) return;
      if (sock.opened) lost(); else refusedOrDown();
    };
    sock.onerror = () => { /* onclose follows */ };
  }

  function lost() {
    const old = ws;
    ws = null;
    if (old) {
      old.onopen = old.onmessage = old.onclose = old.onerror = null;
      try { old.close(); } catch (err) { /* already closed */ }
    }
    scheduleReconnect();
  }

  // a socket that never opened: the server is down or busy, or this browser is not signed in
  function refusedOrDown() {
    fetch("api/status", { cache: "no-store", credentials: "same-origin" })
      .then((r) => { if (r.status === 401) signedOut(); else lost(); })
      .catch(() => lost());
  }

  function signedOut() {
    const old = ws;
    ws = null;
    if (old) old.onopen = old.onmessage = old.onclose = old.onerror = null;
    setConnection("signed-out", "Not signed in \u2014 open the link calmline opened or printed",
      "for a new link, restart calmline");
  }

  function scheduleReconnect() {
    if (retryTimer) return;
    const wait = backoff;
    backoff = Math.min(BACKOFF_MAX_MS, backoff * 2);
    retryAt = Date.now() + wait;
    setConnection("disconnected", "Disconnected \u2014 reconnecting\u2026", retryDetail());
    retryTimer = setTimeout(connect, wait);
  }

  function retryDetail() {
    const left = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
    return left > 0 ? `next try in ${left} s` : "trying now";
  }

  function send(msg) {
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify(msg));
    } else if (msg.kind === "ack") {
      outbox.push(msg);                         // delivered on reconnect
      if (outbox.length > OUTBOX_MAX) outbox.shift();
    }
  }

  // "displayed": after the DOM update has been painted.  A message posted from a
  // requestAnimationFrame callback runs once that frame's rendering is done.
  const painted = [];
  const channel = new MessageChannel();
  channel.port1.onmessage = () => { const fn = painted.shift(); if (fn) fn(); };
  function afterPaint(fn) {
    requestAnimationFrame(() => { painted.push(fn); channel.port2.postMessage(0); });
  }

  function report(ev, received) {
    if (ev.type === "level" || ev.seq == null) return;
    const msg = { kind: "displayed", seq: ev.seq, type: ev.type, emitted_ms: ev.emitted_ms,
      received_ms: received };
    if (!VISUAL.has(ev.type)) {
      msg.displayed_ms = received;
      send(msg);
      return;
    }
    afterPaint(() => { msg.displayed_ms = Date.now(); send(msg); });
  }

  // ---- events ---------------------------------------------------------------------------
  function callKey(callEv) {
    return callEv ? `${callEv.call_id}|${callEv.emitted_ms != null ? callEv.emitted_ms : callEv.wall}` : null;
  }

  function resetCall(callEv) {
    s.callKey = callKey(callEv);
    s.call = callEv;
    s.stateEv = null;
    s.ended = false;
    s.summary = null;
    s.lastT = 0;
    s.heatedAt = null;
    s.current = null;
    s.queue = [];
    s.gone = new Set();
    s.utterances = new Map();
    s.speakers = callEv && Array.isArray(callEv.speakers) ? callEv.speakers.slice() : [];
    s.levels = {};
    s.raised = {};
    s.overlap = s.silence = null;
    sawLevels = false;
    renderedPromptId = null;
    el.meters.querySelectorAll(".meter").forEach((m) => m.remove());
  }

  function eventTime(ev) {
    if (ev.t_end != null && (ev.type === "utterance" || ev.type === "utterance_partial")) return ev.t_end;
    if (ev.t_detected != null) return ev.t_detected;
    return ev.t || 0;
  }

  function onEvent(ev, received, sentMs) {
    // how long the event waited on the server before it was sent (server clock)
    const age = sentMs != null && ev.emitted_ms != null ? Math.max(0, sentMs - ev.emitted_ms) : 0;
    if (ev.type !== "call_start" && ev.type !== "summary") s.lastT = Math.max(s.lastT, eventTime(ev));
    switch (ev.type) {
      case "call_start":
        resetCall(ev);
        renderAll();
        renderDelayed(false);
        break;
      case "state":
        s.stateEv = ev;
        if (s.heatedAt == null && HEATED.has(ev.level)) s.heatedAt = ev.t;
        renderState();
        break;
      case "prompt":
        offerPrompt(ev, received - age);
        break;
      case "prompt_ack":
        removePrompt(ev.prompt_id);
        break;
      case "trigger_withdrawn":
        // the final transcript did not confirm what the prompt answered: take it back
        if (ev.prompt) removePrompt(ev.prompt);
        break;
      case "utterance":
      case "utterance_partial":
        addUtterance(ev);
        renderTranscript();
        break;
      case "transcript_delayed":
        renderDelayed(!!ev.on);
        break;
      case "level":
        sawLevels = true;
        s.levels[ev.speaker] = ev;
        scheduleMeters();
        break;
      case "raised_voice":
        s.raised[ev.speaker] = Number(ev.db_over_baseline);
        scheduleMeters();
        break;
      case "raised_voice_end":
        delete s.raised[ev.speaker];
        scheduleMeters();
        break;
      case "overlap": s.overlap = ev; renderCues(); break;
      case "overlap_end": s.overlap = null; renderCues(); break;
      case "silence": s.silence = ev; renderCues(); break;
      case "silence_end": s.silence = null; renderCues(); break;
      case "listening": renderListening(!!ev.on, ev.by); break;
      case "call_end":
        s.ended = true;
        s.overlap = s.silence = null;
        s.raised = {};
        renderState(); renderEnded(); renderCues(); scheduleMeters();
        break;
      case "summary":
        s.ended = true;
        s.summary = ev;
        renderState(); renderEnded();
        break;
      default:
        break;
    }
    report(ev, received);
  }

  function renderListening(on, by) {
    const banner = document.getElementById("listening");
    banner.hidden = !on;
    banner.title = on && by ? `listening: ${by}` : "";
  }

  function applySnapshot(snap, received) {
    const key = callKey(snap.call);
    if (key !== s.callKey || !snap.call) resetCall(snap.call || null);
    s.stateEv = snap.state || null;
    if (snap.heated_at != null) s.heatedAt = snap.heated_at;
    renderListening(!!snap.listening, "");
    renderDelayed(!!snap.delayed);
    s.ended = !!snap.ended;
    s.summary = snap.summary || null;
    s.utterances = new Map();
    (snap.transcript || []).forEach(addUtterance);
    s.raised = {};
    s.overlap = s.silence = null;
    const levels = snap.levels || {};
    Object.keys(levels).forEach((sp) => {
      s.levels[sp] = levels[sp];
      s.lastT = Math.max(s.lastT, levels[sp].t || 0);
    });
    if (s.current && (s.current.expires <= Date.now() || s.gone.has(s.current.ev.id))) s.current = null;
    if (snap.prompt) {
      const p = snap.prompt;
      const age = snap.sent_ms != null && p.emitted_ms != null ? Math.max(0, snap.sent_ms - p.emitted_ms) : 0;
      offerPrompt(p, received - age, true);
    }
    renderAll();
  }

  // ---- prompts ----------------------------------------------------------------------------
  function pacerOf(ev) {
    const p = ev.pacer || {};
    const num = (x, d) => (Number(x) > 0 ? Number(x) : d);
    return { inhale_s: num(p.inhale_s, DEFAULT_PACER.inhale_s), exhale_s: num(p.exhale_s, DEFAULT_PACER.exhale_s),
      cycles: Math.max(1, Math.round(num(p.cycles, DEFAULT_PACER.cycles))) };
  }
  function pacerMs(ev) {
    const p = pacerOf(ev);
    return p.cycles * (p.inhale_s + p.exhale_s) * 1000;
  }

  function offerPrompt(ev, start, quiet) {
    if (!ev || !ev.id || s.gone.has(ev.id)) return;
    if (s.current && s.current.ev.id === ev.id) return;             // already showing
    if (s.queue.some((q) => q.ev.id === ev.id)) return;
    const ttlMs = Math.max(0, Number(ev.ttl) || 0) * 1000;
    const item = { ev, start, shownAt: start, expires: start + ttlMs };
    if (ev.kind === "breathe") item.expires = Math.max(item.expires, start + pacerMs(ev) + DONE_HOLD_MS);
    if (item.expires <= Date.now()) return;
    const priority = Number(ev.priority) || 0;
    if (!s.current || priority >= (Number(s.current.ev.priority) || 0)) {
      if (s.current) s.gone.add(s.current.ev.id);                   // replaced
      s.current = item;
    } else {
      s.queue.push(item);                                           // shown when the card frees up
    }
    if (!quiet) renderPrompt();
  }

  function removePrompt(id) {
    if (!id) return;
    s.gone.add(id);
    s.queue = s.queue.filter((q) => q.ev.id !== id);
    if (s.current && s.current.ev.id === id) s.current = null;
    renderPrompt();
  }

  function promote() {
    const now = Date.now();
    s.queue = s.queue.filter((q) => q.expires > now && !s.gone.has(q.ev.id));
    if (!s.current && s.queue.length) {
      s.queue.sort((a, b) => (Number(b.ev.priority) || 0) - (Number(a.ev.priority) || 0) || b.start - a.start);
      const item = s.queue.shift();
      item.shownAt = now;                       // a pacer starts when it is shown
      if (item.ev.kind === "breathe") item.expires = Math.max(item.expires, now + pacerMs(item.ev) + DONE_HOLD_MS);
      s.current = item;
    }
  }

  function acknowledge(action) {
    if (!s.current) return;
    const id = s.current.ev.id;
    send({ kind: "ack", prompt_id: id, action });
    removePrompt(id);
  }

  let renderedPromptId = null;
  function renderPrompt() {
    promote();
    const cur = s.current;
    if (!cur) {
      renderedPromptId = null;
      el.card.hidden = true;
      el.noPrompt.hidden = false;
      stopPacer();
    } else if (cur.ev.id !== renderedPromptId) {
      renderedPromptId = cur.ev.id;
      const ev = cur.ev;
      el.card.dataset.promptId = ev.id;
      el.card.dataset.kind = ev.kind || "";
      el.card.dataset.priority = String(ev.priority != null ? ev.priority : "");
      el.kind.textContent = cap(String(ev.kind || "prompt").replace(/_/g, "-")) +   // de_escalate -> De-escalate
        (ev.private ? " \u00b7 only you see this" : "");
      el.title.textContent = ev.title || "";
      el.body.textContent = ev.body || "";
      el.whyText.textContent = whyText(ev.why);
      el.card.hidden = false;
      el.noPrompt.hidden = true;
      if (ev.kind === "breathe") startPacer(); else stopPacer();
      updateTtl();
    }
    const next = s.queue.length ? s.queue.slice().sort((a, b) => (b.ev.priority || 0) - (a.ev.priority || 0))[0] : null;
    el.next.hidden = !next;
    el.nextTitle.textContent = next ? next.ev.title + (s.queue.length > 1 ? ` (+${s.queue.length - 1} more)` : "") : "";
  }

  function updateTtl() {
    const cur = s.current;
    if (!cur) return;
    const total = Math.max(1, cur.expires - cur.start);
    const left = Math.max(0, cur.expires - Date.now());
    el.ttl.style.transform = `scaleX(${(left / total).toFixed(3)})`;
  }

  // ---- breathing pacer -------------------------------------------------------------------
  let pacerTimer = null;
  let pacerKey = "";
  let pacerCount = "";

  function startPacer() {
    stopPacer();
    el.pacer.hidden = false;
    tickPacer();
    if (el.pacer.dataset.phase !== "done") pacerTimer = setInterval(tickPacer, 100);
  }

  function stopPacer() {
    if (pacerTimer) clearInterval(pacerTimer);
    pacerTimer = null;
    pacerKey = "";
    pacerCount = "";
    el.pacer.hidden = true;
    el.pacer.dataset.phase = "";
    el.pacer.dataset.cycle = "";
  }

  function setCircle(scale, ms) {
    const c = el.pacerCircle;
    c.style.transition = "none";
    c.style.transform = `scale(${scale.from})`;
    void c.offsetWidth;                        // start the transition from here
    c.style.transition = ms > 0 ? `transform ${ms}ms ease-in-out` : "none";
    c.style.transform = `scale(${scale.to})`;
  }

  function tickPacer() {
    const cur = s.current;
    if (!cur || cur.ev.kind !== "breathe") { stopPacer(); return; }
    const p = pacerOf(cur.ev);
    const inhale = p.inhale_s * 1000;
    const cycleMs = inhale + p.exhale_s * 1000;
    const elapsed = Math.max(0, Date.now() - cur.shownAt);
    let phase; let cycle; let left = 0; let into = 0; let len = 1;
    if (elapsed >= p.cycles * cycleMs) {
      phase = "done"; cycle = p.cycles;
    } else {
      cycle = Math.floor(elapsed / cycleMs) + 1;
      const w = elapsed - (cycle - 1) * cycleMs;
      if (w < inhale) { phase = "inhale"; len = inhale; into = w; left = inhale - w; }
      else { phase = "exhale"; len = cycleMs - inhale; into = w - inhale; left = cycleMs - w; }
    }
    const key = `${phase}${cycle}`;
    if (key !== pacerKey) {
      pacerKey = key;
      el.pacer.dataset.phase = phase;
      el.pacer.dataset.cycle = String(cycle);
      const f = into / len;
      if (phase === "inhale") {
        el.pacerWord.textContent = "Breathe in";
        setCircle({ from: PACER_SMALL + (1 - PACER_SMALL) * f, to: 1 }, left);
      } else if (phase === "exhale") {
        el.pacerWord.textContent = "Breathe out";
        setCircle({ from: 1 - (1 - PACER_SMALL) * f, to: PACER_SMALL }, left);
      } else {
        el.pacerWord.textContent = "Done";
        setCircle({ from: PACER_SMALL, to: PACER_SMALL }, 0);
        if (pacerTimer) clearInterval(pacerTimer);
        pacerTimer = null;
      }
      el.pacerCycle.textContent = phase === "done" ? `${p.cycles} of ${p.cycles} breaths done`
        : `Breath ${cycle} of ${p.cycles}`;
    }
    const count = phase === "done" ? "" : String(Math.max(1, Math.ceil(left / 1000)));
    if (count !== pacerCount) {
      pacerCount = count;
      el.pacerCount.textContent = count;
    }
  }

  // ---- escalation state -------------------------------------------------------------------
  const ICONS = {
    // a different shape for each level, so colour is never the only cue
    calm: '<svg viewBox="0 0 24 24"><circle cx="12" cy="12" r="9"/></svg>',
    tense: '<svg viewBox="0 0 24 24"><path d="M12 2 23 21H1Z"/></svg>',
    escalated: '<svg viewBox="0 0 24 24"><path d="M12 1 23 12 12 23 1 12Z"/></svg>',
    abusive: '<svg viewBox="0 0 24 24"><path d="M7.5 1h9L23 7.5v9L16.5 23h-9L1 16.5v-9Z"/></svg>',
    none: "",
  };

  function renderState() {
    let level = "none";
    let word = "WAITING FOR A CALL";
    let detail = "";
    if (s.call || s.stateEv) {
      level = s.stateEv && LEVELS.includes(s.stateEv.level) ? s.stateEv.level : "calm";
      word = level.toUpperCase();
      if (s.stateEv && level !== "calm") detail = `since ${clock(s.stateEv.t)}`;
    }
    if (s.ended) detail = "call ended";
    if (el.band.dataset.level !== level) {
      el.band.dataset.level = level;
      el.stateIcon.innerHTML = ICONS[level] || "";
    }
    el.stateWord.textContent = word;
    el.stateDetail.textContent = detail;
    el.band.dataset.ended = String(s.ended);
  }

  function renderClock() {
    el.clock.textContent = s.call ? clock(s.lastT) : "";
  }

  // ---- meters -------------------------------------------------------------------------------
  let metersQueued = false;
  function scheduleMeters() {
    if (metersQueued) return;
    metersQueued = true;
    requestAnimationFrame(() => { metersQueued = false; renderMeters(); renderClock(); });
  }

  function dbToPct(x) {
    const v = Math.min(METER_MAX_DB, Math.max(METER_MIN_DB, Number(x)));
    return ((v - METER_MIN_DB) / (METER_MAX_DB - METER_MIN_DB)) * 100;
  }

  function meterFor(speaker) {
    let m = el.meters.querySelector(`.meter[data-speaker="${CSS.escape(speaker)}"]`);
    if (m) return m;
    m = document.createElement("div");
    m.className = "meter";
    m.id = `meter-${speaker}`;
    m.dataset.speaker = speaker;
    m.dataset.raised = "false";
    m.innerHTML =
      '<div class="meter-head"><span class="meter-name"></span>' +
      '<span class="meter-speaking">speaking</span><span class="meter-raised"></span></div>' +
      '<div class="meter-track"><div class="meter-fill"></div><div class="meter-baseline"></div></div>' +
      '<div class="meter-foot"><span class="meter-value"></span><span class="meter-usual"></span></div>';
    m.querySelector(".meter-name").textContent = cap(speaker);
    el.meters.appendChild(m);
    return m;
  }

  function renderMeters() {
    const speakers = s.speakers.slice();
    Object.keys(s.levels).forEach((sp) => { if (!speakers.includes(sp)) speakers.push(sp); });
    el.metersEmpty.hidden = speakers.length > 0;
    speakers.forEach((sp) => {
      const m = meterFor(sp);
      const lv = s.levels[sp];
      const st = lv ? Number(lv.short_term_dbfs) : NaN;
      const base = lv && lv.baseline_dbfs != null ? Number(lv.baseline_dbfs) : null;
      m.querySelector(".meter-fill").style.width = `${Number.isFinite(st) ? dbToPct(st) : 0}%`;
      m.querySelector(".meter-value").textContent = Number.isFinite(st) ? `${db(st)} now` : "";
      const tick = m.querySelector(".meter-baseline");
      tick.hidden = base == null;
      if (base != null) tick.style.left = `${dbToPct(base)}%`;
      m.querySelector(".meter-usual").textContent = base != null ? `usual ${db(base)}` : "learning usual level\u2026";
      m.dataset.speaking = String(!!(lv && lv.speaking));
      const raised = s.raised[sp];
      const isRaised = raised != null;
      m.dataset.raised = String(isRaised);
      let over = raised;
      if (isRaised && base != null && Number.isFinite(st)) over = Math.max(raised, st - base);
      m.querySelector(".meter-raised").textContent = isRaised ? `RAISED +${Math.round(over)} dB` : "";
    });
  }

  // ---- cues (talk-over, silence) ----------------------------------------------------------
  function renderCues() {
    const chips = [];
    if (s.overlap) {
      chips.push(s.overlap.speaker === "operator" ? "TALKING OVER THE CUSTOMER"
        : `${(s.overlap.speaker || "").toUpperCase()} TALKING OVER YOU`);
    }
    if (s.silence) chips.push(`SILENCE SINCE ${clock(s.silence.t)}`);
    el.cues.replaceChildren(...chips.map((text) => {
      const c = document.createElement("span");
      c.className = "cue";
      c.textContent = text;
      return c;
    }));
  }

  // ---- transcript --------------------------------------------------------------------------
  function addUtterance(ev) {
    const key = `${ev.speaker || ""}|${ev.t}`;
    const had = s.utterances.get(key);
    if (ev.type === "utterance_partial" && had && had.type === "utterance") return;   // final wins
    s.utterances.set(key, ev);
    if (s.utterances.size > TRANSCRIPT_LINES * 3) {
      const keep = [...s.utterances.entries()].sort((a, b) => a[1].t - b[1].t).slice(-TRANSCRIPT_LINES * 2);
      s.utterances = new Map(keep);
    }
  }

  function renderTranscript() {
    const lines = [...s.utterances.values()].sort((a, b) => a.t - b.t).slice(-TRANSCRIPT_LINES);
    el.transcript.replaceChildren(...lines.map((u) => {
      const li = document.createElement("li");
      li.className = u.type === "utterance_partial" ? "utt partial" : "utt";
      li.dataset.speaker = u.speaker || "";
      const name = document.createElement("span");
      name.className = "who";
      name.textContent = cap(u.speaker || "");
      const when = document.createElement("span");
      when.className = "when";
      when.textContent = clock(u.t);
      const text = document.createElement("span");
      text.className = "text";
      text.textContent = u.text || "";
      li.append(name, when, text);
      return li;
    }));
  }

  // the transcriber is behind: lines older than its limit are left out, not shown late
  function renderDelayed(on) {
    let note = $("transcript-delayed");
    if (!note && !on) return;
    if (!note) {
      note = document.createElement("p");
      note.id = "transcript-delayed";
      note.className = "empty-note";
      note.setAttribute("role", "status");
      note.textContent = "Transcript delayed: this PC is busy, late lines are left out";
      el.transcript.before(note);
    }
    note.hidden = !on;
  }

  // ---- call ended -----------------------------------------------------------------------------
  function renderEnded() {
    el.ended.hidden = !s.ended;
    if (!s.ended) return;
    const sm = s.summary;
    el.endedTitle.textContent = sm ? `Call ended \u00b7 ${clock(sm.duration)}` : "Call ended";
    const rows = [];
    if (sm) {
      const coach = sm.coach || {};
      if (coach.peak_state) rows.push(["Peak", String(coach.peak_state).toUpperCase()]);
      const cust = (sm.speakers || {}).customer || (sm.speakers || {}).call;
      if (cust) rows.push(["Raised voice", `${cust.raised_voice_count || 0}\u00d7 (${Math.round(cust.raised_voice_s || 0)} s)`]);
      if (sm.overlaps != null) rows.push(["Talk-over", String(sm.overlaps)]);
      if (sm.silences != null) rows.push(["Long silences", String(sm.silences)]);
      const pr = coach.prompts;
      if (pr) rows.push(["Prompts", `${pr.shown || 0} shown \u00b7 ${pr.used || 0} used \u00b7 ${pr.dismissed || 0} dismissed`]);
      if (coach.steps) {
        rows.push(["Steps", Object.entries(coach.steps).map(([k, v]) => `${v ? "\u2713" : "\u2717"} ${k}`).join("  ")]);
      }
    }
    el.summary.replaceChildren(...rows.flatMap(([k, v]) => {
      const dt = document.createElement("dt"); dt.textContent = k;
      const dd = document.createElement("dd"); dd.textContent = v;
      return [dt, dd];
    }));
  }

  function renderAll() {
    renderState(); renderClock(); renderPrompt(); renderMeters(); renderCues(); renderTranscript(); renderEnded();
  }

  // ---- input and timers ------------------------------------------------------------------------
  el.used.addEventListener("click", () => acknowledge("used"));
  el.dismiss.addEventListener("click", () => acknowledge("dismissed"));
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
    const t = e.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    const k = e.key;
    if (k === "u" || k === "U") { if (s.current) { e.preventDefault(); acknowledge("used"); } }
    else if (k === "d" || k === "D" || k === "Escape") { if (s.current) { e.preventDefault(); acknowledge("dismissed"); } }
  });

  setInterval(() => {
    const now = Date.now();
    const cur = s.current;
    // a finished pacer makes way for a waiting prompt once "Done" has been seen
    const breathDone = cur && cur.ev.kind === "breathe" && s.queue.some((q) => q.expires > now) &&
      now >= cur.shownAt + pacerMs(cur.ev) + DONE_HOLD_MS;
    if (cur && (cur.expires <= now || breathDone)) {
      s.gone.add(cur.ev.id);                    // expired: off the card, no acknowledgement
      s.current = null;
      renderPrompt();
    } else if (s.queue.some((q) => q.expires <= now)) {
      renderPrompt();
    }
    updateTtl();
    if (retryTimer) el.connDetail.textContent = retryDetail();
    if (ws && ws.readyState === WebSocket.OPEN && s.call && !s.ended && sawLevels &&
        now - lastMessageAt > STALL_MS) {
      lost();                                   // a silent dead connection
    }
  }, 200);

  renderAll();
  connect();
})();
