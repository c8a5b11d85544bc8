"""The end-of-call summary, computed from the event stream alone.

Because it only reads events, a summary of a replay and of the live call it was
recorded from agree, and any sink (JSON lines, the hub) can rebuild it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from monitor.events import (CallEnd, CallStart, Event, Monologue, OverlapEnd, RaisedVoiceEnd,
                            SilenceEnd, SpeechEnd, Utterance)


class SummaryBuilder:
    """A sink that accumulates what the summary reports."""

    def __init__(self) -> None:
        self.speakers: list[str] = []
        self.duration = 0.0
        self.speech_s: dict[str, float] = defaultdict(float)
        self.raised: dict[str, list[float]] = defaultdict(list)
        self.overlaps: list[dict[str, Any]] = []
        self.silences: list[float] = []
        self.monologues: dict[str, int] = defaultdict(int)
        self.words: dict[str, int] = defaultdict(int)
        self.error: str | None = None

    def __call__(self, event: Event) -> None:
        match event:
            case CallStart():
                self.speakers = list(event.speakers)
            case SpeechEnd():
                self.speech_s[event.speaker] += event.t_end - event.t
            case RaisedVoiceEnd():
                self.raised[event.speaker].append(event.t_end - event.t)
            case OverlapEnd():
                self.overlaps.append({"speaker": event.speaker, "other": event.other,
                                      "seconds": event.t_end - event.t})
            case SilenceEnd():
                self.silences.append(event.t_end - event.t)
            case Utterance():
                self.words[event.speaker] += len(event.text.split())
            case Monologue():
                self.monologues[event.speaker] += 1
            case CallEnd():
                self.duration = event.duration
                self.error = event.get("error")

    def build(self, **extra: Any) -> dict[str, Any]:
        """The summary event's fields."""
        r2 = lambda x: round(x, 2)  # noqa: E731
        per_speaker = {
            s: {
                "speech_s": r2(self.speech_s.get(s, 0.0)),
                "raised_voice_count": len(self.raised.get(s, [])),
                "raised_voice_s": r2(sum(self.raised.get(s, []))),
                "overlaps_started": sum(1 for o in self.overlaps if o["speaker"] == s),
                "monologues": self.monologues.get(s, 0),
                "words": self.words.get(s, 0),
            }
            for s in self.speakers
        }
        out: dict[str, Any] = {
            "duration": r2(self.duration),
            "speakers": per_speaker,
            "overlaps": len(self.overlaps),
            "overlap_s": r2(sum(o["seconds"] for o in self.overlaps)),
            "silences": len(self.silences),
            "silence_s": r2(sum(self.silences)),
            "complete": self.error is None,
        }
        if self.speakers == ["call"]:
            out["note"] = ("mono recording: speakers cannot be told apart, so cues are "
                           "call-level and overlaps are not detected")
        out.update(extra)
        return out
