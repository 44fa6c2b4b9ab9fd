"""``rogatory package …``, ``rogatory verify`` and ``rogatory node card``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import pyrage
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
    passphrase_for,
    settings,
)
from rogatory.errors import IntegrityError, KeyMaterialError, UsageError

package_app = typer.Typer(
    help="Evidence packages: create, send to a peer, import, re-issue, list transfers.",
    no_args_is_help=True,
)


def node_card(
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the card here instead of stdout.")
    ] = None,
    valid_days: Annotated[
        int, typer.Option("--valid-days", help="How long partners may trust this card (days).")
    ] = 365,
    json_out: JsonOpt = False,
) -> None:
    """Export this node's signed card (identity, URL, public keys, policy, validity) and print its fingerprint to read out of band."""
    from rogatory.node.keys import KeyPurpose, load_signing_key
    from rogatory.package.card import build_card, fingerprint

    home = open_home()
    log = open_custody_log(home, open_database(home), signing=False)
    passphrase = passphrase_for(home)
    card = build_card(
        home,
        log,
        load_signing_key(home.keys_dir, KeyPurpose.MESSAGE, passphrase),
        passphrase=passphrase,
        valid_days=valid_days,
    )
    fp = fingerprint(card)
    text = json.dumps(card, indent=2, ensure_ascii=False) + "\n"
    if out_file is not None:
        out_file.write_text(text, encoding="utf-8")
    if json_out:
        emit_json(
            {"card": card, "fingerprint": fp, "written_to": str(out_file) if out_file else None}
        )
        return
    if out_file is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")  # exact bytes: no wrapping
    err.print(f"fingerprint: [bold]{fp}[/] — read it to the partner or court by a trusted route")


