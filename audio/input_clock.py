"""Where an input's samples fall on the monotonic clock, and the audio it lost on the way.

Counting samples is not enough to keep two inputs of one call in line.  A sound
server delivers in bursts: the first callbacks of a stream opened on a busy
machine can carry a second or more of audio captured long before they arrive,
and an overrun between the server and us (PulseAudio's record buffer, a USB
headset's hiccup) drops audio without a word.  Either puts one channel of the
call out of line with the other by the size of the burst or of the loss, and
the call then waits on the lagging channel for as long as it lasts.

A block cannot arrive before its last sample was captured, so each arrival
bounds the stream's start from above:

- ``base`` is the earliest start consistent with every arrival so far, the
  minimum of ``arrival - samples_so_far / rate``.  A burst only makes arrivals
  late, so once it has drained ``base`` is when the first sample was captured
  (give or take the stream's smallest latency).
- **Lost audio**: when every block for ``confirm_s`` arrives more than
  ``tolerance_s`` later than its sample count allows, samples went missing
  upstream; that much silence is put back (and counted) where the lateness
  began, so the input stays on the clock.  While the lateness is unconfirmed
  (``suspect_from``), the audio after that point is held back by the caller, so
  nothing goes out of line before the silence is in place.  A delay that drains (a stalled callback thread catching up) never
  lasts ``confirm_s``, and a device clock a little slower than the computer's is
  corrected ``tolerance_s`` at a time.
"""

from __future__ import annotations


class InputClock:
    def __init__(self, rate: int, tolerance_s: float = 0.2, confirm_s: float = 0.5) -> None:
        self.rate = rate
        self.tolerance_s = tolerance_s
        self.confirm_s = confirm_s
        self.samples = 0                 # delivered, silence put back included
        self.base: float | None = None   # monotonic time of the first sample
        self.first_arrival: float | None = None
        self.last_arrival: float | None = None
        self.lost = 0                    # samples of silence put back
        self.gaps = 0
        self.suspect_from: int | None = None  # sample number where lateness began
        self._late_since: float | None = None
        self._late_min = 0.0

    def add(self, arrival: float, frames: int) -> tuple[int, int]:
        """A block of ``frames`` samples arrived at ``arrival``: how many samples of
        silence to put back (0 unless audio was lost), and at which sample number."""
        if self.first_arrival is None:
            self.first_arrival = arrival
        self.last_arrival = arrival
        self.samples += frames
        start = arrival - self.samples / self.rate
        if self.base is None or start <= self.base:
            self.base = start
            self._late_since = self.suspect_from = None
            return 0, 0
        late = start - self.base
        if late <= self.tolerance_s:
            self._late_since = self.suspect_from = None
            return 0, 0
        if self._late_since is None:
            self._late_since, self._late_min = arrival, late
            self.suspect_from = self.samples - frames
            return 0, 0
        self._late_min = min(self._late_min, late)
        if arrival - self._late_since < self.confirm_s:
            return 0, 0
        pad, at = int(round(self._late_min * self.rate)), self.suspect_from or 0
        self.samples += pad
        self.lost += pad
        self.gaps += 1
        self._late_since = self.suspect_from = None
        return pad, at

    def settled(self, settle_s: float) -> bool:
        """Delivering for at least ``settle_s``: a burst at the start has drained."""
        return (self.first_arrival is not None and self.last_arrival is not None
                and self.last_arrival - self.first_arrival >= settle_s)
