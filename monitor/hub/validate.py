"""What the hub accepts from a publisher, checked before anything is stored.

A publisher sends one JSON message per spool line: ``{"kind": "event",
"call_id": ..., "event": {...}}`` or ``{"kind": "clip", "call_id": ...,
"t_start", "t_end", "reason", "sample_rate", "audio_b64"}``.  Each gets exactly
one reply (the publisher matches replies to lines in order); a message the hub
will not store is answered with ``"refused"`` (a sentence for people) and
``"reason"`` (one of :data:`REASONS`, for programs), so a bad line is never
resent forever and never silently stored half-right.

The limits are far above what a real call produces (a call's busiest event is
its summary, a few kB; an utterance is at most ~30 s of speech, a few hundred
characters) and low enough that one message cannot make the hub hold megabytes.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass
from typing import Any

from monitor.events import EVENT_TYPES, SCHEMA_VERSION
from monitor.vocabulary import LEVELS, SPEAKERS

CALL_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
INT64_MAX = 2**63 - 1

MAX_MESSAGE_CHARS = 8 * 1024 * 1024    # any one message (a clip carries base64 audio)
MAX_EVENT_CHARS = 256 * 1024           # one event message
MAX_TEXT_CHARS = 2000                  # an utterance's (or partial's, trigger's) text
MAX_STRING_CHARS = 4000                # any other string in an event
MAX_DEPTH = 12                         # nesting inside an event
MAX_CALL_S = 7 * 86400.0               # audio positions: no call is longer than a week
MIN_T = -60.0                          # a little pre-roll before zero is tolerated
MAX_CLIP_S = 300.0
MAX_CLIP_BYTES = 6 * 1024 * 1024       # decoded PCM of one clip (60 s at 16 kHz is 1.9 MB)
MAX_CLIPS_PER_CALL = 100               # flags close together share a clip of up to 60 s
SAMPLE_RATES = (8000, 48000)

REASONS = (
    "bad_json", "non_finite", "not_calmline", "unknown_kind", "bad_call_id", "call_id_mismatch", "too_large",
    "bad_event", "bad_seq", "bad_clip", "bad_audio", "not_owner", "rate_limited",
    "call_ended", "seq_conflict", "too_many_clips",
)


class Refused(Exception):
    """The hub will not store this message; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Clip:
    t_start: float
    t_end: float
    reason: str
    sample_rate: int
    audio: bytes


def check_call_id(value: Any) -> str:
    if not isinstance(value, str) or not CALL_ID.fullmatch(value):
        raise Refused("bad_call_id", "a call id is 1 to 128 characters of letters, digits and . _ : -")
    return value


def envelope(data: Any) -> str:
    """The message's call id."""
    if not isinstance(data, dict) or "call_id" not in data:
        raise Refused("not_calmline", "not a calmline message")
    return check_call_id(data["call_id"])


def message_kind(data: dict[str, Any]) -> str:
    kind = data.get("kind")
    if kind not in ("event", "clip"):
        raise Refused("unknown_kind", f"unknown message kind {str(kind)[:40]!r} (event or clip)")
    return kind


def _number(value: Any, name: str, low: float = -math.inf, high: float = math.inf) -> float:
    # bool is an int in Python; JSON true is not a number
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise Refused("bad_event", f"{name} must be a finite number from {low:g} to {high:g}")
    return float(value)


def _string(e: dict[str, Any], name: str, limit: int = MAX_STRING_CHARS, optional: bool = False) -> None:
    value = e.get(name)
    if optional and value is None:
        return
    if not isinstance(value, str):
        raise Refused("bad_event", f"{e['type']} {name} must be a string")
    if len(value) > limit:
        raise Refused("too_large", f"{e['type']} {name} is {len(value)} characters (at most {limit})")


