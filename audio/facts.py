"""What the audio front end reports: small, typed signal facts.

``audio/`` knows nothing about calls, sinks or JSON; the monitor wraps each fact
into an event of the same name (see ``monitor/events.py``).  Times are audio
seconds computed from sample counts at :data:`audio.frames.SAMPLE_RATE`.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Fact(NamedTuple):
    kind: str                 # event type, e.g. "speech_start", "raised_voice_end"
    t: float                  # audio seconds (span cues: the estimated start)
    speaker: str | None       # "operator", "customer", "call" or None (call-wide)
    data: dict[str, Any]      # type-specific fields (t_detected, t_end, ...)
