"""``rogatory peer …``, ``rogatory message …``, ``rogatory node set-url`` and
``rogatory node rotate-key``: the trust list and messages between nodes."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from rogatory.cli.common import (
    JsonOpt,
    emit_json,
    err,
    open_custody_log,
    open_database,
    open_home,
    out,
    passphrase_for,
    table,
    with_home,
)
from rogatory.errors import UsageError
from rogatory.exchange.codes import HandlingCode, MessageType

if TYPE_CHECKING:
    from rogatory.exchange.node import FederationNode

peer_app = typer.Typer(
    help="The trust list: partner nodes this node exchanges with.",
    epilog="Example: rogatory peer add jp.central-authority.card.json --fingerprint 'A16D 9B2E …'",
    no_args_is_help=True,
)
message_app = typer.Typer(
    help="Signed, end-to-end encrypted messages to and from peers.",
    epilog="Example: rogatory message send jp.central-authority --type request --text 'Please preserve …'",
    no_args_is_help=True,
)


def open_federation_node(*, signing: bool = True) -> FederationNode:
    """This node, unlocked for sending and receiving."""
    from rogatory.exchange.node import FederationNode

    home = open_home()
    db = open_database(home)
    return FederationNode(
        home, db, open_custody_log(home, db, signing=signing), passphrase_for(home)
    )


@peer_app.command(
    "add",
    epilog="Example: rogatory peer add jp.central-authority.card.json --fingerprint '0F15 46DA 9C2E …'",
)
def peer_add(
    card_file: Annotated[
        Path, typer.Argument(help="The partner's node card (rogatory node card).")
    ],
    fingerprint_opt: Annotated[
        str | None,
        typer.Option(
            "--fingerprint",
            help="The card's fingerprint, confirmed with the partner by phone or from an official publication. "
            "Not needed for a newer card signed by a key already trusted for that node.",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Trust a partner node: add its card once its fingerprint is confirmed (or update it)."""
    from rogatory.exchange.trust import add_peer
    from rogatory.package.card import read_card

    home = open_home()
    card = read_card(card_file)
    change = add_peer(
        open_database(home), card, fingerprint_opt, own_node_id=home.config.identity.node_id
    )
    if json_out:
        emit_json(
            {
                "node_id": change.node_id,
                "action": change.action,
                "fingerprint": change.fingerprint,
                "witness": change.witness,
            }
        )
        return
    out.print(
        f"[green]{change.action}[/] {escape(change.node_id)} ({escape(card['agency'])}, {card['country']}), fingerprint {change.fingerprint}"
    )
    if change.witness:
        out.print(
            f"  {escape(change.node_id)} now witnesses this node's log, and this node witnesses {escape(card['log_origin'])}"
        )
    else:
        err.print("  the card has no URL: messages cannot be delivered until the partner sends one")


@peer_app.command("list", epilog="Example: rogatory peer list --json")
def peer_list(json_out: JsonOpt = False) -> None:
    """List the trust list: each peer's status, card validity, fingerprint and detected forks."""
    from rogatory.custody.witnessing import forks
    from rogatory.exchange.trust import list_peers, peer_problem

    home = open_home()
    db = open_database(home)
    peers = list_peers(db)
    fork_rows = forks(db)
    rows = [
        {
            "node_id": p.node_id,
            "agency": p.agency,
            "country": p.country,
            "url": p.url,
            "status": p.status,
            "problem": peer_problem(p),
            "valid_until": p.valid_until.isoformat(),
            "fingerprint": " ".join(p.fingerprint[i : i + 4] for i in range(0, 40, 4)),
            "roles": p.card.get("roles", []),
            "forks_detected": sum(1 for f in fork_rows if f.origin == p.card.get("log_origin")),
        }
        for p in peers
    ]
    if json_out:
        emit_json(rows)
        return
    if not rows:
        out.print("No peers yet. Add one: rogatory peer add CARD --fingerprint 'XXXX …'")
        return
    t = table("node", "agency", "status", "valid until", "URL", "fingerprint")
    for r in rows:
        status = "[green]active[/]" if not r["problem"] else f"[red]{escape(r['problem'])}[/]"
        if r["forks_detected"]:
            status += f" [red bold]FORK DETECTED ×{r['forks_detected']}[/]"
        t.add_row(
            r["node_id"],
            escape(r["agency"]),
            status,
            r["valid_until"][:10],
            r["url"] or "—",
            r["fingerprint"],
        )
    out.print(t)


