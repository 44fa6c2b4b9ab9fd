"""The federation server's upload writer: bytes and running hash stay exact; a disk
error is raised, marks the hash untrustworthy and writes nothing after the gap."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from rogatory.server.federation import StagingAppender


def _chunks(total: int, size: int) -> list[bytes]:
    return [os.urandom(min(size, total - i)) for i in range(0, total, size)]


def test_bytes_and_hash_match_across_batches(tmp_path: Path) -> None:
    target = tmp_path / "staged"
    target.write_bytes(b"held before")  # a resumed upload appends
    hasher = hashlib.sha256(b"held before")
    chunks = _chunks(9 * StagingAppender.BATCH_BYTES // 4 + 123, 256 * 1024 + 7)

    async def run() -> StagingAppender:
        fd = os.open(target, os.O_WRONLY | os.O_APPEND)
        sink = StagingAppender(fd, hasher)
        try:
            for c in chunks:
                await sink.add(c)
            await sink.close()
        finally:
            sink.release()
        return sink

    sink = asyncio.run(run())
    expected = b"held before" + b"".join(chunks)
    assert not sink.failed
    assert target.read_bytes() == expected
    assert hasher.hexdigest() == hashlib.sha256(expected).hexdigest()


def test_disk_full_is_raised_and_marks_the_hash(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    hasher = hashlib.sha256()

    async def run() -> StagingAppender:
        fd = os.open("/dev/full", os.O_WRONLY)
        sink = StagingAppender(fd, hasher)
        try:
            with pytest.raises(OSError) as info:
                for _ in range(3):
                    await sink.add(b"x" * StagingAppender.BATCH_BYTES)
                await sink.close()
            assert info.value.errno is not None
        finally:
            sink.release()
        return sink

    sink = asyncio.run(run())
    assert sink.failed


def test_release_waits_for_a_running_write_before_closing(tmp_path: Path) -> None:
    target = tmp_path / "staged"
    target.touch()

    async def run() -> tuple[StagingAppender, int]:
        fd = os.open(target, os.O_WRONLY | os.O_APPEND)
        sink = StagingAppender(fd, hashlib.sha256())
        await sink.add(b"y" * StagingAppender.BATCH_BYTES)  # now writing on the worker thread
        sink.release()  # abandoned (a cancelled request): must not close under the writer
        await asyncio.sleep(0.5)
        return sink, fd

    sink, fd = asyncio.run(run())
    assert sink.failed  # the running hash is not trusted after an abandoned batch
    assert target.stat().st_size == StagingAppender.BATCH_BYTES
    with pytest.raises(OSError):
        os.fstat(fd)  # closed once the write ended
