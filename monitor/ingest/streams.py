"""What the three phone-system protocols share: protocol errors, pushing decoded
audio with back-pressure, and the JSON and identifier checks.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from typing import Any

import numpy as np
from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocket

from monitor.ingest.calls import LiveCall

BACKPRESSURE_WAIT_S = 2.0        # a reader waits this long for room before audio is dropped
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
NULL_UUID = "00000000-0000-0000-0000-000000000000"
MAX_TEXT = 65536                 # bytes of one text message


class ProtocolError(Exception):
    """The stream broke the protocol: it ends with the protocol's error (one line)."""

    def __init__(self, message: str, code: int = 1002) -> None:
        super().__init__(message)
        self.code = code         # a WebSocket close code where the protocol has none of its own


def parse_json(text: str) -> dict[str, Any]:
    """A JSON object, strictly (no NaN or Infinity); raises :class:`ProtocolError`."""
    if len(text) > MAX_TEXT:
        raise ProtocolError("message too large", 1009)
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise ProtocolError("message is not valid JSON", 1007) from None
    if not isinstance(value, dict):
        raise ProtocolError("message is not a JSON object", 1007)
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def field(obj: Any, name: str, kind: type | tuple[type, ...], where: str) -> Any:
    """``obj[name]`` of the given type; raises :class:`ProtocolError`."""
    value = obj.get(name) if isinstance(obj, dict) else None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, (int,))):
        raise ProtocolError(f"{where}: '{name}' is missing or not a {_kind_name(kind)}", 1007)
    if isinstance(value, float) and not math.isfinite(value):
        raise ProtocolError(f"{where}: '{name}' is not a finite number", 1007)
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "string", int: "whole number", dict: "object", list: "list", bool: "true/false",
             float: "number"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


async def push_audio(call: LiveCall, samples: np.ndarray, *, channel: int | None = None,
                     at: int | None = None) -> None:
    """Hand decoded audio to the call, waiting (up to :data:`BACKPRESSURE_WAIT_S`) while its
    queue is full, so a sender faster than the pipeline is slowed, not dropped.  Past
    that wait the audio is dropped and counted by the source."""
    source = call.source
    waited = 0.0
    while not source.room(samples.size) and waited < BACKPRESSURE_WAIT_S and not source.ended:
        await asyncio.sleep(0.01)
        waited += 0.01
    if channel is None:
        source.push_frames(samples, at)
    else:
        source.push(channel, samples, at)


async def deny(ws: WebSocket, status: int, reason: str) -> None:
    """Refuse a WebSocket handshake with an HTTP status (403 where the server cannot)."""
    try:
        await ws.send_denial_response(PlainTextResponse(f"calmline: {reason}\n", status_code=status))
    except RuntimeError:          # no denial-response extension: a plain refusal (403)
        await ws.close(code=1008)
