"""The SQLite schema as ordered migrations, tracked by ``PRAGMA user_version``.

Migration *n* upgrades a file at version *n - 1*; :func:`migrate` applies the missing
ones in order, each in its own transaction together with the version bump, so a file is
always at exactly one version. Never edit a released migration: append a new one.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from broadcaster.core.errors import ConfigError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "migrate", "refuse_newer", "schema_version"]

_V1: Final = """
CREATE TABLE contacts (
    id        TEXT PRIMARY KEY,
    name      TEXT NOT NULL DEFAULT '',
    opted_out INTEGER NOT NULL DEFAULT 0,
    fields    TEXT NOT NULL DEFAULT '{}',   -- JSON object of field values
    chats     TEXT NOT NULL DEFAULT '[]'    -- JSON list of Chat
);
CREATE TABLE integrations (name TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE flows (id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE templates (
    integration TEXT NOT NULL,
    name        TEXT NOT NULL,
    language    TEXT NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (integration, name, language)
);
CREATE TABLE broadcasts (
    id                     TEXT PRIMARY KEY,
    state                  TEXT NOT NULL,
    run_at                 REAL,
    retry_of               TEXT,
    created_at             REAL NOT NULL,
    body                   TEXT NOT NULL,   -- JSON Broadcast (the columns below win over it)
    audience_size_estimate INTEGER,
    audience_size_actual   INTEGER,
    delivered              INTEGER NOT NULL DEFAULT 0,
    failed                 INTEGER NOT NULL DEFAULT 0,
    skipped                INTEGER NOT NULL DEFAULT 0,
    started_at             REAL,
    finished_at            REAL
);
CREATE INDEX broadcasts_due ON broadcasts (state, run_at);
CREATE INDEX broadcasts_retry_of ON broadcasts (retry_of);
CREATE TABLE audience (
    broadcast_id TEXT NOT NULL,
    contact_id   TEXT NOT NULL,
    PRIMARY KEY (broadcast_id, contact_id)
) WITHOUT ROWID;
CREATE TABLE dispatch_rows (
    seq           INTEGER PRIMARY KEY,
    broadcast_id  TEXT NOT NULL,
    contact_id    TEXT NOT NULL,
    status        TEXT,               -- NULL while claimed and not yet recorded
    outcome       TEXT,               -- derived from status, kept for filtering
    contact_name  TEXT NOT NULL DEFAULT '',
    integration   TEXT,
    error_reason  TEXT,
    error_kind    TEXT,
    used_fallback INTEGER NOT NULL DEFAULT 0,
    sent_at       REAL,
    delivered_at  REAL,
    message_id    TEXT,
    claimed_at    REAL,
    recorded_at   REAL,
    rec_seq       INTEGER,            -- order of recording: newest first, live follow
    UNIQUE (broadcast_id, contact_id)
);
CREATE INDEX dispatch_rows_history ON dispatch_rows (broadcast_id, rec_seq);
CREATE INDEX dispatch_rows_rec_seq ON dispatch_rows (rec_seq);
CREATE INDEX dispatch_rows_recorded_at ON dispatch_rows (recorded_at);
"""

_V2: Final = """
CREATE TABLE integration_health (
    integration TEXT PRIMARY KEY,
    status      TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '',
    updated_at  REAL NOT NULL
);
CREATE INDEX dispatch_rows_message ON dispatch_rows (integration, message_id);
"""

# The chat a claimed send went to, so that two contact records sharing one chat are
# messaged once per broadcast (Store.used_chats).
_V3: Final = """
ALTER TABLE dispatch_rows ADD COLUMN chat_id TEXT;
CREATE INDEX dispatch_rows_chat ON dispatch_rows (broadcast_id, integration, chat_id);
"""

# Many workers: the worker holding a claim (so that no other overwrites it while it lives)
# and the registry of workers with their heartbeats (``broadcaster workers``).
_V4: Final = """
ALTER TABLE dispatch_rows ADD COLUMN claimed_by TEXT;
CREATE TABLE workers (
    id           TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    started_at   REAL NOT NULL,
    heartbeat_at REAL NOT NULL,
    lease_until  REAL NOT NULL,
    broadcasts   TEXT NOT NULL DEFAULT '[]',
    lost_at      REAL,
    taken_over   TEXT NOT NULL DEFAULT '[]'
)
"""

# Many workers, one broadcast each at a time: the worker running a SENDING broadcast, until when.
_V5: Final = """
CREATE TABLE broadcast_leases (
    broadcast_id TEXT PRIMARY KEY,
    worker_id    TEXT NOT NULL,
    lease_until  REAL NOT NULL
)
"""

# The send rate to suggest for an integration whose provider seemed to allow more (health).
_V6: Final = """
ALTER TABLE integration_health ADD COLUMN allows_more REAL
"""

# Shared provider limits (core.rateshare): each worker's share of an integration's rate,
# and what a refusal taught one worker, for all.
_V7: Final = """
CREATE TABLE rate_shares (
    integration TEXT NOT NULL,
    worker_id   TEXT NOT NULL,
    starts_at   REAL NOT NULL,
    lease_until REAL NOT NULL,
    PRIMARY KEY (integration, worker_id)
);
CREATE TABLE rate_limits (
    integration  TEXT PRIMARY KEY,
    factor       REAL NOT NULL,
    paused_until REAL NOT NULL,
    updated_at   REAL NOT NULL,
    updated_by   TEXT NOT NULL
)
"""

# Lifecycle events, written in the transaction of the change that causes them (an outbox)
# and delivered by workers (store/outbox.py, runtime/outbox_delivery.py).
_V8: Final = """
CREATE TABLE outbox (
    seq          INTEGER PRIMARY KEY,
    event_id     TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    broadcast_id TEXT NOT NULL,
    at           REAL NOT NULL,
    body         TEXT NOT NULL,               -- JSON Broadcast as stored after the change
    next_at      REAL NOT NULL,               -- not claimed before (retry backoff)
    attempts     INTEGER NOT NULL DEFAULT 0,  -- webhook rounds made
    hooked_at    REAL,                        -- when on_lifecycle_event saw it
    sent_to      TEXT NOT NULL DEFAULT '[]',  -- endpoints that answered 2xx
    claimed_by   TEXT,
    lease_until  REAL,
    done_at      REAL
);
CREATE INDEX outbox_due ON outbox (done_at, next_at)
"""

# Many workers, one broadcast: its audience snapshot cut into leased units (store/units_sql.py)
# in place of the whole-broadcast lease; the units of broadcasts SENDING now are cut here
# (500 contacts each, as UNIT_SIZE). The chat index becomes unique, so that two contact
# records sharing one chat, claimed by two workers at once, are messaged once.
_V9: Final = """
DROP TABLE broadcast_leases;
CREATE TABLE broadcast_units (
    broadcast_id TEXT NOT NULL,
    unit_no      INTEGER NOT NULL,
    first_id     TEXT NOT NULL,   -- the unit's audience: contact ids first_id..last_id
    last_id      TEXT NOT NULL,
    size         INTEGER NOT NULL,
    claimed_by   TEXT,
    lease_until  REAL,
    done_at      REAL,            -- every contact in it has a final row
    PRIMARY KEY (broadcast_id, unit_no)
);
CREATE INDEX broadcast_units_claimer ON broadcast_units (claimed_by);
INSERT INTO broadcast_units (broadcast_id, unit_no, first_id, last_id, size)
SELECT broadcast_id, n, MIN(contact_id), MAX(contact_id), COUNT(*) FROM (SELECT a.broadcast_id, a.contact_id,
(ROW_NUMBER() OVER (PARTITION BY a.broadcast_id ORDER BY a.contact_id) - 1) / 500 AS n
FROM audience a JOIN broadcasts b ON b.id = a.broadcast_id WHERE b.state = 'SENDING') GROUP BY broadcast_id, n;
UPDATE dispatch_rows SET chat_id = NULL WHERE chat_id IS NOT NULL AND seq NOT IN
(SELECT MIN(seq) FROM dispatch_rows WHERE chat_id IS NOT NULL GROUP BY broadcast_id, integration, chat_id);
DROP INDEX dispatch_rows_chat;
CREATE UNIQUE INDEX dispatch_rows_chat ON dispatch_rows (broadcast_id, integration, chat_id)
"""

# API tokens (store/tokens_sql.py): in the store, so every `serve` of one store shares them
# and a revocation reaches each on its next request. Only the SHA-256 of a secret is kept.
_V10: Final = """
CREATE TABLE api_tokens (
    name         TEXT PRIMARY KEY,
    scope        TEXT NOT NULL CHECK (scope IN ('read', 'write')),
    digest       TEXT NOT NULL UNIQUE,        -- hex SHA-256 of the secret
    created_at   REAL NOT NULL,
    last_used_at REAL
)
"""

#: index i holds the script that takes a file from version i to version i + 1 (statements are
#: split on ";", so no semicolon may appear inside a statement or a comment)
MIGRATIONS: Final[tuple[str, ...]] = (_V1, _V2, _V3, _V4, _V5, _V6, _V7, _V8, _V9, _V10)
SCHEMA_VERSION: Final = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def refuse_newer(found: int, known: int, *, where: str) -> None:
    """One line, the same for every engine, when a newer broadcaster wrote the database."""
    if found > known:
        raise ConfigError(
            f"{where} has schema version {found}, newer than this broadcaster understands ({known})",
            hint="upgrade broadcaster, or point it at another database",
        )


def migrate(conn: sqlite3.Connection, *, target: int = SCHEMA_VERSION, where: str = "the database") -> int:
    """Upgrade in place to ``target``; returns the version found before upgrading.

    ``conn`` must be in autocommit mode (``isolation_level=None``).
    """
    found = schema_version(conn)
    refuse_newer(found, SCHEMA_VERSION, where=where)
    for version in range(found, target):
        statements = [part.strip() for part in MIGRATIONS[version].split(";") if part.strip()]
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in statements:
                conn.execute(statement)
            # PRAGMA takes no parameters; the value is our own integer.
            conn.execute(f"PRAGMA user_version = {version + 1:d}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return found
