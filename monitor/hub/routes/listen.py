"""Listening: a supervisor hears a call live, or a flag clip; both audited.

- ``WS /ws/listen/{call_id}`` (supervisors): the call's live audio (16-bit mono
  PCM at 16 kHz, binary messages) while the socket is open.  The audit entry is
  written when listening starts, so a crash cannot hide a listen, and its
  duration filled in when it ends; the call's publisher is told who listens
  (the operator's screen says so).  4404 for no such call.  A listener has
  nothing to say: its messages are read :data:`LISTEN_MESSAGE_PAUSE_S` apart.
- ``GET /api/clips/{id}/audio`` (supervisors): one flag clip as a WAV file.
"""

from __future__ import annotations

import asyncio
import io
import time
import wave

from fastapi import APIRouter, HTTPException, Path, WebSocket, WebSocketDisconnect
from fastapi.responses import Response

from monitor.hub.routes.deps import HubDep, StoreDep, SupervisorDep, SupervisorSocket
from monitor.hub.validate import CALL_ID, INT64_MAX

LISTEN_MESSAGE_PAUSE_S = 0.01          # messages from a listening supervisor are read 100 a second at most

router = APIRouter()


@router.websocket("/ws/listen/{call_id}")
async def listen(ws: WebSocket, call_id: str, user: SupervisorSocket, hub: HubDep) -> None:
    store = hub.store
    if not CALL_ID.fullmatch(call_id) or store.call(call_id) is None:
        hub.sockets.discard(ws)
        await ws.close(code=4404, reason="no such call")
        return
    started = time.time()
    entry = store.audit(user.name, "listen_live", call_id, "live call audio")
    hub.listeners.setdefault(call_id, set()).add(ws)
    await hub.set_listening(call_id, user.name)
    try:
        while True:
            msg = await ws.receive()
            if msg.get("type") == "websocket.disconnect":
                break
            await asyncio.sleep(LISTEN_MESSAGE_PAUSE_S)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        hub.listeners.get(call_id, set()).discard(ws)
        hub.sockets.discard(ws)
        await hub.set_listening(call_id, user.name)
        store.finish_audit(entry, round(time.time() - started, 2))


@router.get("/api/clips/{clip_id}/audio")
async def clip_audio(user: SupervisorDep, store: StoreDep,
                     clip_id: int = Path(ge=1, le=INT64_MAX)) -> Response:
    row = store.clip_audio(clip_id)
    if row is None:
        raise HTTPException(404, "no such clip")
    seconds = row["t_end"] - row["t_start"]
    store.audit(user.name, "listen_clip", row["call_id"], f"clip {clip_id} ({row['reason']})", seconds)
    return Response(wav(row["audio"], row["sample_rate"]), media_type="audio/wav")


def wav(pcm: bytes, rate: int) -> bytes:
    """16-bit mono PCM as a WAV file."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()
