"""Evidence intake on both databases: hashes, blobs, trees, EWF, faults."""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rogatory.cases import open_case
from rogatory.errors import NotFoundError, UsageError
from rogatory.evidence import Acquisition, IntakeOptions, intake, take_in
from rogatory.evidence.blobstore import BlobStore
from rogatory.evidence.records import get_item, item_detail, list_items, verify_items
from rogatory.node.home import NodeHome
from rogatory.store.database import Database

CASE = "NL-2026-0042"


def acq() -> Acquisition:
    return Acquisition.create(
        acquired_by="Insp. Test",
        acquired_at="2026-11-29T08:00:00Z",
        location="Lab",
        source_device="Disk S/N 1",
        method="logical",
        tool="pytest 8",
    )


@pytest.fixture
def db(home: NodeHome):
    d = Database(home.database_url)
    with d.session() as s:
        open_case(s, CASE, "Test case", ["BC-4"], "AMBER")
    yield d
    d.close()


@pytest.fixture
def sdb(sqlite_home: NodeHome):
    d = Database(sqlite_home.database_url)
    with d.session() as s:
        open_case(s, CASE, "Test case", ["BC-4"], "AMBER")
    yield d
    d.close()


def opts(**kw) -> IntakeOptions:
    return IntakeOptions(algorithms=["sha256", "sha1", "md5"], **kw)


def test_file_intake_copies_hashes_and_records(
    home: NodeHome, db: Database, tmp_path: Path
) -> None:
    f = tmp_path / "note.txt"
    data = os.urandom(50_000)
    f.write_bytes(data)
    [o] = take_in(db, home.blob_dir, CASE, [f], acq(), opts())
    assert o.status == "recorded" and o.item == "EV-000001"
    assert o.digests == {
        "sha256": hashlib.sha256(data).hexdigest(),
        "sha1": hashlib.sha1(data).hexdigest(),
        "md5": hashlib.md5(data).hexdigest(),
    }
    blob = BlobStore(home.blob_dir).path_for(o.digests["sha256"])
    assert blob.read_bytes() == data
    assert stat.S_IMODE(blob.stat().st_mode) == 0o444
    with db.session() as s:
        d = item_detail(get_item(s, "EV-1"))
    assert d["acquisition"]["acquired_by"] == "Insp. Test"
    assert d["acquisition"]["acquired_at"] == "2026-11-29T08:00:00+00:00"
    assert d["acquisition"]["recorded_with"]["algorithms"] == ["sha256", "sha1", "md5"]
    assert d["size"] == 50_000 and d["file_list"][0]["path"] == "note.txt"


def test_large_file_threaded_path_and_dedup(home: NodeHome, db: Database, tmp_path: Path) -> None:
    data = os.urandom(20 << 20)
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(data)
    b.write_bytes(data)
    outs = take_in(db, home.blob_dir, CASE, [a, b], acq(), opts())
    assert [o.status for o in outs] == ["recorded", "recorded"]
    assert outs[0].digests == outs[1].digests
    assert outs[0].digests["md5"] == hashlib.md5(data).hexdigest()
    blobs = list((home.blob_dir / "sha256").rglob("*"))
    assert len([p for p in blobs if p.is_file()]) == 1, "identical content is stored once"


def test_rerun_reports_already_recorded_without_duplicates(
    home: NodeHome, db: Database, tmp_path: Path
) -> None:
    f = tmp_path / "x.bin"
    f.write_bytes(b"same")
    first = take_in(db, home.blob_dir, CASE, [f], acq(), opts())
    again = take_in(db, home.blob_dir, CASE, [f], acq(), opts())
    assert again[0].status == "already-recorded" and again[0].item == first[0].item
    with db.session() as s:
        assert len(list_items(s, CASE)) == 1


