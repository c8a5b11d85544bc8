"""The one event schema every stage and sink speaks: one frozen class per type.

An event is a flat JSON object, one per line (schema v1).  Every event carries:

- ``v``: the schema version (:data:`SCHEMA_VERSION`);
- ``type``: which class it is (:data:`EVENT_CLASSES`);
- ``call_id``: the call it belongs to;
- ``seq``: its position in the call's stream (0, 1, 2, ...), which with ``call_id``
  makes an idempotent event id;
- ``t``: position in the call's audio, in seconds, computed from sample counts;
- ``wall``: seconds since the stream started, by the monotonic clock, when the
  event was emitted.  It and the ``summary``'s timing measurements
  (``transcription.asr_seconds``, ``real_time_factor``, ``lag_s``) are the only
  fields that differ between two replays of the same file;
- ``speaker``: ``operator``, ``customer`` or ``call`` (mono), where it applies.

Span cues are emitted twice: ``<name>`` when detected (``t`` = estimated start,
``t_detected`` = audio time at which the detector fired) and ``<name>_end`` when
over (same ``t``, plus ``t_end``).

Each type is a frozen dataclass below; its fields, in order, are the JSON keys
after the common ones.  A field without a default is required (it may still be
``null`` where its type says so); an optional one is left out of the JSON when
it was not given.  Keys this version does not know are kept, read-only, in
``extra`` and written back after the known ones, so a newer file still loads.
Consumers dispatch on the class (``match event: case Prompt(): ...``).

The JSON codec is :meth:`Event.to_json` / :func:`event_from_dict` (and
:func:`read_jsonl`); :func:`make_event` builds an event from a type name and
keyword fields, refusing one that lacks a required field, so a typo in a stage is
caught where it is made rather than in a sink.  Nested data (a prompt's ``why``,
the summary's sections) is deep-frozen: no sink can change what the next one
sees (:mod:`monitor.frozen`).
"""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, Iterable, Mapping

from monitor.frozen import FrozenDict, freeze, thaw

SCHEMA_VERSION = 1
COMMON_FIELDS = ("v", "type", "call_id", "seq", "t", "wall", "speaker")


class EventError(ValueError):
    """An event that does not follow the schema."""


class _Absent:
    """The value of an optional field that was not given (left out of the JSON)."""

    _it: "_Absent | None" = None

    def __new__(cls) -> "_Absent":
        if cls._it is None:
            cls._it = super().__new__(cls)
        return cls._it

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "ABSENT"

    def __reduce__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """What every event carries; the payload fields are declared per type."""

    type: ClassVar[str] = ""
    call_id: str
    seq: int
    t: float
    wall: float
    speaker: str | None = None
    extra: Mapping[str, Any] = field(default_factory=FrozenDict)

    # --- reading by name (for code that does not know the class) -------------------
    @property
    def data(self) -> Mapping[str, Any]:
        """The payload (every field after the common ones), read-only, in JSON order."""
        out = {name: getattr(self, name) for name in _PAYLOAD[type(self)]}
        out = {k: v for k, v in out.items() if v is not ABSENT}
        out.update(self.extra)
        return FrozenDict(out)

    def get(self, name: str, default: Any = None) -> Any:
        if name in _PAYLOAD[type(self)]:
            value = getattr(self, name)
            return default if value is ABSENT else value
        return self.extra.get(name, default)

    def __getitem__(self, name: str) -> Any:
        value = self.get(name, ABSENT)
        if value is ABSENT:
            raise KeyError(name)
        return value

    # --- JSON ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The event as a plain JSON object: a fresh, mutable deep copy."""
        out: dict[str, Any] = {
            "v": SCHEMA_VERSION,
            "type": self.type,
            "call_id": self.call_id,
            "seq": self.seq,
            "t": round(self.t, 4),
            "wall": round(self.wall, 4),
        }
        if self.speaker is not None:
            out["speaker"] = self.speaker
        for name in _PAYLOAD[type(self)]:
            value = getattr(self, name)
            if value is not ABSENT:
                out[name] = _plain(value)
        for key, value in self.extra.items():
            out[key] = _plain(value)
        return out

    def to_json(self) -> str:
        return _ENCODE(self.to_dict())


#: One encoder for every line: compact, UTF-8 text as is, and never NaN/Infinity
#: (which is not JSON; a reader would choke on it).
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def _plain(value: Any) -> Any:
    kind = type(value)
    if kind is float:
        return round(value, 4)
    return value if kind in (int, str, bool, type(None)) else thaw(value)


_OPT = ABSENT       # default of an optional field: left out of the JSON when not given


