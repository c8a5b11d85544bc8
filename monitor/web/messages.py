"""What goes over the operator page's WebSocket, checked both ways.

Out: every message is strict JSON (no ``NaN`` or ``Infinity``, which the
browser's ``JSON.parse`` refuses and which would blank the screen); the
broadcaster keeps its own finite copy of each event (:func:`finite_copy`).

In: the page sends two kinds of message, and anything else is ignored:

- ``{"kind": "ack", "prompt_id": str, "action": "used" | "dismissed"}``;
- ``{"kind": "displayed", "seq": int, "type": str, "emitted_ms": number,
  "received_ms": number, "displayed_ms": number}``.

Each is at most :data:`MAX_MESSAGE` bytes of strict JSON with exactly these
fields, finite numbers in a sane range, and short strings.
"""

from __future__ import annotations

import json
import math
from typing import Any

ACTIONS = ("used", "dismissed")
MAX_MESSAGE = 1024
MAX_ID = 200
MAX_TYPE = 40
MAX_SEQ = 2**53
MAX_LATENCY_MS = 3_600_000.0       # a display report more than an hour late is not a measurement
MAX_SKEW_MS = 60_000.0             # page and server share a clock; allow a little slack
ACK_FIELDS = frozenset({"kind", "prompt_id", "action"})
DISPLAYED_FIELDS = frozenset({"kind", "seq", "type", "emitted_ms", "received_ms", "displayed_ms"})


def encode(message: Any) -> str:
    """Strict JSON; raises ValueError on a non-finite number."""
    return json.dumps(message, allow_nan=False, separators=(",", ":"), ensure_ascii=False)


def finite_copy(value: Any) -> tuple[Any, int]:
    """A deep copy with every non-finite float replaced by ``None``, and how many were."""
    if isinstance(value, float):
        return (value, 0) if math.isfinite(value) else (None, 1)
    if isinstance(value, dict):
        out, bad = {}, 0
        for key, item in value.items():
            out[key], n = finite_copy(item)
            bad += n
        return out, bad
    if isinstance(value, (list, tuple)):
        items, bad = [], 0
        for item in value:
            copied, n = finite_copy(item)
            items.append(copied)
            bad += n
        return items, bad
    return value, 0


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse(text: str | bytes) -> dict[str, Any] | None:
    """The page's message as a dict, or None when it is too big, not strict JSON or not an object."""
    if len(text) > MAX_MESSAGE:
        return None
    try:
        msg = json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        return None
    return msg if isinstance(msg, dict) else None


def ack(msg: dict[str, Any]) -> tuple[str, str] | None:
    """(prompt_id, action) of a well-formed acknowledgement."""
    if set(msg) != ACK_FIELDS or msg["kind"] != "ack":
        return None
    pid, action = msg["prompt_id"], msg["action"]
    if not isinstance(pid, str) or not 0 < len(pid) <= MAX_ID or not pid.isprintable():
        return None
    if action not in ACTIONS:
        return None
    return pid, action


def _number(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def displayed(msg: dict[str, Any]) -> dict[str, Any] | None:
    """A display report as a latency sample, or None."""
    if set(msg) != DISPLAYED_FIELDS or msg["kind"] != "displayed":
        return None
    seq, type_ = msg["seq"], msg["type"]
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= MAX_SEQ:
        return None
    if not isinstance(type_, str) or not 0 < len(type_) <= MAX_TYPE or not type_.isidentifier():
        return None
    emitted, received, shown = (_number(msg[k]) for k in ("emitted_ms", "received_ms", "displayed_ms"))
    if emitted is None or received is None or shown is None:
        return None
    to_receive, to_display = received - emitted, shown - emitted
    if not (-MAX_SKEW_MS <= to_receive <= to_display <= MAX_LATENCY_MS):
        return None
    return {"type": type_, "seq": seq, "to_receive_ms": to_receive, "to_display_ms": to_display}
