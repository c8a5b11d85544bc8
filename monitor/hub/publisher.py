"""Publishing a call to the hub, reliably and privately.

A bus sink.  Every event that may leave the operator's PC is first appended to a
spool file on disk (one JSON line, flushed), then streamed to the hub over a
WebSocket by a background thread.  The hub acks each line in order; the number
of acked lines is kept beside the spool.  When the hub is unreachable the call
carries on and the spool grows; the sender reconnects with back-off and resends
from the first unacked line.  The hub ignores a (call, seq) it already has, so
a line resent after a lost ack is not stored twice: no loss, no duplicates.
Spools left by earlier runs (the hub was down when a call ended) are resent
first; a fully acked spool is deleted.

Privacy: the operator's own acoustic cues (their level readings, their raised
voice) and private prompts (hold-and-breathe) are not published unless
``share_operator_cues`` is set.

While a supervisor listens, the hub says so: the publisher emits a
``listening`` event on the call's bus (the operator's screen shows it) and
:class:`AudioTap` streams the call's audio; flag clips (audio around a flag)
go through the spool like events.
"""

from __future__ import annotations

import asyncio
import base64
import fcntl
import json
import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse, urlunparse

from monitor.errors import CalmlineError
from monitor.events import Event
from monitor.hub.tls import client_options

OPERATOR_CUES = ("level", "raised_voice", "raised_voice_end", "speech_start", "speech_end")


def is_private(event: Event) -> bool:
    """Operator-side cues and private prompts stay on the operator's screen."""
    if event.type == "prompt" and (event.get("private") or event.get("kind") == "breathe"):
        return True
    return event.speaker == "operator" and event.type in OPERATOR_CUES


PRIVATE_REASONS = ("operator_raised_voice",)


def redact(event: Event) -> dict[str, Any]:
    """The event as the hub may see it when operator cues are not shared: the
    operator's raised voice and hold-and-breathe prompts are taken out of the
    summary, the escalation reasons and the incident record too."""
    d = event.to_dict()
    if d.get("reason") in PRIVATE_REASONS:
        d["reason"] = "operator cue (private)"
    if d["type"] != "summary":
        return d
    operator = (d.get("speakers") or {}).get("operator")
    if isinstance(operator, dict):
        for key in ("raised_voice_count", "raised_voice_s"):
            operator.pop(key, None)
    coach = d.get("coach")
    if isinstance(coach, dict):
        for entry in coach.get("escalation_timeline", []):
            if entry.get("reason") in PRIVATE_REASONS:
                entry["reason"] = "operator cue (private)"
        prompts = coach.get("prompts") or {}
        prompts["log"] = [p for p in prompts.get("log", []) if p.get("kind") != "breathe"]
        prompts.get("by_kind", {}).pop("breathe", None)
        prompts.get("override_rate", {}).pop("breathe", None)
        prompts["after_call"] = [p for p in prompts.get("after_call", []) if not p.startswith("breathe.")]
        prompts["shown"] = len(prompts["log"])
        incident = coach.get("incident")
        if isinstance(incident, dict):
            incident["what_was_done"] = [x for x in incident.get("what_was_done", [])
                                         if "prompt breathe." not in x]
    return d


def default_spool_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "calmline" / "spool"


def ws_url(url: str) -> str:
    parts = urlparse(url)
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.netloc:
        raise CalmlineError(f"--hub {url!r}: give the hub's address, e.g. http://hub.example:8766")
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    return urlunparse((scheme, parts.netloc, parts.path.rstrip("/") + "/ws/publish", "", "", ""))


class SpoolBusy(Exception):
    """Another calmline process has this spool open."""


