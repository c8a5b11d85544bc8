"""Publishing a call to the hub, reliably and privately.

A bus sink.  Every event that may leave the operator's PC is first appended to a
spool file on disk (one JSON line, flushed), then streamed to the hub over a
WebSocket by a background thread.  The hub acks each line in order; the number
of acked lines is kept beside the spool.  When the hub is unreachable the call
carries on and the spool grows; the sender reconnects with back-off and resends
from the first unacked line.  The hub ignores a (call, seq) it already has, so
a line resent after a lost ack is not stored twice: no loss, no duplicates.
Spools left by earlier runs of the same identity (hub and token; see
:mod:`monitor.hub.spool`) are resent first; a fully acked spool is deleted.

The token is checked when publishing starts: a token the hub refuses (HTTP 401
or 403, or a 4401/4403 close) is an error, not "hub down".  If the hub refuses
it later (revoked during the call) the sender stops, the events stay spooled
and :attr:`HubPublisher.error` says so.

The hub's replies, one per line sent, in order: ``{"kind": "ack"}`` or
``{"kind": "clip_ack"}`` (stored, or a resend it already had); a line it will
not store gets the same reply with ``"refused"`` (a sentence) and ``"reason"``
(a code; see :mod:`monitor.hub.ingest`):

- ``call_ended`` (the call id was used by a recording that already ended),
  ``seq_conflict`` (another recording under this call id) or ``not_owner``
  (another operator's call): this call can never be delivered.  Its spool is
  set aside (``<call>.jsonl.refused``, never resent) and :attr:`error` says so;
- ``rate_limited``: not stored; sending pauses for ``retry_after_s`` and the
  line is sent again (the connection stays open; lines the hub stored meanwhile
  are not resent).  A ``call_end`` line goes out only once every line before it
  is stored, since the hub closes the call on it;
- any other reason (a damaged line, a line too big): that line is counted as
  refused and not resent, so it cannot block the lines after it.

A call id is used once: publishing a call id that this identity already
finished, or that still has a spool from an earlier run, is refused up front.

Privacy: :class:`~monitor.hub.privacy.PrivacyFilter` decides what leaves the PC
(the operator's own voice cues and hold-and-breathe prompts stay unless
``share_operator_cues`` is set).

While a supervisor listens, the hub says so: the publisher emits a
``listening`` event on the call's bus (the operator's screen shows it) and
:class:`AudioTap` streams the call's audio; flag clips (audio around a flag)
go through the spool like events.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse, urlunparse

from monitor.errors import CalmlineError
from monitor.events import Event
from monitor.hub.tls import client_options
from monitor.hub.privacy import OPERATOR_CUES, PRIVATE_REASONS, PrivacyFilter, is_private  # noqa: F401
from monitor.hub.spool import (Finished, Spool, SpoolBusy, check_call_id, default_spool_dir,  # noqa: F401
                               identity_folder, private_folder)

#: refusals that mean the whole call can never be delivered
CALL_REFUSALS = ("call_ended", "seq_conflict", "not_owner")
#: refusals that mean "not now": resent after a pause
RETRY_REFUSALS = ("rate_limited",)
AUTH_STATUS = (401, 403)
WINDOW = 256                    # lines in flight (sent, reply not yet in)
AUTH_CLOSE = (4401, 4403)


def redact(event: Event) -> dict[str, Any] | None:
    """One event as the hub may see it with operator cues not shared, judged on
    its own (``None``: not sent).  A call needs one :class:`PrivacyFilter`, which
    also remembers private prompts, their acks and the public escalation level."""
    return PrivacyFilter(False)(event)


def ws_url(url: str) -> str:
    parts = urlparse(url)
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.netloc:
        raise CalmlineError(f"--hub {url!r}: give the hub's address, e.g. http://hub.example:8766")
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    return urlunparse((scheme, parts.netloc, parts.path.rstrip("/") + "/ws/publish", "", "", ""))


def _finite(value: Any) -> tuple[Any, int]:
    """``value`` with every NaN or infinity replaced by ``None`` (the hub takes
    finite numbers only), and how many were replaced."""
    if isinstance(value, float) and not math.isfinite(value):
        return None, 1
    if isinstance(value, dict):
        pairs = [(k, _finite(v)) for k, v in value.items()]
        return {k: v for k, (v, _) in pairs}, sum(n for _, (_, n) in pairs)
    if isinstance(value, list):
        pairs = [_finite(v) for v in value]
        return [v for v, _ in pairs], sum(n for _, n in pairs)
    return value, 0


def _auth_refusal(exc: BaseException) -> str:
    """'HTTP 401' etc. if ``exc`` is the hub refusing the token, else ''."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if status in AUTH_STATUS:
        return f"HTTP {status}"
    rcvd = getattr(exc, "rcvd", None)
    if rcvd is not None and getattr(rcvd, "code", None) in AUTH_CLOSE:
        return f"close code {rcvd.code}"
    return ""