def test_directory_tree_keeps_paths_sizes_times_and_symlinks(
    home: NodeHome, db: Database, tmp_path: Path
) -> None:
    root = tmp_path / "export"
    (root / "logs" / "old").mkdir(parents=True)
    (root / "logs" / "a.log").write_bytes(b"alpha\n")
    (root / "logs" / "old" / "b.log").write_bytes(b"beta\n" * 1000)
    (root / "ímynd.txt").write_bytes(b"non-ascii name")
    (root / "link-to-a").symlink_to("logs/a.log")
    (root / "dangling").symlink_to("/nonexistent/target")
    os.utime(root / "logs" / "a.log", ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))
    [o] = take_in(db, home.blob_dir, CASE, [root], acq(), opts())
    assert o.status == "recorded" and o.kind == "directory", o.error
    with db.session() as s:
        d = item_detail(get_item(s, o.item))
    by_path = {f["path"]: f for f in d["file_list"]}
    assert set(by_path) == {
        "dangling",
        "link-to-a",
        "logs",
        "logs/a.log",
        "logs/old",
        "logs/old/b.log",
        "ímynd.txt",
    }
    assert (
        by_path["link-to-a"]["kind"] == "symlink"
        and by_path["link-to-a"]["link_target"] == "logs/a.log"
    )
    assert "sha256" not in by_path["link-to-a"], "symlinks are recorded, not followed"
    assert by_path["dangling"]["link_target"] == "/nonexistent/target"
    assert by_path["logs/a.log"]["mtime_ns"] == 1_600_000_000_123_456_789
    assert by_path["logs/old/b.log"]["size"] == 5000
    assert by_path["logs/old/b.log"]["sha256"] == hashlib.sha256(b"beta\n" * 1000).hexdigest()
    assert by_path["logs"]["kind"] == "directory"
    assert d["sha256"] == intake.listing_digest(get_item_files(db, o.item))


def get_item_files(db: Database, item: str):
    with db.session() as s:
        return list(get_item(s, item).files)


def test_many_small_files_use_the_process_pool(
    home: NodeHome, db: Database, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(intake, "POOL_MIN_FILES", 50)
    monkeypatch.setattr(intake, "POOL_CHUNK", 16)
    root = tmp_path / "many"
    root.mkdir()
    expected = {}
    for i in range(120):
        data = f"file {i}\n".encode() * (i + 1)
        (root / f"f{i:03d}").write_bytes(data)
        expected[f"f{i:03d}"] = hashlib.sha256(data).hexdigest()
    [o] = take_in(db, home.blob_dir, CASE, [root], acq(), opts(workers=2))
    assert o.status == "recorded", o.error
    with db.session() as s:
        files = {f.relpath: f.sha256 for f in get_item(s, o.item).files}
    assert files == expected
    store = BlobStore(home.blob_dir)
    assert all(store.has(h) for h in expected.values())


def test_in_place_records_without_copying(home: NodeHome, db: Database, tmp_path: Path) -> None:
    f = tmp_path / "image.raw"
    f.write_bytes(os.urandom(10_000))
    [o] = take_in(db, home.blob_dir, CASE, [f], acq(), opts(in_place=True))
    assert o.status == "recorded"
    assert not BlobStore(home.blob_dir).has(o.digests["sha256"])
    with db.session() as s:
        report = verify_items(s, list_items(s, CASE), BlobStore(home.blob_dir))
    assert report.ok and report.files == 1


def test_expected_hash_mismatch_records_nothing(
    home: NodeHome, db: Database, tmp_path: Path
) -> None:
    f = tmp_path / "x"
    f.write_bytes(b"content")
    [o] = take_in(db, home.blob_dir, CASE, [f], acq(), opts(expect={"md5": "0" * 32}))
    assert o.status == "failed"
    assert "acquisition report states 00000000000000000000000000000000" in (o.error or "")
    with db.session() as s:
        assert list_items(s, CASE) == []
    [ok] = take_in(
        db,
        home.blob_dir,
        CASE,
        [f],
        acq(),
        opts(expect={"md5": hashlib.md5(b"content").hexdigest()}),
    )
    assert ok.status == "recorded"


def test_expect_with_several_items_is_refused(home: NodeHome, db: Database, tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "b").write_bytes(b"b")
    with pytest.raises(UsageError, match="single file"):
        take_in(
            db,
            home.blob_dir,
            CASE,
            [tmp_path / "a", tmp_path / "b"],
            acq(),
            opts(expect={"md5": "0" * 32}),
        )


def test_unknown_case(home: NodeHome, db: Database, tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"a")
    with pytest.raises(NotFoundError):
        take_in(db, home.blob_dir, "NOPE", [tmp_path / "a"], acq(), opts())


def test_missing_path_fails_only_that_item(home: NodeHome, db: Database, tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"a")
    outs = take_in(db, home.blob_dir, CASE, [tmp_path / "gone", tmp_path / "a"], acq(), opts())
    assert outs[0].status == "failed" and "no such file or directory" in (outs[0].error or "")
    assert outs[1].status == "recorded"


def test_file_vanishing_between_listing_and_reading(
    sqlite_home: NodeHome, sdb: Database, tmp_path: Path, monkeypatch
) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "keep").write_bytes(b"k")
    (root / "vanish").write_bytes(b"v")
    real = intake._walk

    def walk_then_delete(r: Path, allow: bool):
        entries = real(r, allow)
        (root / "vanish").unlink()
        return entries

    monkeypatch.setattr(intake, "_walk", walk_then_delete)
    [o] = take_in(sdb, sqlite_home.blob_dir, CASE, [root], acq(), opts())
    assert o.status == "failed" and "vanish vanished" in (o.error or "")
    with sdb.session() as s:
        assert list_items(s, CASE) == []


