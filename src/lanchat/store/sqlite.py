"""The embedded store: one SQLite file in WAL mode.

Writes go through one writer thread that commits everything pending as one transaction
(group commit): under load each commit carries many messages, and the event loop never waits
on the disk. Reads run on a small pool of reader threads with their own connections, except
account lookups: a primary-key read of a small, hot table costs less than handing it to a
thread, so it runs at once on the event loop's own connection, which never waits for a lock
(when SQLite is busy the lookup goes to a reader thread instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from lanchat.core.events import StoredMessage
from lanchat.core.model import Actor
from lanchat.core.ports import AccountRecord, ChannelRecord, MessageRef, UploadRecord, WebSessionRecord
from lanchat.stats import Histogram
from lanchat.store.schema import migrate

log = logging.getLogger("lanchat.store")
T = TypeVar("T")
WriteOp = Callable[[sqlite3.Connection], Any]

#: How often messages stored since the last time are added to the full-text index (and the
#: parties of direct messages folded into dm_peers).
INDEX_INTERVAL = 2.0
#: Messages indexed per write. Each write holds up the commits queued behind it: 2,000 at
#: once took up to 114 ms here (FTS5 merging its segments), 500 at most 25 ms.
INDEX_CHUNK = 500
#: Stored messages after which they are added to the conversation index (conv_index) in one
#: sorted insert. Bigger chunks share more index pages between messages (1,000 over 50
#: channels: ~20 per page, against ~1 when each commit indexed its own); reads scan the
#: messages not indexed yet (at most about one chunk) by seq.
CONV_INDEX_CHUNK = 1000
#: dm_peers rows upserted per write while the direct-message log is folded: each write holds
#: up the commits queued behind it.
FOLD_CHUNK = 500
#: Direct messages after which a fold starts without waiting for INDEX_INTERVAL: a bigger log
#: folds with fewer page writes per message, but reading it holds the GIL longer.
FOLD_AFTER = 2000
#: Under load, commits start at most this often (seconds). Each commit has a fixed cost
#: (~150 µs of SQLite, ~80 µs of hand-off between threads here, against ~40 µs per message), so
#: gathering what arrives meanwhile into one saves CPU; an idle store commits at the end of
#: the current loop iteration.
COMMIT_WINDOW = 0.002
#: Checkpoints (copying the WAL into the database file, with an fsync) run on a thread of
#: their own, at most this often while writes come (seconds). SQLite's own, inside the commit
#: that crossed 1,000 WAL pages, held that commit and every message waiting for it 10-75 ms
#: here, several times a second under load.
CHECKPOINT_INTERVAL = 1.0
#: WAL frames past which the checkpointer also starts the WAL over. A passive checkpoint never
#: catches up with a writer that never pauses, and SQLite only starts the WAL over after one
#: that did: under a sustained load the file would grow without end. Starting over blocks the
#: writer for a moment (the frames left to copy, an fsync), once per ~64 MiB of WAL.
WAL_RESTART_FRAMES = 16384
#: How long the checkpointer waits for readers or the writer before it gives up a restart
#: (and tries again after the next interval).
RESTART_WAIT_MS = 100
_MESSAGE_COLUMNS = "msgid, time_ms, kind, nick, user, host, account, bot, target, conv, text, tags, redacted_by"


def connect(
    path: Path, *, synchronous: str = "NORMAL", busy_timeout_ms: int = 30000, auto_checkpoint: bool = True
) -> sqlite3.Connection:
    """Open the database file with the settings every connection uses (``auto_checkpoint``
    False: its commits never checkpoint; someone else must)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1000)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    if not auto_checkpoint:
        conn.execute("PRAGMA wal_autocheckpoint=0")
    return conn


def _checkpoint(conn: sqlite3.Connection) -> tuple[int, int]:
    """Copy the WAL into the database file without holding up the writer, and start the WAL
    over when it has grown past WAL_RESTART_FRAMES; (frames in the WAL, frames copied)."""
    _busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    if frames >= WAL_RESTART_FRAMES:
        _busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
    return int(frames), int(copied)


def _row_to_message(row: sqlite3.Row | tuple[Any, ...]) -> StoredMessage:
    msgid, time_ms, kind, nick, user, host, account, bot, target, conv, text, tags, redacted_by = row
    return StoredMessage(
        msgid=msgid,
        time_ms=time_ms,
        kind=kind,
        sender=Actor(nick, user, host, account, bool(bot)),
        target=target,
        conversation=conv,
        text=text,
        tags=json.loads(tags) if tags else {},
        redacted=redacted_by is not None,
    )


_INSERT_MESSAGE = (
    "INSERT INTO messages(msgid, time_ms, kind, nick, user, host, account, bot, target, conv, text, tags)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPSERT_DM_PEER = (
    "INSERT INTO dm_peers(owner, peer, peer_name, last_ms) VALUES (?, ?, ?, ?)"
    " ON CONFLICT(owner, peer) DO UPDATE SET peer_name = excluded.peer_name, last_ms = excluded.last_ms"
)
_LOG_DM_PEER = "INSERT INTO dm_log(owner, peer, peer_name, last_ms) VALUES (?, ?, ?, ?)"
#: The latest logged entry of each pair, in the order of dm_peers' key (so that consecutive
#: upserts share pages); ``MAX(seq)`` makes the other columns come from that entry.
_LOGGED_PAIRS = (
    "SELECT owner, peer, peer_name, last_ms FROM"
    " (SELECT owner, peer, peer_name, last_ms, MAX(seq) FROM dm_log WHERE seq <= ? GROUP BY owner, peer)"
    " ORDER BY owner, peer"
)


