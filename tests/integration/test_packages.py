"""Evidence packages: create, verify offline, import; standard tools; every kind of bad package."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyrage
import pytest

from rogatory.custody.events import canonical_json
from rogatory.custody.note import NoteSigner, sign_note
from rogatory.node.home import NodeHome
from rogatory.node.keys import KeyPurpose, load_age_identity, load_signing_key
from rogatory.package import layout
from rogatory.package.card import message_key_name
from rogatory.store.database import Database
from rogatory.store.schema import EvidenceItemRow
from tests.conftest import ACQ


@dataclass
class Setup:
    nl: Path
    jp: Path
    nl_card: Path
    jp_card: Path
    package: Path
    court_key: Path
    tmp: Path


@pytest.fixture
def setup(cli, tmp_path: Path) -> Setup:
    nl, jp = tmp_path / "nl", tmp_path / "jp"
    assert (
        cli(
            "--home",
            str(nl),
            "init",
            "--node-id",
            "nl.police-cybercrime",
            "--country",
            "NL",
            "--agency",
            "Politie",
        ).code
        == 0
    )
    assert (
        cli(
            "--home",
            str(jp),
            "init",
            "--node-id",
            "jp.central-authority",
            "--country",
            "JP",
            "--agency",
            "MoJ",
        ).code
        == 0
    )
    ev = tmp_path / "evidence"
    (ev / "logs").mkdir(parents=True)
    (ev / "logs" / "auth.log").write_bytes(
        b"sshd: accepted password for backup from 203.0.113.77\n" * 500
    )
    (ev / "note.txt").write_text("ransom note ímynd 東京")
    big = tmp_path / "disk.raw"
    big.write_bytes(bytes(range(256)) * 40_000)  # ~10 MB, several age chunks
    assert (
        cli(
            "--home",
            str(nl),
            "case",
            "open",
            "--reference",
            "NL-1",
            "--title",
            "Ransomware",
            "--tlp",
            "AMBER",
        ).code
        == 0
    )
    r = cli("--home", str(nl), "evidence", "add", "NL-1", str(ev), str(big), *ACQ)
    assert r.code == 0, r.stderr
    nl_card, jp_card = tmp_path / "nl.card.json", tmp_path / "jp.card.json"
    assert cli("--home", str(nl), "node", "card", "--out", str(nl_card)).code == 0
    assert cli("--home", str(jp), "node", "card", "--out", str(jp_card)).code == 0
    package = tmp_path / "nl-to-jp.rogpkg"
    r = cli(
        "--home",
        str(nl),
        "package",
        "create",
        "NL-1",
        "--item",
        "EV-000001",
        "--item",
        "EV-000002",
        "--to",
        str(jp_card),
        "--out",
        str(package),
        "--json",
    )
    assert r.code == 0, r.stderr
    created = json.loads(r.stdout)
    assert created["sha256"] == hashlib.sha256(package.read_bytes()).hexdigest()
    assert created["size"] == package.stat().st_size
    court_key = tmp_path / "court.key"
    court_key.write_text(str(pyrage.x25519.Identity.generate()) + "\n")
    return Setup(nl, jp, nl_card, jp_card, package, court_key, tmp_path)


def jp_identity_file(s: Setup) -> Path:
    path = s.tmp / "jp-age.key"
    path.write_text(str(load_age_identity(s.jp / "keys", None)) + "\n")
    return path


def items_in_store(home: Path) -> int:
    db = Database(NodeHome.open(home).database_url)
    with db.session() as sess:
        n = sess.query(EvidenceItemRow).count()
    db.close()
    return n


def test_create_verify_import_and_history(cli, setup: Setup) -> None:
    s = setup
    fp = json.loads(cli("--home", str(s.nl), "node", "card", "--json").stdout)["fingerprint"]
    report_dir = s.tmp / "report"
    r = cli(
        "verify",
        str(s.package),
        "--identity",
        str(jp_identity_file(s)),
        "--trust",
        str(s.nl_card),
        "--fingerprint",
        fp,
        "--report",
        str(report_dir),
        "--json",
    )
    assert r.code == 0, r.stdout + r.stderr
    report = json.loads(r.stdout)
    assert report["ok"] and "was confirmed out of band" in report["trust_basis"]
    assert [i["item_id"] for i in report["items"]] == ["EV-000001", "EV-000002"]
    assert [e["event_type"] for e in report["items"][0]["custody"]] == ["acquisition", "export"]
    assert (report_dir / "verification-report.html").exists() and (
        report_dir / "verification-report.pdf"
    ).exists()

    custody_only = json.loads(
        cli(
            "verify",
            str(s.package),
            "--identity",
            str(jp_identity_file(s)),
            "--trust",
            str(s.nl_card),
            "--custody-only",
            "--json",
        ).stdout
    )
    assert custody_only["ok"] and custody_only["custody_only"]
    assert not any(
        c["name"].startswith("bytes of") for i in custody_only["items"] for c in i["checks"]
    )

    r = cli(
        "--home",
        str(s.jp),
        "package",
        "import",
        str(s.package),
        "--trust",
        str(s.nl_card),
        "--json",
    )
    assert r.code == 0, r.stderr
    imported = json.loads(r.stdout)
    assert imported["case"] == "NL-1" and set(imported["items"]) == {"EV-000001", "EV-000002"}
    assert cli("--home", str(s.jp), "evidence", "verify", "NL-1").code == 0
    hist = json.loads(
        cli(
            "--home", str(s.jp), "evidence", "history", imported["items"]["EV-000002"], "--json"
        ).stdout
    )
    assert [f["event"]["type"] for f in hist["foreign_events"]] == ["acquisition", "export"]
    assert all(f["ok"] for f in hist["foreign_events"])
    assert [e["event"]["type"] for e in hist["events"]] == ["receipt", "verification"]
    r = cli("--home", str(s.jp), "package", "import", str(s.package), "--trust", str(s.nl_card))
    assert r.code == 1 and "imported before" in r.stderr


@pytest.mark.skipif(
    shutil.which("age") is None or shutil.which("sha256sum") is None,
    reason="the standard age tool is not installed (Debian package 'age'); .ci/run installs it",
)
def test_standard_tools_can_check_a_package(setup: Setup) -> None:
    s = setup
    key = jp_identity_file(s)
    if shutil.which("unzip"):  # members carry data descriptors: Info-ZIP reads them too
        res = subprocess.run(["unzip", "-tq", str(s.package)], capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr
    out = s.tmp / "unzipped"
    with zipfile.ZipFile(s.package) as zf:
        zf.extractall(out)
    subprocess.run(
        ["age", "-d", "-i", str(key), "-o", str(out / "SHA256SUMS"), str(out / "SHA256SUMS.age")],
        check=True,
    )
    for enc in sorted((out / "payload").glob("*.age")):
        subprocess.run(
            ["age", "-d", "-i", str(key), "-o", str(enc.with_suffix("")), str(enc)], check=True
        )
    res = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=out, capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.count(": OK") == 3, res.stdout + res.stderr
    tar = subprocess.run(
        ["age", "-d", "-i", str(key), str(out / "custody.tar.age")], capture_output=True, check=True
    ).stdout
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        names = t.getnames()
    assert (
        "policy.tlog-policy" in names and "event-0.tlog-proof" in names and "event-0.leaf" in names
    )
    # the tlog-proof files verify with the C2SP proof rules from the .leaf file and the policy alone
    from rogatory.custody.policy import Policy
    from rogatory.custody.tlogproof import TlogProof, check_proof

    with tarfile.open(fileobj=io.BytesIO(tar)) as t:

        def read(name: str) -> bytes:
            f = t.extractfile(name)
            assert f is not None
            return f.read()

        policy = Policy.parse(read("policy.tlog-policy").decode())
        checked = check_proof(
            TlogProof.unmarshal(read("event-0.tlog-proof")), read("event-0.leaf"), policy
        )
    assert checked.index == 0


# ------------------------------------------------------------ bad packages


def standard_members(manifest: dict[str, Any]) -> dict[str, bytes]:
    """SHA256SUMS and custody.tar (plaintext) as create writes them for ``manifest``."""
    import io
    import tarfile

    from rogatory.custody.events import commitment

    sums = [
        f"{f['sha256']}  {f['payload'].removesuffix('.age')}"
        for it in manifest["items"]
        for f in it["files"]
        if f["payload"]
    ]
    files = {"policy.tlog-policy": manifest["policy"].encode()}
    for it in manifest["items"]:
        for ev in it["custody"]["events"]:
            stem, salt = f"event-{ev['index']}", bytes.fromhex(ev["salt"])
            statement = base64.b64decode(ev["statement"])
            files[f"{stem}.statement"] = statement
            files[f"{stem}.salt"] = (salt.hex() + "\n").encode()
            files[f"{stem}.leaf"] = commitment(salt, statement)
            files[f"{stem}.tlog-proof"] = base64.b64decode(ev["tlog_proof"])
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return {layout.SUMS: ("\n".join(sums) + "\n").encode(), layout.CUSTODY: buf.getvalue()}


def rebuild(
    s: Setup,
    out: Path,
    *,
    edit_manifest: Any = None,
    signer_key: Any = None,
    extra_members: dict[str, tuple[bytes, int]] | None = None,
    drop: str | None = None,
    replace: dict[str, bytes] | None = None,
) -> Path:
    """Copy the package, optionally re-signing an edited manifest (as an insider with the sender's key)."""
    jp_ident = load_age_identity(s.jp / "keys", None)
    recipient = jp_ident.to_public()
    edited: dict[str, Any] | None = None
    with zipfile.ZipFile(s.package) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            if info.filename == drop:
                continue
            data = src.read(info.filename)
            if replace and info.filename in replace:
                data = replace[info.filename]
            elif edited is not None and info.filename in (layout.SUMS, layout.CUSTODY):
                # an insider who re-signs the manifest keeps the standard-tools members in step
                data = pyrage.encrypt(standard_members(edited)[info.filename], [recipient])
            if info.filename == layout.ENVELOPE and (edit_manifest or signer_key):
                note = pyrage.decrypt(data, [jp_ident])
                manifest = json.loads(note.decode().split("\n\n")[0])
                if edit_manifest:
                    edit_manifest(manifest)
                    edited = manifest
                key = signer_key or load_signing_key(s.nl / "keys", KeyPurpose.MESSAGE, None)
                signed = sign_note(
                    canonical_json(manifest).decode() + "\n",
                    [NoteSigner.ed25519(message_key_name("nl.police-cybercrime"), key)],
                )
                data = pyrage.encrypt(signed, [recipient])
            dst.writestr(info.filename, data)
        for name, (data, compress) in (extra_members or {}).items():
            dst.writestr(zipfile.ZipInfo(name), data, compress_type=compress)
    return out


def import_fails(cli, s: Setup, package: Path, *needles: str, trust: Path | None = None) -> None:
    before = items_in_store(s.jp)
    r = cli(
        "--home", str(s.jp), "package", "import", str(package), "--trust", str(trust or s.nl_card)
    )
    assert r.code != 0, r.stdout
    for n in needles:
        assert n in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert items_in_store(s.jp) == before, "nothing from a failed package enters the store"
    assert not list((s.jp / "blobs" / "tmp").glob("rogatory-staging-*")), (
        "no staged plaintext is left behind"
    )


def test_tampered_payload_is_refused(cli, setup: Setup) -> None:
    with zipfile.ZipFile(setup.package) as zf:
        data = bytearray(zf.read("payload/000002.age"))
    data[len(data) // 2] ^= 0x01
    bad = rebuild(setup, setup.tmp / "bad.rogpkg", replace={"payload/000002.age": bytes(data)})
    import_fails(cli, setup, bad, "does not decrypt intact")


def test_truncated_payload_is_refused(cli, setup: Setup) -> None:
    with zipfile.ZipFile(setup.package) as zf:
        data = zf.read("payload/000002.age")
    bad = rebuild(
        setup, setup.tmp / "bad.rogpkg", replace={"payload/000002.age": data[: len(data) - 70_000]}
    )
    import_fails(cli, setup, bad, "does not decrypt intact")


def test_payload_longer_than_the_manifest_says_is_refused(cli, setup: Setup) -> None:
    def shrink(m: dict) -> None:
        big = next(f for it in m["items"] for f in it["files"] if f["size"] > 1_000_000)
        big["size"] = big["size"] - (2 << 20)

    bad = rebuild(setup, setup.tmp / "bad.rogpkg", edit_manifest=shrink)
    import_fails(cli, setup, bad, "more bytes than the signed manifest states")


def test_verify_alone_writes_no_plaintext(setup: Setup) -> None:
    from rogatory.package.card import load_trust
    from rogatory.package.verify import verify_package

    parent = setup.tmp / "staging-parent"
    parent.mkdir()
    result = verify_package(
        setup.package,
        load_age_identity(setup.jp / "keys", None),
        load_trust(setup.nl_card, None),
        staging_parent=parent,
    )
    assert result.report.ok and result.staging is None and not result.staged
    assert not list(parent.iterdir())
    assert result.report.package_sha256 == hashlib.sha256(setup.package.read_bytes()).hexdigest()


def test_truncated_package_file_is_refused(cli, setup: Setup) -> None:
    bad = setup.tmp / "cut.rogpkg"
    bad.write_bytes(setup.package.read_bytes()[: setup.package.stat().st_size // 2])
    import_fails(cli, setup, bad, "truncated")


def test_tampered_manifest_breaks_the_signature(cli, setup: Setup) -> None:
    jp_ident = load_age_identity(setup.jp / "keys", None)
    with zipfile.ZipFile(setup.package) as zf:
        note = pyrage.decrypt(zf.read(layout.ENVELOPE), [jp_ident])
    forged = note.replace(b'"acquired_by":"Insp. Test, NL police"', b'"acquired_by":"Someone Else"')
    assert forged != note
    bad = rebuild(
        setup,
        setup.tmp / "bad.rogpkg",
        replace={layout.ENVELOPE: pyrage.encrypt(forged, [jp_ident.to_public()])},
    )
    import_fails(cli, setup, bad, "manifest signature")


def test_altered_envelope_bytes_are_named_as_damage_not_another_key(cli, setup: Setup) -> None:
    with zipfile.ZipFile(setup.package) as zf:
        data = bytearray(zf.read(layout.ENVELOPE))
    data[-40] ^= 0x01  # inside the last STREAM chunk: age's tag no longer matches
    bad = rebuild(setup, setup.tmp / "bad.rogpkg", replace={layout.ENVELOPE: bytes(data)})
    import_fails(
        cli, setup, bad, "manifest envelope is damaged or was altered", "check: decryption"
    )


def test_package_for_another_recipient(cli, setup: Setup) -> None:
    r = cli(
        "verify",
        str(setup.package),
        "--identity",
        str(setup.court_key),
        "--trust",
        str(setup.nl_card),
    )
    assert r.code == 2 and "not addressed to your key" in r.stderr


def test_signature_by_an_untrusted_key(cli, setup: Setup) -> None:
    import_fails(
        cli,
        setup,
        setup.package,
        "manifest signature",
        "NOT signed by the trusted key",
        "give nl.police-cybercrime's node card with --trust",  # names the card to use
        trust=setup.jp_card,
    )


def test_verify_with_the_wrong_card_names_the_card_to_use(cli, setup: Setup) -> None:
    r = cli(
        "verify",
        str(setup.package),
        "--identity",
        str(jp_identity_file(setup)),
        "--trust",
        str(setup.jp_card),
    )
    assert r.code != 0 and "Traceback" not in r.stderr
    assert "give nl.police-cybercrime's node card with --trust" in r.stderr
    assert "ask the sender for a new package" not in r.stderr  # the package is fine


def test_altered_card_is_refused(cli, setup: Setup) -> None:
    card = json.loads(setup.nl_card.read_text())
    card["policy"] = card["policy"].replace("quorum none", "quorum 0")
    forged = setup.tmp / "forged.card.json"
    forged.write_text(json.dumps(card))
    import_fails(cli, setup, setup.package, "not signed by its own message key", trust=forged)


def test_wrong_fingerprint_is_refused(cli, setup: Setup) -> None:
    r = cli(
        "verify",
        str(setup.package),
        "--identity",
        str(jp_identity_file(setup)),
        "--trust",
        str(setup.nl_card),
        "--fingerprint",
        "0000 0000 0000 0000 0000 0000 0000 0000 0000 0000",
    )
    assert r.code == 2 and "differs from the one you confirmed" in r.stderr


def test_path_traversal_member_is_refused(cli, setup: Setup) -> None:
    bad = rebuild(
        setup,
        setup.tmp / "bad.rogpkg",
        extra_members={"../../etc/cron.d/evil": (b"x", zipfile.ZIP_STORED)},
    )
    import_fails(cli, setup, bad, "unexpected member '../../etc/cron.d/evil'")
    bad2 = rebuild(
        setup, setup.tmp / "bad2.rogpkg", extra_members={"/abs/path": (b"x", zipfile.ZIP_STORED)}
    )
    import_fails(cli, setup, bad2, "unexpected member")


def test_absolute_or_parent_paths_in_the_manifest_are_refused(cli, setup: Setup) -> None:
    def evil(m: dict) -> None:
        m["items"][0]["files"][-1]["path"] = "../../../home/user/.bashrc"

    bad = rebuild(setup, setup.tmp / "bad.rogpkg", edit_manifest=evil)
    import_fails(cli, setup, bad, "could escape its folder")


def test_decompression_bomb_is_refused(cli, setup: Setup) -> None:
    bomb = bytes(50 << 20)  # 50 MiB of zeros deflates to ~50 KB
    bad = rebuild(
        setup,
        setup.tmp / "bomb.rogpkg",
        drop="payload/000000.age",
        extra_members={"payload/000000.age": (bomb, zipfile.ZIP_DEFLATED)},
    )
    assert bad.stat().st_size < 1_000_000 + setup.package.stat().st_size
    import_fails(cli, setup, bad, "decompression bomb")


def test_proof_that_does_not_match_its_checkpoint(cli, setup: Setup) -> None:
    def swap_proof(m: dict) -> None:
        ev = m["items"][0]["custody"]["events"]
        proof = base64.b64decode(ev[0]["tlog_proof"]).decode()
        head, rest = proof.split("\nindex ", 1)
        index, tail = rest.split("\n", 1)
        ev[0]["tlog_proof"] = base64.b64encode(
            f"{head}\nindex {int(index) + 1}\n{tail}".encode()
        ).decode()

    bad = rebuild(setup, setup.tmp / "bad.rogpkg", edit_manifest=swap_proof)
    import_fails(cli, setup, bad, "step 4 (inclusion proof)")


def test_witness_quorum_not_met(cli, setup: Setup) -> None:
    card = json.loads(setup.nl_card.read_text())
    jp_witness = json.loads(setup.jp_card.read_text())["keys"]["witness"]
    card["policy"] = card["policy"].replace("quorum none", f"witness jp {jp_witness}\nquorum jp")
    # the sender itself publishes a stricter policy: its card is signed again by its message key
    import base64

    from rogatory.node.keys import KeyPurpose, load_signing_key
    from rogatory.package.card import card_body

    key = load_signing_key(setup.nl / "keys", KeyPurpose.MESSAGE, None)
    card["signatures"] = [
        {
            "vkey": card["keys"]["message"],
            "signature": base64.b64encode(key.sign(card_body(card))).decode(),
        }
    ]
    strict = setup.tmp / "nl-strict.card.json"
    strict.write_text(json.dumps(card))
    import_fails(cli, setup, setup.package, "step 3 (witness cosignatures)", trust=strict)


def test_reissue_to_a_court_keeps_the_senders_signatures(cli, setup: Setup) -> None:
    s = setup
    court_pub = s.tmp / "court.pub"
    court_pub.write_text(
        str(pyrage.x25519.Identity.from_str(s.court_key.read_text().strip()).to_public()) + "\n"
    )
    reissued = s.tmp / "for-court.rogpkg"
    r = cli(
        "--home",
        str(s.jp),
        "package",
        "reissue",
        str(s.package),
        "--trust",
        str(s.nl_card),
        "--to",
        str(court_pub),
        "--out",
        str(reissued),
        "--json",
    )
    assert r.code == 0, r.stderr
    # the court holds only the two node cards and its own key: no node, no network
    r = cli(
        "verify",
        str(reissued),
        "--identity",
        str(s.court_key),
        "--trust",
        str(s.nl_card),
        "--trust",
        str(s.jp_card),
        "--json",
    )
    assert r.code == 0, r.stdout + r.stderr
    report = json.loads(r.stdout)
    assert report["ok"]
    assert any(c["name"] == "reissue statement" and c["ok"] for c in report["checks"])
    assert [e["event_type"] for e in report["items"][0]["custody"]] == [
        "acquisition",
        "export",
        "disclosure",
    ]
    assert report["items"][0]["custody"][2]["origin"] == "rogatory/jp.central-authority/custody"
    # without the reissuer's card the reissue cannot be trusted
    r = cli("verify", str(reissued), "--identity", str(s.court_key), "--trust", str(s.nl_card))
    assert r.code == 1 and "whose node card was not given" in r.stderr
    # the original recipient cannot open the reissued package, the court cannot open the original
    r = cli("verify", str(s.package), "--identity", str(s.court_key), "--trust", str(s.nl_card))
    assert r.code == 2
    assert cli("--home", str(s.jp), "log", "verify").code == 0


def test_evidence_list_without_a_case_asks_for_one(cli, setup: Setup) -> None:
    r = cli("--home", str(setup.nl), "evidence", "list")
    assert r.code != 0 and "Traceback" not in r.stderr
    assert "Missing argument 'CASE'" in r.stderr and "None" not in r.stderr


def test_verify_names_a_missing_key_file_and_warns_without_a_fingerprint(cli, setup: Setup) -> None:
    missing = setup.tmp / "no-such.key"
    r = cli("verify", str(setup.package), "--identity", str(missing), "--trust", str(setup.nl_card))
    assert r.code != 0 and f"no such key file: {missing}" in r.stderr
    ok = cli(
        "verify",
        str(setup.package),
        "--identity",
        str(jp_identity_file(setup)),
        "--trust",
        str(setup.nl_card),
    )
    assert ok.code == 0, ok.stderr
    assert "warning: the sender's card was not confirmed with --fingerprint" in " ".join(
        ok.stderr.split()
    )


def _exports(cli, home: Path, item: str) -> int:
    hist = json.loads(cli("--home", str(home), "evidence", "history", item, "--json").stdout)
    return sum(e["event"]["type"] == "export" for e in hist["events"])


def _create(cli, s: Setup, out: Path):  # type: ignore[no-untyped-def]
    return cli(
        "--home", str(s.nl), "package", "create", "NL-1", "--item", "EV-000001",
        "--item", "EV-000002", "--to", str(s.jp_card), "--out", str(out),
    )  # fmt: skip


def test_an_interrupted_create_leaves_no_file_and_no_export_event(
    cli, setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = setup
    before = (_exports(cli, s.nl, "EV-000001"), _exports(cli, s.nl, "EV-000002"))
    calls: list[str] = []

    def interrupted(*args: object, **kwargs: object) -> None:
        calls.append("x")
        if len(calls) == 2:  # Ctrl-C while the second payload is written
            raise KeyboardInterrupt

    import rogatory.package.create as create_module

    monkeypatch.setattr(create_module, "encrypt_checked", interrupted)
    out = s.tmp / "interrupted.rogpkg"
    r = _create(cli, s, out)
    assert r.code == 130 and "interrupted" in r.stderr
    assert not out.exists() and not list(out.parent.glob(out.name + ".*part"))
    assert (_exports(cli, s.nl, "EV-000001"), _exports(cli, s.nl, "EV-000002")) == before
    monkeypatch.undo()
    r = _create(cli, s, out)  # running it again works, with one more export each
    assert r.code == 0, r.stderr
    assert (_exports(cli, s.nl, "EV-000001"), _exports(cli, s.nl, "EV-000002")) == (
        before[0] + 1,
        before[1] + 1,
    )


def test_a_corrupted_blob_is_not_exported_and_logs_no_export(cli, setup: Setup) -> None:
    s = setup
    before = _exports(cli, s.nl, "EV-000002")
    blobs = sorted((s.nl / "blobs" / "sha256").rglob("*"), key=lambda p: p.stat().st_size)
    blob = [p for p in blobs if p.is_file()][-1]  # the largest: EV-000002's payload
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))
    out = s.tmp / "corrupt.rogpkg"
    r = _create(cli, s, out)
    assert r.code == 1 and "no longer match their recorded sha256" in r.stderr
    assert not out.exists() and not list(out.parent.glob(out.name + ".*part"))
    assert _exports(cli, s.nl, "EV-000002") == before


def _card_fingerprint(card: Path) -> str:
    from rogatory.package.card import fingerprint, read_card

    return fingerprint(read_card(card))


def test_create_to_a_card_checks_its_fingerprint_and_warns_without_one(cli, setup: Setup) -> None:
    s = setup
    base = ["--home", str(s.nl), "package", "create", "NL-1", "--item", "EV-000001"]
    r = cli(*base, "--to", str(s.jp_card), "--out", str(s.tmp / "a.rogpkg"))
    assert r.code == 0 and "recipient's card" in r.stderr and "not confirmed" in r.stderr
    r = cli(
        *base, "--to", str(s.jp_card), "--fingerprint", _card_fingerprint(s.jp_card),
        "--out", str(s.tmp / "b.rogpkg"),
    )  # fmt: skip
    assert r.code == 0 and "warning" not in r.stderr, r.stderr
    r = cli(
        *base, "--to", str(s.jp_card), "--fingerprint", "0" * 40, "--out", str(s.tmp / "c.rogpkg")
    )
    assert r.code == 2 and "differs from the one you confirmed" in r.stderr
    assert not (s.tmp / "c.rogpkg").exists()
    forged = json.loads(s.jp_card.read_text())
    forged["keys"]["age"] = str(pyrage.x25519.Identity.generate().to_public())
    (s.tmp / "forged.card.json").write_text(json.dumps(forged))
    r = cli(*base, "--to", str(s.tmp / "forged.card.json"), "--out", str(s.tmp / "d.rogpkg"))
    assert r.code != 0 and not (s.tmp / "d.rogpkg").exists(), "an altered card is refused"


def test_a_mistaken_to_file_is_named_never_echoed(cli, setup: Setup) -> None:
    s = setup
    secret = s.tmp / "pass.txt"
    secret.write_text("correct horse battery staple\n")
    binary = s.tmp / "report.pdf"
    binary.write_bytes(b"%PDF-1.4\n\x93\x94\xff\x00")
    base = ["--home", str(s.nl), "package", "create", "NL-1", "--item", "EV-000001"]
    r = cli(*base, "--to", str(secret), "--out", str(s.tmp / "x.rogpkg"))
    assert r.code == 2 and "pass.txt" in r.stderr and "horse" not in r.stderr
    r = cli(*base, "--to", str(binary), "--out", str(s.tmp / "x.rogpkg"))
    assert r.code == 2 and "binary" in r.stderr and "internal error" not in r.stderr


def test_verify_refuses_bad_options_before_any_work(cli, setup: Setup) -> None:
    s = setup
    ident = str(jp_identity_file(s))
    a_file = s.tmp / "not-a-folder.txt"
    a_file.write_text("x")
    r = cli(
        "verify",
        str(s.package),
        "--identity",
        ident,
        "--trust",
        str(s.nl_card),
        "--report",
        str(a_file),
    )
    assert r.code == 2 and "is a file" in r.stderr
    fp = _card_fingerprint(s.nl_card)
    r = cli(
        "verify", str(s.package), "--identity", ident, "--trust", str(s.nl_card),
        "--fingerprint", fp, "--fingerprint", fp,
    )  # fmt: skip
    assert r.code == 2 and "2 --fingerprint values for 1 --trust card" in r.stderr
    r = cli("verify", str(s.package), "--identity", str(s.jp / "keys"), "--trust", str(s.nl_card))
    assert r.code != 0 and "is a folder, not a key file" in r.stderr


def test_verify_unlocks_a_passphrase_protected_identity(
    cli, setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = setup
    ident = load_age_identity(s.jp / "keys", None)
    protected = s.tmp / "age.key.age"
    protected.write_bytes(pyrage.passphrase.encrypt((str(ident) + "\n").encode(), "horse-battery"))
    args = ["verify", str(s.package), "--identity", str(protected), "--trust", str(s.nl_card)]
    monkeypatch.delenv("ROGATORY_PASSPHRASE", raising=False)
    monkeypatch.delenv("ROGATORY_PASSPHRASE_FILE", raising=False)
    r = cli(*args)
    assert r.code != 0 and "is protected by a passphrase" in r.stderr
    monkeypatch.setenv("ROGATORY_PASSPHRASE", "wrong")
    r = cli(*args)
    assert r.code != 0 and "wrong passphrase" in r.stderr
    monkeypatch.setenv("ROGATORY_PASSPHRASE", "horse-battery")
    r = cli(*args)
    assert r.code == 0, r.stderr


def test_import_without_a_fingerprint_warns(cli, setup: Setup) -> None:
    s = setup
    r = cli("--home", str(s.jp), "package", "import", str(s.package), "--trust", str(s.nl_card))
    assert r.code == 0 and "not confirmed with --fingerprint" in " ".join(r.stderr.split())


def reissue_to_court(cli, s: Setup) -> Path:  # type: ignore[no-untyped-def]
    """Japan reissues the package to the court's key; returns the reissued package."""
    court_pub = s.tmp / "court.pub"
    court_pub.write_text(
        str(pyrage.x25519.Identity.from_str(s.court_key.read_text().strip()).to_public()) + "\n"
    )
    out = s.tmp / "for-court.rogpkg"
    r = cli(
        "--home", str(s.jp), "package", "reissue", str(s.package), "--trust", str(s.nl_card),
        "--to", str(court_pub), "--out", str(out),
    )  # fmt: skip
    assert r.code == 0, r.stderr
    return out


def test_the_court_may_give_the_cards_in_any_order(cli, setup: Setup) -> None:
    s = setup
    out = reissue_to_court(cli, s)
    for cards in ([s.nl_card, s.jp_card], [s.jp_card, s.nl_card]):
        args = [a for c in cards for a in ("--trust", str(c))]
        r = cli("verify", str(out), "--identity", str(s.court_key), *args, "--json")
        assert r.code == 0, r.stderr
        assert json.loads(r.stdout)["sender"]["node_id"] == "nl.police-cybercrime"


def with_envelope(s: Setup, note: bytes, name: str) -> Path:
    """A copy of the package whose envelope is ``note``, encrypted to Japan's key
    (as anyone who knows that public key can do)."""
    recipient = load_age_identity(s.jp / "keys", None).to_public()
    return rebuild(s, s.tmp / name, replace={layout.ENVELOPE: pyrage.encrypt(note, [recipient])})


def verify_as_jp(cli, s: Setup, package: Path, *extra: str):  # type: ignore[no-untyped-def]
    """``rogatory verify PACKAGE`` with Japan's key and the Dutch sender's card."""
    return cli(
        "verify", str(package), "--identity", str(jp_identity_file(s)), "--trust", str(s.nl_card),
        *extra,
    )  # fmt: skip


FORGED_NOTES = {
    "garbage": b"\x00\xff not a note at all",
    "not utf-8": b"\xff\xfe\xfd\n\n\xe2\x80\x94 sig AAAA\n",
    "json list": b"[1, 2, 3]\n\n\xe2\x80\x94 nobody AAAAAAAA\n",
    "json string": b'"hello"\n\n\xe2\x80\x94 nobody AAAAAAAA\n',
    "sender a list": b'{"sender": [1], "package_id": "x"}\n\n\xe2\x80\x94 nobody AAAAAAAA\n',
    "node id a dict": b'{"sender": {"node_id": {"a": 1}}}\n\n\xe2\x80\x94 nobody AAAAAAAA\n',
    "empty": b"",
    "deep json": b"[" * 100000 + b"]" * 100000 + b"\n\n\xe2\x80\x94 nobody AAAAAAAA\n",
}


@pytest.mark.parametrize("note", list(FORGED_NOTES.values()), ids=list(FORGED_NOTES))
def test_a_forged_envelope_fails_the_signature_check_not_the_program(
    cli, setup: Setup, note: bytes
) -> None:
    """age does not authenticate the sender: anyone who knows the recipient's key
    (its README names it) can put any envelope in a package."""
    bad = with_envelope(setup, note, "forged.rogpkg")
    r = verify_as_jp(cli, setup, bad)
    assert r.code == 1 and "internal error" not in r.stderr, r.stderr
    assert "manifest signature" in r.stderr
    import_fails(cli, setup, bad, "manifest signature")


def test_an_unsigned_manifest_cannot_write_to_the_terminal(cli, setup: Setup) -> None:
    hostile = {
        "sender": {"node_id": "nl.police\x1b[32m\n  ✓ manifest signature: OK\x1b]0;owned\x07"},
        "package_id": "p\x1b[2J",
    }
    # JSON escapes (\u001b) decode to real control characters: the attack a parser lets through
    note = json.dumps(hostile).encode() + b"\n\n\xe2\x80\x94 nobody AAAAAAAA\n"
    bad = with_envelope(setup, note, "inject.rogpkg")
    r = verify_as_jp(cli, setup, bad)
    assert r.code == 1 and "claims (unverified) to come from nl.police?[32m?" in r.stderr
    assert "\x1b" not in r.stdout + r.stderr and "\x07" not in r.stdout + r.stderr


def test_bytes_before_or_after_the_archive_are_refused(cli, setup: Setup) -> None:
    raw = setup.package.read_bytes()
    for name, data, needle in (
        ("prefixed", b"\0" * 1000 + raw, "bytes before its first member"),
        ("suffixed", raw + b"junk" * 25, "bytes after its end record"),
    ):
        bad = setup.tmp / f"{name}.rogpkg"
        bad.write_bytes(data)
        import_fails(cli, setup, bad, needle, "check: structure")


def test_a_member_name_with_a_trailing_newline_is_unexpected(cli, setup: Setup) -> None:
    bad = rebuild(
        setup,
        setup.tmp / "newline.rogpkg",
        extra_members={"payload/000009.age\n": (b"x", zipfile.ZIP_STORED)},
    )
    import_fails(cli, setup, bad, "unexpected member")


@pytest.mark.parametrize("member", [layout.SUMS, layout.CUSTODY])
def test_standard_tools_members_must_match_the_manifest(cli, setup: Setup, member: str) -> None:
    recipient = load_age_identity(setup.jp / "keys", None).to_public()
    forged = rebuild(
        setup,
        setup.tmp / "forged.rogpkg",
        replace={member: pyrage.encrypt(b"garbage\n", [recipient])},
    )
    import_fails(cli, setup, forged, "standard-tools members")
    missing = rebuild(setup, setup.tmp / "missing.rogpkg", drop=member)
    import_fails(cli, setup, missing, "standard-tools members", f"lacks {member}")


def test_staging_left_by_a_killed_import_is_removed_by_the_next(cli, setup: Setup) -> None:
    s = setup
    tmp_dir = s.jp / "blobs" / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    orphan = tmp_dir / "rogatory-staging-999999999-abcd1234"  # no such process
    orphan.mkdir()
    (orphan / "payload-000000").write_bytes(b"unverified plaintext")
    alive = tmp_dir / f"rogatory-staging-{os.getpid()}-live"  # a running process keeps its own
    alive.mkdir()
    r = cli("--home", str(s.jp), "package", "import", str(s.package), "--trust", str(s.nl_card))
    assert r.code == 0, r.stderr
    assert not orphan.exists() and alive.exists()


def test_a_full_disk_while_staging_is_named_not_blamed_on_the_package(
    cli, setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    import rogatory.package.verify as verify_module

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(verify_module, "decrypt_payload", disk_full)
    before = items_in_store(setup.jp)
    r = cli(
        "--home",
        str(setup.jp),
        "package",
        "import",
        str(setup.package),
        "--trust",
        str(setup.nl_card),
    )
    assert r.code == 1 and "no space left on the disk" in r.stderr and "not at fault" in r.stderr
    assert "altered" not in r.stderr
    assert items_in_store(setup.jp) == before
    assert not list((setup.jp / "blobs" / "tmp").glob("rogatory-staging-*"))


def test_the_court_sees_the_holders_whole_chain_after_an_import(cli, setup: Setup) -> None:
    s = setup
    r = cli("--home", str(s.jp), "package", "import", str(s.package), "--trust", str(s.nl_card))
    assert r.code == 0, r.stderr
    out = reissue_to_court(cli, s)
    r = cli(
        "verify", str(out), "--identity", str(s.court_key), "--trust", str(s.nl_card),
        "--trust", str(s.jp_card), "--json",
    )  # fmt: skip
    assert r.code == 0, r.stderr
    custody = json.loads(r.stdout)["items"][0]["custody"]
    assert [c["event_type"] for c in custody] == ["acquisition", "export", "receipt", "disclosure"]
    jp_steps = [c for c in custody if c["origin"] == "rogatory/jp.central-authority/custody"]
    assert len(jp_steps) == 2
    assert all(any(ch["name"] == "chain link" and ch["ok"] for ch in c["checks"]) for c in jp_steps)


def test_a_package_modified_during_verification_does_not_pass(setup: Setup) -> None:
    from rogatory.package.card import load_trust
    from rogatory.package.verify import verify_package

    copy = setup.tmp / "copy.rogpkg"
    copy.write_bytes(setup.package.read_bytes())
    touched: list[bool] = []

    def touch_once(n: int) -> None:
        if not touched:
            touched.append(True)
            os.utime(copy, ns=(1, 1))  # someone writes to the file meanwhile

    result = verify_package(
        copy,
        load_age_identity(setup.jp / "keys", None),
        load_trust(setup.nl_card, None),
        staging_parent=setup.tmp,
        keep_staging=True,
        progress=touch_once,
    )
    assert touched and not result.report.ok and result.staging is None
    assert any(c.name == "package unchanged" and not c.ok for c in result.report.checks)
