"""Database engine, sessions and migrations.

SQLite (WAL journal, ``synchronous=FULL``, foreign keys on) is the embedded
default; any SQLAlchemy URL for PostgreSQL (``postgresql+psycopg://…``) runs the
same code. The schema is created and upgraded only by the Alembic migrations
shipped in ``rogatory/store/migrations``.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.request import pathname2url

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy import exc as sqlalchemy_exc
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from rogatory.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def normalise_url(url: str) -> str:
    """Map ``postgresql://`` and ``postgres://`` to the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


WAL_AUTOCHECKPOINT_PAGES = 10_000
"""Pages (4 KiB each, so ≈ 40 MB) the SQLite WAL may hold before a committing
connection copies it back into the database itself. Normally the background
:class:`WalCheckpointer` does that first, on another core; this is the backstop."""

BUSY_TIMEOUT_SECONDS = 30.0
"""How long a writer waits for another writer before giving up (SQLite busy timeout)."""

WAL_CHECKPOINT_INTERVAL = 0.5
"""Seconds between the background checkpointer's passive checkpoints."""

log = logging.getLogger("rogatory.store")


class WalCheckpointer:
    """Copies the SQLite write-ahead log back into the database on a background thread.

    Without it the connection whose commit crosses :data:`WAL_AUTOCHECKPOINT_PAGES`
    does the checkpoint inside that commit: the custody-log append that happens
    to trigger it stalls for a second or more on a large log while it rewrites
    and fsyncs scattered pages of the main file. Here a thread with its own
    connection runs ``PRAGMA wal_checkpoint(PASSIVE)`` every ``interval`` seconds
    (https://sqlite.org/wal.html#ckpt): it never takes the write lock, so
    writers go on appending to the WAL meanwhile, and on a second core the
    copying costs them nothing.

    Args:
        path: the SQLite database file.
        interval: seconds between checkpoints.

    Errors in the thread (a busy or vanished file) are logged and retried at the
    next interval; the commit-time backstop keeps the WAL bounded regardless.
    """

    def __init__(self, path: str, interval: float = WAL_CHECKPOINT_INTERVAL) -> None:
        self.path = path
        self.interval = interval
        self.checkpoints = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="rogatory-wal-checkpoint", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        # a fresh connection each time: nothing is held open between checkpoints (a
        # restored or deleted file is never touched), and mode=rw never creates a file
        uri = f"file:{pathname2url(self.path)}?mode=rw"
        while not self._stop.wait(self.interval):
            try:
                conn = sqlite3.connect(uri, uri=True, timeout=0)
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                finally:
                    conn.close()
            except sqlite3.Error as exc:
                log.debug("background WAL checkpoint of %s: %s", self.path, exc)

    def stop_soon(self) -> None:
        """Ask the thread to end after its current checkpoint, without waiting."""
        self._stop.set()

    def stop(self) -> None:
        """Stop the thread and wait for it (at most one checkpoint's time)."""
        self._stop.set()
        self._thread.join()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy, not pysqlite, decide where transactions begin (see _sqlite_begin):
    # pysqlite would otherwise run DDL outside any transaction, so a migration killed
    # half-way would leave a half-built schema.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
    cur.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
    cur.close()


