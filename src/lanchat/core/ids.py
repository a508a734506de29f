"""Message ids: time-ordered, unique, tag-safe (48 bits of ms then 80 random bits, base32hex)."""

from __future__ import annotations

import base64
import random
import time

_random = random.SystemRandom().getrandbits(64)
_rng = random.Random(_random)  # seeded from the OS once: fast, unpredictable enough for ids


def new_msgid(now_ms: int | None = None) -> str:
    """A 26-character id that sorts by time (base32hex keeps the byte order)."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = ((ms & 0xFFFFFFFFFFFF) << 80) | _rng.getrandbits(80)
    return base64.b32hexencode(value.to_bytes(16, "big")).decode("ascii")[:26]
