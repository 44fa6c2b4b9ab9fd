"""Evidence intake: hash (and copy) files, directory trees and EWF sets, then record them.

One intake run takes a list of paths; each path becomes one evidence item (an
EWF segment set named by its first segment becomes one item; later segments
named on the same command line are folded into it). For every regular file a
single streaming read computes all configured digests and, unless
``in_place``, writes the bytes to the content-addressed blob store.

Nothing is recorded for an item until every one of its bytes was read, its
source was seen unchanged (size and mtime before and after the read), the
expected hash (if given) matched and its blobs are durable; then the item and
its file list are committed in one database transaction. A killed process
leaves no item, only a journal row (``intake_runs``) marked interrupted on the
next run and temp files that the blob store sweeps. Running the same command
again finishes the job: items already recorded unchanged are reported, not
doubled.

Directory trees are streamed, so that time and memory do not pile up per file:
the walk lists the tree lazily in ``relpath`` order, small files go to worker
processes in batches as they are listed, and each batch's file rows are
inserted into the item's still-open transaction as its digests come back (in
listing order). The item's digest (:func:`listing_digest`) is computed on the
way. A failure rolls the whole transaction back. Memory is bounded by the
batches in flight and the sorted names of the folders on the current path,
whatever the number of files.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import datetime as dt
import hashlib
import operator
import os
import re
import socket
import stat
import sys
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from rogatory import __version__
from rogatory.cases.service import get_case_row
from rogatory.custody.events import Actor, CustodyEvent, EventType, SubjectKind
from rogatory.custody.log import CustodyLog
from rogatory.errors import (
    HashMismatchError,
    IntakeError,
    RogatoryError,
    SourceChangedError,
    StorageFullError,
    UsageError,
)
from rogatory.evidence import ewf, prehash
from rogatory.evidence.acquisition import Acquisition
from rogatory.evidence.blobstore import BlobStore, BlobWriter
from rogatory.evidence.hashing import (
    DIGEST_HEX_LENGTHS,
    THREADED_MIN_SIZE,
    digest_stream,
    hash_constructor,
)
from rogatory.evidence.listing import listing_digest, listing_line
from rogatory.store.database import Database
from rogatory.store.schema import CaseRow, EvidenceFileRow, EvidenceItemRow, IntakeRunRow

SMALL_FILE_MAX = 1 << 20
"""Files up to this size (bytes) are read in one call and may be hashed in worker processes."""
POOL_MIN_FILES = 2000
"""The first this many small files of a run are hashed in this process; a process pool
costs more than it saves for fewer. Later ones go to the pool (with ``workers`` > 1)."""
POOL_CHUNK = 500
"""Files per batch sent to a worker process; also the entries per batch of a tree."""
PENDING_PER_WORKER = 4
"""Batches of a tree in flight per worker: bounds memory, keeps every worker busy."""
ROW_BATCH = 5000
"""File rows per ``executemany``."""


def item_label(item_id: int) -> str:
    """The user-facing id of an evidence item, e.g. ``EV-000042``."""
    return f"EV-{item_id:06d}"


def parse_item_id(text: str) -> int:
    """Accept ``EV-000042``, ``EV-42`` or ``42``.

    Raises:
        UsageError: not an item id.
    """
    t = text.strip().upper().removeprefix("EV-")
    if not (t.isascii() and t.isdigit()) or len(t) > 15:
        raise UsageError(f"{text!r} is not an evidence item id", "item ids look like EV-000042")
    return int(t)


class IntakeObserver(Protocol):
    """Receives progress of an intake run (for a progress bar). Called from several threads.

    ``planned`` gives the totals known so far (bytes, files); it is called again
    when they grow: while a directory tree is being listed, and when an EWF
    image's media size becomes known. ``advance`` reports bytes read,
    ``files_done`` files finished.
    """

    def planned(self, total_bytes: int, total_files: int) -> None: ...
    def advance(self, nbytes: int) -> None: ...
    def files_done(self, count: int) -> None: ...


class _NoObserver:
    def planned(self, total_bytes: int, total_files: int) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        pass

    def files_done(self, count: int) -> None:
        pass


@dataclass
class IntakeOptions:
    """How to take evidence in.

    Attributes:
        algorithms: digests to compute; ``sha256`` must be one.
        in_place: record and hash without copying into the blob store.
        allow_special: read devices and FIFOs named on the command line, and
            record (without content) special files inside directory trees.
        expect: expected digests (algorithm → hex) from the acquisition report;
            only with a single file or EWF item (EWF: compared with the media hash).
        verify_media: re-read EWF media and compare with the stored hash.
        workers: parallel files (threads for large files, processes for many small ones).
    """

    algorithms: list[str]
    in_place: bool = False
    allow_special: bool = False
    expect: dict[str, str] = field(default_factory=dict)
    verify_media: bool = True
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)


@dataclass(slots=True)
class _Entry:
    """One entry of an item's file list.

    ``path`` is the absolute path read (a ``str``: a tree has one entry per
    file, and ``pathlib`` costs microseconds each); ``size`` is in bytes (0 for
    anything but files and streamed devices); ``mtime_ns`` and ``mode`` come
    from ``lstat`` (``stat`` for a path named on the command line).
    """

    relpath: str
    path: str
    kind: str  # file, directory, symlink, fifo, char-device, block-device, socket
    size: int
    mode: int
    mtime_ns: int
    link_target: str | None = None
    digests: dict[str, str] = field(default_factory=dict)


@dataclass
class _Plan:
    """One item to take in: its entries (files, EWF segments, one device or FIFO),
    or, for a directory, ``tree``: the lazy walk, consumed while it is recorded."""

    kind: str  # file, directory, ewf, device, fifo
    source: Path
    entries: list[_Entry]
    error: RogatoryError | None = None
    ewf_info: ewf.EwfInfo | None = None
    tree: Iterator[_Entry] | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class ItemOutcome:
    """What happened to one path of an intake run.

    Attributes:
        source: the path as given (absolute).
        status: ``recorded``, ``already-recorded`` or ``failed``.
        item: ``EV-…`` id when recorded or already recorded.
        kind: file, directory, ewf, device or fifo.
        size: bytes of content (files summed for trees).
        files: entries in the item's file list.
        digests: item digests (hex).
        error: the one-line reason when failed.
        warnings: things the examiner must see (e.g. an EWF media hash mismatch).
        checks: checks that passed, in words (e.g. "media MD5 = stored", "expected md5 matched").
    """

    source: str
    status: str
    item: str | None = None
    kind: str = ""
    size: int = 0
    files: int = 0
    digests: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# ---------------------------------------------------------------- planning

_KIND_BY_FMT = {
    stat.S_IFREG: "file",
    stat.S_IFDIR: "directory",
    stat.S_IFLNK: "symlink",
    stat.S_IFIFO: "fifo",
    stat.S_IFCHR: "char-device",
    stat.S_IFBLK: "block-device",
    stat.S_IFSOCK: "socket",
}


def _kind(mode: int) -> str:
    return _KIND_BY_FMT.get(stat.S_IFMT(mode), "unknown")


def _os_error(exc: OSError, path: str | Path, doing: str) -> IntakeError:
    if isinstance(exc, FileNotFoundError):
        return IntakeError(
            f"{path} vanished {doing}", "check the source medium; nothing was recorded"
        )
    if isinstance(exc, PermissionError):
        return IntakeError(
            f"permission denied {doing} {path}",
            "run as a user who may read it (read-only access is enough); nothing was recorded",
        )
    return IntakeError(
        f"cannot read {path} ({exc.strerror or exc}) {doing}", "nothing was recorded"
    )


def _check_name(relpath: str, root: str | Path) -> None:
    try:
        relpath.encode("utf-8")
    except UnicodeEncodeError:
        raise IntakeError(
            f"a file name under {root} is not valid UTF-8: {relpath.encode('utf-8', 'backslashreplace')!r}",
            "copy the tree with names converted to UTF-8 (e.g. convmv) and take the copy in",
        ) from None


def _list_dir(path: str) -> tuple[list[str], set[str]]:
    """The names in folder ``path`` in the order their relpaths sort, and its subfolders.

    Each subfolder ``name`` appears twice: as ``name`` (its own entry) and as
    ``name/``, the place where its contents sort. (The relpath ``name/x`` sorts
    after a sibling ``name-y`` or ``name.y``: those characters are below ``/``.)

    Raises:
        IntakeError: the folder cannot be listed.
    """
    names: list[str] = []
    dirs: set[str] = set()
    try:
        with os.scandir(path) as it:
            for e in it:
                names.append(e.name)
                if e.is_dir(follow_symlinks=False):
                    dirs.add(e.name)
    except OSError as exc:
        raise _os_error(exc, path, "while listing") from exc
    names.extend(d + "/" for d in dirs)
    names.sort()
    return names, dirs


def _tree_entry(
    root: str, path: str, relpath: str, listed_as_dir: bool, allow_special: bool
) -> _Entry:
    """The entry for ``path`` (``relpath`` under ``root``), from its ``lstat``.

    Raises:
        IntakeError: the name is not UTF-8; the path vanished or cannot be
            read; it is a special file and ``allow_special`` is off.
        SourceChangedError: a folder became something else since it was
            listed, or the reverse.
    """
    if not relpath.isascii():
        _check_name(relpath, root)
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise _os_error(exc, path, "while listing") from exc
    kind = _KIND_BY_FMT.get(stat.S_IFMT(st.st_mode), "unknown")
    if (kind == "directory") != listed_as_dir:
        raise SourceChangedError(
            f"{path} changed while the tree was being listed (now a {kind})",
            "acquire from a quiescent or write-blocked source, or take a copy in; "
            "nothing was recorded",
        )
    entry = _Entry(
        relpath,
        path,
        kind,
        st.st_size if kind == "file" else 0,
        stat.S_IMODE(st.st_mode),
        st.st_mtime_ns,
    )
    if kind == "symlink":
        try:
            entry.link_target = os.readlink(path)
        except OSError as exc:
            raise _os_error(exc, path, "while listing") from exc
    elif kind not in ("file", "directory") and not allow_special:
        raise IntakeError(
            f"{path} is a {kind}, not a regular file",
            "pass --allow-special to record special files (without content), "
            "or remove it from the tree",
        )
    return entry


def _walk(root: Path, allow_special: bool) -> Iterator[_Entry]:
    """The entries under ``root`` (not ``root`` itself), listed lazily in ``relpath`` order.

    That is the order of :func:`listing_digest`, so a tree can be hashed and
    recorded as it is listed. Symlinks are recorded, not followed. The root
    folder is listed at once, so an unreadable root fails here, before any
    intake work; deeper folders are listed when the iteration reaches them.
    Memory: the sorted names of the folders on the current path.

    Raises:
        IntakeError: the root cannot be listed. Iterating raises the errors of
            :func:`_tree_entry` and :func:`_list_dir`.
    """
    top = str(root)
    return _walk_listed(top, _list_dir(top), allow_special)


def _walk_listed(
    root: str, listed: tuple[list[str], set[str]], allow_special: bool
) -> Iterator[_Entry]:
    """Iterate a tree whose root folder was listed (see :func:`_walk`)."""
    names, dirs = listed
    stack = [(os.path.join(root, ""), "", iter(names), dirs)]
    while stack:
        base, prefix, pending, subdirs = stack[-1]
        for name in pending:
            if name[-1] == "/":  # the place where this subfolder's contents sort
                sub_names, sub_dirs = _list_dir(base + name[:-1])
                stack.append((base + name, prefix + name, iter(sub_names), sub_dirs))
                break
            yield _tree_entry(root, base + name, prefix + name, name in subdirs, allow_special)
        else:
            stack.pop()


_LATER_SEGMENT = re.compile(r"\.[EeSsLl](?!01$)[0-9A-Za-z]{2}$")


def _plan(path: Path, options: IntakeOptions) -> _Plan:
    """What to take in for ``path``; a plan with ``error`` set if it cannot be."""
    source = Path(os.path.abspath(path))
    try:
        str(source).encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(str(source)).decode("utf-8", "backslashreplace")
        return _Plan(
            "file",
            source,
            [],
            error=IntakeError(
                f"the path {shown} is not valid UTF-8",
                "rename it (or copy it under a UTF-8 name, e.g. with convmv) and take the copy in",
            ),
        )
    # A symlink named on the command line is followed (e.g. /dev/disk/by-id/…);
    # the item keeps the path as given and reads the target.
    real = Path(os.path.realpath(source))
    try:
        st = os.stat(real)
    except OSError as exc:
        err = _os_error(exc, source, "before intake")
        if isinstance(exc, FileNotFoundError):
            if source.is_symlink():
                err = IntakeError(
                    f"{source} is a symbolic link to {os.readlink(source)}, which does not exist",
                    "name the evidence itself, or mount the medium the link points to",
                )
            else:
                err = IntakeError(f"no such file or directory: {source}", "check the path")
        return _Plan("file", source, [], error=err)
    kind = _kind(st.st_mode)
    try:
        if kind == "directory":
            return _Plan("directory", source, [], tree=_walk(real, options.allow_special))
        if kind == "file":
            return _plan_file(source, real, st)
        if kind in ("fifo", "char-device", "block-device"):
            if not options.allow_special:
                raise IntakeError(
                    f"{source} is a {kind}, not a regular file",
                    "pass --allow-special to read it as a stream (e.g. a disk device)",
                )
            entry = _Entry(
                source.name, str(real), kind, 0, stat.S_IMODE(st.st_mode), st.st_mtime_ns
            )
            return _Plan("fifo" if kind == "fifo" else "device", source, [entry])
        raise IntakeError(
            f"{source} is a {kind}", "only files, directories and devices can be taken in"
        )
    except RogatoryError as exc:
        return _Plan(kind, source, [], error=exc)
    except OSError as exc:
        return _Plan(kind, source, [], error=_os_error(exc, source, "while planning"))


def _plan_file(source: Path, real: Path, st: os.stat_result) -> _Plan:
    """A regular file's plan: a single file, or an EWF image with all its segments.

    Raises:
        IntakeError: ``real`` is a later segment of an EWF image.
        OSError: a segment cannot be examined.
    """
    entry = _Entry(
        source.name, str(real), "file", st.st_size, stat.S_IMODE(st.st_mode), st.st_mtime_ns
    )
    if _LATER_SEGMENT.search(real.name) and ewf.has_ewf_signature(real):
        raise IntakeError(
            f"{source.name} is a later segment of an EWF image, not its first segment",
            "name the first segment (.E01); Rogatory finds the others beside it",
        )
    if not ewf.is_ewf_path(real):
        plan = _Plan("file", source, [entry])
        if real.suffix.lower() in ewf.EWF_SUFFIXES:
            plan.warnings.append(
                f"{source.name} is named like an EWF image but has no EWF signature: taken in as an "
                "ordinary file, without a media-hash check (a renamed file, or a damaged image?)"
            )
        return plan
    entries = [entry]
    for seg in ewf.segments(real)[1:]:
        sst = os.stat(seg)
        entries.append(
            _Entry(
                seg.name, str(seg), "file", sst.st_size, stat.S_IMODE(sst.st_mode), sst.st_mtime_ns
            )
        )
    return _Plan("ewf", source, entries)


# ---------------------------------------------------------------- hashing


def _changed(
    path: str | Path, before: tuple[int, int], after: os.stat_result, read: int
) -> SourceChangedError:
    return SourceChangedError(
        f"{path} changed while it was being hashed (size {before[0]}→{after.st_size} bytes, "
        f"read {read}; mtime {'moved' if before[1] != after.st_mtime_ns else 'same'})",
        "acquire from a quiescent or write-blocked source, or take a copy in; nothing was recorded",
    )


def _open_nofollow(path: str | Path) -> int:
    return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NOATIME", 0))


def _open_for_read(path: str | Path) -> int:
    try:
        return _open_nofollow(path)
    except PermissionError:
        # O_NOATIME is allowed only to the file's owner; retry without it.
        return os.open(path, os.O_RDONLY | os.O_NOFOLLOW)


def _read_small(path: str, size: int, mtime_ns: int, *, check_first: bool) -> bytes:
    """The whole content of a small file that was listed with ``size`` bytes and ``mtime_ns``.

    One ``fstat`` after the read, compared with the listing, catches any change
    since the listing (size, mtime, or no longer a regular file). With
    ``check_first`` (files named on the command line) the file is also checked
    before the read, so a change is reported before any byte is read.

    Raises:
        IntakeError: the file vanished or cannot be read.
        SourceChangedError: the file changed since it was listed.
    """
    try:
        fd = _open_for_read(path)
    except OSError as exc:
        raise _os_error(exc, path, "before it could be read") from exc
    try:
        if check_first:
            st = os.fstat(fd)
            if st.st_size != size or st.st_mtime_ns != mtime_ns or not stat.S_ISREG(st.st_mode):
                raise _changed(path, (size, mtime_ns), st, 0)
        data = os.read(fd, size + 1)
        while len(data) <= size:
            more = os.read(fd, size + 1 - len(data))
            if not more:
                break
            data += more
        st = os.fstat(fd)
    except OSError as exc:
        raise _os_error(exc, path, "while reading") from exc
    finally:
        os.close(fd)
    if (
        len(data) != size
        or st.st_size != size
        or st.st_mtime_ns != mtime_ns
        or not stat.S_ISREG(st.st_mode)
    ):
        raise _changed(path, (size, mtime_ns), st, len(data))
    return data


def _store_small(store: BlobStore, data: bytes, sha256: str) -> None:
    """Write ``data`` to the blob store under ``sha256`` unless it is there already.

    Raises:
        StorageFullError: the store is full (nothing is left behind).
    """
    if store.has(sha256):
        return
    w = store.writer()
    try:
        w.write(data)
        w.commit(sha256)
    except BaseException:
        w.abort()
        raise


_Failure = tuple[int, str, str, str]
"""A file that could not be hashed: (its index in the job, error class name, message, hint)."""
_Digests = tuple[str, list[_Failure]]
"""What hashing a job of files returns: the hex digests of the files that were hashed,
each file's digests concatenated in the order of the algorithms and the files in job
order; and the files that failed. Compact, so that it crosses processes cheaply."""


def _failure(index: int, exc: RogatoryError) -> _Failure:
    return (index, type(exc).__name__, exc.message, exc.hint)


_ERRORS: dict[str, type[RogatoryError]] = {
    cls.__name__: cls
    for cls in (IntakeError, SourceChangedError, StorageFullError, UsageError, RogatoryError)
}


def _error(failure: _Failure) -> RogatoryError:
    """The exception a :data:`_Failure` stands for."""
    _, cls, message, hint = failure
    return _ERRORS.get(cls, IntakeError)(message, hint)


def _hash_batch(
    jobs: Sequence[tuple[str, int, int]],
    algorithms: Sequence[str],
    blob_root: str | None,
    check_first: bool,
) -> _Digests:
    """Hash (and store) small files, each read in one call; runs in worker processes.

    Args:
        jobs: (path, size in bytes, mtime_ns) of each file, as listed.
        algorithms: digest names; with ``blob_root``, ``sha256`` must be one.
        blob_root: the blob store's root to copy the files into, or ``None``.
        check_first: see :func:`_read_small`.

    Returns:
        See :data:`_Digests`. Errors are returned, not raised.
    """
    try:
        constructors = [hash_constructor(a) for a in algorithms]
        store = BlobStore(Path(blob_root)) if blob_root is not None else None
    except RogatoryError as exc:
        return "", [_failure(i, exc) for i in range(len(jobs))]
    i256 = algorithms.index("sha256") if store is not None else 0
    out: list[str] = []
    failed: list[_Failure] = []
    for i, (path, size, mtime_ns) in enumerate(jobs):
        try:
            data = _read_small(path, size, mtime_ns, check_first=check_first)
            hexes = [c(data).hexdigest() for c in constructors]
            if store is not None:
                _store_small(store, data, hexes[i256])
        except RogatoryError as exc:
            failed.append(_failure(i, exc))
            continue
        out.extend(hexes)
    return "".join(out), failed


def _hash_large_file(
    entry: _Entry,
    algorithms: Sequence[str],
    store: BlobStore | None,
    progress: Callable[[int], object],
    stream: bool = False,
) -> dict[str, str]:
    """Hash (and store) one large file, device or FIFO with a streaming read.

    Returns:
        Hex digest per algorithm. A stream's ``entry.size`` is set to the bytes read.

    Raises:
        IntakeError: the file vanished or cannot be read.
        SourceChangedError: the file changed since it was listed, or while read.
        StorageFullError: the blob store is full.
    """
    try:
        fd = os.open(entry.path, os.O_RDONLY) if stream else _open_for_read(entry.path)
    except OSError as exc:
        raise _os_error(exc, entry.path, "before it could be read") from exc
    writer: BlobWriter | None = None
    try:
        with os.fdopen(fd, "rb", buffering=0) as f:
            st0 = os.fstat(fd)
            if not stream:
                if st0.st_size != entry.size or st0.st_mtime_ns != entry.mtime_ns:
                    raise _changed(entry.path, (entry.size, entry.mtime_ns), st0, 0)
                with contextlib.suppress(OSError):
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
            early = (
                None if stream or store is not None else prehash.take(entry.path, st0, algorithms)
            )
            if (
                early is not None
            ):  # read while the program was starting (see rogatory.evidence.prehash)
                digests, n = early, st0.st_size
                progress(n)
            else:
                writer = store.writer() if store is not None else None
                digests, n = digest_stream(
                    f,
                    algorithms,
                    sink=writer.write if writer is not None else None,
                    progress=progress,
                    size_hint=max(entry.size, THREADED_MIN_SIZE if stream else 0),
                )
            st1 = os.fstat(fd)
        if stream:
            entry.size = n
        elif (
            n != entry.size
            or st1.st_size != entry.size
            or st1.st_mtime_ns != entry.mtime_ns
            # a write that restores size and mtime (cp -p, touch -r) still moves ctime
            or st1.st_ctime_ns != st0.st_ctime_ns
            or st1.st_ino != st0.st_ino
        ):
            raise _changed(entry.path, (entry.size, entry.mtime_ns), st1, n)
        if writer is not None:
            writer.commit(digests["sha256"])
            writer = None
        return digests
    except OSError as exc:
        raise _os_error(exc, entry.path, "while reading") from exc
    finally:
        if writer is not None:
            writer.abort()


@dataclass(slots=True)
class _Job:
    """Files being hashed together: small files in one batch, or one large file.

    ``streamed``: the bytes were reported to the observer while being read.
    """

    files: list[_Entry]
    future: cf.Future[_Digests]
    streamed: bool = False


class _Hashing:
    """Hashes the files of one intake run; use it as a context manager.

    Small files are hashed in batches: the first ``POOL_MIN_FILES`` of the run
    in this process, later ones in a pool of ``workers`` processes (forked on
    Linux, once, when it is first needed, so they inherit the imports but no
    per-file state). Large files, devices and FIFOs are read in ``workers``
    threads. Both pools are shut down on exit. Progress goes to ``observer``:
    :meth:`plan` adds to the totals, and the bytes and files of a job are
    reported when its result is taken.
    """

    def __init__(
        self, options: IntakeOptions, store: BlobStore | None, observer: IntakeObserver
    ) -> None:
        self.algorithms = list(options.algorithms)
        self.workers = max(1, options.workers)
        self.store = store
        self.observer = observer
        self.width = sum(DIGEST_HEX_LENGTHS.get(a, 0) for a in self.algorithms)
        self._small_files = 0
        self._processes: cf.ProcessPoolExecutor | None = None
        self._threads: cf.ThreadPoolExecutor | None = None
        self._planned = (0, 0)

    def __enter__(self) -> _Hashing:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for pool in (self._threads, self._processes):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def plan(self, nbytes: int, files: int) -> None:
        """Add ``nbytes`` and ``files`` to the totals the observer shows."""
        self._planned = (self._planned[0] + nbytes, self._planned[1] + files)
        self.observer.planned(*self._planned)

    def small(self, files: list[_Entry], check_first: bool) -> _Job:
        """Start hashing small regular files (see :func:`_hash_batch`)."""
        jobs = [(e.path, e.size, e.mtime_ns) for e in files]
        blob_root = str(self.store.root) if self.store is not None else None
        self._small_files += len(files)
        if self._processes is None and self.workers > 1 and self._small_files > POOL_MIN_FILES:
            self._processes = _process_pool(self.workers)
        if self._processes is not None:
            future = self._processes.submit(
                _hash_batch, jobs, self.algorithms, blob_root, check_first
            )
        else:
            future = cf.Future()
            future.set_result(_hash_batch(jobs, self.algorithms, blob_root, check_first))
        return _Job(files, future)

    def large(self, entry: _Entry, stream: bool = False) -> _Job:
        """Start reading a large file, or a device or FIFO (``stream``), in a thread."""
        if self._threads is None:
            self._threads = cf.ThreadPoolExecutor(self.workers, thread_name_prefix="intake")
        future = self._threads.submit(self._hash_large, entry, stream)
        return _Job([entry], future, streamed=True)

    def _hash_large(self, entry: _Entry, stream: bool) -> _Digests:
        try:
            digests = _hash_large_file(
                entry, self.algorithms, self.store, self.observer.advance, stream
            )
        except RogatoryError as exc:
            return "", [_failure(0, exc)]
        return "".join(digests[a] for a in self.algorithms), []

    def result(self, job: _Job) -> tuple[list[str], dict[int, RogatoryError]]:
        """Wait for ``job``; report its progress.

        Returns:
            The concatenated hex digests (see :data:`_Digests`) of each file
            hashed, in order, and the error of each file that failed, by index.
        """
        hexes, failed = job.future.result()
        if not job.streamed:
            self.observer.advance(sum(e.size for e in job.files))
        self.observer.files_done(len(job.files))
        w = self.width
        return [hexes[i : i + w] for i in range(0, len(hexes), w)], {
            f[0]: _error(f) for f in failed
        }

    def splitter(self) -> Callable[[str], tuple[str, ...]]:
        """A function that splits one file's concatenated hex digests, one per algorithm."""
        if len(self.algorithms) == 1:
            return lambda h: (h,)
        bounds: list[slice] = []
        start = 0
        for a in self.algorithms:
            bounds.append(slice(start, start + DIGEST_HEX_LENGTHS[a]))
            start += DIGEST_HEX_LENGTHS[a]
        getter: Callable[[str], tuple[str, ...]] = operator.itemgetter(*bounds)
        return getter

    def tree(
        self, entries: Iterator[_Entry]
    ) -> Generator[tuple[list[_Entry], list[str]], None, None]:
        """Hash a tree's files while ``entries`` (the walk) is being listed.

        Yields:
            Consecutive batches of the walk's entries, in walk order, each with
            the concatenated hex digests of its regular files (kind ``file``), in
            order. At most ``PENDING_PER_WORKER`` batches per worker are in flight.

        Raises:
            RogatoryError: the first error of the walk or of a file; jobs not yet
                started are cancelled.
        """
        window = PENDING_PER_WORKER * self.workers
        pending: deque[tuple[list[_Entry], _Job | None]] = deque()
        try:
            for batch in _tree_batches(entries):
                pending.append((batch, self._tree_job(batch)))
                while pending and (len(pending) > window or _done(pending[0][1])):
                    yield self._tree_result(*pending.popleft())
            while pending:
                yield self._tree_result(*pending.popleft())
        finally:
            for _, job in pending:
                if job is not None:
                    job.future.cancel()

    def _tree_job(self, batch: list[_Entry]) -> _Job | None:
        files = [e for e in batch if e.kind == "file"]
        if not files:
            return None
        self.plan(sum(e.size for e in files), len(files))
        if files[0].size > SMALL_FILE_MAX:  # alone in its batch (see _tree_batches)
            return self.large(files[0])
        return self.small(files, check_first=False)

    def _tree_result(self, batch: list[_Entry], job: _Job | None) -> tuple[list[_Entry], list[str]]:
        if job is None:
            return batch, []
        hexes, errors = self.result(job)
        if errors:
            raise errors[min(errors)]
        return batch, hexes


