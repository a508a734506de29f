"""Split a byte stream into IRC lines, bounding how much one line may buffer."""

from __future__ import annotations

from lanchat.proto.message import MAX_BODY_BYTES, MAX_TAGS_BYTES

#: The longest line that can be valid: a full tags section plus a full body.
MAX_LINE_BYTES = MAX_TAGS_BYTES + MAX_BODY_BYTES


class OverlongLine:
    """Marker yielded in place of a line that exceeded :data:`MAX_LINE_BYTES`."""

    __slots__ = ()


OVERLONG = OverlongLine()


class LineReader:
    """Incremental line splitter: ``feed()`` bytes, get complete lines back.

    Lines end in LF (a CR before it is dropped); empty lines are skipped. A line longer than
    ``max_line`` is discarded up to its end and reported once as :data:`OVERLONG`, so a peer
    cannot make the buffer grow without bound.
    """

    __slots__ = ("_buf", "_discarding", "_max")

    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        self._buf = b""
        self._discarding = False
        self._max = max_line

    def feed(self, data: bytes) -> list[bytes | OverlongLine]:
        """Add received bytes; return the lines they completed, in order."""
        if b"\n" not in data:
            if self._discarding:
                return []
            if len(self._buf) + len(data) > self._max:
                self._buf = b""
                self._discarding = True
                return [OVERLONG]
            self._buf += data
            return []
        pieces = (self._buf + data).split(b"\n")
        self._buf = b""
        out: list[bytes | OverlongLine] = []
        last = pieces.pop()
        for i, line in enumerate(pieces):
            if self._discarding and i == 0:
                self._discarding = False
                continue
            if line.endswith(b"\r"):
                line = line[:-1]
            if len(line) > self._max:
                out.append(OVERLONG)
            elif line:
                out.append(line)
        if len(last) > self._max:
            self._discarding = True
            out.append(OVERLONG)
        else:
            self._buf = last
        return out

    @property
    def pending(self) -> int:
        """Bytes buffered for an incomplete line."""
        return len(self._buf)
