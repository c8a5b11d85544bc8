"""The call as the report sees it, gathered from the events in one pass.

:class:`CallView` reads the events once, dispatching on their classes
(:mod:`monitor.events`), into plain records the timeline and the page draw from:
loudness per speaker, spans (raised voice, overlap, silence, monologue),
utterances with the triggers found in them, state changes, prompts and their
acknowledgements, the end of the call and its summary.

The events may be :class:`~monitor.events.Event` objects or decoded JSON objects
(what ``--events`` writes, what the hub stores).  A JSON object that does not
follow the schema (a field missing or odd, e.g. from an old or damaged file) is
still read, leniently: what is missing is ``None`` and that part of the page is
left out; an object of no known type only moves the end of the call.  Loudness
is most of a call's events, so a ``level`` object is read straight from the JSON
(decoding 150 000 of them into events would double the time a two-hour report
takes).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Iterable, Mapping

from monitor.events import (
    ABSENT, COMMON_FIELDS, EVENT_CLASSES, EVENT_TYPES, CallEnd, CallStart, Event, EventError, Level,
    Monologue, MonologueEnd, Overlap, OverlapEnd, Prompt, PromptAck, RaisedVoice, RaisedVoiceEnd,
    Silence, SilenceEnd, State, Summary, Trigger, TriggerWithdrawn, Utterance, event_from_dict,
)
from monitor.frozen import FrozenDict, freeze
from monitor.report.look import num
from monitor.vocabulary import ACK_ACTIONS, LEVELS

SPANS = ("raised_voice", "overlap", "silence", "monologue")
#: (t, short-term dBFS, baseline dBFS) of one level event
LevelPoint = tuple[float, float | None, float | None]


@dataclass(slots=True)
class Span:
    """A raised voice, overlap, silence or monologue, from its start to its end."""

    t: float
    speaker: Any
    t_end: float | None = None
    other: Any = None          # overlaps: who was talked over
    db: float | None = None    # raised voice: dB over the speaker's baseline
    open: bool = False         # still going when the events stop


@dataclass(slots=True)
class Mark:
    """A phrase trigger."""

    t: float
    speaker: Any
    category: str
    id: str
    text: str
    span: Any
    partial: bool
    seq: float


@dataclass(slots=True)
class Line:
    """An utterance, with the triggers found in its words (``marks``) and those
    that belong to it but are not in its final words (``notes``)."""

    t: float
    t_end: float
    speaker: Any
    text: str
    seq: float
    marks: list[Mark] = field(default_factory=list)
    notes: list[Mark] = field(default_factory=list)


@dataclass(slots=True)
class StateChange:
    t: float
    level: str
    previous: str | None
    reason: str
    seq: float


@dataclass(slots=True)
class Shown:
    """A prompt shown to the operator."""

    t: float
    id: str
    prompt: str
    kind: str
    title: str
    body: str
    why: Mapping[str, Any]
    seq: float

    @property
    def after_call(self) -> bool:
        """A nudge for after the call (the coach emits them at its end)."""
        return self.why.get("cue") == "after_escalation"


class CallView:
    """What the report shows, from the events in one pass (an iterator is fine)."""

    def __init__(self, events: Iterable[Event | Mapping[str, Any]]) -> None:
        self.call_id = ""
        self.source = ""
        self.speakers: list[str] = []
        self.duration: float | None = None
        self.error: str | None = None
        self.summary: Summary | None = None
        self.coach: Mapping[str, Any] = {}
        self.levels: dict[str, list[LevelPoint]] = {}
        self.spans: dict[str, list[Span]] = {k: [] for k in SPANS}
        self.utterances: list[Line] = []
        self.triggers: list[Mark] = []
        self.orphans: list[Mark] = []          # triggers without an utterance
        self.states: list[StateChange] = []
        self.prompts: list[Shown] = []
        self.acks: dict[str, str] = {}
        # what the final transcript withdrew: left out, as the coach's summary leaves it out
        self._withdrawn: set[tuple[Any, float, str]] = set()
        self._withdrawn_prompts: set[str] = set()
        self.last_t = 0.0
        self._level_speakers: list[str] = []
        self._open: dict[tuple[str, Any, float], Span] = {}
        for index, obj in enumerate(events):
            if type(obj) is dict and obj.get("type") == "level":   # most of a call: the short way
                self._add_level(obj.get("speaker"), obj.get("t"), obj.get("short_term_dbfs"),
                                obj.get("baseline_dbfs"))
            else:
                self._read(obj, index)
        self._finish()

    # --- reading -----------------------------------------------------------------------
    def _read(self, obj: Any, index: int) -> None:
        if isinstance(obj, Event):
            self._add(obj)
        elif isinstance(obj, Mapping):
            if obj.get("type") == "level":
                self._add_level(obj.get("speaker"), obj.get("t"), obj.get("short_term_dbfs"),
                                obj.get("baseline_dbfs"))
                return
            event = decode(obj, index)
            if event is not None:
                self._add(event)
            else:              # of no known type: it only says the call went on this long
                self._reach(obj.get("call_id"), num(obj.get("t")) or 0.0, obj.get("t_end"))

    def _add_level(self, speaker: Any, t: Any, short_term: Any, baseline: Any) -> None:
        if speaker is None:
            return
        series = self.levels.get(speaker)
        if series is None:
            speaker = str(speaker)
            series = self.levels.get(speaker)
            if series is None:
                series = self.levels[speaker] = []
                self._level_speakers.append(speaker)
        t = num(t) or 0.0
        series.append((t, num(short_term), num(baseline)))
        if t > self.last_t:
            self.last_t = t

    def _reach(self, call_id: Any, t: float, t_end: Any) -> None:
        if not self.call_id and call_id:
            self.call_id = str(call_id)
        self.last_t = max(self.last_t, t, num(t_end) or 0.0)

    def _add(self, e: Event) -> None:
        if isinstance(e, Level):
            self._add_level(e.speaker, e.t, e.short_term_dbfs, e.baseline_dbfs)
            return
        t = num(e.t) or 0.0
        self._reach(e.call_id, t, e.get("t_end"))
        match e:
            case CallStart():
                self.source = str(e.source or "")
                if isinstance(e.speakers, list):
                    self.speakers = [str(s) for s in e.speakers]
            case RaisedVoice():
                self._open_span(e, t, db=num(e.db_over_baseline))
            case Overlap():
                self._open_span(e, t, other=e.other)
            case Silence() | Monologue():
                self._open_span(e, t)
            case RaisedVoiceEnd():
                self._close_span(e, t, num(e.t_end), db=num(e.db_over_baseline))
            case OverlapEnd():
                self._close_span(e, t, num(e.t_end), other=e.other)
            case SilenceEnd() | MonologueEnd():
                self._close_span(e, t, num(e.t_end))
            case Utterance():
                end = num(e.t_end)
                self.utterances.append(Line(t, t if end is None else end, e.speaker,
                                            str(e.text or ""), _order(e.seq)))
            case Trigger():
                self.triggers.append(Mark(
                    t, e.speaker, str(e.category or "?"), str(e.id or ""), str(e.text or ""),
                    e.span if isinstance(e.span, (list, tuple)) else None, bool(e.partial),
                    _order(e.seq)))
            case State():
                self.states.append(StateChange(t, str(e.level or ""), _name(e.previous),
                                               str(e.reason or ""), _order(e.seq)))
            case Prompt():
                self.prompts.append(Shown(
                    t, str(e.id or ""), str(e.prompt or ""), str(e.kind or "?"),
                    str(e.title or ""), str(e.body or ""),
                    e.why if isinstance(e.why, Mapping) else FrozenDict(), _order(e.seq)))
            case TriggerWithdrawn():
                self._withdrawn.add((e.speaker, round(t, 3), str(e.id or "")))
                if e.prompt:
                    self._withdrawn_prompts.add(str(e.prompt))
            case PromptAck():
                if e.action in ACK_ACTIONS:
                    self.acks[str(e.prompt_id)] = str(e.action)
            case CallEnd():
                self.duration = num(e.duration)
                if e.error:
                    self.error = str(e.error)
            case Summary():
                self.summary = e

    def _open_span(self, e: Event, t: float, *, other: Any = None, db: float | None = None) -> None:
        self._open[(e.type, e.speaker, round(t, 3))] = Span(t, e.speaker, other=other, db=db)

    def _close_span(self, e: Event, t: float, end: float | None, *, other: Any = None,
                    db: float | None = None) -> None:
        kind = e.type[:-len("_end")]
        span = self._open.pop((kind, e.speaker, round(t, 3)), None) or Span(t, e.speaker, other=other)
        span.t_end = end if end is not None else t
        span.db = db or span.db
        self.spans[kind].append(span)

    def _finish(self) -> None:
        if self.duration is None and self.summary is not None:
            self.duration = num(self.summary.duration)
        if self.duration is None:
            self.duration = self.last_t
        for (kind, _speaker, _t), span in self._open.items():   # still open when the events stop
            span.t_end = self.duration
            span.open = True
            self.spans[kind].append(span)
        self._open.clear()
        if not self.speakers:
            self.speakers = self._level_speakers or sorted(
                {str(u.speaker) for u in self.utterances if u.speaker})
        for s in self._level_speakers:
            if s not in self.speakers:
                self.speakers.append(s)
        self.triggers = [m for m in self.triggers
                         if (m.speaker, round(m.t, 3), m.id) not in self._withdrawn]
        self.prompts = [p for p in self.prompts if p.id not in self._withdrawn_prompts]
        for items in (self.utterances, self.triggers, self.states, self.prompts):
            items.sort(key=lambda x: (x.t, x.seq))
        if self.summary is not None and isinstance(self.summary.extra.get("coach"), Mapping):
            self.coach = self.summary.extra["coach"]
        self.orphans = attach_triggers(self.utterances, self.triggers)

    # --- what the page asks ------------------------------------------------------------
    @property
    def mono(self) -> bool:
        return self.speakers == ["call"]

    @property
    def incomplete(self) -> bool:
        return bool(self.error) or (self.summary is not None
                                    and not given(self.summary.complete, True))

    def timeline(self) -> list[tuple[float, str, str]]:
        """(start, level, reason) of each state, from the state events or the summary."""
        if self.states:
            first = self.states[0].previous
            return [(0.0, first or "calm", "")] + [(s.t, s.level, s.reason) for s in self.states]
        items = self.coach.get("escalation_timeline")
        if isinstance(items, list):
            return [(num(x.get("t")) or 0.0, str(x.get("level") or ""), str(x.get("reason") or ""))
                    for x in items if isinstance(x, Mapping)]
        return []

    def peak_state(self) -> str | None:
        peak = self.coach.get("peak_state")
        if peak:
            return str(peak)
        levels = [lv for _, lv, _ in self.timeline() if lv in LEVELS]
        return max(levels, key=LEVELS.index) if levels else None

    def prompt_status(self, p: Shown) -> str:
        if p.id in self.acks:
            return self.acks[p.id]
        return "after call" if p.after_call else "no response"


def given(value: Any, default: Any) -> Any:
    """An optional event field's value, or ``default`` where the event left it out."""
    return default if value is ABSENT else value


