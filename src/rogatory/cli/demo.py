"""``rogatory demo``: three agencies exchange real evidence end to end over the federation.

Three nodes run on this machine, each with its own home (SQLite store, keys,
TLS certificate) under the demo folder: a Dutch police cybercrime unit, a
Brazilian federal police unit and a Japanese central authority (fictional
agencies in real countries). Every step goes through the real command line and
the real mutual-TLS servers — the same commands a user types — and asserts its
outcome; the exit status is non-zero if any step failed.

Steps: create the nodes; exchange node cards with fingerprints confirmed both
ways; start the servers; open a ransomware case and take the evidence in; show
each item's custody chain with its checkpoint cosigned by both partners;
package the evidence for the Japanese central authority; send it with one
deliberate interruption and resume; Japan imports and verifies it (HTML/PDF
report); Japan re-issues it to a court; the court verifies it offline (and with
``age`` + ``sha256sum -c`` when ``age`` is installed); a tampered copy is
refused; a replayed message is refused; every node's log verifies and its latest
checkpoint carries both partners' cosignatures.

Later parts (legal requests, hit/no-hit matching, the web application) slot in
as further steps of :func:`_scenario`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.panel import Panel
from rich.table import Table

from rogatory import __version__
from rogatory.cli.common import emit_json, err, human_size, out, table
from rogatory.errors import RogatoryError, UsageError

CASE_REF = "NL-2026-RANSOM-0042"
STATE_FILE = "demo.json"
_SKIP = {"README.md", "manifest.json", "__init__.py"}
SERVER_START_TIMEOUT = 60.0
"""Seconds to wait for a node's server to accept connections."""
COMMAND_TIMEOUT = 900.0
"""Seconds one CLI step may take (large --evidence folders)."""


@dataclass(frozen=True)
class DemoAgency:
    """One of the demo's three (fictional) agencies."""

    node_id: str
    country: str
    agency: str
    role: str
    port: int


AGENCIES = (
    DemoAgency(
        "nl.police-cybercrime", "NL", "Politie — Team High Tech Crime (fictional)", "police", 8471
    ),
    DemoAgency(
        "br.policia-federal", "BR", "Polícia Federal — Cybercrime Unit (fictional)", "police", 8472
    ),
    DemoAgency(
        "jp.central-authority",
        "JP",
        "Ministry of Justice — International Affairs Division (fictional)",
        "central-authority",
        8473,
    ),
)
NL, BR, JP = (a.node_id for a in AGENCIES)


def example_files() -> list[Path]:
    """The example evidence shipped in ``rogatory/examples`` (made by the project; fictional)."""
    from importlib import resources

    root = Path(str(resources.files("rogatory.examples")))
    return sorted(
        p
        for p in root.iterdir()
        if p.is_file() and p.name not in _SKIP and not p.name.startswith(".")
    )


class StepFailedError(Exception):
    """A demo step's assertion failed; the message says what and what to do."""


def port_free(port: int) -> bool:
    """Whether 127.0.0.1:``port`` can be bound now."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def any_free_port() -> int:
    """A port the kernel says is free on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("ROGATORY_")}


