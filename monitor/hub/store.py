"""Hub storage: SQLite (WAL) with versioned migrations.

Tables: calls, events, utterances, prompts, incidents, clips, users, audit, and
``schema_version``.  The SQL sticks to types and statements a PostgreSQL backend
also has (TEXT, INTEGER, DOUBLE PRECISION, BLOB->BYTEA, ``ON CONFLICT DO
NOTHING``), so a server database can replace SQLite later without a redesign.

One ``Store`` is shared by the hub's request handlers; SQLite serialises writes,
and a lock keeps the connection to one thread at a time.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterable

from monitor import vocabulary
from monitor.errors import CalmlineError
from monitor.events import (CallEnd, Event, EventError, Listening, Prompt, PromptAck, State, Stats, Summary,
                            Trigger, TriggerWithdrawn, Utterance, event_from_dict)
from monitor.hub import dbfile
from monitor.hub.schema import MIGRATIONS
from monitor.hub.validate import Refused
from monitor.hub.wire import finite_or_none, load_stored

LEVEL_RANK = {level: rank for rank, level in enumerate(vocabulary.LEVELS)}
FLAG_CATEGORIES = vocabulary.FLAG_CATEGORIES
CUSTOMER_SEVERITY = vocabulary.CUSTOMER_SEVERITY
LIVE_WITHIN_S = 120.0      # a call with no event for this long is no longer live
LIVE_MAX = 5000            # live calls in a dashboard's first view (the most recently active)


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise CalmlineError(f"--db {self.path}: is a directory")
        dbfile.prepare(self.path)                   # 0600 file in a 0700 folder
        try:
            self.db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA busy_timeout=5000")
            dbfile.check_integrity(self.db, self.path)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA secure_delete=ON")    # deleted text is overwritten, not left in free pages
        except sqlite3.DatabaseError as exc:
            error = dbfile.translate(exc, self.path)
            if error is not exc:
                raise error from None
            raise CalmlineError(f"--db {self.path}: cannot open the database ({exc}); is it a calmline "
                                "hub database? give another --db") from None
        self.lock = threading.RLock()
        self.log_kept = False
        with dbfile.translated(self.path):
            self.migrate()

    # --- schema ----------------------------------------------------------------
    @property
    def version(self) -> int:
        with self.lock:
            self.db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = self.db.execute("SELECT MAX(version) FROM schema_version").fetchone()
            return int(row[0] or 0)

    def migrate(self) -> None:
        with self.lock:
            current = self.version
            if current > len(MIGRATIONS):
                raise CalmlineError(f"{self.path}: database schema {current} is newer than this "
                                    f"calmline ({len(MIGRATIONS)}); upgrade calmline")
            for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
                with dbfile.transaction(self.db, self.path):
                    for statement in script.split(";"):
                        if statement.strip():
                            self.db.execute(statement)
                    self.db.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))

    def close(self) -> None:
        with self.lock:
            self.db.close()

    def query(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self.lock, dbfile.translated(self.path):
            return self.db.execute(sql, tuple(args)).fetchall()

    def execute(self, sql: str, args: Iterable[Any] = ()) -> int:
        with self.lock, dbfile.translated(self.path):
            return self.db.execute(sql, tuple(args)).rowcount

    # --- ingest -------------------------------------------------------------------
    def ensure_call(self, call_id: str, operator: str, now: float) -> str:
        """Create the call if new; returns its operator (its owner)."""
        with self.lock, dbfile.translated(self.path):
            self.db.execute("INSERT INTO calls (id, operator, started_at, last_event_at) VALUES (?, ?, ?, ?) "
                            "ON CONFLICT (id) DO NOTHING", (call_id, operator, now, now))
            return self.db.execute("SELECT operator FROM calls WHERE id = ?", (call_id,)).fetchone()[0]

    def add_event(self, call_id: str, event: dict[str, Any], now: float) -> bool:
        """Store one (validated) event as it was sent; False if this very event was
        already stored.  It is parsed into its class once, here, and indexed by class.

        :class:`~monitor.hub.validate.Refused` when it is not a schema-v1 event
        (``bad_event``), the seq holds a different event (``seq_conflict``) or the
        call has ended (``call_ended``): a call id reused for a second recording is
        refused instead of merging two recordings."""
        typed = _typed(event)
        with self.lock:
            self.db.execute("BEGIN")
            try:
                if self._is_resend(call_id, typed, event):
                    self.db.execute("COMMIT")
                    return False
                self.db.execute(
                    "INSERT INTO events (call_id, seq, type, t, speaker, body, received_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (call_id, typed.seq, typed.type, typed.t, typed.speaker,
                     json.dumps(event, ensure_ascii=False, allow_nan=False), now))
                self._index(call_id, typed, event, now)
                self.db.execute("COMMIT")
                return True
            except Exception as exc:
                dbfile.rollback(self.db)       # SQLite already rolled back on a full disk
                raise dbfile.translate(exc, self.path)

    def _is_resend(self, call_id: str, e: Event, event: dict[str, Any]) -> bool:
        seq = e.seq
        row = self.db.execute("SELECT body FROM events WHERE call_id = ? AND seq = ?", (call_id, seq)).fetchone()
        if row is not None:
            if load_stored(row[0]) == event:
                return True
            raise Refused("seq_conflict", f"call {call_id} already has a different event {seq}; "
                          "a call id names one recording: give this one its own call id")
        ended = self.db.execute("SELECT ended_at, summary IS NOT NULL FROM calls WHERE id = ?",
                                (call_id,)).fetchone()
        if ended is not None and ended[0] is not None and not self._follows_end(call_id, e, ended[1]):
            raise Refused("call_ended", f"call {call_id} has ended; a call id names one recording: "
                          "give a new recording its own call id")
        return False

    def _follows_end(self, call_id: str, e: Event, has_summary: bool) -> bool:
        """After ``call_end`` a recording still sends its summary, and acks and
        listening notes on the after-call screen, all with later seqs."""
        end = self.db.execute("SELECT MAX(seq) FROM events WHERE call_id = ? AND type = 'call_end'",
                              (call_id,)).fetchone()[0]
        if end is None or e.seq <= end:
            return False
        match e:
            case Summary():
                return not has_summary
            case PromptAck(prompt_id=prompt_id):
                return self.db.execute("SELECT 1 FROM prompts WHERE call_id = ? AND prompt_id = ?",
                                       (call_id, prompt_id)).fetchone() is not None
            case Listening() | Stats():
                return True
        return False

    def _index(self, call_id: str, e: Event, raw: dict[str, Any], now: float) -> None:
        """Keep the call's row and the tables beside it up to date with ``e``
        (``raw``: the event as sent, stored as it came)."""
        db = self.db
        db.execute("UPDATE calls SET last_event_at = ?, duration = MAX(duration, ?) WHERE id = ?",
                   (now, e.t, call_id))
        match e:
            case Utterance():
                db.execute("INSERT INTO utterances VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                           (call_id, e.seq, e.speaker, e.t, e.t_end, e.text, e.language))
            case State(level=level):
                row = db.execute("SELECT peak_state FROM calls WHERE id = ?", (call_id,)).fetchone()
                peak = level if LEVEL_RANK.get(level, 0) > LEVEL_RANK.get(row[0], 0) else row[0]
                db.execute("UPDATE calls SET state = ?, peak_state = ? WHERE id = ?", (level, peak, call_id))
                if level in vocabulary.HEATED:
                    self._flag(call_id, level)
            case Trigger(category=category):
                if category in CUSTOMER_SEVERITY:     # not the operator's own phrases
                    self._last_trigger(call_id, now)
                if category in FLAG_CATEGORIES:
                    self._flag(call_id, category)
            case TriggerWithdrawn():
                self._last_trigger(call_id, None)
            case Prompt():
                db.execute("INSERT INTO prompts (call_id, prompt_id, seq, kind, title, t) VALUES (?, ?, ?, ?, ?, ?) "
                           "ON CONFLICT DO NOTHING", (call_id, e.id, e.seq, e.kind, e.title, e.t))
            case PromptAck():
                db.execute("UPDATE prompts SET ack = ? WHERE call_id = ? AND prompt_id = ?",
                           (e.action, call_id, e.prompt_id))
            case CallEnd():
                db.execute("UPDATE calls SET ended_at = ?, duration = ? WHERE id = ?",
                           (now, float(e.duration), call_id))
            case Summary():
                self._summary(call_id, raw, now)

    def _summary(self, call_id: str, raw: dict[str, Any], now: float) -> None:
        """The summary as sent, and the incident record in it, if any."""
        db = self.db
        db.execute("UPDATE calls SET summary = ? WHERE id = ?", (json.dumps(raw, ensure_ascii=False), call_id))
        incident = (raw.get("coach") or {}).get("incident")
        if incident:
            db.execute("INSERT INTO incidents VALUES (?, ?, ?) ON CONFLICT (call_id) DO NOTHING",
                       (call_id, json.dumps(incident, ensure_ascii=False), now))

    def _last_trigger(self, call_id: str, now: float | None) -> None:
        """The call's "last trigger": its customer's most serious trigger (the latest of
        those), leaving out any the final transcript withdrew; ``now`` (a new customer
        trigger) also marks when the customer last pushed the matter."""
        rows = self.db.execute("SELECT type, body FROM events WHERE call_id = ? AND type IN "
                               "('trigger', 'trigger_withdrawn') ORDER BY seq", (call_id,)).fetchall()
        found, withdrawn = [], set()
        for kind, body in rows:
            e = load_stored(body)
            key = (e.get("speaker"), e.get("t"), e.get("id"))
            if kind == "trigger_withdrawn":
                withdrawn.add(key)
            elif e.get("category") in CUSTOMER_SEVERITY:
                found.append((key, e))
        kept = [e for key, e in found if key not in withdrawn]
        worst = min(kept, default=None, key=lambda e: CUSTOMER_SEVERITY.index(e["category"]))
        if worst is not None:                 # the latest of the most serious ones
            worst = [e for e in kept if e["category"] == worst["category"]][-1]
        text = f"{worst['category']}: {worst['text']}" if worst else None
        if now is None:
            self.db.execute("UPDATE calls SET last_trigger = ? WHERE id = ?", (text, call_id))
        else:
            self.db.execute("UPDATE calls SET last_trigger = ?, last_trigger_at = ? WHERE id = ?",
                            (text, now, call_id))

    def _flag(self, call_id: str, flag: str) -> None:
        row = self.db.execute("SELECT flags FROM calls WHERE id = ?", (call_id,)).fetchone()
        flags = json.loads(row[0])
        if flag not in flags:
            flags.append(flag)
            self.db.execute("UPDATE calls SET flagged = 1, flags = ? WHERE id = ?", (json.dumps(flags), call_id))

    # --- reads ----------------------------------------------------------------------
    def calls(self, *, operator: str | None = None, state: str | None = None,
              since: float | None = None, flagged: bool | None = None, all_calls: bool = False,
              ids: list[str] | None = None, live_within_s: float = LIVE_WITHIN_S,
              now: float | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Live calls and flagged ones (which stay listed after they end), or every
        call matching the filters with ``all_calls``; most urgent first.  With
        ``limit``, only the ``limit`` most recently active calls are read."""
        now = time.time() if now is None else now
        sql = "SELECT * FROM calls WHERE 1 = 1"
        args: list[Any] = []
        if operator:
            sql += " AND operator = ?"
            args.append(operator)
        if state:
            sql += " AND state = ?"
            args.append(state)
        if since is not None:
            sql += " AND last_event_at >= ?"
            args.append(since)
        if flagged is not None:
            sql += " AND flagged = ?"
            args.append(1 if flagged else 0)
        if ids is not None:
            if not ids:
                return []
            sql += f" AND id IN ({', '.join('?' * len(ids))})"
            args.extend(ids)
        if limit is not None:
            sql += " ORDER BY last_event_at DESC LIMIT ?"
            args.append(limit)
        rows = self.query(sql, args)
        states = [_call_state(row, now, live_within_s) for row in rows]
        return _urgent_first([c for c in states if all_calls or c["live"] or c["flagged"]])

    def dashboard_calls(self, ended: int, *, live_max: int = LIVE_MAX, live_within_s: float = LIVE_WITHIN_S,
                        now: float | None = None) -> list[dict[str, Any]]:
        """A dashboard's first view, bounded: the live calls (at most ``live_max``,
        the most recently active) and the ``ended`` most recently active flagged
        calls that are not live; most urgent first."""
        now = time.time() if now is None else now
        cutoff = now - live_within_s
        live = self.query("SELECT * FROM calls WHERE ended_at IS NULL AND last_event_at >= ? "
                          "ORDER BY last_event_at DESC LIMIT ?", (cutoff, live_max))
        flagged = self.query("SELECT * FROM calls WHERE flagged = 1 AND NOT (ended_at IS NULL AND "
                             "last_event_at >= ?) ORDER BY last_event_at DESC LIMIT ?", (cutoff, ended))
        return _urgent_first([_call_state(row, now, live_within_s) for row in live + flagged])

    def call(self, call_id: str) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM calls WHERE id = ?", (call_id,))
        if not rows:
            return None
        return dict(rows[0])

    def events(self, call_id: str) -> list[dict[str, Any]]:
        """Every event of the call (tests and tools; the hub's routes read pages)."""
        return [load_stored(r["body"]) for r in
                self.query("SELECT body FROM events WHERE call_id = ? ORDER BY seq", (call_id,))]

    def event_rows(self, call_id: str, after_seq: int = -1, limit: int = 1000) -> list[sqlite3.Row]:
        """One page of the call's events as stored: (seq, type, body), by seq."""
        return self.query("SELECT seq, type, body FROM events WHERE call_id = ? AND seq > ? "
                          "ORDER BY seq LIMIT ?", (call_id, after_seq, limit))

    def count_events(self, call_id: str, kind: str) -> int:
        return int(self.query("SELECT COUNT(*) FROM events WHERE call_id = ? AND type = ?",
                              (call_id, kind))[0][0])

    def max_seq(self, call_id: str) -> int:
        row = self.query("SELECT MAX(seq) FROM events WHERE call_id = ?", (call_id,))[0]
        return -1 if row[0] is None else int(row[0])

    def incident(self, call_id: str) -> dict[str, Any] | None:
        rows = self.query("SELECT body FROM incidents WHERE call_id = ?", (call_id,))
        return json.loads(rows[0][0]) if rows else None

    # --- clips, audit, retention ---------------------------------------------------------
    def add_clip(self, call_id: str, t_start: float, t_end: float, reason: str, sample_rate: int,
                 audio: bytes, now: float) -> int | None:
        with self.lock, dbfile.translated(self.path):
            cur = self.db.execute(
                "INSERT INTO clips (call_id, t_start, t_end, reason, sample_rate, audio, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (call_id, t_start) DO NOTHING",
                (call_id, t_start, t_end, reason, sample_rate, audio, now))
            return cur.lastrowid if cur.rowcount else None

    def clips(self, call_id: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self.query(
            "SELECT id, call_id, t_start, t_end, reason, sample_rate, created_at FROM clips "
            "WHERE call_id = ? ORDER BY t_start", (call_id,))]

    def clip_audio(self, clip_id: int) -> sqlite3.Row | None:
        rows = self.query("SELECT * FROM clips WHERE id = ?", (clip_id,))
        return rows[0] if rows else None

    def audit(self, user: str, action: str, call_id: str | None = None, detail: str = "",
              duration_s: float | None = None, now: float | None = None) -> int:
        """Write an audit entry; returns its id (to set the duration later)."""
        with self.lock, dbfile.translated(self.path):
            cur = self.db.execute(
                "INSERT INTO audit (at, user_name, action, call_id, detail, duration_s) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (time.time() if now is None else now, user, action, call_id, detail, duration_s))
            return int(cur.lastrowid)

    def finish_audit(self, audit_id: int, duration_s: float) -> None:
        self.execute("UPDATE audit SET duration_s = ? WHERE id = ?", (duration_s, audit_id))

    def audit_log(self, limit: int = 500) -> list[dict[str, Any]]:
        return [dict(r) for r in self.query("SELECT * FROM audit ORDER BY at DESC, id DESC LIMIT ?", (limit,))]

    def purge(self, older_than: float) -> dict[str, int]:
        """Delete calls (with their events, clips, ...) last active before ``older_than``
        (epoch seconds), and audit entries older than it.

        Deleted rows are overwritten (``secure_delete``), then the write-ahead log
        is checkpointed and truncated, so the purged text is in neither file
        (``log_kept`` is set when a busy hub held the log back: purge again)."""
        with self.lock:
            with dbfile.transaction(self.db, self.path):
                ids = [r[0] for r in self.db.execute(
                    "SELECT id FROM calls WHERE last_event_at < ?", (older_than,)).fetchall()]
                counts = {"calls": len(ids), "events": 0, "clips": 0}
                for cid in ids:
                    counts["events"] += self.db.execute("DELETE FROM events WHERE call_id = ?", (cid,)).rowcount
                    counts["clips"] += self.db.execute("DELETE FROM clips WHERE call_id = ?", (cid,)).rowcount
                    for table in ("utterances", "prompts", "incidents"):
                        self.db.execute(f"DELETE FROM {table} WHERE call_id = ?", (cid,))
                    self.db.execute("DELETE FROM calls WHERE id = ?", (cid,))
                counts["audit"] = self.db.execute("DELETE FROM audit WHERE at < ?", (older_than,)).rowcount
            with dbfile.translated(self.path):
                self.log_kept = not dbfile.checkpoint_truncate(self.db)
        return counts


def _typed(event: dict[str, Any]) -> Event:
    """The event as its class (the codec of :mod:`monitor.events`), or ``bad_event``."""
    try:
        return event_from_dict(event)
    except (EventError, TypeError, ValueError) as exc:
        raise Refused("bad_event", f"not a schema v1 event: {exc}") from None


def _call_state(row: sqlite3.Row, now: float, live_within_s: float) -> dict[str, Any]:
    """A call as the dashboard and ``GET /api/calls`` show it."""
    return {
        "id": row["id"], "operator": row["operator"], "state": row["state"],
        "peak_state": row["peak_state"], "flagged": bool(row["flagged"]),
        "flags": json.loads(row["flags"]),
        "live": row["ended_at"] is None and now - row["last_event_at"] <= live_within_s,
        "started_at": row["started_at"], "ended_at": row["ended_at"],
        "duration": round(finite_or_none(row["duration"]) or 0.0, 1), "last_trigger": row["last_trigger"],
        "last_trigger_at": row["last_trigger_at"], "last_event_at": row["last_event_at"],
    }


def _urgent_first(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Live before ended, then by state, then by the latest trigger and activity."""
    return sorted(calls, key=lambda c: (not c["live"], -LEVEL_RANK.get(c["state"], 0),
                                        -(c["last_trigger_at"] or 0), -c["last_event_at"]))