def _walk(value: Any, depth: int = 0) -> None:
    """Every string bounded, every integer an int64, nothing nested too deeply."""
    if depth > MAX_DEPTH:
        raise Refused("bad_event", f"the event is nested more than {MAX_DEPTH} deep")
    if isinstance(value, str):
        if len(value) > MAX_STRING_CHARS:
            raise Refused("too_large", f"a string of {len(value)} characters (at most {MAX_STRING_CHARS})")
    elif isinstance(value, bool) or value is None or isinstance(value, float):
        return            # floats are finite already: wire.loads refuses the others
    elif isinstance(value, int):
        if not -INT64_MAX - 1 <= value <= INT64_MAX:
            raise Refused("bad_event", "an integer outside the 64-bit range")
    elif isinstance(value, dict):
        for key, item in value.items():
            if len(key) > 200:
                raise Refused("too_large", "a field name over 200 characters")
            _walk(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _walk(item, depth + 1)


def check_seq(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= INT64_MAX:
        raise Refused("bad_seq", "seq must be a whole number from 0 to 2^63-1")
    return value


def event(call_id: str, data: dict[str, Any], size: int) -> dict[str, Any]:
    """The message's event, checked against the schema and the limits."""
    if size > MAX_EVENT_CHARS:
        raise Refused("too_large", f"an event message of {size} characters (at most {MAX_EVENT_CHARS})")
    e = data.get("event")
    if not isinstance(e, dict):
        raise Refused("bad_event", "an event message needs an event object")
    check_seq(e.get("seq"))
    if e.get("call_id") != call_id:
        raise Refused("call_id_mismatch", "the event's call_id differs from the message's")
    if e.get("v") != SCHEMA_VERSION:
        raise Refused("bad_event", f"event schema version must be {SCHEMA_VERSION}")
    kind = e.get("type")
    required = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if required is None:
        raise Refused("bad_event", f"unknown event type {str(kind)[:40]!r}")
    missing = [name for name in required if name not in e]
    if missing:
        raise Refused("bad_event", f"{kind} event lacks {', '.join(missing)}")
    _number(e.get("t"), "t", MIN_T, MAX_CALL_S)
    _number(e.get("wall"), "wall", MIN_T, MAX_CALL_S)
    if e.get("speaker") is not None and e["speaker"] not in SPEAKERS:
        raise Refused("bad_event", f"speaker must be one of {', '.join(SPEAKERS)}")
    _walk(e)
    _fields(e)
    return e


def _fields(e: dict[str, Any]) -> None:
    """The fields the store indexes, with the types it needs."""
    kind = e["type"]
    if kind in ("utterance", "utterance_partial"):
        _number(e["t_end"], "t_end", MIN_T, MAX_CALL_S)
        _string(e, "text", MAX_TEXT_CHARS)
        _string(e, "language", 16, optional=True)
    elif kind == "trigger":
        _string(e, "text", MAX_TEXT_CHARS)
        _string(e, "category", 64)
        _string(e, "id", 200)
    elif kind == "state":
        if e["level"] not in LEVELS:
            raise Refused("bad_event", f"state level must be one of {', '.join(LEVELS)}")
    elif kind == "prompt":
        for name in ("id", "kind"):
            _string(e, name, 200)
        _string(e, "title")
    elif kind == "prompt_ack":
        _string(e, "prompt_id", 200)
        _string(e, "action", 32)
    elif kind in ("call_end", "summary"):
        _number(e["duration"], "duration", 0.0, MAX_CALL_S)
        coach = e.get("coach")
        if coach is not None and not (isinstance(coach, dict) and
                                      isinstance(coach.get("incident") or {}, dict)):
            raise Refused("bad_event", "summary coach and its incident must be objects")


def clip(data: dict[str, Any]) -> Clip:
    """The message's flag clip: finite times, a real sample rate, valid base64 PCM."""
    try:
        t_start = _number(data.get("t_start"), "t_start", 0.0, MAX_CALL_S)
        t_end = _number(data.get("t_end"), "t_end", 0.0, MAX_CALL_S)
    except Refused as exc:
        raise Refused("bad_clip", exc.message) from None
    if not 0 < t_end - t_start <= MAX_CLIP_S:
        raise Refused("bad_clip", f"a clip ends after it starts and lasts at most {MAX_CLIP_S:g} s")
    rate = data.get("sample_rate")
    if isinstance(rate, bool) or not isinstance(rate, int) or not SAMPLE_RATES[0] <= rate <= SAMPLE_RATES[1]:
        raise Refused("bad_clip", f"sample_rate must be a whole number from {SAMPLE_RATES[0]} to {SAMPLE_RATES[1]}")
    reason = data.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 200:
        raise Refused("bad_clip", "a clip's reason is a string of at most 200 characters")
    encoded = data.get("audio_b64")
    if not isinstance(encoded, str) or len(encoded) > MAX_CLIP_BYTES * 4 // 3 + 4:
        raise Refused("bad_audio", f"audio_b64 must be base64 of at most {MAX_CLIP_BYTES} bytes")
    try:
        audio = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise Refused("bad_audio", "audio_b64 is not valid base64") from None
    longest = math.ceil((t_end - t_start + 1.0) * rate) * 2       # 16-bit mono, 1 s of slack
    if not audio or len(audio) % 2 or len(audio) > longest:
        raise Refused("bad_audio", "the audio must be 16-bit mono PCM no longer than the clip")
    return Clip(t_start, t_end, reason, rate, audio)