@dataclass
class Scenario:
    """The demo's state: folder, ports, servers, artefacts and step results."""

    directory: Path
    evidence: list[Path]
    keep_running: bool
    kill_at: dict[int, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    servers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)
    artefacts: list[tuple[str, Path]] = field(default_factory=list)
    results: list[tuple[str, bool, str]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------ plumbing

    def home(self, node_id: str) -> Path:
        """The node's home folder."""
        return self.directory / node_id

    def card(self, node_id: str) -> Path:
        """The node's exported card."""
        return self.directory / "cards" / f"{node_id}.card.json"

    def rogatory(
        self,
        node_id: str | None,
        *args: str,
        expect: int | None = 0,
        timeout: float = COMMAND_TIMEOUT,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``rogatory [--home HOME] ARGS`` as a user would; check its exit status."""
        cmd = [sys.executable, "-m", "rogatory"]
        env = _clean_env()
        if node_id is not None:
            cmd += ["--home", str(self.home(node_id))]
        else:  # the court: no node at all
            env["ROGATORY_HOME"] = str(self.directory / "no-node")
        try:
            res = subprocess.run(
                [*cmd, *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
            )
        except subprocess.TimeoutExpired:
            raise StepFailedError(
                f"'rogatory {' '.join(args)}' took more than {timeout:.0f} s"
            ) from None
        if expect is not None and res.returncode != expect:
            lines = res.stderr.strip().splitlines() or res.stdout.strip().splitlines()
            last = lines[-1] if lines else "no output"
            raise StepFailedError(
                f"{node_id or 'court'}: 'rogatory {' '.join(args[:3])} …' exited {res.returncode}: {last}"
            )
        return res

    def json(self, node_id: str | None, *args: str) -> Any:
        """Run a command with ``--json`` and parse its output."""
        res = self.rogatory(node_id, *args, "--json")
        try:
            return json.loads(res.stdout)
        except ValueError:
            raise StepFailedError(f"'rogatory {' '.join(args)} --json' printed no JSON") from None

    def keep(self, label: str, path: Path) -> None:
        """Record an artefact to list at the end."""
        self.artefacts.append((label, path))

    def say(self, text: str) -> None:
        """One line of narrative under the current step."""
        out.print(f"  {text}", soft_wrap=True, highlight=False)

    def step(self, title: str, why: str, fn: Callable[[], str]) -> bool:
        """Run one step: narrate, run, record pass/fail."""
        number = len(self.results) + 1
        out.print(Panel(f"[bold]{number}. {title}[/]\n[dim]{why}[/]", expand=False))
        victim = self.kill_at.get(number)
        if victim is not None:
            self.kill(victim)
        try:
            detail = fn()
        except (
            StepFailedError,
            RogatoryError,
            OSError,
            AssertionError,
            KeyError,
            ValueError,
        ) as exc:
            msg = exc.one_line() if isinstance(exc, RogatoryError) else str(exc)
            out.print(f"[bold red]✗ failed:[/] {msg}", soft_wrap=True)
            self.results.append((title, False, msg))
            return False
        out.print(f"[green]✓[/] {detail}", soft_wrap=True)
        self.results.append((title, True, detail))
        return True

    # ------------------------------------------------------------ servers

    def choose_ports(self, saved: dict[str, int]) -> None:
        """The usual ports (or last run's), else free ones."""
        for a in AGENCIES:
            want = saved.get(a.node_id, a.port)
            if port_free(want):
                self.ports[a.node_id] = want
            else:
                got = any_free_port()
                while got in self.ports.values():
                    got = any_free_port()
                self.ports[a.node_id] = got
                self.say(f"port {want} is taken; {a.node_id} uses {got}")

    def own_certificate(self, node_id: str) -> bytes:
        """The node's TLS certificate (DER)."""
        import ssl

        return ssl.PEM_cert_to_DER_cert((self.home(node_id) / "keys" / "tls.cert.pem").read_text())

    def served_certificate(self, node_id: str) -> bytes | None:
        """The certificate (DER) presented on the node's port, or None if nothing answers TLS there."""
        import ssl

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # we only read which certificate answers; nothing is sent
        try:
            with (
                socket.create_connection(("127.0.0.1", self.ports[node_id]), timeout=2) as raw,
                ctx.wrap_socket(raw) as tls,
            ):
                return tls.getpeercert(binary_form=True)
        except (OSError, ssl.SSLError):
            return None

    def start(self, node_id: str) -> None:
        """Start a node's server (mutual TLS) and wait until it answers with its own certificate."""
        logs = self.directory / "logs"
        logs.mkdir(exist_ok=True)
        log_path = logs / f"{node_id}.log"
        with log_path.open("ab") as log_file:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "rogatory",
                    "--home",
                    str(self.home(node_id)),
                    "serve",
                    "--port",
                    str(self.ports[node_id]),
                    "--checkpoint-interval",
                    "2",
                ],
                stdout=log_file,
                stderr=log_file,
                env=_clean_env(),
                start_new_session=True,
            )
        self.servers[node_id] = proc
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace").strip().splitlines()[-1:]
                raise StepFailedError(
                    f"{node_id}'s server stopped at start: {tail[0] if tail else 'no output'} "
                    f"(see {log_path})"
                )
            served = self.served_certificate(node_id)
            if served is not None:
                if served != self.own_certificate(node_id):
                    raise StepFailedError(
                        f"port {self.ports[node_id]} (chosen for {node_id} at step 1) is now used by "
                        "another program; run the demo again: it picks free ports"
                    )
                if proc.poll() is None:
                    return
            time.sleep(0.1)
        raise StepFailedError(
            f"{node_id}'s server did not start within {SERVER_START_TIMEOUT:.0f} s (see {log_path})"
        )

    def kill(self, node_id: str) -> None:
        """Kill a node's server abruptly (fault injection for tests: --kill-node)."""
        proc = self.servers.get(node_id)
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            self.say(f"[yellow](fault injected: {node_id}'s server was killed)[/]")

    def stop_all(self) -> None:
        """Stop every server this demo started."""
        for proc in self.servers.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.servers.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


def demo(
    directory: Annotated[
        Path,
        typer.Option("--dir", help="Demo folder (three node homes, cards, packages, reports)."),
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
    keep_running: Annotated[
        bool,
        typer.Option(
            "--keep-running", help="Leave the three servers up and print how to use each node."
        ),
    ] = False,
    kill_node: Annotated[
        str | None,
        typer.Option(
            "--kill-node",
            hidden=True,
            help="Fault injection for tests: NODE@STEP kills NODE's server when STEP starts.",
        ),
    ] = None,
) -> None:
    """Three agencies on this machine exchange real evidence end to end over the federation, every check shown."""
    if json_out:
        out.file = sys.stderr  # the narrative goes to stderr; stdout carries only the JSON
    try:
        _run(directory, fresh, json_out, evidence, keep_running, kill_node)
    finally:
        out.file = None  # type: ignore[assignment]  # back to following sys.stdout


def _is_demo(directory: Path) -> bool:
    return (directory / STATE_FILE).exists() or any(
        (directory / a.node_id / "config.toml").exists() for a in AGENCIES
    )


def _prepare_folder(directory: Path, fresh: bool) -> dict[str, Any]:
    if directory.exists() and fresh:
        if any(directory.iterdir()) and not _is_demo(directory):
            raise UsageError(
                f"{directory} is not a Rogatory demo folder; --fresh would delete it",
                "choose another --dir",
            )
        shutil.rmtree(directory)
    if directory.exists() and any(directory.iterdir()) and not _is_demo(directory):
        raise UsageError(
            f"{directory} exists and is not a Rogatory demo folder",
            "choose another --dir, or pass --fresh to replace it",
        )
    directory.mkdir(parents=True, exist_ok=True)
    state_path = directory / STATE_FILE
    try:
        return dict(json.loads(state_path.read_text())) if state_path.exists() else {}
    except ValueError:
        return {}


def _run(
    directory: Path,
    fresh: bool,
    json_out: bool,
    evidence: list[Path] | None,
    keep_running: bool,
    kill_node: str | None,
) -> None:
    directory = directory.resolve()
    kill_at: dict[int, str] = {}
    if kill_node:
        node, _, at = kill_node.partition("@")
        if node not in {a.node_id for a in AGENCIES} or not at.isdigit():
            raise UsageError("--kill-node takes NODE@STEP, e.g. jp.central-authority@7", "")
        kill_at[int(at)] = node
    sources = [p.resolve() for p in (evidence or example_files())]
    for p in sources:
        if not p.exists():
            raise UsageError(f"--evidence {p} does not exist", "give existing files or folders")
    saved = _prepare_folder(directory, fresh)
    sc = Scenario(directory, sources, keep_running, kill_at)
    out.print(
        f"[bold]Rogatory demo[/]: three agencies on this machine, in {directory}"
        + (" (reusing the existing demo; --fresh to start over)" if saved else "")
    )
    try:
        sc.choose_ports(dict(saved.get("ports", {})))
        (directory / STATE_FILE).write_text(json.dumps({"ports": sc.ports}, indent=2) + "\n")
        _scenario(sc)
    finally:
        if not keep_running or not all(ok for _, ok, _ in sc.results):
            sc.stop_all()
    _summary(sc, json_out)


def _scenario(sc: Scenario) -> None:
    steps: list[tuple[str, str, Callable[[], str]]] = [
        (
            "Create three agencies' nodes",
            "Each agency runs its own node with its own keys and store: nothing leaves it unless sent on purpose.",
            lambda: _make_nodes(sc),
        ),
        (
            "Exchange node cards; confirm fingerprints both ways",
            "Trust is anchored out of band: each side reads the other's fingerprint over the phone before adding its card.",
            lambda: _exchange_cards(sc),
        ),
        (
            "Start the three servers (mutual TLS)",
            "Nodes talk HTTPS with client certificates pinned through the trust list: no public CA, no stranger gets in.",
            lambda: _start_servers(sc),
        ),
        (
            "Open the case and take the evidence in (NL)",
            "One read per file gives the SHA-256, SHA-1 and MD5 a court will check; each acquisition is a signed custody event.",
            lambda: _intake(sc),
        ),
        (
            "Custody chain, cosigned by both partners",
            "Brazil and Japan cosign the Dutch log's checkpoint: the Dutch unit can no longer rewrite that history unnoticed.",
            lambda: _custody(sc),
        ),
        (
            "Package the evidence for the Japanese central authority",
            "A signed manifest, age-encrypted payloads and every item's custody proofs, in one file only Japan can open.",
            lambda: _package(sc),
        ),
        (
            "Send it; the transfer is interrupted once and resumes",
            "Multi-gigabyte evidence crosses unreliable links: an interrupted transfer continues from the last byte received.",
            lambda: _send(sc),
        ),
        (
            "Japan imports, verifies and writes the court report",
            "The receiving authority checks every byte and every custody event before anything enters its store.",
            lambda: _import_and_verify(sc),
        ),
        (
            "Japan re-issues the package to a court",
            "Disclosure is a custody event too; the court gets its own encrypted copy with both agencies' histories.",
            lambda: _reissue(sc),
        ),
        (
            "The court verifies offline",
            "No network and no trust in any server: the package, the court's key and the two node cards suffice.",
            lambda: _court(sc),
        ),
        (
            "A tampered package is refused",
            "One changed byte anywhere is caught, and the report names the check that failed.",
            lambda: _tampered(sc),
        ),
        (
            "A replayed message is refused",
            "Each message is processed once, whoever sends it again: a captured request cannot be replayed.",
            lambda: _replay(sc),
        ),
        (
            "Every log verifies; every checkpoint carries both partners' cosignatures",
            "Each node's whole custody log recomputes, and its latest checkpoint is witnessed by the other two agencies.",
            lambda: _final_check(sc),
        ),
    ]
    sc.facts["steps"] = len(steps)
    for title, why, fn in steps:
        if not sc.step(title, why, fn):
            break


# ---------------------------------------------------------------- the steps


def _make_nodes(sc: Scenario) -> str:
    made = []
    for a in AGENCIES:
        if not (sc.home(a.node_id) / "config.toml").exists():
            sc.rogatory(
                None,
                "--home",
                str(sc.home(a.node_id)),
                "init",
                "--node-id",
                a.node_id,
                "--country",
                a.country,
                "--agency",
                a.agency,
                "--role",
                a.role,
            )
            made.append(a.node_id)
        sc.rogatory(a.node_id, "node", "set-url", f"https://127.0.0.1:{sc.ports[a.node_id]}")
        sc.say(
            f"{a.node_id:22} {a.agency}, https://127.0.0.1:{sc.ports[a.node_id]}, home {sc.home(a.node_id)}"
        )
    return f"{len(made)} node(s) created, {3 - len(made)} reused; each has its own SQLite store, keys and TLS certificate"


def _exchange_cards(sc: Scenario) -> str:
    (sc.directory / "cards").mkdir(exist_ok=True)
    for a in AGENCIES:
        data = sc.json(a.node_id, "node", "card", "--out", str(sc.card(a.node_id)))
        sc.fingerprints[a.node_id] = data["fingerprint"]
        sc.keep(f"node card of {a.node_id}", sc.card(a.node_id))
        sc.say(f"{a.node_id:22} fingerprint [bold]{data['fingerprint']}[/]")
    added = 0
    for a in AGENCIES:
        for b in AGENCIES:
            if a is b:
                continue
            res = sc.json(
                a.node_id,
                "peer",
                "add",
                str(sc.card(b.node_id)),
                "--fingerprint",
                sc.fingerprints[b.node_id],
            )
            if not res["witness"]:
                raise StepFailedError(f"{b.node_id}'s card has no URL")
            added += 1
    peers = sc.json(NL, "peer", "list")
    if {p["node_id"] for p in peers} != {BR, JP} or any(p["problem"] for p in peers):
        raise StepFailedError(f"NL's trust list is not BR and JP, both active: {peers}")
    return f"{added} cards added after fingerprint confirmation; each node witnesses the other two's logs"


def _start_servers(sc: Scenario) -> str:
    for a in AGENCIES:
        sc.start(a.node_id)
        sc.say(
            f"{a.node_id:22} serving https://127.0.0.1:{sc.ports[a.node_id]} (log: {sc.directory / 'logs' / (a.node_id + '.log')})"
        )
    return "three servers up; each accepts only its two partners' certificates"


def _intake(sc: Scenario) -> str:
    show = sc.rogatory(NL, "case", "show", CASE_REF, expect=None)
    if show.returncode != 0:
        sc.rogatory(
            NL,
            "case",
            "open",
            "--reference",
            CASE_REF,
            "--title",
            "Ransomware attack on a regional hospital (fictional)",
            "--offence",
            "BC-2",
            "--offence",
            "BC-4",
            "--offence",
            "BC-5",
            "--tlp",
            "AMBER",
        )
    acq = [
        "--acquired-by",
        "Insp. J. de Vries, Politie Team High Tech Crime (fictional)",
        "--location",
        "Regional hospital server room, Rotterdam (fictional)",
        "--source-device",
        "File server FS01 and its system disk (fictional)",
        "--method",
        "logical",
        "--tool",
        f"rogatory {__version__}",
    ]
    data = sc.json(NL, "evidence", "add", CASE_REF, *[str(p) for p in sc.evidence], *acq)
    items = data["items"]
    failed = [i for i in items if i["status"] == "failed"]
    if failed:
        raise StepFailedError("; ".join(f"{i['source']}: {i['error']}" for i in failed))
    t = table("item", "status", "kind", "size", "sha256")
    for i in items:
        t.add_row(
            i["item"] or "",
            i["status"],
            i["kind"],
            human_size(i["size"]),
            (i["digests"].get("sha256") or "")[:24] + "…",
        )
    out.print(t)
    listing = sc.json(NL, "evidence", "list", CASE_REF)
    sc.facts["items"] = [i["item"] for i in listing["items"]]
    return (
        f"case {CASE_REF} holds {len(sc.facts['items'])} item(s), each hashed on intake and logged"
    )


def _wait_cosigned(
    sc: Scenario, node_id: str, partners: set[str], timeout: float = 30.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        sc.rogatory(node_id, "log", "checkpoint", "--json", expect=None)
        status = sc.json(node_id, "log", "status")
        cp = status.get("latest_checkpoint") or {}
        if cp.get("size") == status.get("size") and partners <= set(cp.get("cosigned_by") or {}):
            return status  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            raise StepFailedError(
                f"{node_id}'s checkpoint of size {cp.get('size')} is cosigned by "
                f"{sorted(cp.get('cosigned_by') or {})}, not by {sorted(partners)}: see {sc.directory / 'logs'}"
            )
        time.sleep(1)


def _custody(sc: Scenario) -> str:
    status = _wait_cosigned(sc, NL, {BR, JP})
    cp = status["latest_checkpoint"]
    for item in sc.facts["items"]:
        hist = sc.json(NL, "evidence", "history", item)
        events = hist["events"]
        bad = [e for e in events if not e["ok"]]
        if bad:
            raise StepFailedError(
                f"{item}: custody event #{bad[0]['index']} failed its checks {bad[0]['checks']}"
            )
        chain = ", ".join(f"#{e['index']} {e['event']['type']}" for e in events)
        sc.say(f"{item}: {chain} — signature, commitment and inclusion verified")
        sc.rogatory(NL, "log", "prove", item, "--out", str(sc.directory / "proofs" / item))
    sc.keep("offline custody proofs (tlog-proof) per item", sc.directory / "proofs")
    cosigners = ", ".join(sorted(cp["cosigned_by"]))
    return f"checkpoint of size {cp['size']} cosigned by {cosigners}; every item's chain verifies"


def _package(sc: Scenario) -> str:
    packages = sc.directory / "packages"
    packages.mkdir(exist_ok=True)
    n = len(list(packages.glob("nl-to-jp-*.rogpkg"))) + 1
    path = packages / f"nl-to-jp-{n}.rogpkg"
    item_args = [a for i in sc.facts["items"] for a in ("--item", i)]
    data = sc.json(NL, "package", "create", CASE_REF, *item_args, "--to", JP, "--out", str(path))
    sc.facts["package"] = path
    sc.facts["package_size"] = int(data["size"])
    sc.keep("package for Japan", path)
    return (
        f"{path.name}: {human_size(data['size'])}, {len(data['items'])} item(s), "
        f"{data['custody_events']} custody events with proofs; SHA-256 {data['sha256'][:16]}…"
    )


def _send(sc: Scenario) -> str:
    path: Path = sc.facts["package"]
    half = max(1, sc.facts["package_size"] // 2)
    first = sc.json(
        NL, "package", "send", str(path), "--to", JP, "--max-bytes", str(half), "--retry-for", "10"
    )
    if first["status"] != "paused":
        raise StepFailedError(f"the first, interrupted send ended {first['status']!r}, not paused")
    sc.say(
        f"interrupted on purpose after {human_size(first['offset'])} of {human_size(first['size'])}"
    )
    second = sc.json(NL, "package", "send", str(path), "--to", JP, "--retry-for", "10")
    if second["status"] != "done" or second["resumed_from"] != first["offset"]:
        raise StepFailedError(
            f"the resumed send did not continue from byte {first['offset']}: {second}"
        )
    receipt = second["receipt"]
    sc.say(
        f"resumed from byte {second['resumed_from']}; {JP} signed a receipt for package {receipt['package_id']}"
    )
    sc.facts["receipt"] = receipt
    return f"delivered in two parts; {human_size(second['sent_bytes'])} sent after the resume; signed receipt kept; transfer-out logged"


def _import_and_verify(sc: Scenario) -> str:
    transfers = sc.json(JP, "package", "transfers")
    received = [
        t for t in transfers if t["direction"] == "in" and t["status"] == "done" and t["path"]
    ]
    if not received:
        raise StepFailedError(f"{JP} lists no received package")
    path = Path(received[0]["path"])
    sc.facts["received"] = path
    sc.keep("package as received by Japan", path)
    report = sc.directory / "reports" / "jp-received"
    data = sc.json(
        JP,
        "verify",
        str(path),
        "--identity",
        str(sc.home(JP) / "keys" / "age.key"),
        "--trust",
        str(sc.card(NL)),
        "--fingerprint",
        sc.fingerprints[NL],
        "--report",
        str(report),
    )
    if not data["ok"]:
        raise StepFailedError("Japan's verification of the received package failed")
    for f in data["report_files"]:
        sc.keep("verification report (Japan)", Path(f))
    imported = sc.facts["receipt"][
        "items"
    ]  # sender's item id -> Japan's item id, this package only
    listing = sc.json(JP, "evidence", "list", str(sc.facts["receipt"]["case"]))
    missing = set(imported.values()) - {i["item"] for i in listing["items"]}
    if missing:
        raise StepFailedError(
            f"items {sorted(missing)} are in the receipt but not in Japan's store"
        )
    return (
        f"{len(imported)} item(s) imported into case {sc.facts['receipt']['case']} with the Dutch custody "
        f"history; report {', '.join(Path(f).name for f in data['report_files'])}"
    )


def _reissue(sc: Scenario) -> str:
    court = sc.directory / "court"
    court.mkdir(exist_ok=True)
    key = court / "court-age.key"
    if not key.exists():
        import pyrage

        identity = pyrage.x25519.Identity.generate()
        key.write_text(f"# the court's own age key (demo)\n{identity}\n")
        key.chmod(0o600)
        (court / "court-age.pub").write_text(f"{identity.to_public()}\n")
    n = len(list(court.glob("for-the-court-*.rogpkg"))) + 1
    target = court / f"for-the-court-{n}.rogpkg"
    data = sc.json(
        JP,
        "package",
        "reissue",
        str(sc.facts["received"]),
        "--trust",
        str(sc.card(NL)),
        "--fingerprint",
        sc.fingerprints[NL],
        "--to",
        str(court / "court-age.pub"),
        "--out",
        str(target),
    )
    sc.facts["court_package"] = target
    sc.keep("package re-issued to the court", target)
    return (
        f"{target.name} for {data['reissued_to']}; the disclosure is logged in Japan's custody log"
    )


def _court_verify_args(sc: Scenario, package: Path) -> list[str]:
    court = sc.directory / "court"
    return [
        "verify",
        str(package),
        "--identity",
        str(court / "court-age.key"),
        "--trust",
        str(sc.card(NL)),
        "--fingerprint",
        sc.fingerprints[NL],
        "--trust",
        str(sc.card(JP)),
        "--fingerprint",
        sc.fingerprints[JP],
    ]


def _court(sc: Scenario) -> str:
    court = sc.directory / "court"
    package: Path = sc.facts["court_package"]
    report = court / "report"
    data = sc.json(None, *_court_verify_args(sc, package), "--report", str(report))
    if not data["ok"]:
        raise StepFailedError("the court's offline verification failed")
    for f in data["report_files"]:
        sc.keep("court's verification report", Path(f))
    detail = (
        f"rogatory verify: every signature, byte and custody event checks out; report in {report}"
    )
    if shutil.which("age") and shutil.which("sha256sum"):
        detail += "; " + _standard_tools(package, court / "court-age.key", court / "standard-tools")
    else:
        detail += "; the standard 'age' tool is not installed, so the age + sha256sum -c cross-check was skipped"
    return detail


def _standard_tools(package: Path, key: Path, where: Path) -> str:
    import zipfile

    if where.exists():
        shutil.rmtree(where)
    with zipfile.ZipFile(package) as zf:
        zf.extractall(where)

    def age(src: Path, dst: Path) -> None:
        res = subprocess.run(
            ["age", "-d", "-i", str(key), "-o", str(dst), str(src)],
            capture_output=True,
            text=True,
            check=False,
        )
        if res.returncode != 0:
            raise StepFailedError(f"age -d {src.name} failed: {res.stderr.strip()}")

    age(where / "SHA256SUMS.age", where / "SHA256SUMS")
    for enc in sorted((where / "payload").glob("*.age")):
        age(enc, enc.with_suffix(""))
    res = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=where, capture_output=True, text=True, check=False
    )
    if res.returncode != 0:
        raise StepFailedError(f"sha256sum -c failed: {res.stdout.strip()[-300:]}")
    return f"standard tools agree: age decrypts and sha256sum -c reports {res.stdout.count(': OK')} file(s) OK"


def _tampered(sc: Scenario) -> str:
    import zipfile

    court = sc.directory / "court"
    original: Path = sc.facts["court_package"]
    tampered = court / "tampered-copy.rogpkg"
    data = bytearray(original.read_bytes())
    with zipfile.ZipFile(original) as zf:
        member = next(i for i in zf.infolist() if i.filename.startswith("payload/"))
    # the member's bytes start after its local header (30 bytes + name + extra)
    name_len = int.from_bytes(data[member.header_offset + 26 : member.header_offset + 28], "little")
    extra_len = int.from_bytes(
        data[member.header_offset + 28 : member.header_offset + 30], "little"
    )
    start = member.header_offset + 30 + name_len + extra_len
    data[start + member.compress_size // 2] ^= 0x01
    tampered.write_bytes(bytes(data))
    sc.keep("deliberately tampered copy", tampered)
    res = sc.rogatory(None, *_court_verify_args(sc, tampered), "--json", expect=None)
    if res.returncode == 0:
        raise StepFailedError("the tampered copy was accepted")
    try:
        report = json.loads(res.stdout)
        failed = [c for c in report["checks"] if not c["ok"]] + [
            c for i in report["items"] for c in i["checks"] if not c["ok"]
        ]
        named = f"{failed[0]['name']}: {failed[0]['detail']}" if failed else "refused"
    except (ValueError, KeyError, IndexError, TypeError):
        lines = res.stderr.strip().splitlines()
        named = lines[-1] if lines else "refused"
    return f"one flipped bit in {member.filename} → refused ({named})"


def _replay(sc: Scenario) -> str:
    sent = sc.json(
        NL,
        "message",
        "send",
        BR,
        "--type",
        "request",
        "--handling",
        "H2",
        "--text",
        "Preservation request (Budapest Convention Art. 29): please preserve the traffic data of the C2 server at 203.0.113.45.",
        "--case",
        CASE_REF,
    )
    if sent["status"] != "delivered":
        raise StepFailedError(f"the request to {BR} was not delivered: {sent['detail']}")
    sc.say(f"request {sent['message_id']} delivered to {BR}; its signed receipt is kept")
    replay = sc.json(NL, "message", "replay", sent["message_id"])
    if not replay["refused_as_replay"]:
        raise StepFailedError(f"{BR} accepted the replayed message (HTTP {replay['http_status']})")
    inbox = sc.json(BR, "message", "list", "--inbox")
    copies = sum(1 for m in inbox if m["message_id"] == sent["message_id"])
    if copies != 1:
        raise StepFailedError(f"{BR} holds the message {copies} times")
    return f"the exact bytes sent again → {BR} answered 409 with the original receipt; the request was processed once"


def _final_check(sc: Scenario) -> str:
    for a in AGENCIES:
        partners = {b.node_id for b in AGENCIES if b is not a}
        status = _wait_cosigned(sc, a.node_id, partners)
        verify = sc.json(a.node_id, "log", "verify")
        if not verify["ok"]:
            raise StepFailedError(
                f"{a.node_id}: rogatory log verify found {verify['problems'][:2]}"
            )
        cp = status["latest_checkpoint"]
        sc.say(
            f"{a.node_id:22} {verify['entries']} event(s) verify; checkpoint {cp['size']} cosigned by "
            f"{', '.join(sorted(cp['cosigned_by']))}"
        )
    return "all three logs verify and each latest checkpoint carries both partners' cosignatures"


# ---------------------------------------------------------------- the end


def _summary(sc: Scenario, json_out: bool) -> None:
    total = int(sc.facts.get("steps", 0))
    ok = len(sc.results) == total and all(p for _, p, _ in sc.results) and total > 0
    if json_out:
        emit_json(
            {
                "dir": str(sc.directory),
                "ok": ok,
                "ports": sc.ports,
                "steps": [{"step": t, "passed": p, "detail": d} for t, p, d in sc.results],
                "artefacts": [{"what": w, "path": str(p)} for w, p in sc.artefacts],
            }
        )
    summary = table("step", "result", "detail")
    for i, (title, passed, detail) in enumerate(sc.results, 1):
        summary.add_row(
            f"{i}. {title}", "[green]pass[/]" if passed else "[bold red]FAIL[/]", detail
        )
    for number in range(len(sc.results) + 1, total + 1):
        summary.add_row(f"{number}.", "[dim]not run[/]", "")
    out.print(summary)
    arts = Table(title="Artefacts", show_header=True)
    arts.add_column("what")
    arts.add_column("path", overflow="fold")
    for what, path in sc.artefacts:
        arts.add_row(what, str(path))
    out.print(arts)
    if sc.keep_running and ok:
        out.print("[bold]The three servers keep running.[/] Point the CLI at a node with --home:")
        for a in AGENCIES:
            out.print(f"  rogatory --home {sc.home(a.node_id)} log status     # {a.agency}")
        out.print(f"Stop them with: kill {' '.join(str(p.pid) for p in sc.servers.values())}")
    else:
        out.print(
            f"Repeat any step by hand: rogatory --home {sc.home(NL)} evidence list {CASE_REF} "
            "(see the README, 'What the demo shows')"
        )
    if not ok:
        err.print(
            "error: the demo failed at the step marked FAIL above; its message says why "
            f"(server logs in {sc.directory / 'logs'}); run it again to resume, or --fresh to start over"
        )
        raise typer.Exit(1)
