"""``rogatory case …``."""

from __future__ import annotations

from typing import Annotated

import typer

from rogatory.cli.common import JsonOpt, emit_json, open_database, open_home, out, table, with_home

case_app = typer.Typer(help="Open, list and show cases.", no_args_is_help=True)


@case_app.command(
    "open",
    epilog="Example: rogatory case open --reference NL-2026-0042 --title 'Ransomware at a hospital' --offence BC-4 --offence BC-5 --tlp AMBER",
)
def case_open(
    reference: Annotated[
        str, typer.Option("--reference", help="Case reference number, e.g. NL-2026-0042.")
    ],
    title: Annotated[str, typer.Option("--title", help="What the case is about.")],
    offence: Annotated[
        list[str] | None,
        typer.Option(
            "--offence", help="Budapest Convention offence category BC-2 … BC-11 (repeatable)."
        ),
    ] = None,
    tlp: Annotated[
        str,
        typer.Option(
            "--tlp", help="TLP 2.0 handling code: CLEAR, GREEN, AMBER, AMBER+STRICT, RED."
        ),
    ] = "AMBER",
    json_out: JsonOpt = False,
) -> None:
    """Open a new case."""
    from rogatory.cases import open_case

    db = open_database(open_home())
    with db.session() as s:
        view = open_case(s, reference, title, offence or [], tlp)
    if json_out:
        emit_json(view.as_dict())
        return
    out.print(f"Case [bold]{view.reference}[/] opened (TLP:{view.handling_code}).")
    out.print(
        with_home(f"Next: rogatory evidence add {view.reference} PATH --acquired-by … (see --help)")
    )


@case_app.command("list", epilog="Example: rogatory case list --json")
def case_list(json_out: JsonOpt = False) -> None:
    """List cases, newest first."""
    from rogatory.cases import list_cases

    db = open_database(open_home())
    with db.session() as s:
        views = list_cases(s)
    if json_out:
        emit_json([v.as_dict() for v in views])
        return
    if not views:
        out.print("No cases yet. Open one with: rogatory case open --reference REF --title TEXT")
        return
    t = table("reference", "title", "offences", "TLP", "status", "items", "created (UTC)")
    for v in views:
        t.add_row(
            v.reference,
            v.title,
            " ".join(v.offences),
            v.handling_code,
            v.status,
            str(v.evidence_items),
            v.created_at[:19],
        )
    out.print(t)


@case_app.command("show", epilog="Example: rogatory case show NL-2026-0042")
def case_show(
    reference: Annotated[str, typer.Argument(help="Case reference.")], json_out: JsonOpt = False
) -> None:
    """Show one case."""
    from rogatory.cases import offence_categories, show_case

    db = open_database(open_home())
    with db.session() as s:
        v = show_case(s, reference)
    if json_out:
        emit_json(v.as_dict())
        return
    cats = offence_categories()
    out.print(f"[bold]{v.reference}[/] — {v.title}")
    out.print(f"  handling code  TLP:{v.handling_code}")
    out.print(f"  status         {v.status}")
    for code in v.offences:
        out.print(
            f"  offence        {code}: {cats[code].title} (Budapest Convention {cats[code].article})"
        )
    out.print(f"  evidence items {v.evidence_items}")
    out.print(f"  created        {v.created_at}")
    out.print(f"  updated        {v.updated_at}")