# --- the call -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class CallStart(Event):
    type: ClassVar[str] = "call_start"
    source: str
    sample_rate: int
    input_rate: int = _OPT
    channels: int
    speakers: list[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEnd(Event):
    type: ClassVar[str] = "call_end"
    duration: float
    error: str = _OPT


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary(Event):
    """End of call, from the event stream alone; the stages' own sections
    (``transcription``, ``coach``, input counters, ...) follow in ``extra``."""

    type: ClassVar[str] = "summary"
    duration: float
    speakers: Mapping[str, Any] = _OPT
    overlaps: int = _OPT
    overlap_s: float = _OPT
    silences: int = _OPT
    silence_s: float = _OPT
    complete: bool = _OPT
    note: str = _OPT


@dataclass(frozen=True, slots=True, kw_only=True)
class Stats(Event):
    type: ClassVar[str] = "stats"


# --- signal facts (audio/) -------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechStart(Event):
    type: ClassVar[str] = "speech_start"
    t_detected: float = _OPT


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechEnd(Event):
    type: ClassVar[str] = "speech_end"
    t_end: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Level(Event):
    type: ClassVar[str] = "level"
    dbfs: float
    short_term_dbfs: float
    baseline_dbfs: float | None
    speaking: bool = _OPT


@dataclass(frozen=True, slots=True, kw_only=True)
class RaisedVoice(Event):
    """A speaker raised their voice: by level over their own baseline, by vocal
    effort (spectral tilt and pitch over their own, whatever the level), or both
    (``by``: ``level``, ``effort``, ``level+effort``; ``effort`` is the score)."""

    type: ClassVar[str] = "raised_voice"
    t_detected: float
    db_over_baseline: float
    effort: float = _OPT
    by: str = _OPT


@dataclass(frozen=True, slots=True, kw_only=True)
class RaisedVoiceEnd(Event):
    type: ClassVar[str] = "raised_voice_end"
    t_end: float
    db_over_baseline: float
    effort: float = _OPT


@dataclass(frozen=True, slots=True, kw_only=True)
class Overlap(Event):
    """``speaker`` talked over ``other``."""

    type: ClassVar[str] = "overlap"
    other: str
    t_detected: float


@dataclass(frozen=True, slots=True, kw_only=True)
class OverlapEnd(Event):
    type: ClassVar[str] = "overlap_end"
    other: str
    t_end: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Silence(Event):
    type: ClassVar[str] = "silence"
    t_detected: float


@dataclass(frozen=True, slots=True, kw_only=True)
class SilenceEnd(Event):
    type: ClassVar[str] = "silence_end"
    t_end: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Monologue(Event):
    type: ClassVar[str] = "monologue"
    t_detected: float


@dataclass(frozen=True, slots=True, kw_only=True)
class MonologueEnd(Event):
    type: ClassVar[str] = "monologue_end"
    t_end: float


# --- words ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class Utterance(Event):
    type: ClassVar[str] = "utterance"
    t_end: float
    text: str
    language: str
    avg_logprob: float
    no_speech_prob: float
    parts: int = _OPT


@dataclass(frozen=True, slots=True, kw_only=True)
class UtterancePartial(Event):
    type: ClassVar[str] = "utterance_partial"
    t_end: float
    text: str
    language: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptDelayed(Event):
    """Live transcription fell behind (``on``) or caught up again (``on`` false):
    transcripts older than ``[transcription] max_age_s`` (or beyond the bounded
    backlog) are being dropped.  ``shed`` names the work held back meanwhile
    (``partials``, then ``operator``), ``behind_s`` how long the oldest waiting
    final has waited, ``dropped`` the finals dropped so far in the call."""

    type: ClassVar[str] = "transcript_delayed"
    on: bool
    shed: list[str] = _OPT
    behind_s: float = _OPT
    dropped: int = _OPT


# --- coaching ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class Trigger(Event):
    type: ClassVar[str] = "trigger"
    category: str
    id: str
    text: str
    span: list[int]
    partial: bool = _OPT
    t_detected: float = _OPT
    language: str = _OPT


@dataclass(frozen=True, slots=True, kw_only=True)
class TriggerWithdrawn(Event):
    """A trigger found in a partial transcript that the final transcript did not
    confirm.  ``t``, ``speaker`` and ``id`` are those of the withdrawn ``trigger``
    (with ``t`` the utterance's start, the three name it); ``t_detected`` is the
    audio time the final came in; ``prompt`` the prompt instance the trigger had
    caused, if any, now taken off the screen."""

    type: ClassVar[str] = "trigger_withdrawn"
    category: str
    id: str
    text: str = _OPT
    t_detected: float = _OPT
    prompt: str = _OPT
    reason: str = _OPT


@dataclass(frozen=True, slots=True, kw_only=True)
class State(Event):
    type: ClassVar[str] = "state"
    level: str
    previous: str = _OPT
    reason: str = _OPT
    score: float = _OPT


@dataclass(frozen=True, slots=True, kw_only=True)
class Prompt(Event):
    type: ClassVar[str] = "prompt"
    id: str
    prompt: str = _OPT
    kind: str
    priority: int
    title: str
    body: str
    why: Mapping[str, Any]
    ttl: float
    language: str = _OPT
    pacer: Mapping[str, Any] = _OPT
    private: bool = _OPT


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptAck(Event):
    type: ClassVar[str] = "prompt_ack"
    prompt_id: str
    action: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Listening(Event):
    """A supervisor started (``on``) or stopped listening to the call live."""

    type: ClassVar[str] = "listening"
    on: bool
    by: str | None = _OPT


#: type name -> class, for every type of schema v1.
EVENT_CLASSES: dict[str, type[Event]] = {
    cls.type: cls for cls in (
        CallStart, CallEnd, Summary, Stats, SpeechStart, SpeechEnd, Level, RaisedVoice,
        RaisedVoiceEnd, Overlap, OverlapEnd, Silence, SilenceEnd, Monologue, MonologueEnd,
        Utterance, UtterancePartial, TranscriptDelayed, Trigger, TriggerWithdrawn, State, Prompt,
        PromptAck, Listening,
    )
}

_COMMON_ATTRS = {f.name for f in fields(Event)}
#: class -> its payload field names, in JSON order.
_PAYLOAD: dict[type[Event], tuple[str, ...]] = {
    cls: tuple(f.name for f in fields(cls) if f.name not in _COMMON_ATTRS)
    for cls in EVENT_CLASSES.values()
}
#: type -> fields required beyond the common ones.
EVENT_TYPES: dict[str, tuple[str, ...]] = {
    name: tuple(f.name for f in fields(cls)
                if f.name not in _COMMON_ATTRS and f.default is MISSING)
    for name, cls in EVENT_CLASSES.items()
}


def make_event(
    type: str,
    *,
    call_id: str,
    seq: int,
    t: float,
    wall: float,
    speaker: str | None = None,
    **data: Any,
) -> Event:
    """Build an event of the named type, checking it against the schema."""
    cls = EVENT_CLASSES.get(type)
    if cls is None:
        raise EventError(f"unknown event type {type!r}")
    missing = [name for name in EVENT_TYPES[type] if name not in data]
    if missing:
        raise EventError(f"{type} event lacks {', '.join(missing)}")
    clash = [name for name in data if name in COMMON_FIELDS or name == "extra"]
    if clash:
        raise EventError(f"{type} event sets reserved field(s) {', '.join(clash)}")
    known = _PAYLOAD[cls]
    # deep-frozen: no sink can change what the next one sees, and the caller's own
    # dicts and lists (e.g. the summary fields it also returns) are not shared
    payload = {k: freeze(v) for k, v in data.items() if k in known}   # scalars pass as they are
    extra = {k: v for k, v in data.items() if k not in known}
    return cls(call_id=call_id, seq=seq, t=float(t), wall=float(wall), speaker=speaker,
               extra=freeze(extra) if extra else FrozenDict(), **payload)


def event_from_dict(obj: Mapping[str, Any]) -> Event:
    """Parse one decoded JSON line back into its event class."""
    try:
        version = obj["v"]
        if version != SCHEMA_VERSION:
            raise EventError(f"schema version {version} is not {SCHEMA_VERSION}")
        seq = obj["seq"]
        if isinstance(seq, bool) or not isinstance(seq, int):
            raise EventError("event seq must be a whole number")
        for name in ("t", "wall"):
            value = obj[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value):
                raise EventError(f"event {name} must be a finite number")
        data = {k: v for k, v in obj.items() if k not in COMMON_FIELDS}
        return make_event(obj["type"], call_id=obj["call_id"], seq=seq, t=obj["t"],
                          wall=obj["wall"], speaker=obj.get("speaker"), **data)
    except KeyError as exc:
        raise EventError(f"event lacks field {exc.args[0]!r}") from None


def read_jsonl(lines: Iterable[str]) -> list[Event]:
    return [event_from_dict(json.loads(line)) for line in lines if line.strip()]


def without_wall(event: Event | Mapping[str, Any]) -> dict[str, Any]:
    """The event minus its wall-clock fields: what must match between replays."""
    d = event.to_dict() if isinstance(event, Event) else dict(event)
    d.pop("wall", None)
    return {k: v for k, v in d.items() if not k.startswith("wall_")}