def test_permission_denied(
    sqlite_home: NodeHome, sdb: Database, tmp_path: Path, monkeypatch
) -> None:
    f = tmp_path / "secret"
    f.write_bytes(b"s")
    real_open = os.open

    def deny(path, flags, *a, **k):
        if str(path) == str(f):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *a, **k)

    monkeypatch.setattr(intake.os, "open", deny)
    [o] = take_in(sdb, sqlite_home.blob_dir, CASE, [f], acq(), opts())
    assert o.status == "failed" and "permission denied" in (o.error or "")
    assert "read-only access is enough" in (o.error or "")


@pytest.mark.parametrize("size", [10, 20 << 20])
def test_file_changing_while_hashed_is_flagged(
    sqlite_home: NodeHome, sdb: Database, tmp_path: Path, monkeypatch, size: int
) -> None:
    f = tmp_path / "live.log"
    f.write_bytes(b"x" * size)
    real_fstat = os.fstat
    calls = {"n": 0}

    def fstat_then_append(fd: int):
        calls["n"] += 1
        if calls["n"] == 2:  # after the first check, before the end-of-read check
            with open(f, "ab") as fh:
                fh.write(b"appended by a live system")
        return real_fstat(fd)

    monkeypatch.setattr(intake.os, "fstat", fstat_then_append)
    [o] = take_in(sdb, sqlite_home.blob_dir, CASE, [f], acq(), opts())
    assert o.status == "failed"
    assert "changed while it was being hashed" in (o.error or "")
    with sdb.session() as s:
        assert list_items(s, CASE) == []
    assert list(BlobStore(sqlite_home.blob_dir).tmp_dir.iterdir()) == []


