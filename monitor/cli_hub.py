"""``calmline hub``: the supervisor hub, its users and its retention."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from monitor.config import load_config
from monitor.errors import CalmlineError

hub_app = typer.Typer(help="The supervisor hub: live calls ranked by escalation, call reports, "
                      "listening, with tokens and an audit log.", no_args_is_help=False,
                      invoke_without_command=True)
user_app = typer.Typer(help="Hub users and their tokens.", no_args_is_help=True)
hub_app.add_typer(user_app, name="user")

DB_HELP = "Hub database file (default: ~/.local/share/calmline/hub.sqlite3)."


def default_db() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "calmline" / "hub.sqlite3"


def open_store(db: Optional[Path], config: Optional[Path] = None):
    from monitor.hub.store import Store

    cfg = load_config(config)
    return Store(db or (Path(cfg.hub.db) if cfg.hub.db else default_db())), cfg


@hub_app.callback(invoke_without_command=True)
def hub_command(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0 for the whole network)."),
    port: int = typer.Option(8766, "--port", help="Port to listen on."),
    db: Optional[Path] = typer.Option(None, "--db", help=DB_HELP),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML settings file."),
) -> None:
    """Serve the supervisor dashboard and the hub's JSON API (Ctrl-C stops it)."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from monitor.hub.app import create_hub_app
    from monitor.web.server import _check_port

    store, _ = open_store(db, config)
    _check_port(host, port)
    users = store.query("SELECT COUNT(*) FROM users WHERE revoked_at IS NULL")[0][0]
    err = Console(stderr=True)
    err.print(f"calmline hub on http://{host}:{port}/  (database {store.path})")
    if not users:
        err.print("no users yet: add one with `calmline hub user add NAME --role supervisor`")
    uvicorn.run(create_hub_app(store), host=host, port=port, log_level="warning", ws="websockets-sansio")


@user_app.command("add")
def user_add(
    name: str = typer.Argument(..., help="User name (e.g. the operator's login)."),
    role: str = typer.Option(..., "--role", help="supervisor or operator"),
    db: Optional[Path] = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Add a user and print their new token (the last word of the output; shown once)."""
    from monitor.hub.auth import add_user

    store, _ = open_store(db)
    token = add_user(store, name, role)
    typer.echo(f"added {role} {name}; their token (store it now, it is not shown again): {token}")


@user_app.command("list")
def user_list(db: Optional[Path] = typer.Option(None, "--db", help=DB_HELP)) -> None:
    """List users, their roles and whether their token is revoked."""
    from monitor.hub.auth import list_users

    store, _ = open_store(db)
    table = Table(header_style="bold")
    for col in ("name", "role", "added", "status"):
        table.add_column(col)
    for u in list_users(store):
        added = time.strftime("%Y-%m-%d %H:%M", time.localtime(u["created_at"]))
        status = "revoked " + time.strftime("%Y-%m-%d", time.localtime(u["revoked_at"])) if u["revoked_at"] else "active"
        table.add_row(u["name"], u["role"], added, status)
    Console().print(table)


@user_app.command("revoke")
def user_revoke(
    name: str = typer.Argument(..., help="User whose token stops working now."),
    db: Optional[Path] = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Revoke a user's token (the user stays in the audit trail)."""
    from monitor.hub.auth import revoke_user

    store, _ = open_store(db)
    revoke_user(store, name)
    typer.echo(f"revoked {name}")


@hub_app.command("purge")
def purge(
    days: Optional[float] = typer.Option(None, "--days", help="Keep this many days (default: "
                                         "retention_days from the config, 30)."),
    db: Optional[Path] = typer.Option(None, "--db", help=DB_HELP),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML settings file."),
) -> None:
    """Delete calls, events, clips and audit entries older than the retention period."""
    store, cfg = open_store(db, config)
    keep = cfg.hub.retention_days if days is None else days
    if keep <= 0:
        raise CalmlineError("--days must be more than 0")
    counts = store.purge(time.time() - keep * 86400)
    typer.echo(f"purged {counts['calls']} calls ({counts['events']} events, {counts['clips']} clips) "
               f"and {counts['audit']} audit entries older than {keep:g} days")