@package_app.command(
    "create",
    epilog="Example: rogatory package create NL-2026-0042 --item EV-000001 --item EV-000002 --to jp-central-authority.card.json --out nl-to-jp.rogpkg",
)
def package_create(
    case: Annotated[str, typer.Argument(help="Case reference.")],
    item: Annotated[
        list[str], typer.Option("--item", help="Evidence item to include (repeatable).")
    ],
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="Recipient: a peer's node id (trust list), an age1… key, an age key file, or a node card.",
        ),
    ],
    out_file: Annotated[
        Path, typer.Option("--out", help="The package file to write (must not exist).")
    ],
    fingerprint_opt: Annotated[
        str | None,
        typer.Option(
            "--fingerprint",
            help="With --to CARD: the card's fingerprint, confirmed with the recipient out of band.",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Build a signed, age-encrypted evidence package for one recipient, with every item's custody proofs."""
    from rogatory.node.keys import KeyPurpose, load_signing_key
    from rogatory.package.create import create_package

    home = open_home()
    db = open_database(home)
    log = open_custody_log(home, db)
    message_key = load_signing_key(home.keys_dir, KeyPurpose.MESSAGE, passphrase_for(home))
    recipient = _recipient(db, to, fingerprint_opt)
    if recipient.card_fingerprint is not None and not recipient.confirmed:
        err.print(
            f"[yellow]warning:[/] the recipient's card {escape(to)} was not confirmed with --fingerprint: "
            f"the evidence is encrypted to the key in that file; compare its fingerprint "
            f"{recipient.card_fingerprint} with the recipient's and pass it with --fingerprint"
        )
    with ProgressBar("packaging", enabled=not json_out) as bar:
        summary = create_package(
            home,
            db,
            log,
            message_key,
            case,
            item,
            recipient,
            out_file,
            bar.advance,
            lambda total: bar.planned(total, 0),
        )
    data = {
        "package": str(summary.path),
        "package_id": summary.package_id,
        "sha256": summary.sha256,
        "size": summary.size,
        "items": summary.items,
        "recipient": summary.recipient,
        "custody_events": summary.events,
        "warnings": summary.warnings,
    }
    if json_out:
        emit_json(data)
    else:
        out.print(
            f"package {summary.path} ({human_size(summary.size)}) for {escape(summary.recipient)}"
        )
        out.print(f"  package id {summary.package_id}; SHA-256 {summary.sha256}")
        out.print(
            f"  {len(summary.items)} item(s), {summary.events} custody events with proofs; export recorded in the custody log"
        )
    for w in summary.warnings:
        err.print(f"[yellow]warning:[/] {escape(w)}")


def _recipient(db: Any, to: str, fingerprint: str | None = None) -> Any:
    """``--to``: a usable peer on the trust list, else an age key, key file or card
    (checked against ``fingerprint`` if given)."""
    from rogatory.exchange.trust import usable_peer
    from rogatory.package.create import Recipient, parse_recipient
    from rogatory.store.schema import PeerRow

    if not to.startswith("age1") and not Path(to).exists():
        with db.session() as s:
            known = s.get(PeerRow, to) is not None
        if known:
            if fingerprint is not None:
                raise UsageError(
                    f"{to} is a peer: its card was confirmed when it was added",
                    "drop --fingerprint",
                )
            peer = usable_peer(db, to)
            return Recipient(peer.card["keys"]["age"], f"{peer.agency} ({peer.node_id})")
    return parse_recipient(to, fingerprint)


def _warn_unconfirmed(card: Path, whose: str) -> None:
    """Say on stderr that a card was trusted without the fingerprint confirmed out of band."""
    err.print(
        f"[yellow]warning:[/] {whose} card was not confirmed with --fingerprint ({escape(str(card))}): "
        "the result holds only if that file came to you by a trusted route; compare its "
        "fingerprint (rogatory node card prints it) with the one the agency published"
    )


def _identity(path: Path) -> pyrage.x25519.Identity:
    """The age identity in the key file ``path``: plain (``AGE-SECRET-KEY-1…``, as
    ``age-keygen`` writes it) or protected with a passphrase (``age.key.age`` of
    ``init --protect``; unlocked with --passphrase-file or ROGATORY_PASSPHRASE[_FILE]).

    Raises:
        KeyMaterialError: no such file, not a key file, or the passphrase is missing or wrong.
    """
    from rogatory.node.home import read_passphrase
    from rogatory.node.keys import unlock_protected_identity

    hint = "give the recipient's age key file (AGE-SECRET-KEY-1…), e.g. HOME/keys/age.key"
    if path.is_dir():
        raise KeyMaterialError(f"{path} is a folder, not a key file", hint)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise KeyMaterialError(f"no such key file: {path}", hint) from None
    except OSError as exc:
        raise KeyMaterialError(f"cannot read {path} ({exc.strerror})", hint) from None
    if raw.startswith(b"age-encryption.org/v1\n"):
        raw = unlock_protected_identity(raw, read_passphrase(settings.passphrase_file), path)
    text = raw.decode("utf-8", "replace")
    keys = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("AGE-SECRET-KEY-1")]
    try:
        return pyrage.x25519.Identity.from_str(keys[0])
    except (IndexError, pyrage.IdentityError):
        raise KeyMaterialError(f"{path} holds no age identity (AGE-SECRET-KEY-1…)", hint) from None


def verify(
    package: Annotated[Path, typer.Argument(help="The package file.")],
    identity: Annotated[
        Path,
        typer.Option("--identity", help="The recipient's age identity file (AGE-SECRET-KEY-1…)."),
    ],
    trust: Annotated[
        list[Path],
        typer.Option(
            "--trust",
            help="The sender's node card, obtained by a trusted route (repeat for a reissuer's card).",
        ),
    ],
    fingerprint_opt: Annotated[
        list[str] | None,
        typer.Option(
            "--fingerprint",
            help="Card fingerprint confirmed out of band (repeatable, in --trust order).",
        ),
    ] = None,
    report_dir: Annotated[
        Path | None, typer.Option("--report", help="Write verification-report.html and .pdf here.")
    ] = None,
    custody_only: Annotated[
        bool,
        typer.Option(
            "--custody-only", help="Check the custody proofs without decrypting payloads."
        ),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Verify a package offline: signatures, every byte, every custody event; no network, no node needed."""
    from rogatory.package.card import load_trust
    from rogatory.package.verify import verify_package

    if not package.is_file():
        raise UsageError(f"no package file {package}", "check the path")
    if report_dir is not None and report_dir.exists() and not report_dir.is_dir():
        raise UsageError(
            f"--report {report_dir} is a file; it names the folder the reports are written to",
            "give a folder (it is created if missing)",
        )
    fps = list(fingerprint_opt or [])
    if len(fps) > len(trust):
        raise UsageError(
            f"{len(fps)} --fingerprint values for {len(trust)} --trust card(s)",
            "give one --fingerprint per --trust card, in the same order",
        )
    senders = [load_trust(card, fps[i] if i < len(fps) else None) for i, card in enumerate(trust)]
    for i, card in enumerate(trust[len(fps) :], start=len(fps)):
        _warn_unconfirmed(card, "the sender's" if i == 0 else "the reissuer's")
    ident = _identity(identity)
    with ProgressBar("verifying", enabled=not json_out) as bar:
        result = verify_package(
            package,
            ident,
            senders,
            custody_only=custody_only,
            progress=bar.advance,
            planned=lambda total: bar.planned(total, 0),
        )
    report = result.report
    paths: tuple[Path, Path] | None = None
    if report_dir is not None:
        from rogatory.package.report import write_report

        paths = write_report(report, report_dir)
    if json_out:
        emit_json({**report.as_dict(), "report_files": [str(p) for p in paths] if paths else []})
    else:
        _print_report(report)
        if paths:
            out.print(f"report: {paths[0]} and {paths[1]}")
    if not report.ok:
        failed = report.failed_checks()
        raise IntegrityError(
            f"the package failed verification: {failed[0].name}: {failed[0].detail}"
            if failed
            else "the package failed verification",
            (
                "give the sender's current node card with --trust, confirmed by its fingerprint"
                if failed and failed[0].name == "manifest signature"
                else "do not rely on it; ask the sender for a new package"
            )
            + (f"; details in {paths[0]}" if paths else ""),
        )


def _print_report(report: object) -> None:
    from rogatory.package.report_model import PackageReport

    assert isinstance(report, PackageReport)
    verdict = "[green]ALL CHECKS PASSED[/]" if report.ok else "[bold red]VERIFICATION FAILED[/]"
    out.print(f"{verdict}: package {escape(report.package_file)} ({report.package_id})")
    out.print(
        f"  from {escape(report.sender.get('agency', '?'))} ({escape(report.sender.get('node_id', '?'))}), case {escape(report.case)}, TLP:{report.handling_code}"
    )
    out.print(f"  trust: {escape(report.trust_basis)}")
    for c in report.checks:
        out.print(f"  {'✓' if c.ok else '[red]✗[/]'} {c.name}: {escape(c.detail)}")
    for it in report.items:
        out.print(
            f"[bold]{escape(it.item_id)}[/] {escape(it.label)} ({it.kind}, {it.size} bytes) SHA-256 {it.sha256}"
        )
        for c in it.checks:
            out.print(f"  {'✓' if c.ok else '[red]✗[/]'} {escape(c.name)}: {escape(c.detail)}")
        for s in it.custody:
            mark = "✓" if s.ok else "[red]✗[/]"
            when = (
                f"provably logged by {s.provably_logged_by}"
                if s.provably_logged_by
                else "in the log; no witness time (its policy names no witnesses)"
            )
            node = s.node or s.origin
            out.print(
                f"  {mark} {escape(node)} #{s.index} {s.time} {s.event_type} by {escape(s.actor)} "
                f"({escape(s.role)}) — {when}"
            )
            for c in s.checks:
                if not c.ok:
                    out.print(f"      [red]✗ {escape(c.name)}: {escape(c.detail)}[/]")


@package_app.command(
    "import",
    epilog="Example: rogatory package import nl-to-jp.rogpkg --trust nl.police-cybercrime.card.json --fingerprint '0F15 46DA …'",
)
def package_import(
    package: Annotated[Path, typer.Argument(help="The package file.")],
    trust: Annotated[
        Path | None,
        typer.Option("--trust", help="The sender's node card, obtained by a trusted route."),
    ] = None,
    from_peer: Annotated[
        str | None,
        typer.Option(
            "--from", help="The sender, a peer on this node's trust list (instead of --trust)."
        ),
    ] = None,
    fingerprint_opt: Annotated[
        str | None,
        typer.Option("--fingerprint", help="The card fingerprint you confirmed out of band."),
    ] = None,
    case: Annotated[
        str | None,
        typer.Option(
            "--case",
            help="Local case to import into (default: the sender's reference; created if absent).",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Verify a package with this node's key and bring its items in with their foreign custody history."""
    from rogatory.node.keys import load_age_identity
    from rogatory.package.card import load_trust
    from rogatory.package.importer import import_package

    if not package.is_file():
        raise UsageError(f"no package file {package}", "check the path")
    home = open_home()
    db = open_database(home)
    log = open_custody_log(home, db)
    if (trust is None) == (from_peer is None):
        raise UsageError(
            "give the sender as --from PEER (trust list) or --trust CARD --fingerprint FP",
            "rogatory peer list shows the trust list",
        )
    if from_peer is not None:
        from rogatory.exchange.trust import peer_trust, usable_peer

        sender = peer_trust(usable_peer(db, from_peer))
    else:
        assert trust is not None
        sender = load_trust(trust, fingerprint_opt)
        if fingerprint_opt is None:
            _warn_unconfirmed(trust, "the sender's")
    identity = load_age_identity(home.keys_dir, passphrase_for(home))
    with ProgressBar("importing", enabled=not json_out) as bar:
        result = import_package(
            home,
            db,
            log,
            package,
            identity,
            sender,
            case,
            progress=bar.advance,
            planned=lambda total: bar.planned(total, 0),
        )
    if json_out:
        emit_json(
            {"package_id": result.report.package_id, "case": result.case, "items": result.items}
        )
        return
    out.print(
        f"[green]imported[/] package {result.report.package_id} from {escape(sender.agency)} into case {escape(result.case)}"
    )
    for theirs, mine in result.items.items():
        out.print(f"  {escape(theirs)} → {mine} (receipt recorded in the custody log)")


@package_app.command(
    "reissue",
    epilog="Example: rogatory package reissue nl-to-jp.rogpkg --trust nl.police-cybercrime.card.json --to court.age.pub --out for-the-court.rogpkg",
)
def package_reissue(
    package: Annotated[Path, typer.Argument(help="A package addressed to this node.")],
    trust: Annotated[Path, typer.Option("--trust", help="The original sender's node card.")],
    to: Annotated[
        str,
        typer.Option("--to", help="New recipient: an age1… key, an age key file, or a node card."),
    ],
    out_file: Annotated[
        Path, typer.Option("--out", help="The reissued package to write (must not exist).")
    ],
    fingerprint_opt: Annotated[
        str | None, typer.Option("--fingerprint", help="The sender card's fingerprint.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Re-encrypt a received package for a court or the defence; the sender's signatures stay verifiable."""
    from rogatory.node.keys import KeyPurpose, load_age_identity, load_signing_key
    from rogatory.package.card import load_trust
    from rogatory.package.create import parse_recipient
    from rogatory.package.reissue import reissue_package

    if not package.is_file():
        raise UsageError(f"no package file {package}", "check the path")
    home = open_home()
    db = open_database(home)
    log = open_custody_log(home, db)
    pw = passphrase_for(home)
    recipient = parse_recipient(to)
    if fingerprint_opt is None:
        _warn_unconfirmed(trust, "the sender's")
    with ProgressBar("reissuing (check, then re-encrypt)", enabled=not json_out) as bar:
        package_id, warnings = reissue_package(
            home,
            db,
            log,
            load_signing_key(home.keys_dir, KeyPurpose.MESSAGE, pw),
            load_age_identity(home.keys_dir, pw),
            load_trust(trust, fingerprint_opt),
            package,
            recipient,
            out_file,
            progress=bar.advance,
            planned=lambda total: bar.planned(total, 0),
        )
    if json_out:
        emit_json(
            {
                "package_id": package_id,
                "reissued_to": recipient.label,
                "out": str(out_file),
                "warnings": warnings,
            }
        )
    else:
        out.print(f"package {package_id} reissued to {escape(recipient.label)}: {out_file}")
        out.print(
            "  disclosure recorded in this node's custody log; the recipient verifies with both node cards:"
        )
        out.print(
            f"  rogatory verify {out_file} --identity KEY --trust SENDER-CARD --trust {escape(str(home.config.identity.node_id))}-CARD"
        )
    for w in warnings:
        err.print(f"[yellow]warning:[/] {escape(w)}")


@package_app.command(
    "send",
    epilog="Example: rogatory package send nl-to-jp.rogpkg --to jp.central-authority",
)
def package_send(
    package: Annotated[
        Path, typer.Argument(help="The package file (made with package create --to the peer).")
    ],
    to: Annotated[str, typer.Option("--to", help="The recipient peer's node id.")],
    max_bytes: Annotated[
        int | None,
        typer.Option(
            "--max-bytes",
            help="Upload at most this many bytes now, then stop (run again to continue), e.g. on a metered link.",
        ),
    ] = None,
    retry_for: Annotated[
        float,
        typer.Option("--retry-for", help="Keep retrying an unreachable peer this long (seconds)."),
    ] = 60.0,
    json_out: JsonOpt = False,
) -> None:
    """Send a package to a peer over the federation; resumes an interrupted transfer where it stopped."""
    import getpass

    from rogatory.cli.federation_cmds import open_federation_node
    from rogatory.custody.events import Actor
    from rogatory.exchange.transfer import send_package

    if max_bytes is not None and max_bytes <= 0:
        raise UsageError("--max-bytes must be positive", "")
    node = open_federation_node()
    with ProgressBar(f"sending to {to}", enabled=not json_out) as bar:
        result = send_package(
            node,
            package,
            to,
            max_bytes=max_bytes,
            retry_for=retry_for,
            progress=bar.advance,
            planned=lambda held, total: bar.planned(total - held, 0),
            actor=Actor(getpass.getuser(), "sender"),
        )
    data = {
        "status": result.status,
        "sent_bytes": result.sent,
        "offset": result.offset,
        "size": result.size,
        "resumed_from": result.resumed_from,
        "duplicate": result.duplicate,
        "receipt": result.receipt,
        "seconds": round(result.seconds, 3),
        "upload_seconds": round(result.upload_seconds, 3),
    }
    if json_out:
        emit_json(data)
        return
    if result.status == "paused":
        out.print(
            f"[yellow]paused[/] after {human_size(result.sent)}: {escape(to)} holds {human_size(result.offset)} of {human_size(result.size)}\n"
            f"  run the same command again to resume from byte {result.offset}"
        )
        return
    if result.resumed_from and not result.duplicate:
        out.print(f"resumed from byte {result.resumed_from} (already held by {escape(to)})")
    receipt = result.receipt or {}
    out.print(
        f"[green]delivered[/] {package.name} ({human_size(result.size)}) to {escape(to)}"
        + (
            " — delivered before; the signed receipt of that delivery is kept"
            if result.duplicate
            else ""
        )
    )
    out.print(
        f"  {escape(to)} imported package {receipt.get('package_id')} into case {escape(str(receipt.get('case')))}; "
        "signed receipt kept, transfer-out recorded in the custody log"
    )


@package_app.command("transfers", epilog="Example: rogatory package transfers --json")
def package_transfers(json_out: JsonOpt = False) -> None:
    """List package transfers to and from peers, with the received files' paths."""
    from rogatory.cli.federation_cmds import open_federation_node
    from rogatory.exchange.transfer import DONE, received_path, transfers

    node = open_federation_node(signing=False)
    rows: list[dict[str, Any]] = [
        {
            "direction": t.direction,
            "peer": t.peer,
            "sha256": t.sha256,
            "size": t.size,
            "file_name": t.file_name,
            "status": t.status,
            "updated_at": t.updated_at.isoformat(),
            "receipt": bool(t.receipt),
            "path": str(received_path(node, t))
            if t.direction == "in" and t.status == DONE
            else None,
            "detail": t.detail,
        }
        for t in transfers(node)
    ]
    if json_out:
        emit_json(rows)
        return
    if not rows:
        out.print("no transfers")
        return
    for r in rows:
        arrow = "→" if r["direction"] == "out" else "←"
        out.print(
            f"{arrow} {escape(r['peer'])} {escape(r['file_name'])} {human_size(r['size'])} {r['status']}"
            + (f" — {escape(r['path'])}" if r["path"] else "")
            + (f" — {escape(r['detail'])}" if r["detail"] else "")
        )
