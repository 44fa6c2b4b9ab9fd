"""``rogatory witness …`` and ``rogatory serve``."""

from __future__ import annotations

from typing import Annotated, Any

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
)
from rogatory.errors import UsageError

witness_app = typer.Typer(
    help="Witnesses: who cosigns this log, and whose logs this node cosigns.", no_args_is_help=True
)


@witness_app.command(
    "add",
    epilog="Example: rogatory witness add br.policia-federal --url http://127.0.0.1:8471/witness --vkey 'rogatory/br.policia-federal/witness+1a2b3c4d+BA…'",
)
def witness_add(
    name: Annotated[
        str,
        typer.Argument(
            help="A short name for the witness (no spaces), e.g. the partner's node id."
        ),
    ],
    url: Annotated[str, typer.Option("--url", help="The witness's submission prefix (…/witness).")],
    vkey: Annotated[
        str,
        typer.Option("--vkey", help="The witness's cosigner vkey, from its 'rogatory node show'."),
    ],
    json_out: JsonOpt = False,
) -> None:
    """Ask a partner's witness to cosign this node's checkpoints."""
    from rogatory.custody.witnessing import add_witness

    db = open_database(open_home())
    add_witness(db, name, vkey, url)
    if json_out:
        emit_json({"witness": name, "url": url, "vkey": vkey})
        return
    out.print(f"witness {escape(name)} added; next: rogatory log checkpoint")


@witness_app.command(
    "trust",
    epilog="Example: rogatory witness trust rogatory/nl.police-cybercrime/custody --vkey 'rogatory/nl.police-cybercrime/custody+0a1b2c3d+AV…'",
)
def witness_trust(
    origin: Annotated[str, typer.Argument(help="The partner log's origin.")],
    vkey: Annotated[
        list[str],
        typer.Option("--vkey", help="The partner log's vkey (repeatable for key history)."),
    ],
    json_out: JsonOpt = False,
) -> None:
    """Cosign a partner's log: accept its checkpoints signed by these keys."""
    from rogatory.custody.witnessing import trust_log

    db = open_database(open_home())
    trust_log(db, origin, vkey)
    if json_out:
        emit_json({"witnessed_log": origin, "vkeys": vkey})
        return
    out.print(f"this node now witnesses {escape(origin)}")


@witness_app.command("list", epilog="Example: rogatory witness list --json")
def witness_list(json_out: JsonOpt = False) -> None:
    """List this log's witnesses and the partner logs this node witnesses."""
    from rogatory.custody.witnessing import forks
    from rogatory.store.schema import WitnessedLogRow, WitnessRow

    db = open_database(open_home())
    with db.session() as s:
        mine = [
            {"name": w.name, "url": w.url, "vkey": w.vkey}
            for w in s.query(WitnessRow).order_by(WitnessRow.name)
        ]
        theirs: list[dict[str, Any]] = [
            {
                "origin": r.origin,
                "size": r.size,
                "updated_at": r.updated_at.isoformat(),
                "vkeys": r.vkeys,
            }
            for r in s.query(WitnessedLogRow).order_by(WitnessedLogRow.origin)
        ]
    fork_rows: list[dict[str, Any]] = [
        {"origin": f.origin, "detail": f.detail, "detected_at": f.detected_at.isoformat()}
        for f in forks(db)
    ]
    if json_out:
        emit_json({"witnesses": mine, "witnessed_logs": theirs, "forks": fork_rows})
        return
    t = table("witness of this log", "url", "vkey")
    for w in mine:
        t.add_row(w["name"], w["url"], w["vkey"])
    out.print(t)
    t2 = table("partner log witnessed", "cosigned size", "updated (UTC)")
    for r in theirs:
        t2.add_row(r["origin"], str(r["size"]), r["updated_at"][:19])
    out.print(t2)
    for f in fork_rows:
        out.print(
            f"[bold red]FORK DETECTED[/] {escape(f['origin'])} at {f['detected_at']}: {escape(f['detail'])}"
        )


