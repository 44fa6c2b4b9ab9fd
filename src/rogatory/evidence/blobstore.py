"""Content-addressed blob store on a local directory.

Layout: ``<root>/sha256/<aa>/<bb>/<64 hex>`` for a blob whose SHA-256 is that
hex; ``<root>/tmp/`` for writes in progress. A write goes to a temp file, is
fsynced, renamed into place and made read-only (0444); the directory is fsynced
too. A blob that already exists is not written again (de-duplication). A
process killed mid-write leaves only a temp file named after its pid, which
:meth:`BlobStore.sweep` removes once that process is gone; a partial blob is
never visible under its hash.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import stat
from pathlib import Path

from rogatory.errors import IntakeError, StorageFullError


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobWriter:
    """One blob being written. Use :meth:`write`, then :meth:`commit` or :meth:`abort`."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self.tmp = store.tmp_dir / f"{os.getpid()}-{secrets.token_hex(8)}.part"
        self.fd: int | None = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)

    def write(self, data: bytes | memoryview) -> None:
        """Append ``data``.

        Raises:
            StorageFullError: the file system is full (the temp file is removed).
            OSError: any other write error.
        """
        assert self.fd is not None
        view = memoryview(data)
        try:
            while view:
                n = os.write(self.fd, view)
                view = view[n:]
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                self.abort()
                raise StorageFullError(
                    f"the evidence store at {self.store.root} is full",
                    "free space there or take the evidence in with --in-place; nothing was recorded",
                ) from exc
            raise

    def commit(self, sha256: str) -> tuple[Path, bool]:
        """Make the blob durable under ``sha256``.

        Returns:
            (blob path, whether it was new; ``False`` means an identical blob existed)
        """
        assert self.fd is not None
        try:
            os.fsync(self.fd)
        except OSError as exc:
            self.abort()
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFullError(
                    f"the evidence store at {self.store.root} is full",
                    "free space there or take the evidence in with --in-place; nothing was recorded",
                ) from exc
            raise
        os.close(self.fd)
        self.fd = None
        target = self.store.path_for(sha256)
        if target.exists() and self.store.intact(sha256):
            self.tmp.unlink()
            return target, False
        # new, or an existing blob that no longer matches its name: (re)place it
        self.store.make_dirs(target.parent)
        os.chmod(self.tmp, 0o444)
        os.replace(self.tmp, target)
        _fsync_dir(target.parent)
        return target, True

    def abort(self) -> None:
        """Drop the partial blob (idempotent)."""
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()


class BlobStore:
    """A content-addressed store of evidence bytes under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp_dir = root / "tmp"
        try:
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise IntakeError(
                f"cannot create the evidence store at {root}: {exc.strerror}",
                "check the path and its permissions",
            ) from exc

    def path_for(self, sha256: str) -> Path:
        """Where the blob with this SHA-256 (64 lower-case hex) lives."""
        return self.root / "sha256" / sha256[:2] / sha256[2:4] / sha256

    def has(self, sha256: str) -> bool:
        """Whether an intact blob is stored under this hash (see :meth:`intact`): a damaged
        or substituted blob counts as absent, so the next intake of those bytes repairs it."""
        return self.intact(sha256)

    def intact(self, sha256: str) -> bool:
        """Whether the blob exists, is a regular file (not a symlink) and hashes to its name."""
        path = self.path_for(sha256)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return False
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return False
            h = hashlib.sha256()
            while block := os.read(fd, 1 << 20):
                h.update(block)
            return h.hexdigest() == sha256
        finally:
            os.close(fd)

    def adopt(self, path: Path, sha256: str) -> tuple[Path, bool]:
        """Move a file already verified to hash to ``sha256`` (e.g. a staged import,
        on the same file system) into the store, as durably as :meth:`BlobWriter.commit`:
        fsynced, made read-only, renamed under its hash, the directory fsynced. An intact
        blob already stored under that hash is kept and ``path`` is deleted.

        Returns:
            (blob path, whether it was new)

        Raises:
            OSError: fsync, rename or the directory update failed (``path`` is left as it was).
        """
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        target = self.path_for(sha256)
        if target.exists() and self.intact(sha256):
            path.unlink()
            return target, False
        self.make_dirs(target.parent)
        os.chmod(path, 0o444)
        os.replace(path, target)
        _fsync_dir(target.parent)
        return target, True

    def make_dirs(self, directory: Path) -> None:
        """Create ``directory`` and its missing parents under the store, fsyncing each
        new entry in its parent so a committed blob's path survives a power loss."""
        missing: list[Path] = []
        d = directory
        while not d.exists():
            missing.append(d)
            d = d.parent
        for new in reversed(missing):
            try:
                new.mkdir()
            except FileExistsError:
                continue
            _fsync_dir(new.parent)

    def writer(self) -> BlobWriter:
        """Start a new blob write."""
        return BlobWriter(self)

    def sweep(self) -> list[Path]:
        """Remove temp files left by processes that no longer run; return them."""
        removed: list[Path] = []
        for p in self.tmp_dir.glob("*.part"):
            pid_text = p.name.split("-", 1)[0]
            if (
                pid_text.isdigit()
                and int(pid_text) != os.getpid()
                and not _pid_alive(int(pid_text))
            ):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
                    removed.append(p)
        return removed
