"""What the transcription scheduler (``monitor/asr/scheduler.py``) runs and
counts: a model call's tier, the job itself, and a call's counters."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from monitor.asr.scheduler import Deadline


class Tier(IntEnum):
    """Lower runs first."""

    CUSTOMER_FINAL = 0
    OPERATOR_FINAL = 1
    SPECULATION = 2           # idle work: a final made while its end is being confirmed
    PARTIAL = 3               # idle work: the words so far of an utterance still spoken

    @property
    def final(self) -> bool:
        return self <= Tier.OPERATOR_FINAL


DROP_REASONS = ("stale", "late", "full", "shed", "hurry", "closed")


@dataclass
class Job:
    """One model call for a call.  ``run(deadline)`` does the work on a worker
    thread and publishes the result only if ``deadline.ok()`` says, right before,
    that it is still in time (idle work may also give up when
    ``deadline.cancelled()``: a final is waiting)."""

    tier: Tier
    speaker: str
    heard_at: float                      # clock time the newest audio in it came in
    seconds: float                       # audio length (what merging adds up)
    run: Callable[["Deadline"], None]
    dropped: Callable[[str], None] = lambda reason: None    # told why it never ran / showed
    oldest_at: float = -1.0              # clock time the oldest part came in (merged jobs)
    expected_s: float | None = None      # its likely cost, when the caller knows better
    parts: int = 1
    payload: Any = None                  # the caller's own (e.g. the audio)

    def __post_init__(self) -> None:
        if self.oldest_at < 0:
            self.oldest_at = self.heard_at


@dataclass
class LaneStats:
    submitted: int = 0
    done: int = 0
    merged: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DROP_REASONS, 0))
    idle_jobs: int = 0
    late_idle: int = 0                   # idle results that came out too old (not shown)
    backlog_max: int = 0
    model_seconds: float = 0.0
    lags: list[float] = field(default_factory=list)       # published finals: newest audio to result
    delays: int = 0                      # times the transcript became delayed
    errors: int = 0                      # run() raised

    def as_dict(self) -> dict[str, Any]:
        return {"submitted": self.submitted, "done": self.done, "merged": self.merged,
                "dropped": {k: v for k, v in self.dropped.items() if v},
                "idle_jobs": self.idle_jobs, "late_idle": self.late_idle,
                "published": len(self.lags),
                "backlog_max": self.backlog_max, "model_seconds": round(self.model_seconds, 3),
                "delays": self.delays, "errors": self.errors}
