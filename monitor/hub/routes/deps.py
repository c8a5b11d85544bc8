"""The FastAPI dependencies every hub route uses: the hub's live state, its
store, and who is asking (with which role, for which call).

HTTP: ``Authorization: Bearer TOKEN``; 401 without a valid (unrevoked) token,
403 for the wrong role or another operator's call, 404 for no such call.

WebSocket: the same header, or - from a browser, which cannot set headers on
a WebSocket - the subprotocol pair ``bearer, TOKEN`` (accepted with ``bearer``
as the chosen subprotocol).  A socket without a valid token is closed before it
is accepted with code 4401, one with the wrong role with 4403.  An accepted
socket is registered with :class:`~monitor.hub.sockets.Sockets`, so revoking its
token closes it; the route discards it when it ends.
"""

from __future__ import annotations

from typing import Annotated, Any, Awaitable, Callable

from fastapi import Depends, HTTPException, WebSocket, WebSocketException
from starlette.requests import HTTPConnection

from monitor.hub.auth import User, authenticate
from monitor.hub.state import Hub
from monitor.hub.store import Store
from monitor.hub.validate import CALL_ID


def bearer(value: str | None) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header."""
    if value and value.lower().startswith("bearer "):
        return value[7:].strip()
    return None


def socket_token(ws: WebSocket) -> tuple[str | None, str | None]:
    """A WebSocket's token, and the subprotocol to accept it with."""
    token = bearer(ws.headers.get("authorization"))
    if token:
        return token, None
    protocols = [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    if len(protocols) == 2 and protocols[0] == "bearer":
        return protocols[1], "bearer"
    return None, None


# --- the hub and its store -------------------------------------------------------------
def get_hub(conn: HTTPConnection) -> Hub:
    return conn.app.state.hub


HubDep = Annotated[Hub, Depends(get_hub)]


def get_store(hub: HubDep) -> Store:
    return hub.store


StoreDep = Annotated[Store, Depends(get_store)]


# --- HTTP: who is asking --------------------------------------------------------------------
def current_user(conn: HTTPConnection, store: StoreDep) -> User:
    user = authenticate(store, bearer(conn.headers.get("authorization")))
    if user is None:
        raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    return user


UserDep = Annotated[User, Depends(current_user)]


def supervisor(user: UserDep) -> User:
    if user.role != "supervisor":
        raise HTTPException(403, "supervisors only")
    return user


SupervisorDep = Annotated[User, Depends(supervisor)]


def readable_call(call_id: str, user: User, store: Store) -> dict[str, Any]:
    """The call's row, if this user may read it: supervisors all, operators their own.

    Called in the route's body, not as a dependency: a malformed query is answered
    422 before the call is looked up, whoever owns it."""
    call = store.call(call_id) if CALL_ID.fullmatch(call_id) else None
    if call is None:
        raise HTTPException(404, "no such call")
    if user.role != "supervisor" and call["operator"] != user.name:
        raise HTTPException(403, "operators can read only their own calls")
    return call


# --- WebSocket: who is connecting -----------------------------------------------------------
def socket_user(role: str) -> Callable[[WebSocket, Hub], Awaitable[User]]:
    """A dependency that admits a socket of ``role`` (accepting it) or closes it."""

    async def admit(ws: WebSocket, hub: HubDep) -> User:
        token, subprotocol = socket_token(ws)
        user = authenticate(hub.store, token)
        if user is None:
            raise WebSocketException(code=4401, reason="a valid bearer token is required")
        if user.role != role:
            raise WebSocketException(code=4403, reason=f"{role}s only")
        await ws.accept(subprotocol=subprotocol)
        hub.sockets.add(ws, token or "", user, ws.scope.get("path", ""))   # closed if the token is revoked
        return user

    return admit


OperatorSocket = Annotated[User, Depends(socket_user("operator"))]
SupervisorSocket = Annotated[User, Depends(socket_user("supervisor"))]
