"""``rogatory init`` and ``rogatory node …``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from rogatory.cli.common import (
    JsonOpt,
    emit_json,
    err,
    open_home,
    out,
    settings,
)
from rogatory.errors import UsageError
from rogatory.node.identity import ROLES

node_app = typer.Typer(
    help="This node: identity and keys, its signed card, URL and message-key rotation.",
    no_args_is_help=True,
)


def _ask(value: str | None, option: str, prompt: str) -> str:
    if value:
        return value
    if not sys.stdin.isatty():
        raise UsageError(f"missing {option}", f"give {option} (no terminal to ask on)")
    return str(typer.prompt(prompt))


def init(
    node_id: Annotated[
        str | None,
        typer.Option("--node-id", help="Node id <cc>.<name>, e.g. nl.police-cybercrime."),
    ] = None,
    country: Annotated[
        str | None, typer.Option("--country", help="ISO 3166-1 alpha-2 country code, e.g. NL.")
    ] = None,
    agency: Annotated[str | None, typer.Option("--agency", help="The agency's name.")] = None,
    role: Annotated[
        list[str] | None, typer.Option("--role", help=f"Role (repeatable): {', '.join(ROLES)}.")
    ] = None,
    protect: Annotated[
        bool,
        typer.Option(
            "--protect",
            help="Protect the keys with a passphrase (asked for, or from ROGATORY_PASSPHRASE[_FILE]).",
        ),
    ] = False,
    database_url: Annotated[
        str,
        typer.Option(
            "--database-url",
            help="SQLAlchemy URL instead of the embedded SQLite, e.g. postgresql://127.0.0.1/rogatory.",
        ),
    ] = "",
    home_opt: Annotated[
        Path | None,
        typer.Option(
            "--home", help="Node home (default: global --home, $ROGATORY_HOME, ~/.rogatory)."
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Create this node's home: config, identity and one key per purpose.

    Asks for anything not given when run on a terminal. Running it again
    completes a partial home and never overwrites existing keys.
    """
    from rogatory.custody.log import CustodyLog
    from rogatory.node.home import CONFIG_NAME, NodeHome, read_passphrase
    from rogatory.node.identity import NodeIdentity
    from rogatory.node.keys import KeyPurpose, load_signing_key
    from rogatory.store.database import Database

    if home_opt is not None:
        settings.home = home_opt
    existing = settings.home_path() / CONFIG_NAME
    if existing.exists():
        current = NodeHome.open(settings.home_path()).config
        ident = current.identity
        for option, given, have in (
            ("--node-id", node_id, ident.node_id),
            ("--country", country and country.upper(), ident.country),
            ("--agency", agency, ident.agency),
        ):
            if given is not None and given != have:
                raise UsageError(
                    f"this home already holds node {ident.node_id!r} with {option} {have!r}",
                    f"edit {existing} to change it, or choose another --home",
                )
        node_id, country, agency = ident.node_id, ident.country, ident.agency
        role = role or ident.roles
        protect = protect or current.protected
    node_id = _ask(node_id, "--node-id", "Node id (e.g. nl.police-cybercrime)")
    country = _ask(country, "--country", "Country (ISO 3166-1 alpha-2, e.g. NL)")
    agency = _ask(agency, "--agency", "Agency name")
    identity = NodeIdentity.create(node_id, country, agency, role or ["police"])
    passphrase = read_passphrase(settings.passphrase_file)
    if protect and passphrase is None:
        if not sys.stdin.isatty():
            raise UsageError(
                "--protect needs a passphrase",
                "set ROGATORY_PASSPHRASE_FILE or ROGATORY_PASSPHRASE",
            )
        passphrase = typer.prompt(
            "Passphrase for the node's keys", hide_input=True, confirmation_prompt=True
        ).encode()
    if not protect:
        passphrase = None
    home, created, new_config = NodeHome.initialise(
        settings.home_path(), identity, passphrase, database_url
    )
    db = Database(home.database_url)
    # the log key enters the key history now, so the node's card and policy name it from the start
    CustodyLog(
        db, identity.node_id, load_signing_key(home.keys_dir, KeyPurpose.LOG, passphrase), home.path
    ).ensure_key_registered()
    db.close()
    result = {
        "home": str(home.path),
        "node_id": home.config.identity.node_id,
        "created_config": new_config,
        "created_keys": [str(p) for p in created],
        "protected": home.config.protected,
        "database": home.database_url
        if "@" not in home.database_url
        else "(from ROGATORY_DATABASE_URL)",
    }
    if json_out:
        emit_json(result)
        return
    if new_config:
        out.print(f"Node [bold]{identity.node_id}[/] created in {home.path}")
    else:
        out.print(
            f"Node [bold]{home.config.identity.node_id}[/] already exists in {home.path}; existing keys kept"
        )
    if created:
        out.print("New keys: " + ", ".join(str(p) for p in created))
    if home.config.protected:
        err.print(
            "Keys are passphrase-protected. For unattended use set ROGATORY_PASSPHRASE_FILE to a 0600 file."
        )
    out.print(
        "Next: rogatory "
        + (f"--home {home.path} " if home_opt is not None or settings.home is not None else "")
        + "node show"
    )


