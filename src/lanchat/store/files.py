"""The uploads folder: shared files stored under names the server chooses."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

_UPLOAD_ID = re.compile(r"[0-9a-f]{32}\Z")


class TooLarge(Exception):
    """The upload went over the size limit (nothing was kept)."""


class UploadFolder:
    """Writes uploads to ``folder/<random id>`` and finds them again; nothing else is reachable."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def save(self, chunks: AsyncIterator[bytes], limit: int) -> tuple[str, int]:
        """Store the bytes; returns (id, size). Raises :class:`TooLarge` past ``limit`` bytes."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        upload_id = secrets.token_hex(16)
        partial = self.folder / f"{upload_id}.part"
        size = 0
        try:
            with partial.open("wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > limit:
                        raise TooLarge(f"over {limit} bytes")
                    out.write(chunk)
            os.replace(partial, self.folder / upload_id)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return upload_id, size

    def path(self, upload_id: str) -> Path | None:
        """The file of an upload id, or None for anything that is not one."""
        if not _UPLOAD_ID.match(upload_id):
            return None
        path = self.folder / upload_id
        return path if path.is_file() else None