def test_fifo_refused_unless_allowed(sqlite_home: NodeHome, sdb: Database, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    [o] = take_in(sdb, sqlite_home.blob_dir, CASE, [fifo], acq(), opts())
    assert (
        o.status == "failed"
        and "is a fifo" in (o.error or "")
        and "--allow-special" in (o.error or "")
    )

    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "f").write_bytes(b"f")
    os.mkfifo(tree / "p")
    [t] = take_in(sdb, sqlite_home.blob_dir, CASE, [tree], acq(), opts())
    assert t.status == "failed" and "--allow-special" in (t.error or "")
    [t2] = take_in(sdb, sqlite_home.blob_dir, CASE, [tree], acq(), opts(allow_special=True))
    assert t2.status == "recorded"
    with sdb.session() as s:
        kinds = {f.relpath: f.kind for f in get_item(s, t2.item).files}
    assert kinds == {"f": "file", "p": "fifo"}

    writer = subprocess.Popen(["sh", "-c", f"printf 'streamed bytes' > {fifo}"])
    [p] = take_in(sdb, sqlite_home.blob_dir, CASE, [fifo], acq(), opts(allow_special=True))
    writer.wait(timeout=10)
    assert p.status == "recorded" and p.size == len(b"streamed bytes")
    assert p.digests["sha256"] == hashlib.sha256(b"streamed bytes").hexdigest()


def test_character_device_is_refused_by_default(sqlite_home: NodeHome, sdb: Database) -> None:
    [o] = take_in(sdb, sqlite_home.blob_dir, CASE, [Path("/dev/null")], acq(), opts())
    assert o.status == "failed" and "char-device" in (o.error or "")


def test_disk_full_records_nothing_and_leaves_no_partial_blob(
    sqlite_home: NodeHome, sdb: Database, tmp_path: Path, monkeypatch
) -> None:
    import errno

    from rogatory.evidence import blobstore

    f = tmp_path / "big"
    f.write_bytes(os.urandom(12 << 20))
    real_write = os.write
    written = {"n": 0}

    def write_until_full(fd: int, data) -> int:
        written["n"] += len(data)
        if written["n"] > 5 << 20:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(blobstore.os, "write", write_until_full)
    [o] = take_in(sdb, sqlite_home.blob_dir, CASE, [f], acq(), opts())
    assert o.status == "failed" and "is full" in (o.error or "") and "--in-place" in (o.error or "")
    monkeypatch.setattr(blobstore.os, "write", real_write)
    assert list(BlobStore(sqlite_home.blob_dir).tmp_dir.iterdir()) == []
    assert not (sqlite_home.blob_dir / "sha256").exists()
    with sdb.session() as s:
        assert list_items(s, CASE) == []
    [again] = take_in(sdb, sqlite_home.blob_dir, CASE, [f], acq(), opts())
    assert again.status == "recorded"


def test_verify_detects_tampered_and_missing_blobs(
    home: NodeHome, db: Database, tmp_path: Path
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"original a")
    b.write_bytes(b"original b")
    outs = take_in(db, home.blob_dir, CASE, [a, b], acq(), opts())
    store = BlobStore(home.blob_dir)
    pa = store.path_for(outs[0].digests["sha256"])
    pa.chmod(0o644)
    pa.write_bytes(b"tampered a")
    store.path_for(outs[1].digests["sha256"]).unlink()
    with db.session() as s:
        report = verify_items(s, list_items(s, CASE), store)
    problems = sorted((f.item, f.problem) for f in report.findings)
    assert ("EV-000001", "mismatch") in problems and ("EV-000002", "missing") in problems
    assert not report.ok
    with db.session() as s:
        assert get_item(s, "EV-1").last_verified_ok is False


KILL_SCRIPT = r"""
import sys
from pathlib import Path
from rogatory.evidence import Acquisition, IntakeOptions, take_in, hashing
from rogatory.node.home import NodeHome
from rogatory.store.database import Database
import time
real = hashing.digest_stream
def slow(*a, **k):
    prog = k.get("progress")
    def tick(n):
        time.sleep(0.02)
        if prog: prog(n)
    k["progress"] = tick
    return real(*a, **k)
import rogatory.evidence.intake as intake
intake.digest_stream = slow
home = NodeHome.open(Path(sys.argv[1]))
db = Database(home.database_url)
acq = Acquisition.create(acquired_by="a", acquired_at=None, location="l", source_device="d", method="logical", tool="t 1")
print("started", flush=True)
take_in(db, home.blob_dir, "NL-2026-0042", [Path(p) for p in sys.argv[2:]], acq, IntakeOptions(["sha256", "sha1", "md5"]))
"""


