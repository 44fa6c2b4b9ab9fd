"""``rogatory backup`` and ``rogatory restore``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from rogatory.cli.common import (
    JsonOpt,
    emit_json,
    err,
    human_size,
    open_custody_log,
    open_database,
    open_home,
    out,
)
from rogatory.errors import UsageError


def backup(
    out_file: Annotated[
        Path, typer.Option("--out", help="The backup file to write (must not exist).")
    ],
    json_out: JsonOpt = False,
) -> None:
    """Write a consistent snapshot of the node's database (evidence blobs: copy blobs/ with any file tool)."""
    from rogatory.store import backup as backups

    home = open_home()
    size = backups.backup(home.database_url, out_file)
    if json_out:
        emit_json({"backup": str(out_file), "size": size, "blobs": str(home.blob_dir)})
        return
    out.print(f"backup written: {out_file} ({human_size(size)}); copy {home.blob_dir} alongside it")


def restore(
    backup_file: Annotated[Path, typer.Argument(help="A file written by 'rogatory backup'.")],
    yes: Annotated[
        bool, typer.Option("--yes", help="Replace the current database without asking.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Replace the node's database with a backup, then check it against the witnesses.

    If this node had already published (or its witnesses cosigned) a larger log
    than the backup holds, appends are refused until the missing entries are
    restored: a node must never fork its own custody history.
    """
    from rogatory.custody.witnessing import collect_cosignatures
    from rogatory.store import backup as backups

    home = open_home()
    if not yes and not typer.confirm(
        f"Replace the database of {home.config.identity.node_id} with {backup_file}?"
    ):
        raise UsageError("restore cancelled", "")
    backups.restore(home.database_url, backup_file)
    db = open_database(home)
    log = open_custody_log(home, db)
    if not json_out:
        out.print(
            f"database restored from {backup_file}: the custody log holds {log.size()} events"
        )
    latest = log.latest_checkpoint()
    results = collect_cosignatures(log, latest) if latest is not None else []
    for r in results:
        if not r.ok and not json_out:
            err.print(f"[yellow]witness {escape(r.witness)}:[/] {escape(r.outcome)}")
    reason = log.frozen_reason()
    if json_out:
        emit_json(
            {
                "restored_from": str(backup_file),
                "custody_events": log.size(),
                "witnesses": {r.witness: r.outcome for r in results},
                "appends_refused": reason,
            }
        )
    if reason:
        err.print(f"[bold red]appends refused:[/] {escape(reason)} — restore a newer backup")
