"""The streaming parts of packages: age payloads in blocks, the package writer, digests on threads."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

import pyrage
import pytest

from rogatory.errors import IntegrityError
from rogatory.evidence.hashing import DigestWorkers, FileDigest
from rogatory.package import agefile, layout, writebehind
from rogatory.package.create import Recipient, _PackageWriter, encrypt_checked, encrypt_into
from rogatory.package.verify import IN_MEMORY_PAYLOAD, decrypt_payload

SIZE = IN_MEMORY_PAYLOAD + 3 * (1 << 20) + 12345  # streamed: several 1 MiB blocks, worker threads
SMALL = 200_000  # in memory


@pytest.fixture
def ident() -> pyrage.x25519.Identity:
    return pyrage.x25519.Identity.generate()


@pytest.fixture(params=[SIZE, SMALL], ids=["streamed", "in-memory"])
def plain(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    path = tmp_path / "plain.bin"
    path.write_bytes(os.urandom(request.param))
    return path


def encrypted(plain: Path, ident: pyrage.x25519.Identity) -> bytes:
    out = io.BytesIO()
    encrypt_into(plain, Recipient(str(ident.to_public()), "test"), out, plain.stat().st_size)
    return out.getvalue()


def test_encryption_is_standard_age(plain: Path, ident: pyrage.x25519.Identity) -> None:
    progress: list[int] = []
    out = io.BytesIO()
    size = plain.stat().st_size
    encrypt_into(plain, Recipient(str(ident.to_public()), "t"), out, size, progress.append)
    assert pyrage.decrypt(out.getvalue(), [ident]) == plain.read_bytes()
    assert sum(progress) == size


def test_encrypt_checked_refuses_bytes_that_differ_from_the_record(
    plain: Path, ident: pyrage.x25519.Identity
) -> None:
    recipient = Recipient(str(ident.to_public()), "t")
    good = hashlib.sha256(plain.read_bytes()).hexdigest()
    size = plain.stat().st_size
    encrypt_checked(plain, good, size, recipient, io.BytesIO(), label="EV-000001 plain.bin")
    with pytest.raises(IntegrityError, match="no longer match their recorded sha256"):
        encrypt_checked(plain, "0" * 64, size, recipient, io.BytesIO(), label="EV-000001 x")
    with pytest.raises(IntegrityError, match="cannot read the evidence"):
        encrypt_checked(plain.with_name("gone"), good, size, recipient, io.BytesIO(), label="x")


def package_with(tmp_path: Path, payload: bytes) -> zipfile.ZipFile:
    path = tmp_path / "p.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("payload/000000.age", payload)
    return zipfile.ZipFile(path)


def test_decrypt_payload_hashes_and_stages(
    tmp_path: Path, plain: Path, ident: pyrage.x25519.Identity
) -> None:
    data = plain.read_bytes()
    zf = package_with(tmp_path, encrypted(plain, ident))
    target = tmp_path / "staged"
    digests, n = decrypt_payload(zf, "payload/000000.age", ident, len(data), target)
    assert n == len(data) and target.read_bytes() == data
    assert digests == {
        "sha256": hashlib.sha256(data).hexdigest(),
        "sha1": hashlib.sha1(data).hexdigest(),
        "md5": hashlib.md5(data).hexdigest(),
    }
    digests2, _ = decrypt_payload(zf, "payload/000000.age", ident, len(data), None)
    assert digests2 == digests


@pytest.mark.parametrize("damage", ["truncate", "flip", "other key"])
def test_decrypt_payload_refuses_damaged_payloads(
    tmp_path: Path, plain: Path, ident: pyrage.x25519.Identity, damage: str
) -> None:
    data = bytearray(encrypted(plain, ident))
    key = ident
    if damage == "truncate":
        data = data[: len(data) - 70_000]
    elif damage == "flip":
        data[len(data) // 2] ^= 1
    else:
        key = pyrage.x25519.Identity.generate()
    zf = package_with(tmp_path, bytes(data))
    staged = tmp_path / "staged"
    with pytest.raises(agefile.AgeError):
        decrypt_payload(zf, "payload/000000.age", key, plain.stat().st_size, staged)


def test_decrypt_payload_refuses_more_than_declared(
    tmp_path: Path, plain: Path, ident: pyrage.x25519.Identity
) -> None:
    zf = package_with(tmp_path, encrypted(plain, ident))
    target = tmp_path / "staged"
    size = plain.stat().st_size
    with pytest.raises(IntegrityError, match="more bytes than the signed manifest"):
        decrypt_payload(zf, "payload/000000.age", ident, size - 1, target)
    assert not target.exists() or target.stat().st_size <= size - 1 + (1 << 20)
    with pytest.raises(KeyError):
        decrypt_payload(zf, "payload/000001.age", ident, size, None)


def test_package_writer_hashes_exactly_the_file(tmp_path: Path) -> None:
    path = tmp_path / "w.zip"
    sink = _PackageWriter(path)
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        zf.writestr("README.txt", "hello")
        with zf.open("payload/000000.age", "w", force_zip64=True) as w:
            for _ in range(3):
                w.write(os.urandom(1 << 20))
    sha, size = sink.finish()
    assert size == path.stat().st_size
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        assert zf.read("README.txt") == b"hello"


def test_digest_workers_and_file_digest(tmp_path: Path) -> None:
    data = os.urandom(5 << 20)
    seen = bytearray()
    with DigestWorkers(["sha256", "md5"], [seen.extend]) as workers:
        for i in range(0, len(data), 1 << 20):
            workers.update(memoryview(data)[i : i + (1 << 20)])
        got = workers.hexdigests()
    assert got == {
        "sha256": hashlib.sha256(data).hexdigest(),
        "md5": hashlib.md5(data).hexdigest(),
    }
    assert bytes(seen) == data
    path = tmp_path / "f"
    path.write_bytes(data)
    fd = FileDigest(path)
    fd.start()
    assert fd.hexdigest() == hashlib.sha256(data).hexdigest()
    missing = FileDigest(tmp_path / "missing")
    missing.start()
    with pytest.raises(OSError):
        missing.hexdigest()


def test_digest_workers_report_a_failing_consumer() -> None:
    def broken(block: bytes) -> None:
        raise OSError("disk full")

    workers = DigestWorkers(["sha256"], [broken])
    with pytest.raises(OSError, match="disk full"):
        for _ in range(20):
            workers.update(b"x" * 4096)
        workers.hexdigests()
    workers.close()


def test_payloads_are_read_from_their_span_and_a_bad_local_header_is_refused(
    tmp_path: Path, ident: pyrage.x25519.Identity
) -> None:
    data = os.urandom(IN_MEMORY_PAYLOAD + 70_000)
    plain = tmp_path / "plain.bin"
    plain.write_bytes(data)
    zf = package_with(tmp_path, encrypted(plain, ident))
    start, length = layout.member_span(zf, "payload/000000.age")
    raw = (tmp_path / "p.zip").read_bytes()
    assert raw[start : start + length] == zf.read("payload/000000.age")
    header_at = zf.getinfo("payload/000000.age").header_offset
    zf.close()
    broken = bytearray(raw)
    broken[header_at] ^= 0xFF  # the local header's signature
    (tmp_path / "p.zip").write_bytes(bytes(broken))
    with (
        zipfile.ZipFile(tmp_path / "p.zip") as zf2,
        pytest.raises(IntegrityError, match="damaged local header"),
    ):
        decrypt_payload(zf2, "payload/000000.age", ident, len(data), None)


def test_a_package_cut_inside_a_payload_span_is_truncated(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 1000)
    assert b"".join(layout.read_span(path, 10, 990, 256)) == b"x" * 990
    with pytest.raises(IntegrityError, match="truncated"):
        list(layout.read_span(path, 10, 2000, 256))


def test_staged_plaintext_is_written_whole_past_the_write_back_step(
    tmp_path: Path, ident: pyrage.x25519.Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writebehind, "WRITE_BEHIND_STEP", 1 << 20)
    data = os.urandom(IN_MEMORY_PAYLOAD + 5 * (1 << 20) + 3)
    plain = tmp_path / "plain.bin"
    plain.write_bytes(data)
    zf = package_with(tmp_path, encrypted(plain, ident))
    target = tmp_path / "staged"
    _, n = decrypt_payload(zf, "payload/000000.age", ident, len(data), target)
    assert n == len(data) and target.read_bytes() == data


def test_write_behind_file_writes_every_byte_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writebehind, "WRITE_BEHIND_STEP", 1 << 20)
    data = os.urandom(5 * (1 << 20) + 777)
    out = writebehind.WriteBehindFile(tmp_path / "w.bin")
    for i in range(0, len(data), 300_000):
        assert out.write(memoryview(data)[i : i + 300_000]) == len(data[i : i + 300_000])
    out.fsync()
    out.close()
    out.close()
    assert (tmp_path / "w.bin").read_bytes() == data and out.written == len(data)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this system")
def test_write_behind_file_reports_a_full_disk() -> None:
    out = writebehind.WriteBehindFile(Path("/dev/full"))
    with pytest.raises(OSError) as caught:
        out.write(b"x" * 4096)
    out.close()
    assert caught.value.errno == 28  # ENOSPC


def test_publish_never_replaces_an_existing_file(tmp_path: Path) -> None:
    final = tmp_path / "p.rogpkg"
    a, b = writebehind.temporary_path(final), writebehind.temporary_path(final)
    assert a != b and a.exists() and b.exists() and a.name.endswith(".part")
    a.write_bytes(b"first")
    b.write_bytes(b"second")
    writebehind.publish(a, final)
    assert final.read_bytes() == b"first" and not a.exists()
    with pytest.raises(FileExistsError):
        writebehind.publish(b, final)
    assert final.read_bytes() == b"first" and b.exists()
