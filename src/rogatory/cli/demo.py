"""``rogatory demo``: the main job on the embedded defaults, narrated step by step.

This first cut runs one node (a Dutch police cybercrime unit): it creates the
node, opens a ransomware case, takes in the example evidence that ships with
Rogatory (or ``--evidence PATH``), shows the acquisition and EWF media hash,
re-verifies every stored byte, writes a ``sha256sum -c`` manifest and checks it
with coreutils when present. Every step asserts its outcome; the exit status
is non-zero if any step failed. The federation, custody-log and package steps
join it as those parts land (see docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.panel import Panel

from rogatory.cases.service import open_case
from rogatory.cli.common import (
    ProgressBar,
    emit_json,
    err,
    human_size,
    open_custody_log,
    out,
    table,
)
from rogatory.custody.audit import verify_log
from rogatory.custody.disclosure import write_proofs
from rogatory.custody.history import subject_history
from rogatory.errors import ConflictError, RogatoryError, UsageError
from rogatory.evidence.acquisition import Acquisition
from rogatory.evidence.blobstore import BlobStore
from rogatory.evidence.intake import IntakeOptions, take_in
from rogatory.evidence.records import checksum_manifest, item_detail, list_items, verify_items
from rogatory.node.home import NodeHome
from rogatory.node.identity import NodeIdentity
from rogatory.store.database import Database

CASE_REF = "NL-2026-RANSOM-0042"
STEPS = 8
_SKIP = {"README.md", "manifest.json", "__init__.py"}


def example_files() -> list[Path]:
    """The example evidence shipped in ``rogatory/examples`` (made by the project; fictional)."""
    root = Path(str(resources.files("rogatory.examples")))
    return sorted(
        p
        for p in root.iterdir()
        if p.is_file() and p.name not in _SKIP and not p.name.startswith(".")
    )


class _Steps:
    def __init__(self) -> None:
        self.results: list[tuple[str, bool, str]] = []

    def run(self, title: str, why: str, fn: Callable[[], str]) -> bool:
        out.print(Panel(f"[bold]{title}[/]\n[dim]{why}[/]", expand=False))
        try:
            detail = fn()
        except (RogatoryError, AssertionError, OSError) as exc:
            msg = exc.one_line() if isinstance(exc, RogatoryError) else str(exc)
            out.print(f"[bold red]✗ failed:[/] {msg}")
            self.results.append((title, False, msg))
            return False
        out.print(f"[green]✓[/] {detail}")
        self.results.append((title, True, detail))
        return True


def demo(
    directory: Annotated[
        Path, typer.Option("--dir", help="Demo folder (node home, artefacts).")
    ] = Path("rogatory-demo"),
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Delete an existing demo folder first.")
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the step results as JSON on stdout at the end.")
    ] = False,
    evidence: Annotated[
        list[Path] | None,
        typer.Option(
            "--evidence",
            help="Use these files/folders instead of the shipped examples (repeatable).",
        ),
    ] = None,
) -> None:
    """Run the main job end to end on this machine and explain each step."""
    if json_out:
        out.file = sys.stderr  # the narrative goes to stderr; stdout carries only the JSON
    try:
        _run_demo(directory, fresh, json_out, evidence)
    finally:
        out.file = None  # type: ignore[assignment]  # back to following sys.stdout


def _run_demo(directory: Path, fresh: bool, json_out: bool, evidence: list[Path] | None) -> None:
    directory = directory.resolve()
    if directory.exists() and fresh:
        shutil.rmtree(directory)
    home_path = directory / "nl.police-cybercrime"
    if directory.exists() and any(directory.iterdir()) and not (home_path / "config.toml").exists():
        raise UsageError(
            f"{directory} exists and is not a Rogatory demo folder",
            "choose another --dir, or pass --fresh to replace it",
        )
    reuse = (home_path / "config.toml").exists()
    sources = evidence or example_files()
    for p in sources:
        if not p.exists():
            raise UsageError(f"--evidence {p} does not exist", "give existing files or folders")
    out.print(
        f"[bold]Rogatory demo[/] in {directory}"
        + (" (reusing the existing demo; --fresh to start over)" if reuse else "")
    )
    steps = _Steps()
    state: dict[str, object] = {}

    def make_node() -> str:
        identity = NodeIdentity.create(
            "nl.police-cybercrime", "NL", "Politie — Team High Tech Crime (fictional)", ["police"]
        )
        home, created, _ = NodeHome.initialise(home_path, identity, None)
        state["home"] = home
        state["db"] = Database(home.database_url)
        return f"node {identity.node_id} with {len(created) or 'its existing'} keys, SQLite store in {home.path}"

    def make_case() -> str:
        db: Database = state["db"]  # type: ignore[assignment]
        try:
            with db.session() as s:
                open_case(
                    s,
                    CASE_REF,
                    "Ransomware attack on a regional hospital (fictional)",
                    ["BC-2", "BC-4", "BC-5"],
                    "AMBER",
                )
            return f"case {CASE_REF} opened: Budapest Arts. 2, 4, 5; TLP:AMBER"
        except ConflictError:
            return f"case {CASE_REF} already open (reused)"

    def intake() -> str:
        home: NodeHome = state["home"]  # type: ignore[assignment]
        db: Database = state["db"]  # type: ignore[assignment]
        acq = Acquisition.create(
            acquired_by="Insp. J. de Vries, Politie Team High Tech Crime (fictional)",
            acquired_at=None,
            location="Regional hospital server room, Rotterdam (fictional)",
            source_device="File server FS01 and its system disk (fictional)",
            method="logical",
            tool=f"rogatory {__import__('rogatory').__version__}",
            notes="Demo intake of the example files shipped with Rogatory.",
        )
        with ProgressBar("hashing", enabled=True) as bar:
            outcomes = take_in(
                db,
                home.blob_dir,
                CASE_REF,
                sources,
                acq,
                IntakeOptions(home.config.algorithms),
                bar,
                open_custody_log(home, db),
            )
        failed = [o for o in outcomes if o.status == "failed"]
        assert not failed, "; ".join(f"{o.source}: {o.error}" for o in failed)
        t = table("item", "status", "kind", "size", "sha256")
        for o in outcomes:
            t.add_row(
                o.item or "",
                o.status,
                o.kind,
                human_size(o.size),
                o.digests.get("sha256", "")[:24] + "…",
            )
        out.print(t)
        return f"{len(outcomes)} items recorded with SHA-256, SHA-1 and MD5 from one read each"

    def ewf_check() -> str:
        db: Database = state["db"]  # type: ignore[assignment]
        with db.session() as s:
            images = [item_detail(r, 0) for r in list_items(s, CASE_REF) if r.kind == "ewf"]
        if not images:
            return "no EWF image among the evidence (nothing to check)"
        for d in images:
            e = d["ewf"]
            assert e["media_verified"] is True, (
                f"{d['item']}: stored media hash does not match a re-read"
            )
            out.print(
                f"  {d['item']} {d['label']}: stored media MD5 {e['stored_hashes'].get('md5')} = re-read; examiner {e['header'].get('examiner_name')!r}, case {e['header'].get('case_number')!r}"
            )
        return (
            f"{len(images)} EWF image(s): the media hash stored at acquisition matches a fresh read"
        )

    def reverify() -> str:
        home: NodeHome = state["home"]  # type: ignore[assignment]
        db: Database = state["db"]  # type: ignore[assignment]
        with db.session() as s:
            report = verify_items(s, list_items(s, CASE_REF), BlobStore(home.blob_dir))
        assert report.ok, "; ".join(f"{f.item} {f.path}: {f.detail}" for f in report.findings)
        return (
            f"{report.files} stored files, {human_size(report.bytes)} re-read: every digest matches"
        )

    def manifest() -> str:
        home: NodeHome = state["home"]  # type: ignore[assignment]
        db: Database = state["db"]  # type: ignore[assignment]
        with db.session() as s:
            text = checksum_manifest(
                list_items(s, CASE_REF), BlobStore(home.blob_dir), "sha256", "store"
            )
        path = directory / f"{CASE_REF}.sha256"
        path.write_text(text, encoding="utf-8")
        if shutil.which("sha256sum"):
            res = subprocess.run(
                ["sha256sum", "--check", "--quiet", str(path)],
                capture_output=True,
                text=True,
                check=False,
            )
            assert res.returncode == 0, f"sha256sum -c failed: {res.stdout}{res.stderr}"
            return f"{path} written; GNU sha256sum -c confirms all {text.count(chr(10))} files independently"
        return f"{path} written ({text.count(chr(10))} files); sha256sum not installed, so not cross-checked"

    def custody() -> str:
        home: NodeHome = state["home"]  # type: ignore[assignment]
        db: Database = state["db"]  # type: ignore[assignment]
        log = open_custody_log(home, db)
        cp, _ = log.publish_checkpoint()
        report = verify_log(log)
        assert report.ok, "; ".join(report.problems)
        with db.session() as s:
            first = list_items(s, CASE_REF)[0]
            sha, label = first.sha256, item_detail(first, 0)["item"]
        chain = subject_history(log, f"evidence:{sha}", home.config.quorum)
        assert chain and all(c.ok for c in chain), (
            "a custody event of the first item failed its checks"
        )
        for c in chain:
            ev = c.event or {}
            out.print(
                f"  {label} #{c.index} {ev.get('time')} {ev.get('type')} — {', '.join(f'{k} ok' for k in c.checks)}"
            )
        proofs = directory / "proofs"
        write_proofs(log, [c.index for c in chain], proofs, home.config.quorum)
        return (
            f"{report.entries} custody events, checkpoint of size {cp.checkpoint.size} signed; the whole log "
            f"recomputes; offline proofs for {label} in {proofs}"
        )

    def package_for_court() -> str:
        import pyrage

        from rogatory.node.keys import KeyPurpose, load_signing_key
        from rogatory.package.card import build_card, fingerprint, load_trust
        from rogatory.package.create import Recipient, create_package
        from rogatory.package.report import write_report
        from rogatory.package.verify import verify_package

        home: NodeHome = state["home"]  # type: ignore[assignment]
        db: Database = state["db"]  # type: ignore[assignment]
        log = open_custody_log(home, db)
        court = directory / "court"
        court.mkdir(exist_ok=True)
        court_id = pyrage.x25519.Identity.generate()
        (court / "court-age.key").write_text(str(court_id) + "\n")
        card = build_card(home, log)
        card_path = directory / "nl.police-cybercrime.card.json"
        card_path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
        with db.session() as s:
            items = [item_detail(r, 0)["item"] for r in list_items(s, CASE_REF)]
        package = directory / f"package-{len(list(directory.glob('package-*.rogpkg'))) + 1}.rogpkg"
        create_package(
            home,
            db,
            log,
            load_signing_key(home.keys_dir, KeyPurpose.MESSAGE, None),
            CASE_REF,
            items,
            Recipient(str(court_id.to_public()), "the court (demo)"),
            package,
        )
        trust = load_trust(card_path, fingerprint(card))
        result = verify_package(package, court_id, trust)
        html, pdf = write_report(result.report, court / "report")
        assert result.report.ok, "the court's offline verification failed"
        return f"{package.name}: {len(items)} items verified offline by the court; report {html} and {pdf}"

    ok = steps.run(
        "1. Create the node",
        "Each agency runs its own node with its own keys: nothing leaves it unless sent on purpose.",
        make_node,
    )
    ok = ok and steps.run(
        "2. Open the case",
        "A case groups evidence under a reference, offence categories and a TLP handling code.",
        make_case,
    )
    ok = ok and steps.run(
        "3. Take the evidence in",
        "One read per file gives the hashes a court will check; copies go to a read-only, content-addressed store.",
        intake,
    )
    ok = ok and steps.run(
        "4. Check EWF media hashes",
        "An E01 stores the hash of the acquired media; a fresh read proves the image still holds exactly that media.",
        ewf_check,
    )
    ok = ok and steps.run(
        "5. Re-verify the store",
        "Evidence is only as good as its integrity today: every stored byte is read again and compared.",
        reverify,
    )
    ok = ok and steps.run(
        "6. Export a checksum manifest",
        "Anyone can check the hashes with standard tools, without Rogatory.",
        manifest,
    )
    ok = ok and steps.run(
        "7. Seal the custody log",
        "Every acquisition and check is a signed custody event in a Merkle log; a signed checkpoint fixes it.",
        custody,
    )
    steps.run(
        "8. Package for a court and verify offline",
        "The court needs only the package, its own key and the sender's node card: no network, no trust in our server.",
        package_for_court,
    )

    if json_out:
        emit_json(
            {
                "dir": str(directory),
                "ok": all(p for _, p, _ in steps.results) and len(steps.results) == STEPS,
                "steps": [{"step": t, "passed": p, "detail": d} for t, p, d in steps.results],
            }
        )
    summary = table("step", "result", "detail")
    for title, passed, detail in steps.results:
        summary.add_row(title, "[green]pass[/]" if passed else "[bold red]FAIL[/]", detail)
    out.print(summary)
    out.print(
        f"Artefacts are in {directory}. Try: rogatory --home {home_path} evidence list {CASE_REF}"
    )
    if "db" in state:
        state["db"].close()  # type: ignore[attr-defined]
    if not all(p for _, p, _ in steps.results) or len(steps.results) < STEPS:
        err.print(
            "error: the demo failed at the step marked FAIL above — its message says what to do"
        )
        raise typer.Exit(1)
