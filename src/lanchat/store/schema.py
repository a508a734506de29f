"""SQLite schema and its migrations, keyed by ``PRAGMA user_version``."""

from __future__ import annotations

import sqlite3

_MIGRATIONS: list[str] = [
    """
    CREATE TABLE accounts (
        key TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        admin INTEGER NOT NULL DEFAULT 0,
        created_ms INTEGER NOT NULL DEFAULT 0,
        last_seen_ms INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE channels (
        key TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created INTEGER NOT NULL,
        topic TEXT NOT NULL DEFAULT '',
        topic_by TEXT NOT NULL DEFAULT '',
        topic_at INTEGER NOT NULL DEFAULT 0,
        modes TEXT NOT NULL DEFAULT 'nt',
        password TEXT,
        lim INTEGER
    );
    CREATE TABLE channel_lists (
        channel TEXT NOT NULL,
        mode TEXT NOT NULL,
        mask TEXT NOT NULL,
        set_by TEXT NOT NULL,
        set_at INTEGER NOT NULL,
        PRIMARY KEY (channel, mode, mask)
    );
    CREATE TABLE memberships (
        account TEXT NOT NULL,
        channel TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (account, channel)
    );
    CREATE INDEX memberships_channel ON memberships(channel);
    CREATE TABLE messages (
        seq INTEGER PRIMARY KEY,
        msgid TEXT NOT NULL UNIQUE,
        time_ms INTEGER NOT NULL,
        kind TEXT NOT NULL,
        nick TEXT NOT NULL,
        user TEXT NOT NULL,
        host TEXT NOT NULL,
        account TEXT,
        bot INTEGER NOT NULL DEFAULT 0,
        target TEXT NOT NULL,
        conv TEXT NOT NULL,
        text TEXT NOT NULL,
        tags TEXT,
        redacted_by TEXT,
        redacted_at INTEGER,
        redact_reason TEXT
    );
    CREATE INDEX messages_conv_time ON messages(conv, time_ms, seq);
    CREATE TABLE dm_peers (
        owner TEXT NOT NULL,
        peer TEXT NOT NULL,
        peer_name TEXT NOT NULL,
        last_ms INTEGER NOT NULL,
        PRIMARY KEY (owner, peer)
    );
    CREATE TABLE read_markers (
        account TEXT NOT NULL,
        target TEXT NOT NULL,
        time_ms INTEGER NOT NULL,
        PRIMARY KEY (account, target)
    );
    """,
    """
    CREATE TABLE web_sessions (
        token_hash TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        last_used_ms INTEGER NOT NULL
    );
    CREATE INDEX web_sessions_account ON web_sessions(account);
    CREATE TABLE uploads (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        type TEXT NOT NULL,
        size INTEGER NOT NULL,
        account TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE VIRTUAL TABLE messages_fts USING fts5(
        text, content='messages', content_rowid='seq', tokenize='unicode61 remove_diacritics 2'
    );
    INSERT INTO messages_fts(messages_fts) VALUES ('rebuild');
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts(rowid, text) VALUES (new.seq, new.text);
    END;
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.seq, old.text);
    END;
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.seq, old.text);
        INSERT INTO messages_fts(rowid, text) VALUES (new.seq, new.text);
    END;
    """,
    # Full-text indexing moves out of the insert path: messages are indexed in bulk by the
    # store (about ten times cheaper per message), and the index knows how far it reached.
    """
    DROP TRIGGER messages_fts_insert;
    DROP TRIGGER messages_fts_delete;
    DROP TRIGGER messages_fts_update;
    INSERT OR REPLACE INTO settings(key, value)
        VALUES ('fts_seq', (SELECT CAST(COALESCE(MAX(seq), 0) AS TEXT) FROM messages));
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
        WHEN old.seq <= (SELECT CAST(value AS INTEGER) FROM settings WHERE key = 'fts_seq')
    BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.seq, old.text);
    END;
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages
        WHEN old.seq <= (SELECT CAST(value AS INTEGER) FROM settings WHERE key = 'fts_seq')
    BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.seq, old.text);
        INSERT INTO messages_fts(rowid, text) VALUES (new.seq, new.text);
    END;
    """,
    # Direct-message conversation lists are written behind: each message appends its two
    # parties to dm_log (at the end of the table), and the store folds the log into dm_peers
    # every few seconds, before every read of dm_peers and at start (after a crash), in
    # small steps ordered by pair. An upsert per party dirtied a page of its own per message
    # all over dm_peers.
    """
    CREATE TABLE dm_log (
        seq INTEGER PRIMARY KEY,
        owner TEXT NOT NULL,
        peer TEXT NOT NULL,
        peer_name TEXT NOT NULL,
        last_ms INTEGER NOT NULL
    );
    """,
    # The conversation index moves out of the insert path too: an index on messages put one
    # scattered page per message into each commit (a batch of 40 messages over 50 channels
    # dirtied ~40 of its leaves). The store now adds stored messages to conv_index in bulk,
    # sorted by conversation, and reads the few not indexed yet straight from messages.
    """
    CREATE TABLE conv_index (
        conv TEXT NOT NULL,
        time_ms INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (conv, time_ms, seq)
    ) WITHOUT ROWID;
    INSERT INTO conv_index(conv, time_ms, seq) SELECT conv, time_ms, seq FROM messages ORDER BY conv, time_ms, seq;
    INSERT OR REPLACE INTO settings(key, value)
        VALUES ('conv_seq', (SELECT CAST(COALESCE(MAX(seq), 0) AS TEXT) FROM messages));
    DROP INDEX messages_conv_time;
    """,
]


def current_version() -> int:
    """The schema version this lanchat writes."""
    return len(_MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the database up to the newest schema version, one transaction per step."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
        conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
