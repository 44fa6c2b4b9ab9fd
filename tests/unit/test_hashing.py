import hashlib
import io
import os

import pytest

from rogatory.evidence import hashing
from rogatory.evidence.hashing import digest_bytes, digest_stream


@pytest.mark.parametrize(
    "size", [0, 1, 4096, hashing.BLOCK_SIZE + 7, hashing.THREADED_MIN_SIZE + 12345]
)
def test_one_read_gives_every_digest(size: int) -> None:
    data = os.urandom(size)
    seen = bytearray()
    progress: list[int] = []
    digests, n = digest_stream(
        io.BytesIO(data),
        ["sha256", "sha1", "md5", "blake3"],
        sink=seen.extend,
        progress=progress.append,
        size_hint=size,
    )
    assert n == size == sum(progress)
    assert bytes(seen) == data
    assert digests["sha256"] == hashlib.sha256(data).hexdigest()
    assert digests["sha1"] == hashlib.sha1(data).hexdigest()
    assert digests["md5"] == hashlib.md5(data).hexdigest()
    import blake3

    assert digests["blake3"] == blake3.blake3(data).hexdigest()
    assert digest_bytes(data, ["sha256"])["sha256"] == digests["sha256"]


def test_sink_error_stops_the_threaded_read() -> None:
    calls = 0

    def sink(block: bytes) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError(28, "No space left on device")

    size = hashing.THREADED_MIN_SIZE * 4
    with pytest.raises(OSError, match="No space"):
        digest_stream(io.BytesIO(bytes(size)), ["sha256", "md5"], sink=sink, size_hint=size)
    assert calls < size // hashing.BLOCK_SIZE


def test_known_vector() -> None:
    # FIPS 180-2 appendix B.1 "abc"
    assert (
        digest_bytes(b"abc", ["sha256"])["sha256"]
        == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