def _order(seq: Any) -> float:
    v = num(seq)
    return v if v is not None else 0.0


def _name(value: Any) -> str | None:
    return str(value) if value else None


# --------------------------------------------------------------------------- decoding

_COMMON_ATTRS = {f.name for f in fields(Event)}
_PAYLOAD = {cls: tuple(f.name for f in fields(cls) if f.name not in _COMMON_ATTRS)
            for cls in EVENT_CLASSES.values()}


def decode(obj: Mapping[str, Any], index: int) -> Event | None:
    """The event a decoded JSON object stands for; leniently when it does not follow
    the schema (missing fields are None; ``seq`` defaults to ``index``); None for an
    object of no known type."""
    kind = obj.get("type")
    cls = EVENT_CLASSES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        return None
    try:
        return event_from_dict(obj)
    except (EventError, TypeError, ValueError):
        pass
    required = EVENT_TYPES[cls.type]
    payload = {name: freeze(obj.get(name)) for name in _PAYLOAD[cls]
               if name in obj or name in required}
    extra = {k: v for k, v in obj.items() if k not in COMMON_FIELDS and k not in payload}
    return cls(call_id=obj.get("call_id"), seq=obj["seq"] if "seq" in obj else index,
               t=obj.get("t"), wall=0.0, speaker=obj.get("speaker"),
               extra=freeze(extra) if extra else FrozenDict(), **payload)


