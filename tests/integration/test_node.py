"""rogatory init / node show: keys per purpose, permissions, passphrases, no overwrite."""

import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from rogatory.errors import KeyMaterialError, NodeError
from rogatory.node import keys
from rogatory.node.home import NodeHome
from rogatory.node.identity import NodeIdentity

INIT = ["init", "--node-id", "nl.police-cybercrime", "--country", "NL", "--agency", "Politie THTC"]


def test_init_creates_one_key_per_purpose_with_0600(cli, tmp_path: Path) -> None:
    home = tmp_path / "h"
    r = cli("--home", str(home), *INIT, "--json")
    assert r.code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["created_keys"] == ["log", "witness", "message", "age", "tls"]
    files = sorted(p.name for p in (home / "keys").iterdir())
    assert files == sorted(
        [
            "log.ed25519.pem",
            "witness.ed25519.pem",
            "message.ed25519.pem",
            "age.key",
            "tls.key.pem",
            "tls.cert.pem",
            "public.json",
        ]
    )
    for name in files:
        if name not in ("tls.cert.pem", "public.json"):
            assert stat.S_IMODE((home / "keys" / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE((home / "keys").stat().st_mode) == 0o700
    assert (home / "config.toml").exists()
    shown = json.loads(cli("--home", str(home), "node", "show", "--json").stdout)
    publics = [k["public"] for k in shown["keys"]]
    assert len(set(publics)) == 5, "no key may serve two purposes"
    assert shown["node_id"] == "nl.police-cybercrime" and shown["country"] == "NL"
    assert shown["keys"][3]["public"].startswith("age1")


def test_reinit_never_overwrites_keys(cli, tmp_path: Path) -> None:
    home = tmp_path / "h"
    assert cli("--home", str(home), *INIT).code == 0
    before = {p.name: p.read_bytes() for p in (home / "keys").iterdir()}
    (home / "keys" / "witness.ed25519.pem").unlink()
    r = cli("--home", str(home), *INIT, "--json")
    assert r.code == 0
    assert json.loads(r.stdout)["created_keys"] == ["witness"]
    after = {p.name: p.read_bytes() for p in (home / "keys").iterdir()}
    for name, data in before.items():
        if name not in ("witness.ed25519.pem", "public.json"):
            assert after[name] == data
    shown = json.loads(cli("--home", str(home), "node", "show", "--json").stdout)
    from rogatory.node.keys import KeyPurpose, load_signing_key

    new_witness = (
        load_signing_key(home / "keys", KeyPurpose.WITNESS, None).public_key().public_bytes_raw()
    )
    import base64

    assert shown["keys"][1]["public"] == base64.b64encode(new_witness).decode(), (
        "public.json follows the new key"
    )


def test_init_for_another_node_in_same_home_is_refused(cli, tmp_path: Path) -> None:
    home = tmp_path / "h"
    assert cli("--home", str(home), *INIT).code == 0
    r = cli("--home", str(home), "init", "--node-id", "br.pf", "--country", "BR", "--agency", "PF")
    assert r.code == 2
    assert "already holds node 'nl.police-cybercrime'" in r.stderr
    assert "Traceback" not in r.stderr


def test_init_without_terminal_names_missing_option(cli, tmp_path: Path) -> None:
    r = cli("--home", str(tmp_path / "h"), "init", "--node-id", "nl.x", "--country", "NL")
    assert r.code == 2
    assert "missing --agency" in r.stderr


def test_passphrase_protected_keys(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "h"
    monkeypatch.setenv("ROGATORY_PASSPHRASE", "correct horse battery staple")
    assert cli("--home", str(home), *INIT, "--protect").code == 0
    pem = (home / "keys" / "log.ed25519.pem").read_bytes()
    assert b"ENCRYPTED" in pem
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(pem, password=None)
    assert (home / "keys" / "age.key.age").exists() and not (home / "keys" / "age.key").exists()
    monkeypatch.delenv("ROGATORY_PASSPHRASE")
    assert cli("--home", str(home), "node", "show").code == 0, "public keys need no passphrase"
    (home / "case").mkdir()
    assert cli("--home", str(home), "case", "open", "--reference", "C", "--title", "t").code == 0
    f = home / "case" / "e.txt"
    f.write_text("e")
    from tests.conftest import ACQ

    r = cli("--home", str(home), "evidence", "add", "C", str(f), *ACQ)
    assert r.code == 1 and "passphrase-protected" in r.stderr, (
        "signing the custody event needs the key"
    )

    monkeypatch.setenv("ROGATORY_PASSPHRASE", "wrong passphrase")
    r = cli("--home", str(home), "evidence", "add", "C", str(f), *ACQ)
    assert r.code == 1 and "wrong passphrase" in r.stderr
    monkeypatch.delenv("ROGATORY_PASSPHRASE")

    pw = tmp_path / "pw"
    pw.write_text("correct horse battery staple\n")
    pw.chmod(0o644)
    r = cli("--home", str(home), "--passphrase-file", str(pw), "evidence", "add", "C", str(f), *ACQ)
    assert r.code == 1 and "chmod 600" in r.stderr
    pw.chmod(0o600)
    assert (
        cli("--home", str(home), "--passphrase-file", str(pw), "node", "show", "--json").code == 0
    )
    monkeypatch.setenv("ROGATORY_PASSPHRASE_FILE", str(pw))
    assert cli("--home", str(home), "node", "show").code == 0


def test_protected_age_identity_opens_with_standard_age_format(tmp_path: Path) -> None:
    import pyrage

    ident = NodeIdentity.create("nl.x", "NL", "A", [])
    h, _, _ = NodeHome.initialise(tmp_path / "h", ident, b"long enough pw")
    blob = (h.keys_dir / "age.key.age").read_bytes()
    assert blob.startswith(b"age-encryption.org/v1")
    assert pyrage.passphrase.decrypt(blob, "long enough pw").startswith(b"AGE-SECRET-KEY-1")


def test_loose_key_permissions_are_refused(tmp_path: Path) -> None:
    ident = NodeIdentity.create("nl.x", "NL", "A", [])
    h, _, _ = NodeHome.initialise(tmp_path / "h", ident, None)
    (h.keys_dir / "log.ed25519.pem").chmod(0o644)
    with pytest.raises(KeyMaterialError, match="readable by others"):
        keys.load_signing_key(h.keys_dir, keys.KeyPurpose.LOG, None)


def test_commands_without_a_node_say_how_to_create_one(cli, tmp_path: Path) -> None:
    r = cli("--home", str(tmp_path / "none"), "case", "list")
    assert r.code == 1
    assert "no Rogatory node" in r.stderr
    # the suggested command carries the chosen home, so it works as printed
    assert f"rogatory --home {tmp_path / 'none'} init --node-id" in " ".join(r.stderr.split())


def test_home_from_environment(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROGATORY_HOME", str(tmp_path / "envhome"))
    assert cli(*INIT).code == 0
    assert (tmp_path / "envhome" / "config.toml").exists()


def test_damaged_config_is_reported(tmp_path: Path) -> None:
    ident = NodeIdentity.create("nl.x", "NL", "A", [])
    h, _, _ = NodeHome.initialise(tmp_path / "h", ident, None)
    (h.path / "config.toml").write_text("[node]\nid = 'nl.x'\n")
    with pytest.raises(NodeError, match="lacks the field"):
        NodeHome.open(h.path)


def test_short_passphrase_is_refused(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROGATORY_PASSPHRASE", "short")
    r = cli("--home", str(tmp_path / "h"), *INIT, "--protect")
    assert r.code == 1 and "too short" in r.stderr


def test_init_reuses_the_existing_identity_and_refuses_conflicts(cli, tmp_path: Path) -> None:
    home = tmp_path / "h"
    assert (
        cli(
            "init", "--home", str(home), "--node-id", "nl.x", "--country", "NL", "--agency", "A"
        ).code
        == 0
    )
    (home / "keys" / "message.ed25519.pem").unlink()
    r = cli("init", "--home", str(home), "--json")
    assert r.code == 0 and json.loads(r.stdout)["created_keys"] == ["message"]
    r = cli("init", "--home", str(home), "--agency", "B")
    assert r.code == 2 and "with --agency 'A'" in r.stderr
