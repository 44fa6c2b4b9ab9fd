"""The evidence package file: a ZIP archive of age-encrypted members, all stored uncompressed.

Members (nothing else is allowed):

=====================  ===========================================================
``README.txt``         plain text: how to check the package with standard tools;
                       no case data, only the package id and the recipient's age key
``envelope.age``       the manifest, signed by the sender (C2SP signed note over
                       canonical JSON), encrypted to the recipient with age
``SHA256SUMS.age``     ``sha256sum -c`` lines for the decrypted payload files
``custody.tar.age``    per custody event its statement, salt, leaf and
                       c2sp.org/tlog-proof@v1 file, plus the sender's tlog-policy
``payload/NNNNNN.age``  the bytes of one file of an item, encrypted with age
``reissue.age``        only in a reissued package: the holder's signed statement
                       that it re-encrypted the package for a new recipient
                       (a court, the defence), with its disclosure events' proofs
=====================  ===========================================================

Member names carry no case data; a package is opaque to anyone without the
recipient's key. Members must be stored (not deflated), so a package cannot be a
decompression bomb; every size is checked against the signed manifest.
"""

from __future__ import annotations

import re
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path

from rogatory.errors import IntegrityError

FORMAT = "rogatory-package/v1"
README = "README.txt"
ENVELOPE = "envelope.age"
SUMS = "SHA256SUMS.age"
CUSTODY = "custody.tar.age"
REISSUE = "reissue.age"
REISSUE_FORMAT = "rogatory-reissue/v1"
PAYLOAD = re.compile(r"^payload/[0-9]{6}\.age$")
MAX_ENVELOPE = 256 << 20
"""Largest envelope (encrypted manifest) accepted, bytes."""
MAX_SMALL_MEMBER = 512 << 20
"""Largest README, SHA256SUMS or custody member accepted, bytes."""
AGE_CHUNK = 64 << 10
AGE_TAG = 16


def payload_name(n: int) -> str:
    """Member name of payload number ``n`` (0-based)."""
    return f"payload/{n:06d}.age"


