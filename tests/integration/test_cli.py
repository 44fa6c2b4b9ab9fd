"""CLI conventions: --help with an example, --json, one-line errors, exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ACQ

COMMANDS = [
    ["init"],
    ["node", "show"],
    ["case", "open"],
    ["case", "list"],
    ["case", "show"],
    ["evidence", "add"],
    ["evidence", "list"],
    ["evidence", "show"],
    ["evidence", "verify"],
    ["evidence", "manifest"],
    ["demo"],
    ["serve"],
    ["verify"],
    ["backup"],
    ["restore"],
    ["node", "card"],
    ["evidence", "history"],
    ["log", "status"],
    ["log", "checkpoint"],
    ["log", "verify"],
    ["log", "policy"],
    ["log", "prove"],
    ["log", "check"],
    ["log", "erase"],
    ["log", "rotate-key"],
    ["witness", "add"],
    ["witness", "trust"],
    ["witness", "list"],
    ["package", "create"],
    ["package", "import"],
    ["package", "reissue"],
]
REPORTS_WITHOUT_JSON = {("serve",)}


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example(cli, command: list[str]) -> None:
    r = cli(*command, "--help")
    assert r.code == 0
    assert "Example: rogatory" in r.stdout
    if tuple(command) not in REPORTS_WITHOUT_JSON:
        assert "--json" in r.stdout, "everything that reports has --json"


@pytest.fixture
def node(cli, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    assert (
        cli(
            "--home", str(home), "init", "--node-id", "nl.test", "--country", "NL", "--agency", "T"
        ).code
        == 0
    )
    assert (
        cli(
            "--home",
            str(home),
            "case",
            "open",
            "--reference",
            "C-1",
            "--title",
            "T",
            "--offence",
            "BC-8",
        ).code
        == 0
    )
    return home


def test_json_everywhere(cli, node: Path, tmp_path: Path) -> None:
    f = tmp_path / "e.txt"
    f.write_text("evidence")
    h = ["--home", str(node)]
    added = json.loads(cli(*h, "evidence", "add", "C-1", str(f), *ACQ, "--json").stdout)
    assert added["ok"] and added["items"][0]["item"] == "EV-000001"
    assert json.loads(cli(*h, "case", "list", "--json").stdout)[0]["evidence_items"] == 1
    assert json.loads(cli(*h, "case", "show", "C-1", "--json").stdout)["offences"] == ["BC-8"]
    listed = json.loads(cli(*h, "evidence", "list", "C-1", "--json").stdout)
    assert listed["items"][0]["sha256"] == added["items"][0]["digests"]["sha256"]
    shown = json.loads(cli(*h, "evidence", "show", "EV-000001", "--json").stdout)
    assert shown["acquisition"]["tool"] == "pytest 8"
    assert json.loads(cli(*h, "evidence", "verify", "C-1", "--json").stdout)["ok"] is True
    history = json.loads(cli(*h, "evidence", "history", "EV-000001", "--json").stdout)["events"]
    assert [e["event"]["type"] for e in history] == ["acquisition", "verification"]
    assert history[1]["event"]["previous"] == history[0]["index"]
    assert history[1]["event"]["details"]["result"] == "ok"
    assert json.loads(cli(*h, "node", "show", "--json").stdout)["node_id"] == "nl.test"


def test_missing_acquisition_fields_one_line_error(cli, node: Path, tmp_path: Path) -> None:
    f = tmp_path / "e.txt"
    f.write_text("x")
    r = cli("--home", str(node), "evidence", "add", "C-1", str(f), "--acquired-by", "me")
    assert r.code == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: the acquisition record lacks --location")
    assert "Traceback" not in r.stderr


def test_failed_item_exits_non_zero_and_says_so(cli, node: Path, tmp_path: Path) -> None:
    r = cli("--home", str(node), "evidence", "add", "C-1", str(tmp_path / "missing"), *ACQ)
    assert r.code == 1
    assert "no such file or directory" in r.stderr
    assert "1 of 1 items failed and were not recorded" in r.stderr


def test_bad_expect_value(cli, node: Path, tmp_path: Path) -> None:
    f = tmp_path / "e.txt"
    f.write_text("x")
    r = cli("--home", str(node), "evidence", "add", "C-1", str(f), *ACQ, "--expect-sha256", "abc")
    assert r.code == 2 and "64-digit hex" in r.stderr


def test_verify_exit_code_and_manifest_with_coreutils(cli, node: Path, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("a")
    (tree / "sub" / "back\\slash.txt").write_text("b")
    h = ["--home", str(node)]
    assert cli(*h, "evidence", "add", "C-1", str(tree), *ACQ).code == 0
    for alg in ("sha256", "md5", "sha1"):
        man = tmp_path / f"m.{alg}"
        assert (
            cli(*h, "evidence", "manifest", "C-1", "--algorithm", alg, "--out", str(man)).code == 0
        )
        if shutil.which(f"{alg}sum"):
            res = subprocess.run(
                [f"{alg}sum", "-c", "--strict", str(man)], capture_output=True, text=True
            )
            assert res.returncode == 0, res.stdout + res.stderr
    store_man = cli(*h, "evidence", "manifest", "C-1", "--paths", "store").stdout
    blob = Path(store_man.splitlines()[0].split("  ", 1)[1])
    blob.chmod(0o644)
    blob.write_text("tampered")
    r = cli(*h, "evidence", "verify", "C-1")
    assert r.code == 1
    assert "MISMATCH" in r.stdout
    assert "1 file(s) of the evidence no longer match their recorded hashes" in r.stderr


def test_unknown_item_and_case(cli, node: Path) -> None:
    r = cli("--home", str(node), "evidence", "show", "EV-000099")
    assert r.code == 1 and "no evidence item EV-000099" in r.stderr
    r = cli("--home", str(node), "evidence", "list", "NOPE")
    assert r.code == 1 and "no case 'NOPE'" in r.stderr
    r = cli("--home", str(node), "evidence", "show", "banana")
    assert r.code == 2 and "EV-000042" in r.stderr


def test_debug_shows_traceback(node: Path) -> None:
    env = {**os.environ, "ROGATORY_HOME": str(node)}
    plain = subprocess.run(
        [sys.executable, "-m", "rogatory", "case", "show", "X"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert plain.returncode == 1 and "Traceback" not in plain.stderr
    debug = subprocess.run(
        [sys.executable, "-m", "rogatory", "--debug", "case", "show", "X"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_interrupted_intake_is_reported_by_list(cli, node: Path) -> None:
    import datetime as dt

    from rogatory.node.home import NodeHome
    from rogatory.store.database import Database
    from rogatory.store.schema import IntakeRunRow

    db = Database(NodeHome.open(node).database_url)
    with db.session() as s:
        s.add(
            IntakeRunRow(
                case_id=1,
                paths=["/evidence/disk.raw"],
                status="running",
                host=os.uname().nodename,
                pid=2**22 + 12345,
                started_at=dt.datetime.now(dt.UTC),
                item_ids=[],
            )
        )
    db.close()
    r = cli("--home", str(node), "evidence", "list", "C-1")
    assert "interrupted intake into C-1, not recorded: /evidence/disk.raw" in r.stderr
    assert (
        cli("--home", str(node), "case", "open", "--reference", "C-2", "--title", "other").code == 0
    )
    r = cli("--home", str(node), "evidence", "list", "C-2")
    assert "interrupted" not in r.stderr, "another case's interrupted intake is not reported here"


def test_store_and_record_tampering_found_by_verify(cli, node: Path, tmp_path: Path) -> None:
    """A damaged blob is repaired by a new intake of the same bytes; a symlinked blob and a
    database record pointed at another blob are both caught by verify."""
    from sqlalchemy import update

    from rogatory.node.home import NodeHome
    from rogatory.store.database import Database
    from rogatory.store.schema import EvidenceFileRow, EvidenceItemRow

    h = ["--home", str(node)]
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("alpha evidence")
    b.write_text("bravo evidence")
    assert cli(*h, "evidence", "add", "C-1", str(a), str(b), *ACQ).code == 0
    blobs = cli(*h, "evidence", "manifest", "C-1", "--paths", "store").stdout.splitlines()
    blob_a = Path(blobs[0].split("  ", 1)[1])
    blob_a.chmod(0o644)
    blob_a.write_text("damaged")
    copy = tmp_path / "copy-of-a.txt"
    copy.write_text("alpha evidence")
    assert cli(*h, "evidence", "add", "C-1", str(copy), *ACQ).code == 0
    assert blob_a.read_text() == "alpha evidence", "the intact bytes replace a damaged blob"
    assert cli(*h, "evidence", "verify", "C-1").code == 0

    outside = tmp_path / "outside"
    outside.write_text("alpha evidence")
    blob_a.chmod(0o644)
    blob_a.unlink()
    blob_a.symlink_to(outside)
    r = cli(*h, "evidence", "verify", "EV-000001")
    assert r.code == 1 and "symbolic link" in r.stdout
    blob_a.unlink()
    blob_a.write_text("alpha evidence")

    db = Database(NodeHome.open(node).database_url)
    with db.session() as s:
        item_b = s.get(EvidenceItemRow, 2)
        assert item_b is not None
        good = item_b.sha256
        item_a = s.get(EvidenceItemRow, 1)
        assert item_a is not None
        # point EV-000002's record at EV-000001's bytes (all digests), as an insider editing the database
        for col in ("sha256", "sha1", "md5"):
            setattr(item_b, col, getattr(item_a, col))
        s.execute(
            update(EvidenceFileRow)
            .where(EvidenceFileRow.item_id == 2)
            .values(sha256=item_a.sha256, sha1=item_a.sha1, md5=item_a.md5)
        )
    db.close()
    r = cli(*h, "evidence", "verify", "EV-000002")
    assert r.code == 1 and "RECORD" in r.stdout and "database record was altered" in r.stdout
    assert good


def test_bad_inputs_give_one_line_errors(cli, node: Path, tmp_path: Path) -> None:
    h = ["--home", str(node)]
    r = cli(*h, "evidence", "add", "C-1", "", *ACQ)
    assert r.code == 2 and "empty path" in r.stderr
    r = cli(*h, "evidence", "manifest", "C-1", "--out", str(tmp_path))
    assert r.code == 2 and "is a directory" in r.stderr
    r = cli(*h, "evidence", "manifest", "C-1", "--out", str(tmp_path / "missing" / "m.sha256"))
    assert r.code == 2 and "cannot write" in r.stderr
    f = tmp_path / "f"
    f.write_text("x")
    r = cli(*h, "evidence", "add", "C-1", str(f), *ACQ, "--acquired-at", "0001-01-01T00:00+14:00")
    assert r.code == 2 and "out of range" in r.stderr
    cfg = node / "config.toml"
    saved = cfg.read_bytes()
    cfg.write_bytes(bytes(range(256)))
    r = cli(*h, "case", "list")
    assert r.code == 1 and "cannot read" in r.stderr and "internal error" not in r.stderr
    cfg.write_bytes(saved.replace(b'"md5"', b'"sha512"'))
    r = cli(*h, "case", "list")
    assert r.code == 1 and "config.toml" in r.stderr and "sha512" in r.stderr
    cfg.write_bytes(saved)


@pytest.mark.parametrize(
    "argv, missing",
    [
        (["verify", "--identity", "k", "--trust", "c"], "PACKAGE"),
        (["package", "import", "--trust", "c"], "PACKAGE"),
        (["package", "reissue", "--trust", "c", "--to", "x", "--out", "o"], "PACKAGE"),
        (["evidence", "history"], "ITEM"),
        (["package", "send", "--to", "p"], "PACKAGE"),
        (["peer", "add", "--fingerprint", "x"], "CARD_FILE"),
        (["case", "show"], "REFERENCE"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else v,
)
def test_a_missing_argument_is_named_not_an_internal_error(
    cli, argv: list[str], missing: str
) -> None:
    r = cli(*argv)
    assert r.code == 2, r.stderr
    assert f"Missing argument '{missing}'" in r.stderr and "internal error" not in r.stderr


def test_suggested_commands_carry_the_chosen_home(cli, tmp_path: Path) -> None:
    home = tmp_path / "nl"
    r = cli("--home", str(home), "init", "--node-id", "nl.x", "--country", "NL", "--agency", "X")
    assert r.code == 0, r.stderr
    r = cli(
        "--home", str(home), "package", "create", "NOPE", "--item", "EV-000001",
        "--to", "age1x", "--out", str(tmp_path / "x"),
    )  # fmt: skip
    assert r.code == 2
    assert f"rogatory --home {home} peer list" in " ".join(r.stderr.split()), r.stderr


def test_a_node_card_printed_to_stdout_is_the_exact_json(cli, tmp_path: Path) -> None:
    home = tmp_path / "jp"
    assert (
        cli(
            "--home", str(home), "init", "--node-id", "jp.x", "--country", "JP", "--agency", "J"
        ).code
        == 0
    )
    r = cli("--home", str(home), "node", "card")
    assert r.code == 0, r.stderr
    card = json.loads(r.stdout)  # long lines (the TLS certificate) are not wrapped
    assert card["node_id"] == "jp.x" and "BEGIN CERTIFICATE" in card["keys"]["tls_certificate"]


def test_an_error_with_json_is_a_json_object_on_stdout(cli, tmp_path: Path) -> None:
    r = cli("verify", str(tmp_path / "none.rogpkg"), "--identity", "k", "--trust", "c", "--json")
    assert r.code == 2
    doc = json.loads(r.stdout)
    assert doc["ok"] is False and "no package file" in doc["error"] and doc["exit_code"] == 2
    r = cli("--home", str(tmp_path / "h"), "package", "import", str(tmp_path / "none"), "--json")
    assert r.code == 2 and json.loads(r.stdout)["ok"] is False


def test_ctrl_c_during_an_intake_is_listed_as_interrupted_and_finished_by_a_rerun(
    cli, node: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rogatory.evidence.intake as intake

    f = tmp_path / "disk.raw"
    f.write_bytes(os.urandom(100_000))
    real = intake._read_ewf

    def ctrl_c(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(intake, "_read_ewf", ctrl_c)
    r = cli("--home", str(node), "evidence", "add", "C-1", str(f), *ACQ)
    assert r.code == 130 and "interrupted" in r.stderr
    listed = json.loads(cli("--home", str(node), "evidence", "list", "C-1", "--json").stdout)
    assert listed["items"] == [] and any(str(f) in p for p in listed["interrupted_intakes"])
    monkeypatch.setattr(intake, "_read_ewf", real)
    assert cli("--home", str(node), "evidence", "add", "C-1", str(f), *ACQ).code == 0
    listed = json.loads(cli("--home", str(node), "evidence", "list", "C-1", "--json").stdout)
    assert len(listed["items"]) == 1 and listed["interrupted_intakes"] == []
