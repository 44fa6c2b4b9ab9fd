import errno
import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from rogatory.errors import StorageFullError
from rogatory.evidence.blobstore import BlobStore


def test_commit_is_content_addressed_read_only_and_deduplicated(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    data = b"evidence bytes"
    digest = hashlib.sha256(data).hexdigest()
    w = store.writer()
    w.write(data)
    path, new = w.commit(digest)
    assert new and path == tmp_path / "sha256" / digest[:2] / digest[2:4] / digest
    assert path.read_bytes() == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    w2 = store.writer()
    w2.write(data)
    _, new2 = w2.commit(digest)
    assert not new2
    assert list(store.tmp_dir.iterdir()) == []


def test_disk_full_removes_partial_blob(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = BlobStore(tmp_path)
    w = store.writer()
    real_write = os.write

    def full(fd: int, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(StorageFullError, match="is full"):
        w.write(b"x" * 10)
    monkeypatch.setattr(os, "write", real_write)
    assert list(store.tmp_dir.iterdir()) == []
    assert not (tmp_path / "sha256").exists()


def test_sweep_removes_temp_files_of_dead_processes_only(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)
    stale = store.tmp_dir / f"{dead_pid}-abcd.part"
    stale.write_bytes(b"half a blob")
    mine = store.writer()
    mine.write(b"in progress")
    removed = store.sweep()
    assert removed == [stale]
    assert mine.tmp.exists()
    mine.abort()


def test_adopt_moves_a_verified_file_in_durably_and_dedupes(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    data = b"staged plaintext"
    sha = hashlib.sha256(data).hexdigest()
    staged = store.tmp_dir / "one"
    staged.write_bytes(data)
    path, new = store.adopt(staged, sha)
    assert new and path == store.path_for(sha) and path.read_bytes() == data
    assert not staged.exists() and (path.stat().st_mode & 0o777) == 0o444
    again = store.tmp_dir / "two"
    again.write_bytes(data)
    assert store.adopt(again, sha) == (path, False) and not again.exists()
