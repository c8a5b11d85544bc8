"""The hub's HTTP and WebSocket routes, one router per concern.

- :mod:`~monitor.hub.routes.calls`: the calls list, one call's details, its report;
- :mod:`~monitor.hub.routes.audit`: the audit log;
- :mod:`~monitor.hub.routes.publish`: operators publishing their calls, and the
  publish limits;
- :mod:`~monitor.hub.routes.dashboard`: the dashboard page, the sign-in check, the
  dashboard's live feed;
- :mod:`~monitor.hub.routes.listen`: live listening and flag clips;
- :mod:`~monitor.hub.routes.deps`: what they all depend on (the hub's state, its
  store, who is asking).

Routers import ``deps`` and the hub's machinery (store, ingest, fan-out, reads),
never each other; :mod:`monitor.hub.app` mounts them.
"""