@peer_app.command("remove", epilog="Example: rogatory peer remove jp.central-authority --yes")
def peer_remove(
    node_id: Annotated[str, typer.Argument(help="The peer's node id.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Take a peer off the trust list (messages already received are kept)."""
    from rogatory.exchange.trust import remove_peer

    home = open_home()
    if not yes and not typer.confirm(f"Remove {node_id} from the trust list?"):
        raise typer.Exit(1)
    remove_peer(open_database(home), node_id)
    out.print(f"removed {escape(node_id)} from the trust list (and as a witness of this log)")


@peer_app.command(
    "revoke", epilog="Example: rogatory peer revoke jp.central-authority --reason 'key compromised'"
)
def peer_revoke(
    node_id: Annotated[str, typer.Argument(help="The peer's node id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why trust is revoked.")],
) -> None:
    """Revoke a peer: its messages, transfers and cosignature requests are refused from now on."""
    from rogatory.exchange.trust import revoke_peer

    home = open_home()
    revoke_peer(open_database(home), node_id, reason)
    out.print(f"[red]revoked[/] {escape(node_id)}: {escape(reason)}")


def _body(body: str | None, body_file: Path | None, text: str | None) -> dict[str, Any]:
    given = [x for x in (body, body_file, text) if x is not None]
    if len(given) != 1:
        raise UsageError(
            "give exactly one of --body, --body-file or --text", "e.g. --text 'Please preserve …'"
        )
    if text is not None:
        return {"text": text}
    try:
        raw = body if body is not None else Path(str(body_file)).read_text(encoding="utf-8")
        value = json.loads(raw)
    except OSError as exc:
        raise UsageError(f"cannot read {body_file}: {exc.strerror}", "") from None
    except ValueError as exc:
        raise UsageError(f"the body is not JSON ({exc})", "give a JSON object") from None
    if not isinstance(value, dict):
        raise UsageError("the body must be a JSON object", 'e.g. {"text": "…"}')
    return value


@message_app.command(
    "send",
    epilog="Example: rogatory message send jp.central-authority --type request --handling H2 --text 'Please preserve the account data of …'",
)
def message_send(
    to: Annotated[str, typer.Argument(help="The recipient peer's node id.")],
    type_: Annotated[
        MessageType, typer.Option("--type", help="What the message is.", case_sensitive=False)
    ] = MessageType.REQUEST,
    handling: Annotated[
        HandlingCode, typer.Option("--handling", help="SIENA handling code H0–H3.")
    ] = HandlingCode.H2,
    text: Annotated[str | None, typer.Option("--text", help="A plain-text body.")] = None,
    body: Annotated[str | None, typer.Option("--body", help="A JSON object body.")] = None,
    body_file: Annotated[
        Path | None, typer.Option("--body-file", help="A file holding a JSON object body.")
    ] = None,
    ttl_hours: Annotated[
        float,
        typer.Option("--ttl-hours", help="Lifetime: the recipient refuses it after this (hours)."),
    ] = 168.0,
    reply_to: Annotated[
        str | None, typer.Option("--reply-to", help="The message id this answers.")
    ] = None,
    case: Annotated[str, typer.Option("--case", help="Case reference for the custody event.")] = "",
    queue_only: Annotated[
        bool,
        typer.Option("--queue", help="Only store it in the outbox; 'rogatory serve' delivers it."),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Sign, encrypt and send a message; kept in the outbox until the peer's signed receipt arrives."""
    import getpass

    from rogatory.custody.events import Actor
    from rogatory.exchange.outbox import deliver_one, enqueue

    if ttl_hours <= 0:
        raise UsageError("--ttl-hours must be positive", "")
    node = open_federation_node()
    row = enqueue(
        node,
        to,
        type_,
        _body(body, body_file, text),
        handling=handling,
        ttl=dt.timedelta(hours=ttl_hours),
        reply_to=reply_to,
        actor=Actor(getpass.getuser(), "sender"),
        case=case,
    )
    result = None if queue_only else deliver_one(node, row.message_id)
    status = result.status if result else "pending"
    detail = result.detail if result else "queued"
    if json_out:
        emit_json(
            {
                "message_id": row.message_id,
                "recipient": to,
                "status": status,
                "detail": detail,
                "retry_in": result.retry_in if result else None,
            }
        )
    elif status == "delivered":
        out.print(f"[green]delivered[/] {row.message_id} to {escape(to)}; signed receipt kept")
    elif status == "pending":
        out.print(
            f"[yellow]queued[/] {row.message_id} for {escape(to)}: {escape(detail)}\n"
            "  it stays in the outbox; 'rogatory serve' keeps retrying, or run: rogatory message deliver"
        )
    else:
        out.print(f"[red]{status}[/] {row.message_id}: {escape(detail)}")
    if status in ("refused", "expired"):
        raise typer.Exit(1)


@message_app.command("deliver", epilog="Example: rogatory message deliver --all")
def message_deliver(
    all_: Annotated[
        bool, typer.Option("--all", help="Try every pending message now, not only those due.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Deliver the outbox's due messages now (what 'rogatory serve' does every second)."""
    from rogatory.exchange.outbox import deliver_due

    results = deliver_due(open_federation_node(), include_waiting=all_)
    if json_out:
        emit_json([r.__dict__ for r in results])
        return
    if not results:
        out.print("nothing due in the outbox")
    for r in results:
        colour = {"delivered": "green", "pending": "yellow"}.get(r.status, "red")
        out.print(
            f"[{colour}]{r.status}[/] {r.message_id} → {escape(r.recipient)}: {escape(r.detail)}"
        )


@message_app.command("list", epilog="Example: rogatory message list --outbox")
def message_list(
    outbox_only: Annotated[bool, typer.Option("--outbox", help="Only sent messages.")] = False,
    inbox_only: Annotated[bool, typer.Option("--inbox", help="Only received messages.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """List received (inbox) and sent (outbox) messages."""
    from rogatory.exchange.inbox import inbox
    from rogatory.exchange.outbox import outbox

    node = open_federation_node(signing=False)
    rows: list[dict[str, Any]] = []
    if not outbox_only:
        rows += [
            {
                "box": "inbox",
                "message_id": r.message_id,
                "peer": r.sender,
                "type": r.type,
                "handling": r.handling,
                "time": r.received_at.isoformat(),
                "status": "received",
            }
            for r in inbox(node)
        ]
    if not inbox_only:
        rows += [
            {
                "box": "outbox",
                "message_id": r.message_id,
                "peer": r.recipient,
                "type": r.type,
                "handling": r.handling,
                "time": r.created_at.isoformat(),
                "status": r.status,
                "attempts": r.attempts,
                "last_error": r.last_error,
            }
            for r in outbox(node)
        ]
    if json_out:
        emit_json(rows)
        return
    if not rows:
        out.print("no messages")
        return
    t = table("box", "message id", "peer", "type", "handling", "time (UTC)", "status")
    for r in rows:
        t.add_row(
            r["box"],
            r["message_id"],
            r["peer"],
            r["type"],
            r["handling"],
            r["time"][:19],
            r["status"],
        )
    out.print(t)


@message_app.command("show", epilog="Example: rogatory message show 3f2c…")
def message_show(
    message_id: Annotated[str, typer.Argument(help="The message id.")],
    json_out: JsonOpt = False,
) -> None:
    """Show a message as signed (what the sender signed) and its receipt."""
    from rogatory.errors import NotFoundError
    from rogatory.exchange.inbox import inbox
    from rogatory.exchange.outbox import outbox
    from rogatory.exchange.trust import get_peer
    from rogatory.package.card import message_verifiers

    node = open_federation_node(signing=False)
    found: dict[str, Any] | None = None
    for r in inbox(node):
        if r.message_id == message_id:
            peer = get_peer(node.db, r.sender)
            payload = _verified(r.signed, message_verifiers(peer.card))
            found = {"box": "inbox", "message": payload, "signed": r.signed, "receipt": r.receipt}
    for o in outbox(node):
        if o.message_id == message_id:
            found = {
                "box": "outbox",
                "message": _payload(o.signed),
                "status": o.status,
                "signed": o.signed,
                "receipt": o.receipt,
                "last_error": o.last_error,
            }
    if found is None:
        raise NotFoundError(f"no message {message_id}", "see rogatory message list")
    if json_out:
        emit_json(found)
        return
    m = found["message"]
    out.print(
        f"[bold]{m['type']}[/] {m['id']} from {m['sender']} to {m['recipient']} ({found['box']})"
    )
    out.print(f"  handling {m['handling']} — {HandlingCode(m['handling']).meaning}")
    out.print(f"  created {m['created_at']}, expires {m['expires_at']}")
    out.print(json.dumps(m["body"], indent=2, ensure_ascii=False), markup=False)
    if found.get("receipt"):
        out.print("  [green]signed receipt held[/]")


def _payload(signed: str) -> dict[str, Any]:
    """The payload of a JWS this node signed itself (shown, not re-verified)."""
    from joserfc.util import urlsafe_b64decode

    return json.loads(urlsafe_b64decode(signed.split(".")[1].encode()))  # type: ignore[no-any-return]


def _verified(signed: str, keys: Any) -> dict[str, Any]:
    """The payload of a peer's JWS, verified with its current or a retired message key."""
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from rogatory.errors import MessageRefusedError
    from rogatory.exchange.envelope import read_signed

    for k in keys:
        try:
            return read_signed(signed, ed25519.Ed25519PublicKey.from_public_bytes(k.public))
        except MessageRefusedError:
            continue
    raise UsageError(
        "the stored message no longer verifies with the sender's keys",
        "the database may have been altered; compare with a backup",
    )


@message_app.command("replay", epilog="Example: rogatory message replay 3f2c…")
def message_replay(
    message_id: Annotated[str, typer.Argument(help="A delivered message's id.")],
    json_out: JsonOpt = False,
) -> None:
    """Send a delivered message's exact bytes again, to check that the peer processes it only once.

    Exit status 0 when the peer recognised the replay (HTTP 409 with the original
    receipt, or a refusal naming the replay check); 1 if it accepted it as new.
    """
    from rogatory.errors import NotFoundError
    from rogatory.exchange.client import PeerClient
    from rogatory.exchange.trust import get_peer
    from rogatory.store.schema import OutboxRow

    node = open_federation_node(signing=False)
    with node.db.session() as s:
        row = s.get(OutboxRow, message_id)
        if row is not None:
            s.expunge(row)
    if row is None:
        raise NotFoundError(
            f"no message {message_id} in the outbox", "see rogatory message list --outbox"
        )
    with PeerClient(node.home, node.passphrase, get_peer(node.db, row.recipient)) as client:
        resp = client.request(
            "POST",
            "/federation/messages",
            content=row.envelope,
            headers={"Content-Type": "application/octet-stream"},
        )
    same_receipt = resp.status_code == 409 and resp.text == (row.receipt or "")
    refused = resp.status_code == 409
    data = {
        "message_id": message_id,
        "peer": row.recipient,
        "http_status": resp.status_code,
        "refused_as_replay": refused,
        "same_receipt": same_receipt,
        "answer": resp.text[:300],
    }
    if json_out:
        emit_json(data)
    elif refused:
        out.print(
            f"[green]{escape(row.recipient)} refused the replay[/] (HTTP 409): processed once"
            + ("; it returned the original signed receipt" if same_receipt else "")
        )
    else:
        out.print(
            f"[red]{escape(row.recipient)} answered {resp.status_code}[/]: {escape(resp.text[:300])}"
        )
    if not refused:
        raise typer.Exit(1)


def node_set_url(
    url: Annotated[
        str,
        typer.Argument(
            help="The HTTPS base URL partners use, e.g. https://rogatory.politie.nl:8470"
        ),
    ],
    listen: Annotated[
        str | None,
        typer.Option(
            "--listen", help="host:port that 'rogatory serve' listens on (default: from the URL)."
        ),
    ] = None,
) -> None:
    """Set the URL published in this node's card (and where 'serve' listens); send partners the new card."""
    from urllib.parse import urlsplit

    home = open_home()
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or parts.path not in ("", "/"):
        raise UsageError(f"{url!r} is not an https://host:port URL", "e.g. https://127.0.0.1:8470")
    port = parts.port or 443
    home.config.url = f"https://{parts.netloc}"
    local = parts.hostname in ("127.0.0.1", "localhost", "::1")
    all_interfaces = "0.0.0.0"  # noqa: S104 - a node partners reach from abroad listens on all addresses
    home.config.listen = listen or f"{parts.hostname if local else all_interfaces}:{port}"
    home.save_config()
    out.print(f"URL {home.config.url}; 'rogatory serve' listens on {home.config.listen}")
    out.print(with_home("Next: rogatory node card --out card.json, and send it to your partners"))


def node_rotate_key(json_out: JsonOpt = False) -> None:
    """Replace the message key; the next card is signed by the old key too, so partners accept it without a new phone call."""
    from rogatory.node.keys import KeyPurpose, rotate_signing_key

    home = open_home()
    retired = rotate_signing_key(home.keys_dir, KeyPurpose.MESSAGE, passphrase_for(home))
    if json_out:
        emit_json({"retired_key_file": str(retired)})
        return
    out.print(
        f"new message key; the old one is kept as {retired.name} (old signatures stay verifiable)"
    )
    out.print(
        with_home("Next: rogatory node card --out card.json, and send it to your partners:")
        + " rogatory peer add CARD on their side"
    )
