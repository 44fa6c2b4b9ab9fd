"""Streaming multi-hash: one read of the bytes feeds every digest (and a copy).

SHA-256 is the primary digest; SHA-1 and MD5 are kept because EWF images and
older tools quote them; BLAKE3 is optional (``pip install 'rogatory[blake3]'``)
and never replaces SHA-256 (it is not in UCO's HashNameVocab).

Large streams are fanned out to one thread per digest (and one for the copy):
``hashlib`` releases the GIL on buffers over 2 KiB, so MD5, SHA-1 and SHA-256
run on separate cores. Memory is bounded by ``QUEUE_DEPTH`` blocks of
``BLOCK_SIZE`` bytes, whatever the stream's length.
"""

from __future__ import annotations

import functools
import hashlib
import queue
import threading
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO, Protocol, TypeAlias

from rogatory.errors import UsageError

BLOCK_SIZE = 1 << 20
"""Bytes per read (1 MiB)."""
QUEUE_DEPTH = 8
"""Blocks buffered per consumer thread; bounds memory to QUEUE_DEPTH × BLOCK_SIZE."""
THREADED_MIN_SIZE = 8 << 20
"""Streams at least this long (bytes) use one thread per digest."""


class Hasher(Protocol):
    """The part of a hashlib object we use."""

    def update(self, data: bytes | memoryview, /) -> None: ...
    def hexdigest(self) -> str: ...


DIGEST_HEX_LENGTHS = {"sha256": 64, "sha1": 40, "md5": 32, "blake3": 64}
"""Length in hex characters of each digest this module computes."""

HashConstructor: TypeAlias = Callable[[bytes], Hasher]
"""Makes a digest object already fed with the given bytes, e.g. ``hashlib.sha256``."""


def hash_constructor(name: str) -> HashConstructor:
    """The direct constructor for ``sha256``, ``sha1``, ``md5`` or ``blake3``.

    Calling it with a buffer returns a digest object that has consumed the
    buffer. The ``hashlib`` constructors are used directly: ``hashlib.new``
    dispatches by name on every call, which costs microseconds per small file.
    SHA-1 and MD5 are marked ``usedforsecurity=False`` (they stay usable under
    a FIPS-restricted OpenSSL).

    Raises:
        UsageError: unknown name, or ``blake3`` without the ``blake3`` package.
    """
    if name == "sha256":
        return hashlib.sha256
    if name == "sha1":
        return functools.partial(hashlib.sha1, usedforsecurity=False)
    if name == "md5":
        return functools.partial(hashlib.md5, usedforsecurity=False)
    if name == "blake3":
        try:
            import blake3
        except ImportError as exc:
            raise UsageError(
                "BLAKE3 was asked for but the blake3 package is not installed",
                "pip install 'rogatory[blake3]', or remove blake3 from the algorithms",
            ) from exc
        ctor: Any = blake3.blake3
        return ctor  # type: ignore[no-any-return]
    raise UsageError(f"unknown digest {name!r}", "use sha256, sha1, md5 or blake3")


def new_hasher(name: str) -> Hasher:
    """A fresh digest object for ``sha256``, ``sha1``, ``md5`` or ``blake3``.

    Raises:
        UsageError: unknown name, or ``blake3`` without the ``blake3`` package.
    """
    return hash_constructor(name)(b"")


class _Consumer(threading.Thread):
    """Applies ``fn`` to every block put on its queue; keeps the first error."""

    def __init__(self, fn: Callable[[bytes], object]) -> None:
        super().__init__(daemon=True)
        self.fn = fn
        self.q: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUE_DEPTH)
        self.error: BaseException | None = None

    def run(self) -> None:
        while True:
            block = self.q.get()
            if block is None:
                return
            if self.error is None:
                try:
                    self.fn(block)
                except BaseException as exc:
                    self.error = exc


def digest_stream(
    stream: BinaryIO,
    algorithms: Iterable[str],
    *,
    sink: Callable[[bytes], object] | None = None,
    progress: Callable[[int], object] | None = None,
    size_hint: int = 0,
) -> tuple[dict[str, str], int]:
    """Read ``stream`` to its end once, computing every digest in ``algorithms``.

    Args:
        stream: an unbuffered or buffered binary file opened for reading.
        algorithms: digest names (see :func:`new_hasher`).
        sink: called with every block in order (e.g. a blob writer), or ``None``.
        progress: called with the byte count of every block read.
        size_hint: expected length in bytes; streams of at least
            ``THREADED_MIN_SIZE`` use one thread per digest.

    Returns:
        (lower-case hex digest per algorithm, number of bytes read)

    Raises:
        OSError: from reading the stream or from the sink; the first error
            stops the read.
    """
    hashers = {name: new_hasher(name) for name in algorithms}
    consumers: list[Callable[[bytes], object]] = [h.update for h in hashers.values()]
    if sink is not None:
        consumers.append(sink)
    total = 0
    if len(consumers) == 1 or size_hint < THREADED_MIN_SIZE:
        buf = bytearray(BLOCK_SIZE)
        view = memoryview(buf)
        while n := stream.readinto(view):  # type: ignore[attr-defined]
            chunk = view[:n]
            for fn in consumers:
                fn(chunk)  # type: ignore[arg-type]
            total += n
            if progress is not None:
                progress(n)
        return {k: h.hexdigest() for k, h in hashers.items()}, total

    workers = [_Consumer(fn) for fn in consumers]
    for w in workers:
        w.start()
    try:
        while block := stream.read(BLOCK_SIZE):
            for w in workers:
                w.q.put(block)
            total += len(block)
            if progress is not None:
                progress(len(block))
            failed = next((w.error for w in workers if w.error is not None), None)
            if failed is not None:
                raise failed
    finally:
        for w in workers:
            w.q.put(None)
        for w in workers:
            w.join()
    failed = next((w.error for w in workers if w.error is not None), None)
    if failed is not None:
        raise failed
    return {k: h.hexdigest() for k, h in hashers.items()}, total


def digest_bytes(data: bytes, algorithms: Iterable[str]) -> dict[str, str]:
    """Digests of an in-memory buffer (small files): algorithm → lower-case hex.

    Raises:
        UsageError: an unknown algorithm (see :func:`hash_constructor`).
    """
    return {name: hash_constructor(name)(data).hexdigest() for name in algorithms}
