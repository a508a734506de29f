"""Message ids: time-ordered, unique, tag-safe (48 bits of ms then 80 random bits, in hex)."""

from __future__ import annotations

import random
import time

_random = random.SystemRandom().getrandbits(64)
_rng = random.Random(_random)  # seeded from the OS once: fast, unpredictable enough for ids


def new_msgid(now_ms: int | None = None) -> str:
    """A 32-character hex id that sorts by time."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    return f"{ms & 0xFFFFFFFFFFFF:012x}{_rng.getrandbits(80):020x}"
