"""``python -m lanchat.client [HOST[:PORT]] …``: the same as ``lanchat chat …``."""

from __future__ import annotations

import sys

from lanchat.client.app import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
