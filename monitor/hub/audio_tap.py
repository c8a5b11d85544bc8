"""The call's audio for the hub: live to listening supervisors, and clips around flags.

A pipeline stage (it sees the framed audio) and a bus sink (it sees the flags).
Audio is mixed to one channel.  It leaves the PC only while a supervisor is
listening (``publisher.listening``) and as clips of about ``clip_pad_s`` either
side of a flag: the call reaching escalated or abusive, an insult, a legal
threat.  Overlapping flags share one clip (at most ``clip_max_s`` long).  A
trigger that the final transcript withdrew (``trigger_withdrawn``) is no longer a
reason for its clip: a clip not yet sent that has no other reason left is dropped.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

import numpy as np

from audio.frames import SAMPLE_RATE
from monitor.events import Event, State, Trigger, TriggerWithdrawn
from monitor.hub.publisher import HubPublisher
from monitor.vocabulary import FLAG_CATEGORIES, HEATED


class AudioTap:
    def __init__(self, publisher: HubPublisher, clip_pad_s: float = 10.0, clip_max_s: float = 60.0) -> None:
        self.publisher = publisher
        self.pad = clip_pad_s
        self.max = clip_max_s
        keep = int((clip_max_s + 2 * clip_pad_s) * SAMPLE_RATE)
        self._ring: deque[np.ndarray] = deque()
        self._ring_start = 0            # sample index of the ring's first sample
        self._ring_len = 0
        self._keep = keep
        self._clips: list[list[Any]] = []    # [t_start, t_end, reason]; under _lock:
        self._lock = threading.Lock()        # flags also arrive on the transcriber's thread
        self._by_trigger: dict[tuple[Any, float, Any], tuple[list[Any], str]] = {}
        self._t = 0.0
        self.clips_sent = 0

    # --- bus side ---------------------------------------------------------------------
    def __call__(self, event: Event) -> None:
        match event:
            case TriggerWithdrawn():
                self._withdraw((event.speaker, event.t, event.id))
                return
            case State() if event.level in HEATED:
                reason = event.level
            case Trigger() if event.category in FLAG_CATEGORIES:
                reason = event.category
            case _:
                return
        t = event.get("t_detected", event.t)
        start, end = max(0.0, t - self.pad), t + self.pad
        with self._lock:
            for clip in self._clips:
                if start <= clip[1] and end - clip[0] <= self.max:
                    clip[1] = max(clip[1], end)
                    if reason not in clip[2].split(","):
                        clip[2] += "," + reason
                    break
            else:
                clip = [start, end, reason]
                self._clips.append(clip)
            if isinstance(event, Trigger):
                self._by_trigger[(event.speaker, event.t, event.id)] = (clip, reason)

    def _withdraw(self, key: tuple[Any, float, Any]) -> None:
        with self._lock:
            entry = self._by_trigger.pop(key, None)
            if entry is None:
                return
            clip, reason = entry
            still = any(c is clip and r == reason for c, r in self._by_trigger.values())
            if still or not any(c is clip for c in self._clips):      # another reason, or sent
                return
            reasons = [r for r in clip[2].split(",") if r != reason]
            if reasons:
                clip[2] = ",".join(reasons)
            else:
                self._clips = [c for c in self._clips if c is not clip]

    # --- pipeline side -------------------------------------------------------------------
    def process(self, pcm: np.ndarray, frontend: Any) -> None:
        mono = pcm.mean(axis=0).astype(np.int16) if pcm.shape[0] > 1 else pcm[0]
        self._ring.append(mono)
        self._ring_len += len(mono)
        while self._ring and self._ring_len - len(self._ring[0]) >= self._keep:
            dropped = self._ring.popleft()
            self._ring_len -= len(dropped)
            self._ring_start += len(dropped)
        self._t = frontend.t
        if self.publisher.listening:
            self.publisher.send_audio(mono.tobytes())
        self._send_due(self._t)

    def finish(self, frontend: Any) -> None:
        self._send_due(float("inf"), end=frontend.t)

    def stats(self) -> dict[str, Any]:
        return {"clips_sent": self.clips_sent}

    def _send_due(self, now: float, end: float | None = None) -> None:
        with self._lock:
            due = [c for c in self._clips if c[1] <= now]
            self._clips = [c for c in self._clips if c[1] > now]
            if due:                  # a sent clip's triggers can no longer be taken out of it
                self._by_trigger = {k: v for k, v in self._by_trigger.items()
                                    if not any(v[0] is c for c in due)}
        for t_start, t_end, reason in due:
            t_end = min(t_end, end if end is not None else t_end)
            pcm = self._cut(t_start, t_end)
            if pcm is not None:
                self.publisher.send_clip(t_start, t_end, reason, SAMPLE_RATE, pcm)
                self.clips_sent += 1

    def _cut(self, t_start: float, t_end: float) -> bytes | None:
        if not self._ring:
            return None
        audio = np.concatenate(self._ring)
        a = max(0, int(t_start * SAMPLE_RATE) - self._ring_start)
        b = max(a, int(t_end * SAMPLE_RATE) - self._ring_start)
        piece = audio[a:b]
        return piece.tobytes() if len(piece) else None
