"""The federation on three loopback nodes, each a real `rogatory serve` with mutual TLS.

nl trusts jp and br; jp and br trust nl but not each other. Every refusal names
its check and stores nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyrage
import pytest
from sqlalchemy import func, select

from rogatory.custody.log import CustodyLog
from rogatory.exchange.envelope import Message, MessageType, seal
from rogatory.exchange.node import FederationNode
from rogatory.node.home import NodeHome
from rogatory.node.keys import KeyPurpose, load_signing_key
from rogatory.store.database import Database
from rogatory.store.schema import InboxRow
from tests.conftest import ACQ

NL, JP, BR = "nl.police-cybercrime", "jp.central-authority", "br.policia-federal"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(
    home: Path, *args: str, check: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(
        [sys.executable, "-m", "rogatory", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={k: v for k, v in os.environ.items() if not k.startswith("ROGATORY_")},
    )
    if check and res.returncode != 0:
        raise AssertionError(f"rogatory {' '.join(args)} failed: {res.stdout}\n{res.stderr}")
    return res


def js(home: Path, *args: str) -> Any:
    return json.loads(run(home, *args, "--json").stdout)


class Node:
    def __init__(self, root: Path, node_id: str, country: str) -> None:
        self.node_id = node_id
        self.home = root / node_id
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        run(
            self.home,
            "init",
            "--node-id",
            node_id,
            "--country",
            country,
            "--agency",
            f"{node_id} (test)",
        )
        run(self.home, "node", "set-url", f"https://127.0.0.1:{self.port}")
        self.card = root / f"{node_id}.card.json"
        self.fingerprint = js(self.home, "node", "card", "--out", str(self.card))["fingerprint"]

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rogatory",
                "--home",
                str(self.home),
                "serve",
                "--checkpoint-interval",
                "0",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(self.home / "serve.log").open("ab"),
            env={k: v for k, v in os.environ.items() if not k.startswith("ROGATORY_")},
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            assert self.proc.poll() is None, (self.home / "serve.log").read_text()
            time.sleep(0.1)
        raise AssertionError(f"{self.node_id} did not start")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
        self.proc = None

    def api(self) -> FederationNode:
        home = NodeHome.open(self.home)
        db = Database(home.database_url)
        log = CustodyLog(
            db, self.node_id, load_signing_key(home.keys_dir, KeyPurpose.LOG, None), home.path
        )
        return FederationNode(home, db, log, None)

    def inbox_count(self) -> int:
        node = self.api()
        with node.db.session() as s:
            n = int(s.scalar(select(func.count()).select_from(InboxRow)) or 0)
        node.db.close()
        return n

    def log_size(self) -> int:
        return int(js(self.home, "log", "status")["size"])


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Node]]:
    root = tmp_path_factory.mktemp("federation")
    ns = {n: Node(root, n, n[:2].upper()) for n in (NL, JP, BR)}
    for a, b in ((NL, JP), (JP, NL), (NL, BR), (BR, NL)):
        run(ns[a].home, "peer", "add", str(ns[b].card), "--fingerprint", ns[b].fingerprint)
    for n in ns.values():
        n.start()
    yield ns
    for n in ns.values():
        n.stop()


def mtls(sender: Node, target: Node) -> ssl.SSLContext:
    """A client context presenting sender's certificate and pinning target's."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(cafile=str(target.home / "keys" / "tls.cert.pem"))
    ctx.load_cert_chain(
        str(sender.home / "keys" / "tls.cert.pem"), str(sender.home / "keys" / "tls.key.pem")
    )
    return ctx


def post_raw(sender: Node, target: Node, body: bytes) -> httpx.Response:
    """POST bytes to target's inbox over mutual TLS with sender's certificate."""
    with httpx.Client(verify=mtls(sender, target), timeout=30) as c:
        return c.post(f"https://127.0.0.1:{target.port}/federation/messages", content=body)


def test_health_version_and_openapi_are_served_over_mutual_tls(nodes: dict[str, Node]) -> None:
    nl, jp = nodes[NL], nodes[JP]
    with httpx.Client(
        verify=mtls(nl, jp), timeout=30, base_url=f"https://127.0.0.1:{jp.port}"
    ) as c:
        assert c.get("/healthz").status_code == 200
        version = c.get("/version")
        assert version.status_code == 200 and version.json()
        spec = c.get("/openapi.json").json()
        assert {"/federation/messages", "/federation/messages/batch"} <= set(spec["paths"])
        assert any(p.startswith("/witness") for p in spec["paths"])