class Spool:
    """One call's outbox: append-only JSON lines plus the count the hub acked.

    The file is locked (``flock``) while open, so two calmline processes sharing
    a spool folder never adopt, resend or delete each other's spool.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = open(path, "a", encoding="utf-8")
        try:
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._fh.close()
            raise SpoolBusy(str(path)) from None
        self.acked_path = path.with_suffix(".acked")
        self.lines: list[str] = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        self.acked = int(self.acked_path.read_text() or 0) if self.acked_path.exists() else 0

    def append(self, line: str) -> None:
        self._fh.write(line + "\n")
        self._fh.flush()
        self.lines.append(line)

    def ack(self, n: int = 1) -> None:
        self.acked = min(len(self.lines), self.acked + n)

    def save(self) -> None:
        tmp = self.acked_path.with_suffix(".tmp")
        tmp.write_text(str(self.acked))
        os.replace(tmp, self.acked_path)

    @property
    def done(self) -> bool:
        return self.acked >= len(self.lines)

    def close(self, delete_if_done: bool) -> None:
        self._fh.close()
        if delete_if_done and self.done:
            self.path.unlink(missing_ok=True)
            self.acked_path.unlink(missing_ok=True)
        else:
            self.save()


class HubPublisher:
    def __init__(self, hub_url: str, token: str, call_id: str, *, spool_dir: Path | None = None,
                 share_operator_cues: bool = False, on_listening: Callable[[bool, str], None] | None = None,
                 retry_max_s: float = 5.0) -> None:
        if not token:
            raise CalmlineError("--hub needs --token (or CALMLINE_HUB_TOKEN)")
        self.url = ws_url(hub_url)
        self._tls = client_options(self.url)      # wss: also trust CALMLINE_HUB_CA, if set
        self.token = token
        self.call_id = call_id
        self.share = share_operator_cues
        self.on_listening = on_listening
        self.retry_max_s = retry_max_s
        directory = spool_dir or default_spool_dir()
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CalmlineError(f"cannot create the spool folder {directory}: {exc.strerror}") from None
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in call_id)
        self.spools: list[Spool] = []
        for path in sorted(directory.glob("*.jsonl")):
            if path.stem != safe:
                try:
                    self.spools.append(Spool(path))      # left by an earlier run: resend it
                except SpoolBusy:
                    pass                                 # another running calmline owns it
        try:
            self.spool = Spool(directory / f"{safe}.jsonl")
        except SpoolBusy:
            raise CalmlineError(f"call {call_id!r} is already being published by another "
                                "calmline on this machine; give this one another --call-id") from None
        self.spools.append(self.spool)
        self.listening = False
        self.sent = self.acked = self.refused = self.reconnects = self.audio_dropped = 0
        self.connected = False
        self.last_error = ""
        self._audio: deque[bytes] = deque(maxlen=50)
        self._lock = threading.Lock()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="hub-publisher", daemon=True)
        self._thread.start()

    # --- producer side (pipeline threads) ------------------------------------------
    def __call__(self, event: Event) -> None:
        if self.share:
            self._append({"kind": "event", "call_id": self.call_id, "event": event.to_dict()})
        elif not is_private(event):
            self._append({"kind": "event", "call_id": self.call_id, "event": redact(event)})

    def send_clip(self, t_start: float, t_end: float, reason: str, rate: int, pcm: bytes) -> None:
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
        with self._lock:
            self.spool.append(json.dumps(message, ensure_ascii=False, separators=(",", ":")))
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
        Whatever is not acked stays spooled for the next run."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(s.done for s in self.spools):
            time.sleep(0.05)
        self._closing = True
        self._poke()
        self._thread.join(timeout=2.0)
        for spool in self.spools:
            spool.close(delete_if_done=True)
        return self.stats()

    def stats(self) -> dict[str, Any]:
        pending = sum(len(s.lines) - s.acked for s in self.spools)
        return {"hub": {"sent": self.sent, "acked": self.acked, "refused": self.refused, "pending": pending,
                        "reconnects": self.reconnects, "audio_dropped": self.audio_dropped,
                        "connected": self.connected}}

    # --- the sender thread ------------------------------------------------------------
    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()

    async def _main(self) -> None:
        from websockets.asyncio.client import connect

        self._wake = asyncio.Event()
        delay = 0.2
        while not self._closing:
            try:
                async with connect(self.url, **self._tls, additional_headers={"Authorization": f"Bearer {self.token}"},
                                   open_timeout=3, ping_interval=10, max_size=8 * 1024 * 1024) as ws:
                    self.connected = True
                    delay = 0.2
                    await self._session(ws)
            except Exception as exc:  # refused, reset, auth failure, ...
                self.last_error = str(exc)
            self.connected = False
            if self._closing:
                break
            self.reconnects += 1
            try:
                await asyncio.wait_for(self._sleep_until_closing(), timeout=delay)
            except asyncio.TimeoutError:
                pass
            delay = min(self.retry_max_s, delay * 2)

    async def _sleep_until_closing(self) -> None:
        while not self._closing:
            await asyncio.sleep(0.05)

    async def _session(self, ws: Any) -> None:
        in_flight: deque[Spool] = deque()
        cursor = {id(s): s.acked for s in self.spools}      # next line to send per spool

        async def receive() -> None:
            async for raw in ws:
                if isinstance(raw, bytes):
                    continue
                msg = json.loads(raw)
                kind = msg.get("kind")
                if kind in ("ack", "clip_ack") and in_flight:
                    spool = in_flight.popleft()
                    spool.ack()
                    if msg.get("refused"):
                        self.refused += 1          # the hub will never take it: don't resend
                        self.last_error = str(msg["refused"])
                    else:
                        self.acked += 1
                    if spool.acked % 50 == 0:
                        spool.save()
                elif kind == "listen" and msg.get("call_id") in (None, self.call_id):
                    self.listening = bool(msg.get("on"))
                    if self.on_listening is not None:
                        self.on_listening(self.listening, str(msg.get("by", "")))

        receiver = asyncio.create_task(receive())
        try:
            while not receiver.done():
                self._wake.clear()
                progressed = False
                for spool in list(self.spools):
                    start = cursor.setdefault(id(spool), spool.acked)
                    while start < len(spool.lines) and len(in_flight) < 256:
                        await ws.send(spool.lines[start])
                        in_flight.append(spool)
                        start += 1
                        self.sent += 1
                        progressed = True
                    cursor[id(spool)] = start
                while self._audio:
                    await ws.send(self._audio.popleft())
                if self._closing and all(s.done for s in self.spools):
                    break
                if not progressed:
                    try:
                        await asyncio.wait_for(self._wake.wait(), timeout=0.25)
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
