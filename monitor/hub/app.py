"""The supervisor hub's FastAPI app: the live state, the routers, the page's files.

Every API and WebSocket route needs a bearer token (:mod:`monitor.hub.routes.deps`):
401 without a valid one, 403 for the wrong role; operators publish and read
only their own calls, supervisors read all.  The routes, one router per concern
(:mod:`monitor.hub.routes`):

- ``WS /ws/publish``, ``GET /api/limits``: operators publish their calls
  (checked, rate-limited, stored, answered: :mod:`monitor.hub.ingest`);
- ``GET /``, ``GET /api/me``, ``WS /ws/dashboard``: the dashboard page and its
  live feed (:mod:`monitor.hub.fanout`);
- ``GET /api/calls``, ``/api/calls/{id}``, ``/api/calls/{id}/report``: reading calls;
- ``WS /ws/listen/{id}``, ``GET /api/clips/{id}/audio``: listening (audited);
- ``GET /api/audit``: who listened to what.

JSON in and out is strict: no NaN or Infinity (:mod:`monitor.hub.wire`).
Revoking a token closes its open sockets within a second
(:mod:`monitor.hub.sockets`).  How it is served (request deadline, sizes, TLS)
is :mod:`monitor.hub.serve`.
"""

from __future__ import annotations

import contextlib
from importlib import resources
from typing import AsyncIterator

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from monitor.hub.routes import audit, calls, dashboard, listen, publish
from monitor.hub.state import SNAPSHOT_ENDED_DEFAULT, Hub
from monitor.hub.store import Store

ROUTERS = (dashboard.router, calls.router, audit.router, publish.router, listen.router)

__all__ = ["Hub", "create_hub_app"]


def create_hub_app(store: Store, *, snapshot_ended: int = SNAPSHOT_ENDED_DEFAULT) -> FastAPI:
    """The hub over ``store``; a dashboard's first snapshot lists the live calls and
    the ``snapshot_ended`` most recent ended flagged ones."""
    hub = Hub(store, snapshot_ended=snapshot_ended)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await hub.close()                 # the revocation watch and the dashboard flush

    # no /docs, /redoc or /openapi.json: every route but the sign-in page needs a token
    app = FastAPI(title="calmline hub", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.hub = hub
    app.mount("/static", StaticFiles(directory=str(resources.files("monitor.hub") / "static")), name="static")
    for router in ROUTERS:
        app.include_router(router)
    return app
