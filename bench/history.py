"""The history scenario.

1. Bulk load: ``python -m bench.history load`` (run pinned to the server CPU) appends N
   messages through lanchat's own store (``SqliteStore.append``: the writer thread's group
   commit, as the server uses it) with up to W appends in flight, like W senders waiting for
   their messages to be stored, and reports messages stored per second. Half the messages go
   to ``#big``, the rest to 99 other channels.
2. Latency: lanchat is started on that data folder and one client (on the load CPU) asks
   ``CHATHISTORY LATEST #big * 50`` and ``CHATHISTORY BEFORE #big msgid=… 50`` (a random
   stored message) one at a time, timing each from the request to the end of its batch.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

from bench.ircclient import IrcConnection, IrcError, latency_summary

BIG = "#big"
OTHER_CHANNELS = 99
SAMPLE = 5000
PAGE = 50
#: Bytes asked for per read while waiting for a CHATHISTORY batch.
READ_CHUNK = 1 << 16
TEXT = "history benchmark message with some ordinary chat text in it, number {i}"


async def load_messages(data_dir: Path, count: int, window: int, seed: int, synchronous: str) -> dict[str, Any]:
    """Append ``count`` messages through SqliteStore and time it."""
    from lanchat.core.events import StoredMessage
    from lanchat.core.ids import new_msgid
    from lanchat.core.model import Actor
    from lanchat.store.sqlite import SqliteStore

    store = SqliteStore(data_dir / "lanchat.db", synchronous=synchronous.upper())
    await store.open()
    rng = random.Random(seed)
    actors = [Actor(f"talker{i}", f"~talker{i}", "127.0.0.1", f"talker{i}" if i % 2 else None) for i in range(500)]
    base_ms = int(time.time() * 1000) - count - 60_000
    sample: list[str] = []
    big_seen = 0
    inflight: collections.deque[Any] = collections.deque()
    started = time.perf_counter()
    for i in range(count):
        ms = base_ms + i
        target = BIG if i % 2 == 0 else f"#c{rng.randrange(OTHER_CHANNELS)}"
        msgid = new_msgid(ms)
        record = StoredMessage(msgid, ms, "PRIVMSG", rng.choice(actors), target, target, TEXT.format(i=i))
        if target == BIG and i >= count // 10:
            # reservoir sample of #big msgids with at least PAGE older messages before them
            big_seen += 1
            if len(sample) < SAMPLE:
                sample.append(msgid)
            else:
                slot = rng.randrange(big_seen)
                if slot < SAMPLE:
                    sample[slot] = msgid
        inflight.append(store.append(record, ()))
        if len(inflight) >= window:
            await inflight.popleft()
    while inflight:
        await inflight.popleft()
    elapsed = time.perf_counter() - started
    batches, mean_batch = _batch_stats(store)
    await store.close()
    return {
        "count": count,
        "window": window,
        "seconds": round(elapsed, 3),
        "stored_per_s": round(count / elapsed, 1),
        "batches": batches,
        "mean_batch": mean_batch,
        "synchronous": synchronous,
        "sample": sample,
    }


def _batch_stats(store: object) -> tuple[int | None, float | None]:
    """Commits and mean messages per commit, from whichever statistics the store keeps."""
    stats: Any = getattr(store, "batch_stats", None)
    if stats is not None and hasattr(stats, "observations") and stats.observations:
        return int(stats.observations), round(float(stats.total) / stats.observations, 1)
    sizes: Any = getattr(store, "batch_sizes", None)
    if sizes:
        return None, round(sum(sizes) / len(sizes), 1)  # only the latest batches are kept
    return None, None


async def _one_query(conn: IrcConnection, line: str, within: float) -> tuple[float, int]:
    """Send one CHATHISTORY request; return (seconds until its batch ended, messages).

    It reads raw chunks and looks at each line's tags, command and first parameters only: the
    line-by-line client (an asyncio wait and a full parse per line) took longer than the server
    itself (LATEST 50 at 200,000 messages, p50 4.8 ms with it against 1.8 ms with raw reads)."""
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    conn.send(line)
    await conn.drain()
    deadline = loop.time() + within
    ref = b""
    messages = 0
    pending = b""
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise TimeoutError(f"no answer to {line!r} within {within:g} s")
        chunk = await asyncio.wait_for(conn.reader.read(READ_CHUNK), timeout=remaining)
        if not chunk:
            raise IrcError("connection closed by the server")
        *lines, pending = (pending + chunk).split(b"\r\n")
        for raw in lines:
            tags, command, params = _head(raw)
            if command == b"BATCH" and params:
                if params[0].startswith(b"+") and params[1:2] == [b"chathistory"] and not ref:
                    ref = params[0][1:]
                elif ref and params[0] == b"-" + ref:
                    return time.perf_counter() - started, messages
            elif command in (b"PRIVMSG", b"NOTICE") and ref and b"batch=" + ref in tags.split(b";"):
                messages += 1
            elif command == b"PING":
                conn.send("PONG :" + raw.rpartition(b" ")[2].lstrip(b":").decode("utf-8", "replace"))
            elif command == b"FAIL":
                raise IrcError(f"{line!r}: {raw.decode('utf-8', 'replace')}")


def _head(raw: bytes) -> tuple[bytes, bytes, list[bytes]]:
    """(tags, command, the first two parameters) of a line, without parsing the rest."""
    tags = b""
    if raw.startswith(b"@"):
        tags, _, raw = raw.partition(b" ")
        tags = tags[1:]
    if raw.startswith(b":"):
        raw = raw.partition(b" ")[2]
    words = raw.split(b" ", 3)
    return tags, words[0].upper(), words[1:3]


async def measure_latency(
    port: int, sample: list[str], queries: int, warmup: int, seed: int, within: float = 10.0
) -> dict[str, Any]:
    """LATEST and BEFORE latencies (ms), alternating, ``queries`` of each after a warm-up."""
    rng = random.Random(seed)
    conn = await IrcConnection.open(port)
    try:
        await conn.register(
            "histbench", want_caps=("batch", "server-time", "message-tags", "draft/chathistory"), within=within
        )
        if "batch" not in conn.caps:
            raise IrcError("the server did not grant the batch capability")
        await conn.join([BIG], within=within)
        times: dict[str, list[float]] = {"latest": [], "before": []}
        short = 0
        loop = asyncio.get_running_loop()
        limit_at = loop.time() + 300
        for n in range(warmup + queries):
            if loop.time() > limit_at:
                break
            for kind in ("latest", "before"):
                if kind == "latest":
                    line = f"CHATHISTORY LATEST {BIG} * {PAGE}"
                else:
                    line = f"CHATHISTORY BEFORE {BIG} msgid={rng.choice(sample)} {PAGE}"
                seconds, got = await _one_query(conn, line, within)
                if n >= warmup:
                    times[kind].append(seconds * 1000)
                    if got != PAGE:
                        short += 1
    finally:
        await conn.close()
    return {
        "page": PAGE,
        "latest_ms": latency_summary(times["latest"]),
        "before_ms": latency_summary(times["before"]),
        "short_pages": short,
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.history load --data DIR --count N --out FILE``."""
    parser = argparse.ArgumentParser(prog="python -m bench.history")
    sub = parser.add_subparsers(dest="command", required=True)
    load = sub.add_parser("load", help="append messages through lanchat's store and time it")
    load.add_argument("--data", type=Path, required=True)
    load.add_argument("--count", type=int, default=1_000_000)
    load.add_argument("--window", type=int, default=1000)
    load.add_argument("--seed", type=int, default=1)
    load.add_argument("--synchronous", default="normal")
    load.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if not 1 <= args.count <= 50_000_000 or not 1 <= args.window <= 100_000:
        parser.error("count must be 1..50M and window 1..100000")
    args.data.mkdir(mode=0o700, parents=True, exist_ok=True)
    coro = load_messages(args.data, args.count, args.window, args.seed, args.synchronous)
    try:
        import uvloop

        result = uvloop.run(coro)
    except ImportError:
        result = asyncio.run(coro)
    result["db_bytes"] = sum(p.stat().st_size for p in args.data.glob("lanchat.db*"))
    args.out.write_text(json.dumps(result))
    print(f"stored {result['count']} messages in {result['seconds']} s: {result['stored_per_s']}/s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