def make_engine(url: str) -> Engine:
    """Create an engine for ``url``.

    Raises:
        StoreError: the URL is malformed or its driver is not installed.
    """
    url = normalise_url(url)
    try:
        engine = create_engine(url, future=True, pool_pre_ping=not url.startswith("sqlite"))
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        try:
            shown = make_url(url).render_as_string(hide_password=True)
        except Exception:
            shown = "(unparseable URL)"
        raise StoreError(
            f"cannot use database URL {shown}: {_first_line(exc)}",
            "check ROGATORY_DATABASE_URL; PostgreSQL needs: pip install 'rogatory[postgres]'",
        ) from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_begin(conn: Any) -> None:
    """Emit a real BEGIN so every transaction, DDL included, is atomic on SQLite.

    Sessions opened with ``write=True`` begin IMMEDIATE: they take the write lock
    first and wait for it, instead of failing when another process commits between
    their first read and their first write (WAL's "database is locked")."""
    immediate = conn.get_execution_options().get("rogatory_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _where(url: Any) -> str:
    return str(url.render_as_string(hide_password=True))


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def store_error(exc: SQLAlchemyError, url: Any) -> StoreError:
    """A one-line, actionable StoreError for a database failure (never shows a password)."""
    message = _first_line(exc)
    lower = message.lower()
    if "locked" in lower or "busy" in lower:
        return StoreError(
            f"the database at {_where(url)} is busy: another Rogatory process is writing ({message})",
            "wait for it to finish and run the command again",
        )
    if (
        "disk is full" in lower
        or "disk i/o" in lower
        or "readonly" in lower
        or "read-only" in lower
    ):
        return StoreError(
            f"the database at {_where(url)} cannot be written: {message}",
            "free disk space, or check that the node home is on a writable file system",
        )
    if url.get_backend_name() == "sqlite":
        return StoreError(
            f"cannot use the database at {_where(url)}: {message}",
            "check the node home's disk and permissions",
        )
    return StoreError(
        f"cannot reach the database at {_where(url)}: {message}",
        "check that the server runs and ROGATORY_DATABASE_URL is right",
    )


def _alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


_REVISION = re.compile(r"^revision(?:: str)? = ['\"](\w+)['\"]$", re.MULTILINE)
_DOWN_REVISION = re.compile(
    r"^down_revision(?:: [\w |]+)? = (?:['\"](\w+)['\"]|None)$", re.MULTILINE
)


def _scan_head() -> str | None:
    """The head revision read from the migration files without importing Alembic.

    Each ``versions/*.py`` must state exactly one ``revision = "…"`` and one
    ``down_revision = "…"`` (or ``None``), as Alembic writes them, and the
    revisions must form one chain. Returns ``None`` when they do not (a merge,
    an unusual file), and the caller asks Alembic.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        if path.name == "__init__.py":
            continue
        source = path.read_text(encoding="utf-8")
        rev = _REVISION.findall(source)
        down = _DOWN_REVISION.findall(source)
        if len(rev) != 1 or len(down) != 1 or rev[0] in revisions:
            return None
        revisions.add(rev[0])
        if down[0]:
            parents.add(down[0])
    heads = revisions - parents
    if len(heads) != 1 or len(parents) != len(revisions) - 1 or not parents <= revisions:
        return None
    return heads.pop()


def head_revision() -> str:
    """The newest migration revision shipped with this version."""
    head = _scan_head()
    if head is None:
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The migration revision the database is at (``None`` for an empty database).

    Raises:
        sqlalchemy.exc.OperationalError: the database cannot be reached.
    """
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        if len(versions) > 1:  # several heads: let Alembic say so
            from alembic.runtime.migration import MigrationContext

            return MigrationContext.configure(conn).get_current_revision()
        return versions[0] if versions else None


def migrate(engine: Engine) -> None:
    """Bring the database schema up to :func:`head_revision`.

    Alembic is imported only when an upgrade is due (it takes ≈ 0.1 s to import).

    Raises:
        StoreError: the database cannot be reached or the migration fails.
    """
    try:
        if current_revision(engine) == head_revision():
            return
        from alembic import command

        cfg = _alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except (
        OperationalError,
        sqlalchemy_exc.ProgrammingError,
        sqlalchemy_exc.InterfaceError,
    ) as exc:
        raise store_error(exc, engine.url) from exc


class Database:
    """An opened, migrated database with a session factory."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        migrate(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = self.engine.execution_options(rogatory_write=True)
        sqlite = self.engine.dialect.name == "sqlite"
        # SQLite admits one writer; threads of this process queue here and wake at once,
        # instead of in SQLite's busy handler, which polls with sleeps of up to 100 ms
        self._write_turn: threading.RLock | None = threading.RLock() if sqlite else None
        database = self.engine.url.database
        self.checkpointer = (
            WalCheckpointer(database)
            if self.engine.dialect.name == "sqlite" and database not in (None, "", ":memory:")
            else None
        )
        if self.checkpointer is not None:  # a Database dropped without close() stops it too
            weakref.finalize(self, self.checkpointer.stop_soon)

    @contextmanager
    def session(self, write: bool = False) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error.

        Args:
            write: the transaction will write after reading; on SQLite it then takes
                the write lock at BEGIN (waiting up to the busy timeout) so it cannot
                fail half-way because another process wrote meanwhile. Write sessions
                of one process's threads take turns on a lock first.
        """
        bind = self._writer if write else self.engine
        turn = self._write_turn if write else None
        if turn is not None and not turn.acquire(timeout=BUSY_TIMEOUT_SECONDS):
            raise StoreError(
                f"the database at {_where(self.engine.url)} is busy: another task of this "
                f"process has been writing for over {BUSY_TIMEOUT_SECONDS:.0f} s",
                "try again in a moment; if it persists, report it with the command you ran",
            )
        try:
            with self._sessions(bind=bind) as s, s.begin():
                yield s
        except (OperationalError, sqlalchemy_exc.InterfaceError) as exc:
            raise store_error(exc, self.engine.url) from exc
        finally:
            if turn is not None:
                turn.release()

    def close(self) -> None:
        """Stop the background checkpointer and close every pooled connection."""
        if self.checkpointer is not None:
            self.checkpointer.stop()
            self.checkpointer = None
        self.engine.dispose()