def age_payload_overhead(plaintext_size: int) -> int:
    """Bytes age adds to ``plaintext_size`` bytes of payload, excluding its header:
    a 16-byte nonce and a 16-byte tag per 64 KiB chunk (C2SP age §Payload)."""
    chunks = max(1, -(-plaintext_size // AGE_CHUNK))
    return 16 + chunks * AGE_TAG


def open_package(path: Path) -> zipfile.ZipFile:
    """Open a package and check its structure before anything is decrypted.

    Raises:
        IntegrityError: not a ZIP (or truncated), an unexpected member name (path
            traversal, absolute paths, extra files), a compressed or encrypted
            member, bytes before the first member or after the end record (no
            comment allowed), a missing envelope, or an oversized envelope.
    """
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise IntegrityError(f"no such package: {path}", "check the path") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise IntegrityError(
            f"{path.name} is not a readable Rogatory package ({exc}); it may be truncated",
            "obtain the package again and compare its SHA-256 with the sender's",
        ) from None
    names = set()
    for info in zf.infolist():
        name = info.filename
        if name not in (README, ENVELOPE, SUMS, CUSTODY, REISSUE) and not PAYLOAD.fullmatch(name):
            zf.close()
            raise IntegrityError(
                f"the package contains an unexpected member {name!r} (check: structure)",
                "the package was altered or is not a Rogatory package; nothing was extracted",
            )
        if info.compress_type != zipfile.ZIP_STORED:
            zf.close()
            raise IntegrityError(
                f"package member {name} is compressed (check: structure); Rogatory stores members "
                "uncompressed, so this could be a decompression bomb",
                "the package was altered; nothing was extracted",
            )
        if info.flag_bits & 0x1:
            zf.close()
            raise IntegrityError(
                f"package member {name} uses ZIP encryption (check: structure)", ""
            )
        if name in names:
            zf.close()
            raise IntegrityError(f"the package contains {name} twice (check: structure)", "")
        names.add(name)
        limit = MAX_ENVELOPE if name == ENVELOPE else MAX_SMALL_MEMBER
        if not PAYLOAD.fullmatch(name) and info.file_size > limit:
            zf.close()
            raise IntegrityError(
                f"package member {name} is {info.file_size} bytes, over the {limit}-byte limit", ""
            )
    if zf.infolist() and min(i.header_offset for i in zf.infolist()) != 0:
        zf.close()
        raise IntegrityError(
            f"{path.name} has bytes before its first member (check: structure)",
            "the package was altered; nothing was extracted",
        )
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        fh.seek(max(0, fh.tell() - 22))
        tail = fh.read(22)
    if len(tail) != 22 or tail[:4] != b"PK\x05\x06" or tail[20:22] != b"\0\0":
        zf.close()
        raise IntegrityError(
            f"{path.name} has bytes after its end record (check: structure)",
            "the package was altered or is damaged; nothing was extracted",
        )
    if ENVELOPE not in names:
        zf.close()
        raise IntegrityError(
            f"{path.name} has no {ENVELOPE} (check: structure)",
            "the package is incomplete; obtain it again",
        )
    return zf


_ADDRESSED = re.compile(r"Addressed to the age key (age1[0-9a-z]+)\.")


def readme_recipient(zf: zipfile.ZipFile) -> str | None:
    """The ``age1…`` recipient that a package's README names, or None.

    The README is not authenticated: use this for advice only (who a package
    seems to be for), never as a check.
    """
    try:
        text = zf.read(README).decode("utf-8", "replace")
    except KeyError:
        return None
    found = _ADDRESSED.search(text)
    return found.group(1) if found else None


_LOCAL_HEADER = struct.Struct("<4sHHHHHLLLHH")
"""A ZIP local file header (APPNOTE.TXT 4.3.7): signature, version, flags,
method, time, date, CRC-32, sizes, name length, extra-field length."""


def member_span(zf: zipfile.ZipFile, name: str) -> tuple[int, int]:
    """Where the stored bytes of member ``name`` lie in the package file.

    For reading a large payload straight from the file, below ``zipfile``: its
    reader computes a CRC-32 of every byte (0.35 CPU-s/GiB here), which adds
    nothing to age, whose Poly1305 tag authenticates every 64 KiB chunk.

    Returns:
        (offset from the start of the file, length), both in bytes.

    Raises:
        KeyError: no such member.
        IntegrityError: its local header is not where the central directory
            says, names another member, or the member is not stored.
    """
    info = zf.getinfo(name)
    if zf.filename is None:
        raise IntegrityError(f"{name}: the package is not a file", "")
    with open(zf.filename, "rb") as fh:
        fh.seek(info.header_offset)
        head = fh.read(_LOCAL_HEADER.size)
        if len(head) == _LOCAL_HEADER.size:
            fields = _LOCAL_HEADER.unpack(head)
            name_length, extra_length = fields[9], fields[10]
            stored_name = fh.read(name_length)
        else:
            fields, stored_name = (), b""
    if (
        not fields
        or fields[0] != b"PK\x03\x04"
        or fields[3] != zipfile.ZIP_STORED
        or stored_name.decode("utf-8", "replace") != info.orig_filename
        or info.compress_size != info.file_size
    ):
        raise IntegrityError(
            f"package member {name} has a damaged local header (check: structure)",
            "the package was altered or is truncated; nothing was extracted",
        )
    start = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
    return start, info.compress_size


def read_span(path: str | Path, start: int, length: int, block: int) -> Iterator[bytes]:
    """The bytes ``[start, start + length)`` of the file ``path``, in blocks of up to ``block`` bytes.

    Raises:
        IntegrityError: the file ends before ``start + length`` (truncated).
        OSError: reading failed.
    """
    with open(path, "rb", buffering=0) as fh:
        fh.seek(start)
        left = length
        while left > 0:
            data = fh.read(min(block, left))
            if not data:
                raise IntegrityError(
                    f"{Path(path).name} ends inside a member (truncated)",
                    "obtain the package again",
                )
            left -= len(data)
            yield data