# --------------------------------------------------------------------------- words

def locate(text: str, mark: Mark) -> tuple[int, int] | None:
    """Where ``mark``'s words are in ``text``: its span when that holds its words,
    else the first place the words are found (ignoring case), else None."""
    span = mark.span
    want = mark.text
    if (span is not None and len(span) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in span)
            and 0 <= span[0] < span[1] <= len(text)):
        if not want or text[span[0]:span[1]].lower() == want.lower():
            return span[0], span[1]
    if want:
        low = text.lower()
        if len(low) == len(text):
            i = low.find(want.lower())
            if i >= 0:
                return i, i + len(want)
    return None


def attach_triggers(utterances: list[Line], triggers: list[Mark]) -> list[Mark]:
    """Give each trigger to its utterance (same speaker and start); the rest are returned."""
    by_key: dict[tuple[Any, int], list[Line]] = {}
    for u in utterances:
        by_key.setdefault((u.speaker, round(u.t * 100)), []).append(u)
    orphans = []
    for trig in triggers:
        key = round(trig.t * 100)
        candidates = [u for k in (key, key - 1, key + 1) for u in by_key.get((trig.speaker, k), [])]
        if not candidates:   # e.g. found in a partial whose final was merged: same speaker, in time
            candidates = [u for u in utterances if u.speaker == trig.speaker
                          and u.t - 0.01 <= trig.t <= u.t_end + 0.01]
        home = next((u for u in candidates if locate(u.text, trig)), None)
        if home is not None:
            home.marks.append(trig)
        elif candidates:
            candidates[0].notes.append(trig)
        else:
            orphans.append(trig)
    return orphans
