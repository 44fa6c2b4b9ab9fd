"""The store on SQLite and PostgreSQL: migrations, cases, UTC times."""

import datetime as dt
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import inspect

from rogatory.cases import list_cases, open_case, show_case
from rogatory.errors import ConflictError, NotFoundError, StoreError
from rogatory.node.home import NodeHome
from rogatory.store.database import Database, current_revision, head_revision


def test_migrations_create_the_schema(home: NodeHome) -> None:
    db = Database(home.database_url)
    try:
        assert current_revision(db.engine) == head_revision()
        tables = set(inspect(db.engine).get_table_names())
        assert {
            "cases",
            "evidence_items",
            "evidence_files",
            "intake_runs",
            "alembic_version",
        } <= tables
        Database(home.database_url).close()  # migrating twice is a no-op
    finally:
        db.close()


def test_sqlite_uses_wal(sqlite_home: NodeHome) -> None:
    db = Database(sqlite_home.database_url)
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 10_000
    db.close()


def test_a_background_thread_checkpoints_the_wal(sqlite_home: NodeHome) -> None:
    from rogatory.store.backup import sqlite_path

    db = Database(sqlite_home.database_url)
    assert db.checkpointer is not None
    with db.session(write=True) as s:
        for i in range(200):
            open_case(s, f"NL-2026-{i:04d}", "x" * 2000, [], "TLP:GREEN")
    before = db.checkpointer.checkpoints
    deadline = time.monotonic() + 10
    while db.checkpointer.checkpoints < before + 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert db.checkpointer.checkpoints >= before + 2
    # every frame is in the main file now: a new writer restarts the WAL from its start
    with db.session(write=True) as s:
        open_case(s, "NL-2026-9999", "after the checkpoint", [], "TLP:GREEN")
    with sqlite3.connect(sqlite_path(sqlite_home.database_url)) as raw:
        _busy, frames, _done = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert frames < 50, frames  # the WAL restarted: the 200 cases' frames were copied back
    checkpointer = db.checkpointer
    db.close()
    assert db.checkpointer is None and not checkpointer._thread.is_alive()


def test_the_checkpointer_never_recreates_a_deleted_database(sqlite_home: NodeHome) -> None:
    from rogatory.store.backup import sqlite_path
    from rogatory.store.database import WalCheckpointer

    path = sqlite_path(sqlite_home.database_url)
    Database(sqlite_home.database_url).close()
    checkpointer = WalCheckpointer(str(path), interval=0.05)
    try:
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        time.sleep(0.3)
        assert not path.exists()
    finally:
        checkpointer.stop()


def test_cases_round_trip_with_utc_times(home: NodeHome) -> None:
    db = Database(home.database_url)
    before = dt.datetime.now(dt.UTC)
    with db.session() as s:
        open_case(s, "NL-2026-0001", "Phishing kit", ["Art. 8", "BC-2", "bc8"], "tlp:amber+strict")
    with db.session() as s:
        open_case(s, "NL-2026-0002", "Botnet", [], "RED")
    with db.session() as s:
        v = show_case(s, "NL-2026-0001")
        assert v.offences == ["BC-2", "BC-8"]
        assert v.handling_code == "AMBER+STRICT"
        assert v.status == "open"
        created = dt.datetime.fromisoformat(v.created_at)
        assert created.tzinfo is not None and created.utcoffset() == dt.timedelta(0)
        assert before - dt.timedelta(seconds=1) <= created <= dt.datetime.now(dt.UTC)
        assert [c.reference for c in list_cases(s)] == ["NL-2026-0002", "NL-2026-0001"]
    with pytest.raises(ConflictError, match="already exists"), db.session() as s:
        open_case(s, "NL-2026-0001", "again", [], "AMBER")
    with pytest.raises(NotFoundError), db.session() as s:
        show_case(s, "NL-9999")
    db.close()


def test_unreachable_database_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="cannot reach the database"):
        Database("postgresql://nobody@127.0.0.1:1/none")


def test_database_url_from_environment(
    sqlite_home: NodeHome, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    monkeypatch.setenv("ROGATORY_DATABASE_URL", url)
    assert sqlite_home.database_url == url


def test_writers_of_one_process_take_turns(
    sqlite_home: NodeHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from rogatory.store import database

    db = Database(sqlite_home.database_url)
    held = threading.Event()
    release = threading.Event()

    def first() -> None:
        with db.session(write=True) as s:
            open_case(s, "NL-2026-0100", "first writer", [], "TLP:GREEN")
            held.set()
            release.wait(10)

    t = threading.Thread(target=first)
    t.start()
    assert held.wait(10)
    # a second writer waits its turn, and is told plainly when the wait is too long
    monkeypatch.setattr(database, "BUSY_TIMEOUT_SECONDS", 0.2)
    with pytest.raises(StoreError, match="busy"), db.session(write=True) as s:
        open_case(s, "NL-2026-0101", "never written", [], "TLP:GREEN")
    monkeypatch.setattr(database, "BUSY_TIMEOUT_SECONDS", 30.0)
    timer = threading.Timer(0.3, release.set)
    timer.start()
    started = time.monotonic()
    with db.session(write=True) as s:  # waits for the first, then goes on at once
        open_case(s, "NL-2026-0102", "second writer", [], "TLP:GREEN")
    assert time.monotonic() - started < 5
    t.join()
    with db.session() as s:
        refs = {c.reference for c in list_cases(s)}
    assert {"NL-2026-0100", "NL-2026-0102"} <= refs and "NL-2026-0101" not in refs
    db.close()