def _process_pool(workers: int) -> cf.ProcessPoolExecutor:
    """A pool of ``workers`` processes: forked on Linux (cheap, and the workers need no
    imports of their own), the platform's default elsewhere."""
    import multiprocessing  # only when a pool is needed

    context = multiprocessing.get_context("fork" if sys.platform == "linux" else None)
    return cf.ProcessPoolExecutor(workers, mp_context=context, initializer=_die_with_parent)


def _die_with_parent() -> None:
    """In a pool worker: ask Linux to kill this process when its parent dies, so a killed
    intake leaves no workers behind holding the database and the caller's pipes."""
    if sys.platform != "linux":
        return
    import ctypes
    import signal

    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def _done(job: _Job | None) -> bool:
    return job is None or job.future.done()


def _tree_batches(entries: Iterator[_Entry]) -> Iterator[list[_Entry]]:
    """Cut the walk into consecutive batches: up to ``POOL_CHUNK`` entries with small
    files, folders, links and special files, or one large file alone."""
    batch: list[_Entry] = []
    for e in entries:
        if e.kind == "file" and e.size > SMALL_FILE_MAX:
            if batch:
                yield batch
                batch = []
            yield [e]
            continue
        batch.append(e)
        if len(batch) >= POOL_CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def _hash_named(plans: list[_Plan], hashing: _Hashing) -> None:
    """Hash the content of the file, EWF, device and FIFO items among ``plans``.

    Sets ``digests`` of every content entry, or ``plan.error`` on the first failure.
    """
    jobs: list[tuple[list[_Plan], _Job]] = []
    small: list[tuple[_Plan, _Entry]] = []
    for plan in plans:
        if plan.error or plan.tree is not None:
            continue
        for e in plan.entries:
            if plan.kind in ("device", "fifo"):
                jobs.append(([plan], hashing.large(e, stream=True)))
            elif e.kind == "file" and e.size > SMALL_FILE_MAX:
                jobs.append(([plan], hashing.large(e)))
            elif e.kind == "file":
                small.append((plan, e))
    for i in range(0, len(small), POOL_CHUNK):
        chunk = small[i : i + POOL_CHUNK]
        job = hashing.small([e for _, e in chunk], check_first=True)
        jobs.append(([p for p, _ in chunk], job))
    split = hashing.splitter()
    for owners, job in jobs:
        hexes, errors = hashing.result(job)
        done = iter(hexes)
        for i, (plan, e) in enumerate(zip(owners, job.files, strict=True)):
            if i in errors:
                plan.error = plan.error or errors[i]
            else:
                e.digests = dict(zip(hashing.algorithms, split(next(done)), strict=True))


