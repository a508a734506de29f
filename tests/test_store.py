"""The SQLite store on its own: migrations from older databases, bulk full-text and
conversation indexing, and group commit surviving a failing write."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from lanchat.core.events import StoredMessage
from lanchat.core.model import Actor
from lanchat.core.ports import AccountRecord, ChannelRecord, MessageRef
from lanchat.store import sqlite as sqlite_store
from lanchat.store.schema import _MIGRATIONS, current_version
from lanchat.store.sqlite import SqliteStore


@contextlib.asynccontextmanager
async def opened(path: Path) -> AsyncIterator[SqliteStore]:
    """A store on ``path``, open for the block and closed after it, however it ends."""
    store = SqliteStore(path)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def _message(n: int, text: str, conversation: str = "#c") -> StoredMessage:
    sender = Actor("ann", "~a", "h")
    return StoredMessage(f"id{n:04d}", 1_700_000_000_000 + n, "PRIVMSG", sender, "#c", conversation, text)


async def test_a_database_from_the_first_schema_is_migrated_and_searchable(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(_MIGRATIONS[0] + "PRAGMA user_version = 1;")
    conn.execute(
        "INSERT INTO messages(msgid, time_ms, kind, nick, user, host, target, conv, text)"
        " VALUES ('old1', 1, 'PRIVMSG', 'ann', '~a', 'h', '#c', '#c', 'the printer is jammed again')"
    )
    conn.commit()
    conn.close()
    async with opened(path) as store:
        assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == current_version()
        await store.append(_message(1, "new printer arrives friday"), ())
        found = await store.search(["#c"], ["printer"], sender=None, after_ms=None, before_ms=None, limit=10)
        assert [m.text for m in found] == ["the printer is jammed again", "new printer arrives friday"]


async def test_redacted_messages_leave_the_index_whether_indexed_yet_or_not(tmp_path: Path) -> None:
    async with opened(tmp_path / "s.db") as store:
        await store.append(_message(1, "secret plans one"), ())
        await store.index_pending()
        await store.append(_message(2, "secret plans two"), ())  # not indexed yet
        await store.redact("id0001", "ann", "oops", 5)
        await store.redact("id0002", "ann", "oops", 6)
        await store.append(_message(3, "public plans"), ())
        found = await store.search(["#c"], ["plans"], sender=None, after_ms=None, before_ms=None, limit=10)
        assert [m.text for m in found] == ["public plans"]
        rows = (
            sqlite3.connect(tmp_path / "s.db")
            .execute("SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'secret'")
            .fetchall()
        )
        assert rows == []


async def test_indexing_goes_in_chunks_and_messages_sent_meanwhile_do_not_wait_for_all_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "INDEX_CHUNK", 4)
    async with opened(tmp_path / "s.db") as store:
        await asyncio.gather(*(store.append(_message(n, f"backlog word{n}"), ()) for n in range(1, 11)))
        commits_before = store.commit_stats.observations
        indexing = asyncio.ensure_future(store.index_pending())
        await asyncio.sleep(0)
        # Sent while the backlog is being indexed: committed in one of the writes in between.
        await store.append(_message(11, "sent meanwhile"), ())
        assert not indexing.done()
        await indexing
        # 11 messages in chunks of 4: at least three indexing writes, each its own commit.
        assert store.commit_stats.observations - commits_before >= 3
        done = sqlite3.connect(tmp_path / "s.db").execute("SELECT value FROM settings WHERE key = 'fts_seq'")
        assert done.fetchone()[0] == "11"
        found = await store.search(["#c"], ["word10"], sender=None, after_ms=None, before_ms=None, limit=10)
        assert [m.text for m in found] == ["backlog word10"]
        found = await store.search(["#c"], ["meanwhile"], sender=None, after_ms=None, before_ms=None, limit=10)
        assert [m.text for m in found] == ["sent meanwhile"]


async def test_a_failing_write_does_not_take_the_batch_down(tmp_path: Path) -> None:
    async with opened(tmp_path / "s.db") as store:
        record = AccountRecord("ann", "ann", "hash")
        first = store.append(_message(1, "kept"), ())
        duplicate = store.append(_message(1, "same msgid: refused"), ())
        second = store.append(_message(2, "kept too"), ())
        account = store.add_account(record)
        await first
        try:
            await duplicate
        except sqlite3.IntegrityError:
            pass
        else:
            raise AssertionError("a duplicate msgid was accepted")
        await second
        assert await account is True
        found = await store.query("#c", after=None, before=None, limit=10, newest_first=False)
        assert [m.text for m in found] == ["kept", "kept too"]


async def test_messages_appended_together_share_one_commit_and_keep_their_order(tmp_path: Path) -> None:
    async with opened(tmp_path / "s.db") as store:
        first = store.append(_message(0, "first"), ())
        rest = [store.append(_message(n, f"line {n}"), (("ann", "bob", "bob"),)) for n in range(1, 200)]
        await first
        for fut in rest:
            await fut
        found = await store.query("#c", after=None, before=None, limit=500, newest_first=False)
        assert [m.text for m in found] == ["first"] + [f"line {n}" for n in range(1, 200)]
        # Appended in one loop iteration to an idle store: one commit (the first message does
        # not go alone). The histogram counts messages, not insert statements.
        assert store.batch_stats.total == 200
        assert store.batch_stats.observations == 1
        assert await store.dm_peers("ann", 0, 2**62, 10) == [("bob", "bob", 1_700_000_000_000 + 199)]


def _table(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _dm(n: int, sender: str, peer: str, peer_name: str) -> tuple[StoredMessage, tuple[tuple[str, str, str], ...]]:
    return _message(n, f"dm {n}", f"dm:{min(sender, peer)}:{max(sender, peer)}"), (
        (sender, peer, peer_name),
        (peer, sender, sender),
    )


@pytest_asyncio.fixture
async def quiet_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SqliteStore]:
    """An open store whose background work waits a minute: folds happen only when asked."""
    monkeypatch.setattr(sqlite_store, "INDEX_INTERVAL", 60.0)
    async with opened(tmp_path / "s.db") as store:
        yield store


async def test_direct_message_parties_are_logged_then_folded_into_the_conversation_list(
    quiet_store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "FOLD_CHUNK", 2)  # several steps per fold
    store, path = quiet_store, quiet_store.path
    for n, (peer, name) in enumerate([("bob", "bob"), ("cat", "cat"), ("bob", "Bobby")]):
        await store.append(*_dm(n, "ann", peer, name))
    # Appended at the end of dm_log; dm_peers is not touched per message.
    assert len(_table(path, "SELECT * FROM dm_log")) == 6
    assert _table(path, "SELECT * FROM dm_peers") == []
    # A read folds first: the latest entry of each pair wins (bob's new display name).
    assert await store.dm_peers("ann", 0, 2**62, 10) == [
        ("cat", "cat", 1_700_000_000_001),
        ("bob", "Bobby", 1_700_000_000_002),
    ]
    assert await store.dm_peers("bob", 0, 2**62, 10) == [("ann", "ann", 1_700_000_000_002)]
    assert _table(path, "SELECT * FROM dm_log") == []
    # A later message moves the pair on; folding again keeps one row per pair.
    await store.append(*_dm(7, "ann", "cat", "cat"))
    assert await store.dm_peers("ann", 1_700_000_000_002, 2**62, 10) == [("cat", "cat", 1_700_000_000_007)]
    assert len(_table(path, "SELECT * FROM dm_peers")) == 4
    # Reads at once, and messages stored while a fold runs: every read sees every message
    # stored before it.
    await store.append(*_dm(8, "ann", "dan", "dan"))
    first = asyncio.ensure_future(store.dm_peers("dan", 0, 2**62, 10))
    await asyncio.sleep(0)  # the first fold has started
    await store.append(*_dm(9, "eve", "dan", "dan"))
    second = await store.dm_peers("dan", 0, 2**62, 10)
    assert await first in ([("ann", "ann", 1_700_000_000_008)], second)
    assert second == [("ann", "ann", 1_700_000_000_008), ("eve", "eve", 1_700_000_000_009)]


async def test_direct_message_parties_left_in_the_log_by_a_killed_server_are_folded_at_start(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    async with opened(path):
        pass  # creates the database
    # What a server killed before its fold leaves behind: entries in dm_log only.
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO dm_log(owner, peer, peer_name, last_ms) VALUES (?, ?, ?, ?)",
            [("ann", "bob", "bob", 5), ("bob", "ann", "ann", 5), ("ann", "bob", "bobby", 9)],
        )
    conn.close()
    async with opened(path) as store:
        assert _table(path, "SELECT * FROM dm_log") == []
        assert sorted(_table(path, "SELECT owner, peer, peer_name, last_ms FROM dm_peers")) == [
            ("ann", "bob", "bobby", 9),
            ("bob", "ann", "ann", 5),
        ]
        assert await store.dm_peers("ann", 0, 2**62, 10) == [("bob", "bobby", 9)]


async def test_deleting_an_account_removes_its_conversation_list_even_mid_fold(quiet_store: SqliteStore) -> None:
    store, path = quiet_store, quiet_store.path
    assert await store.add_account(AccountRecord("ann", "ann", "hash")) is True
    for n in range(3):
        await store.append(*_dm(n, "ann", "bob", "bob"))
    folding = asyncio.ensure_future(store.fold_dm_log())  # under way when the delete comes
    await asyncio.sleep(0)
    assert await store.delete_account("ann") is True
    await folding
    assert await store.dm_peers("ann", 0, 2**62, 10) == []
    assert await store.dm_peers("bob", 0, 2**62, 10) == [("ann", "ann", 1_700_000_000_002)]
    assert _table(path, "SELECT * FROM dm_log") == []


async def test_a_busy_log_is_folded_without_waiting_for_the_interval(
    quiet_store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "FOLD_AFTER", 3)
    store, path = quiet_store, quiet_store.path
    await store.append(*_dm(1, "ann", "bob", "bob"))
    await store.append(*_dm(2, "ann", "cat", "cat"))
    assert len(_table(path, "SELECT * FROM dm_log")) == 4  # under FOLD_AFTER: left for later
    await store.append(*_dm(3, "ann", "dan", "dan"))
    for _ in range(200):  # nobody reads: the third message alone starts the fold
        if not _table(path, "SELECT * FROM dm_log"):
            break
        await asyncio.sleep(0.01)
    assert _table(path, "SELECT * FROM dm_log") == []
    assert len(_table(path, "SELECT * FROM dm_peers")) == 6


async def test_a_fold_that_fails_leaves_the_log_for_the_next_one(
    quiet_store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, path = quiet_store, quiet_store.path
    await store.append(*_dm(1, "ann", "bob", "bob"))

    def broken(pairs: list[tuple[str, str, str, int]]) -> sqlite_store.WriteOp:
        def op(conn: sqlite3.Connection) -> None:
            raise sqlite3.OperationalError("disk I/O error")

        return op

    monkeypatch.setattr(sqlite_store, "_upserting", broken)
    with pytest.raises(sqlite3.OperationalError):
        await store.dm_peers("ann", 0, 2**62, 10)
    assert len(_table(path, "SELECT * FROM dm_log")) == 2  # nothing lost
    monkeypatch.undo()
    assert await store.dm_peers("ann", 0, 2**62, 10) == [("bob", "bob", 1_700_000_000_001)]
    assert _table(path, "SELECT * FROM dm_log") == []


async def test_under_load_commits_gather_what_arrives_within_the_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "COMMIT_WINDOW", 1.0)
    monkeypatch.setattr(sqlite_store, "INDEX_INTERVAL", 60.0)  # no indexing write in between
    async with opened(tmp_path / "s.db") as store:
        first = store.append(_message(0, "alone"), ())  # an idle store commits in this iteration
        await asyncio.sleep(0)  # the commit has started
        second = store.append(_message(1, "waits for the window"), ())
        await asyncio.wait_for(first, 0.5)
        later = [second]
        for n in range(2, 21):  # arrive after the first commit, one by one
            await asyncio.sleep(0.01)
            later.append(store.append(_message(n, f"line {n}"), ()))
        for fut in later:
            await fut
        # Without the window the second message would have gone alone, and each later one too.
        assert store.batch_stats.observations == 2
        assert store.batch_stats.total == 21
        # Nothing in flight now, though the last commit started a moment ago: no waiting.
        await asyncio.wait_for(store.append(_message(21, "idle again"), ()), 0.5)
        found = await store.query("#c", after=None, before=None, limit=50, newest_first=False)
        assert [m.text for m in found] == ["alone", "waits for the window"] + [f"line {n}" for n in range(2, 21)] + [
            "idle again"
        ]


async def test_a_write_sqlite_cannot_bind_fails_alone(tmp_path: Path) -> None:
    """A value over 64 bits raises OverflowError (not sqlite3.Error) inside the writer: only
    that write fails, the messages committed with it are kept."""
    async with opened(tmp_path / "s.db") as store:
        first = store.append(_message(1, "kept"), ())
        bad_channel = store.save_channel(ChannelRecord("#c", "#c", 1, limit=10**30))
        second = store.append(_message(2, "kept too"), ())
        good_channel = store.save_channel(ChannelRecord("#d", "#d", 1, limit=5))
        await first
        with pytest.raises(OverflowError):
            await bad_channel
        await second
        await good_channel
        found = await store.query("#c", after=None, before=None, limit=10, newest_first=False)
        assert [m.text for m in found] == ["kept", "kept too"]
        assert [(c.key, c.limit) for c in await store.load_channels()] == [("#d", 5)]


async def test_a_message_sqlite_cannot_bind_fails_alone(tmp_path: Path) -> None:
    async with opened(tmp_path / "s.db") as store:
        first = store.append(_message(1, "kept"), ())
        huge = _message(2, "time out of range")
        bad = store.append(StoredMessage(huge.msgid, 10**30, "PRIVMSG", huge.sender, "#c", "#c", huge.text), ())
        last = store.append(_message(3, "kept too"), ())
        await first
        with pytest.raises(OverflowError):
            await bad
        await last
        found = await store.query("#c", after=None, before=None, limit=10, newest_first=False)
        assert [m.text for m in found] == ["kept", "kept too"]


async def test_the_barrier_waits_for_the_delivery_of_a_message_committed_a_moment_ago(tmp_path: Path) -> None:
    """PING answers after the barrier: a message already committed but whose delivery callback
    is still scheduled must be delivered before the barrier completes."""
    async with opened(tmp_path / "s.db") as store:
        order: list[str] = []
        stored = store.append(_message(0, "hello"), ())
        asyncio.ensure_future(stored).add_done_callback(lambda _: order.append("delivered"))
        # flush() returns as soon as the commit is done: the delivery callback is scheduled,
        # not yet run, and the store is idle.
        await store.flush()
        assert order == []
        await store.barrier()
        order.append("after the barrier")
        assert order == ["delivered", "after the barrier"]


async def test_account_lookups_see_other_writers_at_once_and_wait_out_a_lock(tmp_path: Path) -> None:
    path = tmp_path / "lanchat.db"
    async with opened(path) as store:
        assert await store.get_account("ann") is None
        # Another process (the CLI's `user add`) writes to the same file: seen at the next lookup.
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("INSERT INTO accounts(key, name, password_hash) VALUES ('ann', 'Ann', 'h1')")
        found = await store.get_account("ann")
        assert found is not None
        assert found.name == "Ann"
        other.execute("UPDATE accounts SET name = 'ANN' WHERE key = 'ann'")
        found = await store.get_account("ann")
        assert found is not None
        assert found.name == "ANN"
        # That lookup runs on the event loop's own connection, which must never wait for a
        # lock there; when its statement fails, the lookup is answered by a reader thread.
        loop_conn = store._loop_reader()
        assert loop_conn.execute("PRAGMA busy_timeout").fetchone()[0] == 0
        loop_conn.set_progress_handler(lambda: 1, 1)  # every statement on it is interrupted
        with pytest.raises(sqlite3.OperationalError):
            loop_conn.execute("SELECT 1 FROM accounts").fetchall()
        other.execute("UPDATE accounts SET password_hash = 'h2' WHERE key = 'ann'")
        found = await store.get_account("ann")
        assert found is not None
        assert found.password_hash == "h2"
        other.close()


def _at(n: int, time_ms: int, conversation: str) -> StoredMessage:
    return StoredMessage(f"id{n:04d}", time_ms, "PRIVMSG", Actor("ann", "~a", "h"), conversation, conversation, f"m{n}")


async def _history(store: SqliteStore, conversation: str) -> dict[str, list[str]]:
    """The same conversation read the ways CHATHISTORY reads it."""

    async def texts(after: MessageRef | None, before: MessageRef | None, limit: int, newest_first: bool) -> list[str]:
        found = await store.query(conversation, after=after, before=before, limit=limit, newest_first=newest_first)
        return [m.text for m in found]

    return {
        "latest 4": await texts(None, None, 4, True),
        "all": await texts(None, None, 100, False),
        "before id0014": await texts(None, MessageRef("id0014"), 3, True),
        "after id0003": await texts(MessageRef("id0003"), None, 5, False),
        "after t+5": await texts(MessageRef(None, 1_000_005), None, 50, False),
    }


async def test_history_reads_the_same_whether_messages_are_in_the_conversation_index_yet_or_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "CONV_INDEX_CHUNK", 8)
    path = tmp_path / "s.db"
    # 21 messages over two conversations; #a's times go back once (a clock set back), so the
    # time order is not the storage order and the two parts must be merged by time.
    times = [1_000_000 + n for n in range(1, 22)]
    times[16] = 1_000_004
    sent = [_at(n, times[n - 1], "#a" if n % 3 else "#b") for n in range(1, 22)]
    expected_a = [m.text for m in sorted((m for m in sent if m.conversation == "#a"), key=lambda m: m.time_ms)]
    expected = {
        "latest 4": expected_a[-4:],
        "all": expected_a,
        "before id0014": ["m10", "m11", "m13"],
        "after id0003": ["m4", "m17", "m5", "m7", "m8"],
        "after t+5": expected_a[expected_a.index("m7") :],
    }
    async with opened(path) as store:
        for message in sent:
            await store.append(message, ())
        # Indexed in bulk after every 8 messages: 16 in conv_index, the newest 5 read from messages.
        assert _table(path, "SELECT value FROM settings WHERE key = 'conv_seq'") == [("16",)]
        assert _table(path, "SELECT COUNT(*) FROM conv_index") == [(16,)]
        assert await _history(store, "#a") == expected
        assert await store.latest_times(["#a", "#b"], 0, 2_000_000) == {"#a": 1_000_020, "#b": 1_000_021}
        # A message redacted after it was indexed disappears from history like one that was not.
        await store.redact("id0002", "ann", "oops", 5)
        await store.redact("id0020", "ann", "oops", 6)
        assert [m.text for m in await store.query("#a", after=None, before=None, limit=3, newest_first=False)] == [
            "m1",
            "m4",
            "m17",
        ]
        assert "m20" not in (await _history(store, "#a"))["all"]
    # Closing indexes the rest, and the history reads the same after a restart.
    assert _table(path, "SELECT value FROM settings WHERE key = 'conv_seq'") == [("21",)]
    assert _table(path, "SELECT COUNT(*) FROM conv_index") == [(21,)]
    async with opened(path) as store:
        remaining = [text for text in expected_a if text not in ("m2", "m20")]
        history = await _history(store, "#a")
        assert history["all"] == remaining
        assert history["latest 4"] == remaining[-4:]
        # Now from conv_index alone; a redacted message still counts as activity, as before.
        assert await store.latest_times(["#a", "#b", "#c"], 0, 2_000_000) == {"#a": 1_000_020, "#b": 1_000_021}
        assert await store.latest_times(["#a", "#b"], 1_000_020, 2_000_000) == {"#b": 1_000_021}


async def test_a_database_from_before_the_conversation_index_gets_its_history_indexed(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript("".join(_MIGRATIONS[:-1]) + f"PRAGMA user_version = {len(_MIGRATIONS) - 1};")
    conn.executemany(
        "INSERT INTO messages(msgid, time_ms, kind, nick, user, host, target, conv, text)"
        " VALUES (?, ?, 'PRIVMSG', 'ann', '~a', 'h', ?, ?, ?)",
        [("o1", 10, "#a", "#a", "first"), ("o2", 20, "#b", "#b", "other"), ("o3", 30, "#a", "#a", "second")],
    )
    conn.commit()
    conn.close()
    async with opened(path) as store:
        assert _table(path, "SELECT conv, time_ms, seq FROM conv_index") == [
            ("#a", 10, 1),
            ("#a", 30, 3),
            ("#b", 20, 2),
        ]
        assert _table(path, "SELECT value FROM settings WHERE key = 'conv_seq'") == [("3",)]
        assert _table(path, "SELECT name FROM sqlite_master WHERE name = 'messages_conv_time'") == []
        await store.append(_at(4, 40, "#a"), ())
        latest = await store.query("#a", after=None, before=None, limit=10, newest_first=True)
        assert [m.text for m in latest] == ["first", "second", "m4"]


def _wal_frames(path: Path) -> int:
    """Frames in the WAL file, from its size (32-byte header, then a 24-byte header per page)."""
    wal = path.with_name(path.name + "-wal")
    conn = sqlite3.connect(path)
    try:
        page = int(conn.execute("PRAGMA page_size").fetchone()[0])
    finally:
        conn.close()
    return max(0, (wal.stat().st_size - 32) // (page + 24)) if wal.exists() else 0


async def test_commits_never_checkpoint_and_the_checkpointer_copies_the_wal_while_writes_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.db"
    text = "x" * 3000  # about a page per message
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_INTERVAL", 3600.0)  # after the first, none
    async with opened(path) as store:
        for start in range(0, 2500, 50):
            await asyncio.gather(*(store.append(_message(n, text), ()) for n in range(start, start + 50)))
        # SQLite's own checkpoint at 1,000 pages would have started the WAL over long ago.
        assert _wal_frames(path) > 2000
        size_before = path.stat().st_size
        monkeypatch.setattr(sqlite_store, "CHECKPOINT_INTERVAL", 0.0)
        await store.append(_message(9999, "after"), ())
        for _ in range(100):  # the checkpointer runs beside the loop: wait for its copy
            if path.stat().st_size > size_before + 2000 * 3000:
                break
            await asyncio.sleep(0.05)
        assert path.stat().st_size > size_before + 2000 * 3000
        assert len(await store.query("#c", after=None, before=None, limit=5000, newest_first=False)) == 2501
    assert _wal_frames(path) == 0  # all copied into the database file at close


async def test_writes_wait_out_the_checkpointer_starting_the_wal_over_and_none_is_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every commit followed by a checkpoint that starts the WAL over (waiting for the readers
    # of the store and of this test), while the writer also reads before it writes (the
    # full-text index): a transaction that took the write lock late failed "database is
    # locked" here.
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_INTERVAL", 0.0)
    monkeypatch.setattr(sqlite_store, "WAL_RESTART_FRAMES", 1)
    monkeypatch.setattr(sqlite_store, "INDEX_CHUNK", 7)
    path = tmp_path / "s.db"
    async with opened(path) as store:
        reader = sqlite3.connect(path, check_same_thread=False)
        for start in range(0, 600, 30):
            batch = [store.append(_message(n, f"word{n} text"), ()) for n in range(start, start + 30)]
            reader.execute("SELECT COUNT(*) FROM messages").fetchone()
            await asyncio.gather(*batch, store.index_pending(), store.latest_times(["#c"], 0, 2**62))
        reader.close()
        found = await store.search(["#c"], ["word599"], sender=None, after_ms=None, before_ms=None, limit=5)
        assert [m.msgid for m in found] == ["id0599"]
        assert len(await store.query("#c", after=None, before=None, limit=1000, newest_first=False)) == 600
        assert _wal_frames(path) < 600  # started over, not grown by every commit


async def test_a_store_closing_beside_another_user_of_the_database_leaves_the_wal_to_it(tmp_path: Path) -> None:
    # Like `lanchat user add` while the server runs: the closing store cannot empty the WAL
    # (the server still reads from it) and leaves it, losing nothing; the server's own close
    # empties it later.
    path = tmp_path / "s.db"
    async with opened(path) as server:
        await asyncio.gather(*(server.append(_message(n, f"server {n}"), ()) for n in range(50)))
        reader = sqlite3.connect(path, isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM messages").fetchone()  # a read transaction on the WAL
        async with opened(path) as admin:
            await admin.add_account(AccountRecord("bob", "bob", "hash", created_ms=1))
        reader.execute("COMMIT")
        reader.close()
        assert _wal_frames(path) > 0
        assert await server.get_account("bob") is not None
        assert len(await server.query("#c", after=None, before=None, limit=100, newest_first=False)) == 50
    assert _wal_frames(path) == 0


async def test_a_second_store_opens_beside_a_server_that_keeps_writing(tmp_path: Path) -> None:
    # `lanchat user add` while the server stores messages: opening folds the direct-message
    # log left behind (reading it, then writing), and must wait for the server's commits
    # rather than fail "database is locked" when one lands in between.
    path = tmp_path / "s.db"
    server = SqliteStore(path)
    await server.open()
    stop = asyncio.Event()

    async def keep_writing() -> None:
        n = 0
        while not stop.is_set():
            parties = (("ann", "bob", "bob"), ("bob", "ann", "ann"))
            await asyncio.gather(*(server.append(_message(n + i, "dm", "ann|bob"), parties) for i in range(20)))
            n += 20

    writing = asyncio.create_task(keep_writing())
    try:
        for _ in range(15):
            async with opened(path):
                pass
    finally:
        stop.set()
        await writing
        await server.close()


def _open_files_under(folder: Path) -> list[str]:
    """Files in ``folder`` that this process has open (from /proc/self/fd)."""
    out = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = fd.readlink()
        except OSError:  # closed meanwhile (the listing's own fd)
            continue
        if target.parent == folder.resolve():
            out.append(target.name)
    return out


async def test_closing_the_store_closes_every_connection_to_the_database(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db", readers=3)
    await store.open()
    await store.append(_message(1, "hello"), ())
    await store.get_account("ann")  # the event loop's own reader

    async def read() -> None:
        await store.query("#c", after=None, before=None, limit=10, newest_first=False)

    # Reads at once, so that every reader thread opens its connection.
    for _ in range(5):
        await asyncio.gather(*(read() for _ in range(12)))
    # The writer, the loop's reader and three reader threads: one descriptor each on the file.
    assert _open_files_under(tmp_path).count("s.db") >= 5

    await store.close()
    assert _open_files_under(tmp_path) == []
