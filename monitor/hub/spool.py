"""The publisher's outbox on disk: one spool file per call, per identity.

A spool belongs to the identity that wrote it: spools live in a folder named
for the hub and a hash of the token (never the token itself), so a later run
with another operator's token never sends them under that operator's name.
Folders are created 0700 and files 0600: a spool holds the call's transcript.

Each spool is append-only JSON lines plus the count of lines the hub acked
(``<call>.acked``).  The file is locked (``flock``) while open, so two calmline
processes sharing a folder never adopt, resend or delete each other's spool.
The folder also remembers the calls that ended (``finished``), so a call id is
not reused for a second recording from this PC.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
from pathlib import Path
from typing import IO
from urllib.parse import urlparse

from monitor.errors import CalmlineError

CALL_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
FINISHED_KEEP = 5000           # call ids remembered per identity
_ENDED = '"type":"call_end"'   # how a call_end event line reads in a spool (compact JSON)


def default_spool_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "calmline" / "spool"


def check_call_id(call_id: str) -> str:
    if not CALL_ID_RE.fullmatch(call_id) or call_id in (".", ".."):
        raise CalmlineError(f"--call-id {call_id[:40]!r}: use 1 to 128 letters, digits, '.', '_', ':' or '-'")
    return call_id


def identity_folder(base: Path, hub_ws_url: str, token: str) -> Path:
    """The spool folder of one identity (hub + token) under ``base``."""
    parts = urlparse(hub_ws_url)
    host = re.sub(r"[^A-Za-z0-9.-]", "_", parts.netloc)[:60] or "hub"
    key = hashlib.sha256(f"{hub_ws_url}\n{token}".encode("utf-8")).hexdigest()[:20]
    return base / f"{host}-{key}"


def private_folder(path: Path) -> Path:
    """Create ``path`` (and missing parents) 0700; an existing ``path`` is made 0700."""
    try:
        missing = []
        p = path
        while not p.exists():
            missing.append(p)
            p = p.parent
        for folder in reversed(missing):
            folder.mkdir(mode=0o700, exist_ok=True)
        if not path.is_dir():
            raise CalmlineError(f"the spool folder {path} is not a folder")
        os.chmod(path, 0o700)
    except OSError as exc:
        raise CalmlineError(f"cannot create the spool folder {path}: {exc.strerror}") from None
    return path


def open_private(path: Path, mode: str = "a") -> IO[str]:
    """Open a text file for appending/writing, created 0600 (an existing one is made 0600)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, mode, encoding="utf-8")


class SpoolBusy(Exception):
    """Another calmline process has this spool open."""


class Spool:
    """One call's outbox: append-only JSON lines plus the count the hub acked."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = open_private(path)
        try:
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._fh.close()
            raise SpoolBusy(str(path)) from None
        self.acked_path = path.with_suffix(".acked")
        self.lines: list[str] = path.read_text(encoding="utf-8").splitlines()
        self.acked = int(self.acked_path.read_text() or 0) if self.acked_path.exists() else 0
        self._beyond: set[int] = set()
        self.ended = any(_ENDED in line for line in self.lines)
        self.refused = ""             # why the hub will never take this call ('' = it will)

    @property
    def call_id(self) -> str:
        return self.path.stem

    def append(self, line: str) -> None:
        self._fh.write(line + "\n")
        self._fh.flush()
        self.lines.append(line)
        if _ENDED in line:
            self.ended = True

    def ack(self, index: int) -> None:
        """Line ``index`` is settled (stored by the hub, or refused for good).
        ``acked`` counts the settled lines from the start; lines settled beyond
        a gap (one the hub asked to resend later) wait in memory for it."""
        if index < self.acked:
            return
        self._beyond.add(index)
        while self.acked in self._beyond:
            self._beyond.discard(self.acked)
            self.acked += 1

    def is_acked(self, index: int) -> bool:
        return index < self.acked or index in self._beyond

    def is_end(self, index: int) -> bool:
        return _ENDED in self.lines[index]

    def save(self) -> None:
        tmp = self.acked_path.with_suffix(".tmp")
        with open_private(tmp, "w") as fh:
            fh.write(str(self.acked))
        os.replace(tmp, self.acked_path)

    @property
    def done(self) -> bool:
        return bool(self.refused) or self.acked >= len(self.lines)

    @property
    def pending(self) -> int:
        return 0 if self.refused else len(self.lines) - self.acked - len(self._beyond)

    def close(self, delete_if_done: bool) -> Path | None:
        """Close; a delivered spool is deleted, a refused one set aside (never resent).
        Returns where a refused spool's lines now are."""
        self._fh.close()
        if self.refused:
            kept = self.path.with_name(self.path.name + ".refused")
            os.replace(self.path, kept)
            self.acked_path.unlink(missing_ok=True)
            return kept
        if delete_if_done and self.done:
            self.path.unlink(missing_ok=True)
            self.acked_path.unlink(missing_ok=True)
        else:
            self.save()
        return None


class Finished:
    """The call ids this identity finished publishing (one per line, newest last)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "finished"

    def __contains__(self, call_id: str) -> bool:
        try:
            return call_id in self.path.read_text(encoding="utf-8").split("\n")
        except FileNotFoundError:
            return False

    def add(self, call_id: str) -> None:
        with open_private(self.path) as fh:          # appends: safe beside another process
            fh.write(call_id + "\n")
        try:
            ids = [i for i in self.path.read_text(encoding="utf-8").split("\n") if i]
        except OSError:
            return
        if len(ids) > 2 * FINISHED_KEEP:                # rarely: keep the newest
            with open_private(self.path, "w") as fh:
                fh.write("\n".join(ids[-FINISHED_KEEP:]) + "\n")
