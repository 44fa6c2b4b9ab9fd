"""The age v1 file format (X25519): the C2SP/CCTV vectors, and files interchangeable
with pyrage and the standard ``age`` tool in both directions."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pyrage
import pytest

from rogatory.package import agefile
from tests.conftest import SHARED

VECTORS = SHARED / "vectors" / "age" / "testdata"
ABSENT = f"age vectors not found at {VECTORS} (set ROGATORY_SHARED); CI always has them"
NO_AGE = "the standard age tool is not installed (Debian package 'age'); .ci/run installs it"


def _vector(path: Path) -> dict[str, Any]:
    head, _, body = path.read_bytes().partition(b"\n\n")
    meta: dict[str, Any] = {"identity": []}
    for line in head.decode().splitlines():
        key, _, value = line.partition(": ")
        if key == "identity":
            meta["identity"].append(value)
        else:
            meta[key] = value
    meta["file"] = zlib.decompress(body) if meta.get("compressed") == "zlib" else body
    return meta


def _in_scope(path: Path) -> bool:
    """Binary files with only X25519 identities: what packages use (no armour,
    no passphrase, no post-quantum hybrid)."""
    meta = _vector(path)
    return (
        meta.get("armored") != "yes"
        and bool(meta["identity"])
        and all(i.startswith("AGE-SECRET-KEY-1") for i in meta["identity"])
    )


def _vector_params() -> list[Any]:
    if not VECTORS.is_dir():
        return [pytest.param(None, id="vectors-absent", marks=pytest.mark.skip(reason=ABSENT))]
    return [pytest.param(p, id=p.name) for p in sorted(VECTORS.iterdir()) if _in_scope(p)]


def test_the_vectors_in_scope_cover_every_outcome() -> None:
    if not VECTORS.is_dir():
        pytest.skip(ABSENT)
    paths = [p for p in VECTORS.iterdir() if _in_scope(p)]
    outcomes = {_vector(p)["expect"] for p in paths}
    assert len(paths) >= 60
    assert outcomes == {"success", "no match", "HMAC failure", "header failure", "payload failure"}


@pytest.mark.parametrize("path", _vector_params())
@pytest.mark.parametrize("feed", [1 << 20, 7777, 65552], ids=["1MiB", "7777B", "one-chunk"])
def test_c2sp_vector(path: Path, feed: int) -> None:
    """Outcome and released plaintext as the vector states, however the file is fed."""
    meta = _vector(path)
    data = meta["file"]
    released = hashlib.sha256()
    outcome = "success"
    try:
        dec = agefile.Decryptor(meta["identity"])
        for i in range(0, len(data), feed):
            released.update(dec.update(data[i : i + feed]))
        released.update(dec.finish())
    except agefile.AgeError as exc:
        outcome = exc.kind
        released.update(exc.released)
    assert outcome == meta["expect"], meta.get("comment", "")
    if "payload" in meta:
        assert released.hexdigest() == meta["payload"]


@pytest.fixture(scope="module")
def key() -> pyrage.x25519.Identity:
    return pyrage.x25519.Identity.generate()


SIZES = [0, 1, 65535, 65536, 65537, 2 * 65536, 3 * 65536 + 5, 1_000_003]


def _encrypt(data: bytes, recipient: str, step: int) -> bytes:
    enc = agefile.Encryptor([recipient])
    parts = [enc.start()]
    for i in range(0, len(data), step):
        parts.append(enc.update(data[i : i + step]))
    parts.append(enc.finish())
    return b"".join(parts)


@pytest.mark.parametrize("size", SIZES)
def test_pyrage_reads_ours_and_we_read_pyrage(key: pyrage.x25519.Identity, size: int) -> None:
    data = os.urandom(size)
    for step in (1 << 20, 4096, 65536):
        assert pyrage.decrypt(_encrypt(data, str(key.to_public()), step), [key]) == data
    theirs = pyrage.encrypt(data, [key.to_public()])
    assert agefile.decrypt_bytes(theirs, [str(key)]) == data
    assert agefile.decrypt_bytes(theirs, [key]) == data  # a pyrage identity object


@pytest.mark.skipif(shutil.which("age") is None, reason=NO_AGE)
@pytest.mark.parametrize("size", [0, 65536, 3 * 65536 + 5])
def test_the_age_tool_reads_ours_and_we_read_it(
    key: pyrage.x25519.Identity, size: int, tmp_path: Path
) -> None:
    data = os.urandom(size)
    keyfile = tmp_path / "key.txt"
    keyfile.write_text(str(key) + "\n")
    ours = agefile.encrypt_bytes(data, [str(key.to_public())])
    run = subprocess.run(["age", "-d", "-i", str(keyfile)], input=ours, capture_output=True)
    assert run.returncode == 0 and run.stdout == data
    made = subprocess.run(["age", "-r", str(key.to_public())], input=data, capture_output=True)
    assert made.returncode == 0
    assert agefile.decrypt_bytes(made.stdout, [str(key)]) == data


def test_several_recipients_each_can_decrypt(key: pyrage.x25519.Identity) -> None:
    other = pyrage.x25519.Identity.generate()
    f = agefile.encrypt_bytes(b"evidence", [str(key.to_public()), str(other.to_public())])
    assert agefile.decrypt_bytes(f, [other]) == b"evidence"
    assert pyrage.decrypt(f, [key]) == b"evidence"


def test_another_key_is_no_match(key: pyrage.x25519.Identity) -> None:
    f = agefile.encrypt_bytes(b"evidence", [str(key.to_public())])
    with pytest.raises(agefile.NoMatchError):
        agefile.decrypt_bytes(f, [pyrage.x25519.Identity.generate()])


@pytest.mark.parametrize(
    "damage, kind",
    [
        (lambda f: f[:-1], "payload failure"),
        (lambda f: f + b"x", "payload failure"),
        (lambda f: f[: len(f) // 2], "payload failure"),
        (lambda f: f[:-16] + bytes(16), "payload failure"),
        (lambda f: f.replace(b"X25519", b"X25518", 1), "no match"),
        (lambda f: f[:40], "header failure"),
        (lambda f: b"", "header failure"),
        (lambda f: b"PK\x03\x04" + f, "header failure"),
    ],
    ids=[
        "last byte cut",
        "byte appended",
        "half",
        "tag zeroed",
        "stanza type",
        "in header",
        "empty",
        "junk first",
    ],
)
def test_damaged_files_fail_with_the_check_that_caught_them(
    key: pyrage.x25519.Identity, damage: Any, kind: str
) -> None:
    f = agefile.encrypt_bytes(os.urandom(200_000), [str(key.to_public())])
    with pytest.raises(agefile.AgeError) as caught:
        agefile.decrypt_bytes(damage(f), [key])
    assert caught.value.kind == kind


def test_a_flipped_mac_is_an_hmac_failure(key: pyrage.x25519.Identity) -> None:
    f = bytearray(agefile.encrypt_bytes(b"x", [str(key.to_public())]))
    at = f.index(b"\n--- ") + 5
    f[at] = ord("A") if f[at] != ord("A") else ord("B")
    with pytest.raises(agefile.AgeError) as caught:
        agefile.decrypt_bytes(bytes(f), [key])
    assert caught.value.kind in ("HMAC failure", "header failure")  # B/A may break canonical base64


def test_a_header_without_end_is_refused_before_it_fills_memory(
    key: pyrage.x25519.Identity,
) -> None:
    dec = agefile.Decryptor([key])
    block = b"age-encryption.org/v1\n" + b"-> x\n" + b"A" * 63 + b"\n"
    with pytest.raises(agefile.AgeError, match="malformed"):
        for _ in range(20_000):
            dec.update(block)


def test_no_plaintext_after_the_end_and_nothing_past_finish(
    key: pyrage.x25519.Identity,
) -> None:
    f = agefile.encrypt_bytes(b"abc", [str(key.to_public())])
    dec = agefile.Decryptor([key])
    assert dec.update(f) + dec.finish() == b"abc"
    with pytest.raises(agefile.AgeError):
        dec.update(b"more")


@pytest.mark.parametrize(
    "text", ["", "age1", "age1qqqq", "AGE-SECRET-KEY-1QQQ", "npub1xyz", "age1" + "q" * 58]
)
def test_bad_key_strings_are_refused(text: str) -> None:
    with pytest.raises(agefile.AgeError) as caught:
        agefile.recipient_key(text)
    assert caught.value.kind == "key"
    with pytest.raises(agefile.AgeError):
        agefile.identity_key(text)


def test_key_strings_match_pyrage(key: pyrage.x25519.Identity) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    pub = agefile.identity_key(str(key)).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert (
        agefile.recipient_key(str(key.to_public())).public_bytes(Encoding.Raw, PublicFormat.Raw)
        == pub
    )


def test_a_file_fed_one_byte_at_a_time_decrypts(key: pyrage.x25519.Identity) -> None:
    data = os.urandom(2 * 65536 + 9)
    f = agefile.encrypt_bytes(data, [str(key.to_public())])
    dec = agefile.Decryptor([key])
    got = b"".join(dec.update(f[i : i + 1]) for i in range(len(f))) + dec.finish()
    assert got == data


@pytest.mark.parametrize(
    "start, why",
    [(b"PK\x03\x04", "not an age file"), (b"age-encryption.org/v2\n", "unsupported age version")],
)
def test_a_file_that_is_not_age_v1_is_refused_at_its_first_bytes(
    key: pyrage.x25519.Identity, start: bytes, why: str
) -> None:
    with pytest.raises(agefile.AgeError, match=why) as caught:
        agefile.Decryptor([key]).update(start)
    assert caught.value.kind == "header failure"
