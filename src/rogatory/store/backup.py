"""Backups of the embedded SQLite database, taken online and restored atomically.

A backup is a consistent SQLite snapshot made with SQLite's online backup API
while the node may be running. Restoring replaces the database file atomically
(temp file, fsync, rename) after checking that the file is a Rogatory database.
Evidence blobs are content-addressed files: back them up with any file copy
(they never change once written). PostgreSQL installations use ``pg_dump``.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from rogatory.errors import StoreError, UsageError


def sqlite_path(url: str) -> Path:
    """The database file of a ``sqlite:///`` URL.

    Raises:
        UsageError: the URL is not a file-backed SQLite database.
    """
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        raise UsageError(
            f"backup and restore handle the embedded SQLite database; this node uses {u.get_backend_name()}",
            "back up PostgreSQL with pg_dump / pg_restore",
        )
    return Path(u.database)


def backup(url: str, target: Path) -> int:
    """Write a consistent snapshot of the database to ``target``; return its size in bytes.

    Raises:
        UsageError: not SQLite, or ``target`` exists.
        StoreError: SQLite reports an error.
    """
    source = sqlite_path(url)
    if target.exists():
        raise UsageError(
            f"{target} already exists", "choose a new file name; backups are never overwritten"
        )
    tmp = target.with_name(target.name + ".part")
    try:
        with sqlite3.connect(source) as src, sqlite3.connect(tmp) as dst:
            src.backup(dst)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        tmp.replace(target)
    except sqlite3.Error as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"backup failed: {exc}", "check the disk and try again") from exc
    return target.stat().st_size


def restore(url: str, backup_file: Path) -> None:
    """Replace the node's database with ``backup_file`` (stop ``rogatory serve`` first).

    Raises:
        UsageError: not SQLite, or the file is not a Rogatory database backup.
        StoreError: the file is damaged.
    """
    target = sqlite_path(url)
    try:
        with sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True) as conn:
            if conn.execute("PRAGMA integrity_check").fetchone() != ("ok",):
                raise StoreError(
                    f"{backup_file} is damaged (SQLite integrity check failed)",
                    "use another backup",
                )
            tables = {
                r[0] for r in conn.execute("select name from sqlite_master where type='table'")
            }
    except sqlite3.DatabaseError as exc:
        raise UsageError(
            f"{backup_file} is not a SQLite database: {exc}",
            "give a file made by 'rogatory backup'",
        ) from exc
    if not {"alembic_version", "cases", "evidence_items"} <= tables:
        raise UsageError(
            f"{backup_file} is not a Rogatory database backup",
            "give a file made by 'rogatory backup'",
        )
    tmp = target.with_name(target.name + ".restore")
    with open(backup_file, "rb") as src, open(tmp, "wb") as dst:
        while block := src.read(1 << 20):
            dst.write(block)
        dst.flush()
        os.fsync(dst.fileno())
    for suffix in ("-wal", "-shm"):
        Path(str(target) + suffix).unlink(missing_ok=True)
    tmp.replace(target)
