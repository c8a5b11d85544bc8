"""Twilio Media Streams (``<Start><Stream>`` / ``<Connect><Stream>``), the wire format
at ``ws(s)://HOST:PORT/ingest/twilio``.

Twilio opens the WebSocket and sends JSON text messages, each with ``event``:

- ``connected`` (``protocol``, ``version``) first;
- ``start`` once: ``sequenceNumber``, ``streamSid`` and ``start`` with
  ``streamSid``, ``accountSid``, ``callSid``, ``tracks`` (``inbound`` and/or
  ``outbound``), ``mediaFormat`` (``audio/x-mulaw``, 8000 Hz, 1 channel) and
  ``customParameters`` (the ``<Parameter>`` nouns of the TwiML);
- ``media``: ``media.track``, ``media.chunk``, ``media.timestamp`` (milliseconds
  since the stream started, as a string) and ``media.payload`` (base64 mu-law);
- ``stop`` (``stop.callSid``) last; ``mark`` and ``dtmf`` are tolerated.

Every message after ``connected`` carries the stream's ``streamSid`` and a
``sequenceNumber`` string counting up from 1 (a gap is counted, not fatal).

Here ``inbound`` (what Twilio receives from the caller) is the **customer** and
``outbound`` (what it sends to them) the **operator**; ``customParameters.operator``
names whose screen shows the call; the call id is ``callSid``.  Audio is placed on
each track's timeline by its timestamp (gaps filled with silence, counted).

Authentication: with an auth token configured, the handshake's
``X-Twilio-Signature`` must be the base64 HMAC-SHA1 of the stream's URL keyed with
it (Twilio signs every WebSocket request it makes; ``<Stream>`` URLs take no query
string).  A wrong or missing signature is refused before the upgrade (HTTP 403).

Errors: the protocol has no error message towards Twilio, so a malformed or
out-of-order message ends the stream by closing the WebSocket (1007 invalid data,
1002 protocol error, 1009 too big) with a one-line reason; the call ends with that
error, after everything received before it.  A socket that closes without
``stop`` ends the call the same way ("disconnected mid-call").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from audio import mulaw
from monitor.ingest.calls import CallRefused, CallRequest, LiveCall, Switchboard
from monitor.ingest.streams import ProtocolError, deny, field, parse_json, push_audio

RATE = 8000
TRACKS = {"outbound": "operator", "inbound": "customer"}     # channel order: operator, customer
MAX_PAYLOAD = 16000          # base64 characters of one media message (~1.5 s of audio)


def signature(auth_token: str, url: str) -> str:
    """What Twilio puts in ``X-Twilio-Signature`` for a request to ``url`` with no body."""
    digest = hmac.new(auth_token.encode("utf-8"), url.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_ok(auth_token: str, given: str | None, urls: list[str]) -> bool:
    if not given:
        return False
    return any(hmac.compare_digest(given.encode("ascii", "replace"), signature(auth_token, u).encode())
               for u in urls)


class TwilioStream:
    """One Media Streams WebSocket, after the handshake was accepted."""

    def __init__(self, ws: WebSocket, switchboard: Switchboard) -> None:
        self.ws = ws
        self.switchboard = switchboard
        self.call: LiveCall | None = None
        self.stream_sid: str | None = None
        self.tracks: dict[str, int] = {}
        self.expected_seq = 1
        self.sequence_gaps = 0
        self.ignored = 0

    async def run(self) -> None:
        error: str | None = "disconnected mid-call (the stream closed without 'stop')"
        try:
            while True:
                text = await self.ws.receive_text()
                if await self._handle(parse_json(text)):
                    error = None
                    break
        except ProtocolError as exc:
            error = f"twilio stream: {exc}"
            await _close(self.ws, exc.code, str(exc))
        except WebSocketDisconnect:
            pass
        except (KeyError, RuntimeError):     # a binary frame, or the socket went away
            error = "twilio stream: binary frames are not part of the protocol"
            await _close(self.ws, 1003, "binary frames are not part of the protocol")
        finally:
            if self.call is not None:
                self.call.end(error)
        if error is None:
            await _close(self.ws, 1000, "")

    async def _handle(self, msg: dict[str, Any]) -> bool:
        """One message; True after ``stop``."""
        event = field(msg, "event", str, "message")
        if event == "connected":
            return False
        if event not in ("start", "media", "stop", "mark", "dtmf"):
            self.ignored += 1               # a newer message type: tolerated, counted
            return False
        self._check_sequence(msg)
        if event == "start":
            await self._start(msg)
            return False
        if self.call is None:
            raise ProtocolError(f"'{event}' before 'start'")
        if field(msg, "streamSid", str, event) != self.stream_sid:
            raise ProtocolError(f"'{event}' for another stream")
        if event == "media":
            await self._media(field(msg, "media", dict, "media"))
        elif event == "stop":
            return True
        return False

    def _check_sequence(self, msg: dict[str, Any]) -> None:
        seq = msg.get("sequenceNumber")
        if seq is None:
            return
        if not isinstance(seq, str) or not seq.isdigit() or len(seq) > 18:
            raise ProtocolError("'sequenceNumber' is not a number string", 1007)
        n = int(seq)
        if n != self.expected_seq:
            self.sequence_gaps += 1
        self.expected_seq = n + 1

    async def _start(self, msg: dict[str, Any]) -> None:
        if self.call is not None:
            raise ProtocolError("a second 'start'")
        start = field(msg, "start", dict, "start")
        self.stream_sid = field(start, "streamSid", str, "start")
        call_sid = field(start, "callSid", str, "start")
        tracks = field(start, "tracks", list, "start")
        fmt = field(start, "mediaFormat", dict, "start")
        if (fmt.get("encoding") != "audio/x-mulaw" or fmt.get("sampleRate") != RATE
                or fmt.get("channels", 1) != 1):
            raise ProtocolError("start: mediaFormat must be audio/x-mulaw, 8000 Hz, 1 channel", 1007)
        names = [t for t in TRACKS if t in tracks]
        if not names or any(t not in TRACKS for t in tracks):
            raise ProtocolError("start: tracks must be inbound and/or outbound", 1007)
        params = start.get("customParameters") or {}
        if not isinstance(params, dict):
            raise ProtocolError("start: customParameters is not an object", 1007)
        operator = params.get("operator")
        self.tracks = {t: k for k, t in enumerate(names)}
        request = CallRequest(call_id=call_sid, protocol="twilio",
                              speakers=tuple(TRACKS[t] for t in names),
                              operator=operator if isinstance(operator, str) else None,
                              description=f"twilio stream {self.stream_sid[:64]}")
        try:
            self.call = self.switchboard.start_call(request)
        except CallRefused as exc:
            raise ProtocolError(str(exc), 1008) from None

    async def _media(self, media: dict[str, Any]) -> None:
        assert self.call is not None
        if self.call.failed:
            raise ProtocolError(f"the call could not be recorded: {self.call.error}", 1011)
        track = field(media, "track", str, "media")
        if track not in self.tracks:
            raise ProtocolError(f"media: track {track!r} was not announced in 'start'", 1007)
        payload = field(media, "payload", str, "media")
        if len(payload) > MAX_PAYLOAD:
            raise ProtocolError("media: payload too large", 1009)
        try:
            raw = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError("media: payload is not base64", 1007) from None
        at = None
        stamp = media.get("timestamp")
        if stamp is not None:
            if not isinstance(stamp, str) or not stamp.isdigit() or len(stamp) > 12:
                raise ProtocolError("media: timestamp is not a number string", 1007)
            at = int(stamp) * RATE // 1000
        if raw:
            await push_audio(self.call, mulaw.decode(raw), channel=self.tracks[track], at=at)


async def twilio_endpoint(ws: WebSocket, switchboard: Switchboard, auth_token: str | None,
                          urls: list[str]) -> None:
    """``/ingest/twilio``: check the signature, then run the stream."""
    if auth_token and not signature_ok(auth_token, ws.headers.get("x-twilio-signature"), urls):
        await deny(ws, 403, "bad or missing X-Twilio-Signature")
        return
    await ws.accept()
    await TwilioStream(ws, switchboard).run()


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    try:
        await ws.close(code=code, reason=reason[:120])
    except Exception:    # already closed by the other side
        pass