def _refusal(msg: dict[str, Any]) -> tuple[str, str]:
    """(reason code, sentence) of a refusal reply; ('', '') for an ack."""
    if msg.get("kind") == "refused" or msg.get("refused"):
        sentence = str(msg.get("refused") or msg.get("detail") or "")
        code = str(msg.get("reason") or "")
        if not code and "another operator" in sentence:     # a hub from before reason codes
            code = "not_owner"
        return code or "refused", sentence or code
    return "", ""


class HubPublisher:
    def __init__(self, hub_url: str, token: str, call_id: str, *, spool_dir: Path | None = None,
                 share_operator_cues: bool = False, on_listening: Callable[[bool, str], None] | None = None,
                 retry_max_s: float = 5.0, connect_wait_s: float = 5.0) -> None:
        if not token:
            raise CalmlineError("--hub needs --token (or CALMLINE_HUB_TOKEN)")
        self.url = ws_url(hub_url)
        self._tls = client_options(self.url)      # wss: also trust CALMLINE_HUB_CA, if set
        self.token = token
        self.call_id = check_call_id(call_id)
        self.share = share_operator_cues
        self.privacy = PrivacyFilter(share_operator_cues)
        self.on_listening = on_listening
        self.retry_max_s = retry_max_s
        self.folder = private_folder(identity_folder(spool_dir or default_spool_dir(), self.url, token))
        self.finished = Finished(self.folder)
        self.spool = self._own_spool()
        self.spools: list[Spool] = []
        for path in sorted(self.folder.glob("*.jsonl")):
            if path != self.spool.path:
                try:
                    self.spools.append(Spool(path))      # left by an earlier run: resend it
                except SpoolBusy:
                    pass                                 # another running calmline owns it
        self.spools.append(self.spool)
        self.listening = False
        self.sent = self.acked = self.refused = self.reconnects = self.audio_dropped = 0
        self.rate_limited = 0           # lines the hub asked to send again later (they were)
        self._pause_until = 0.0
        self.nonfinite = 0              # numbers sent as null because they were NaN or infinite
        self.late = 0                   # events after close (not sent: the call's record is final)
        self.connected = False
        self.last_error = ""
        self.error = ""                 # why this call cannot reach the hub ('' = it can)
        self.set_aside: list[Path] = []
        self._auth_refused = ""
        self._first_try = threading.Event()
        self._audio: deque[bytes] = deque(maxlen=50)
        self._lock = threading.Lock()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = self._closed = False
        self._thread = threading.Thread(target=self._run, name="hub-publisher", daemon=True)
        self._thread.start()
        self._first_try.wait(connect_wait_s)
        if self._auth_refused:
            self.close(timeout=0)
            raise CalmlineError(f"the hub at {self.url} refused the token ({self._auth_refused}): "
                                "check --token / CALMLINE_HUB_TOKEN (it may have been revoked)")

    def _own_spool(self) -> Spool:
        """This call's spool: refused if the id was already used for a call from this identity."""
        cid = self.call_id
        if cid in self.finished:
            raise CalmlineError(f"call id {cid!r} was already used for a call published from this PC; "
                                "give a new --call-id (or leave it out for a unique one)")
        try:
            spool = Spool(self.folder / f"{cid}.jsonl")
        except SpoolBusy:
            raise CalmlineError(f"call {cid!r} is already being published by another "
                                "calmline on this machine; give this one another --call-id") from None
        if spool.lines:
            spool.close(delete_if_done=False)
            raise CalmlineError(f"call id {cid!r} already has a recording from an earlier run waiting "
                                f"in {spool.path} (it is sent by the next run); give a new --call-id")
        return spool

    # --- producer side (pipeline threads) ------------------------------------------
    def __call__(self, event: Event) -> None:
        if self._closed:
            self.late += 1
            return
        out = self.privacy(event)
        if out is not None:
            self._append({"kind": "event", "call_id": self.call_id, "event": out})

    def send_clip(self, t_start: float, t_end: float, reason: str, rate: int, pcm: bytes) -> None:
        reason = self.privacy.clip_reason(reason)
        if not reason or self._closed:
            return
        self._append({"kind": "clip", "call_id": self.call_id, "t_start": round(t_start, 3),
                      "t_end": round(t_end, 3), "reason": reason, "sample_rate": rate,
                      "audio_b64": base64.b64encode(pcm).decode("ascii")})

    def send_audio(self, pcm: bytes) -> None:
        """Live audio for listening supervisors: best effort, bounded, drops counted."""
        if len(self._audio) == self._audio.maxlen:
            self.audio_dropped += 1
        self._audio.append(pcm)
        self._poke()

    def _append(self, message: dict[str, Any]) -> None:
        try:
            line = json.dumps(message, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except ValueError:              # a NaN or an infinity: sent as null, counted
            message, bad = _finite(message)
            self.nonfinite += bad
            line = json.dumps(message, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        with self._lock:
            if self._closed:
                self.late += 1
                return
            self.spool.append(line)
        self._poke()

    def _poke(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:
                pass

    def close(self, timeout: float = 5.0) -> dict[str, Any]:
        """Wait (up to ``timeout``) for the hub to ack everything, then stop.
        Whatever is not acked stays spooled for the next run; a call the hub
        refused is set aside (see :attr:`error`)."""
        if self._closed:
            return self.stats()
        deadline = time.monotonic() + timeout
        while (time.monotonic() < deadline and not self._auth_refused
               and not all(s.done for s in self.spools)):
            time.sleep(0.05)
        self._closing = True
        self._poke()
        self._thread.join(timeout=2.0)
        with self._lock:
            self._closed = True
            for spool in self.spools:
                if spool.ended or spool.refused:
                    self.finished.add(spool.call_id)
                kept = spool.close(delete_if_done=True)
                if kept is not None:
                    self.set_aside.append(kept)
                    if spool is self.spool:
                        self.error = (f"the hub refused call {self.call_id!r} ({spool.refused}); "
                                      f"its events are kept in {kept}")
        if self._auth_refused and not self.error:
            self.error = (f"the hub at {self.url} refused the token during the call ({self._auth_refused}); "
                          f"{self.spool.pending} events are kept in {self.spool.path} and sent by "
                          "a later run with a valid token")
        return self.stats()

    def stats(self) -> dict[str, Any]:
        pending = sum(s.pending for s in self.spools)
        out = {"sent": self.sent, "acked": self.acked, "refused": self.refused, "pending": pending,
               "rate_limited": self.rate_limited,
               "reconnects": self.reconnects, "audio_dropped": self.audio_dropped,
               "connected": self.connected, "withheld_private": self.privacy.withheld}
        for key in ("late", "nonfinite"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.error:
            out["error"] = self.error
        return {"hub": out}

    # --- the sender thread ------------------------------------------------------------
    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            self._first_try.set()
            loop.close()

    def _connect(self) -> Any:
        from websockets.asyncio.client import connect

        return connect(self.url, **self._tls, additional_headers={"Authorization": f"Bearer {self.token}"},
                       open_timeout=3, ping_interval=10, max_size=8 * 1024 * 1024)

    async def _main(self) -> None:
        self._wake = asyncio.Event()
        delay = 0.2
        while not self._closing:
            try:
                async with self._connect() as ws:
                    self.connected = True
                    self._first_try.set()
                    delay = 0.2
                    await self._session(ws)
            except Exception as exc:  # refused, reset, auth failure, ...
                self.last_error = str(exc)
                self._auth_refused = _auth_refusal(exc)
            self.connected = False
            self._first_try.set()
            if self._closing or self._auth_refused:
                break                       # a refused token is not retried: the events stay spooled
            self.reconnects += 1
            try:
                await asyncio.wait_for(self._sleep_until_closing(), timeout=delay)
            except asyncio.TimeoutError:
                pass
            delay = min(self.retry_max_s, delay * 2)

    async def _sleep_until_closing(self) -> None:
        while not self._closing:
            await asyncio.sleep(0.05)

    def _on_reply(self, msg: dict[str, Any], spool: Spool, index: int, cursor: dict[int, int]) -> None:
        """The hub's reply to line ``index`` of ``spool``: stored, refused, or 'not now'."""
        code, sentence = _refusal(msg)
        if not code:
            spool.ack(index)
            self.acked += 1
        elif code in RETRY_REFUSALS:        # not stored: send it again after the pause, in order
            wait = msg.get("retry_after_s")
            wait = float(wait) if isinstance(wait, (int, float)) and not isinstance(wait, bool) else 1.0
            self._pause_until = max(self._pause_until, time.monotonic() + min(self.retry_max_s, max(0.05, wait)))
            cursor[id(spool)] = min(cursor.get(id(spool), index), index)
            self.rate_limited += 1
            return
        elif code in CALL_REFUSALS:
            if not spool.refused:
                spool.refused = f"{code}: {sentence}" if sentence != code else code
                self.refused += 1
            self.last_error = spool.refused
            return
        else:
            spool.ack(index)                # the hub will never take this line: don't resend
            self.refused += 1
            self.last_error = f"{code}: {sentence}"
        if (self.acked + self.refused) % 50 == 0:
            spool.save()

    async def _send_from(self, ws: Any, spool: Spool, cursor: dict[int, int],
                         in_flight: deque[tuple[Spool, int]], flying: set[tuple[int, int]]) -> bool:
        """Send ``spool``'s unsettled lines from its cursor, in order; True if any went."""
        i, sent = cursor.setdefault(id(spool), spool.acked), False
        while not spool.refused and i < len(spool.lines) and len(in_flight) < WINDOW:
            if spool.is_acked(i) or (id(spool), i) in flying:
                i += 1
                continue
            if spool.is_end(i) and spool.acked < i:
                break       # call_end only once all before it is stored: the hub closes the call on it
            await ws.send(spool.lines[i])
            in_flight.append((spool, i))
            flying.add((id(spool), i))
            self.sent += 1
            sent = True
            i += 1
        cursor[id(spool)] = i
        return sent

    async def _session(self, ws: Any) -> None:
        in_flight: deque[tuple[Spool, int]] = deque()      # replies come in this order
        flying: set[tuple[int, int]] = set()
        cursor = {id(s): s.acked for s in self.spools}      # next line to send per spool
        self._pause_until = 0.0

        async def receive() -> None:
            async for raw in ws:
                if isinstance(raw, bytes):
                    continue
                msg = json.loads(raw)
                if not isinstance(msg, dict):
                    continue
                kind = msg.get("kind")
                if kind in ("ack", "clip_ack", "refused") and in_flight:
                    spool, index = in_flight.popleft()
                    flying.discard((id(spool), index))
                    self._on_reply(msg, spool, index, cursor)
                    self._wake.set()
                elif kind == "listen" and msg.get("call_id") in (None, self.call_id):
                    self.listening = bool(msg.get("on"))
                    if self.on_listening is not None:
                        self.on_listening(self.listening, str(msg.get("by", "")))

        receiver = asyncio.create_task(receive())
        try:
            while not receiver.done():
                self._wake.clear()
                progressed = False
                paused = self._pause_until - time.monotonic()
                if paused <= 0:
                    for spool in list(self.spools):
                        progressed = await self._send_from(ws, spool, cursor, in_flight, flying) or progressed
                while self._audio:
                    await ws.send(self._audio.popleft())
                if self._closing and all(s.done for s in self.spools):
                    break
                if not progressed:
                    try:
                        await asyncio.wait_for(self._wake.wait(), timeout=min(0.25, max(0.01, paused)))
                    except asyncio.TimeoutError:
                        pass
        finally:
            receiver.cancel()
            if self.listening:
                self.listening = False
                if self.on_listening is not None:
                    self.on_listening(False, "")
        if receiver.done() and not receiver.cancelled() and receiver.exception():
            raise receiver.exception()
