"""What every command shares: global options, opening the node, output in Rich or JSON."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from rogatory.errors import KeyMaterialError

if TYPE_CHECKING:  # imported where used: every command imports this module at start-up
    from rich.progress import Progress
    from rich.table import Table

    from rogatory.custody.log import CustodyLog
    from rogatory.node.home import NodeHome
    from rogatory.store.database import Database

out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, soft_wrap=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]


@dataclass
class Settings:
    """Global options (set by the top-level callback)."""

    home: Path | None = None
    debug: bool = False
    quiet: bool = False
    passphrase_file: Path | None = None
    json_written: bool = False
    """Whether this command already wrote its JSON document to stdout."""

    def home_path(self) -> Path:
        from rogatory.node.home import default_home

        return self.home.expanduser() if self.home else default_home()


settings = Settings()


def with_home(text: str) -> str:
    """``text`` with ``--home HOME`` after each ``rogatory `` when a home was chosen
    (``--home`` or ``ROGATORY_HOME``), so that a suggested command works as printed."""
    if settings.home is None:
        return text
    import re
    import shlex

    home = shlex.quote(str(settings.home))
    return re.sub(r"\brogatory (?!--home\b)(?=[a-z])", f"rogatory --home {home} ", text)


def open_home() -> NodeHome:
    """The initialised node home, or a NodeError saying how to create one."""
    from rogatory.node.home import NodeHome

    return NodeHome.open(settings.home_path())


def open_database(home: NodeHome) -> Database:
    """The node's migrated database."""
    from rogatory.store.database import Database

    return Database(home.database_url)


def passphrase_for(home: NodeHome) -> bytes | None:
    """The passphrase for protected keys: file, environment, or a prompt on a terminal."""
    from rogatory.node.home import read_passphrase

    pw = read_passphrase(settings.passphrase_file)
    if pw is None and home.config.protected:
        if not sys.stdin.isatty():
            raise KeyMaterialError(
                "this node's keys are passphrase-protected",
                "set ROGATORY_PASSPHRASE or ROGATORY_PASSPHRASE_FILE, or pass --passphrase-file",
            )
        pw = typer.prompt("Passphrase for the node's keys", hide_input=True).encode()
    return pw


def emit_json(data: Any) -> None:
    """Write ``data`` as JSON on stdout (one document per command)."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    settings.json_written = True


def table(*headers: str) -> Table:
    """A Rich table whose cells fold instead of being cut short (hashes stay whole)."""
    from rich.table import Table

    t = Table()
    for h in headers:
        t.add_column(h, overflow="fold")
    return t


def human_size(n: int) -> str:
    """Bytes in binary units, e.g. ``1.5 MiB``."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


class ProgressBar:
    """An intake/verify progress bar on stderr (bytes, bytes/s, ETA, files) when it is a terminal."""

    def __init__(self, label: str, enabled: bool) -> None:
        self.enabled = enabled and err.is_terminal and not settings.quiet
        self.label = label
        self.files_total = 0
        self.files = 0
        self.progress: Progress | None = None
        self.task: Any = None

    def __enter__(self) -> ProgressBar:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(binary_units=True),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=err,
                transient=False,
            )
            self.progress.start()
            self.task = self.progress.add_task(self.label, total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def planned(self, total_bytes: int, total_files: int) -> None:
        self.files_total = total_files
        if self.progress is not None:
            self.progress.update(self.task, total=total_bytes)
            self._describe()

    def advance(self, nbytes: int) -> None:
        if self.progress is not None:
            self.progress.update(self.task, advance=nbytes)

    def files_done(self, count: int) -> None:
        self.files += count
        if self.progress is not None:
            self._describe()

    def _describe(self) -> None:
        assert self.progress is not None
        text = (
            f"{self.label} {self.files}/{self.files_total} files"
            if self.files_total
            else self.label
        )
        self.progress.update(self.task, description=text)


def open_custody_log(home: NodeHome, db: Database, *, signing: bool = True) -> CustodyLog:
    """The node's custody log; with ``signing`` the log key is unlocked (passphrase if protected)."""
    from rogatory.custody.log import CustodyLog
    from rogatory.node.keys import KeyPurpose, load_signing_key

    passphrase = passphrase_for(home) if signing else None
    key = load_signing_key(home.keys_dir, KeyPurpose.LOG, passphrase) if signing else None
    log = CustodyLog(db, home.config.identity.node_id, key, home.path)
    if key is not None:
        from rogatory.exchange.client import witness_client_for

        log.ensure_key_registered()
        log.witness_clients = witness_client_for(home, passphrase, db)
    return log