@node_app.command("show", epilog="Example: rogatory node show --json")
def node_show(json_out: JsonOpt = False) -> None:
    """Print the node's identity and the public half of every key."""
    from rogatory.custody.log import origin_for
    from rogatory.custody.note import ALG_COSIGNATURE_V1, ALG_ED25519, format_vkey
    from rogatory.custody.witnessing import witness_name
    from rogatory.node.keys import KeyPurpose, public_key_bytes, public_keys

    home = open_home()
    keys = public_keys(home.keys_dir)
    ident = home.config.identity
    data: dict[str, Any] = {
        "node_id": ident.node_id,
        "country": ident.country,
        "agency": ident.agency,
        "roles": ident.roles,
        "created_at": home.config.created_at.isoformat(),
        "home": str(home.path),
        "protected": home.config.protected,
        "intake_algorithms": home.config.algorithms,
        "custody_log": {
            "origin": origin_for(ident.node_id),
            "vkey": format_vkey(
                origin_for(ident.node_id),
                ALG_ED25519,
                public_key_bytes(home.keys_dir, KeyPurpose.LOG),
            ),
        },
        "witness": {
            "name": witness_name(ident.node_id),
            "vkey": format_vkey(
                witness_name(ident.node_id),
                ALG_COSIGNATURE_V1,
                public_key_bytes(home.keys_dir, KeyPurpose.WITNESS),
            ),
        },
        "keys": [
            {
                "purpose": str(k.purpose),
                "algorithm": k.algorithm,
                "public": k.public,
                "fingerprint": k.fingerprint,
            }
            for k in keys
        ],
    }
    if json_out:
        emit_json(data)
        return
    out.print(
        f"[bold]{ident.node_id}[/] — {ident.agency} ({ident.country}); roles: {', '.join(ident.roles)}"
    )
    out.print(
        f"home {home.path}; created {data['created_at']}; keys {'passphrase-protected' if home.config.protected else 'not protected'}"
    )
    for k in keys:
        out.print(f"[bold]{k.purpose}[/] key ({k.algorithm})")
        out.print(f"  public       {k.public}", soft_wrap=True)
        out.print(f"  fingerprint  {k.fingerprint}", soft_wrap=True)
    out.print(f"custody log origin  {data['custody_log']['origin']}", soft_wrap=True)
    out.print(f"custody log vkey    {data['custody_log']['vkey']}", soft_wrap=True)
    out.print(f"witness name        {data['witness']['name']}", soft_wrap=True)
    out.print(f"witness vkey        {data['witness']['vkey']}", soft_wrap=True)
