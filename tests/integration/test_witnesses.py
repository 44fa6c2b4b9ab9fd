"""Three nodes on loopback: cross-witnessing, quorum, forks, replays, offline proofs."""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rogatory.custody.checkpoint import Checkpoint
from rogatory.custody.log import CustodyLog
from rogatory.custody.note import NoteSigner, sign_note
from rogatory.custody.witness_protocol import format_add_checkpoint
from rogatory.node.home import NodeHome
from rogatory.node.keys import KeyPurpose, load_signing_key
from rogatory.store.database import Database
from tests.conftest import ACQ

NODES = [
    ("nl.police-cybercrime", "NL"),
    ("br.policia-federal", "BR"),
    ("jp.central-authority", "JP"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(
        [sys.executable, "-m", "rogatory", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and res.returncode != 0:
        raise AssertionError(f"rogatory {' '.join(args)} failed: {res.stdout}\n{res.stderr}")
    return res


class Node:
    def __init__(self, home: Path, node_id: str) -> None:
        self.home = home
        self.node_id = node_id
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        info = json.loads(run(home, "node", "show", "--json").stdout)
        self.log_origin = info["custody_log"]["origin"]
        self.log_vkey = info["custody_log"]["vkey"]
        self.witness_vkey = info["witness"]["vkey"]

    def start(self, interval: float = 0) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rogatory",
                "--home",
                str(self.home),
                "serve",
                "--insecure-http",
                "--port",
                str(self.port),
                "--checkpoint-interval",
                str(interval),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError(f"node {self.node_id} did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def federation(tmp_path: Path) -> Iterator[list[Node]]:
    nodes: list[Node] = []
    for node_id, cc in NODES:
        home = tmp_path / node_id
        run(home, "init", "--node-id", node_id, "--country", cc, "--agency", f"{node_id} (test)")
        nodes.append(Node(home, node_id))
    for n in nodes:
        for other in nodes:
            if other is n:
                continue
            run(n.home, "witness", "trust", other.log_origin, "--vkey", other.log_vkey)
            run(
                n.home,
                "witness",
                "add",
                other.node_id,
                "--url",
                f"{other.url}/witness",
                "--vkey",
                other.witness_vkey,
            )
    for n in nodes:
        n.start()
    try:
        yield nodes
    finally:
        for n in nodes:
            n.stop()


def add_evidence(node: Node, tmp_path: Path, name: str, content: bytes) -> None:
    f = tmp_path / name
    f.write_bytes(content)
    run(node.home, "case", "open", "--reference", f"C-{name}", "--title", "t")
    run(node.home, "evidence", "add", f"C-{name}", str(f), *ACQ)


def test_cross_witnessing_quorum_and_offline_proof(federation: list[Node], tmp_path: Path) -> None:
    nl, br, jp = federation
    add_evidence(nl, tmp_path, "a.log", b"first evidence")
    res = json.loads(run(nl.home, "log", "checkpoint", "--json").stdout)
    assert res["witnesses"] == {
        "br.policia-federal": "cosigned size 1",
        "jp.central-authority": "cosigned size 1",
    }
    status = json.loads(run(nl.home, "log", "status", "--json").stdout)
    assert status["latest_checkpoint"]["quorum_met"] is True
    assert set(status["latest_checkpoint"]["cosigned_by"]) == {
        "br.policia-federal",
        "jp.central-authority",
    }
    for name, ts in status["latest_checkpoint"]["cosigned_by"].items():
        when = dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()
        assert status["latest_checkpoint"]["cosigned_at"][name] == when
        # people read UTC times, not epoch seconds
        assert f"cosigned by {name} at {when}" in run(nl.home, "log", "status").stdout

    # the log grows; witnesses need a consistency proof from the size they cosigned
    add_evidence(nl, tmp_path, "b.log", b"second evidence")
    add_evidence(nl, tmp_path, "c.log", b"third evidence")
    res = json.loads(run(nl.home, "log", "checkpoint", "--json").stdout)
    assert set(res["witnesses"].values()) == {"cosigned size 3"}

    # each witness remembers the latest checkpoint it cosigned for the origin
    witnessed = json.loads(run(br.home, "witness", "list", "--json").stdout)["witnessed_logs"]
    sizes = {w["origin"]: w["size"] for w in witnessed}
    assert sizes == {nl.log_origin: 3, jp.log_origin: 0}

    history = json.loads(run(nl.home, "evidence", "history", "EV-000001", "--json").stdout)
    [event] = history["events"]
    assert event["ok"] and event["checks"] == {
        "commitment": True,
        "signature": True,
        "inclusion": True,
    }
    assert event["provably_logged_by"] is not None and event["checkpoint_size"] == 1

    out = tmp_path / "proofs"
    run(nl.home, "log", "prove", "EV-000002", "--out", str(out))
    policy = (out / "policy.tlog-policy").read_text()
    assert "quorum partners" in policy and "group partners 2" in policy
    # the court's check needs no node: run it with an unrelated (empty) home
    checked = run(
        tmp_path / "court-has-no-node",
        "log",
        "check",
        str(out / "event-1.tlog-proof"),
        "--event",
        str(out / "event-1.statement"),
        "--policy",
        str(out / "policy.tlog-policy"),
        "--json",
    )
    data = json.loads(checked.stdout)
    assert data["ok"] and data["event"]["type"] == "acquisition"
    assert set(data["cosigned_by"]) == {"br.policia-federal", "jp.central-authority"}
    assert (out / "event-1.leaf").read_bytes() == bytes.fromhex(
        __import__("hashlib")
        .sha256(
            b"rogatory/custody-commitment/v1\x00"
            + bytes.fromhex((out / "event-1.salt").read_text().strip())
            + (out / "event-1.statement").read_bytes()
        )
        .hexdigest()
    )

    # a tampered statement, a policy with a higher quorum, and a wrong index each fail at the named step
    bad = out / "event-1.tampered.statement"
    bad.write_bytes(
        (out / "event-1.statement").read_bytes().replace(b"acquisition", b"acquisitioN", 1)
    )
    (out / "event-1.tampered.salt").write_text((out / "event-1.salt").read_text())
    r = run(
        tmp_path / "court",
        "log",
        "check",
        str(out / "event-1.tlog-proof"),
        "--event",
        str(bad),
        "--policy",
        str(out / "policy.tlog-policy"),
        check=False,
    )
    assert r.returncode == 1 and "step 4 (inclusion proof)" in r.stderr
    strict = out / "strict.tlog-policy"
    strict.write_text(
        policy.replace(
            "quorum partners",
            "witness extra "
            + nl.witness_vkey
            + "\ngroup all3 3 br.policia-federal jp.central-authority extra\nquorum all3",
        )
    )
    r = run(
        tmp_path / "court",
        "log",
        "check",
        str(out / "event-1.tlog-proof"),
        "--event",
        str(out / "event-1.statement"),
        "--policy",
        str(strict),
        check=False,
    )
    assert r.returncode != 0 and "step 3" in r.stderr, r.stderr


def test_witness_down_then_back(federation: list[Node], tmp_path: Path) -> None:
    nl, _br, jp = federation
    add_evidence(nl, tmp_path, "a.log", b"x")
    jp.stop()
    r = run(nl.home, "log", "checkpoint", "--json", check=False)
    assert r.returncode == 1
    assert "jp.central-authority" in r.stderr and "unreachable" in r.stderr
    jp.start()
    res = json.loads(run(nl.home, "log", "checkpoint", "--json").stdout)
    assert res["witnesses"]["jp.central-authority"] == "cosigned size 1"


def _nl_log(nl: Node) -> tuple[CustodyLog, Database]:
    home = NodeHome.open(nl.home)
    db = Database(home.database_url)
    return CustodyLog(
        db, nl.node_id, load_signing_key(home.keys_dir, KeyPurpose.LOG, None), home.path
    ), db


def test_fork_and_replay_are_refused_and_recorded(federation: list[Node], tmp_path: Path) -> None:
    nl, br, _jp = federation
    add_evidence(nl, tmp_path, "a.log", b"a")
    add_evidence(nl, tmp_path, "b.log", b"b")
    run(nl.home, "log", "checkpoint")
    log, db = _nl_log(nl)
    signer = NoteSigner.ed25519(log.origin, log.key)  # type: ignore[arg-type]

    # a fork: same size, another root, validly signed by the log key
    forked = sign_note(Checkpoint(log.origin, 2, bytes(32)).to_text(), [signer])
    r = httpx.post(f"{br.url}/witness/add-checkpoint", content=format_add_checkpoint(2, [], forked))
    assert r.status_code == 422 and "fork" in r.text
    forks = json.loads(run(br.home, "witness", "list", "--json").stdout)["forks"]
    assert (
        len(forks) == 1
        and forks[0]["origin"] == log.origin
        and "same-size-different-root" in forks[0]["detail"]
    )

    # a replayed old checkpoint (size 1 < cosigned size 2): refused with the witness's size
    old_cp = [c for c in log.checkpoints()]
    first = sign_note(
        Checkpoint(log.origin, 1, log.consistency_proof and bytes(32)).to_text(), [signer]
    )
    r = httpx.post(f"{br.url}/witness/add-checkpoint", content=format_add_checkpoint(0, [], first))
    assert r.status_code == 409 and r.text.strip() == "2"
    assert old_cp

    # a checkpoint signed by a key the witness does not trust
    from cryptography.hazmat.primitives.asymmetric import ed25519

    stranger = NoteSigner.ed25519(log.origin, ed25519.Ed25519PrivateKey.generate())
    bogus = sign_note(Checkpoint(log.origin, 3, bytes(32)).to_text(), [stranger])
    r = httpx.post(f"{br.url}/witness/add-checkpoint", content=format_add_checkpoint(2, [], bogus))
    assert r.status_code == 403
    db.close()


def test_restore_from_old_backup_is_detected_and_refuses_appends(
    federation: list[Node], tmp_path: Path
) -> None:
    nl, _br, _jp = federation
    add_evidence(nl, tmp_path, "a.log", b"a")
    run(nl.home, "log", "checkpoint")
    backup = tmp_path / "nl-backup.sqlite3"
    run(nl.home, "backup", "--out", str(backup))
    add_evidence(nl, tmp_path, "b.log", b"b")
    add_evidence(nl, tmp_path, "c.log", b"c")
    run(nl.home, "log", "checkpoint")
    # a disaster: the database is restored from the older backup, and the head file with it
    run(nl.home, "restore", str(backup), "--yes")
    (nl.home / "custody-head").unlink(missing_ok=True)
    r = run(nl.home, "log", "checkpoint", check=False)
    assert r.returncode == 1 and "restored from an older backup" in r.stderr
    f = tmp_path / "d.log"
    f.write_bytes(b"d")
    r = run(nl.home, "evidence", "add", "C-a.log", str(f), *ACQ, check=False)
    assert r.returncode == 1 and "refuses appends" in r.stderr
    status = json.loads(run(nl.home, "log", "status", "--json").stdout)
    assert "older backup" in status["frozen"]


def test_checkpoint_clock_publishes_and_collects_cosignatures(
    federation: list[Node], tmp_path: Path
) -> None:
    nl, _br, _jp = federation
    nl.stop()
    nl.start(interval=1)
    add_evidence(nl, tmp_path, "a.log", b"clocked")
    deadline = time.monotonic() + 30
    status: dict = {}
    while time.monotonic() < deadline:
        status = json.loads(run(nl.home, "log", "status", "--json").stdout)
        cp = status["latest_checkpoint"]
        if cp and cp["size"] == 1 and cp["quorum_met"]:
            break
        time.sleep(0.5)
    assert status["latest_checkpoint"]["quorum_met"], status
    events = json.loads(run(nl.home, "log", "verify", "--events", "--json").stdout)["events"]
    assert events[0]["provably_logged_by"] is not None and events[0]["checkpoint_size"] == 1

    # an idle log is not re-checkpointed and its witnesses are not asked again
    def br_state() -> list[dict]:
        return json.loads(run(_br.home, "witness", "list", "--json").stdout)["witnessed_logs"]

    before = br_state()
    time.sleep(3)
    assert br_state() == before
    from rogatory.store.schema import LogCheckpointRow

    home = NodeHome.open(nl.home)
    db = Database(home.database_url)
    with db.session() as s:
        assert max(c.size for c in s.query(LogCheckpointRow)) == 1
    db.close()