def sealed(from_node: Node, to_node: Node, **changes: Any) -> bytes:
    api = from_node.api()
    key, kid = api.message_signer()
    fields: dict[str, Any] = {
        "type": MessageType.ALERT,
        "sender": from_node.node_id,
        "recipient": to_node.node_id,
        "body": {"t": "x"},
    }
    fields.update(changes)
    age = json.loads(to_node.card.read_text())["keys"]["age"]
    _signed, envelope = seal(Message(**fields), key, kid, age)
    api.db.close()
    return envelope


def test_peer_add_needs_the_confirmed_fingerprint(nodes: dict[str, Node], tmp_path: Path) -> None:
    jp, br = nodes[JP], nodes[BR]
    r = run(jp.home, "peer", "add", str(br.card), check=False)
    assert r.returncode == 2 and "was not confirmed" in r.stderr
    r = run(
        jp.home, "peer", "add", str(br.card), "--fingerprint", nodes[NL].fingerprint, check=False
    )
    assert r.returncode == 2 and "differs from the one you confirmed" in r.stderr
    card = json.loads(br.card.read_text())
    card["url"] = "https://evil.example:443"
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(card))
    r = run(jp.home, "peer", "add", str(forged), "--fingerprint", br.fingerprint, check=False)
    assert r.returncode == 2 and "not signed by its own message key" in r.stderr
    assert {p["node_id"] for p in js(jp.home, "peer", "list")} == {NL}


def test_request_is_delivered_with_a_signed_receipt_and_custody_events(
    nodes: dict[str, Node],
) -> None:
    nl, jp = nodes[NL], nodes[JP]
    before_nl, before_jp = nl.log_size(), jp.log_size()
    sent = js(nl.home, "message", "send", JP, "--type", "request", "--text", "preserve please")
    assert sent["status"] == "delivered"
    shown = js(nl.home, "message", "show", sent["message_id"])
    assert shown["receipt"] and shown["message"]["recipient"] == JP
    got = js(jp.home, "message", "show", sent["message_id"])
    assert got["box"] == "inbox" and got["message"]["body"] == {"text": "preserve please"}
    assert nl.log_size() == before_nl + 1 and jp.log_size() == before_jp + 1
    assert js(jp.home, "log", "verify")["ok"] and js(nl.home, "log", "verify")["ok"]


@pytest.mark.parametrize(
    ("case", "check"),
    [
        ("garbage", "decryption"),
        ("not-jws", "format"),
        ("recipient", "recipient"),
        ("expired", "expiry"),
        ("future", "created-in-future"),
        ("oversized", "size"),
        ("forged-sender", "tls-peer"),
    ],
)
def test_bad_messages_are_refused_naming_the_check_and_nothing_is_stored(
    nodes: dict[str, Node], case: str, check: str
) -> None:
    nl, jp = nodes[NL], nodes[JP]
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    jp_age = json.loads(jp.card.read_text())["keys"]["age"]
    body: bytes
    if case == "garbage":
        body = os.urandom(300)
    elif case == "not-jws":
        body = pyrage.encrypt(b"hello, not a JWS", [pyrage.x25519.Recipient.from_str(jp_age)])
    elif case == "recipient":
        body = sealed(nl, jp, recipient=BR)
    elif case == "expired":
        body = sealed(
            nl, jp, created_at=now - dt.timedelta(days=2), expires_at=now - dt.timedelta(days=1)
        )
    elif case == "future":
        body = sealed(nl, jp, created_at=now + dt.timedelta(hours=1))
    elif case == "oversized":
        body = os.urandom((1 << 20) + 10)
    else:  # br's genuine message to nl, relayed by jp over jp's own connection
        body = sealed(nodes[BR], nl)
        jp, nl = nl, jp  # the target is nl, the poster jp
    inbox, size = jp.inbox_count(), jp.log_size()
    resp = post_raw(nl, jp, body)
    assert 400 <= resp.status_code < 500
    assert resp.json()["check"] == check, resp.text
    assert jp.inbox_count() == inbox and jp.log_size() == size


def test_a_client_certificate_not_on_the_trust_list_is_refused(nodes: dict[str, Node]) -> None:
    jp, br = nodes[JP], nodes[BR]  # jp does not trust br
    with pytest.raises((httpx.HTTPError, ssl.SSLError)):
        r = post_raw(br, jp, b"x")
        assert r.status_code == 403  # TLS 1.3 may only fail at the first read
        raise httpx.HTTPError("refused at the application level")


