"""One publisher's connection to ``/ws/publish``: check, limit, store, reply.

Every text message gets exactly one reply, in order (the publisher matches
replies to its spool lines by position): ``{"kind": "ack", "call_id", "seq"}``
for an event, ``{"kind": "clip_ack", "call_id", "t_start"}`` for a clip.  A
message the hub will not store gets the same kind of reply with ``"refused"``
(a sentence) and ``"reason"`` (a code from :data:`monitor.hub.validate.REASONS`):

- ``rate_limited`` (with ``retry_after_s``): over the user's publish rate; the
  line was not stored and may be sent again later; the connection stays open,
  and the hub reads this connection's next message only after a short pause;
- ``call_ended``: the call has a ``call_end`` and this is a new event that does
  not belong after it (a call id reused for another recording);
- ``seq_conflict``: the call already holds a different event under this seq
  (another recording under the same call id);
- ``not_owner``: the call belongs to another operator;
- anything else: the line itself is wrong (not JSON; ``non_finite``: NaN,
  Infinity or ``1e999`` anywhere in it; a bad call id or seq; too large; invalid
  base64 audio; ...) and never will be stored.

An exact resend of a stored event is acked as usual (no duplicate is stored).
A new call id also counts against the user's new-call rate (``rate_limited``).
Refusals are counted per reason and user (``GET /api/limits``).  Binary
messages are live audio for listening supervisors: relayed for this
connection's calls only, bounded per frame and per second, drops counted.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from typing import TYPE_CHECKING, Any

from monitor.hub import validate
from monitor.hub.auth import User
from monitor.hub.validate import Refused
from monitor.hub.wire import NonFinite, WireError, loads, send_json

if TYPE_CHECKING:
    from monitor.hub.state import Hub

MAX_PAUSE_S = 0.1           # the longest a rate-limited connection is made to wait per message
CLIP_COST_BYTES = 64 * 1024  # a clip costs one event per this many characters
AUDIO_FRAME_COST = 512       # a live-audio frame costs at least this many bytes (no floods of tiny frames)
MAX_ITEMS_LARGE = 1000       # JSON items a message over MAX_EVENT_CHARS may hold (a clip holds ~8)


class PublishSession:
    def __init__(self, hub: Hub, ws: Any, user: User) -> None:
        self.hub, self.ws, self.user = hub, ws, user
        self.owned: set[str] = set()
        self.audio = hub.limiter.audio_bucket()
        self._wait = 0.0                 # seconds until the user's next event is allowed

    async def handle_text(self, text: str) -> float:
        """Handle one message and reply; returns how long to pause before the next."""
        reply: dict[str, Any] = {"kind": "ack"}
        pause = 0.0
        try:
            await self._handle(text, reply)
        except Refused as exc:
            reply["refused"], reply["reason"] = exc.message, exc.reason
            self.hub.limiter.count(exc.reason, self.user.name)
            if exc.reason == "rate_limited":
                reply["retry_after_s"] = round(max(0.001, self._wait), 3)
                pause = min(self._wait, MAX_PAUSE_S)
        await send_json(self.ws, reply)
        return pause

    async def _handle(self, text: str, reply: dict[str, Any]) -> None:
        if len(text) > validate.MAX_MESSAGE_CHARS:
            raise Refused("too_large", f"a message of {len(text)} characters "
                          f"(at most {validate.MAX_MESSAGE_CHARS})")
        if len(text) > validate.MAX_EVENT_CHARS and sum(map(text.count, ",[{")) > MAX_ITEMS_LARGE:
            # only a clip may be this large, and its bulk is one base64 string: millions of
            # small items would take many times the message's size to parse
            raise Refused("too_large", f"a message of {len(text)} characters that is not a clip")
        try:
            data = loads(text)
        except NonFinite as exc:
            with contextlib.suppress(ValueError, RecursionError):
                _describe(json.loads(text), reply)      # which line it was, for the reply
            raise Refused("non_finite", f"numbers must be finite: {exc}") from None
        except WireError as exc:
            raise Refused("bad_json", f"not a calmline message: {exc}") from None
        _describe(data, reply)
        call_id = validate.envelope(data)
        kind = validate.message_kind(data)
        self._wait = self.hub.limiter.publish(self.user.name, 1 + len(text) // CLIP_COST_BYTES)
        if self._wait > 0:
            raise Refused("rate_limited", f"over {self.hub.limiter.limits.events_per_s:g} events a second "
                          f"for {self.user.name}; not stored, send it again later")
        if kind == "event":
            event = validate.event(call_id, data, len(text))
            await self._own(call_id)
            if self.hub.store.add_event(call_id, event, time.time()):
                self.hub.ingested(call_id)
        else:
            clip = validate.clip(data)
            await self._own(call_id)
            others = self.hub.store.query("SELECT COUNT(*) FROM clips WHERE call_id = ? AND t_start <> ?",
                                          (call_id, clip.t_start))[0][0]       # a resend is not another
            if others >= validate.MAX_CLIPS_PER_CALL:
                raise Refused("too_many_clips", f"a call keeps at most {validate.MAX_CLIPS_PER_CALL} clips")
            self.hub.store.add_clip(call_id, clip.t_start, clip.t_end, clip.reason, clip.sample_rate,
                                    clip.audio, time.time())

    async def _own(self, call_id: str) -> None:
        """Only the operator who started a call publishes into it."""
        if call_id in self.owned:
            return
        if self.hub.store.call(call_id) is None:
            self._wait = self.hub.limiter.new_call(self.user.name)
            if self._wait > 0:
                raise Refused("rate_limited", f"{self.user.name} started too many calls; "
                              "not stored, send it again later")
        owner = self.hub.store.ensure_call(call_id, self.user.name, time.time())
        if owner != self.user.name:
            raise Refused("not_owner", "this call belongs to another operator")
        self.owned.add(call_id)
        self.hub.publishers[call_id] = self.ws
        if self.hub.listeners.get(call_id):
            await self.hub.set_listening(call_id, "")

    async def relay_audio(self, payload: bytes) -> float:
        """Relay one live-audio frame; returns how long to pause before the next."""
        limits = self.hub.limiter.limits
        if len(payload) > limits.audio_frame_bytes:
            self.hub.limiter.audio_dropped += 1
            return 0.0
        wait = self.audio.take(max(len(payload), AUDIO_FRAME_COST))
        if wait > 0:
            self.hub.limiter.audio_dropped += 1
            return min(wait, MAX_PAUSE_S)
        for call_id in self.owned:
            for listener in list(self.hub.listeners.get(call_id, ())):
                try:
                    await listener.send_bytes(payload)
                except Exception:             # a listener that just left
                    pass
        return 0.0

    def close(self) -> None:
        for call_id in self.owned:
            if self.hub.publishers.get(call_id) is self.ws:
                del self.hub.publishers[call_id]


def _describe(data: Any, reply: dict[str, Any]) -> None:
    """Name the line in the reply (kind, call id, seq or clip start) where it is
    well-formed, so a refusal can be matched to the line it refuses."""
    if not isinstance(data, dict):
        return
    if data.get("kind") == "clip":
        reply["kind"] = "clip_ack"
        start = data.get("t_start")
        if isinstance(start, (int, float)) and not isinstance(start, bool) and math.isfinite(start):
            reply["t_start"] = start
    with contextlib.suppress(Refused):
        reply["call_id"] = validate.check_call_id(data.get("call_id"))
    event = data.get("event")
    if data.get("kind") == "event" and isinstance(event, dict):
        with contextlib.suppress(Refused):
            reply["seq"] = validate.check_seq(event.get("seq"))
