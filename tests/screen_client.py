"""An ASGI test client for the operator screen, signed in the way a browser is:
the one-time launch link sets the session cookie, and every request carries the
screen's own Host and Origin."""

from __future__ import annotations

import contextlib
from typing import Iterator

from fastapi.testclient import TestClient

from monitor.web.access import ScreenAccess

PORT = 8765
BASE = f"http://127.0.0.1:{PORT}"
WS_URL = f"ws://127.0.0.1:{PORT}/ws"


def screen_access() -> ScreenAccess:
    return ScreenAccess("127.0.0.1", PORT)


def sign_in(client: TestClient, access: ScreenAccess) -> None:
    r = client.get(access.launch_url(BASE + "/"), follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/", r.text
    assert access.cookie_name in client.cookies


@contextlib.contextmanager
def signed_in_client(app, access: ScreenAccess) -> Iterator[TestClient]:
    """A started client, signed in."""
    with TestClient(app, base_url=BASE, headers={"Origin": BASE}) as client:
        sign_in(client, access)
        yield client