def test_a_replayed_message_is_processed_once(nodes: dict[str, Node]) -> None:
    nl, jp = nodes[NL], nodes[JP]
    sent = js(nl.home, "message", "send", JP, "--type", "alert", "--text", "once")
    count = jp.inbox_count()
    replay = js(nl.home, "message", "replay", sent["message_id"])
    assert replay["refused_as_replay"] and replay["same_receipt"]
    assert jp.inbox_count() == count
    # the same id with other content is refused as a replay
    again = post_raw(nl, jp, sealed(nl, jp, message_id=sent["message_id"], body={"t": "other"}))
    assert again.status_code == 409 and again.json()["check"] == "replay"


def test_the_outbox_keeps_a_message_while_the_peer_is_down(nodes: dict[str, Node]) -> None:
    nl, br = nodes[NL], nodes[BR]
    br.stop()
    try:
        sent = js(nl.home, "message", "send", BR, "--type", "alert", "--text", "later")
        assert sent["status"] == "pending" and sent["retry_in"] > 0
        listed = [
            m
            for m in js(nl.home, "message", "list", "--outbox")
            if m["message_id"] == sent["message_id"]
        ]
        assert listed[0]["status"] == "pending" and "unreachable" in listed[0]["last_error"]
    finally:
        br.start()
    run(nl.home, "message", "deliver", "--all")  # or nl's serve outbox clock, whichever is first
    deadline = time.monotonic() + 30
    while True:
        status = next(
            m["status"]
            for m in js(nl.home, "message", "list", "--outbox")
            if m["message_id"] == sent["message_id"]
        )
        if status == "delivered" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert status == "delivered"
    assert any(
        m["message_id"] == sent["message_id"] for m in js(br.home, "message", "list", "--inbox")
    )


def make_package(nl: Node, size: int, name: str) -> Path:
    case = f"NL-{name.upper()}"
    run(nl.home, "case", "open", "--reference", case, "--title", "transfer test")
    data = nl.home.parent / f"{name}.bin"
    data.write_bytes(os.urandom(size))
    add = js(nl.home, "evidence", "add", case, str(data), *ACQ)
    item = add["items"][0]["item"]
    pkg = nl.home.parent / f"{name}.rogpkg"
    js(nl.home, "package", "create", case, "--item", item, "--to", JP, "--out", str(pkg))
    return pkg


def test_transfer_pauses_resumes_and_is_imported_once(nodes: dict[str, Node]) -> None:
    nl, jp = nodes[NL], nodes[JP]
    pkg = make_package(nl, 300_000, "small")
    first = js(nl.home, "package", "send", str(pkg), "--to", JP, "--max-bytes", "100000")
    assert first["status"] == "paused" and first["offset"] == 100_000
    second = js(nl.home, "package", "send", str(pkg), "--to", JP)
    assert second["status"] == "done" and second["resumed_from"] == 100_000
    assert second["receipt"]["sha256"] and second["receipt"]["items"]
    third = js(nl.home, "package", "send", str(pkg), "--to", JP)
    assert third["duplicate"] and third["receipt"]["package_id"] == second["receipt"]["package_id"]
    received = [
        t
        for t in js(jp.home, "package", "transfers")
        if t["direction"] == "in" and t["status"] == "done"
    ]
    assert len([t for t in received if t["sha256"] == second["receipt"]["sha256"]]) == 1
    assert Path(received[0]["path"]).exists()
    assert js(nl.home, "log", "verify")["ok"] and js(jp.home, "log", "verify")["ok"]


def test_cosignatures_are_checked_with_a_card_exported_before_the_witnesses(
    nodes: dict[str, Node],
) -> None:
    nl, jp = nodes[NL], nodes[JP]
    # nl.card was exported at init, before NL had any witness: its policy says "quorum none"
    assert "quorum none" in json.loads(nl.card.read_text())["policy"]
    pkg = make_package(nl, 5_000, "witnessed")
    report = js(
        jp.home,
        "verify",
        str(pkg),
        "--identity",
        str(jp.home / "keys" / "age.key"),
        "--trust",
        str(nl.card),
        "--fingerprint",
        nl.fingerprint,
    )
    witness = [c for c in report["checks"] if c["name"] == "witness policy"]
    assert witness and witness[0]["ok"], report["checks"]
    assert "br.policia-federal" in witness[0]["detail"] and JP in witness[0]["detail"]
    steps = [st for it in report["items"] for st in it["custody"]]
    assert steps and all(c["ok"] for st in steps for c in st["checks"])
    # the partners' cosignatures were checked: every event has the time it was provably logged
    assert all(st["provably_logged_by"] for st in steps), steps
    assert all({JP, BR} <= set(st["cosigned_by"]) for st in steps), steps


