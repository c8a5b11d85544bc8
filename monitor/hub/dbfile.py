"""The hub database as a file: private permissions, an integrity check at open,
errors a person can act on (disk full, damaged file), and wiping deleted data.

- The folder the hub creates for its database is 0700 and the database file
  (with SQLite's ``-wal`` and ``-shm`` beside it, which SQLite creates with the
  database file's mode) is 0600: transcripts and audio clips are for the hub
  and its users only.  A folder the user chose and that already exists is left
  as it is; the file in it is still 0600.
- ``PRAGMA quick_check`` runs when the database is opened: a damaged file is
  refused with one line naming it and saying what to do, instead of starting
  and then failing request by request.
- SQLite rolls a transaction back by itself when the disk is full; the store
  must not then issue a ROLLBACK of its own ("cannot rollback - no transaction
  is active" hid the real cause).  :func:`rollback` only rolls back an open
  transaction, and :func:`translated` turns SQLITE_FULL into :class:`DiskFull`,
  which says "disk full" and is both a :class:`CalmlineError` (the CLI prints it
  on one line, exit 2) and a ``sqlite3.OperationalError`` (the hub's routes
  already treat it as a database error).
- Deleted rows are overwritten (``secure_delete``) and, after a purge, the
  write-ahead log is checkpointed and truncated, so purged text is in neither
  file.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import time
from pathlib import Path
from typing import Iterator

from monitor.errors import CalmlineError

FILE_MODE = 0o600
DIR_MODE = 0o700
SIDE_FILES = ("-wal", "-shm", "-journal")


class DiskFull(CalmlineError, sqlite3.OperationalError):
    """The database could not grow: the disk (or the database's size limit) is full."""


class DamagedDatabase(CalmlineError):
    """The database file failed its integrity check."""


def prepare(path: Path) -> None:
    """Create the database's folder (0700) and file (0600) if missing; tighten an
    existing database file and its side files to 0600 when this user owns them."""
    parent = path.parent
    if not parent.exists():
        try:
            parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            os.chmod(parent, DIR_MODE)          # mkdir's mode is masked by the umask
        except OSError as exc:
            raise CalmlineError(f"--db {path}: cannot create the folder {parent}: {exc.strerror}") from None
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        os.close(fd)
    except OSError as exc:
        raise CalmlineError(f"--db {path}: cannot open the database file: {exc.strerror}") from None
    for name in [path] + [path.with_name(path.name + s) for s in SIDE_FILES]:
        _tighten(name)


def _tighten(path: Path) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    if st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) & 0o077:
        with contextlib.suppress(OSError):
            os.chmod(path, stat.S_IMODE(st.st_mode) & ~0o077 & 0o777)


def check_integrity(db: sqlite3.Connection, path: Path) -> None:
    """``PRAGMA quick_check``; a damaged database is refused with what to do."""
    try:
        rows = db.execute("PRAGMA quick_check").fetchall()
        problems = [str(r[0]) for r in rows if str(r[0]) != "ok"]
    except sqlite3.DatabaseError as exc:
        problems = [str(exc)]
    if problems:
        raise DamagedDatabase(damaged_message(path, problems[0]))


def damaged_message(path: Path, problem: str) -> str:
    problem = (problem.splitlines() or ["?"])[0][:120]
    if "not a database" in problem:
        return (f"hub database {path}: not an SQLite database ({problem}); check --db (or [hub] db), "
                "or if it is the hub's database, restore it from a backup")
    return (f"hub database {path} is damaged ({problem}); restore it from a backup, or move it aside "
            f"(keep it: `sqlite3 {path.name} .recover` can save what is readable) to start a new one")


def rollback(db: sqlite3.Connection) -> None:
    """Roll back the open transaction, if SQLite has not already done so itself."""
    if db.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")


def translate(exc: BaseException, path: Path) -> BaseException:
    """The error to raise for ``exc``: SQLITE_FULL becomes :class:`DiskFull`,
    a damaged file :class:`DamagedDatabase`; anything else is returned as is."""
    if isinstance(exc, (DiskFull, DamagedDatabase)):
        return exc
    name = getattr(exc, "sqlite_errorname", "")
    if name == "SQLITE_FULL":
        return DiskFull(f"disk full: hub database {path} cannot grow; what was stored is kept, "
                        "new data is refused until space is freed (free space on that disk, or run "
                        "`calmline hub purge`)")
    if name in ("SQLITE_CORRUPT", "SQLITE_NOTADB"):
        return DamagedDatabase(damaged_message(path, str(exc)))
    return exc


@contextlib.contextmanager
def transaction(db: sqlite3.Connection, path: Path) -> Iterator[sqlite3.Connection]:
    """BEGIN ... COMMIT; on an error, roll back only what is still open and raise
    the error translated (disk full says so)."""
    try:
        db.execute("BEGIN")
        yield db
        db.execute("COMMIT")
    except BaseException as exc:
        rollback(db)
        translated = translate(exc, path)
        if translated is exc:
            raise
        raise translated from None


@contextlib.contextmanager
def translated(path: Path) -> Iterator[None]:
    """Raise sqlite3 errors in the block translated (see :func:`translate`)."""
    try:
        yield
    except sqlite3.Error as exc:
        new = translate(exc, path)
        if new is exc:
            raise
        raise new from None


def checkpoint_truncate(db: sqlite3.Connection, attempts: int = 20, pause_s: float = 0.1) -> bool:
    """Copy the write-ahead log into the database and truncate it to zero bytes.

    Another process reading at that moment (a running hub) can hold the log
    back; retried a few times.  True when the log was truncated."""
    for attempt in range(attempts):
        busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if not busy:
            return True
        if attempt + 1 < attempts:
            time.sleep(pause_s)
    return False
