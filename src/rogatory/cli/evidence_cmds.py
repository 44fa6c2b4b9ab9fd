"""``rogatory evidence …``."""

from __future__ import annotations

import datetime as dt
import getpass
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from rogatory.cli.common import (
    JsonOpt,
    ProgressBar,
    emit_json,
    err,
    human_size,
    open_custody_log,
    open_database,
    open_home,
    out,
    table,
)
from rogatory.errors import IntakeError, IntegrityError, UsageError
from rogatory.evidence.acquisition import METHODS

evidence_app = typer.Typer(
    help="Take evidence in, list, show, verify and export manifests.", no_args_is_help=True
)

_HEX = "0123456789abcdef"


def printable(name: str) -> str:
    """A file name with control characters shown as escapes (a newline as \\n)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in name)


def _expect(alg: str, value: str | None, length: int) -> dict[str, str]:
    if value is None:
        return {}
    v = value.strip().lower()
    if len(v) != length or any(c not in _HEX for c in v):
        raise UsageError(
            f"--expect-{alg} is not a {length}-digit hex {alg} digest",
            "copy it from the acquisition report",
        )
    return {alg: v}


@evidence_app.command(
    "add",
    epilog=(
        "Example: rogatory evidence add NL-2026-0042 /mnt/exhibits/laptop.E01 "
        "--acquired-by 'Insp. J. de Vries, NL police' --location 'Rotterdam, Weena 1' "
        "--source-device 'Dell Latitude 7490, S/N 4XK2' --method physical "
        "--tool 'ewfacquire 20140813' --expect-md5 d73c51f10c7ee6a681b7b619ccc6f1c4"
    ),
)
def evidence_add(
    case: Annotated[str, typer.Argument(help="Case reference.")],
    paths: Annotated[
        list[Path], typer.Argument(help="Files, directory trees or EWF first segments (.E01).")
    ],
    acquired_by: Annotated[
        str | None,
        typer.Option("--acquired-by", help="Who acquired it (name, role, organisation). Required."),
    ] = None,
    acquired_at: Annotated[
        str | None,
        typer.Option("--acquired-at", help="When, ISO 8601 with offset (default: now, UTC)."),
    ] = None,
    location: Annotated[
        str | None, typer.Option("--location", help="Where it was acquired. Required.")
    ] = None,
    source_device: Annotated[
        str | None,
        typer.Option(
            "--source-device", help="Source device or medium (make, model, serial…). Required."
        ),
    ] = None,
    source_id: Annotated[
        list[str] | None,
        typer.Option("--source-id", help="Further identifier of the source (repeatable)."),
    ] = None,
    method: Annotated[
        str | None,
        typer.Option("--method", help=f"Acquisition method: {', '.join(METHODS)}. Required."),
    ] = None,
    tool: Annotated[
        str | None,
        typer.Option("--tool", help="Tool and version, e.g. 'FTK Imager 4.7.1'. Required."),
    ] = None,
    notes: Annotated[str, typer.Option("--notes", help="The acquirer's notes.")] = "",
    exhibit_number: Annotated[
        str, typer.Option("--exhibit-number", help="Exhibit number given at seizure.")
    ] = "",
    authority: Annotated[
        str, typer.Option("--authority", help="Legal authority (warrant, order or request number).")
    ] = "",
    in_place: Annotated[
        bool,
        typer.Option("--in-place", help="Hash and record without copying into the evidence store."),
    ] = False,
    allow_special: Annotated[
        bool,
        typer.Option(
            "--allow-special", help="Read devices/FIFOs named here; record special files in trees."
        ),
    ] = False,
    expect_sha256: Annotated[
        str | None,
        typer.Option(
            "--expect-sha256", help="Refuse unless the SHA-256 is this (EWF: of the media)."
        ),
    ] = None,
    expect_sha1: Annotated[
        str | None, typer.Option("--expect-sha1", help="Refuse unless the SHA-1 is this.")
    ] = None,
    expect_md5: Annotated[
        str | None, typer.Option("--expect-md5", help="Refuse unless the MD5 is this.")
    ] = None,
    algorithm: Annotated[
        list[str] | None,
        typer.Option(
            "--algorithm",
            help="Digest to compute (repeatable; default from config: sha256 sha1 md5).",
        ),
    ] = None,
    no_media_verify: Annotated[
        bool,
        typer.Option(
            "--no-media-verify", help="Do not re-read EWF media to check its stored hash."
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option("--workers", min=1, help="Files processed in parallel (default: all cores)."),
    ] = os.cpu_count() or 1,
    json_out: JsonOpt = False,
) -> None:
    """Take files, directory trees and EWF images in as evidence of a case.

    One read per file computes SHA-256, SHA-1 and MD5 (configurable) and copies
    the bytes into the content-addressed evidence store (unless --in-place).
    An item is recorded only when complete; running the same command again
    after an interruption finishes the job.
    """
    from rogatory.evidence.acquisition import Acquisition
    from rogatory.evidence.intake import IntakeOptions, mark_interrupted_runs, take_in
    from rogatory.node.home import check_algorithms

    if "" in sys.argv[1:]:  # Typer turns "" into Path("."): refuse it before that happens
        raise UsageError(
            "an empty path was given", "check the command line (an unset shell variable?)"
        )
    home = open_home()
    acquisition = Acquisition.create(
        acquired_by=acquired_by,
        acquired_at=acquired_at,
        location=location,
        source_device=source_device,
        method=method,
        tool=tool,
        notes=notes,
        source_ids=source_id,
        exhibit_number=exhibit_number,
        authority=authority,
    )
    algorithms = (
        check_algorithms(list(dict.fromkeys(algorithm))) if algorithm else home.config.algorithms
    )
    expect = {
        **_expect("sha256", expect_sha256, 64),
        **_expect("sha1", expect_sha1, 40),
        **_expect("md5", expect_md5, 32),
    }
    options = IntakeOptions(
        algorithms=algorithms,
        in_place=in_place,
        allow_special=allow_special,
        expect=expect,
        verify_media=not no_media_verify,
        workers=workers,
    )
    db = open_database(home)
    custody = open_custody_log(home, db)
    with db.session(write=True) as s:
        for run in mark_interrupted_runs(s, case):
            err.print(
                f"[yellow]note:[/] an earlier intake into {escape(case)} was interrupted "
                f"({escape(', '.join(run.paths)[:200])}); running it again finishes it."
            )
    with ProgressBar("hashing", enabled=not json_out) as bar:
        outcomes = take_in(db, home.blob_dir, case, paths, acquisition, options, bar, custody)
    failed = [o for o in outcomes if o.status == "failed"]
    if json_out:
        emit_json({"case": case, "items": [o.as_dict() for o in outcomes], "ok": not failed})
    else:
        t = table("item", "status", "kind", "size", "files", "sha256", "checks", "source")
        for o in outcomes:
            style = {"recorded": "green", "already-recorded": "cyan", "failed": "red"}[o.status]
            t.add_row(
                o.item or "—",
                f"[{style}]{o.status}[/]",
                o.kind,
                human_size(o.size),
                str(o.files),
                o.digests.get("sha256") or "",
                escape("; ".join(o.checks)) if not o.warnings else "[bold red]see warning[/]",
                escape(printable(o.source)),
            )
        out.print(t)
        for o in outcomes:
            for w in o.warnings:
                err.print(f"[bold red]warning:[/] {o.item}: {escape(w)}")
    for o in failed:
        err.print(f"error: {o.source}: {o.error}", markup=False)
    if failed:
        raise IntakeError(
            f"{len(failed)} of {len(outcomes)} items failed and were not recorded",
            "fix the cause and run the same command again",
        )


@evidence_app.command("list", epilog="Example: rogatory evidence list NL-2026-0042")
def evidence_list(
    case: Annotated[str, typer.Argument(help="Case reference.")], json_out: JsonOpt = False
) -> None:
    """List the evidence items of a case."""
    from rogatory.evidence.intake import mark_interrupted_runs
    from rogatory.evidence.records import item_summary, list_items

    if not case:
        raise UsageError(
            "which case? give its reference", "rogatory evidence list CASE (see rogatory case list)"
        )
    db = open_database(open_home())
    with db.session(write=True) as s:
        rows = [item_summary(r) for r in list_items(s, case)]
        pending = [", ".join(r.paths) for r in mark_interrupted_runs(s, case)]
    if json_out:
        emit_json({"case": case, "items": rows, "interrupted_intakes": pending})
        return
    if not rows:
        out.print(
            f"No evidence in {escape(case)} yet. Add some with: rogatory evidence add {escape(case)} PATH …"
        )
    else:
        t = table("item", "kind", "label", "size", "files", "sha256", "EWF media", "recorded (UTC)")
        for r in rows:
            media = {True: "[green]verified[/]", False: "[bold red]MISMATCH[/]", None: "—"}[
                r["media_verified"]
            ]
            t.add_row(
                r["item"],
                r["kind"],
                escape(r["label"]),
                human_size(r["size"]),
                str(r["files"]),
                r["sha256"],
                media if r["kind"] == "ewf" else "",
                r["recorded_at"][:19],
            )
        out.print(t)
    for p in pending:
        err.print(
            f"[yellow]interrupted intake into {escape(case)}, not recorded:[/] {escape(p)} — "
            "run the same 'evidence add' again to finish it"
        )


@evidence_app.command("show", epilog="Example: rogatory evidence show EV-000001 --json")
def evidence_show(
    item: Annotated[str, typer.Argument(help="Item id, e.g. EV-000001.")],
    all_files: Annotated[
        bool, typer.Option("--all-files", help="List every file of a tree (default: first 50).")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Show one item: hashes, size, acquisition record, EWF media hash and file list."""
    from rogatory.evidence.records import get_item, item_detail

    db = open_database(open_home())
    with db.session() as s:
        d = item_detail(get_item(s, item), None if (all_files or json_out) else 50)
    if json_out:
        emit_json(d)
        return
    out.print(
        f"[bold]{d['item']}[/] ({d['kind']}) {escape(printable(d['label']))} — case {escape(d['case'])}"
    )
    out.print(
        f"  source       {escape(printable(d['source_path']))}{' (in place, not copied)' if d['in_place'] else ''}"
    )
    out.print(
        f"  size         {d['size']} bytes ({human_size(d['size'])}), {d['files']} file-list entries"
    )
    for alg in ("sha256", "sha1", "md5", "blake3"):
        if d.get(alg):
            out.print(f"  {alg:<12} {d[alg]}")
    a = d["acquisition"]
    out.print("  acquisition")
    for key in (
        "acquired_by",
        "acquired_at",
        "location",
        "source_device",
        "source_ids",
        "method",
        "tool",
        "exhibit_number",
        "authority",
        "notes",
    ):
        if a.get(key):
            out.print(f"    {key:<15} {escape(printable(str(a[key])))}")
    if d["ewf"]:
        e = d["ewf"]
        verdict = {
            True: "[green]matches[/]",
            False: "[bold red]DOES NOT MATCH[/]",
            None: "not checked",
        }[e["media_verified"]]
        out.print(f"  EWF media    {e['media_size']} bytes in {len(e['segments'])} segment(s)")
        for alg, v in e["stored_hashes"].items():
            out.print(f"    stored {alg:<6} {v}  (re-read {verdict})")
        for alg, v in e["computed_hashes"].items():
            out.print(f"    media {alg:<7} {v}")
        for k, v in e["header"].items():
            if f"{k}_utc" in e["header"]:
                continue  # libewf renders the raw date in this machine's zone; show UTC only
            out.print(f"    {k:<24} {escape(str(v))}")
    if d["last_verified_at"]:
        out.print(
            f"  last verified {d['last_verified_at']}: {'ok' if d['last_verified_ok'] else 'FAILED'}"
        )
    if d["files"] > 1 or d["kind"] == "directory":
        t = table("path", "kind", "size", "mtime (UTC)", "sha256")
        for f in d["file_list"]:
            t.add_row(
                escape(
                    printable(f["path"])
                    + (f" -> {printable(f['link_target'])}" if "link_target" in f else "")
                ),
                f["kind"],
                str(f["size"]),
                f["mtime"][:19],
                f.get("sha256") or "",
            )
        out.print(t)
        if d["file_list_truncated"]:
            out.print(f"  … {d['files'] - len(d['file_list'])} more; use --all-files")