# ---------------------------------------------------------------- recording


def _item_digests(plan: _Plan) -> dict[str, str]:
    contents = [e for e in plan.entries if e.digests]
    if plan.kind in ("file", "device", "fifo") or (plan.kind == "ewf" and len(plan.entries) == 1):
        return dict(contents[0].digests)
    return {"sha256": listing_digest(plan.entries)}


def _check_expected(plan: _Plan, digests: dict[str, str], expect: dict[str, str]) -> None:
    target = digests
    what = "file"
    if plan.kind == "ewf":
        assert plan.ewf_info is not None
        target = plan.ewf_info.computed_hashes or plan.ewf_info.stored_hashes
        what = "EWF media"
    for alg, want in expect.items():
        got = target.get(alg)
        if got is None:
            raise HashMismatchError(
                f"cannot check --expect-{alg}: no {alg} of the {what} of {plan.source.name}",
                "compare with a digest Rogatory computes (sha256, sha1, md5)",
            )
        if got != want.lower():
            raise HashMismatchError(
                f"{alg} of the {what} of {plan.source.name} is {got}, "
                f"but the acquisition report states {want.lower()}",
                "the file is not the one acquired, or the report is wrong; nothing was recorded",
            )


def acquisition_event(
    node_id: str,
    case_reference: str,
    item_id: int,
    item: EvidenceItemRow,
    acquisition: Acquisition,
    now: dt.datetime,
) -> CustodyEvent:
    """The custody event recording an item's acquisition (ISO/IEC 27037 first link of the chain)."""
    return CustodyEvent(
        event_type=EventType.ACQUISITION,
        subject_kind=SubjectKind.EVIDENCE,
        subject_id=item.sha256,
        node=node_id,
        actor=Actor(acquisition.acquired_by, "acquirer"),
        time=now,
        case=case_reference,
        purpose=acquisition.authority or "acquisition",
        note=acquisition.notes,
        details={
            "item": item_label(item_id),
            "kind": item.kind,
            "label": item.label,
            "size": item.size,
            "files": item.file_count,
            "digests": {
                k: v
                for k, v in (("sha256", item.sha256), ("sha1", item.sha1), ("md5", item.md5))
                if v
            },
            "acquired_at": acquisition.acquired_at.isoformat(),
            "location": acquisition.location,
            "source_device": acquisition.source_device,
            "method": acquisition.method,
            "tool": acquisition.tool,
            "exhibit_number": acquisition.exhibit_number,
            "in_place": item.in_place,
        },
    )


