"""The custody log on both databases: appends, checkpoints, proofs, tampering, crashes, erasure."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import delete, inspect, select, update

from rogatory.custody import merkle
from rogatory.custody.audit import verify_log
from rogatory.custody.events import Actor, CustodyEvent, EventType, SubjectKind
from rogatory.custody.log import CustodyLog
from rogatory.custody.note import NoteSigner, sign_note
from rogatory.errors import CustodyError
from rogatory.node.home import NodeHome
from rogatory.node.keys import KeyPurpose, load_signing_key
from rogatory.store.database import Database
from rogatory.store.schema import LogCheckpointRow, LogEntryRow, LogStateRow


def event(subject: str, kind: EventType = EventType.ACCESS, note: str = "") -> CustodyEvent:
    return CustodyEvent(
        event_type=kind,
        subject_kind=SubjectKind.EVIDENCE,
        subject_id=subject,
        node="nl.police-cybercrime",
        actor=Actor("Insp. Test", "examiner"),
        time=dt.datetime.now(dt.UTC),
        case="NL-1",
        purpose="test",
        note=note,
    )


@pytest.fixture
def log(home: NodeHome):
    db = Database(home.database_url)
    key = load_signing_key(home.keys_dir, KeyPurpose.LOG, None)
    lg = CustodyLog(db, home.config.identity.node_id, key, home.path)
    lg.ensure_key_registered()
    yield lg
    db.close()


def fill(log: CustodyLog, n: int = 20) -> None:
    subjects = [f"{i:064x}" for i in range(4)]
    log.append([event(subjects[i % 4], note=f"event {i}") for i in range(n // 2)])
    log.publish_checkpoint()
    log.append([event(subjects[i % 4], note=f"event {i}") for i in range(n // 2, n)])
    log.publish_checkpoint()


def test_append_checkpoint_proofs_and_previous_links(log: CustodyLog) -> None:
    fill(log, 20)
    assert log.size() == 20
    cp = log.latest_checkpoint()
    assert cp is not None and cp.checkpoint.size == 20
    for i in range(20):
        entry = log.entry(i)
        proof = log.inclusion_proof(i, 20)
        merkle.verify_inclusion(
            merkle.leaf_hash(entry.commitment), i, 20, proof, cp.checkpoint.root_hash
        )
    first = log.checkpoints()[0]
    merkle.verify_consistency(
        10, 20, log.consistency_proof(10, 20), first.root, cp.checkpoint.root_hash
    )
    chain = log.entries_for_subject(f"evidence:{0:064x}")
    assert [e.previous for e in chain] == [None, *[e.idx for e in chain[:-1]]]
    report = verify_log(log)
    assert report.ok, report.problems
    assert (report.entries, report.checkpoints) == (20, 2)


def test_no_checkpoint_per_event(log: CustodyLog) -> None:
    log.append([event("a" * 64)])
    _, created = log.publish_checkpoint()
    _, again = log.publish_checkpoint()
    assert created and not again, "an unchanged log is not re-checkpointed"


def _edit(log: CustodyLog, stmt) -> None:  # type: ignore[no-untyped-def]
    with log.db.session() as s:
        s.execute(stmt)


def test_edited_entry_is_detected(log: CustodyLog) -> None:
    fill(log)
    row = log.entry(7)
    assert row.statement is not None
    _edit(
        log,
        update(LogEntryRow)
        .where(LogEntryRow.idx == 7)
        .values(statement=row.statement.replace(b"event 7", b"event X")),
    )
    problems = verify_log(log).problems
    assert problems == ["entry 7: its statement does not match its commitment (statement edited)"]


def test_re_signed_and_recommitted_entry_is_detected_by_the_tree(log: CustodyLog) -> None:
    """An insider with the log key rewrites an event and its commitment: the Merkle tree still catches it."""
    fill(log)
    import secrets

    from rogatory.custody.events import commitment

    assert log.key is not None
    forged = sign_note(
        event("f" * 64, note="forged").canonical_text(), [NoteSigner.ed25519(log.origin, log.key)]
    )
    salt = secrets.token_bytes(32)
    _edit(
        log,
        update(LogEntryRow)
        .where(LogEntryRow.idx == 3)
        .values(statement=forged, salt=salt, commitment=commitment(salt, forged)),
    )
    problems = verify_log(log).problems
    assert any(
        p.startswith("entry 3: its commitment does not match the tree hash stored for it")
        for p in problems
    ), problems


def test_deleted_entry_is_detected(log: CustodyLog) -> None:
    fill(log)
    _edit(log, delete(LogEntryRow).where(LogEntryRow.idx == 12))
    problems = verify_log(log).problems
    assert "entries 12–12 are missing from the log (deleted)" in problems
    assert any("the log's head says 20 entries, but 19 are stored" in p for p in problems)


def test_swapped_entries_are_detected(log: CustodyLog) -> None:
    fill(log)
    with log.db.session() as s:
        a, b = s.get(LogEntryRow, 4), s.get(LogEntryRow, 5)
        assert a is not None and b is not None
        cols = (
            "commitment",
            "statement",
            "salt",
            "subject",
            "previous",
            "event_type",
            "time",
            "case_ref",
        )
        va = {c: getattr(a, c) for c in cols}
        vb = {c: getattr(b, c) for c in cols}
        ida, idb = a.event_id, b.event_id
        a.event_id, b.event_id = "tmp-a", "tmp-b"
        s.flush()
        for c in cols:
            setattr(a, c, vb[c])
            setattr(b, c, va[c])
        a.event_id, b.event_id = idb, ida
    problems = verify_log(log).problems
    assert any(
        p.startswith("entry 4: its commitment does not match the tree hash") for p in problems
    ), problems


def test_truncated_log_is_detected(log: CustodyLog) -> None:
    fill(log)
    _edit(log, delete(LogEntryRow).where(LogEntryRow.idx >= 15))
    _edit(log, update(LogStateRow).values(size=15))
    problems = verify_log(log).problems
    assert (
        "checkpoint of size 20 was signed, but the log holds only 15 entries (truncated)"
        in problems
    )


def test_checkpoint_signed_by_wrong_key_is_detected(log: CustodyLog) -> None:
    fill(log)
    rogue = NoteSigner.ed25519(log.origin, ed25519.Ed25519PrivateKey.generate())
    with log.db.session() as s:
        cp = s.get(LogCheckpointRow, 20)
        assert cp is not None
        text = cp.note.decode().split("\n\n")[0] + "\n"
        cp.note = sign_note(text, [rogue])
    problems = verify_log(log).problems
    assert len(problems) == 1 and problems[0].startswith(
        "checkpoint of size 20: log signature does not verify under the log's keys"
    ), problems


def test_erasure_keeps_the_log_verifiable(log: CustodyLog) -> None:
    fill(log)
    log.erase(
        6,
        actor=Actor("DPO", "data-protection-officer"),
        reason="retention period ended (Directive 2016/680 Art. 5)",
    )
    entry = log.entry(6)
    assert entry.statement is None and entry.salt is None and entry.erased_at is not None
    report = verify_log(log)
    assert report.ok, report.problems
    assert report.erased == 1 and report.entries == 21, "the erasure itself is a custody event"
    with pytest.raises(CustodyError, match="already erased"):
        log.erase(6, actor=Actor("DPO", ""), reason="again")


def test_appends_refused_when_the_published_head_is_ahead(log: CustodyLog) -> None:
    fill(log)
    assert log.home is not None
    (log.home / "custody-head").write_text(f"{log.origin}\n99\n{'A' * 43}=\n")
    with pytest.raises(CustodyError, match="restored from an older backup"):
        log.append([event("b" * 64)])


KILL_DURING_APPEND = r"""
import sys, time, datetime as dt
from pathlib import Path
from rogatory.custody.events import Actor, CustodyEvent, EventType, SubjectKind
from rogatory.custody.log import CustodyLog
from rogatory.custody import log as log_module
from rogatory.node.home import NodeHome
from rogatory.node.keys import KeyPurpose, load_signing_key
from rogatory.store.database import Database

