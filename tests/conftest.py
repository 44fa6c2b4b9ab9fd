"""Shared fixtures: node homes on SQLite and PostgreSQL, the shared materials, the CLI."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rogatory.node.home import NodeHome
from rogatory.node.identity import NodeIdentity

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ROGATORY_SHARED", REPO.parent / "shared"))
POSTGRES_ADMIN_URL = os.environ.get(
    "ROGATORY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def shared() -> Path:
    """``../shared`` (facts, vectors, evidence samples); skips when absent (a user's clone)."""
    if not (SHARED / "evidence-samples" / "manifest.json").exists():
        pytest.skip(
            f"shared materials not found at {SHARED} (set ROGATORY_SHARED); CI always has them"
        )
    return SHARED


def _postgres_admin() -> object | None:
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        return engine
    except Exception as exc:
        if os.environ.get("ROGATORY_REQUIRE_POSTGRES") == "1":
            raise RuntimeError(
                f"PostgreSQL required but unreachable at {POSTGRES_ADMIN_URL}: {exc}"
            ) from exc
        return None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[object]:
    engine = _postgres_admin()
    if engine is None:
        pytest.skip(
            f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL} (set ROGATORY_TEST_POSTGRES_URL); CI provides it"
        )
    yield engine


def _fresh_postgres_db(admin: object) -> tuple[str, str]:
    import sqlalchemy as sa

    assert isinstance(admin, sa.Engine)
    name = f"rogatory_test_{secrets.token_hex(6)}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    return name, url


def _drop_postgres_db(admin: object, name: str) -> None:
    import sqlalchemy as sa

    assert isinstance(admin, sa.Engine)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: SQLite in tmp_path, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite3'}"
        return
    admin = request.getfixturevalue("postgres_server")
    name, url = _fresh_postgres_db(admin)
    try:
        yield url
    finally:
        _drop_postgres_db(admin, name)


@pytest.fixture
def home(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> NodeHome:
    """An initialised node home (no passphrase) on each database backend."""
    monkeypatch.delenv("ROGATORY_DATABASE_URL", raising=False)
    identity = NodeIdentity.create("nl.police-cybercrime", "NL", "Politie THTC (test)", ["police"])
    h, _, _ = NodeHome.initialise(tmp_path / "home", identity, None, database_url)
    return h


@pytest.fixture
def sqlite_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> NodeHome:
    """An initialised node home on the embedded SQLite only."""
    monkeypatch.delenv("ROGATORY_DATABASE_URL", raising=False)
    identity = NodeIdentity.create("nl.police-cybercrime", "NL", "Politie THTC (test)", ["police"])
    h, _, _ = NodeHome.initialise(tmp_path / "home", identity, None)
    return h


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run ``rogatory ARGS…`` in-process; returns its exit code, stdout and stderr."""
    from rogatory.cli.main import run

    def invoke(*args: str) -> Result:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["rogatory", *args])
        code = 0
        try:
            run()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke


ACQ = [
    "--acquired-by",
    "Insp. Test, NL police",
    "--location",
    "Lab 1, The Hague",
    "--source-device",
    "Test disk S/N 123",
    "--method",
    "logical",
    "--tool",
    "pytest 8",
]
"""A complete set of acquisition options for CLI tests."""