def serve(
    host: Annotated[
        str | None,
        typer.Option("--host", help="Address to listen on (default from config: server.listen)."),
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="TCP port (default from config).")
    ] = None,
    checkpoint_interval: Annotated[
        float | None,
        typer.Option(
            "--checkpoint-interval",
            help="Seconds between checkpoints when the log grew (default from config; 0 = off).",
        ),
    ] = None,
    insecure_http: Annotated[
        bool,
        typer.Option(
            "--insecure-http",
            help="Plain HTTP, witness endpoints only, no federation (tests and labs; never between agencies).",
        ),
    ] = False,
) -> None:
    """Run the node's HTTPS API with mutual TLS: federation (messages, transfers), witness, checkpoint clock, outbox delivery."""
    import socket

    import uvicorn

    from rogatory.custody.witnessing import WitnessService
    from rogatory.exchange.client import witness_client_for
    from rogatory.exchange.node import FederationNode
    from rogatory.exchange.tls import server_context
    from rogatory.exchange.trust import list_peers, peer_problem
    from rogatory.node.keys import KeyPurpose, load_signing_key
    from rogatory.server.app import create_app
    from rogatory.server.federation import TrustStore, peer_cert_http_protocol

    home = open_home()
    db = open_database(home)
    log = open_custody_log(home, db)
    passphrase = passphrase_for(home)
    witness = WitnessService(
        db,
        home.config.identity.node_id,
        load_signing_key(home.keys_dir, KeyPurpose.WITNESS, passphrase),
    )
    interval = (
        home.config.checkpoint_interval if checkpoint_interval is None else checkpoint_interval
    )
    default_host, _, default_port = home.config.listen.rpartition(":")
    host = host or default_host or "127.0.0.1"
    port = port if port is not None else int(default_port or 8470)
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise UsageError(
                f"cannot listen on {host}:{port}: {exc.strerror}",
                "this node may already be serving (partners expect the port in its card), or another "
                "program uses the port: stop it, or pass --port and publish the new URL with 'rogatory node set-url'",
            ) from None
    node_id = home.config.identity.node_id
    if insecure_http:
        err.print(
            "[yellow]warning:[/] plain HTTP without client authentication: witness endpoints only"
        )
        out.print(
            f"serving {node_id} on http://{host}:{port} (witness at /witness, checkpoint clock {interval}s)"
        )
        uvicorn.run(create_app(log, witness, interval), host=host, port=port, log_level="warning")
        return
    node = FederationNode(home, db, log, passphrase)
    peers = [p for p in list_peers(db) if not peer_problem(p)]
    ctx = server_context(home, passphrase, [p.card["keys"]["tls_certificate"] for p in peers])
    store = TrustStore(ctx, node, {p.tls_sha256 for p in peers})
    app = create_app(
        log,
        witness,
        interval,
        node=node,
        trust_store=store,
        client_for=witness_client_for(home, passphrase, db),
    )
    url = f"https://{host}:{port}"
    out.print(
        f"serving {node_id} on {url} (mutual TLS; {len(peers)} peer(s); federation at /federation, "
        f"witness at /witness, checkpoint clock {interval}s, outbox delivery every 1s)"
    )
    if home.config.url != url:
        err.print(
            f"note: this node's card publishes URL {home.config.url or '(none)'}; if partners should use {url}, "
            f"run: rogatory node set-url {url}  and send them the new card"
        )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=peer_cert_http_protocol(),
        loop="uvloop" if _has_uvloop() else "asyncio",
        ssl_context_factory=lambda _config, _default: ctx,
        log_level="warning",
        timeout_keep_alive=30,
    )
    uvicorn.Server(config).run()


def _has_uvloop() -> bool:
    """Whether the uvloop event loop (libuv, TLS in C) is installed."""
    import importlib.util

    return importlib.util.find_spec("uvloop") is not None
