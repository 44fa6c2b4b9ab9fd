"""A large new file written once, front to back, without filling the page cache.

Packages and staged plaintext are gigabytes that nobody reads back soon. Left
to the kernel, every byte written stays in the page cache as a dirty page until
a later ``fsync`` or memory pressure; the ``fsync`` then waits for all of it,
and the cache evicts what other work needed. In a virtual machine it is worse:
page-cache growth into memory the guest never touched costs a host fault per
page (measured here: writing a new 2 GiB file took 4.9 s of system time when
the cache grew, 0.6–0.8 s when its pages were handed back as below).

So every :data:`WRITE_BEHIND_STEP` bytes :class:`WriteBehindFile` calls
``posix_fadvise(POSIX_FADV_DONTNEED)`` over the last two steps: on Linux this
starts asynchronous write-back of the newest step and drops the pages of the
one before, written back by now (``dd oflag=nocache`` does the same). Advice
only: where the call is missing or fails, the file is written all the same.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

WRITE_BEHIND_STEP = 64 << 20
"""Bytes written between two hand-backs of the written pages to the kernel."""


class WriteBehindFile:
    """A file created (or truncated) at ``path``, written only by :meth:`write`, in order.

    Not thread-safe: one thread writes (e.g. a :class:`DigestWorkers` consumer).

    Raises:
        OSError: ``path`` cannot be created.
    """

    def __init__(self, path: Path) -> None:
        self.fd = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o644
        )
        self.written = 0
        self._advised = 0
        self._dropped = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Write all of ``data``; returns its length in bytes.

        Raises:
            OSError: the write failed (e.g. ENOSPC, the disk is full).
        """
        view = memoryview(data)
        n = len(view)
        while view:
            view = view[os.write(self.fd, view) :]
        self.written += n
        if self.written - self._advised >= WRITE_BEHIND_STEP:
            self._advise(self._dropped, self.written - self._dropped)
            self._dropped, self._advised = self._advised, self.written
        return n

    def _advise(self, offset: int, length: int) -> None:
        with contextlib.suppress(OSError, AttributeError):  # advice only; not on every OS
            os.posix_fadvise(self.fd, offset, length, os.POSIX_FADV_DONTNEED)

    def fsync(self) -> None:
        """Flush everything to stable storage, then drop the file's cached pages.

        Raises:
            OSError: the flush failed (the file's contents are then not durable).
        """
        os.fsync(self.fd)
        self._advise(0, 0)

    def close(self) -> None:
        """Close the file (idempotent); unflushed data is still written back by the kernel."""
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)


def temporary_path(final: Path) -> Path:
    """A new, empty, uniquely named file beside ``final`` (``NAME.XXXXXXXX.part``) to write it in.

    Unique, so two runs writing the same ``final`` never share a temporary file.

    Raises:
        OSError: the folder is missing or not writable.
    """
    import tempfile

    fd, name = tempfile.mkstemp(dir=final.parent, prefix=final.name + ".", suffix=".part")
    os.close(fd)
    return Path(name)


def publish(tmp: Path, final: Path) -> None:
    """Give the finished file ``tmp`` its name ``final``, never replacing an existing file.

    A hard link makes the name appear atomically and fails if it exists; where
    the file system has no hard links, the file is renamed after a check.

    Raises:
        FileExistsError: ``final`` appeared meanwhile (``tmp`` is left in place).
        OSError: the name could not be made.
    """
    try:
        os.link(tmp, final)
    except FileExistsError:
        raise
    except OSError:
        if final.exists():
            raise FileExistsError(17, "File exists", str(final)) from None
        os.replace(tmp, final)
        return
    tmp.unlink()
    fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish_package(tmp: Path, final: Path) -> None:
    """:func:`publish` for a package file: the user's ``--out``.

    Raises:
        UsageError: ``final`` was created meanwhile (another run); ``tmp`` is left for the caller to delete.
        OSError: the name could not be made.
    """
    from rogatory.errors import UsageError

    try:
        publish(tmp, final)
    except FileExistsError:
        raise UsageError(
            f"{final} was created by another run while this package was written",
            "choose another --out; this package was not kept",
        ) from None
