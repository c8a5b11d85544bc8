"""The hub app as a set of routers: every route they add needs a token, the
dashboard page gets the shared terms from monitor.vocabulary (no copies in its
JavaScript), and shutting the app down stops its background tasks."""

import asyncio
import json
import re
import time
from importlib import resources

import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from monitor import vocabulary
from monitor.hub.app import ROUTERS, create_hub_app
from monitor.hub.auth import User, add_user
from monitor.hub.store import LIVE_WITHIN_S, Store

OPEN = {"/"}                           # the sign-in page


@pytest.fixture()
def hub(tmp_path):
    store = Store(tmp_path / "hub.db")
    store.ensure_call("c1", "olga", time.time())
    return store, add_user(store, "sue", "supervisor")


def concrete(path):
    return re.sub(r"\{call_id\}", "c1", re.sub(r"\{clip_id\}", "1", path))


def test_every_route_of_every_router_needs_a_token(hub):
    store, _ = hub
    app = create_hub_app(store)
    client = TestClient(app)
    routes = [r for router in ROUTERS for r in router.routes]
    http = [r for r in routes if isinstance(r, APIRoute) and r.path not in OPEN]
    sockets = [r for r in routes if isinstance(r, APIWebSocketRoute)]
    assert {r.path for r in sockets} == {"/ws/publish", "/ws/dashboard", "/ws/listen/{call_id}"}
    assert len(http) >= 7
    for path in ("/openapi.json", "/docs", "/redoc"):     # no unauthenticated description either
        assert client.get(path).status_code == 404
    for route in http:
        for method in route.methods:
            answer = client.request(method, concrete(route.path))
            assert answer.status_code == 401, (method, route.path)
            assert answer.headers["www-authenticate"] == "Bearer"
    for route in sockets:
        with pytest.raises(WebSocketDisconnect) as closed:
            with client.websocket_connect(concrete(route.path)) as ws:
                ws.receive_text()
        assert closed.value.code == 4401, route.path


def test_the_dashboard_page_carries_the_shared_terms(hub):
    store, _ = hub
    page = TestClient(create_hub_app(store)).get("/").text
    found = re.search(r'<script id="calmline-vocabulary" type="application/json">(.*?)</script>', page, re.S)
    assert found, "the page has no vocabulary"
    assert json.loads(found.group(1)) == vocabulary.for_pages() | {"live_within_s": LIVE_WITHIN_S}
    assert vocabulary.PAGE_MARK not in page
    script = (resources.files("monitor.hub") / "static" / "dashboard.js").read_text(encoding="utf-8")
    assert '"tense"' not in script and "abusive:" not in script and "120000" not in script


def test_terms_cannot_end_the_element_they_travel_in():
    element = vocabulary.page_script({"note": "</script><script>alert(1)</script> & more"})
    inner = element.removeprefix('<script id="calmline-vocabulary" type="application/json">')
    inner = inner.removesuffix("</script>")
    assert "<" not in inner and ">" not in inner and "&" not in inner
    assert json.loads(inner)["note"] == "</script><script>alert(1)</script> & more"


def test_shutting_the_hub_down_stops_its_background_tasks(hub):
    store, _ = hub
    app = create_hub_app(store)

    class Socket:                       # what the revocation watch keeps (weakly)
        pass

    async def scenario():
        socket_ = Socket()
        async with app.router.lifespan_context(app):
            state = app.state.hub
            state.sockets.add(socket_, "token", User("sue", "supervisor"), "/ws/dashboard")
            state.fanout.changed("c1")
            tasks = [state.sockets.task, state.fanout.task]
            assert all(t is not None and not t.done() for t in tasks)
        assert all(t.cancelled() for t in tasks)      # stopped by the app, the loop still running

    asyncio.run(asyncio.wait_for(scenario(), timeout=5))
