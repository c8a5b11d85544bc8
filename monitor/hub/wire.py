"""Strict JSON at the hub's edges.

Python's ``json`` module reads ``NaN``, ``Infinity`` and ``1e999`` (as an
infinite float) and writes them back as bare ``NaN``/``Infinity``, which a
browser's ``JSON.parse`` rejects: one such number in a call blanked every
supervisor's dashboard.  Everything the hub reads from a socket goes through
:func:`loads` (non-finite numbers refused) and everything it sends goes through
:func:`dumps` (``allow_nan=False``), so a non-finite number can neither get in
nor, from a database written before these checks, get out as invalid JSON.
"""

from __future__ import annotations

import json
import math
from typing import Any


class WireError(ValueError):
    """A message that is not strict JSON (invalid, non-finite numbers, too deep)."""


class NonFinite(WireError):
    """NaN, Infinity or a number too large for a float (``1e999``)."""


def _no_constant(name: str) -> Any:
    raise NonFinite(f"{name} is not a finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NonFinite(f"{text[:20]} is not a finite number")
    return value


def loads(text: str | bytes) -> Any:
    """Parse one message; WireError unless it is strict JSON with finite numbers."""
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except WireError:
        raise
    except RecursionError:
        raise WireError("nested too deeply") from None
    except ValueError as exc:        # JSONDecodeError, UnicodeDecodeError, int digit limits
        raise WireError(f"not JSON ({str(exc)[:80]})") from None


def dumps(obj: Any) -> str:
    """Strict, compact JSON (ValueError on a non-finite number)."""
    return json.dumps(obj, allow_nan=False, ensure_ascii=False, separators=(",", ":"))


def load_stored(text: str) -> Any:
    """Parse JSON the hub wrote itself; a non-finite number stored before the
    checks existed comes back as ``None`` instead of breaking the reader."""
    return json.loads(text, parse_constant=lambda _name: None,
                      parse_float=lambda s: finite_or_none(float(s)))


def finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


async def send_json(ws: Any, obj: Any) -> None:
    """``WebSocket.send_json`` with strict JSON."""
    await ws.send_text(dumps(obj))