def test_a_package_for_another_node_is_refused_before_any_byte_is_sent(
    nodes: dict[str, Node],
) -> None:
    nl = nodes[NL]
    pkg = make_package(nl, 10_000, "for-japan")
    res = run(nl.home, "package", "send", str(pkg), "--to", BR, check=False)
    assert res.returncode != 0
    assert "not to br.policia-federal" in res.stderr and "--to br.policia-federal" in res.stderr
    sent = [t for t in js(nl.home, "package", "transfers") if t["peer"] == BR]
    assert sent == []  # nothing offered, nothing recorded


def start_send(nl: Node, pkg: Path, *options: str) -> subprocess.Popen[bytes]:
    """``rogatory package send PKG --to JP`` as a background process."""
    command = [sys.executable, "-m", "rogatory", "--home", str(nl.home), "package", "send"]
    return subprocess.Popen(
        [*command, str(pkg), "--to", JP, *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith("ROGATORY_")},
    )


def test_transfer_survives_a_killed_receiver_and_a_killed_sender(nodes: dict[str, Node]) -> None:
    nl, jp = nodes[NL], nodes[JP]
    pkg = make_package(nl, 60_000_000, "large")
    sender = start_send(nl, pkg, "--retry-for", "1", "--json")
    staging = jp.home / "transfers"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until bytes arrive, then kill the receiver
        parts = list(staging.glob("*.part")) if staging.exists() else []
        if parts and parts[0].stat().st_size > 0:
            break
        time.sleep(0.05)
    jp.stop(signal.SIGKILL)
    sender.wait(timeout=120)
    assert sender.returncode != 0
    jp.start()
    # the sender is killed too, mid-upload of the rest
    sender = start_send(nl, pkg, "--json")
    time.sleep(1.5)
    sender.kill()
    sender.wait(timeout=30)
    done = js(nl.home, "package", "send", str(pkg), "--to", JP)
    assert done["status"] == "done" and done["resumed_from"] > 0
    jp_items = js(jp.home, "evidence", "list", "NL-LARGE")["items"]
    assert len(jp_items) == 1  # imported once, no partial item
    assert js(jp.home, "log", "verify")["ok"]


def test_partners_cosign_each_others_checkpoints_over_mutual_tls(nodes: dict[str, Node]) -> None:
    nl, jp = nodes[NL], nodes[JP]
    run(nl.home, "log", "checkpoint")
    status = js(nl.home, "log", "status")
    assert {JP, BR} <= set(status["latest_checkpoint"]["cosigned_by"])
    run(jp.home, "log", "checkpoint")
    assert NL in js(jp.home, "log", "status")["latest_checkpoint"]["cosigned_by"]


def test_key_rotation_is_accepted_without_a_phone_call(nodes: dict[str, Node]) -> None:
    nl, br = nodes[NL], nodes[BR]
    run(br.home, "node", "rotate-key")
    new_card = br.home.parent / "br-rotated.card.json"
    data = js(br.home, "node", "card", "--out", str(new_card))
    assert data["fingerprint"] != br.fingerprint
    added = js(nl.home, "peer", "add", str(new_card))
    assert added["action"] == "updated"
    br.stop()
    br.start()
    sent = js(br.home, "message", "send", NL, "--type", "alert", "--text", "new key")
    assert sent["status"] == "delivered"


def test_a_revoked_peer_is_refused(nodes: dict[str, Node]) -> None:
    nl, br = nodes[NL], nodes[BR]
    run(nl.home, "peer", "revoke", BR, "--reason", "test: key compromised")
    time.sleep(0.5)
    r = run(
        br.home,
        "message",
        "send",
        NL,
        "--type",
        "alert",
        "--text",
        "let me in",
        "--json",
        check=False,
    )
    sent = json.loads(r.stdout)
    assert r.returncode == 1 and sent["status"] == "refused" and "check tls-peer" in sent["detail"]
    peers = {p["node_id"]: p for p in js(nl.home, "peer", "list")}
    assert peers[BR]["problem"].startswith("revoked")
    r = run(nl.home, "message", "send", BR, "--text", "x", check=False)
    assert r.returncode != 0 and "revoked" in r.stderr
