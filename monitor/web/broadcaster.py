"""Fans the event stream out to the operator page's WebSocket clients.

It is a bus sink, called on the pipeline's threads; it hands each event to the
web server's event loop without waiting (``call_soon_threadsafe``) and returns.
Each client has a bounded queue: a client that cannot keep up loses its oldest
*level* readings first (meters only), and every drop is counted.

It also keeps what a page that connects mid-call needs (the call, the current
state and prompt, when the call first got heated, the recent transcript, the
last level of each speaker, whether the transcript is delayed right now), the prompt ids of the call (an acknowledgement must
name one, once), and the emission-to-display latency samples the pages report
back.  It keeps its own deep copy of each event with any non-finite number
replaced by ``null`` (counted), so what it sends is strict JSON and nothing it
holds is shared with another sink.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict, deque
from typing import Any

from monitor.events import Event
from monitor.web.messages import finite_copy

SNAPSHOT_TRANSCRIPT = 8
LATENCY_SAMPLES = 5000
CLIENT_QUEUE = 2000
MAX_CLIENTS = 8            # operator pages open at once
MAX_PROMPT_IDS = 1000      # prompts remembered for acknowledgements (a call has tens)
HEATED = ("escalated", "abusive")


def _num(x: Any) -> float:
    """A number from an event copy, where a non-finite one became None."""
    return float(x) if isinstance(x, (int, float)) else 0.0


class Client:
    def __init__(self) -> None:
        self.queue: deque[dict[str, Any]] = deque()
        self.ready = asyncio.Event()
        self.dropped = 0

    def push(self, message: dict[str, Any]) -> None:
        if len(self.queue) >= CLIENT_QUEUE:
            for i, old in enumerate(self.queue):
                if old.get("event", {}).get("type") == "level":
                    del self.queue[i]
                    break
            else:
                self.queue.popleft()
            self.dropped += 1
        self.queue.append(message)
        self.ready.set()


class Broadcaster:
    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.clients: set[Client] = set()
        self._lock = threading.Lock()
        self.call: dict[str, Any] | None = None
        self.state: dict[str, Any] | None = None
        self.prompt: dict[str, Any] | None = None
        self.summary: dict[str, Any] | None = None
        self.ended = False
        self.listening = False
        self.delayed = False               # the last transcript_delayed said "on"
        self.transcript: deque[dict[str, Any]] = deque(maxlen=SNAPSHOT_TRANSCRIPT)
        self.levels: dict[str, dict[str, Any]] = {}
        self.heated_at: float | None = None
        self.prompt_ids: OrderedDict[str, bool] = OrderedDict()    # id -> acknowledged
        self.latency: deque[dict[str, Any]] = deque(maxlen=LATENCY_SAMPLES)
        self.events_sent = 0
        self.nonfinite = 0
        self.refused_clients = 0

    # --- bus side (any thread) ---------------------------------------------------
    def __call__(self, event: Event) -> None:
        d, bad = finite_copy(event.to_dict())
        d["emitted_ms"] = time.time() * 1000.0
        if bad:
            with self._lock:
                self.nonfinite += bad
        self._remember(d)
        if self.loop is not None and not self.loop.is_closed():
            try:
                self.loop.call_soon_threadsafe(self._fanout, {"kind": "event", "event": d})
            except RuntimeError:      # the loop closed between the check and the call
                pass

    def _remember(self, d: dict[str, Any]) -> None:
        kind = d["type"]
        with self._lock:
            if kind == "call_start":
                self.call = d
                self.ended = self.listening = self.delayed = False
                self.state = self.prompt = self.summary = self.heated_at = None
                self.transcript.clear()
                self.levels.clear()
                self.prompt_ids.clear()
            elif kind == "state":
                self.state = d
                if self.heated_at is None and d.get("level") in HEATED:
                    self.heated_at = d["t"]
            elif kind == "prompt":
                self._remember_prompt_id(d.get("id"))
                # a page that connects later gets the prompt that owns the screen:
                # a lower-priority one does not displace a higher one still showing
                current = self.prompt
                if (current is None or _num(d.get("priority")) >= _num(current.get("priority"))
                        or _num(d["t"]) >= _num(current["t"]) + _num(current.get("ttl"))):
                    self.prompt = d
            elif kind == "prompt_ack":
                if d.get("prompt_id") in self.prompt_ids:
                    self.prompt_ids[d["prompt_id"]] = True
                if self.prompt and self.prompt.get("id") == d.get("prompt_id"):
                    self.prompt = None
            elif kind == "trigger_withdrawn":
                # the prompt the withdrawn trigger caused is off the screen for new pages too
                if self.prompt and d.get("prompt") and self.prompt.get("id") == d.get("prompt"):
                    self.prompt = None
            elif kind in ("utterance", "utterance_partial"):
                if kind == "utterance":
                    # the final supersedes this speaker's partials of the same utterance
                    keep = [u for u in self.transcript
                            if not (u["type"] == "utterance_partial" and u.get("speaker") == d.get("speaker")
                                    and u["t"] == d["t"])]
                    self.transcript.clear()
                    self.transcript.extend(keep)
                self.transcript.append(d)
            elif kind == "level":
                self.levels[d["speaker"]] = d
            elif kind == "listening":
                self.listening = bool(d.get("on"))
            elif kind == "transcript_delayed":
                self.delayed = bool(d.get("on"))
            elif kind == "call_end":
                self.ended = True
            elif kind == "summary":
                self.summary = d

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            prompt = self.prompt
            if prompt is not None and self.levels:
                now_t = max(_num(lv["t"]) for lv in self.levels.values())
                if now_t > _num(prompt["t"]) + _num(prompt.get("ttl")):
                    prompt = None
            return {"kind": "snapshot", "call": self.call, "state": self.state, "prompt": prompt,
                    "transcript": list(self.transcript), "levels": dict(self.levels),
                    "ended": self.ended, "summary": self.summary, "listening": self.listening,
                    "delayed": self.delayed,
                    "heated_at": self.heated_at, "sent_ms": time.time() * 1000.0}

    def _remember_prompt_id(self, pid: Any) -> None:
        if isinstance(pid, str) and pid not in self.prompt_ids:
            self.prompt_ids[pid] = False
            while len(self.prompt_ids) > MAX_PROMPT_IDS:
                self.prompt_ids.popitem(last=False)

    def claim_ack(self, prompt_id: str) -> str:
        """``"ok"`` the first time a prompt of this call is acknowledged (and marks it),
        ``"already"`` after that, ``"unknown"`` for an id this call never showed."""
        with self._lock:
            if prompt_id not in self.prompt_ids:
                return "unknown"
            if self.prompt_ids[prompt_id]:
                return "already"
            self.prompt_ids[prompt_id] = True
            return "ok"

    # --- server side (the event loop) ---------------------------------------------
    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def _fanout(self, message: dict[str, Any]) -> None:
        self.events_sent += 1
        for client in list(self.clients):
            client.push(message)

    def add_client(self) -> Client | None:
        """A new page's queue, or None when :data:`MAX_CLIENTS` are connected (counted)."""
        if len(self.clients) >= MAX_CLIENTS:
            self.refused_clients += 1
            return None
        client = Client()
        self.clients.add(client)
        return client

    def remove_client(self, client: Client) -> None:
        self.clients.discard(client)

    def record_latency(self, sample: dict[str, Any]) -> None:
        """A sample checked by :func:`monitor.web.messages.displayed`."""
        self.latency.append(sample)

    def latency_report(self, type_: str | None = None) -> dict[str, Any]:
        import numpy as np

        samples = [s for s in self.latency if type_ is None or s["type"] == type_]
        if not samples:
            return {"count": 0}
        shown = np.array([s["to_display_ms"] for s in samples])
        recv = np.array([s["to_receive_ms"] for s in samples])
        return {"count": len(samples),
                "display_p50_ms": round(float(np.percentile(shown, 50)), 1),
                "display_p95_ms": round(float(np.percentile(shown, 95)), 1),
                "receive_p50_ms": round(float(np.percentile(recv, 50)), 1),
                "receive_p95_ms": round(float(np.percentile(recv, 95)), 1)}
