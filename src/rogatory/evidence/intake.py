"""Evidence intake: hash (and copy) files, directory trees and EWF sets, then record them.

One intake run takes a list of paths; each path becomes one evidence item (an
EWF segment set named by its first segment becomes one item; later segments
named on the same command line are folded into it). For every regular file a
single streaming read computes all configured digests and, unless
``in_place``, writes the bytes to the content-addressed blob store.

Nothing is recorded for an item until every one of its bytes was read, its
source was seen unchanged (size and mtime before and after the read), the
expected hash (if given) matched and its blobs are durable; then the item and
its file list are written in one database transaction. A killed process leaves
no item, only a journal row (``intake_runs``) marked interrupted on the next
run and temp files that the blob store sweeps. Running the same command again
finishes the job: items already recorded unchanged are reported, not doubled.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import datetime as dt
import hashlib
import os
import re
import socket
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import insert, select
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
from rogatory.evidence import ewf
from rogatory.evidence.acquisition import Acquisition
from rogatory.evidence.blobstore import BlobStore, BlobWriter
from rogatory.evidence.hashing import THREADED_MIN_SIZE, digest_bytes, digest_stream
from rogatory.store.database import Database
from rogatory.store.schema import CaseRow, EvidenceFileRow, EvidenceItemRow, IntakeRunRow

SMALL_FILE_MAX = 1 << 20
"""Files up to this size (bytes) are read in one call and may be hashed in worker processes."""
POOL_MIN_FILES = 2000
"""Below this many small files, a process pool costs more than it saves."""
POOL_CHUNK = 500


def item_label(item_id: int) -> str:
    """The user-facing id of an evidence item, e.g. ``EV-000042``."""
    return f"EV-{item_id:06d}"


def parse_item_id(text: str) -> int:
    """Accept ``EV-000042``, ``EV-42`` or ``42``.

    Raises:
        UsageError: not an item id.
    """
    t = text.strip().upper().removeprefix("EV-")
    if not t.isdigit():
        raise UsageError(f"{text!r} is not an evidence item id", "item ids look like EV-000042")
    return int(t)


class IntakeObserver(Protocol):
    """Receives progress of an intake run (for a progress bar). Called from several threads."""

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


@dataclass
class _Entry:
    relpath: str
    path: Path
    kind: str  # file, directory, symlink, fifo, char-device, block-device, socket
    size: int
    mode: int
    mtime_ns: int
    link_target: str | None = None
    digests: dict[str, str] = field(default_factory=dict)


@dataclass
class _Plan:
    kind: str  # file, directory, ewf, device, fifo
    source: Path
    entries: list[_Entry]
    error: RogatoryError | None = None
    ewf_info: ewf.EwfInfo | None = None


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


def _os_error(exc: OSError, path: Path, doing: str) -> IntakeError:
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


def _check_name(relpath: str, root: Path) -> None:
    try:
        relpath.encode("utf-8")
    except UnicodeEncodeError:
        raise IntakeError(
            f"a file name under {root} is not valid UTF-8: {relpath.encode('utf-8', 'backslashreplace')!r}",
            "copy the tree with names converted to UTF-8 (e.g. convmv) and take the copy in",
        ) from None


def _walk(root: Path, allow_special: bool) -> list[_Entry]:
    entries: list[_Entry] = []
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                children = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            raise _os_error(exc, d, "while listing") from exc
        for e in children:
            p = Path(e.path)
            rel = p.relative_to(root).as_posix()
            _check_name(rel, root)
            try:
                st = e.stat(follow_symlinks=False)
            except OSError as exc:
                raise _os_error(exc, p, "while listing") from exc
            kind = _kind(st.st_mode)
            size = st.st_size if kind == "file" else 0
            entry = _Entry(rel, p, kind, size, stat.S_IMODE(st.st_mode), st.st_mtime_ns)
            if kind == "directory":
                stack.append(p)
            elif kind == "symlink":
                entry.link_target = os.readlink(p)
            elif kind != "file" and not allow_special:
                raise IntakeError(
                    f"{p} is a {kind}, not a regular file",
                    "pass --allow-special to record special files (without content), "
                    "or remove it from the tree",
                )
            entries.append(entry)
    entries.sort(key=lambda x: x.relpath)
    return entries


_LATER_SEGMENT = re.compile(r"\.[EeSsLl](?!01$)[0-9A-Za-z]{2}$")


def _plan(path: Path, options: IntakeOptions) -> _Plan:
    source = Path(os.path.abspath(path))
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
            return _Plan("directory", source, _walk(real, options.allow_special))
        if kind == "file":
            entry = _Entry(
                source.name, real, "file", st.st_size, stat.S_IMODE(st.st_mode), st.st_mtime_ns
            )
            if _LATER_SEGMENT.search(real.name) and ewf.has_ewf_signature(real):
                raise IntakeError(
                    f"{source.name} is a later segment of an EWF image, not its first segment",
                    "name the first segment (.E01); Rogatory finds the others beside it",
                )
            if ewf.is_ewf_path(real):
                segs = ewf.segments(real)
                entries = [entry]
                for seg in segs[1:]:
                    sst = os.stat(seg)
                    entries.append(
                        _Entry(
                            seg.name,
                            seg,
                            "file",
                            sst.st_size,
                            stat.S_IMODE(sst.st_mode),
                            sst.st_mtime_ns,
                        )
                    )
                return _Plan("ewf", source, entries)
            return _Plan("file", source, [entry])
        if kind in ("fifo", "char-device", "block-device"):
            if not options.allow_special:
                raise IntakeError(
                    f"{source} is a {kind}, not a regular file",
                    "pass --allow-special to read it as a stream (e.g. a disk device)",
                )
            return _Plan(
                "fifo" if kind == "fifo" else "device",
                source,
                [_Entry(source.name, real, kind, 0, stat.S_IMODE(st.st_mode), st.st_mtime_ns)],
            )
        raise IntakeError(
            f"{source} is a {kind}", "only files, directories and devices can be taken in"
        )
    except RogatoryError as exc:
        return _Plan(kind, source, [], error=exc)
    except OSError as exc:
        return _Plan(kind, source, [], error=_os_error(exc, source, "while planning"))


# ---------------------------------------------------------------- hashing


def _changed(
    path: Path, before: tuple[int, int], after: os.stat_result, read: int
) -> SourceChangedError:
    return SourceChangedError(
        f"{path} changed while it was being hashed (size {before[0]}→{after.st_size} bytes, "
        f"read {read}; mtime {'moved' if before[1] != after.st_mtime_ns else 'same'})",
        "acquire from a quiescent or write-blocked source, or take a copy in; nothing was recorded",
    )


def _open_nofollow(path: Path) -> int:
    return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NOATIME", 0))


def _open_for_read(path: Path) -> int:
    try:
        return _open_nofollow(path)
    except PermissionError:
        # O_NOATIME is allowed only to the file's owner; retry without it.
        return os.open(path, os.O_RDONLY | os.O_NOFOLLOW)


def _hash_small_file(
    path: Path, size: int, mtime_ns: int, algorithms: Sequence[str], blob_root: Path | None
) -> dict[str, str]:
    """Hash (and store) one small file read in a single call; raises RogatoryError."""
    try:
        fd = _open_for_read(path)
    except OSError as exc:
        raise _os_error(exc, path, "before it could be read") from exc
    try:
        st0 = os.fstat(fd)
        if st0.st_size != size or st0.st_mtime_ns != mtime_ns or not stat.S_ISREG(st0.st_mode):
            raise _changed(path, (size, mtime_ns), st0, 0)
        data = os.read(fd, size + 1)
        while len(data) <= size:
            more = os.read(fd, size + 1 - len(data))
            if not more:
                break
            data += more
        st1 = os.fstat(fd)
    except OSError as exc:
        raise _os_error(exc, path, "while reading") from exc
    finally:
        os.close(fd)
    if len(data) != size or st1.st_size != size or st1.st_mtime_ns != mtime_ns:
        raise _changed(path, (size, mtime_ns), st1, len(data))
    digests = digest_bytes(data, algorithms)
    if blob_root is not None:
        store = BlobStore(blob_root)
        if not store.has(digests["sha256"]):
            w = store.writer()
            try:
                w.write(data)
                w.commit(digests["sha256"])
            except BaseException:
                w.abort()
                raise
    return digests


def _small_batch(
    jobs: list[tuple[str, int, int]], algorithms: list[str], blob_root: str | None
) -> list[tuple[dict[str, str] | None, tuple[str, str, str] | None]]:
    """Worker-process entry: hash a batch; errors come back as (class, message, hint)."""
    out: list[tuple[dict[str, str] | None, tuple[str, str, str] | None]] = []
    root = Path(blob_root) if blob_root else None
    for path, size, mtime in jobs:
        try:
            out.append((_hash_small_file(Path(path), size, mtime, algorithms, root), None))
        except RogatoryError as exc:
            out.append((None, (type(exc).__name__, exc.message, exc.hint)))
    return out


_ERRORS: dict[str, type[RogatoryError]] = {
    cls.__name__: cls for cls in (IntakeError, SourceChangedError, StorageFullError, RogatoryError)
}


def _hash_large_file(
    entry: _Entry,
    algorithms: Sequence[str],
    store: BlobStore | None,
    progress: Callable[[int], object],
    stream: bool = False,
) -> dict[str, str]:
    """Hash (and store) one large file, device or FIFO with a streaming read."""
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
        elif n != entry.size or st1.st_size != entry.size or st1.st_mtime_ns != entry.mtime_ns:
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


def _hash_all(
    plans: list[_Plan], options: IntakeOptions, store: BlobStore | None, observer: IntakeObserver
) -> None:
    """Fill ``digests`` of every content entry; set ``plan.error`` on the first failure."""
    small: list[tuple[_Plan, _Entry]] = []
    large: list[tuple[_Plan, _Entry]] = []
    for plan in plans:
        if plan.error:
            continue
        for e in plan.entries:
            if plan.kind in ("device", "fifo"):
                large.append((plan, e))
            elif e.kind == "file":
                (small if e.size <= SMALL_FILE_MAX else large).append((plan, e))

    def run_large(item: tuple[_Plan, _Entry]) -> None:
        plan, e = item
        if plan.error:
            return
        try:
            e.digests = _hash_large_file(
                e,
                options.algorithms,
                store,
                observer.advance,
                stream=plan.kind in ("device", "fifo"),
            )
            observer.files_done(1)
        except RogatoryError as exc:
            plan.error = plan.error or exc

    if large:
        with cf.ThreadPoolExecutor(max_workers=max(1, min(options.workers, len(large)))) as threads:
            list(threads.map(run_large, large))

    blob_root = str(store.root) if store is not None else None
    if len(small) >= POOL_MIN_FILES and options.workers > 1:
        chunks = [small[i : i + POOL_CHUNK] for i in range(0, len(small), POOL_CHUNK)]
        with cf.ProcessPoolExecutor(max_workers=options.workers) as pool:
            futures = {
                pool.submit(
                    _small_batch,
                    [(str(e.path), e.size, e.mtime_ns) for _, e in chunk],
                    options.algorithms,
                    blob_root,
                ): chunk
                for chunk in chunks
            }
            for fut in cf.as_completed(futures):
                chunk = futures[fut]
                for (plan, e), (digests, err) in zip(chunk, fut.result(), strict=True):
                    if err is not None:
                        cls = _ERRORS.get(err[0], IntakeError)
                        plan.error = plan.error or cls(err[1], err[2])
                    elif digests is not None:
                        e.digests = digests
                observer.advance(sum(e.size for _, e in chunk))
                observer.files_done(len(chunk))
    else:
        root = Path(blob_root) if blob_root else None
        for plan, e in small:
            if plan.error:
                continue
            try:
                e.digests = _hash_small_file(e.path, e.size, e.mtime_ns, options.algorithms, root)
            except RogatoryError as exc:
                plan.error = exc
            observer.advance(e.size)
            observer.files_done(1)


# ---------------------------------------------------------------- recording


def listing_digest(entries: Sequence[Any]) -> str:
    """SHA-256 (hex) identifying a multi-file item by its file list.

    Over the entries sorted by ``relpath``, the UTF-8 bytes of one line each:
    ``<kind> NUL <relpath> NUL <sha256 hex | link target | ""> NUL <size> LF``.
    Documented in docs/EVIDENCE.md so that anyone can recompute it.
    """
    h = hashlib.sha256()
    for e in sorted(entries, key=lambda x: x.relpath):
        third = e.sha256 if hasattr(e, "sha256") else e.digests.get("sha256")
        value = third or e.link_target or ""
        h.update(f"{e.kind}\0{e.relpath}\0{value}\0{e.size}\n".encode())
    return h.hexdigest()


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


def _record(
    session: Session,
    case_id: int,
    plan: _Plan,
    digests: dict[str, str],
    acquisition: Acquisition,
    options: IntakeOptions,
    now: dt.datetime,
    custody: CustodyLog | None = None,
    case_reference: str = "",
) -> tuple[int, bool]:
    """Insert the item, its file list and (with ``custody``) its acquisition event,
    all in the caller's transaction; return (id, created)."""
    existing = session.scalar(
        select(EvidenceItemRow.id).where(
            EvidenceItemRow.case_id == case_id,
            EvidenceItemRow.source_path == str(plan.source),
            EvidenceItemRow.sha256 == digests["sha256"],
            EvidenceItemRow.kind == plan.kind,
        )
    )
    if existing is not None:
        return int(existing), False
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
        size=sum(
            e.size
            for e in plan.entries
            if e.kind in ("file", "fifo", "char-device", "block-device")
        ),
        file_count=len(plan.entries),
        sha256=digests["sha256"],
        sha1=digests.get("sha1"),
        md5=digests.get("md5"),
        blake3=digests.get("blake3"),
        acquisition=record,
        ewf=plan.ewf_info.as_dict() if plan.ewf_info is not None else None,
        recorded_at=now,
    )
    session.add(item)
    session.flush()
    rows = [
        {
            "item_id": item.id,
            "relpath": e.relpath,
            "kind": e.kind,
            "size": e.size,
            "mode": e.mode,
            "mtime_ns": e.mtime_ns,
            "link_target": e.link_target,
            "sha256": e.digests.get("sha256"),
            "sha1": e.digests.get("sha1"),
            "md5": e.digests.get("md5"),
            "blake3": e.digests.get("blake3"),
        }
        for e in plan.entries
    ]
    for i in range(0, len(rows), 5000):
        session.execute(insert(EvidenceFileRow), rows[i : i + 5000])
    if custody is not None:
        custody.append_in(
            session,
            [acquisition_event(custody.node_id, case_reference, item.id, item, acquisition, now)],
        )
    return item.id, True


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
    with db.session() as s:
        case_id = get_case_row(s, case_reference).id
        mark_interrupted_runs(s)
    store = None if options.in_place else BlobStore(blob_dir)
    if store is not None:
        store.sweep()

    plans: list[_Plan] = []
    folded: set[Path] = set()
    for p in paths:
        plan = _plan(p, options)
        if plan.source in folded:
            continue
        if plan.kind == "ewf":
            folded.update(e.path for e in plan.entries[1:])
        plans.append(plan)
    plans = [pl for pl in plans if pl.source not in folded or pl.kind == "ewf"]
    if options.expect and (len(plans) != 1 or plans[0].kind == "directory"):
        raise UsageError(
            "--expect-sha256/--expect-sha1/--expect-md5 apply to a single file or EWF image",
            "take that file in on its own",
        )

    with db.session() as s:
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
        run_id = run.id

    total_bytes = 0
    total_files = 0
    for pl in plans:
        if pl.error:
            continue
        content = [e for e in pl.entries if e.kind == "file" or pl.kind in ("device", "fifo")]
        total_bytes += sum(e.size for e in content)
        total_files += len(content)
    # An EWF image's media size is known only once opened; it joins the total then.
    observer.planned(total_bytes, total_files)

    try:
        _hash_all(plans, options, store, observer)
        for pl in plans:
            if pl.kind != "ewf" or pl.error:
                continue
            try:
                segs = [e.path for e in pl.entries]
                pl.ewf_info = ewf.read_info(segs)
                if options.verify_media:
                    observer.planned(total_bytes + pl.ewf_info.media_size, total_files)
                    total_bytes += pl.ewf_info.media_size
                    ewf.verify_media(segs, pl.ewf_info, observer.advance)
            except RogatoryError as exc:
                pl.error = exc

        outcomes: list[ItemOutcome] = []
        recorded: list[int] = []
        now = dt.datetime.now(dt.UTC)
        for pl in plans:
            out = ItemOutcome(str(pl.source), "failed", kind=pl.kind)
            if pl.error is None:
                try:
                    digests = _item_digests(pl)
                    if options.expect:
                        _check_expected(pl, digests, options.expect)
                    with db.session() as s:
                        item_id, created = _record(
                            s,
                            case_id,
                            pl,
                            digests,
                            acquisition,
                            options,
                            now,
                            custody,
                            case_reference,
                        )
                        earlier = s.scalars(
                            select(EvidenceItemRow.id).where(
                                EvidenceItemRow.case_id == case_id,
                                EvidenceItemRow.source_path == str(pl.source),
                                EvidenceItemRow.sha256 != digests["sha256"],
                            )
                        ).all()
                    out.status = "recorded" if created else "already-recorded"
                    if earlier:
                        out.warnings.append(
                            f"{pl.source} was taken in before as "
                            + ", ".join(item_label(i) for i in earlier)
                            + " with different content: the source changed since"
                        )
                    out.item = item_label(item_id)
                    out.digests = digests
                    out.size = sum(e.size for e in pl.entries if e.kind != "directory")
                    out.files = len(pl.entries)
                    recorded.append(item_id)
                    if options.expect:
                        out.checks.extend(f"{alg} = acquisition report" for alg in options.expect)
                    if pl.ewf_info is not None and pl.ewf_info.media_verified:
                        out.checks.extend(
                            f"media {alg.upper()} = stored in image"
                            for alg in pl.ewf_info.stored_hashes
                        )
                    if pl.ewf_info is not None and pl.ewf_info.media_verified is False:
                        info = pl.ewf_info
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
                except RogatoryError as exc:
                    pl.error = exc
            if pl.error is not None:
                out.error = pl.error.one_line()
            outcomes.append(out)
    except BaseException as exc:
        with db.session() as s:
            r = s.get(IntakeRunRow, run_id)
            if r is not None:
                r.status, r.finished_at, r.error = (
                    "failed",
                    dt.datetime.now(dt.UTC),
                    repr(exc)[:2000],
                )
        raise
    with db.session() as s:
        r = s.get(IntakeRunRow, run_id)
        assert r is not None
        failed = [o for o in outcomes if o.status == "failed"]
        r.status = "failed" if failed else "complete"
        r.finished_at = dt.datetime.now(dt.UTC)
        r.item_ids = recorded
        r.error = "; ".join(o.error or "" for o in failed)[:2000] or None
        if not failed:
            for old in s.scalars(select(IntakeRunRow).where(IntakeRunRow.status == "interrupted")):
                if set(old.paths) <= set(r.paths) and old.case_id == case_id:
                    old.status = "finished-later"
    return outcomes
