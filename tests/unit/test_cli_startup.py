"""Start-up cost of the ``rogatory`` command: no database, crypto or server stack until a command needs it.

Each case runs in a fresh interpreter, because this test process has long since
imported everything. A command module that imports one of these at module level
again (instead of inside the command that uses it) fails here; find the culprit
with ``python -X importtime -c "import rogatory.cli.main"``.
"""

import json
import subprocess
import sys

import pytest

HEAVY = (
    # the database
    "sqlalchemy",
    "alembic",
    "psycopg",
    "rogatory.store",
    "rogatory.custody.log",
    # keys, signatures, messages
    "cryptography",
    "joserfc",
    "rogatory.node.home",
    "rogatory.node.keys",
    "rogatory.exchange.envelope",
    # packages and their reports
    "rogatory.package.card",
    "rogatory.package.create",
    "rogatory.package.verify",
    "reportlab",
    # the server and the HTTP client
    "httpx",
    "uvicorn",
    "fastapi",
    "starlette",
    "rogatory.server",
)

PROBE = """
import json, sys
argv = sys.argv[1:]
if argv:
    sys.argv = ["rogatory", *argv]
    from rogatory.cli.entry import run
    try:
        run()
    except SystemExit as exc:
        code = exc.code
else:
    import rogatory.cli.main
    code = 0
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def loaded_after(*argv: str) -> tuple[object, set[str]]:
    """Exit code and the modules loaded after ``rogatory ARGV…`` (no ARGV: after the import only)."""
    res = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=True
    )
    result = json.loads(res.stdout.splitlines()[-1])
    return result["code"], set(result["modules"])


def heavy(modules: set[str]) -> list[str]:
    """The entries of HEAVY that are loaded (a package counts if any of its modules is)."""
    return [h for h in HEAVY if any(m == h or m.startswith(h + ".") for m in modules)]


def test_importing_the_cli_loads_no_heavy_module() -> None:
    code, modules = loaded_after()
    assert code == 0
    assert "rogatory.cli.main" in modules
    assert heavy(modules) == []


@pytest.mark.parametrize(
    "argv",
    [
        ["--version"],
        ["--help"],
        ["verify", "--help"],
        ["package", "create", "--help"],
        ["package", "import", "--help"],
        ["message", "send", "--help"],
        ["init", "--help"],
    ],
    ids=" ".join,
)
def test_help_and_version_load_no_heavy_module(argv: list[str]) -> None:
    """Typer builds the whole command tree (every command's options) on each run."""
    code, modules = loaded_after(*argv)
    assert code == 0
    assert "rogatory.cli.main" in modules
    assert heavy(modules) == []


def test_offline_verification_loads_no_database() -> None:
    """``rogatory verify`` needs no node: its module must not bring in the database stack."""
    res = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, sys, rogatory.package.verify; print(json.dumps(sorted(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    modules = set(json.loads(res.stdout.splitlines()[-1]))
    database = ("sqlalchemy", "alembic", "rogatory.store", "rogatory.custody.log")
    assert [d for d in database if any(m == d or m.startswith(d + ".") for m in modules)] == []
