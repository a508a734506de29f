"""The uploads folder: shared files stored under names the server chooses.

Each account may keep up to a quota of shared bytes, and no upload may bring the free space of
the folder's file system under a floor. What an account has shared comes from the uploads
table (:meth:`UploadFolder.remember_usage`); uploads in progress count as they arrive.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

_UPLOAD_ID = re.compile(r"[0-9a-f]{32}\Z")


class UploadRefused(Exception):
    """An upload the folder does not take (nothing was kept)."""


class TooLarge(UploadRefused):
    """The upload went over the size limit of one file."""


class QuotaExceeded(UploadRefused):
    """The upload would take the account over its quota; ``used`` and ``quota`` in bytes."""

    def __init__(self, used: int, quota: int) -> None:
        super().__init__(f"{used} of {quota} bytes used")
        self.used = used
        self.quota = quota


class LowDiskSpace(UploadRefused):
    """The upload would leave less free disk space than the configured floor."""


class UploadFolder:
    """Writes uploads to ``folder/<random id>`` and finds them again; nothing else is reachable.

    ``quota`` is the most bytes one account may have shared (0: no limit); ``min_free`` the
    free bytes the folder's file system keeps (0: no floor).
    """

    def __init__(self, folder: Path, *, quota: int = 0, min_free: int = 0) -> None:
        self.folder = folder
        self.quota = quota
        self.min_free = min_free
        #: Bytes shared per account: read from the store once, then kept up to date here.
        self._stored: dict[str, int] = {}
        #: Bytes received so far by uploads still in progress, per account.
        self._receiving: defaultdict[str, int] = defaultdict(int)

    def knows_usage(self, account: str) -> bool:
        """True once the account's stored usage has been given (:meth:`remember_usage`)."""
        return account in self._stored

    def remember_usage(self, account: str, stored_bytes: int) -> None:
        """What the account had shared before (from the store), unless already known."""
        self._stored.setdefault(account, stored_bytes)

    def usage(self, account: str) -> int:
        """Bytes the account has shared, counting uploads still in progress."""
        return self._stored.get(account, 0) + self._receiving.get(account, 0)

    def check(self, account: str, size: int) -> None:
        """Refuse early an upload of ``size`` bytes by ``account`` that could not fit.

        Raises :class:`QuotaExceeded` or :class:`LowDiskSpace`.
        """
        self._check_quota(account, size)
        if self.min_free:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._check_disk(size)

    async def save(self, chunks: AsyncIterator[bytes], limit: int, account: str = "") -> tuple[str, int]:
        """Store the bytes; returns (id, size), and counts them in the account's usage.

        Raises :class:`TooLarge` past ``limit`` bytes, :class:`QuotaExceeded` past the
        account's quota and :class:`LowDiskSpace` when the disk fills up; nothing is kept then.
        """
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        upload_id = secrets.token_hex(16)
        partial = self.folder / f"{upload_id}.part"
        size = 0
        counted = 0  # bytes of this upload in self._receiving
        try:
            with partial.open("wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > limit:
                        raise TooLarge(f"over {limit} bytes")
                    self._check_quota(account, len(chunk))
                    self._check_disk(len(chunk))
                    self._receiving[account] += len(chunk)
                    counted += len(chunk)
                    out.write(chunk)
            os.replace(partial, self.folder / upload_id)
            self._stored[account] = self._stored.get(account, 0) + size
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        finally:
            self._receiving[account] -= counted
            if not self._receiving[account]:
                del self._receiving[account]
        return upload_id, size

    def path(self, upload_id: str) -> Path | None:
        """The file of an upload id, or None for anything that is not one."""
        if not _UPLOAD_ID.match(upload_id):
            return None
        path = self.folder / upload_id
        return path if path.is_file() else None

    # -- limits ----------------------------------------------------------------------------

    def _check_quota(self, account: str, more: int) -> None:
        if self.quota and account:
            used = self.usage(account)
            if used + more > self.quota:
                raise QuotaExceeded(used, self.quota)

    def _check_disk(self, more: int) -> None:
        if self.min_free and shutil.disk_usage(self.folder).free - more < self.min_free:
            raise LowDiskSpace(f"less than {self.min_free} bytes would be left")
