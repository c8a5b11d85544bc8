"""Fans the event stream out to the operator page's WebSocket clients.

It is a bus sink, called on the pipeline's threads; it hands each event to the
web server's event loop without waiting (``call_soon_threadsafe``) and returns.
Each client has a bounded queue: a client that cannot keep up loses its oldest
*level* readings first (meters only), and every drop is counted.

It also keeps what a page that connects mid-call needs (the call, the current
state and prompt, the recent transcript, the last level of each speaker), and
the emission-to-display latency samples the pages report back.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from typing import Any

from monitor.events import Event

SNAPSHOT_TRANSCRIPT = 8
LATENCY_SAMPLES = 5000
CLIENT_QUEUE = 2000


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
        self.transcript: deque[dict[str, Any]] = deque(maxlen=SNAPSHOT_TRANSCRIPT)
        self.levels: dict[str, dict[str, Any]] = {}
        self.latency: deque[dict[str, float]] = deque(maxlen=LATENCY_SAMPLES)
        self.events_sent = 0

    # --- bus side (any thread) ---------------------------------------------------
    def __call__(self, event: Event) -> None:
        d = event.to_dict()
        d["emitted_ms"] = time.time() * 1000.0
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
                self.ended = self.listening = False
                self.state = self.prompt = self.summary = None
                self.transcript.clear()
                self.levels.clear()
            elif kind == "state":
                self.state = d
            elif kind == "prompt":
                # a page that connects later gets the prompt that owns the screen:
                # a lower-priority one does not displace a higher one still showing
                current = self.prompt
                if (current is None or d.get("priority", 0) >= current.get("priority", 0)
                        or d["t"] >= current["t"] + current.get("ttl", 0)):
                    self.prompt = d
            elif kind == "prompt_ack" and self.prompt and self.prompt.get("id") == d.get("prompt_id"):
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
            elif kind == "call_end":
                self.ended = True
            elif kind == "summary":
                self.summary = d

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            prompt = self.prompt
            if prompt is not None and self.levels:
                now_t = max(lv["t"] for lv in self.levels.values())
                if now_t > prompt["t"] + prompt["ttl"]:
                    prompt = None
            return {"kind": "snapshot", "call": self.call, "state": self.state, "prompt": prompt,
                    "transcript": list(self.transcript), "levels": dict(self.levels),
                    "ended": self.ended, "summary": self.summary, "listening": self.listening,
                    "sent_ms": time.time() * 1000.0}

    # --- server side (the event loop) ---------------------------------------------
    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def _fanout(self, message: dict[str, Any]) -> None:
        self.events_sent += 1
        for client in list(self.clients):
            client.push(message)

    def add_client(self) -> Client:
        client = Client()
        self.clients.add(client)
        return client

    def remove_client(self, client: Client) -> None:
        self.clients.discard(client)

    def record_latency(self, sample: dict[str, Any]) -> None:
        try:
            emitted = float(sample["emitted_ms"])
            received = float(sample["received_ms"])
            displayed = float(sample["displayed_ms"])
        except (KeyError, TypeError, ValueError):
            return
        self.latency.append({"type": str(sample.get("type", "")), "seq": sample.get("seq"),
                             "to_receive_ms": received - emitted, "to_display_ms": displayed - emitted})

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
