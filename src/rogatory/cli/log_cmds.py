"""``rogatory log …``: the custody log's status, checkpoints, verification, proofs and policy."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from rogatory.cli.common import (
    JsonOpt,
    emit_json,
    open_custody_log,
    open_database,
    open_home,
    out,
    passphrase_for,
    table,
)
from rogatory.errors import CustodyError, UsageError

log_app = typer.Typer(
    help="The custody log: status, checkpoints, verification, proofs, policy.", no_args_is_help=True
)


@log_app.command("status", epilog="Example: rogatory log status --json")
def log_status(json_out: JsonOpt = False) -> None:
    """Show the log's size, latest checkpoint and its cosignatures."""
    from rogatory.custody.history import cosigned_checkpoints, required_cosignatures
    from rogatory.custody.log import read_head_file

    home = open_home()
    db = open_database(home)
    log = open_custody_log(home, db, signing=False)
    checkpoints, witnesses = cosigned_checkpoints(log)
    latest = checkpoints[-1] if checkpoints else None
    needed = required_cosignatures(home.config.quorum, len(witnesses))
    head = read_head_file(home.path)
    data = {
        "origin": log.origin,
        "size": log.size(),
        "frozen": log.frozen_reason(),
        "published_head_size": head[0] if head else None,
        "witnesses": sorted(witnesses),
        "quorum": needed,
        "latest_checkpoint": {
            "size": latest.size,
            "created_at": latest.created_at.isoformat(),
            "cosigned_by": latest.cosignatures,
            "cosigned_at": {n: _utc(ts) for n, ts in latest.cosignatures.items()},
            "quorum_met": len(latest.cosignatures) >= needed,
        }
        if latest
        else None,
    }
    if json_out:
        emit_json(data)
        return
    out.print(f"[bold]{log.origin}[/]: {data['size']} custody events")
    if latest:
        met = (
            "[green]quorum met[/]"
            if len(latest.cosignatures) >= needed
            else f"[yellow]{len(latest.cosignatures)}/{needed} cosignatures[/]"
        )
        out.print(
            f"latest checkpoint: size {latest.size}, signed "
            f"{latest.created_at.isoformat(timespec='seconds')}, {met}"
        )
        for name, ts in latest.cosignatures.items():
            out.print(f"  cosigned by {escape(name)} at {_utc(ts)}")
    else:
        out.print("no checkpoint yet (rogatory log checkpoint)")
    if data["frozen"]:
        out.print(f"[bold red]appends refused:[/] {escape(str(data['frozen']))}")


@log_app.command("checkpoint", epilog="Example: rogatory log checkpoint")
def log_checkpoint(json_out: JsonOpt = False) -> None:
    """Sign a checkpoint now if the log grew, and ask the configured witnesses to cosign it."""
    from rogatory.custody.witnessing import collect_cosignatures

    home = open_home()
    db = open_database(home)
    log = open_custody_log(home, db)
    cp, created = log.publish_checkpoint()
    results = collect_cosignatures(log, cp)
    data = {
        "size": cp.checkpoint.size,
        "created": created,
        "root": cp.checkpoint.root_hash.hex(),
        "witnesses": {r.witness: r.outcome for r in results},
    }
    if json_out:
        emit_json(data)
    else:
        out.print(
            f"checkpoint of size {cp.checkpoint.size} {'signed now' if created else 'already signed'}"
        )
        for r in results:
            out.print(f"  {escape(r.witness)}: {escape(r.outcome)}")
    failed = [r for r in results if not r.ok]
    if failed:
        raise CustodyError(
            f"{len(failed)} witness(es) did not cosign: "
            + "; ".join(f"{r.witness}: {r.outcome}" for r in failed),
            "check that the witnesses run and trust this log (rogatory witness trust on their side)",
        )


