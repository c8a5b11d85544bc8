"""Genesys Cloud AudioHook (protocol version 2), the server side, at
``ws(s)://HOST:PORT/ingest/audiohook``.

The client (Genesys) opens the WebSocket with ``X-API-KEY``,
``Audiohook-Organization-Id``, ``Audiohook-Session-Id`` and
``Audiohook-Correlation-Id`` headers, then runs a session of JSON text messages
and binary audio frames:

- every text message has ``version`` "2", ``id`` (the session id), ``type``,
  ``seq`` and ``parameters``; the client's also ``serverseq`` (the last server
  ``seq`` it saw) and ``position`` (an ISO 8601 duration, ``PT1.5S``); the
  server's also ``clientseq`` (the last client ``seq`` it processed).  Each
  side's ``seq`` counts up from 1 without gaps;
- **open** → **opened**: the client offers media (``type`` audio, ``format``
  PCMU or L16, ``rate`` 8000, ``channels`` ``external``/``internal``); the server
  selects exactly one of the offered entries (here: PCMU with both channels if
  offered, then L16 with both, then one channel) and returns it unchanged.  An
  open whose ``conversationId`` is the null UUID is a connection probe: it is
  answered, and no call is made;
- **ping** → **pong** at once (so the pong's ``clientseq`` is the ping's ``seq``);
- **paused**/**resumed** (``start``, ``discarded``) and **discarded** report audio
  the client did not send (counted; no silence is made up for it);
- **update** (``language``) → **updated**; **error** from the client is counted;
- **close** (``reason``) → **closed**, after which the client closes the socket;
- binary frames are audio while the session is active: PCMU (one byte per sample)
  or L16 (little-endian 16-bit), the channels interleaved in the selected order.

The ``external`` channel is the **customer**, ``internal`` the **operator**; the call
id is the ``conversationId``; the operator whose screen shows the call is
``inputVariables.operator`` or ``customConfig.operator`` of the open message.

Authentication: with an API key configured, a handshake whose ``X-API-KEY`` is
missing or wrong is refused with HTTP 401 before the upgrade, and an open whose
``organizationId`` differs from the ``Audiohook-Organization-Id`` header is
answered with ``disconnect`` (``unauthorized``).

Errors: a malformed message, a ``seq`` out of order, audio outside an active
session or a frame that is not whole samples is answered with ``disconnect``
(reason ``error``, ``info`` saying what), the client's ``close`` with ``closed``,
and the call ends with that error, after everything received before it.  A
socket that drops without ``close`` ends the call the same way.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
from typing import Any

import numpy as np

from audio import mulaw
from monitor.ingest.calls import CallRefused, CallRequest, LiveCall, Switchboard
from monitor.ingest.streams import NULL_UUID, UUID, ProtocolError, deny, field, parse_json, push_audio

DURATION = re.compile(r"PT(?:\d{0,12}\.)?\d{1,12}S")
CHANNELS = {"internal": "operator", "external": "customer"}
CLIENT_TYPES = ("open", "close", "ping", "paused", "resumed", "discarded", "update", "error")
CLOSE_WAIT_S = 10.0
SUPPORTED_LANGUAGES = ["en-US", "ru-RU", "bg-BG", "ro-RO"]


def seconds(duration: str) -> float:
    return float(duration[2:-1])


def select_media(offered: list[Any]) -> dict[str, Any] | None:
    """The offered entry to use (returned as offered), or None."""
    ok = [m for m in offered if isinstance(m, dict) and m.get("type") == "audio" and m.get("rate") == 8000
          and m.get("format") in ("PCMU", "L16") and isinstance(m.get("channels"), list)
          and 1 <= len(m["channels"]) <= 2 and len(set(m["channels"])) == len(m["channels"])
          and all(c in CHANNELS for c in m["channels"])]
    ranked = sorted(ok, key=lambda m: (-len(m["channels"]), m["format"] != "PCMU"))
    return ranked[0] if ranked else None


class AudioHookSession:
    """One AudioHook WebSocket, after the handshake was accepted."""

    def __init__(self, ws: Any, switchboard: Switchboard, headers: dict[str, str]) -> None:
        self.ws = ws
        self.switchboard = switchboard
        self.id: str | None = headers.get("audiohook-session-id") or None
        self.organization = headers.get("audiohook-organization-id")
        self.seq = 0                 # the server's last seq
        self.clientseq = 0           # the client's last seq processed
        self.state = "preparing"     # preparing, active, paused, closed
        self.media: dict[str, Any] | None = None
        self.call: LiveCall | None = None
        self.error: str | None = None       # why this session ends as broken
        self.signalled = False              # a disconnect was sent
        self.counts = {"pings": 0, "discarded_s": 0.0, "paused": 0, "client_errors": 0, "updates": 0}

    async def run(self) -> None:
        try:
            await self._loop()
        finally:
            if self.call is not None:
                self.call.end(self.error)
            try:
                await self.ws.close()
            except Exception:      # already closed by the client
                pass

    async def _loop(self) -> None:
        while self.state != "closed":
            try:
                message = await asyncio.wait_for(self.ws.receive(), CLOSE_WAIT_S) if self.signalled \
                    else await self.ws.receive()
            except asyncio.TimeoutError:          # no close after our disconnect
                return
            if message["type"] == "websocket.disconnect":
                if self.error is None and self.call is not None:
                    self.error = "audiohook: disconnected mid-call (no close transaction)"
                return
            try:
                if message.get("bytes") is not None:
                    await self._audio(message["bytes"])
                else:
                    await self._text(message.get("text") or "")
            except ProtocolError as exc:
                await self._fail(str(exc))

    # --- messages ------------------------------------------------------------------------
    async def _text(self, text: str) -> None:
        msg = parse_json(text)
        if msg.get("version") != "2":
            raise ProtocolError("version must be \"2\"")
        sid = field(msg, "id", str, "message")
        kind = field(msg, "type", str, "message")
        seq = field(msg, "seq", int, "message")
        serverseq = field(msg, "serverseq", int, "message")
        position = field(msg, "position", str, "message")
        params = field(msg, "parameters", dict, "message")
        if not UUID.fullmatch(sid) or not DURATION.fullmatch(position):
            raise ProtocolError("id must be a UUID and position a duration like PT1.5S")
        if seq != self.clientseq + 1 and not (self.signalled and seq > self.clientseq):
            # (after our disconnect, a message we could not read may have used a seq)
            raise ProtocolError(f"invalid seq {seq} (expected {self.clientseq + 1})")
        self.clientseq = seq
        if not 0 <= serverseq <= self.seq:
            raise ProtocolError(f"invalid serverseq {serverseq}")
        if self.id is None:
            self.id = sid
        elif sid.lower() != self.id.lower():
            raise ProtocolError("session id mismatch")
        if kind not in CLIENT_TYPES:
            raise ProtocolError(f"'{kind}' is not a supported client message")
        if self.signalled and kind != "close":
            return                      # after our disconnect only the close matters
        await getattr(self, f"_on_{kind}")(params)

    async def _on_open(self, params: dict[str, Any]) -> None:
        if self.state != "preparing":
            return                      # a repeated open is ignored
        org = field(params, "organizationId", str, "open")
        conversation = field(params, "conversationId", str, "open")
        participant = field(params, "participant", dict, "open")
        offered = field(params, "media", list, "open")
        if not UUID.fullmatch(org) or not UUID.fullmatch(conversation):
            raise ProtocolError("open: organizationId and conversationId must be UUIDs")
        for key in ("ani", "aniName", "dnis"):
            field(participant, key, str, "open: participant")
        if self.organization and not hmac.compare_digest(self.organization.lower(), org.lower()):
            await self._disconnect("unauthorized", "organizationId does not match the Audiohook-Organization-Id header")
            return
        media = select_media(offered)
        if media is None:
            raise ProtocolError("open: none of the offered media is supported (audio, PCMU or L16, 8000 Hz)")
        opened: dict[str, Any] = {"media": [media], "startPaused": False}
        if params.get("supportedLanguages") is True:
            opened["supportedLanguages"] = SUPPORTED_LANGUAGES
        if conversation != NULL_UUID:            # the null UUID: a connection probe, no call
            self.call = self._start(conversation, media, params)
        self.media = media
        self.state = "active"
        await self._send("opened", opened)

    def _start(self, conversation: str, media: dict[str, Any], params: dict[str, Any]) -> LiveCall:
        operator = None
        for holder in ("inputVariables", "customConfig"):
            value = params.get(holder)
            if isinstance(value, dict) and isinstance(value.get("operator"), str):
                operator = value["operator"]
                break
        request = CallRequest(call_id=conversation.lower(), protocol="audiohook",
                              speakers=tuple(CHANNELS[c] for c in media["channels"]),
                              operator=operator, description=f"audiohook session {self.id}")
        try:
            return self.switchboard.start_call(request)
        except CallRefused as exc:
            raise ProtocolError(str(exc)) from None

    async def _on_ping(self, params: dict[str, Any]) -> None:
        self.counts["pings"] += 1
        await self._send("pong", {})

    async def _on_paused(self, params: dict[str, Any]) -> None:
        if self.state == "active":
            self.state = "paused"
            self.counts["paused"] += 1

    async def _on_resumed(self, params: dict[str, Any]) -> None:
        self._discarded(params, "resumed")
        if self.state == "paused":
            self.state = "active"

    async def _on_discarded(self, params: dict[str, Any]) -> None:
        self._discarded(params, "discarded")

    def _discarded(self, params: dict[str, Any], where: str) -> None:
        start = field(params, "start", str, where)
        gone = field(params, "discarded", str, where)
        if not DURATION.fullmatch(start) or not DURATION.fullmatch(gone):
            raise ProtocolError(f"{where}: start and discarded must be durations")
        self.counts["discarded_s"] += seconds(gone)

    async def _on_update(self, params: dict[str, Any]) -> None:
        field(params, "language", str, "update")
        self.counts["updates"] += 1
        await self._send("updated", {})

    async def _on_error(self, params: dict[str, Any]) -> None:
        self.counts["client_errors"] += 1
        code = params.get("code")
        if self.call is not None and self.error is None and isinstance(code, int) and code >= 500:
            self.error = f"audiohook client error {code}: {str(params.get('message', ''))[:200]}"

    async def _on_close(self, params: dict[str, Any]) -> None:
        reason = field(params, "reason", str, "close")
        if reason == "error" and self.error is None and self.call is not None:
            self.error = "audiohook: the client closed the session with an error"
        await self._send("closed", {})
        self.state = "closed"

    # --- audio ---------------------------------------------------------------------------
    async def _audio(self, data: bytes) -> None:
        if self.state != "active" or self.media is None:
            raise ProtocolError(f"audio received while the session is {self.state}")
        n_ch = len(self.media["channels"])
        if self.media["format"] == "PCMU":
            if len(data) % n_ch:
                raise ProtocolError("audio frame is not whole samples")
            samples = mulaw.decode(data)
        else:
            if len(data) % (2 * n_ch):
                raise ProtocolError("audio frame is not whole samples")
            samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
        if self.call is None or not samples.size:
            return                      # a probe's audio goes nowhere
        if self.call.failed:
            raise ProtocolError(f"the call could not be recorded: {self.call.error}")
        await push_audio(self.call, samples.reshape(-1, n_ch).T)

    # --- sending -------------------------------------------------------------------------
    async def _send(self, kind: str, parameters: dict[str, Any]) -> None:
        self.seq += 1
        msg = {"version": "2", "id": self.id, "type": kind, "seq": self.seq,
               "clientseq": self.clientseq, "parameters": parameters}
        await self.ws.send_text(json.dumps(msg, allow_nan=False))

    async def _disconnect(self, reason: str, info: str) -> None:
        if self.signalled or self.state == "closed":
            return
        self.signalled = True
        await self._send("disconnect", {"reason": reason, "info": info[:200]})

    async def _fail(self, info: str) -> None:
        if self.error is None:
            self.error = f"audiohook: {info}"
        if self.id is None:          # nothing to address a disconnect to
            self.state = "closed"
            return
        await self._disconnect("error", info)


async def audiohook_endpoint(ws: Any, switchboard: Switchboard, api_key: str | None) -> None:
    """``/ingest/audiohook``: check the API key, then run the session."""
    given = ws.headers.get("x-api-key")
    if api_key and (given is None or not hmac.compare_digest(given.encode("utf-8", "replace"),
                                                             api_key.encode("utf-8"))):
        await deny(ws, 401, "missing or wrong X-API-KEY")
        return
    await ws.accept()
    await AudioHookSession(ws, switchboard, {k.lower(): v for k, v in ws.headers.items()}).run()