home = NodeHome.open(Path(sys.argv[1]))
db = Database(home.database_url)
lg = CustodyLog(db, home.config.identity.node_id, load_signing_key(home.keys_dir, KeyPurpose.LOG, None), home.path)
real = log_module.sign_note
def slow(*a, **k):
    time.sleep(0.01)
    return real(*a, **k)
log_module.sign_note = slow
ev = lambda i: CustodyEvent(EventType.ACCESS, SubjectKind.EVIDENCE, "c" * 64, "nl.police-cybercrime",
                            Actor("a"), dt.datetime.now(dt.UTC), note=str(i))
print("appending", flush=True)
lg.append([ev(i) for i in range(2000)])
print("done", flush=True)
"""


def test_killed_during_a_batch_append_leaves_the_log_at_its_last_checkpoint(
    sqlite_home: NodeHome,
) -> None:
    db = Database(sqlite_home.database_url)
    log = CustodyLog(
        db,
        "nl.police-cybercrime",
        load_signing_key(sqlite_home.keys_dir, KeyPurpose.LOG, None),
        sqlite_home.path,
    )
    log.ensure_key_registered()
    fill(log, 10)
    before = log.latest_checkpoint()
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_DURING_APPEND, str(sqlite_home.path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "appending"
    time.sleep(1.0)  # well inside the ~20 s batch
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert log.size() == 10, "the interrupted batch left nothing behind"
    with db.session() as s:
        assert s.scalar(select(LogEntryRow.idx).order_by(LogEntryRow.idx.desc()).limit(1)) == 9
    report = verify_log(log)
    assert report.ok, report.problems
    assert before is not None and log.latest_checkpoint() == before
    log.append([event("d" * 64)])
    assert verify_log(log).ok
    db.close()


def test_key_rotation_keeps_old_checkpoints_and_proofs_verifiable(cli, tmp_path: Path) -> None:
    import json

    from tests.conftest import ACQ

    home = tmp_path / "h"
    h = ["--home", str(home)]
    assert cli(*h, "init", "--node-id", "nl.x", "--country", "NL", "--agency", "A").code == 0
    assert cli(*h, "case", "open", "--reference", "C", "--title", "t").code == 0
    for name in ("one", "two"):
        f = tmp_path / name
        f.write_text(name)
        assert cli(*h, "evidence", "add", "C", str(f), *ACQ).code == 0
        if name == "one":
            old_vkey = json.loads(cli(*h, "node", "show", "--json").stdout)["custody_log"]["vkey"]
            r = cli(*h, "log", "rotate-key", "--json")
            assert r.code == 0, r.stderr
            new_vkey = json.loads(r.stdout)["new_vkey"]
            assert new_vkey != old_vkey
    assert cli(*h, "log", "checkpoint").code == 0
    r = cli(*h, "log", "verify", "--json")
    assert r.code == 0 and json.loads(r.stdout)["checkpoints"] == 2, r.stdout
    policy = cli(*h, "log", "policy").stdout
    assert f"log {old_vkey}" in policy and f"log {new_vkey}" in policy
    out = tmp_path / "proofs"
    assert cli(*h, "log", "prove", "0", "--out", str(out)).code == 0
    r = cli(
        "log",
        "check",
        str(out / "event-0.tlog-proof"),
        "--event",
        str(out / "event-0.statement"),
        "--policy",
        str(out / "policy.tlog-policy"),
        "--json",
    )
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["checkpoint_size"] == 1, (
        "event 0 is proven by the checkpoint signed with the old key"
    )
    assert (home / "keys").glob("log.ed25519.pem.retired-*")


def _migrate_to(db: Database, revision: str, direction: str) -> None:
    from alembic import command

    from rogatory.store.database import _alembic_config

    cfg = _alembic_config()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, direction)(cfg, revision)


def _sqlite_key_indexes(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'index' "
            "AND tbl_name IN ('log_entries', 'log_hashes') AND name LIKE 'sqlite_autoindex_%'"
        )
        return {str(r[0]) for r in rows}


def test_upgrade_from_0007_keeps_the_log_verifiable(home: NodeHome) -> None:
    """Migration 0008 (rowid keys on SQLite) keeps every entry, hash, link and checkpoint."""
    key = load_signing_key(home.keys_dir, KeyPurpose.LOG, None)
    node_id = home.config.identity.node_id
    db = Database(home.database_url)
    log = CustodyLog(db, node_id, key, home.path)
    log.ensure_key_registered()
    fill(log, 40)
    before = log.latest_checkpoint()
    assert before is not None
    _migrate_to(db, "0007", "downgrade")  # the tables as 0007 made them
    sqlite = db.engine.dialect.name == "sqlite"
    if sqlite:
        assert _sqlite_key_indexes(db) == {
            "sqlite_autoindex_log_entries_1",
            "sqlite_autoindex_log_hashes_1",
        }
    db.close()

    db = Database(home.database_url)  # opening migrates to the head (0008)
    try:
        if sqlite:
            assert _sqlite_key_indexes(db) == set()
        indexes = {ix["name"] for ix in inspect(db.engine).get_indexes("log_entries")}
        assert "ix_log_entries_subject_idx" in indexes
        log = CustodyLog(db, node_id, key, home.path)
        report = verify_log(log)
        assert report.ok, report.problems
        assert (report.entries, report.checkpoints) == (40, 2)
        assert log.latest_checkpoint() == before
        for i in (0, 17, 39):
            merkle.verify_inclusion(
                merkle.leaf_hash(log.entry(i).commitment),
                i,
                40,
                log.inclusion_proof(i, 40),
                before.checkpoint.root_hash,
            )
        [logged] = log.append([event(f"{0:064x}")])  # the chain continues across the upgrade
        chain = log.entries_for_subject(f"evidence:{0:064x}")
        assert logged.index == 40 and logged.event.previous == chain[-2].idx
        log.publish_checkpoint()
        assert verify_log(log).ok
    finally:
        db.close()


def test_previous_links_over_more_subjects_than_one_lookup_query(log: CustodyLog) -> None:
    subjects = [f"{i:064x}" for i in range(600)]  # more than one query's 500 subjects
    log.append([event(x) for x in subjects])
    fresh = f"{999:064x}"
    batch = [event(x) for x in reversed(subjects)] + [event(fresh), event(fresh)]
    logged = log.append(batch)
    assert [le.event.previous for le in logged[:600]] == list(range(599, -1, -1))
    assert logged[600].event.previous is None
    assert logged[601].event.previous == logged[600].index
    assert verify_log(log).ok