def test_killed_mid_intake_leaves_nothing_complete_and_rerun_finishes(
    sqlite_home: NodeHome, sdb: Database, tmp_path: Path
) -> None:
    done = tmp_path / "small.txt"
    done.write_bytes(b"small")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(40 << 20))
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(sqlite_home.path), str(big)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
    tmp_dir = sqlite_home.blob_dir / "tmp"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(
        p.stat().st_size > (2 << 20) for p in tmp_dir.glob("*.part")
    ):
        time.sleep(0.05)
    assert any(tmp_dir.glob("*.part")), "the intake should be writing its blob"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)

    with sdb.session() as s:
        assert list_items(s, CASE) == [], "an interrupted item is never recorded"
        runs = intake.mark_interrupted_runs(s)
        assert [r.status for r in runs] == ["interrupted"]
    assert not (sqlite_home.blob_dir / "sha256").exists()

    [o] = take_in(sdb, sqlite_home.blob_dir, CASE, [big], acq(), opts())
    assert o.status == "recorded"
    assert o.digests["sha256"] == hashlib.sha256(big.read_bytes()).hexdigest()
    assert list(tmp_dir.iterdir()) == [], "the stale partial blob was swept"
    with sdb.session() as s:
        assert intake.mark_interrupted_runs(s) == [], "the re-run finished the interrupted job"


def test_changed_source_is_rehashed_and_flagged(
    sqlite_home: NodeHome, sdb: Database, tmp_path: Path
) -> None:
    f = tmp_path / "note.txt"
    f.write_bytes(b"version one")
    st = f.stat()
    [first] = take_in(sdb, sqlite_home.blob_dir, CASE, [f], acq(), opts())
    f.write_bytes(b"version two")  # same size, and the mtime put back: must still be re-read
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    [second] = take_in(sdb, sqlite_home.blob_dir, CASE, [f], acq(), opts())
    assert second.status == "recorded" and second.item != first.item
    assert second.digests["sha256"] == hashlib.sha256(b"version two").hexdigest()
    assert any("with different content: the source changed since" in w for w in second.warnings)
    [again] = take_in(sdb, sqlite_home.blob_dir, CASE, [f], acq(), opts())
    assert again.status == "already-recorded" and again.item == second.item and again.digests


def test_symlink_named_on_the_command_line_is_followed(
    sqlite_home: NodeHome, sdb: Database, tmp_path: Path
) -> None:
    target = tmp_path / "disk.raw"
    target.write_bytes(b"raw disk bytes")
    link = tmp_path / "by-id-link"
    link.symlink_to(target)
    [o] = take_in(sdb, sqlite_home.blob_dir, CASE, [link], acq(), opts())
    assert o.status == "recorded" and o.source == str(link)
    assert o.digests["sha256"] == hashlib.sha256(b"raw disk bytes").hexdigest()
    broken = tmp_path / "broken"
    broken.symlink_to(tmp_path / "nowhere")
    [b] = take_in(sdb, sqlite_home.blob_dir, CASE, [broken], acq(), opts())
    assert (
        b.status == "failed"
        and "symbolic link to" in (b.error or "")
        and "does not exist" in (b.error or "")
    )


def test_rerun_with_another_acquisition_record_warns(
    sqlite_home: NodeHome, sdb: Database, tmp_path: Path
) -> None:
    f = tmp_path / "x.bin"
    f.write_bytes(b"same bytes")
    take_in(sdb, sqlite_home.blob_dir, CASE, [f], acq(), opts())
    [again] = take_in(sdb, sqlite_home.blob_dir, CASE, [f], acq(), opts())
    assert again.status == "already-recorded"
    assert any("NOT recorded" in w for w in again.warnings)


