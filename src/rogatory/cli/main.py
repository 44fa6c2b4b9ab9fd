"""The ``rogatory`` command. The one place where errors become messages and exit codes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from rogatory import __version__
from rogatory.cli.backup_cmds import backup, restore
from rogatory.cli.case_cmds import case_app
from rogatory.cli.common import emit_json, err, settings, with_home
from rogatory.cli.demo import demo
from rogatory.cli.evidence_cmds import evidence_app
from rogatory.cli.federation_cmds import message_app, node_rotate_key, node_set_url, peer_app
from rogatory.cli.log_cmds import log_app
from rogatory.cli.node_cmds import init, node_app
from rogatory.cli.package_cmds import node_card, package_app, verify
from rogatory.cli.witness_cmds import serve, witness_app
from rogatory.errors import RogatoryError

app = typer.Typer(
    name="rogatory",
    help="Rogatory: evidence, custody and legal assistance between cybercrime agencies.",
    epilog="Example: rogatory init --node-id nl.police-cybercrime --country NL --agency 'Politie Cybercrime'",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"rogatory {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    home: Annotated[
        Path | None,
        typer.Option("--home", envvar="ROGATORY_HOME", help="Node home (default ~/.rogatory)."),
    ] = None,
    passphrase_file: Annotated[
        Path | None,
        typer.Option("--passphrase-file", help="File holding the keys' passphrase (mode 0600)."),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Rogatory: evidence, custody and legal assistance between cybercrime agencies."""
    settings.home = home
    settings.passphrase_file = passphrase_file
    settings.debug = debug
    settings.quiet = quiet


app.command(
    "init",
    epilog="Example: rogatory init --node-id nl.police-cybercrime --country NL --agency 'Politie, Team High Tech Crime'",
)(init)
app.command("demo", epilog="Example: rogatory demo --dir ./rogatory-demo --fresh")(demo)
app.command("backup", epilog="Example: rogatory backup --out /backups/rogatory-2026-11-30.sqlite3")(
    backup
)
app.command(
    "restore", epilog="Example: rogatory restore /backups/rogatory-2026-11-30.sqlite3 --yes"
)(restore)
node_app.command("card", epilog="Example: rogatory node card --out nl.police-cybercrime.card.json")(
    node_card
)
node_app.command("set-url", epilog="Example: rogatory node set-url https://127.0.0.1:8470")(
    node_set_url
)
node_app.command("rotate-key", epilog="Example: rogatory node rotate-key")(node_rotate_key)
app.add_typer(node_app, name="node")
app.add_typer(case_app, name="case")
app.add_typer(evidence_app, name="evidence")
app.add_typer(log_app, name="log")
app.add_typer(package_app, name="package")
app.command(
    "verify",
    epilog="Example: rogatory verify nl-to-jp.rogpkg --identity court.key --trust nl.police-cybercrime.card.json --fingerprint 'AB12 …' --report report/",
)(verify)
app.add_typer(witness_app, name="witness")
app.add_typer(peer_app, name="peer")
app.add_typer(message_app, name="message")
app.command(
    "serve",
    epilog="Example: rogatory serve --port 8470 (unattended: export ROGATORY_PASSPHRASE_FILE=/run/secrets/rogatory first)",
)(serve)


INTERRUPTED = (
    "interrupted: nothing unfinished was recorded (no half-written item, package or event); "
    "run the same command again to finish"
)


def run() -> None:
    """Console entry point: exit 0 on success; one actionable line on stderr otherwise
    (and with ``--json``, unless the command already wrote its document, a JSON
    object ``{"ok": false, "error", "hint", "exit_code"}`` on stdout)."""
    settings.json_written = False
    try:
        result = app(standalone_mode=False)
        code = result if isinstance(result, int) else 0
        if code == 130:  # Typer turns Ctrl-C into Exit(130), returned when not standalone
            err.print(INTERRUPTED)
    except typer.Exit as exc:
        code = exc.exit_code
        if code == 130:
            err.print(INTERRUPTED)
    except RogatoryError as exc:
        if settings.debug:
            raise
        if exc.hint:
            exc.hint = with_home(exc.hint)
        err.print(f"error: {exc.one_line()}", markup=False, highlight=False, soft_wrap=True)
        code = exc.exit_code
        if "--json" in sys.argv[1:] and not settings.json_written:
            emit_json({"ok": False, "error": exc.message, "hint": exc.hint, "exit_code": code})
    except KeyboardInterrupt:
        err.print(INTERRUPTED)
        code = 130
    except Exception as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            code = 0  # the help text was printed
        elif _is_usage_error(exc):
            command = getattr(getattr(exc, "ctx", None), "command_path", None) or "rogatory"
            message = exc.format_message()  # type: ignore[attr-defined]
            err.print(
                f"error: {message} — see '{command} --help'",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
            code = int(getattr(exc, "exit_code", 2))
        elif type(exc).__name__ == "Abort":
            err.print("aborted")
            code = 130
        elif settings.debug:
            raise
        else:
            err.print(
                f"internal error: {type(exc).__name__}: {exc} — run again with --debug and report the traceback",
                markup=False,
                soft_wrap=True,
            )
            code = 70
    sys.exit(code)


def _is_usage_error(exc: BaseException) -> bool:
    """Click's (Typer's) own errors: bad options, missing arguments, unknown commands."""
    return hasattr(exc, "format_message") and any(
        c.__name__ == "ClickException" for c in type(exc).__mro__
    )


if __name__ == "__main__":
    run()
