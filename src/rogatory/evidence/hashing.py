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
import os
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


class DigestWorkers:
    """Digests of a stream fed block by block, each computed on a worker thread of its own.

    The feeding thread only queues blocks (at most ``QUEUE_DEPTH`` per digest,
    so memory stays bounded by QUEUE_DEPTH × block size); ``hashlib`` releases
    the GIL on large buffers, so the digests run on other cores while the feeder
    does its own work (e.g. writing the bytes out). Use as a context manager, or
    call :meth:`close` (always) and :meth:`hexdigests` (on success).
    """

    def __init__(
        self, algorithms: Iterable[str], extra: Iterable[Callable[[bytes], object]] = ()
    ) -> None:
        """Start one thread per digest in ``algorithms`` and one per callable in ``extra``
        (called with every block, in order, e.g. a file writer).

        Raises:
            UsageError: an unknown algorithm (see :func:`hash_constructor`).
        """
        self.hashers = {name: new_hasher(name) for name in algorithms}
        self.workers = [_Consumer(h.update) for h in self.hashers.values()]
        self.workers += [_Consumer(fn) for fn in extra]
        for w in self.workers:
            w.start()
        self.closed = False

    def update(self, block: bytes | bytearray | memoryview) -> None:
        """Queue ``block`` for every worker (copied when mutable: the caller may reuse it).

        Raises:
            BaseException: the first error a worker met (e.g. an ``OSError`` of a writer).
        """
        data = block if isinstance(block, bytes) else bytes(block)
        for w in self.workers:
            w.q.put(data)
        self.check()

    def check(self) -> None:
        """Raise the first error a worker met, if any."""
        failed = next((w.error for w in self.workers if w.error is not None), None)
        if failed is not None:
            raise failed

    def close(self) -> None:
        """Let every worker finish the queued blocks and stop (idempotent)."""
        if self.closed:
            return
        self.closed = True
        for w in self.workers:
            w.q.put(None)
        for w in self.workers:
            w.join()

    def hexdigests(self) -> dict[str, str]:
        """Finish and return algorithm → lower-case hex digest.

        Raises:
            BaseException: the first error a worker met.
        """
        self.close()
        self.check()
        return {k: h.hexdigest() for k, h in self.hashers.items()}

    def __enter__(self) -> DigestWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
        stream: an unbuffered or buffered binary file opened for reading (a
            pipe too: a buffered reader returns whole blocks).
        algorithms: digest names (see :func:`new_hasher`).
        sink: called with every block in order (e.g. a blob writer), or ``None``.
        progress: called with the byte count of every block read.
        size_hint: expected length in bytes; streams of at least
            ``THREADED_MIN_SIZE`` use one thread per digest (and one for the sink).

    Returns:
        (lower-case hex digest per algorithm, number of bytes read)

    Raises:
        OSError: from reading the stream or from the sink; the first error
            stops the read (as does any other exception the sink raises).
    """
    algorithms = list(algorithms)
    total = 0
    if len(algorithms) + (sink is not None) == 1 or size_hint < THREADED_MIN_SIZE:
        hashers = {name: new_hasher(name) for name in algorithms}
        consumers: list[Callable[[bytes], object]] = [h.update for h in hashers.values()]
        if sink is not None:
            consumers.append(sink)
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

    with DigestWorkers(algorithms, [sink] if sink is not None else []) as workers:
        while block := stream.read(BLOCK_SIZE):
            workers.update(block)
            total += len(block)
            if progress is not None:
                progress(len(block))
        return workers.hexdigests(), total


class FileDigest(threading.Thread):
    """One digest of a whole file, computed on a background thread.

    Start it, do other work, then call :meth:`hexdigest`; :meth:`cancel` stops
    it early (e.g. when the work it accompanies failed).
    """

    def __init__(self, path: str | os.PathLike[str], algorithm: str = "sha256") -> None:
        """Raises:
        UsageError: an unknown algorithm."""
        super().__init__(daemon=True)
        self.path = path
        self.hasher = new_hasher(algorithm)
        self.size = 0
        self.error: OSError | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        buf = bytearray(BLOCK_SIZE)
        view = memoryview(buf)
        try:
            with open(self.path, "rb", buffering=0) as fh:
                while not self.stop.is_set() and (n := fh.readinto(view)):
                    self.hasher.update(view[:n])
                    self.size += n
        except OSError as exc:
            self.error = exc

    def cancel(self) -> None:
        """Stop reading and wait for the thread (the digest is then meaningless)."""
        self.stop.set()
        if self.is_alive():
            self.join()

    def hexdigest(self) -> str:
        """Wait for the end of the file and return the lower-case hex digest.

        Raises:
            OSError: the file could not be read to its end.
        """
        self.join()
        if self.error is not None:
            raise self.error
        return self.hasher.hexdigest()


def digest_bytes(data: bytes, algorithms: Iterable[str]) -> dict[str, str]:
    """Digests of an in-memory buffer (small files): algorithm → lower-case hex.

    Raises:
        UsageError: an unknown algorithm (see :func:`hash_constructor`).
    """
    return {name: hash_constructor(name)(data).hexdigest() for name in algorithms}