@evidence_app.command("verify", epilog="Example: rogatory evidence verify NL-2026-0042")
def evidence_verify(
    target: Annotated[
        str | None, typer.Argument(help="Case reference or item id (default: every item).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Re-read stored evidence and report every byte that no longer matches (exit 1 if any)."""
    from rogatory.custody.events import Actor, CustodyEvent, EventType, SubjectKind
    from rogatory.evidence.blobstore import BlobStore
    from rogatory.evidence.records import (
        cross_check_custody,
        item_summary,
        select_items,
        verify_items,
    )

    home = open_home()
    db = open_database(home)
    log = open_custody_log(home, db)
    store = BlobStore(home.blob_dir)
    with db.session() as s:
        rows = select_items(s, target)
        with ProgressBar("verifying", enabled=not json_out) as bar:
            bar.planned(
                sum(r.size for r in rows),
                sum(1 for r in rows for f in r.files if f.kind == "file"),
            )
            report = verify_items(s, rows, store, bar.advance)
        cross_check_custody(rows, log, report)
        # Every re-read of evidence is a custody event (RFC 3227 §4.1: who handled it, when, why).
        actor = Actor(getpass.getuser(), "operator")
        now = dt.datetime.now(dt.UTC)
        log.append_in(
            s,
            [
                CustodyEvent(
                    event_type=EventType.VERIFICATION,
                    subject_kind=SubjectKind.EVIDENCE,
                    subject_id=r.sha256,
                    node=home.config.identity.node_id,
                    actor=actor,
                    time=now,
                    case=r.case.reference,
                    purpose="integrity verification",
                    details={
                        "item": item_summary(r)["item"],
                        "result": "ok" if r.last_verified_ok else "failed",
                        "problems": sum(
                            1 for f in report.findings if f.item == item_summary(r)["item"]
                        ),
                    },
                )
                for r in rows
            ],
        )
    if json_out:
        emit_json(report.as_dict())
    else:
        for f in report.findings:
            out.print(
                f"[bold red]{f.problem.upper()}[/] {f.item} {escape(f.path)}: {escape(f.detail)}"
            )
        verdict = (
            "[green]all match[/]"
            if report.ok
            else f"[bold red]{len(report.findings)} problem(s)[/]"
        )
        out.print(
            f"Verified {report.items} items, {report.files} files, {human_size(report.bytes)}: {verdict}"
        )
    if not report.ok:
        kinds = {f.problem for f in report.findings}
        what = (
            "no longer match their recorded hashes"
            if kinds <= {"mismatch", "media", "listing"}
            else "are missing, unreadable or no longer match their recorded hashes"
        )
        raise IntegrityError(
            f"{report.problem_files} file(s) of the evidence {what}",
            "do not rely on them; restore them from the original media or a verified backup",
        )


@evidence_app.command(
    "manifest",
    epilog="Example: rogatory evidence manifest NL-2026-0042 --out case.sha256 && sha256sum -c case.sha256",
)
def evidence_manifest(
    case: Annotated[str, typer.Argument(help="Case reference.")],
    algorithm: Annotated[str, typer.Option("--algorithm", help="sha256, sha1 or md5.")] = "sha256",
    paths: Annotated[
        str,
        typer.Option("--paths", help="source: acquired paths; store: files in the evidence store."),
    ] = "source",
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write here instead of stdout.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Write a checksum manifest that sha256sum -c (md5sum -c, sha1sum -c) accepts."""
    from rogatory.evidence.blobstore import BlobStore
    from rogatory.evidence.records import checksum_manifest, list_items

    home = open_home()
    db = open_database(home)
    with db.session() as s:
        text = checksum_manifest(list_items(s, case), BlobStore(home.blob_dir), algorithm, paths)
    if json_out:
        entries = [line.split("  ", 1) for line in text.splitlines()]
        emit_json(
            {
                "case": case,
                "algorithm": algorithm,
                "paths": paths,
                "files": [{"digest": d.lstrip("\\"), "path": p} for d, p in entries],
                "written_to": str(out_file) if out_file else None,
            }
        )
        if out_file is None:
            return
    if out_file is None:
        sys.stdout.write(text)
        return
    if out_file.is_dir():
        raise UsageError(f"--out {out_file} is a directory", "give a file name, e.g. case.sha256")
    tmp = out_file.with_name(out_file.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out_file)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(
            f"cannot write {out_file}: {exc.strerror}",
            "check that the folder exists and is writable",
        ) from None
    err.print(
        f"wrote {out_file} ({text.count(chr(10))} files); check with: {algorithm}sum -c {out_file}"
    )


@evidence_app.command("history", epilog="Example: rogatory evidence history EV-000001")
def evidence_history(
    item: Annotated[str, typer.Argument(help="Item id, e.g. EV-000001.")],
    json_out: JsonOpt = False,
) -> None:
    """Show the item's custody chain, each event with its verified status and when it was provably logged."""
    from rogatory.custody.history import subject_history
    from rogatory.evidence.intake import parse_item_id
    from rogatory.evidence.records import get_item, item_summary

    home = open_home()
    db = open_database(home)
    with db.session() as s:
        row = get_item(s, item)
        label, sha = item_summary(row)["item"], row.sha256
    from rogatory.package.importer import foreign_history

    log = open_custody_log(home, db, signing=False)
    chain = subject_history(log, f"evidence:{sha}", home.config.quorum)
    foreign = foreign_history(db, parse_item_id(label))
    if json_out:
        emit_json(
            {
                "item": label,
                "sha256": sha,
                "foreign_events": foreign,
                "events": [c.as_dict() for c in chain],
            }
        )
    else:
        out.print(f"[bold]{label}[/] custody chain (subject evidence:{sha})")
        if foreign:
            ft = table("log", "#", "time (UTC)", "event", "actor", "checks", "provably logged by")
            for f in foreign:
                fev = f["event"] if isinstance(f["event"], dict) else {}
                ft.add_row(
                    escape(str(f["origin"])),
                    str(f["index"]),
                    str(fev.get("time", "")),
                    str(fev.get("type", "")),
                    escape(str((fev.get("actor") or {}).get("user", ""))),
                    "proof ok" if f["ok"] else f"[bold red]{escape(str(f['problem']))}[/]",
                    str(
                        f["provably_logged_by"]
                        or "no witness time (no witnesses in the sender's policy)"
                    ),
                )
            out.print("received with the evidence (the sender's custody log):")
            out.print(ft)
            out.print("in this node's custody log:")
        t = table("#", "time (UTC)", "event", "actor", "purpose", "checks", "provably logged by")
        for c in chain:
            ev = c.event or {}
            checks = ", ".join(f"{k} {'ok' if v else 'FAILED'}" for k, v in c.checks.items())
            t.add_row(
                str(c.index),
                str(ev.get("time", "(erased)")),
                str(ev.get("type", "")),
                str((ev.get("actor") or {}).get("user", "")),
                str(ev.get("purpose", "")),
                checks if c.ok else f"[bold red]{escape(checks)}[/]",
                c.logged_by or "not yet cosigned",
            )
        out.print(t)
    if any(not c.ok for c in chain) or any(not f["ok"] for f in foreign):
        raise IntegrityError(
            f"the custody chain of {label} has events that fail verification",
            "run rogatory log verify",
        )