@log_app.command("verify", epilog="Example: rogatory log verify --json")
def log_verify(
    events: Annotated[
        bool,
        typer.Option("--events", help="List every event with the time it was provably logged."),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Recompute the whole tree from the stored entries and check every checkpoint and cosignature."""
    from rogatory.custody.audit import verify_log
    from rogatory.custody.history import logged_by_times

    home = open_home()
    db = open_database(home)
    log = open_custody_log(home, db, signing=False)
    report = verify_log(log)
    times = logged_by_times(log, home.config.quorum) if events else []
    if json_out:
        emit_json(
            {**report.as_dict(), **({"events": [t.__dict__ for t in times]} if events else {})}
        )
    else:
        if events:
            t = table("#", "time (UTC)", "event", "subject", "provably logged by", "checkpoint")
            for e in times:
                t.add_row(
                    str(e.index),
                    e.time[:19],
                    e.event_type,
                    e.subject,
                    e.provably_logged_by or "[yellow]not yet cosigned[/]",
                    str(e.checkpoint_size or ""),
                )
            out.print(t)
        for p in report.problems:
            out.print(f"[bold red]PROBLEM[/] {escape(p)}")
        verdict = (
            "[green]consistent[/]"
            if report.ok
            else f"[bold red]{len(report.problems)} problem(s)[/]"
        )
        out.print(
            f"{report.entries} entries ({report.erased} erased), {report.checkpoints} checkpoints, "
            f"{report.cosignatures} cosignatures: {verdict}"
        )
    if not report.ok:
        raise CustodyError(
            f"the custody log failed verification: {report.problems[0]}",
            "do not rely on this log until the cause is found; restore from a verified backup",
        )


@log_app.command("policy", epilog="Example: rogatory log policy > nl.police-cybercrime.tlog-policy")
def log_policy(
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write here instead of stdout.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Print the node's C2SP tlog-policy: its log keys (with history), witnesses and quorum."""
    from rogatory.custody.disclosure import node_policy

    home = open_home()
    db = open_database(home)
    text = node_policy(open_custody_log(home, db, signing=False), home.config.quorum)
    if out_file is not None:
        out_file.write_text(text)
    if json_out:
        emit_json({"policy": text, "written_to": str(out_file) if out_file else None})
    elif out_file is None:
        sys.stdout.write(text)


@log_app.command("prove", epilog="Example: rogatory log prove EV-000001 --out proofs/")
def log_prove(
    target: Annotated[
        str,
        typer.Argument(
            help="An event index (e.g. 17) or an evidence item (EV-000001): all its events."
        ),
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write the proof files to.")],
    json_out: JsonOpt = False,
) -> None:
    """Write offline proofs: per event its statement, salt, leaf and tlog-proof, plus the policy."""
    from rogatory.custody.disclosure import POLICY_FILE, write_proofs
    from rogatory.evidence.records import get_item

    home = open_home()
    db = open_database(home)
    log = open_custody_log(home, db, signing=False)
    if target.upper().startswith("EV-"):
        with db.session() as s:
            sha = get_item(s, target).sha256
        indexes = [e.idx for e in log.entries_for_subject(f"evidence:{sha}")]
    else:
        t = target.lstrip("#")
        if not t.isdigit():
            raise UsageError(
                f"{target!r} is neither an event index nor an item id", "e.g. 17 or EV-000001"
            )
        indexes = [int(t)]
    paths = write_proofs(log, indexes, out_dir, home.config.quorum)
    if json_out:
        emit_json({"events": indexes, "files": [str(p) for p in paths]})
        return
    out.print(f"wrote {len(paths)} files for {len(indexes)} event(s) to {out_dir}")
    out.print(
        f"check offline: rogatory log check {out_dir}/event-{indexes[0]}.tlog-proof --event {out_dir}/event-{indexes[0]}.statement --policy {out_dir}/{POLICY_FILE}"
    )


@log_app.command(
    "check",
    epilog="Example: rogatory log check proofs/event-0.tlog-proof --event proofs/event-0.statement --policy proofs/policy.tlog-policy",
)
def log_check(
    proof: Annotated[Path, typer.Argument(help="A c2sp.org/tlog-proof@v1 file.")],
    event: Annotated[
        Path,
        typer.Option(
            "--event", help="The event's .statement file (its .salt file is read beside it)."
        ),
    ],
    policy: Annotated[
        Path,
        typer.Option("--policy", help="The log's tlog-policy file, obtained by your own route."),
    ],
    salt: Annotated[
        str | None,
        typer.Option("--salt", help="The event's salt (64 hex digits) if not in a .salt file."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Verify one custody event offline, with public keys only (no node needed)."""
    from rogatory.custody.disclosure import check_event

    try:
        proof_bytes = proof.read_bytes()
        statement = event.read_bytes()
        policy_text = policy.read_text(encoding="utf-8")
        salt_hex = salt or event.with_suffix(".salt").read_text().strip()
    except OSError as exc:
        raise UsageError(f"cannot read {exc.filename}: {exc.strerror}", "check the paths") from None
    try:
        salt_bytes = bytes.fromhex(salt_hex)
    except ValueError:
        raise UsageError(
            "the salt is not hex", "give the 64 hex digits from the .salt file"
        ) from None
    checked = check_event(proof_bytes, statement, salt_bytes, policy_text)
    if json_out:
        emit_json({"ok": True, **checked.as_dict()})
        return
    ev = checked.event
    out.print(
        f"[green]✓ verified[/]: custody event #{checked.proof.index} of {escape(checked.proof.checkpoint.origin)}"
    )
    out.print(
        f"  {ev.get('time')} {ev.get('type')} of {ev.get('subject', {}).get('kind')} {ev.get('subject', {}).get('id')}"
    )
    out.print(
        f"  by {escape(str(ev.get('actor', {}).get('user')))}; case {escape(str(ev.get('case')))}; purpose {escape(str(ev.get('purpose')))}"
    )
    out.print(
        f"  in checkpoint of size {checked.proof.checkpoint.size}, signed by {escape(checked.proof.log_key_name)}"
    )
    for name, ts in checked.proof.witness_timestamps.items():
        out.print(f"  cosigned by {escape(name)} at {_utc(ts)}")
    out.print(
        f"  provably logged by: {checked.logged_by or 'no witness time (this policy names no witnesses)'}"
    )


@log_app.command(
    "erase",
    epilog="Example: rogatory log erase 17 --reason 'retention period ended (Directive 2016/680 Art. 5)' --by 'J. Jansen, DPO'",
)
def log_erase(
    index: Annotated[int, typer.Argument(help="The custody event's index.")],
    reason: Annotated[
        str, typer.Option("--reason", help="The retention rule that requires the erasure.")
    ],
    by: Annotated[str, typer.Option("--by", help="Who orders the erasure (name, role).")],
    json_out: JsonOpt = False,
) -> None:
    """Erase an event's content under a retention rule; its commitment stays and the log stays verifiable."""
    from rogatory.custody.events import Actor

    home = open_home()
    log = open_custody_log(home, open_database(home))
    logged = log.erase(index, Actor(by, "erasure"), reason)
    if json_out:
        emit_json({"erased": index, "erasure_event": logged.index})
        return
    out.print(f"custody event #{index} erased (commitment kept); recorded as event #{logged.index}")


@log_app.command("rotate-key", epilog="Example: rogatory log rotate-key")
def log_rotate_key(json_out: JsonOpt = False) -> None:
    """Replace the custody-log signing key. Old checkpoints and events keep verifying under the
    key of their time (the policy lists the key history); tell your witnesses the new vkey."""
    from rogatory.node.keys import KeyPurpose, rotate_signing_key

    home = open_home()
    db = open_database(home)
    log = open_custody_log(home, db)
    log.publish_checkpoint()  # the last checkpoint under the old key
    retired = rotate_signing_key(home.keys_dir, KeyPurpose.LOG, passphrase_for(home))
    new_log = open_custody_log(home, db)
    data = {"retired_key_file": str(retired), "new_vkey": new_log.vkey, "origin": new_log.origin}
    if json_out:
        emit_json(data)
        return
    out.print(f"new custody-log key: {data['new_vkey']}", soft_wrap=True)
    out.print(f"old key kept as {retired}; each witness must now run:")
    out.print(
        f"  rogatory witness trust {new_log.origin} --vkey '{data['new_vkey']}'", soft_wrap=True
    )


def _utc(timestamp: int) -> str:
    """A cosignature's timestamp (seconds since the epoch, C2SP tlog-cosignature) as UTC ISO 8601."""
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat()
