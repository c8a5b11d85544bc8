"""The one event schema every stage and sink speaks.

An event is a flat JSON object, one per line.  Every event carries:

- ``v``: the schema version (:data:`SCHEMA_VERSION`);
- ``type``: one of :data:`EVENT_TYPES`;
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

:data:`EVENT_TYPES` maps each type to the fields it must carry beyond the common
ones; :func:`make_event` refuses an event that lacks one, so a typo in a stage is
caught where it is made rather than in a sink.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

SCHEMA_VERSION = 1

_SPAN_START = ("t_detected",)
_SPAN_END = ("t_end",)

#: type -> fields required beyond the common ones.
EVENT_TYPES: dict[str, tuple[str, ...]] = {
    "call_start": ("source", "sample_rate", "speakers", "channels"),
    "call_end": ("duration",),
    "summary": ("duration",),
    "speech_start": (),
    "speech_end": ("t_end",),
    "level": ("dbfs", "short_term_dbfs", "baseline_dbfs"),
    "raised_voice": _SPAN_START + ("db_over_baseline",),
    "raised_voice_end": _SPAN_END + ("db_over_baseline",),
    "overlap": _SPAN_START + ("other",),
    "overlap_end": _SPAN_END + ("other",),
    "silence": _SPAN_START,
    "silence_end": _SPAN_END,
    "monologue": _SPAN_START,
    "monologue_end": _SPAN_END,
    "utterance": ("t_end", "text", "language", "avg_logprob", "no_speech_prob"),
    "utterance_partial": ("t_end", "text", "language"),
    "trigger": ("category", "id", "text", "span"),
    "state": ("level",),
    "prompt": ("id", "kind", "priority", "title", "body", "why", "ttl"),
    "prompt_ack": ("prompt_id", "action"),
    "listening": ("on",),
    "stats": (),
}

COMMON_FIELDS = ("v", "type", "call_id", "seq", "t", "wall", "speaker")


class EventError(ValueError):
    """An event that does not follow the schema."""


@dataclass(frozen=True)
class Event:
    type: str
    call_id: str
    seq: int
    t: float
    wall: float
    speaker: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def get(self, name: str, default: Any = None) -> Any:
        return self.data.get(name, default)

    def __getitem__(self, name: str) -> Any:
        return self.data[name]

    def to_dict(self) -> dict[str, Any]:
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
        for key, value in self.data.items():
            out[key] = round(value, 4) if isinstance(value, float) else value
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))


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
    """Build an event, checking it against the schema."""
    required = EVENT_TYPES.get(type)
    if required is None:
        raise EventError(f"unknown event type {type!r}")
    missing = [name for name in required if name not in data]
    if missing:
        raise EventError(f"{type} event lacks {', '.join(missing)}")
    clash = [name for name in data if name in COMMON_FIELDS]
    if clash:
        raise EventError(f"{type} event sets reserved field(s) {', '.join(clash)}")
    return Event(type, call_id, seq, float(t), float(wall), speaker, dict(data))


def event_from_dict(obj: Mapping[str, Any]) -> Event:
    """Parse one decoded JSON line back into an :class:`Event`."""
    try:
        version = obj["v"]
        if version != SCHEMA_VERSION:
            raise EventError(f"schema version {version} is not {SCHEMA_VERSION}")
        data = {k: v for k, v in obj.items() if k not in COMMON_FIELDS}
        return make_event(
            obj["type"],
            call_id=obj["call_id"],
            seq=int(obj["seq"]),
            t=obj["t"],
            wall=obj["wall"],
            speaker=obj.get("speaker"),
            **data,
        )
    except KeyError as exc:
        raise EventError(f"event lacks field {exc.args[0]!r}") from None


def read_jsonl(lines: Iterable[str]) -> list[Event]:
    return [event_from_dict(json.loads(line)) for line in lines if line.strip()]


def without_wall(event: Event | Mapping[str, Any]) -> dict[str, Any]:
    """The event minus its wall-clock fields: what must match between replays."""
    d = event.to_dict() if isinstance(event, Event) else dict(event)
    d.pop("wall", None)
    return {k: v for k, v in d.items() if not k.startswith("wall_")}
