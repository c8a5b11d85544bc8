"""Abuse limits on publishing, per user (one token each), and their counters.

A live call publishes ~10-25 events a second (the customer's level meter is
most of them), so :data:`DEFAULT` (200 a second) is eight times what a real
operator sends; a replay with ``--hub`` sends a recording's events as fast as
the pipeline makes them, and the burst takes a ~5-minute call's events at once
(longer replays are paced: the publisher resends refused lines after the pause).
One operator flooding thousands of events a second is held to a rate the hub
absorbs without slowing anyone else down, and the database grows by at most
that rate.  Over the limit an event is refused with ``reason: "rate_limited"``
and ``retry_after_s`` (the connection stays open; the hub reads that
connection's next message only after the pause) and counted per user and
reason; the counters are served to supervisors at ``GET /api/limits``.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class PublishLimits:
    events_per_s: float = 200.0          # sustained, per user, events and clips together
    burst: float = 4000.0                # what a user may send at once before the rate applies
    sockets_per_user: int = 8            # open publish connections per user
    new_calls_per_s: float = 1 / 6       # new call ids per user: 10 a minute (a live call lasts minutes)
    new_calls_burst: float = 20          # ... and 20 at once (a batch of recordings replayed to the hub)
    audio_bytes_per_s: float = 256 * 1024   # live audio per connection (16 kHz PCM is 32 kB/s)
    audio_burst_bytes: float = 1024 * 1024
    audio_frame_bytes: int = 64 * 1024   # one live-audio frame

    def __post_init__(self) -> None:
        if not (self.events_per_s > 0 and self.burst >= 1 and self.sockets_per_user >= 1
                and self.new_calls_per_s > 0 and self.new_calls_burst >= 1
                and self.audio_bytes_per_s > 0 and self.audio_burst_bytes >= self.audio_frame_bytes > 0):
            raise ValueError(f"publish limits out of range: {self}")


DEFAULT = PublishLimits()


class TokenBucket:
    """``rate`` a second on average, ``burst`` at once; the clock is injectable."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self._clock = float(rate), float(burst), clock
        self._tokens = float(burst)
        self._last = clock()

    def take(self, cost: float = 1.0) -> float:
        """Take ``cost`` tokens: 0.0 when allowed, else the seconds until they
        would be there (nothing is taken)."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + max(0.0, now - self._last) * self.rate)
        self._last = now
        cost = min(cost, self.burst)
        if self._tokens >= cost:
            self._tokens -= cost
            return 0.0
        return (cost - self._tokens) / self.rate


class Limiter:
    """The hub's publish limits: one event bucket per user, refusals counted."""

    def __init__(self, limits: PublishLimits = DEFAULT, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._new_calls: dict[str, TokenBucket] = {}
        self.refused: Counter[str] = Counter()             # by reason
        self.refused_by_user: Counter[str] = Counter()
        self.audio_dropped = 0

    def publish(self, user: str, cost: float = 1.0) -> float:
        """0.0 if ``user`` may publish now, else seconds to wait."""
        bucket = self._buckets.get(user)
        if bucket is None:
            bucket = self._buckets[user] = TokenBucket(self.limits.events_per_s, self.limits.burst, self._clock)
        return bucket.take(cost)

    def new_call(self, user: str) -> float:
        """0.0 if ``user`` may start another call now, else seconds to wait: one
        operator cannot fill every dashboard with thousands of calls."""
        bucket = self._new_calls.get(user)
        if bucket is None:
            bucket = self._new_calls[user] = TokenBucket(self.limits.new_calls_per_s,
                                                         self.limits.new_calls_burst, self._clock)
        return bucket.take()

    def audio_bucket(self) -> TokenBucket:
        return TokenBucket(self.limits.audio_bytes_per_s, self.limits.audio_burst_bytes, self._clock)

    def count(self, reason: str, user: str) -> None:
        self.refused[reason] += 1
        self.refused_by_user[user] += 1

    def stats(self) -> dict[str, Any]:
        return {"limits": asdict(self.limits),
                "refused": {"total": sum(self.refused.values()), "by_reason": dict(self.refused),
                            "by_user": dict(self.refused_by_user)},
                "audio_dropped": self.audio_dropped}