def _account_by_key(conn: sqlite3.Connection, key: str) -> AccountRecord | None:
    rows = conn.execute(
        "SELECT name, key, password_hash, admin, created_ms, last_seen_ms FROM accounts WHERE key = ?", (key,)
    ).fetchall()  # fetchall, not fetchone: the statement ends and its read snapshot with it
    return _account_from_row(rows[0]) if rows else None


def _account_from_row(row: tuple[Any, ...]) -> AccountRecord:
    name, key, password_hash, admin, created_ms, last_seen_ms = row
    return AccountRecord(name, key, password_hash, bool(admin), created_ms, last_seen_ms)


def _last_seq(conn: sqlite3.Connection) -> int:
    """The seq of the newest stored message (0 when there is none)."""
    return int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM messages").fetchone()[0])


def _indexed_upto(conn: sqlite3.Connection, mark: str) -> int:
    """The seq up to which every stored message is in an index built in bulk; ``mark`` is its
    key in settings: 'fts_seq' (full text) or 'conv_seq' (conv_index)."""
    row = conn.execute("SELECT value FROM settings WHERE key = ?", (mark,)).fetchone()
    return int(row[0]) if row else 0


def _set_indexed_upto(conn: sqlite3.Connection, mark: str, seq: int) -> None:
    conn.execute("INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", (mark, str(seq)))


def _index_some(conn: sqlite3.Connection) -> bool:
    """Index the next INDEX_CHUNK stored messages; True while more are waiting."""
    done = _indexed_upto(conn, "fts_seq")
    top = _last_seq(conn)
    upto = min(top, done + INDEX_CHUNK)
    if upto > done:
        conn.execute(
            "INSERT INTO messages_fts(rowid, text) SELECT seq, text FROM messages WHERE seq > ? AND seq <= ?",
            (done, upto),
        )
        _set_indexed_upto(conn, "fts_seq", upto)
    return upto < top


def _index_conversations(conn: sqlite3.Connection) -> int:
    """Add every stored message not in conv_index yet, sorted so that the messages of one
    conversation share its index pages; the number added."""
    done = _indexed_upto(conn, "conv_seq")
    top = _last_seq(conn)
    if top <= done:
        return 0
    conn.execute(
        "INSERT INTO conv_index(conv, time_ms, seq) SELECT conv, time_ms, seq FROM messages"
        " WHERE seq > ? ORDER BY conv, time_ms, seq",
        (done,),
    )
    _set_indexed_upto(conn, "conv_seq", top)
    return top - done


def _log_index_failure(work: asyncio.Future[Any]) -> None:
    if not work.cancelled() and (exc := work.exception()) is not None:
        log.warning("conversation index not updated yet (kept for the next try): %s", exc)


