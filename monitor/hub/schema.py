"""The hub database's schema: one SQL script per version, applied in order.

:class:`~monitor.hub.store.Store` applies the ones a database has not had yet
(its ``schema_version`` table says which) and refuses a database newer than
this calmline.  A new version is a new script at the end; a script is never
changed once released.  The SQL sticks to what PostgreSQL also has (TEXT,
INTEGER, DOUBLE PRECISION, BLOB->BYTEA), so a server database can replace
SQLite later without a redesign.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL CHECK (role IN ('supervisor', 'operator')),
        token_hash TEXT NOT NULL UNIQUE,
        created_at DOUBLE PRECISION NOT NULL,
        revoked_at DOUBLE PRECISION
    );
    CREATE TABLE calls (
        id TEXT PRIMARY KEY,
        operator TEXT NOT NULL,
        started_at DOUBLE PRECISION NOT NULL,
        last_event_at DOUBLE PRECISION NOT NULL,
        ended_at DOUBLE PRECISION,
        duration DOUBLE PRECISION NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'calm',
        peak_state TEXT NOT NULL DEFAULT 'calm',
        flagged INTEGER NOT NULL DEFAULT 0,
        flags TEXT NOT NULL DEFAULT '[]',
        last_trigger TEXT,
        last_trigger_at DOUBLE PRECISION,
        summary TEXT
    );
    CREATE INDEX calls_recent ON calls (last_event_at);
    CREATE TABLE events (
        call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        t DOUBLE PRECISION NOT NULL,
        speaker TEXT,
        body TEXT NOT NULL,
        received_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (call_id, seq)
    );
    CREATE TABLE utterances (
        call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        speaker TEXT,
        t DOUBLE PRECISION NOT NULL,
        t_end DOUBLE PRECISION NOT NULL,
        text TEXT NOT NULL,
        language TEXT,
        PRIMARY KEY (call_id, seq)
    );
    CREATE TABLE prompts (
        call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
        prompt_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        title TEXT NOT NULL,
        t DOUBLE PRECISION NOT NULL,
        ack TEXT,
        PRIMARY KEY (call_id, prompt_id)
    );
    CREATE TABLE incidents (
        call_id TEXT PRIMARY KEY REFERENCES calls (id) ON DELETE CASCADE,
        body TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE clips (
        id INTEGER PRIMARY KEY,
        call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
        t_start DOUBLE PRECISION NOT NULL,
        t_end DOUBLE PRECISION NOT NULL,
        reason TEXT NOT NULL,
        sample_rate INTEGER NOT NULL,
        audio BLOB NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        UNIQUE (call_id, t_start)
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at DOUBLE PRECISION NOT NULL,
        user_name TEXT NOT NULL,
        action TEXT NOT NULL,
        call_id TEXT,
        detail TEXT,
        duration_s DOUBLE PRECISION
    );
    CREATE INDEX audit_at ON audit (at);
    """,
]