class _FileRows:
    """Inserts an item's file list into the session's open transaction, ``ROW_BATCH`` at a time.

    A row is a tuple ``(item_id, relpath, kind, size, mode, mtime_ns,
    link_target, *digests)`` with one hex digest (or ``None``) per algorithm,
    in the order of ``algorithms``. Rows go straight to the DBAPI cursor's
    ``executemany`` on the session's connection (none of these columns needs
    SQLAlchemy's type processing); that costs a third of the ORM's bulk
    insert. Nothing is committed here: the caller's transaction decides.
    """

    COLUMNS = ("item_id", "relpath", "kind", "size", "mode", "mtime_ns", "link_target")

    def __init__(self, session: Session, algorithms: Sequence[str]) -> None:
        """Raises :class:`UsageError` for an algorithm without a column."""
        self.conn = session.connection()
        columns = [*self.COLUMNS, *algorithms]
        unknown = set(columns) - set(EvidenceFileRow.__table__.c.keys())
        if unknown:
            raise UsageError(
                f"unknown digest {sorted(unknown)[0]!r}", "use sha256, sha1, md5 or blake3"
            )
        # qmark for sqlite3; %s for psycopg (format / pyformat paramstyles).
        mark = "?" if self.conn.dialect.paramstyle == "qmark" else "%s"
        self.sql = (  # column names checked above; values go as parameters
            f"INSERT INTO {EvidenceFileRow.__tablename__} ({', '.join(columns)}) "  # noqa: S608
            f"VALUES ({', '.join([mark] * len(columns))})"
        )
        self.rows: list[tuple[Any, ...]] = []

    def extend(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows.extend(rows)
        if len(self.rows) >= ROW_BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        cursor = self.conn.connection.cursor()  # the DBAPI connection, in this transaction
        try:
            cursor.executemany(self.sql, self.rows)
        finally:
            cursor.close()
        self.rows = []


class _TreeListing:
    """Records a tree's entries as they arrive in ``relpath`` order: file rows, the
    :func:`listing_digest`, and the totals (``size`` in bytes of files, ``files`` entries)."""

    def __init__(self, rows: _FileRows, item_id: int, hashing: _Hashing) -> None:
        self.rows = rows
        self.item_id = item_id
        self.split = hashing.splitter()
        self.no_digests: tuple[None, ...] = (None,) * len(hashing.algorithms)
        self.i256 = hashing.algorithms.index("sha256")
        self.digest = hashlib.sha256()
        self.size = 0
        self.files = 0
        self.last = ""

    def add(self, batch: list[_Entry], hexes: list[str]) -> None:
        """Add consecutive entries; ``hexes``: the digests of its files (see :meth:`_Hashing.tree`).

        Raises:
            RuntimeError: the entries are not in ascending ``relpath`` order
                (the listing digest would be wrong).
        """
        relpaths = [e.relpath for e in batch]
        if relpaths[0] <= self.last or relpaths != sorted(relpaths):
            raise RuntimeError(f"tree listed out of order near {relpaths[0]!r}")
        item_id, split, i256 = self.item_id, self.split, self.i256
        done = iter(hexes)
        rows: list[tuple[Any, ...]] = []
        lines: list[str] = []
        for e in batch:
            if e.kind == "file":
                digests: tuple[str | None, ...] = split(next(done))
                value = digests[i256] or ""
                self.size += e.size
            else:
                digests = self.no_digests
                value = e.link_target or ""
            lines.append(listing_line(e.kind, e.relpath, value, e.size))
            rows.append(
                (item_id, e.relpath, e.kind, e.size, e.mode, e.mtime_ns, e.link_target, *digests)
            )
        self.last = relpaths[-1]
        self.files += len(batch)
        self.digest.update("".join(lines).encode())
        self.rows.extend(rows)


@dataclass
class _Recorded:
    """An item as recorded (``created``) or as found recorded already.

    ``size``: bytes of content; ``files``: entries in its file list.
    """

    item_id: int
    created: bool
    digests: dict[str, str]
    size: int
    files: int


class _AlreadyRecorded(Exception):  # noqa: N818 - a signal, not an error
    """Raised inside an item's transaction to roll it back: the item exists already."""

    def __init__(self, found: _Recorded) -> None:
        super().__init__(item_label(found.item_id))
        self.found = found


def _existing_item(
    session: Session, case_id: int, plan: _Plan, sha256: str, but_not: int | None = None
) -> int | None:
    """The id of the same item recorded before (same case, source, kind and SHA-256)."""
    q = select(EvidenceItemRow.id).where(
        EvidenceItemRow.case_id == case_id,
        EvidenceItemRow.source_path == str(plan.source),
        EvidenceItemRow.sha256 == sha256,
        EvidenceItemRow.kind == plan.kind,
    )
    if but_not is not None:
        q = q.where(EvidenceItemRow.id != but_not)
    found = session.scalar(q)
    return None if found is None else int(found)


def _new_item(
    session: Session,
    case_id: int,
    plan: _Plan,
    digests: dict[str, str],
    size: int,
    files: int,
    acquisition: Acquisition,
    options: IntakeOptions,
) -> EvidenceItemRow:
    """Insert (flush) the item row; ``size`` in bytes, ``files`` entries in its file list."""
    record = acquisition.as_dict()
    record["recorded_with"] = {
        "tool": f"rogatory {__version__}",
        "host": socket.gethostname(),
        "algorithms": options.algorithms,
        "in_place": options.in_place,
        "expected": {k: v.lower() for k, v in options.expect.items()},
    }
    if plan.ewf_info is not None:
        record["ewf_header"] = plan.ewf_info.header
    item = EvidenceItemRow(
        case_id=case_id,
        kind=plan.kind,
        label=plan.source.name,
        source_path=str(plan.source),
        in_place=options.in_place,
        size=size,
        file_count=files,
        sha256=digests["sha256"],
        sha1=digests.get("sha1"),
        md5=digests.get("md5"),
        blake3=digests.get("blake3"),
        acquisition=record,
        ewf=plan.ewf_info.as_dict() if plan.ewf_info is not None else None,
        recorded_at=dt.datetime.now(dt.UTC),
    )
    session.add(item)
    session.flush()
    return item


@dataclass
class _Recording:
    """What every item of a run is recorded with."""

    case_id: int
    case_reference: str
    acquisition: Acquisition
    options: IntakeOptions
    custody: CustodyLog | None

    def log(self, session: Session, item: EvidenceItemRow) -> None:
        """Append the item's acquisition event to the custody log in ``session``."""
        if self.custody is not None:
            event = acquisition_event(
                self.custody.node_id,
                self.case_reference,
                item.id,
                item,
                self.acquisition,
                item.recorded_at,
            )
            self.custody.append_in(session, [event])


def _serialise(session: Session) -> None:
    """Take the node's intake lock first, so two intakes of the same source cannot both
    find it unrecorded and both record it: a transaction-scoped advisory lock on
    PostgreSQL; on SQLite a write statement, which takes the database's write lock
    (the other writer waits for it, up to the busy timeout, instead of failing)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7340033)"))
    else:
        session.execute(update(CaseRow).where(CaseRow.id == -1).values(title=CaseRow.title))


def _record(session: Session, rec: _Recording, plan: _Plan, digests: dict[str, str]) -> _Recorded:
    """Insert a file, EWF, device or FIFO item, its file list and (with custody) its
    acquisition event, all in the caller's transaction."""
    size = sum(e.size for e in plan.entries if e.kind != "directory")
    files = len(plan.entries)
    _serialise(session)
    existing = _existing_item(session, rec.case_id, plan, digests["sha256"])
    if existing is not None:
        return _Recorded(existing, False, digests, size, files)
    content_size = sum(
        e.size for e in plan.entries if e.kind in ("file", "fifo", "char-device", "block-device")
    )
    item = _new_item(
        session, rec.case_id, plan, digests, content_size, files, rec.acquisition, rec.options
    )
    rows = _FileRows(session, rec.options.algorithms)
    rows.extend(
        [
            (
                item.id,
                e.relpath,
                e.kind,
                e.size,
                e.mode,
                e.mtime_ns,
                e.link_target,
                *[e.digests.get(a) for a in rec.options.algorithms],
            )
            for e in plan.entries
        ]
    )
    rows.flush()
    rec.log(session, item)
    return _Recorded(item.id, True, digests, size, files)


def _record_tree(session: Session, rec: _Recording, plan: _Plan, hashing: _Hashing) -> _Recorded:
    """Hash a directory tree and insert it, its file list and (with custody) its
    acquisition event, all in the caller's transaction.

    The item row goes in first with a placeholder digest; file rows are
    inserted batch by batch as their digests arrive; the item's digest, size
    and file count are filled in at the end.

    Raises:
        RogatoryError: listing or reading the tree failed (roll back).
        _AlreadyRecorded: the same tree was recorded before (roll back).
    """
    assert plan.tree is not None
    _serialise(session)
    item = _new_item(session, rec.case_id, plan, {"sha256": ""}, 0, 0, rec.acquisition, rec.options)
    listing = _TreeListing(_FileRows(session, rec.options.algorithms), item.id, hashing)
    with contextlib.closing(hashing.tree(plan.tree)) as batches:
        for batch, hexes in batches:
            listing.add(batch, hexes)
    listing.rows.flush()
    digests = {"sha256": listing.digest.hexdigest()}
    existing = _existing_item(session, rec.case_id, plan, digests["sha256"], but_not=item.id)
    if existing is not None:
        raise _AlreadyRecorded(_Recorded(existing, False, digests, listing.size, listing.files))
    item.sha256 = digests["sha256"]
    item.size = listing.size
    item.file_count = listing.files
    item.recorded_at = dt.datetime.now(dt.UTC)
    session.flush()
    rec.log(session, item)
    return _Recorded(item.id, True, digests, listing.size, listing.files)


def _earlier_items(session: Session, case_id: int, plan: _Plan, sha256: str) -> list[int]:
    """Items taken in before from the same source with different content."""
    return list(
        session.scalars(
            select(EvidenceItemRow.id).where(
                EvidenceItemRow.case_id == case_id,
                EvidenceItemRow.source_path == str(plan.source),
                EvidenceItemRow.sha256 != sha256,
            )
        )
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mark_interrupted_runs(
    session: Session, case_reference: str | None = None
) -> list[IntakeRunRow]:
    """Mark runs of this host whose process is gone as ``interrupted``; return the
    interrupted runs (of ``case_reference`` only, when given)."""
    host = socket.gethostname()
    rows = list(session.scalars(select(IntakeRunRow).where(IntakeRunRow.status == "running")))
    for r in rows:
        if r.host == host and not _pid_alive(r.pid):
            r.status = "interrupted"
            r.finished_at = dt.datetime.now(dt.UTC)
            r.error = "the process ended before the intake finished"
    q = select(IntakeRunRow).where(IntakeRunRow.status == "interrupted")
    if case_reference is not None:
        q = q.join(CaseRow, CaseRow.id == IntakeRunRow.case_id).where(
            CaseRow.reference == case_reference
        )
    return list(session.scalars(q))


def _plan_all(paths: Sequence[Path], options: IntakeOptions) -> list[_Plan]:
    """One plan per path, in order; later EWF segments of a named image are folded in.

    Raises:
        UsageError: ``expect`` given with more than one item or for a directory.
    """
    plans: list[_Plan] = []
    folded: set[Path] = set()
    for p in paths:
        plan = _plan(p, options)
        if plan.source in folded:
            continue
        if plan.kind == "ewf":
            folded.update(Path(e.path) for e in plan.entries[1:])
        plans.append(plan)
    plans = [pl for pl in plans if pl.source not in folded or pl.kind == "ewf"]
    if options.expect and (len(plans) != 1 or plans[0].kind == "directory"):
        raise UsageError(
            "--expect-sha256/--expect-sha1/--expect-md5 apply to a single file or EWF image",
            "take that file in on its own",
        )
    return plans


def _named_totals(plans: list[_Plan]) -> tuple[int, int]:
    """(bytes, files) of content to read for the items that are not directory trees."""
    total_bytes = 0
    total_files = 0
    for pl in plans:
        if pl.error or pl.tree is not None:
            continue
        content = [e for e in pl.entries if e.kind == "file" or pl.kind in ("device", "fifo")]
        total_bytes += sum(e.size for e in content)
        total_files += len(content)
    return total_bytes, total_files


def _read_ewf(plans: list[_Plan], options: IntakeOptions, hashing: _Hashing) -> None:
    """Read the EWF images' metadata and (with ``verify_media``) re-read their media."""
    for pl in plans:
        if pl.kind != "ewf" or pl.error:
            continue
        try:
            segs = [Path(e.path) for e in pl.entries]
            pl.ewf_info = ewf.read_info(segs)
            if options.verify_media:
                # The media size is known only once opened; it joins the total now.
                hashing.plan(pl.ewf_info.media_size, 0)
                ewf.verify_media(segs, pl.ewf_info, hashing.observer.advance)
        except RogatoryError as exc:
            pl.error = exc


def _take_in_item(db: Database, rec: _Recording, pl: _Plan, hashing: _Hashing) -> ItemOutcome:
    """Record one planned item (hashing it first if it is a tree) in its own transaction."""
    out = ItemOutcome(str(pl.source), "failed", kind=pl.kind)
    if pl.error is not None:
        out.error = pl.error.one_line()
        return out
    try:
        try:
            with db.session(write=True) as s:
                if pl.tree is not None:
                    found = _record_tree(s, rec, pl, hashing)
                else:
                    digests = _item_digests(pl)
                    if rec.options.expect:
                        _check_expected(pl, digests, rec.options.expect)
                    found = _record(s, rec, pl, digests)
        except _AlreadyRecorded as already:
            found = already.found
        with db.session() as s:
            earlier = _earlier_items(s, rec.case_id, pl, found.digests["sha256"])
    except RogatoryError as exc:
        pl.error = exc
        out.error = exc.one_line()
        return out
    out.status = "recorded" if found.created else "already-recorded"
    out.item = item_label(found.item_id)
    out.digests = found.digests
    out.size = found.size
    out.files = found.files
    out.warnings.extend(pl.warnings)
    if not found.created:
        out.warnings.append(
            f"{out.item} was recorded before from this source with these bytes; its original "
            "acquisition record stands and the one given now was NOT recorded"
        )
    if earlier:
        out.warnings.append(
            f"{pl.source} was taken in before as "
            + ", ".join(item_label(i) for i in earlier)
            + " with different content: the source changed since"
        )
    _add_checks(out, pl, rec.options)
    return out


def _add_checks(out: ItemOutcome, pl: _Plan, options: IntakeOptions) -> None:
    """The checks that passed, and the EWF warning, for a recorded item."""
    if options.expect:
        out.checks.extend(f"{alg} = acquisition report" for alg in options.expect)
    info = pl.ewf_info
    if info is not None and info.media_verified:
        out.checks.extend(f"media {alg.upper()} = stored in image" for alg in info.stored_hashes)
    if info is not None and info.media_verified is False:
        diffs = "; ".join(
            f"stored {alg.upper()} {v}, re-read {info.computed_hashes.get(alg)}"
            for alg, v in info.stored_hashes.items()
            if info.computed_hashes.get(alg) != v
        )
        out.warnings.append(
            "the EWF image is damaged: the media hash stored at acquisition does NOT "
            f"match a fresh read of the media ({diffs}); check it with ewfverify and "
            "obtain an intact copy"
        )


def _start_run(db: Database, case_id: int, plans: list[_Plan]) -> int:
    """Journal the run as ``running``; return its id."""
    with db.session(write=True) as s:
        run = IntakeRunRow(
            case_id=case_id,
            paths=[str(pl.source) for pl in plans],
            status="running",
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=dt.datetime.now(dt.UTC),
            item_ids=[],
        )
        s.add(run)
        s.flush()
        return run.id


def _end_run(
    db: Database, run_id: int, case_id: int, outcomes: list[ItemOutcome], item_ids: list[int]
) -> None:
    """Journal the run as ``complete`` or ``failed``; a complete run finishes the
    interrupted runs whose paths it covered."""
    with db.session(write=True) as s:
        r = s.get(IntakeRunRow, run_id)
        assert r is not None
        failed = [o for o in outcomes if o.status == "failed"]
        r.status = "failed" if failed else "complete"
        r.finished_at = dt.datetime.now(dt.UTC)
        r.item_ids = item_ids
        r.error = "; ".join(o.error or "" for o in failed)[:2000] or None
        if not failed:
            for old in s.scalars(select(IntakeRunRow).where(IntakeRunRow.status == "interrupted")):
                if set(old.paths) <= set(r.paths) and old.case_id == case_id:
                    old.status = "finished-later"


def _abort_run(db: Database, run_id: int, exc: BaseException) -> None:
    """Close the journal row of a run that ended in ``exc``: ``interrupted`` for Ctrl-C
    (listed by ``evidence list`` until the same command finishes it), else ``failed``."""
    status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
    with db.session(write=True) as s:
        r = s.get(IntakeRunRow, run_id)
        if r is not None:
            r.status, r.finished_at, r.error = status, dt.datetime.now(dt.UTC), repr(exc)[:2000]


def take_in(
    db: Database,
    blob_dir: Path,
    case_reference: str,
    paths: Sequence[Path],
    acquisition: Acquisition,
    options: IntakeOptions,
    observer: IntakeObserver | None = None,
    custody: CustodyLog | None = None,
) -> list[ItemOutcome]:
    """Take ``paths`` in as evidence items of a case.

    Args:
        db: the node's database.
        blob_dir: root of the content-addressed blob store.
        case_reference: an existing case's reference.
        paths: files, directories, EWF first segments (devices/FIFOs with
            ``allow_special``).
        acquisition: the acquisition record for every item of this run.
        options: see :class:`IntakeOptions`.
        observer: progress receiver.
        custody: the node's custody log; each recorded item's acquisition event is
            appended in the same transaction as the item.

    Returns:
        One outcome per path (folded EWF segments are left out), in order.

    Raises:
        NotFoundError: no such case.
        UsageError: ``expect`` given with more than one path or for a directory.
    """
    observer = observer or _NoObserver()
    if not paths:
        raise UsageError("no paths given", "name at least one file or directory to take in")
    with db.session(write=True) as s:
        case_id = get_case_row(s, case_reference).id
        mark_interrupted_runs(s)
    store = None if options.in_place else BlobStore(blob_dir)
    if store is not None:
        store.sweep()
    plans = _plan_all(paths, options)
    run_id = _start_run(db, case_id, plans)
    rec = _Recording(case_id, case_reference, acquisition, options, custody)
    try:
        with _Hashing(options, store, observer) as hashing:
            # Directory trees join the totals as they are listed.
            hashing.plan(*_named_totals(plans))
            _hash_named(plans, hashing)
            _read_ewf(plans, options, hashing)
            outcomes = [_take_in_item(db, rec, pl, hashing) for pl in plans]
    except BaseException as exc:
        _abort_run(db, run_id, exc)
        raise
    item_ids = [parse_item_id(o.item) for o in outcomes if o.item is not None]
    _end_run(db, run_id, case_id, outcomes, item_ids)
    return outcomes
