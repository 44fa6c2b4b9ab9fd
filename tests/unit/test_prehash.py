"""Early hashing at start-up: used only when the file is provably unchanged."""

import hashlib
import os
from pathlib import Path

import pytest

from rogatory.evidence import prehash


@pytest.fixture
def big(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(prehash, "MIN_SIZE", 1000)
    f = tmp_path / "image.raw"
    f.write_bytes(os.urandom(3 << 20))
    return f


def test_result_used_when_unchanged(big: Path) -> None:
    prehash.start([str(big)], ["sha256", "md5"])
    got = prehash.take(str(big), os.stat(big), ["sha256", "md5"])
    data = big.read_bytes()
    assert got == {"sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest()}
    assert prehash.take(str(big), os.stat(big), ["sha256", "md5"]) is None, "a result is used once"


def test_result_refused_when_the_file_changed(big: Path) -> None:
    prehash.start([str(big)], ["sha256"])
    job = prehash._jobs[os.path.realpath(big)]
    assert job.thread is not None
    job.thread.join()
    with open(big, "r+b") as f:  # same size, new bytes, mtime and ctime move
        f.write(b"tampered")
    assert prehash.take(str(big), os.stat(big), ["sha256"]) is None


def test_result_refused_for_other_algorithms_and_small_files(big: Path, tmp_path: Path) -> None:
    prehash.start([str(big)], ["sha256"])
    assert prehash.take(str(big), os.stat(big), ["sha256", "sha1"]) is None
    small = tmp_path / "small"
    small.write_bytes(b"x")
    prehash.start([str(small)], ["sha256"])
    assert prehash.take(str(small), os.stat(small), ["sha256"]) is None
    prehash.start([str(big)], ["blake3"])
    assert prehash.take(str(big), os.stat(big), ["blake3"]) is None
