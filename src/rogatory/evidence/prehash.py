"""Start hashing large files named on the command line while the program is still starting.

``rogatory evidence add … --in-place`` of a multi-gigabyte image spends a
noticeable share of its time importing the program before the first byte is
read. The console entry point therefore starts one thread per large regular
file found among its arguments, using nothing but ``hashlib`` and ``os``, and
the intake later takes the result instead of reading the file again.

It remains one read per file, and the intake's change detection still holds: a
result is used only if the file's identity and state (device, inode, size,
mtime, ctime) were the same before the early read, after it, and when the
intake opens the file; otherwise the intake reads the file itself.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

MIN_SIZE = 64 << 20
"""Files smaller than this (bytes) are not worth an early start."""
_BLOCK = 1 << 20
_CONSTRUCTORS = {"sha256": hashlib.sha256, "sha1": hashlib.sha1, "md5": hashlib.md5}


def _identity(st: os.stat_result) -> tuple[int, int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@dataclass
class _Job:
    path: str
    algorithms: tuple[str, ...]
    thread: threading.Thread | None = None
    before: tuple[int, int, int, int, int] | None = None
    after: tuple[int, int, int, int, int] | None = None
    digests: dict[str, str] = field(default_factory=dict)
    nbytes: int = 0


_jobs: dict[str, _Job] = {}


def _run(job: _Job) -> None:
    try:
        fd = os.open(job.path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return
    try:
        st0 = os.fstat(fd)
        if not stat.S_ISREG(st0.st_mode):
            return
        hashers = [_CONSTRUCTORS[a]() for a in job.algorithms]
        buf = bytearray(_BLOCK)
        view = memoryview(buf)
        n = 0
        while k := os.readv(fd, [view]):
            chunk = view[:k]
            for h in hashers:
                h.update(chunk)
            n += k
        st1 = os.fstat(fd)
        job.before, job.after, job.nbytes = _identity(st0), _identity(st1), n
        job.digests = {a: h.hexdigest() for a, h in zip(job.algorithms, hashers, strict=True)}
    except OSError:
        job.digests = {}
    finally:
        os.close(fd)


def start(paths: Sequence[str], algorithms: Sequence[str]) -> None:
    """Start hashing each existing regular file of at least :data:`MIN_SIZE` bytes in ``paths``.

    Only ``sha256``, ``sha1`` and ``md5`` are supported; with any other algorithm
    nothing is started. Never raises.
    """
    if not algorithms or any(a not in _CONSTRUCTORS for a in algorithms):
        return
    for p in dict.fromkeys(paths):
        try:
            real = os.path.realpath(p)
            st = os.stat(real)
        except (OSError, ValueError):
            continue
        if not stat.S_ISREG(st.st_mode) or st.st_size < MIN_SIZE or real in _jobs:
            continue
        job = _Job(real, tuple(algorithms))
        job.thread = threading.Thread(
            target=_run, args=(job,), name="rogatory-prehash", daemon=True
        )
        _jobs[real] = job
        job.thread.start()


def take(path: str, st: os.stat_result, algorithms: Sequence[str]) -> dict[str, str] | None:
    """The early digests of ``path`` if they are usable, else ``None``.

    Usable means: computed for exactly ``algorithms``, over every byte, and the
    file's (device, inode, size, mtime, ctime) were the same before and after
    the early read and equal ``st`` (the intake's own fstat of the file).
    """
    job = _jobs.pop(os.path.realpath(path), None)
    if job is None or job.thread is None or tuple(algorithms) != job.algorithms:
        return None
    job.thread.join()
    now = _identity(st)
    if not job.digests or job.before != now or job.after != now or job.nbytes != st.st_size:
        return None
    return dict(job.digests)