def _on_savepoint(conn: sqlite3.Connection, name: str, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` inside the savepoint ``name`` (a fixed word of this module, never input):
    when it raises, its writes are undone and the exception goes on; the transaction around
    it stays usable."""
    conn.execute(f"SAVEPOINT {name}")
    try:
        value = fn(*args)
    except Exception:
        conn.execute(f"ROLLBACK TO {name}")
        conn.execute(f"RELEASE {name}")
        raise
    conn.execute(f"RELEASE {name}")
    return value


def _insert_rows(conn: sqlite3.Connection, rows: list[tuple[Any, ...]], peers: list[tuple[str, str, str, int]]) -> None:
    conn.executemany(_INSERT_MESSAGE, rows)
    conn.executemany(_LOG_DM_PEER, peers)


def _logged_pairs(conn: sqlite3.Connection) -> tuple[int, int, list[tuple[str, str, str, int]]]:
    """The direct-message log so far: its first and last seq, and the latest entry of each
    pair (0, 0, [] when it is empty)."""
    first, top = conn.execute("SELECT COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0) FROM dm_log").fetchone()
    return int(first), int(top), conn.execute(_LOGGED_PAIRS, (top,)).fetchall() if top else []


def _upserting(pairs: list[tuple[str, str, str, int]]) -> WriteOp:
    """A write that puts these (owner, peer, peer_name, last_ms) into dm_peers."""
    return lambda conn: conn.executemany(_UPSERT_DM_PEER, pairs)


def _deleting_log(after: int, upto: int) -> WriteOp:
    """A write that deletes the direct-message log entries with seq in (after, upto]."""
    return lambda conn: conn.execute("DELETE FROM dm_log WHERE seq > ? AND seq <= ?", (after, upto))


def _log_fold_failure(fold: asyncio.Future[None]) -> None:
    if not fold.cancelled() and (exc := fold.exception()) is not None:
        log.warning("direct-message list not updated yet (kept for the next try): %s", exc)


def _fold_all(conn: sqlite3.Connection) -> None:
    """Fold the whole direct-message log into dm_peers at once (at start)."""
    first, top, pairs = _logged_pairs(conn)
    _upserting(pairs)(conn)
    _deleting_log(first - 1, top)(conn)


class _MessageRows:
    """The messages appended for one batch: one write op inserts them all."""

    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []
        self.peers: list[list[tuple[str, str, str, int]]] = []
        self.futures: list[asyncio.Future[None]] = []

    def add(self, row: tuple[Any, ...], peers: list[tuple[str, str, str, int]], fut: asyncio.Future[None]) -> None:
        self.rows.append(row)
        self.peers.append(peers)
        self.futures.append(fut)

    def insert(self, conn: sqlite3.Connection) -> list[Exception | None]:
        """Insert every row at once; if that fails (an SQLite error, or a value SQLite cannot
        bind, such as an int over 64 bits), row by row so only bad rows fail."""
        try:
            _on_savepoint(conn, "rows", _insert_rows, conn, self.rows, [p for peers in self.peers for p in peers])
            return [None] * len(self.rows)
        except Exception:
            pass
        results: list[Exception | None] = []
        for row, peers in zip(self.rows, self.peers, strict=True):
            try:
                _on_savepoint(conn, "one", _insert_rows, conn, [row], peers)
                results.append(None)
            except Exception as exc:
                results.append(exc)
        return results

    def resolve(self, done: asyncio.Future[list[Exception | None]]) -> None:
        """Complete each message's future with its own outcome."""
        if done.cancelled():
            for fut in self.futures:
                fut.cancel()
            return
        exc = done.exception()
        outcomes = done.result() if exc is None else [exc] * len(self.futures)
        for fut, outcome in zip(self.futures, outcomes, strict=True):
            if fut.done():
                continue
            if outcome is None:
                fut.set_result(None)
            else:
                fut.set_exception(outcome)


class SqliteStore:
    """Implements core.ports.Store on one SQLite database file."""

    def __init__(self, path: Path, *, synchronous: str = "NORMAL", readers: int = 2) -> None:
        self.path = path
        self._synchronous = synchronous
        self._writer_pool = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._checkpoint_pool = ThreadPoolExecutor(1, thread_name_prefix="sqlite-checkpoint")
        self._checkpoint_conn: sqlite3.Connection | None = None
        self._checkpointing = False
        self._last_checkpoint = 0.0
        self._closing = False
        self._reader_pool = ThreadPoolExecutor(readers, thread_name_prefix="sqlite-reader")
        self._local = threading.local()
        #: Every reader thread's connection, closed with the store.
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_conns_lock = threading.Lock()
        self._loop_conn: sqlite3.Connection | None = None
        self._writer_conn: sqlite3.Connection | None = None
        self._pending: list[tuple[WriteOp, asyncio.Future[Any]]] = []
        self._in_flight = False
        self._idle: asyncio.Event | None = None
        #: Sizes of the last committed batches, for metrics and tests.
        #: Writes per commit, and how long each commit took (for /metrics).
        self.batch_stats = Histogram((1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000))
        self._unindexed = 0
        self._conv_unindexed = 0  # stored messages not in conv_index yet
        #: Direct messages appended, and how many of them are folded into dm_peers.
        self._dm_logged = 0
        self._dm_folded = 0
        self._folding: asyncio.Future[None] | None = None
        self._indexer: asyncio.Task[None] | None = None
        self._open_rows: _MessageRows | None = None
        #: The future of the last message appended (see barrier).
        self._last_append: asyncio.Future[None] | None = None
        self._pending_writes = 0  # writes queued for the next batch, each message counted
        self._batch_started = 0.0
        self.commit_stats = Histogram((0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0))

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        """Create or migrate the schema."""
        # The folder holds password hashes and private messages: owner only.
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        self._idle = asyncio.Event()
        self._idle.set()
        await loop.run_in_executor(self._writer_pool, self._open_writer)
        self._indexer = asyncio.create_task(self._index_in_background())

    def _open_writer(self) -> None:
        self.path.touch(mode=0o600, exist_ok=True)
        conn = connect(self.path, synchronous=self._synchronous, auto_checkpoint=False)
        migrate(conn)
        with conn:  # what a server that was killed had not folded yet
            # IMMEDIATE, as every write here: read-then-write beside a running server (this
            # is `lanchat user add`, say) would otherwise fail when the server commits between.
            conn.execute("BEGIN IMMEDIATE")
            _fold_all(conn)
        self._conv_unindexed = _last_seq(conn) - _indexed_upto(conn, "conv_seq")
        self._writer_conn = conn

    async def close(self) -> None:
        """Commit everything pending, then close every connection."""
        self._closing = True  # the final checkpoint is the last one
        if self._indexer is not None:
            self._indexer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._indexer
            await self.index_pending()
            with contextlib.suppress(sqlite3.Error):  # else read from messages until the next chunk
                await self._write(_index_conversations)
        with contextlib.suppress(sqlite3.Error):  # left in dm_log: folded at the next start
            await self.fold_dm_log()
        await self.flush()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._checkpoint_pool, self._close_checkpointer)
        self._checkpoint_pool.shutdown(wait=True)
        await loop.run_in_executor(self._writer_pool, self._close_writer)
        self._writer_pool.shutdown(wait=True)
        self._reader_pool.shutdown(wait=True)
        with self._reader_conns_lock:
            readers, self._reader_conns = self._reader_conns, []
        for conn in readers:  # their threads have ended: nothing uses them now
            conn.close()
        if self._loop_conn is not None:
            self._loop_conn.close()
            self._loop_conn = None

    def _close_checkpointer(self) -> None:
        """Copy the whole WAL into the database file and empty it: a stopped server's data
        is all in ``lanchat.db``."""
        conn, self._checkpoint_conn = self._checkpoint_conn, None
        if self._writer_conn is None:  # never opened: nothing to copy, no file to create
            if conn is not None:
                conn.close()
            return
        # No waiting: when someone else still uses the database (a server, while this is
        # `lanchat user add`), it gives up at once rather than hold that server's writer.
        conn = conn or connect(self.path, synchronous=self._synchronous, busy_timeout_ms=0)
        try:
            conn.execute("PRAGMA busy_timeout=0")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:  # the WAL still holds it: the next start reads it
            log.warning("final checkpoint failed: %s", exc)
        finally:
            conn.close()

    def _close_writer(self) -> None:
        if self._writer_conn is not None:
            self._writer_conn.close()
            self._writer_conn = None

    def barrier(self) -> Awaitable[None]:
        """Completes once every write submitted so far is committed and the callbacks waiting
        for the last message appended (its delivery) have run."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        last = self._last_append

        def finish(_: object = None) -> None:
            if not fut.done():
                fut.set_result(None)

        def after_last(_: object = None) -> None:
            # Callbacks run in the order they were added: the message's own come first, even
            # when it was committed a moment ago and they are still scheduled.
            if last is None:
                finish()
            else:
                last.add_done_callback(finish)

        if self._pending or self._in_flight:
            self._write(lambda conn: None).add_done_callback(after_last)
        else:
            after_last()
        return fut

    async def flush(self) -> None:
        """Wait until every write submitted so far is committed."""
        if self._idle is not None:
            while self._pending or self._in_flight:
                self._idle.clear()
                await self._idle.wait()

    # -- the writer ------------------------------------------------------------------------

    def _write(self, op: WriteOp) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._pending.append((op, fut))
        self._pending_writes += 1
        if not self._in_flight:
            # An idle store commits at the end of this loop iteration, so that what this
            # iteration writes (a burst of pipelined messages) shares one commit. Started at
            # once, the first write went alone and the rest waited for it: under a burst the
            # commits alternated between 1 message and the rest.
            self._in_flight = True  # later writes join the pending batch
            loop.call_soon(self._start_batch, loop)
        return fut

    def _start_batch(self, loop: asyncio.AbstractEventLoop) -> None:
        batch, self._pending = self._pending, []
        writes, self._pending_writes = self._pending_writes, 0
        self._open_rows = None  # later messages go to the next batch
        self._in_flight = True
        self._batch_started = time.perf_counter()
        work = loop.run_in_executor(self._writer_pool, self._run_batch, [op for op, _ in batch])
        work.add_done_callback(lambda done: self._batch_done(loop, batch, writes, done))

    def _run_batch(self, ops: list[WriteOp]) -> tuple[list[tuple[bool, Any]], float]:
        conn = self._writer_conn
        assert conn is not None, "store is not open"
        started = time.perf_counter()
        try:
            # IMMEDIATE: the write lock first. A deferred transaction that read before it
            # wrote failed at once ("database is locked") when the checkpointer started the
            # WAL over in between, instead of waiting for it.
            conn.execute("BEGIN IMMEDIATE")
            results: list[tuple[bool, Any]] = [(True, op(conn)) for op in ops]
            conn.execute("COMMIT")
        except Exception:
            # One write failed (rare; an SQLite error, or a value it cannot bind such as an
            # int over 64 bits): do the batch again, each write on its own savepoint, so that
            # only the failing one is lost.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            results = self._run_one_by_one(conn, ops)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return results, time.perf_counter() - started

    @staticmethod
    def _run_one_by_one(conn: sqlite3.Connection, ops: list[WriteOp]) -> list[tuple[bool, Any]]:
        results: list[tuple[bool, Any]] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for op in ops:
                try:
                    results.append((True, _on_savepoint(conn, "op", op, conn)))
                except Exception as exc:
                    results.append((False, exc))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return results

    def _batch_done(
        self,
        loop: asyncio.AbstractEventLoop,
        batch: list[tuple[WriteOp, asyncio.Future[Any]]],
        writes: int,
        done: asyncio.Future[tuple[list[tuple[bool, Any]], float]],
    ) -> None:
        self._in_flight = False
        exc = done.exception()
        if exc is None:
            results, seconds = done.result()
            self.batch_stats.observe(writes)
            self.commit_stats.observe(seconds)
        for i, (_, fut) in enumerate(batch):
            if fut.done():
                continue
            if exc is not None:
                fut.set_exception(exc)
                continue
            ok, value = results[i]
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)
        if self._pending:
            self._start_soon(loop)
        elif self._idle is not None:
            self._idle.set()
        self._checkpoint_soon(loop)

    def _checkpoint_soon(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start a checkpoint on its own thread, unless one runs or ran less than
        CHECKPOINT_INTERVAL ago."""
        now = time.perf_counter()
        if self._checkpointing or self._closing or now - self._last_checkpoint < CHECKPOINT_INTERVAL:
            return
        self._checkpointing = True
        self._last_checkpoint = now
        loop.run_in_executor(self._checkpoint_pool, self._run_checkpoint).add_done_callback(self._checkpoint_done)

    def _run_checkpoint(self) -> tuple[int, int]:
        if self._checkpoint_conn is None:
            self._checkpoint_conn = connect(self.path, synchronous=self._synchronous, busy_timeout_ms=RESTART_WAIT_MS)
        return _checkpoint(self._checkpoint_conn)

    def _checkpoint_done(self, done: asyncio.Future[tuple[int, int]]) -> None:
        self._checkpointing = False
        if not done.cancelled() and (exc := done.exception()) is not None:
            # The WAL keeps every commit meanwhile; the next checkpoint copies it.
            log.warning("checkpoint failed (tried again after the next commit): %s", exc)

    def _start_soon(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the next commit, at most one per COMMIT_WINDOW: writes that came while the
        last one ran, and those that come in the rest of the window, share it."""
        wait = self._batch_started + COMMIT_WINDOW - time.perf_counter()
        if wait <= 0:
            self._start_batch(loop)
            return
        self._in_flight = True  # _write must not start another meanwhile
        loop.call_later(wait, self._start_batch, loop)

    # -- readers ---------------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, synchronous=self._synchronous)
            self._local.conn = conn
            with self._reader_conns_lock:
                self._reader_conns.append(conn)
        return conn

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader_pool, lambda: fn(self._reader()))

    # -- accounts --------------------------------------------------------------------------

    def _loop_reader(self) -> sqlite3.Connection:
        """The event loop's own read connection: it fails at once instead of waiting for a lock."""
        if self._loop_conn is None:
            self._loop_conn = connect(self.path, synchronous=self._synchronous, busy_timeout_ms=0)
        return self._loop_conn

    async def get_account(self, key: str) -> AccountRecord | None:
        """The account with that casefolded name, or None (see the module's notes)."""
        try:
            return _account_by_key(self._loop_reader(), key)
        except sqlite3.OperationalError:  # busy or locked: wait on a reader thread
            return await self._read(lambda conn: _account_by_key(conn, key))

    async def list_accounts(self) -> list[AccountRecord]:
        """Every account, by name."""

        def run(conn: sqlite3.Connection) -> list[AccountRecord]:
            rows = conn.execute(
                "SELECT name, key, password_hash, admin, created_ms, last_seen_ms FROM accounts ORDER BY key"
            ).fetchall()
            return [_account_from_row(r) for r in rows]

        return await self._read(run)

    async def count_accounts(self) -> int:
        """How many accounts exist."""
        return await self._read(lambda conn: int(conn.execute("SELECT COUNT(*) FROM accounts").fetchone()[0]))

    async def add_account(self, record: AccountRecord) -> bool:
        """Insert an account; False when one with the same key exists."""

        def op(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "INSERT OR IGNORE INTO accounts(key, name, password_hash, admin, created_ms, last_seen_ms)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    record.key,
                    record.name,
                    record.password_hash,
                    int(record.admin),
                    record.created_ms,
                    record.last_seen_ms,
                ),
            )
            return cur.rowcount == 1

        return bool(await self._write(op))

    async def set_password_hash(self, key: str, password_hash: str) -> bool:
        """Replace an account's hash; False when there is no such account."""
        return await self._update("UPDATE accounts SET password_hash = ? WHERE key = ?", (password_hash, key))

    async def set_admin(self, key: str, admin: bool) -> bool:
        """Grant or revoke admin; False when there is no such account."""
        return await self._update("UPDATE accounts SET admin = ? WHERE key = ?", (int(admin), key))

    def set_last_seen(self, key: str, time_ms: int) -> Awaitable[None]:
        """Record when the account was last online."""
        return self._write(
            lambda conn: conn.execute("UPDATE accounts SET last_seen_ms = ? WHERE key = ?", (time_ms, key))
        )

    async def delete_account(self, key: str) -> bool:
        """Remove an account with its memberships, markers and DM index."""
        await self.fold_dm_log()  # a fold under way must not put the account's rows back

        def op(conn: sqlite3.Connection) -> bool:
            conn.execute("DELETE FROM memberships WHERE account = ?", (key,))
            conn.execute("DELETE FROM read_markers WHERE account = ?", (key,))
            conn.execute("DELETE FROM dm_peers WHERE owner = ?", (key,))
            conn.execute("DELETE FROM dm_log WHERE owner = ?", (key,))
            conn.execute("DELETE FROM web_sessions WHERE account = ?", (key,))
            return conn.execute("DELETE FROM accounts WHERE key = ?", (key,)).rowcount == 1

        return bool(await self._write(op))

    async def _update(self, sql: str, params: tuple[Any, ...]) -> bool:
        return bool(await self._write(lambda conn: conn.execute(sql, params).rowcount == 1))

    # -- channels --------------------------------------------------------------------------

    async def load_channels(self) -> list[ChannelRecord]:
        """Every stored channel with its lists and member accounts."""

        def run(conn: sqlite3.Connection) -> list[ChannelRecord]:
            channels: dict[str, ChannelRecord] = {}
            for row in conn.execute(
                "SELECT key, name, created, topic, topic_by, topic_at, modes, password, lim FROM channels"
            ):
                channels[row[0]] = ChannelRecord(
                    name=row[1],
                    key=row[0],
                    created=row[2],
                    topic=row[3],
                    topic_by=row[4],
                    topic_at=row[5],
                    modes=row[6],
                    password=row[7],
                    limit=row[8],
                )
            for chan, mode, mask, set_by, set_at in conn.execute(
                "SELECT channel, mode, mask, set_by, set_at FROM channel_lists ORDER BY set_at"
            ):
                if chan in channels:
                    channels[chan].lists.append((mode, mask, set_by, set_at))
            for account, chan in conn.execute("SELECT account, channel FROM memberships"):
                if chan in channels:
                    channels[chan].member_accounts.append(account)
            return list(channels.values())

        return await self._read(run)

    def save_channel(self, record: ChannelRecord) -> Awaitable[None]:
        """Insert or replace a channel's settings and lists."""

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO channels(key, name, created, topic, topic_by, topic_at, modes, password, lim)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET name = excluded.name,"
                " created = excluded.created, topic = excluded.topic, topic_by = excluded.topic_by,"
                " topic_at = excluded.topic_at, modes = excluded.modes, password = excluded.password,"
                " lim = excluded.lim",
                (
                    record.key,
                    record.name,
                    record.created,
                    record.topic,
                    record.topic_by,
                    record.topic_at,
                    record.modes,
                    record.password,
                    record.limit,
                ),
            )
            conn.execute("DELETE FROM channel_lists WHERE channel = ?", (record.key,))
            conn.executemany(
                "INSERT OR IGNORE INTO channel_lists(channel, mode, mask, set_by, set_at) VALUES (?, ?, ?, ?, ?)",
                [(record.key, *entry) for entry in record.lists],
            )

        return self._write(op)

    def delete_channel(self, key: str) -> Awaitable[None]:
        """Forget a channel, its lists and memberships."""

        def op(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM memberships WHERE channel = ?", (key,))
            conn.execute("DELETE FROM channel_lists WHERE channel = ?", (key,))
            conn.execute("DELETE FROM channels WHERE key = ?", (key,))

        return self._write(op)

    def save_membership(self, account_key: str, channel_key: str, status: str) -> Awaitable[None]:
        """Record that an account belongs to a channel, with its status letters."""
        return self._write(
            lambda conn: conn.execute(
                "INSERT INTO memberships(account, channel, status) VALUES (?, ?, ?)"
                " ON CONFLICT(account, channel) DO UPDATE SET status = excluded.status",
                (account_key, channel_key, status),
            )
        )

    def delete_membership(self, account_key: str, channel_key: str) -> Awaitable[None]:
        """Record that an account left a channel."""
        return self._write(
            lambda conn: conn.execute(
                "DELETE FROM memberships WHERE account = ? AND channel = ?", (account_key, channel_key)
            )
        )

    async def memberships(self, account_key: str) -> list[tuple[str, str]]:
        """(channel key, status) for each channel the account belongs to, oldest first."""
        return await self._read(
            lambda conn: [
                (r[0], r[1])
                for r in conn.execute(
                    "SELECT channel, status FROM memberships WHERE account = ? ORDER BY rowid", (account_key,)
                )
            ]
        )

    # -- history ---------------------------------------------------------------------------

    def append(self, message: StoredMessage, dm_parties: Sequence[tuple[str, str, str]]) -> Awaitable[None]:
        """Store a message (and, for a DM, each party's conversation index). The messages of a
        batch are inserted together with ``executemany``; each still succeeds or fails alone."""
        s = message.sender
        row = (
            message.msgid,
            message.time_ms,
            message.kind,
            s.nick,
            s.user,
            s.host,
            s.account,
            int(s.bot),
            message.target,
            message.conversation,
            message.text,
            json.dumps(message.tags) if message.tags else None,
        )
        peers = [(owner, key, name, message.time_ms) for owner, key, name in dm_parties]
        self._unindexed += 1
        self._conv_unindexed += 1
        if peers:
            self._dm_logged += 1
            if self._dm_logged - self._dm_folded >= FOLD_AFTER:
                self._fold_under_way()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._last_append = fut
        rows = self._open_rows
        if rows is not None:  # still queued: the writer thread has not seen it yet
            rows.add(row, peers, fut)
            self._pending_writes += 1
        else:
            rows = _MessageRows()
            rows.add(row, peers, fut)
            self._open_rows = rows
            self._write(rows.insert).add_done_callback(rows.resolve)
        if self._conv_unindexed >= CONV_INDEX_CHUNK:
            # Queued after this batch's rows, so it runs in the same commit and covers them.
            self._conv_unindexed = 0
            self._write(_index_conversations).add_done_callback(_log_index_failure)
        return fut

    async def find(self, msgid: str) -> StoredMessage | None:
        """The stored message with that msgid, or None."""

        def run(conn: sqlite3.Connection) -> StoredMessage | None:
            row = conn.execute(f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE msgid = ?", (msgid,)).fetchone()
            return None if row is None else _row_to_message(row)

        return await self._read(run)

    async def query(
        self,
        conversation: str,
        *,
        after: MessageRef | None,
        before: MessageRef | None,
        limit: int,
        newest_first: bool,
        with_events: bool = True,
    ) -> list[StoredMessage]:
        """See :meth:`lanchat.core.ports.HistoryStore.query`. Redacted messages are left out."""

        def run(conn: sqlite3.Connection) -> list[StoredMessage]:
            where = ["m.redacted_by IS NULL"]
            if not with_events:
                where.append("m.kind IN ('PRIVMSG', 'NOTICE')")
            bounds: list[str] = []  # on the (time_ms, seq) of conv_index, or of messages
            params: list[Any] = []
            for ref, op in ((after, ">"), (before, "<")):
                if ref is None:
                    continue
                pos = self._position(conn, ref, op == ">")
                if pos is None:
                    return []
                time_ms, seq = pos
                # A row value, so that SQLite seeks the (conv, time_ms, seq) index to the point
                # instead of walking it from one end (30 ms at a million messages).
                bounds.append(f"({{0}}.time_ms, {{0}}.seq) {op} (?, ?)")
                params += [time_ms, seq]
            order = "DESC" if newest_first else "ASC"
            columns = ", ".join(f"m.{c}" for c in _MESSAGE_COLUMNS.split(", "))
            upto = _indexed_upto(conn, "conv_seq")
            # What conv_index holds (CROSS JOIN: walk the index, then fetch each row by seq),
            # and the newest messages it does not hold yet, scanned by seq; merged below.
            indexed = conn.execute(
                f"SELECT {columns}, m.seq FROM conv_index c CROSS JOIN messages m ON m.seq = c.seq"
                f" WHERE {' AND '.join(['c.conv = ?', 'c.seq <= ?', *where, *(b.format('c') for b in bounds)])}"
                f" ORDER BY c.time_ms {order}, c.seq {order} LIMIT ?",
                (conversation, upto, *params, limit),
            ).fetchall()
            recent = conn.execute(
                f"SELECT {columns}, m.seq FROM messages m"
                f" WHERE {' AND '.join(['m.seq > ?', 'm.conv = ?', *where, *(b.format('m') for b in bounds)])}",
                (upto, conversation, *params),
            ).fetchall()
            rows = sorted(indexed + recent, key=lambda r: (r[1], r[-1]), reverse=newest_first)[:limit]
            if newest_first:
                rows.reverse()
            return [_row_to_message(r[:-1]) for r in rows]

        return await self._read(run)

    @staticmethod
    def _position(conn: sqlite3.Connection, ref: MessageRef, after: bool) -> tuple[int, int] | None:
        """(time_ms, seq) of a reference. A bare time excludes messages at that very ms on
        both sides, as references are exclusive."""
        if ref.msgid is None:
            return ref.time_ms, (1 << 62) if after else 0
        row = conn.execute("SELECT time_ms, seq FROM messages WHERE msgid = ?", (ref.msgid,)).fetchone()
        return None if row is None else (row[0], row[1])

    def redact(self, msgid: str, by: str, reason: str, time_ms: int) -> Awaitable[None]:
        """Delete a message's text, keeping who deleted it, when and why."""
        return self._write(
            lambda conn: conn.execute(
                "UPDATE messages SET text = '', tags = NULL, redacted_by = ?, redacted_at = ?,"
                " redact_reason = ? WHERE msgid = ?",
                (by, time_ms, reason, msgid),
            )
        )

    async def fold_dm_log(self) -> None:
        """Bring dm_peers up to date with every direct message stored before this call.

        One fold runs at a time (a reader that comes meanwhile waits for it, then for another
        if its messages came after that one began). A fold reads the log once, then upserts
        its pairs in key order, FOLD_CHUNK per write so that commits go on in between, and
        deletes what it folded last: a fold cut short (an error, a crash) is simply done
        again.
        """
        wanted = self._dm_logged
        while self._dm_folded < wanted:
            await asyncio.shield(self._fold_under_way())  # a reader that gives up does not stop it

    def _fold_under_way(self) -> asyncio.Future[None]:
        """The fold running now, or a new one."""
        fold = self._folding
        if fold is None or fold.done():
            self._folding = fold = asyncio.ensure_future(self._fold(self._dm_logged))
            fold.add_done_callback(_log_fold_failure)
        return fold

    async def _fold(self, covers: int) -> None:
        await self._write(lambda conn: None)  # what was appended before is committed
        # Grouped and sorted on a reader connection: the writer goes on meanwhile.
        first, top, pairs = await self._read(_logged_pairs)
        for start in range(0, len(pairs), FOLD_CHUNK):
            await self._write(_upserting(pairs[start : start + FOLD_CHUNK]))
        bottom = first - 1
        while bottom < top:
            upto = min(top, bottom + FOLD_CHUNK * 10)
            await self._write(_deleting_log(bottom, upto))
            bottom = upto
        self._dm_folded = max(self._dm_folded, covers)

    async def dm_peers(self, owner: str, since_ms: int, until_ms: int, limit: int) -> list[tuple[str, str, int]]:
        """The owner's DM conversations whose latest message is in the window, oldest first."""
        await self.fold_dm_log()
        return await self._read(
            lambda conn: [
                (r[0], r[1], r[2])
                for r in conn.execute(
                    "SELECT peer, peer_name, last_ms FROM dm_peers WHERE owner = ? AND last_ms > ?"
                    " AND last_ms < ? ORDER BY last_ms LIMIT ?",
                    (owner, since_ms, until_ms, limit),
                )
            ]
        )

    async def latest_times(self, conversations: Sequence[str], since_ms: int, until_ms: int) -> dict[str, int]:
        """Time of each conversation's latest message, for those where it is in the window."""

        def run(conn: sqlite3.Connection) -> dict[str, int]:
            out: dict[str, int] = {}
            # The messages not in conv_index yet, scanned once for all the conversations.
            upto = _indexed_upto(conn, "conv_seq")
            recent = dict(
                conn.execute("SELECT conv, MAX(time_ms) FROM messages WHERE seq > ? GROUP BY conv", (upto,)).fetchall()
            )
            for conv in conversations:
                indexed = conn.execute("SELECT MAX(time_ms) FROM conv_index WHERE conv = ?", (conv,)).fetchone()[0]
                latest = max((t for t in (indexed, recent.get(conv)) if t is not None), default=None)
                if latest is not None and since_ms < latest < until_ms:
                    out[conv] = latest
            return out

        return await self._read(run)

    async def index_pending(self) -> None:
        """Add the messages stored since the last time to the full-text index, in bulk: at
        most INDEX_CHUNK per write, so new messages never wait long behind the indexing."""
        self._unindexed = 0
        while await self._write(_index_some):
            pass

    async def _index_in_background(self) -> None:
        while True:
            await asyncio.sleep(INDEX_INTERVAL)
            if self._unindexed:
                await self.index_pending()
            with contextlib.suppress(sqlite3.Error):  # left in dm_log: the next fold takes it
                await self.fold_dm_log()

    async def search(
        self,
        conversations: Sequence[str],
        words: Sequence[str],
        *,
        sender: str | None,
        after_ms: int | None,
        before_ms: int | None,
        limit: int,
    ) -> list[StoredMessage]:
        """See :meth:`lanchat.core.ports.HistoryStore.search`."""
        if not conversations or not words:
            return []
        await self.index_pending()
        # Each word becomes a quoted FTS5 string (quotes doubled), so no query syntax leaks in.
        query = " ".join('"' + w.replace('"', '""') + '"' for w in words)
        columns = ", ".join(f"m.{c.strip()}" for c in _MESSAGE_COLUMNS.split(","))
        where = [
            "messages_fts MATCH ?",
            f"m.conv IN ({', '.join('?' for _ in conversations)})",
            "m.redacted_by IS NULL",
            "m.kind IN ('PRIVMSG', 'NOTICE')",
        ]
        params: list[Any] = [query, *conversations]
        if sender is not None:
            where.append("m.nick = ? COLLATE NOCASE")
            params.append(sender)
        if after_ms is not None:
            where.append("m.time_ms >= ?")
            params.append(after_ms)
        if before_ms is not None:
            where.append("m.time_ms <= ?")
            params.append(before_ms)
        sql = (
            f"SELECT {columns} FROM messages_fts JOIN messages m ON m.seq = messages_fts.rowid"
            f" WHERE {' AND '.join(where)} ORDER BY m.time_ms DESC LIMIT ?"
        )

        def run(conn: sqlite3.Connection) -> list[StoredMessage]:
            rows = conn.execute(sql, (*params, limit)).fetchall()
            rows.reverse()
            return [_row_to_message(r) for r in rows]

        return await self._read(run)

    # -- web sessions, files, settings -----------------------------------------------------

    def add_web_session(self, record: WebSessionRecord) -> Awaitable[None]:
        """Store a browser session."""
        return self._write(
            lambda conn: conn.execute(
                "INSERT INTO web_sessions(token_hash, account, created_ms, last_used_ms) VALUES (?, ?, ?, ?)",
                (record.token_hash, record.account, record.created_ms, record.last_used_ms),
            )
        )

    async def get_web_session(self, token_hash: str) -> WebSessionRecord | None:
        """The session with that token hash."""

        def run(conn: sqlite3.Connection) -> WebSessionRecord | None:
            row = conn.execute(
                "SELECT token_hash, account, created_ms, last_used_ms FROM web_sessions WHERE token_hash = ?",
                (token_hash,),
            ).fetchone()
            return None if row is None else WebSessionRecord(row[0], row[1], row[2], row[3])

        return await self._read(run)

    def touch_web_session(self, token_hash: str, time_ms: int) -> Awaitable[None]:
        """Record that a session was used."""
        return self._write(
            lambda conn: conn.execute(
                "UPDATE web_sessions SET last_used_ms = ? WHERE token_hash = ?", (time_ms, token_hash)
            )
        )

    def delete_web_session(self, token_hash: str) -> Awaitable[None]:
        """Revoke one session."""
        return self._write(lambda conn: conn.execute("DELETE FROM web_sessions WHERE token_hash = ?", (token_hash,)))

    def delete_web_sessions_of(self, account: str) -> Awaitable[None]:
        """Revoke every session of an account."""
        return self._write(lambda conn: conn.execute("DELETE FROM web_sessions WHERE account = ?", (account,)))

    def add_upload(self, record: UploadRecord) -> Awaitable[None]:
        """Record a shared file."""
        return self._write(
            lambda conn: conn.execute(
                "INSERT INTO uploads(id, name, type, size, account, created_ms) VALUES (?, ?, ?, ?, ?, ?)",
                (record.id, record.name, record.type, record.size, record.account, record.created_ms),
            )
        )

    async def get_upload(self, upload_id: str) -> UploadRecord | None:
        """A shared file's record."""

        def run(conn: sqlite3.Connection) -> UploadRecord | None:
            row = conn.execute(
                "SELECT id, name, type, size, account, created_ms FROM uploads WHERE id = ?", (upload_id,)
            ).fetchone()
            return None if row is None else UploadRecord(*row)

        return await self._read(run)

    async def upload_usage(self, account: str) -> int:
        """Bytes of every file the account has shared."""

        def run(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT COALESCE(SUM(size), 0) FROM uploads WHERE account = ?", (account,)).fetchone()
            return int(row[0])

        return await self._read(run)

    async def get_setting(self, key: str) -> str | None:
        """A run-time setting."""

        def run(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
            return None if row is None else str(row[0])

        return await self._read(run)

    def set_setting(self, key: str, value: str) -> Awaitable[None]:
        """Store a run-time setting."""
        return self._write(
            lambda conn: conn.execute(
                "INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
        )

    # -- read markers ----------------------------------------------------------------------

    async def get_marker(self, account_key: str, target_key: str) -> int | None:
        """The account's read marker for a conversation, in ms."""

        def run(conn: sqlite3.Connection) -> int | None:
            row = conn.execute(
                "SELECT time_ms FROM read_markers WHERE account = ? AND target = ?", (account_key, target_key)
            ).fetchone()
            return None if row is None else int(row[0])

        return await self._read(run)

    def set_marker(self, account_key: str, target_key: str, time_ms: int) -> Awaitable[None]:
        """Store a read marker (callers only ever move it forward)."""
        return self._write(
            lambda conn: conn.execute(
                "INSERT INTO read_markers(account, target, time_ms) VALUES (?, ?, ?)"
                " ON CONFLICT(account, target) DO UPDATE SET time_ms = MAX(time_ms, excluded.time_ms)",
                (account_key, target_key, time_ms),
            )
        )