def test_file_named_like_ewf_without_signature_warns(
    sqlite_home: NodeHome, sdb: Database, tmp_path: Path
) -> None:
    f = tmp_path / "renamed.E01"
    f.write_bytes(b"not an EWF image at all")
    [o] = take_in(sdb, sqlite_home.blob_dir, CASE, [f], acq(), opts())
    assert o.status == "recorded" and o.kind == "file"
    assert any("no EWF signature" in w for w in o.warnings)


def test_non_utf8_path_on_the_command_line(
    sqlite_home: NodeHome, sdb: Database, tmp_path: Path
) -> None:
    raw = os.path.join(os.fsencode(tmp_path), b"caf\xe9.bin")
    with open(raw, "wb") as fh:
        fh.write(b"x")
    [o] = take_in(sdb, sqlite_home.blob_dir, CASE, [Path(os.fsdecode(raw))], acq(), opts())
    assert o.status == "failed" and "not valid UTF-8" in (o.error or "")


def test_pool_workers_die_with_a_killed_intake(
    sqlite_home: NodeHome, sdb: Database, tmp_path: Path
) -> None:
    root = tmp_path / "many"
    root.mkdir()
    for i in range(6000):
        (root / f"f{i:05d}").write_bytes(b"x" * 4096)
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from rogatory.evidence import Acquisition, IntakeOptions, take_in, intake\n"
        "from rogatory.node.home import NodeHome\n"
        "from rogatory.store.database import Database\n"
        "real = intake._hash_batch\n"
        "def slow(*a, **k):\n"
        "    time.sleep(0.5)\n"
        "    return real(*a, **k)\n"
        "intake._hash_batch = slow\n"
        "home = NodeHome.open(Path(sys.argv[1])); db = Database(home.database_url)\n"
        "acq = Acquisition.create(acquired_by='a', acquired_at=None, location='l', source_device='d', method='logical', tool='t 1')\n"
        "take_in(db, home.blob_dir, 'NL-2026-0042', [Path(sys.argv[2])], acq, IntakeOptions(['sha256'], in_place=True, workers=2))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(sqlite_home.path), str(root)])
    deadline = time.monotonic() + 30
    children: list[int] = []
    while time.monotonic() < deadline and not children:
        out = subprocess.run(
            ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True
        ).stdout.split()
        children = [int(x) for x in out]
        time.sleep(0.1)
    assert children, "the intake should have started its worker pool"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    alive = children
    while time.monotonic() < deadline and alive:
        alive = [c for c in children if _running(c)]
        time.sleep(0.1)
    assert not alive, f"pool workers {alive} outlived the killed intake"


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def test_concurrent_intakes_of_one_file_record_it_once(
    home: NodeHome, db: Database, tmp_path: Path
) -> None:
    f = tmp_path / "shared.bin"
    f.write_bytes(os.urandom(3 << 20))
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from rogatory.evidence import Acquisition, IntakeOptions, take_in\n"
        "from rogatory.node.home import NodeHome\n"
        "from rogatory.store.database import Database\n"
        "home = NodeHome.open(Path(sys.argv[1])); db = Database(home.database_url)\n"
        "acq = Acquisition.create(acquired_by='a', acquired_at=None, location='l', source_device='d', method='logical', tool='t 1')\n"
        "[o] = take_in(db, home.blob_dir, 'NL-2026-0042', [Path(sys.argv[2])], acq, IntakeOptions(['sha256']))\n"
        "print(o.status)\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(home.path), str(f)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    statuses = sorted(p.communicate(timeout=120)[0].strip() for p in procs)
    assert statuses == ["already-recorded"] * 3 + ["recorded"], statuses
    with db.session() as s:
        assert len(list_items(s, CASE)) == 1
