"""Starts the operator screen for a call: broadcaster on the bus, web server,
acknowledgements back into the event stream, and the browser signed in.

The browser gets the screen's session secret through a one-time launch link
(:mod:`monitor.web.access`): opened in the default browser, or, with
``--no-browser`` or when no browser can be opened, printed once through
``say`` (the CLI's stderr) for the operator to open.  It is never logged
anywhere else.
"""

from __future__ import annotations

import webbrowser
from typing import Callable

from monitor.event_bus import EventBus
from monitor.web.access import ScreenAccess
from monitor.web.broadcaster import Broadcaster
from monitor.web.server import WS_MAX_SIZE, WebServer, create_app


def start_screen(bus: EventBus, audio_time: Callable[[], float], *, host: str, port: int,
                 open_browser: bool, say: Callable[[str], None],
                 browser: Callable[[str], bool] = webbrowser.open) -> WebServer:
    broadcaster = Broadcaster()
    bus.subscribe(broadcaster)

    def on_ack(prompt_id: str, action: str) -> None:
        bus.emit("prompt_ack", audio_time(), "operator", prompt_id=prompt_id, action=action)

    access = ScreenAccess(host, port)
    server = WebServer(create_app(broadcaster, on_ack, access), host, port, ws_max_size=WS_MAX_SIZE)
    server.start()
    link = access.launch_url(server.url)
    opened = False
    if open_browser:
        try:
            opened = bool(browser(link))
        except Exception:  # no browser on this machine: the link is printed instead
            opened = False
    if opened:
        say(f"operator screen: {server.url} (opened in your browser)")
    else:
        say(f"operator screen: open {link} (this link signs one browser in, once)")
    return server
