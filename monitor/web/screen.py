"""Starts the operator screen for a call: broadcaster on the bus, web server,
acknowledgements back into the event stream, and (optionally) the browser."""

from __future__ import annotations

import webbrowser
from typing import Callable

from monitor.event_bus import EventBus
from monitor.web.broadcaster import Broadcaster
from monitor.web.server import WebServer, create_app


def start_screen(bus: EventBus, audio_time: Callable[[], float], *, host: str, port: int,
                 open_browser: bool, say: Callable[[str], None]) -> WebServer:
    broadcaster = Broadcaster()
    bus.subscribe(broadcaster)

    def on_ack(prompt_id: str, action: str) -> None:
        bus.emit("prompt_ack", audio_time(), "operator", prompt_id=prompt_id, action=action)

    server = WebServer(create_app(broadcaster, on_ack), host, port)
    server.start()
    say(f"operator screen: {server.url}")
    if open_browser:
        try:
            webbrowser.open(server.url)
        except Exception:  # no browser on this machine: the URL is printed anyway
            pass
    return server
